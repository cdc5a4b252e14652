"""The daemon as a process: one per state dir, reload on SIGHUP (a broken config keeps the old
one), graceful stop on SIGTERM finishing requests in flight, config checking."""

import os
import signal
import subprocess
import unittest

from harness import TOURBUSD, Daemon, DaemonTest, read_http_response


class Process(DaemonTest):
    config = "[log]\nlevel = \"info\"\n[server]\nmax_body_bytes = 4096\n"

    def test_second_daemon_on_the_same_state_dir_fails_clearly(self):
        second = Daemon(workdir=self.d.dir)
        second.start(wait_ready=False)
        self.assertEqual(second.proc.wait(timeout=30), 1)
        line = second.wait_for("daemon.start_failed")
        self.assertIn("another tourbusd (pid %d) is already running" % self.d.proc.pid, line)
        self.assertIn(self.d.state, line)
        # The first daemon is untouched and still answers on its socket.
        self.assertEqual(self.d.cli("status").returncode, 0)

    def test_sighup_with_a_broken_config_keeps_the_old_one(self):
        self.d.write_config("[server]\nmax_body_bytes = \"lots\"\n")
        mark = self.d.log_mark()
        self.d.send_signal(signal.SIGHUP)
        line = self.d.wait_for("daemon.reload_failed", start=mark)
        self.assertIn("tourbus.toml:2", line)
        self.assertIn("server.max_body_bytes", line)
        # Still serving, with the old limit of 4096 bytes.
        status, body = self.d.curl("POST", "/v1/users", {"handle": "anna", "display_name": "A" * 100, "role": "tourist"})
        self.assertEqual(status, 201)
        status, body = self.d.curl("POST", "/v1/users", {"handle": "bob", "display_name": "B" * 5000, "role": "tourist"})
        self.assertEqual((status, body["error"]["code"]), (413, "payload_too_large"))
        # The same through the CLI: an error naming the problem, exit 4.
        r = self.d.cli("reload")
        self.assertEqual(r.returncode, 4)
        self.assertIn("server.max_body_bytes", r.stderr)

    def test_reload_applies_reloadable_keys_and_reports_the_rest(self):
        self.d.write_config("[log]\nlevel = \"debug\"\n[server]\nmax_body_bytes = 1024\n[store]\nmax_batch = 8\n")
        result = self.d.cli_json("reload")
        self.assertEqual(sorted(result["applied"]), ["log.level", "server.max_body_bytes"])
        self.assertEqual(result["needs_restart"], ["store.max_batch"])
        status, body = self.d.curl("POST", "/v1/users", {"handle": "anna", "display_name": "A" * 2000, "role": "tourist"})
        self.assertEqual(status, 413)
        mark = self.d.log_mark()
        self.d.cli("status")
        self.d.wait_for(r"debug \[net\] net\.request req=\d+ method=GET", start=mark)  # log.level took effect
        # SIGHUP runs the same reload.
        self.d.write_config("[log]\nlevel = \"info\"\n")
        mark = self.d.log_mark()
        self.d.send_signal(signal.SIGHUP)
        self.d.wait_for(r"daemon\.reloaded applied=\[.*log\.level", start=mark)

    def test_sigint_also_stops_cleanly(self):
        self.assertEqual(self.d.stop(signal.SIGINT), 0)
        self.assertFalse(os.path.exists(self.d.socket))


class Drain(DaemonTest):
    config = "[log]\nlevel = \"debug\"\n"

    def test_sigterm_finishes_the_request_in_flight_and_exits_0(self):
        body = b'{"handle":"late","display_name":"Late Arrival","role":"tourist"}'
        s = self.d.unix_connect()
        head = ("POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        mark = self.d.log_mark()
        s.sendall(head.encode() + body[:10])
        self.d.wait_for("net.request_headers method=POST", start=mark)  # in flight: headers read, body pending
        mark = self.d.log_mark()
        idle = self.d.unix_connect()  # an idle keep-alive connection is closed at once
        self.d.wait_for("net.control_connection", start=mark)
        mark = self.d.log_mark()
        self.d.send_signal(signal.SIGTERM)
        self.d.wait_for("daemon.stopping", start=mark)
        self.assertEqual(idle.recv(1), b"")
        s.sendall(body[10:])
        status, headers, payload = read_http_response(s)
        self.assertEqual(status, 201, payload)
        self.assertEqual(headers.get("connection"), "close")
        self.assertEqual(self.d.proc.wait(timeout=30), 0)
        self.d.wait_for("store.closed")
        # Restarted, the acknowledged user is there.
        self.d.start()
        self.assertEqual(self.d.cli_json("user", "show", "late")["display_name"], "Late Arrival")


class CheckConfig(unittest.TestCase):
    def run_check(self, text):
        d = Daemon(config=text)
        self.addCleanup(d.cleanup)
        return subprocess.run([TOURBUSD, "--config", d.config, "--check-config"], capture_output=True, text=True)

    def test_good_config(self):
        r = self.run_check("state_dir = \"/tmp/x\"\n[server]\nlisten = \"127.0.0.1:3999\"\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('server.listen = "127.0.0.1:3999"', r.stdout)
        self.assertIn("store.synchronous = \"full\"", r.stdout)

    def test_bad_configs_name_file_line_and_key(self):
        for text, line, key in [("\n\n[server]\nlisten = 3001\n", 4, "server.listen"),
                                ("[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n", 3, "server.lisen"),
                                ("[store]\nsynchronous = \"off\"\n", 2, "store.synchronous"),
                                ("[tokens]\ndefault_ttl_days = -1\n", 2, "tokens.default_ttl_days")]:
            with self.subTest(key=key):
                r = self.run_check(text)
                self.assertEqual(r.returncode, 1)
                self.assertIn("tourbus.toml:%d" % line, r.stderr)
                self.assertIn(key, r.stderr)

    def test_missing_config_file(self):
        r = subprocess.run([TOURBUSD, "--config", "/nonexistent/tourbus.toml", "--check-config"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/tourbus.toml", r.stderr)


if __name__ == "__main__":
    unittest.main()
