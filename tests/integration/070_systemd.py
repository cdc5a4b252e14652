"""systemd notification protocol, checked against a real NOTIFY_SOCKET: READY=1 once the
listeners are up, RELOADING=1 then READY=1 on reload, STOPPING=1 on SIGTERM, WATCHDOG=1 pings
when the service manager asks for them."""

import os
import signal
import socket
import unittest

from harness import WAIT, Daemon


class Notify(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self.sock.close)
        self.path = os.path.join(self.d.dir, "notify.sock")
        self.sock.bind(self.path)
        self.sock.settimeout(WAIT)

    def messages_until(self, wanted):
        """Reads datagrams until one contains `wanted`; returns all read."""
        seen = []
        while True:
            msg = self.sock.recv(4096).decode()
            seen.append(msg)
            if wanted in msg.split("\n"):
                return seen

    def test_ready_reload_stop(self):
        os.environ["NOTIFY_SOCKET"] = self.path
        try:
            self.d.start(wait_ready=False)
        finally:
            del os.environ["NOTIFY_SOCKET"]
        ready = self.messages_until("READY=1")[-1]
        self.assertIn("MAINPID=%d" % self.d.proc.pid, ready)
        # READY=1 comes after the listeners are up: the socket answers right away.
        self.assertEqual(self.d.cli("status").returncode, 0)

        self.d.send_signal(signal.SIGHUP)
        seen = self.messages_until("READY=1")
        self.assertIn("RELOADING=1", "\n".join(seen))

        self.d.send_signal(signal.SIGTERM)
        self.messages_until("STOPPING=1")
        self.assertEqual(self.d.proc.wait(timeout=WAIT), 0)

    def test_watchdog_pings(self):
        os.environ["NOTIFY_SOCKET"] = self.path
        os.environ["WATCHDOG_USEC"] = "200000"  # 0.2 s: pings every 0.1 s
        try:
            self.d.start(wait_ready=False)
        finally:
            del os.environ["NOTIFY_SOCKET"]
            del os.environ["WATCHDOG_USEC"]
        self.messages_until("READY=1")
        for _ in range(3):
            self.messages_until("WATCHDOG=1")


class Journal(unittest.TestCase):
    def test_no_own_timestamps_under_journald(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        os.environ["JOURNAL_STREAM"] = "8:12345"
        try:
            d.start()
        finally:
            del os.environ["JOURNAL_STREAM"]
        ready = d.wait_for("daemon.ready")
        self.assertTrue(ready.startswith("info [daemon] daemon.ready"), ready)
        # By hand, lines start with an ISO timestamp.
        plain = Daemon()
        self.addCleanup(plain.cleanup)
        plain.start()
        self.assertRegex(plain.wait_for("daemon.ready"), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} info \[daemon\]")


if __name__ == "__main__":
    unittest.main()
