#!/usr/bin/python3
"""Queue benchmark: notification jobs through the outbox to local sinks, in one run.

Starts the real tourbusd (build/daemon/tourbusd) in a temp dir, creates N users over the control
socket, then sends one notification to all of them per channel and reports
  - committed jobs/s: jobs written to the outbox (one transaction per send) per second of the send;
  - delivered jobs/s: jobs from the send until the queue holds none of them, per second;
for the in-app channel (the feed, stored by the group-committing writer) and the webhook channel
(signed HTTP POSTs to a local sink server on loopback, keep-alive).

    /usr/bin/python3 bench/queue.py [--users 20000] [--tourbusd build/daemon/tourbusd]
"""

import argparse
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=600)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(conn, method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"} if body is not None else {})
    res = conn.getresponse()
    data = res.read()
    if res.status >= 300:
        raise RuntimeError("%s %s: %d %s" % (method, path, res.status, data[:300]))
    return json.loads(data)


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with Sink.lock:
            Sink.count += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def wait_drained(conn, channel, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = call(conn, "GET", "/v1/queue")
        row = next(c for c in status["channels"] if c["channel"] == channel)
        if sum(l["queued"] for l in row["lanes"]) == 0 and row["in_flight"] == 0:
            return
        time.sleep(0.02)
    raise RuntimeError("the %s queue did not drain" % channel)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--tourbusd", default="build/daemon/tourbusd")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="tourbus-bench-queue-")
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    config = os.path.join(work, "tourbus.toml")
    with open(config, "w") as f:
        f.write('[webhook]\nurl = "http://127.0.0.1:%d/sink"\nsecret = "bench"\nrate_per_second = 100000\n'
                '[notify]\nworkers = 16\n' % sink.server_address[1])
    daemon = subprocess.Popen([args.tourbusd, "--config", config, "--state-dir", os.path.join(work, "state"),
                               "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    try:
        for line in daemon.stderr:
            if "daemon.ready" in line or "daemon.start_failed" in line:
                break
        threading.Thread(target=lambda: [None for _ in daemon.stderr], daemon=True).start()
        conn = UnixHTTP(os.path.join(work, "state", "tourbusd.sock"))
        t0 = time.monotonic()
        for i in range(args.users):
            call(conn, "POST", "/v1/users", {"handle": "u%06d" % i, "display_name": "User %d" % i, "role": "tourist"})
        print("created %d users in %.1f s" % (args.users, time.monotonic() - t0))
        print()
        print("| channel | jobs | committed jobs/s | delivered jobs/s | send call (s) | until drained (s) |")
        print("|---|---|---|---|---|---|")
        for channel in ("inapp", "webhook"):
            before = Sink.count
            t0 = time.monotonic()
            sent = call(conn, "POST", "/v1/notifications",
                        {"role": "tourist", "category": "transactional", "text": "Bench " + channel, "channels": [channel]})
            t1 = time.monotonic()
            wait_drained(conn, channel)
            t2 = time.monotonic()
            n = len(sent["jobs"])
            if channel == "webhook" and Sink.count - before < n:
                raise RuntimeError("the sink got %d of %d" % (Sink.count - before, n))
            print("| %s | %d | %.0f | %.0f | %.2f | %.2f |" % (channel, n, n / (t1 - t0), n / (t2 - t0), t1 - t0, t2 - t0))
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        sink.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
