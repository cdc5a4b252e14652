"""Abuse limits (docs/config.md, "Abuse limits"): one address, one token or one account cannot
make the daemon hold or do much. Connections and requests per address, failed authentications,
requests and WebSockets per token, slow or half-open requests, binary and malformed frames,
uploads (admitted before their bodies are read, streamed to disk, capped per user and per day) and
group sizes; every refusal is an error with a stable code, clients elsewhere keep being served,
and /metrics counts each limit."""

import asyncio
import json
import os
import re
import socket
import threading
import unittest

import websockets
import websockets.exceptions

from harness import WAIT, DaemonTest, wait_until
from wsclient import Client


def request(d, src, method, path, token=None, body=None, headers=None):
    """One HTTP request over TCP from the loopback address `src`: (status, headers, JSON)."""
    return d.http(method, path, body, token=token, headers=headers, source=src)


def connect(d, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(WAIT)
    s.bind((src, 0))
    s.connect(("127.0.0.1", d.port))
    return s


def closed_by_server(s):
    """True once the server closes the connection (blocks until it does, at most WAIT)."""
    try:
        return s.recv(4096) == b""
    except ConnectionResetError:
        return True


class LimitTest(DaemonTest):
    def metric(self, name, **labels):
        status, text = self.d.curl("GET", "/metrics", raw=True)
        self.assertEqual(status, 200, text)
        want = ",".join('%s="%s"' % kv for kv in labels.items())
        pattern = r"^%s%s (\d+)$" % (re.escape(name), re.escape("{%s}" % want) if labels else "")
        m = re.search(pattern, text, re.M)
        return int(m.group(1)) if m else None

    def limited(self, limit):
        return self.metric("tourbus_limited_total", limit=limit)


class Addresses(LimitTest):
    config = "[server]\nmax_connections_per_ip = 4\nheader_timeout_seconds = 1\n"

    def setUp(self):
        super().setUp()
        self.socks = []
        self.addCleanup(lambda: [s.close() for s in self.socks])

    def test_connections_beyond_the_per_address_limit_are_closed_and_others_still_served(self):
        self.d.write_config("[server]\nmax_connections_per_ip = 4\n")  # idle connections stay for this test
        self.assertEqual(self.d.cli_json("reload")["applied"], ["server.header_timeout_seconds"])
        self.socks = [connect(self.d, "127.0.0.2") for _ in range(4)]
        wait_until(lambda: self.d.cli_json("status")["connections"]["tcp"] == 4, "the four connections to be open")
        extra = connect(self.d, "127.0.0.2")
        self.socks.append(extra)
        self.assertTrue(closed_by_server(extra))
        self.assertEqual(self.limited("connections_per_ip"), 1)
        self.d.wait_for(r"net\.connection_refused limit=4 reason=max_connections_per_ip ip=127\.0\.0\.2 refused=1")
        # another address is served as usual
        status, _, body = request(self.d, "127.0.0.3", "GET", "/v1/status")
        self.assertEqual((status, body["error"]["code"]), (401, "unauthenticated"))
        # once one closes, the address may connect again
        self.socks[0].close()
        wait_until(lambda: self.d.cli_json("status")["connections"]["tcp"] == 3, "a connection to close")
        status, _, _ = request(self.d, "127.0.0.2", "GET", "/v1/status")
        self.assertEqual(status, 401)
        self.assertEqual(self.metric("tourbus_limit", limit="connections_per_ip", key="server.max_connections_per_ip"), 4)

    def test_slow_and_half_open_requests_are_cut_at_the_header_timeout(self):
        self.d.write_config("[server]\nheader_timeout_seconds = 1\nidle_timeout_seconds = 600\n")
        self.d.cli_json("reload")
        silent = [connect(self.d, "127.0.0.4") for _ in range(3)]
        trickling = [connect(self.d, "127.0.0.5") for _ in range(3)]
        for s in trickling:
            s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        self.socks = silent + trickling
        # a whole request on another connection is answered while they hang
        status, _, _ = request(self.d, "127.0.0.6", "GET", "/v1/status")
        self.assertEqual(status, 401)
        for s in self.socks:
            self.assertTrue(closed_by_server(s))  # by the header timeout, not the 600 s idle one
        self.assertGreaterEqual(self.limited("header_timeout"), 6)
        # a keep-alive connection may idle between requests much longer than the header timeout;
        # only a started request must be quick (the idle wait itself is not timed here)
        s = connect(self.d, "127.0.0.7")
        self.socks.append(s)
        s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"401", s.recv(4096))


