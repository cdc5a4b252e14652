"""Test harness: starts the real tourbusd in a temp dir on a free loopback port and drives it
with the real tourbus CLI, curl and raw HTTP. Readiness and events are awaited by reading the
daemon's log as it is written, never by sleeping."""

import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

TOURBUSD = os.environ.get("TOURBUSD", "build/daemon/tourbusd")
TOURBUS = os.environ.get("TOURBUS", "build/cmd/tourbus")
WAIT = 30  # seconds to wait for an event before the test fails


def wait_until(check, what, timeout=WAIT, describe=lambda: ""):
    """Polls check() until it returns something true, and returns that; fails naming `what` (and
    what describe() adds) at the deadline. For conditions with no event to wait on."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s%s" % (what, describe()))
        time.sleep(0.05)


class Daemon:
    def __init__(self, workdir=None, config=None, args=(), env=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="tourbus-it-")
        self.state = os.path.join(self.dir, "state")
        self.socket = os.path.join(self.state, "tourbusd.sock")
        self.config = None
        if config is not None:
            self.write_config(config)
        self.args = list(args)
        self.proc = None
        self.fd_limit = None  # an RLIMIT_NOFILE (soft and hard) to start the daemon under
        self.env = dict(env or {})  # extra environment (CREDENTIALS_DIRECTORY, ...)
        self.lines = []
        self.cond = threading.Condition()
        self.port = None

    def write_config(self, text):
        self.config = os.path.join(self.dir, "tourbus.toml")
        with open(self.config, "w") as f:
            f.write(text)

    # -- process -----------------------------------------------------------------------------
    def start(self, wait_ready=True, listen="127.0.0.1:0"):
        """Starts (or restarts) the daemon; `listen` may name a fixed port, e.g. the previous
        run's, for clients that reconnect to the same URL."""
        if self.proc:
            self.reader.join(timeout=WAIT)  # the previous run's log is complete
            self.proc.stderr.close()
        cmd = [TOURBUSD, "--state-dir", self.state, "--listen", listen] + self.args
        if self.config:
            cmd += ["--config", self.config]
        env = dict(os.environ)
        env.pop("TOURBUS_CONFIG", None)
        env.update(self.env)
        self.lines = []
        limit = self.fd_limit
        preexec = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))) if limit else None
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True,
                                     preexec_fn=preexec)
        self.reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self.reader.start()
        if wait_ready:
            line = self.wait_for("daemon.ready")
            self.port = int(re.search(r"listen=127\.0\.0\.1:(\d+)", line).group(1))
        return self

    def _read(self, proc):
        for line in proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, pattern, start=0, timeout=WAIT):
        """Waits for a log line matching the regex, at or after line index `start`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[start:]:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                # Once the daemon has exited and its log is fully read, no new line can come.
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError("no log line matching %r; log:\n%s" % (pattern, "\n".join(self.lines)))
                self.cond.wait(min(left, 0.5))

    def log_mark(self):
        with self.cond:
            return len(self.lines)

    def log_text(self):
        with self.cond:
            return "\n".join(self.lines)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=WAIT)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=WAIT)

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.reader.join(timeout=WAIT)
            self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- clients -----------------------------------------------------------------------------
    def cli(self, *args, env=None):
        """Runs the tourbus CLI against this daemon's socket."""
        e = dict(os.environ)
        e.pop("TOURBUS_CONFIG", None)
        e["TOURBUS_SOCKET"] = self.socket
        if env:
            e.update(env)
        return subprocess.run([TOURBUS] + list(args), capture_output=True, text=True, env=e, timeout=WAIT)

    def cli_json(self, *args):
        r = self.cli("--json", *args)
        if r.returncode != 0:
            raise AssertionError("tourbus %s failed (%d): %s %s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return json.loads(r.stdout)

    def curl(self, method, path, body=None, extra=(), raw=False):
        """curl --unix-socket: returns (status, parsed JSON or text; the text itself when raw)."""
        cmd = ["curl", "-sS", "--unix-socket", self.socket, "-X", method, "-w", "\n%{http_code}"]
        if body is not None:
            if not any(str(x).lower().startswith("content-type:") for x in extra):
                cmd += ["-H", "Content-Type: application/json"]
            cmd += ["--data-binary", body if isinstance(body, str) else json.dumps(body)]
        cmd += list(extra) + ["http://localhost" + path]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=WAIT)
        if r.returncode != 0:
            raise AssertionError("curl failed: %s" % r.stderr)
        text, _, status = r.stdout.rpartition("\n")
        if raw:
            return int(status), text
        try:
            return int(status), json.loads(text)
        except ValueError:
            return int(status), text

    def http(self, method, path, body=None, token=None, headers=None, source=None):
        """HTTP over the TCP listener, from the loopback address `source` when given: returns
        (status, headers, parsed JSON). A dict or list body is sent as JSON, other bodies (text,
        bytes, an iterator of chunks) as they are."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT,
                                          source_address=(source, 0) if source else None)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body) if isinstance(body, (dict, list)) else body
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        res = conn.getresponse()
        raw = res.read()
        conn.close()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return res.status, dict(res.getheaders()), parsed

    def unix_connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(WAIT)
        s.connect(self.socket)
        return s


def read_http_response(sock):
    """Reads one HTTP/1.1 response (Content-Length framed) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a response: %r" % data)
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


class DaemonTest(unittest.TestCase):
    """A test case with one running daemon per test, cleaned up afterwards."""

    config = None
    daemon_env = None

    def setUp(self):
        self.d = Daemon(config=self.config, env=self.daemon_env).start()
        self.addCleanup(self.d.cleanup)

    def add_user(self, handle, role="tourist", **fields):
        args = ["user", "add", handle, "--role", role]
        for k, v in fields.items():
            args += ["--" + k.replace("_", "-"), v]
        return self.d.cli_json(*args)

    def token(self, handle, *extra):
        r = self.d.cli("token", "issue", handle, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def assertCliError(self, result, exit_code, code):
        """The CLI failed with the exit code and, in --json mode, the API error code."""
        self.assertEqual(result.returncode, exit_code, "stdout=%s stderr=%s" % (result.stdout, result.stderr))
        self.assertTrue(result.stderr.startswith("tourbus: "), result.stderr)
        if result.stdout.strip().startswith("{"):
            self.assertEqual(json.loads(result.stdout)["error"]["code"], code)
