"""Socket.IO connection state recovery (socketio.recovery_seconds) with the real socket.io-client in
Node (tests/socketio/recovery.mjs): a client whose connection is cut under it, as on a phone changing
networks, comes back with its pid and last offset and gets, in order and before anything new, exactly
the messages its user was sent meanwhile (socket.recovered is true); with recovery off, or past the
window, it starts afresh (recovered false, nothing replayed: it syncs like any client)."""

import json
import os
import pathlib
import queue
import re
import subprocess
import threading
import unittest

import npm
from harness import WAIT, Daemon, DaemonTest

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
SCRIPT = REPO / "tests" / "socketio" / "recovery.mjs"


class Client:
    """recovery.mjs in a Node process; its reports are read into a queue and awaited in order."""

    def __init__(self, url, token, transport="websocket"):
        env = dict(os.environ, TOURBUS_NODE_MODULES_DIR=str(npm.node_modules(SCRIPT.parent)))
        self.proc = subprocess.Popen([npm.node(), str(SCRIPT), url, token, transport], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.reports = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.reports.put(json.loads(line))

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def next(self, kind=None):
        """The next report (of that type: others in between fail the test, nothing is skipped)."""
        try:
            r = self.reports.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError("the client reported nothing within %d s (waiting for %s)" % (WAIT, kind))
        if kind:
            assert r["type"] == kind, "expected %s, got %r" % (kind, r)
        return r

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


class Recovery(DaemonTest):
    config = "[socketio]\nrecovery_seconds = 120\n"

    def setUp(self):
        super().setUp()
        self.add_user("ann")
        self.add_user("bob")
        self.conv = self.d.cli_json("conversation", "create", "direct", "ann", "bob")["id"]
        self.url = "http://127.0.0.1:%d" % self.d.port
        self.ann = Client(self.url, self.token("ann"))
        self.addCleanup(self.ann.close)

    def send(self, text):
        r = self.d.cli("--as", "bob", "send", str(self.conv), text)
        self.assertEqual(r.returncode, 0, r.stderr)

    def message(self):
        m = self.ann.next("message")
        self.assertRegex(m["offset"], r"^\d+-\d+$")
        return m["seq"], m["text"]

    def drop(self):
        mark = self.d.log_mark()
        self.ann.command("drop")
        self.assertEqual(self.ann.next("disconnect")["reason"], "transport close")
        self.d.wait_for(r'net\.sio_disconnected user=ann .*reason="transport close"', start=mark)

    def test_a_cut_connection_gets_what_it_missed_in_order(self):
        first = self.ann.next("connect")
        self.assertFalse(first["recovered"])
        self.send("one")
        self.assertEqual(self.message(), (1, "one"))
        self.drop()
        self.send("two")
        self.send("three")
        self.ann.command("connect")
        back = self.ann.next("connect")
        self.assertTrue(back["recovered"], back)
        # What was missed, in order, before anything new; nothing twice.
        self.assertEqual(self.message(), (2, "two"))
        self.assertEqual(self.message(), (3, "three"))
        self.send("four")
        self.assertEqual(self.message(), (4, "four"))
        # A second cut recovers from the offset of the last message, not the first.
        self.drop()
        self.send("five")
        self.ann.command("connect")
        self.assertTrue(self.ann.next("connect")["recovered"])
        self.assertEqual(self.message(), (5, "five"))

    def test_a_pid_recovers_only_its_own_user_and_only_once(self):
        pid = self.ann.next("connect")["pid"]
        self.send("one")
        self.message()
        self.drop()
        self.send("two")
        # eve, a tourist of her own, claims ann's pid (raw Engine.IO long-polling): she starts afresh,
        # with a pid of her own, and gets nothing of ann's.
        self.add_user("eve")
        eve = self.token("eve")
        status, _, body = self.d.http("GET", "/socket.io/?EIO=4&transport=polling")
        sid = json.loads(body[1:])["sid"]
        at = "/socket.io/?EIO=4&transport=polling&sid=" + sid
        claim = "40" + json.dumps({"token": eve, "pid": pid, "offset": "0-0"})
        status, _, body = self.d.http("POST", at, claim, headers={"Content-Type": "text/plain;charset=UTF-8"})
        self.assertEqual((status, body), (200, "ok"))
        status, _, body = self.d.http("GET", at)
        self.assertTrue(body.startswith("40{"), body)
        answer = json.loads(body[2:])
        self.assertNotEqual(answer["pid"], pid)
        self.assertNotIn("two", body)
        # ann still recovers, once.
        self.ann.command("connect")
        self.assertTrue(self.ann.next("connect")["recovered"])
        self.assertEqual(self.message(), (2, "two"))
        mark = self.d.log_mark()
        self.ann.command("drop")
        self.ann.next("disconnect")
        self.d.wait_for(r"net\.sio_disconnected user=ann", start=mark)
        self.ann.command("connect")
        self.assertTrue(self.ann.next("connect")["recovered"], "a new pid came with the recovery: it recovers again")


class RecoveryOff(DaemonTest):
    config = "[socketio]\nrecovery_seconds = 0\n"

    def test_a_client_starts_afresh(self):
        self.add_user("ann")
        self.add_user("bob")
        conv = self.d.cli_json("conversation", "create", "direct", "ann", "bob")["id"]
        ann = Client("http://127.0.0.1:%d" % self.d.port, self.token("ann"))
        self.addCleanup(ann.close)
        self.assertFalse(ann.next("connect")["recovered"])
        self.d.cli("--as", "bob", "send", str(conv), "one")
        m = ann.next("message")
        self.assertIsNone(m.get("offset"), "no offsets while recovery is off")
        mark = self.d.log_mark()
        ann.command("drop")
        ann.next("disconnect")
        self.d.wait_for(r"net\.sio_disconnected user=ann", start=mark)
        self.d.cli("--as", "bob", "send", str(conv), "two")
        ann.command("connect")
        self.assertFalse(ann.next("connect")["recovered"])
        self.d.cli("--as", "bob", "send", str(conv), "three")
        m = ann.next("message")
        self.assertEqual((m["seq"], m["text"]), (3, "three"), "nothing replayed: the next push is the next message")


if __name__ == "__main__":
    unittest.main()