class Authentication(LimitTest):
    config = "[server]\nauth_failures_per_minute = 3\n"

    def test_token_guessing_is_throttled_per_address(self):
        self.add_user("anna")
        anna = self.token("anna")
        for i in range(3):
            status, _, body = request(self.d, "127.0.0.8", "GET", "/v1/me", token="tb_guess%d" % i)
            self.assertEqual((status, body["error"]["code"]), (401, "unauthenticated"))
        status, headers, body = request(self.d, "127.0.0.8", "GET", "/v1/me", token="tb_guess4")
        self.assertEqual((status, body["error"]["code"]), (429, "rate_limited"), body)
        self.assertIn("failed authentications", body["error"]["message"])
        self.assertTrue(1 <= int(headers["Retry-After"]) <= 20, headers)
        # while it waits, even a good token from that address is refused before it is looked at
        status, _, body = request(self.d, "127.0.0.8", "GET", "/v1/me", token=anna)
        self.assertEqual(status, 429)
        # the same token from elsewhere works
        status, _, body = request(self.d, "127.0.0.9", "GET", "/v1/me", token=anna)
        self.assertEqual((status, body["handle"]), (200, "anna"))
        self.assertEqual(self.limited("auth_failures"), 2)
        # WebSocket upgrades with a bad token count too
        async def upgrade():
            await websockets.connect("ws://127.0.0.1:%d/v1/ws?access_token=tb_nope" % self.d.port)
        for _ in range(3):  # from 127.0.0.1, which has not failed yet
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as caught:
                asyncio.run(upgrade())
            self.assertEqual(caught.exception.status_code, 401)
        status, _, body = request(self.d, "127.0.0.1", "GET", "/v1/me", token=anna)
        self.assertEqual((status, body["error"]["code"]), (429, "rate_limited"))


class Rates(LimitTest):
    config = "[server]\nrequests_per_second_per_ip = 5\nrequests_per_second_per_token = 0\n"

    def flood(self, src, token, n=40):
        answers = [request(self.d, src, "GET", "/v1/me", token=token) for _ in range(n)]
        return [a for a in answers if a[0] == 429], [a for a in answers if a[0] == 200]

    def test_requests_per_address_are_limited(self):
        self.add_user("anna")
        anna = self.token("anna")
        refused, served = self.flood("127.0.0.10", anna)
        self.assertGreaterEqual(len(served), 10)  # the burst: twice the rate
        self.assertGreaterEqual(len(refused), 1)
        status, headers, body = refused[0]
        self.assertEqual(body["error"]["code"], "rate_limited")
        self.assertIn("server.requests_per_second_per_ip", body["error"]["message"])
        self.assertEqual(headers["Retry-After"], "1")
        self.assertEqual(self.limited("requests_per_ip"), len(refused))
        status, _, _ = request(self.d, "127.0.0.11", "GET", "/v1/me", token=anna)
        self.assertEqual(status, 200)

    def test_requests_per_token_are_limited(self):
        self.d.write_config("[server]\nrequests_per_second_per_ip = 0\nrequests_per_second_per_token = 5\n")
        self.d.cli_json("reload")
        self.add_user("anna")
        self.add_user("ben")
        anna, ben = self.token("anna"), self.token("ben")
        refused, served = self.flood("127.0.0.12", anna)
        self.assertGreaterEqual(len(served), 10)
        self.assertGreaterEqual(len(refused), 1)
        self.assertIn("on this token", refused[0][2]["error"]["message"])
        self.assertEqual(self.limited("requests_per_token"), len(refused))
        status, _, _ = request(self.d, "127.0.0.12", "GET", "/v1/me", token=ben)
        self.assertEqual(status, 200)


