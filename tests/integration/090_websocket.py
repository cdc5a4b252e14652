"""The API over WebSocket at /v1/ws, driven by an independent client (Debian's python3-websockets):
token auth (header or access_token), request/reply by ref, errors for malformed, unknown and
oversized frames, roles, rate limiting, and a client that never reads being closed with 4001
while others keep being served."""

import asyncio
import json
import signal
import socket
import unittest

import websockets

from harness import WAIT, DaemonTest

CONFIG = """[websocket]
max_frame_bytes = 4096
events_per_second = 5
event_burst = 20
"""


class WebSocket(DaemonTest):
    config = CONFIG

    def setUp(self):
        super().setUp()
        self.add_user("anna")
        self.add_user("olga", role="operator")
        self.anna, self.olga = self.token("anna"), self.token("olga")
        self.url = "ws://127.0.0.1:%d/v1/ws" % self.d.port

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, WAIT))

    async def call(self, ws, event, data=None, ref=None):
        frame = {"event": event}
        if data is not None:
            frame["data"] = data
        if ref is not None:
            frame["ref"] = ref
        await ws.send(json.dumps(frame))
        return json.loads(await ws.recv())

    def test_token_is_required(self):
        async def go():
            for url, headers in [(self.url, None), (self.url + "?access_token=tb_wrong", None),
                                 (self.url, {"Authorization": "Bearer tb_wrong"})]:
                with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                    async with websockets.connect(url, extra_headers=headers):
                        pass
                self.assertEqual(cm.exception.status_code, 401)
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                async with websockets.connect("ws://127.0.0.1:%d/v1/elsewhere?access_token=%s" % (self.d.port, self.anna)):
                    pass
            self.assertEqual(cm.exception.status_code, 404)
        self.run_async(go())

    def test_requests_get_replies_with_their_ref(self):
        async def go():
            async with websockets.connect(self.url, extra_headers={"Authorization": "Bearer " + self.anna}) as ws:
                r = await self.call(ws, "me", ref=1)
                self.assertEqual(r, {"event": "reply", "ref": 1, "data": r["data"]})
                self.assertEqual(r["data"]["handle"], "anna")
                r = await self.call(ws, "user.show", {"handle": "anna"}, ref="a-7")
                self.assertEqual((r["event"], r["ref"], r["data"]["handle"]), ("reply", "a-7", "anna"))
                # A tourist may not use operator events; the error carries the ref and a stable code.
                r = await self.call(ws, "user.create", {"handle": "eve", "display_name": "Eve", "role": "operator"}, ref=2)
                self.assertEqual((r["event"], r["ref"], r["data"]["code"]), ("error", 2, "permission_denied"))
            async with websockets.connect(self.url + "?access_token=" + self.olga) as ws:  # browsers use the query
                r = await self.call(ws, "user.create", {"handle": "eve", "display_name": "Eve", "role": "tourist"}, ref=3)
                self.assertEqual((r["event"], r["data"]["handle"]), ("reply", "eve"))
                r = await self.call(ws, "backup", ref=4)
                self.assertEqual((r["event"], r["data"]["code"]), ("error", "bad_request"))
        self.run_async(go())
        self.assertEqual(self.d.cli_json("user", "show", "eve")["role"], "tourist")

    def test_control_socket_websocket_is_an_operator_without_token(self):
        async def go():
            async with websockets.unix_connect(self.d.socket, "ws://localhost/v1/ws") as ws:
                r = await self.call(ws, "me", ref=1)
                self.assertEqual((r["data"]["role"], r["data"]["transport"]), ("operator", "websocket"))
                r = await self.call(ws, "user.list", ref=2)
                self.assertEqual(sorted(u["handle"] for u in r["data"]["users"]), ["anna", "olga"])
        self.run_async(go())

    def test_malformed_frames_get_errors_not_crashes(self):
        async def go():
            async with websockets.connect(self.url + "?access_token=" + self.anna) as ws:
                cases = [
                    ("not json", "invalid_json"),
                    ("[1, 2]", "invalid_json"),
                    (json.dumps({"data": {}}), "invalid_argument"),
                    (json.dumps({"event": 5}), "invalid_argument"),
                    (json.dumps({"event": "me", "colour": "red"}), "unknown_field"),
                    (json.dumps({"event": "me", "data": [1]}), "invalid_argument"),
                    (json.dumps({"event": "no.such.event"}), "not_found"),
                    (json.dumps({"event": "user.show", "data": {"handle": "anna", "extra": 1}}), "unknown_field"),
                    (json.dumps({"event": "user.show", "data": {}}), "invalid_argument"),
                ]
                for text, code in cases:
                    await ws.send(text)
                    r = json.loads(await ws.recv())
                    self.assertEqual((r["event"], r["data"]["code"]), ("error", code), text)
                await ws.send(b"\x00\x01binary")
                r = json.loads(await ws.recv())
                self.assertEqual(r["data"]["code"], "bad_request")
                # Still serving after all that.
                r = await self.call(ws, "me", ref="ok")
                self.assertEqual(r["event"], "reply")
        self.run_async(go())

    def test_shutdown_closes_with_1001_and_exits_0(self):
        async def go():
            async with websockets.connect(self.url + "?access_token=" + self.anna) as ws:
                self.assertEqual((await self.call(ws, "me"))["event"], "reply")
                self.d.send_signal(signal.SIGTERM)
                with self.assertRaises(websockets.exceptions.ConnectionClosed) as cm:
                    await ws.recv()
                self.assertEqual(cm.exception.code, 1001)
        self.run_async(go())
        self.assertEqual(self.d.proc.wait(timeout=WAIT), 0)

    def test_oversized_frame_closes_with_1009(self):
        async def go():
            async with websockets.connect(self.url + "?access_token=" + self.anna) as ws:
                await ws.send(json.dumps({"event": "me", "data": {"pad": "x" * 5000}}))
                with self.assertRaises(websockets.exceptions.ConnectionClosed) as cm:
                    await ws.recv()
                self.assertEqual(cm.exception.code, 1009)
            async with websockets.connect(self.url + "?access_token=" + self.anna) as ws:  # the daemon is fine
                self.assertEqual((await self.call(ws, "me"))["event"], "reply")
        self.run_async(go())

    def test_rate_limit(self):
        async def go():
            async with websockets.connect(self.url + "?access_token=" + self.anna) as ws:
                for i in range(40):
                    await ws.send(json.dumps({"event": "me", "ref": i}))
                answers = [json.loads(await ws.recv()) for _ in range(40)]
                self.assertEqual([a["ref"] for a in answers], list(range(40)))  # in order, one each
                codes = [a["data"].get("code") if a["event"] == "error" else "ok" for a in answers]
                self.assertEqual(codes[:20], ["ok"] * 20)  # the burst
                self.assertIn("rate_limited", codes[20:])
        self.run_async(go())



