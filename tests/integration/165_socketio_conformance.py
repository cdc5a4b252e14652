"""The official Engine.IO v4 and Socket.IO v5 protocol suites (../shared/conformance/, mocha, their
locked packages from npm) against tests/conformance/echo_server.cpp: their reference test server
built from tourbusd's own Engine.IO and Socket.IO layers, WebSocket connection and Engine.IO
transport. Both suites must pass entirely; the suites call http://localhost:3000, so the server
takes port 3000 (the test fails, naming it, when something else holds that port)."""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import unittest

import npm
from harness import WAIT

ECHO_SERVER = os.environ.get("SIO_ECHO_SERVER", "build/tests/sio_echo_server")
PORT = 3000  # fixed in both suites


def free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it: TIME_WAIT is no obstacle
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Conformance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not free(PORT):
            raise AssertionError("port %d is taken: the protocol suites need it for their test server" % PORT)
        cls.server = subprocess.Popen([ECHO_SERVER, str(PORT)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True)
        line = cls.server.stdout.readline()
        if not line.startswith("listening"):
            cls.server.kill()
            raise AssertionError("the echo server did not start: %r" % line)

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()
        cls.server.wait()

    def run_suite(self, name):
        src = npm.shared_dir() / "conformance" / name / "test-suite"
        self.assertTrue(src.is_dir(), "%s is missing: CI lays ../shared beside the clone" % src)
        home = npm.node_modules(src)
        for f in ("test-suite.js", "node-imports.js"):
            shutil.copyfile(src / f, home / f)
        report = home / "report.json"
        # The JSON reporter writes the results to a file; the spec reporter's lines go to the log.
        r = subprocess.run([npm.node(), str(home / "node_modules" / "mocha" / "bin" / "mocha"), "test-suite.js",
                            "--reporter", "json", "--reporter-option", "output=" + str(report)],
                           cwd=home, capture_output=True, text=True, timeout=10 * WAIT)
        self.assertTrue(report.exists(), "mocha wrote no report (exit %d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
        results = json.loads(report.read_text())
        failures = ["%s: %s" % (t["fullTitle"], t["err"].get("message", "")) for t in results["failures"]]
        self.assertEqual(failures, [], "%s: failed tests" % name)
        self.assertEqual(results["stats"]["pending"], 0, "%s: skipped tests" % name)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        print("%s: %d passing" % (name, results["stats"]["passes"]))
        return results["stats"]["passes"]

    def test_engineio_suite(self):
        self.assertEqual(self.run_suite("engine.io-protocol"), 24)

    def test_socketio_suite(self):
        self.assertEqual(self.run_suite("socket.io-protocol"), 32)


if __name__ == "__main__":
    unittest.main()
