"""Running out of file descriptors does not take the daemon down: started under a low open-file
limit and flooded with idle TCP connections, it refuses the excess with a few log lines (not one
per attempt), keeps serving the clients it has, and the control socket keeps answering."""

import asyncio
import os
import re
import socket
import unittest

from harness import WAIT, Daemon, DaemonTest, wait_until
from wsclient import Client

LIMIT = 256


class FdTest(DaemonTest):
    """A daemon under a hard limit of LIMIT open files (no tests of its own). The flood's idle
    connections must stay open for as long as the test takes: no header timeout."""
    config = "[server]\nheader_timeout_seconds = 600\n"

    def setUp(self):
        # started by hand: the daemon runs under a hard limit of LIMIT open files
        self.d = Daemon(config=self.config)
        self.d.fd_limit = LIMIT
        self.d.start()
        self.addCleanup(self.d.cleanup)
        self.add_user("anna")
        self.anna = self.token("anna")
        self.conns = []
        self.addCleanup(lambda: [c.close() for c in self.conns])

    def metric(self, name):
        status, text = self.d.curl("GET", "/metrics")
        self.assertEqual(status, 200, text)
        m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
        return int(m.group(1)) if m else None

    def flood(self, n):
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.d.port), timeout=WAIT)
            self.conns.append(s)

    def check_still_served(self, ws):
        async def go():
            self.assertEqual((await ws.call("me"))["handle"], "anna")
        return go()

    def run_flood(self, extra_config_check):
        async def go():
            ws = await Client.connect("ws://127.0.0.1:%d/v1/ws" % self.d.port, self.anna)
            await asyncio.to_thread(self.flood, 400)
            await asyncio.to_thread(extra_config_check)
            # the client connected before the flood is still served, and so is the control socket
            await self.check_still_served(ws)
            for _ in range(3):
                r = await asyncio.to_thread(self.d.cli, "--json", "status")
                self.assertEqual(r.returncode, 0, r.stderr)
            await ws.close()
        asyncio.run(asyncio.wait_for(go(), WAIT * 3))


class FdLimit(FdTest):
    def test_the_limit_is_raised_and_connections_beyond_the_reserve_are_refused(self):
        self.d.wait_for(r"daemon\.fd_limit soft=%d hard=%d raised_from=%d" % (LIMIT, LIMIT, LIMIT))
        self.assertEqual(self.metric("tourbus_fd_limit"), LIMIT)
        self.assertEqual(self.metric("tourbus_max_connections"), LIMIT - 64)  # server.fd_reserve = 64

        def refused_all():
            # 400 flood connections and the WebSocket: all but LIMIT - 64 refused
            wait_until(lambda: self.metric("tourbus_connections_rejected_total") == 401 - (LIMIT - 64),
                       "the connections beyond the limit to be refused")
        self.run_flood(refused_all)
        lines = [l for l in self.d.lines if "net.connection_refused" in l]
        self.assertGreaterEqual(len(lines), 1)
        self.assertLessEqual(len(lines), 2, lines)  # rate-limited: one line, with a count, not one per refusal
        self.assertIn("reason=fd_limit", lines[0])
        self.assertEqual([l for l in self.d.lines if "accept_failed" in l], [])


# Not under the sanitizer build: the sanitizer runtime itself needs descriptors. Out of them,
# UBSan's vptr check cannot probe memory (it uses a pipe) and reports valid objects as having an
# invalid vptr ("memory cannot be printed"), then stops the daemon (halt_on_error) or, when it tries
# to symbolize the report, exits with status 1; a suppression cannot name it. Seen on 2026-12-05
# with the ASan build: that was the "starved control socket" of issue 12. The normal build runs it;
# the proactive limit above runs under both.
@unittest.skipIf("build-asan" in os.environ.get("TOURBUS_BUILD_DIR", ""),
                 "the sanitizer runtime cannot work without free descriptors (see the comment)")
class FdExhausted(FdTest):
    # The smallest reserve, and more descriptors than that held by the daemon itself (16 read
    # connections, besides the database, its WAL, the listeners and the logs): accepting runs out
    # of descriptors before the limit is reached, whatever else happens to be open.
    config = "[server]\nheader_timeout_seconds = 600\nfd_reserve = 16\n[store]\nread_connections = 16\n"

    def test_out_of_descriptors_pauses_accepting_without_spinning(self):
        def failures():
            # At the very moment descriptors run out, one control connection may be dropped
            # (seen under ASan): wait through that; the calls after it must all be answered.
            try:
                return self.metric("tourbus_accept_failures_total") or None
            except AssertionError:
                return None

        def exhausted():
            wait_until(failures, "an accept to fail for want of descriptors")
        self.run_flood(exhausted)
        failed = [l for l in self.d.lines if "net.accept_failed transport=tcp" in l]
        self.assertGreaterEqual(len(failed), 1)
        self.assertLessEqual(len(failed), 2, failed)  # not ~200,000 lines a second
        self.assertIn("Too many open files", failed[0])
        # the failures are few: accepting paused (50 ms, doubling up to 1 s) instead of retrying at once
        self.assertLess(self.metric("tourbus_accept_failures_total"), 100)


if __name__ == "__main__":
    unittest.main()