class WebSockets(LimitTest):
    config = "[server]\nmax_websockets_per_token = 2\n[websocket]\nevents_per_second = 1\nevent_burst = 2\n"

    def url(self, token):
        return "ws://127.0.0.1:%d/v1/ws?access_token=%s" % (self.d.port, token)

    def test_sessions_per_token_are_limited(self):
        self.add_user("anna")
        anna, other = self.token("anna"), self.token("anna")

        async def scenario():
            a = await Client.connect(self.url(anna))
            b = await Client.connect(self.url(anna))
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as caught:
                await websockets.connect(self.url(anna))
            self.assertEqual(caught.exception.status_code, 429)
            c = await Client.connect(self.url(other))  # another token (device) of the same user
            await a.close()
            await wait_for_async(lambda: self.d.cli_json("status")["connections"]["websocket"] == 2)
            d = await Client.connect(self.url(anna))
            self.assertEqual((await d.call("me"))["handle"], "anna")
            for x in (b, c, d):
                await x.close()

        asyncio.run(scenario())
        self.assertEqual(self.limited("websockets_per_token"), 1)

    def test_binary_and_malformed_frames_count_against_the_event_rate(self):
        self.add_user("anna")
        anna = self.token("anna")

        async def scenario():
            ws = await websockets.connect(self.url(anna))
            for frame in [b"\x00\x01", "{not json", b"\xff", "[1]", b"\x02"]:
                await ws.send(frame)
            codes = []
            while len(codes) < 5:
                frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                if frame["event"] == "error":
                    codes.append(frame["data"]["code"])
            await ws.close()
            return codes

        codes = asyncio.run(scenario())
        # the burst of 2 is spent on the first two; the rest are over the rate of 1 a second
        self.assertEqual(codes[:2], ["bad_request", "invalid_json"], codes)
        self.assertGreaterEqual(codes.count("rate_limited"), 2, codes)
        self.assertEqual(self.limited("ws_events"), codes.count("rate_limited"))


async def wait_for_async(check):
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, lambda: wait_until(check, "the daemon to see the change"))


def text_file(n, tag=b"x"):
    return (tag * n)[:n]


