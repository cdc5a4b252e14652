"""Status and metrics over the control socket (CLI and curl), the socket's mode, and the CLI's
answer when no daemon runs."""

import json
import os
import stat
import subprocess
import unittest

from harness import TOURBUS, TOURBUSD, DaemonTest


class Status(DaemonTest):
    def test_cli_status_human_and_json(self):
        r = self.d.cli("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("tourbusd ", r.stdout)
        self.assertIn("127.0.0.1:%d" % self.d.port, r.stdout)
        s = self.d.cli_json("status")
        self.assertEqual(s["listen"], "127.0.0.1:%d" % self.d.port)
        self.assertEqual(s["socket"], self.d.socket)
        self.assertEqual(s["pid"], self.d.proc.pid)
        self.assertGreaterEqual(s["store"]["schema_version"], 1)
        self.assertEqual(s["store"]["users"], 0)
        self.assertGreaterEqual(s["connections"]["unix"], 1)  # this very request

    def test_curl_unix_socket(self):
        status, body = self.d.curl("GET", "/v1/status")
        self.assertEqual(status, 200)
        self.assertEqual(body["version"], self.d.cli_json("status")["version"])
        self.add_user("anna")
        self.assertEqual(self.d.curl("GET", "/v1/status")[1]["store"]["users"], 1)

    def test_metrics_are_prometheus_text(self):
        self.add_user("anna")
        status, text = self.d.curl("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn("# TYPE tourbus_build_info gauge", text)
        self.assertRegex(text, r'tourbus_entities\{kind="user"\} 1\n')
        self.assertRegex(text, r"tourbus_store_commits_total [1-9]")
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$')

    def test_control_socket_is_0660_and_peers_are_logged(self):
        mode = stat.S_IMODE(os.stat(self.d.socket).st_mode)
        self.assertEqual(mode, 0o660)
        mark = self.d.log_mark()
        self.d.cli("status")
        self.d.wait_for(r"net\.control_connection uid=%d pid=\d+" % os.getuid(), start=mark)

    def test_tcp_needs_a_token(self):
        status, headers, body = self.d.http("GET", "/v1/status")
        self.assertEqual(status, 401)
        self.assertEqual(body["error"]["code"], "unauthenticated")
        self.assertEqual(headers.get("WWW-Authenticate"), "Bearer")
        status, _, body = self.d.http("GET", "/v1/status", token="tb_not-a-real-token")
        self.assertEqual(status, 401)

    def test_unknown_route_and_method(self):
        status, body = self.d.curl("GET", "/v1/nope")
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"))
        status, body = self.d.curl("PUT", "/v1/status")
        self.assertEqual((status, body["error"]["code"]), (405, "method_not_allowed"))


class NoDaemon(unittest.TestCase):
    def test_unreachable_daemon_is_one_clear_line_and_exit_6(self):
        sock = "/tmp/tourbus-it-none/tourbusd.sock"
        r = subprocess.run([TOURBUS, "--socket", sock, "status"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 6)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        self.assertIn(sock, r.stderr)
        self.assertIn("tourbusd", r.stderr)
        r = subprocess.run([TOURBUS, "--socket", sock, "--json", "status"], capture_output=True, text=True)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "unavailable")

    def test_versions_and_usage(self):
        for binary in (TOURBUS, TOURBUSD):
            r = subprocess.run([binary, "--version"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0)
            self.assertRegex(r.stdout, r"^tourbusd? \d+\.\d+\.\d+")
        r = subprocess.run([TOURBUS, "user", "frobnicate"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([TOURBUS, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        for family in ("status", "user", "token", "tour", "backup", "reload"):
            self.assertIn(family, r.stdout)


if __name__ == "__main__":
    unittest.main()
