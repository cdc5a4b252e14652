"""Durability: kill -9 during a burst loses no acknowledged write; backups are consistent while
writes go on."""

import concurrent.futures
import json
import os
import sqlite3
import threading

from harness import DaemonTest, read_http_response


def create_users(d, prefix, count, acked, stop, reached=None, target=0):
    """Creates users one request at a time on its own connection; records each 201 and sets
    `reached` once `target` writes are acknowledged."""
    for i in range(count):
        if stop.is_set():
            return
        handle = "%s-%d" % (prefix, i)
        body = json.dumps({"handle": handle, "display_name": handle, "role": "tourist"}).encode()
        try:
            with d.unix_connect() as s:
                s.sendall(b"POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(body), body))
                status, _, _ = read_http_response(s)
        except (OSError, AssertionError):
            return  # the daemon is gone; unacknowledged writes may or may not be there
        if status == 201:
            acked.append(handle)
            if reached is not None and len(acked) >= target:
                reached.set()


class Durability(DaemonTest):
    def test_kill_9_during_a_burst_loses_no_acknowledged_write(self):
        acked, stop, reached = [], threading.Event(), threading.Event()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            for w in range(8):
                pool.submit(create_users, self.d, "w%d" % w, 400, acked, stop, reached, 300)
            # Kill once 300 writes were acknowledged, with more in flight on every connection.
            self.assertTrue(reached.wait(timeout=120))
            self.d.kill9()
            stop.set()
        self.assertGreaterEqual(len(acked), 300)
        self.d.start()
        lines = self.d.cli("--json", "user", "list").stdout.splitlines()
        stored = {json.loads(l)["handle"] for l in lines}
        print("acknowledged before kill -9: %d, stored after restart: %d" % (len(acked), len(stored)))
        missing = [h for h in acked if h not in stored]
        self.assertEqual(missing, [])
        self.assertEqual(self.d.cli_json("status")["store"]["users"], len(stored))
        db = sqlite3.connect(os.path.join(self.d.state, "tourbus.db"))
        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")

    def test_backup_while_writing_is_consistent(self):
        acked, stop = [], threading.Event()
        writer = threading.Thread(target=create_users, args=(self.d, "b", 300, acked, stop))
        writer.start()
        out = os.path.join(self.d.dir, "backup.db")
        r = self.d.cli("backup", out)
        stop.set()
        writer.join()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "backup written to %s (%d bytes)" % (out, os.path.getsize(out)))
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o600)  # it holds every user's data
        db = sqlite3.connect(out)
        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "delete")
        count = db.execute("SELECT count(*) FROM users").fetchone()[0]
        self.assertLessEqual(count, len(acked))
        self.assertFalse(os.path.exists(out + ".partial"))
        # No temporary copy is left behind in the state dir.
        self.assertEqual(os.listdir(os.path.join(self.d.state, "backups")), [])
        # A restored copy serves as a state dir of its own.
        from harness import Daemon
        restored = Daemon()
        self.addCleanup(restored.cleanup)
        os.makedirs(restored.state)
        os.rename(out, os.path.join(restored.state, "tourbus.db"))
        restored.start()
        self.assertEqual(restored.cli_json("status")["store"]["users"], count)


if __name__ == "__main__":
    import unittest
    unittest.main()