class Uploads(LimitTest):
    config = ("[files]\nmax_bytes = 8192\nmax_uploads_per_user = 1\nmax_bytes_per_user_per_day = 7000\n"
              "uploads_per_user_per_hour = 0\n")

    def setUp(self):
        super().setUp()
        for h in ["alice", "bob"]:
            self.add_user(h)
        self.tok = {h: self.token(h) for h in ["alice", "bob"]}
        # This node's uploads in flight (config.md, files.dir): incoming/<node>/, the node named
        # after the host here.
        self.incoming = os.path.join(self.d.state, "files", "incoming", self.d.cli_json("status")["node"])

    def upload(self, who, data, headers=None):
        return request(self.d, "127.0.0.1", "POST", "/v1/files?name=notes.txt", token=self.tok[who], body=data,
                       headers=dict({"Content-Type": "text/plain"}, **(headers or {})))

    def test_a_user_waits_for_their_upload_before_the_next_and_others_are_not_held_up(self):
        body = text_file(4000, b"a")
        s = connect(self.d, "127.0.0.1")
        self.addCleanup(s.close)
        s.sendall(b"POST /v1/files?name=a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  b"Content-Type: text/plain\r\nContent-Length: 4000\r\n\r\n" % self.tok["alice"].encode() + body[:1000])
        wait_until(lambda: self.metric("tourbus_uploads") == 1, "the upload to be received")
        self.assertEqual(len(os.listdir(self.incoming)), 1)  # its body goes to a file
        status, headers, answer = self.upload("alice", text_file(100))
        self.assertEqual((status, answer["error"]["code"]), (429, "rate_limited"), answer)
        self.assertIn("files.max_uploads_per_user", answer["error"]["message"])
        self.assertIn("Retry-After", headers)
        status, _, answer = self.upload("bob", text_file(100, b"b"))
        self.assertEqual(status, 201, answer)
        s.sendall(body[1000:])
        from harness import read_http_response
        status, _, raw = read_http_response(s)
        self.assertEqual(status, 201, raw)
        self.assertEqual(json.loads(raw)["size"], 4000)
        self.assertEqual(self.metric("tourbus_uploads"), 0)
        self.assertEqual(os.listdir(self.incoming), [])
        self.assertEqual(self.limited("uploads_per_user"), 1)

    def test_bytes_per_user_per_day(self):
        status, _, answer = self.upload("alice", text_file(4000))
        self.assertEqual(status, 201, answer)
        # Content-Length past what is left: refused before the body is read
        status, _, answer = self.upload("alice", text_file(4000, b"y"))
        self.assertEqual((status, answer["error"]["code"]), (429, "rate_limited"), answer)
        self.assertIn("in the last 24 hours", answer["error"]["message"])
        # without a length, the body is cut where the quota ends
        status, _, answer = self.upload("alice", iter([text_file(2000, b"z"), text_file(2000, b"z")]))
        self.assertEqual((status, answer["error"]["code"]), (429, "rate_limited"), answer)
        self.assertIn("upload quota", answer["error"]["message"])
        status, _, answer = self.upload("alice", text_file(2000, b"w"))  # what is left still fits
        self.assertEqual(status, 201, answer)
        status, _, answer = self.upload("bob", text_file(4000))  # each user has their own
        self.assertEqual(status, 201, answer)
        self.assertEqual(self.limited("upload_bytes_per_day"), 2)
        self.assertEqual(os.listdir(self.incoming), [])

    def test_refused_content_leaves_nothing_behind(self):
        status, _, answer = self.upload("alice", b"\x7fELF" + bytes(range(256)) * 8)
        self.assertEqual((status, answer["error"]["code"]), (415, "unsupported_media_type"), answer)
        self.assertEqual(os.listdir(self.incoming), [])


class Streaming(LimitTest):
    config = "[files]\nmax_bytes = 33554432\nmax_uploads_per_user = 16\n"

    def test_parallel_uploads_are_streamed_to_disk_not_held_in_memory(self):
        self.add_user("alice")
        token = self.token("alice")
        pid = self.d.proc.pid

        def peak_rss():
            with open("/proc/%d/status" % pid) as f:
                return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) * 1024

        before = peak_rss()
        n, size = 8, 16 << 20
        half = threading.Barrier(n)
        results = []

        def one(i):
            s = connect(self.d, "127.0.0.1")
            body = text_file(size, b"%d" % i)
            s.sendall(b"POST /v1/files?name=big.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                      b"Content-Length: %d\r\n\r\n" % (token.encode(), size))
            s.sendall(body[:size // 2])
            half.wait(WAIT)  # all eight are half received at once
            s.sendall(body[size // 2:])
            from harness import read_http_response
            results.append(read_http_response(s)[0])
            s.close()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT * 2)
        self.assertEqual(results, [201] * n)
        grown = peak_rss() - before
        # held in memory, 8 bodies of 16 MiB would be 128 MiB at least
        self.assertLess(grown, 48 << 20, "peak RSS grew by %d MiB" % (grown >> 20))


class Groups(LimitTest):
    config = "[chat]\nmax_group_members = 3\n"

    def test_group_size_is_limited(self):
        for h in ["ann", "ben", "cid", "dan"]:
            self.add_user(h)
        status, conv = self.d.curl("POST", "/v1/conversations", {"kind": "group", "title": "Walk", "members": ["ann", "ben"]})
        self.assertEqual(status, 201, conv)
        status, body = self.d.curl("POST", "/v1/conversations/%d/members" % conv["id"], {"users": ["cid"]})
        self.assertEqual(status, 200, body)
        status, body = self.d.curl("POST", "/v1/conversations/%d/members" % conv["id"], {"users": ["dan"]})
        self.assertEqual((status, body["error"]["code"]), (409, "conflict"), body)
        self.assertIn("chat.max_group_members", body["error"]["message"])
        status, body = self.d.curl("POST", "/v1/conversations",
                                   {"kind": "group", "title": "Big", "members": ["ann", "ben", "cid", "dan"]})
        self.assertEqual((status, body["error"]["code"]), (409, "conflict"), body)
        self.assertEqual(self.limited("group_members"), 2)


if __name__ == "__main__":
    unittest.main()