def server_frames(data):
    """Splits unmasked server frames: yields (opcode, payload)."""
    i = 0
    while i + 2 <= len(data):
        opcode, length = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if length == 126:
            length, i = int.from_bytes(data[i:i + 2], "big"), i + 2
        elif length == 127:
            length, i = int.from_bytes(data[i:i + 8], "big"), i + 8
        yield opcode, data[i:i + length]
        i += length


class SlowConsumer(DaemonTest):
    config = "[websocket]\nevents_per_second = 100000\nevent_burst = 100000\nsend_queue_frames = 16\n"

    def test_a_client_that_stops_reading_is_closed_with_4001_and_others_keep_going(self):
        self.slow_consumer()

    def test_the_send_queue_is_bounded_in_bytes_too(self):
        # many frames fit, but not their bytes: each user.list answer is some kilobytes
        self.d.write_config("[websocket]\nevents_per_second = 100000\nevent_burst = 100000\n"
                            "send_queue_frames = 1000000\nsend_queue_bytes = 65536\n")
        self.assertIn("websocket.send_queue_bytes", self.d.cli_json("reload")["applied"])
        self.slow_consumer()
        status, text = self.d.curl("GET", "/metrics", raw=True)
        self.assertRegex(text, r'tourbus_limited_total\{limit="ws_send_queue"\} [1-9]')
        self.assertIn('tourbus_limit{limit="ws_send_queue",key="websocket.send_queue_bytes"} 65536', text)

    def slow_consumer(self):
        for i in range(30):  # so that every user.list answer is some kilobytes
            self.add_user("user%02d" % i, name="A rather long display name number %d" % i)
        token = self.token("user00")
        self.d.cli("user", "set", "user00", "--role", "operator")
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, set before connecting
        raw.settimeout(WAIT)
        raw.connect(("127.0.0.1", self.d.port))
        raw.sendall(("GET /v1/ws?access_token=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" % token).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += raw.recv(1)
        self.assertIn(b" 101 ", head.split(b"\r\n")[0])
        request = json.dumps({"event": "user.list"}).encode()
        frame = bytes([0x81, 0x80 | len(request)]) + b"\0\0\0\0" + request  # masked with a zero key
        mark = self.d.log_mark()
        raw.sendall(frame * 3000)  # and read nothing: about 20 MB of answers pile up
        self.d.wait_for(r"net\.ws_too_slow user=user00", start=mark)

        async def other():  # meanwhile another client is served as usual
            anna = self.token("user01")
            async with websockets.connect("ws://127.0.0.1:%d/v1/ws?access_token=%s" % (self.d.port, anna)) as ws:
                await ws.send(json.dumps({"event": "me", "ref": 1}))
                self.assertEqual(json.loads(await ws.recv())["event"], "reply")
        asyncio.run(asyncio.wait_for(other(), WAIT))

        # Reading at last, the client finds what fitted in the buffers, then close code 4001.
        data = b""
        while True:
            chunk = raw.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        raw.close()
        closes = [payload for opcode, payload in server_frames(data) if opcode == 8]
        self.assertEqual(len(closes), 1)
        self.assertEqual(int.from_bytes(closes[0][:2], "big"), 4001)


if __name__ == "__main__":
    unittest.main()
