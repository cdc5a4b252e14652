"""RFC 6455 as tourbusd speaks it, checked byte by byte with a raw-socket client: the upgrade's
version and key checks, frames sent right behind the upgrade request, fragmented messages with a
ping in between, pipelined requests answered in order, protocol errors closed with 1002/1007,
and the keepalive sweep (a ping, then a silent client dropped)."""

import base64
import hashlib
import json
import os
import socket
import struct
import time
import unittest

from harness import WAIT, DaemonTest

CONFIG = """[websocket]
idle_timeout_seconds = 2
events_per_second = 1000
event_burst = 1000
"""

KEY = base64.b64encode(os.urandom(16)).decode()


def frame(payload, opcode=1, fin=True, mask=True):
    if isinstance(payload, str):
        payload = payload.encode()
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Raw:
    """A WebSocket client on a bare socket, so every byte on the wire is the test's choice."""

    def __init__(self, port, token, version="13", key=KEY, extra=b""):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        req = ("GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\nAuthorization: Bearer %s\r\n\r\n"
               % (key, version, token)).encode()
        self.sock.sendall(req + extra)
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode()
        self.status = int(self.head.split()[1]) if self.head else 0

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def read(self):
        """The next frame: (opcode, payload bytes)."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frames are not masked"
        n, at = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, at = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(at + n)
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return b0 & 0x0F, payload

    def read_json(self):
        op, payload = self.read()
        assert op == 1, "expected a text frame, got opcode %d" % op
        return json.loads(payload)

    def send(self, data):
        self.sock.sendall(data)

    def closed(self):
        """True once the server has closed the TCP connection (all frames before it are read)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, socket.timeout):
            return False


def call(event, data, ref):
    return json.dumps({"event": event, "data": data, "ref": ref})


class Frames(DaemonTest):
    config = CONFIG

    def setUp(self):
        super().setUp()
        self.add_user("anna")
        self.add_user("ben")
        self.anna, self.ben = self.token("anna"), self.token("ben")
        made = self.d.cli_json("conversation", "create", "direct", "anna", "ben")
        self.conv = made["id"]

    def raw(self, *args, **kwargs):
        c = Raw(*args, **kwargs)
        self.addCleanup(c.sock.close)
        return c

    def test_upgrade_checks_version_and_key(self):
        bad = self.raw(self.d.port, self.anna, version="8")
        self.assertEqual(bad.status, 426)
        self.assertIn("Sec-WebSocket-Version: 13", bad.head)
        bad = self.raw(self.d.port, self.anna, key="not-a-key")
        self.assertEqual(bad.status, 400)
        good = self.raw(self.d.port, self.anna)
        self.assertEqual(good.status, 101)
        expected = base64.b64encode(hashlib.sha1((KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        self.assertIn("Sec-WebSocket-Accept: " + expected.decode(), good.head)

    def test_frames_right_behind_the_upgrade_request_are_answered(self):
        c = self.raw(self.d.port, self.anna, extra=frame(call("me", {}, "early")))
        self.assertEqual(c.status, 101)
        reply = c.read_json()
        self.assertEqual((reply["event"], reply["ref"], reply["data"]["handle"]), ("reply", "early", "anna"))

    def test_fragmented_message_with_a_ping_between_the_fragments(self):
        c = self.raw(self.d.port, self.anna)
        text = call("message.send", {"conversation": self.conv, "text": "in three parts ✓"}, 7).encode()
        a, b = len(text) // 3, 2 * len(text) // 3
        c.send(frame(text[:a], opcode=1, fin=False) + frame(b"are you there", opcode=9) +
               frame(text[a:b], opcode=0, fin=False) + frame(text[b:], opcode=0, fin=True))
        got = {}
        while "reply" not in got:
            op, payload = c.read()
            if op == 10:
                got["pong"] = payload
            elif op == 1:
                m = json.loads(payload)
                got[m["event"]] = m
        self.assertEqual(got["pong"], b"are you there")
        self.assertEqual(got["reply"]["ref"], 7)
        self.assertEqual(got["reply"]["data"]["text"], "in three parts ✓")

    def test_pipelined_requests_are_answered_in_order(self):
        c = self.raw(self.d.port, self.anna)
        ben = self.raw(self.d.port, self.ben)
        c.send(b"".join(frame(call("message.send", {"conversation": self.conv, "text": "n%d" % i}, i))
                        for i in range(50)))
        refs, texts = [], []
        while len(refs) < 50:
            m = c.read_json()
            if m["event"] == "reply":
                refs.append(m["ref"])
                texts.append(m["data"]["text"])
        self.assertEqual(refs, list(range(50)))
        self.assertEqual(texts, ["n%d" % i for i in range(50)])
        # ben gets all 50 pushes, in seq order
        seqs = []
        while len(seqs) < 50:
            m = ben.read_json()
            if m["event"] == "message":
                seqs.append(m["data"]["seq"])
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 50)

    def assertClosedWith(self, c, code):
        op, payload = c.read()
        while op != 8:
            op, payload = c.read()
        self.assertEqual(struct.unpack(">H", payload[:2])[0], code)
        self.assertTrue(c.closed(), "the server ends the connection after a protocol error")

    def test_invalid_utf8_closes_with_1007(self):
        c = self.raw(self.d.port, self.anna)
        c.send(frame(b'{"event":"me","data":{},"ref":"\xc0\xaf"}'))
        self.assertClosedWith(c, 1007)

    def test_unmasked_frame_closes_with_1002(self):
        c = self.raw(self.d.port, self.anna)
        c.send(frame(call("me", {}, 1), mask=False))
        self.assertClosedWith(c, 1002)

    def test_continuation_without_a_message_closes_with_1002(self):
        c = self.raw(self.d.port, self.anna)
        c.send(frame(b"stray", opcode=0))
        self.assertClosedWith(c, 1002)

    def test_close_frames_are_checked_and_good_ones_echoed(self):
        bad = [(b"\x03", 1002),                         # one byte
               (struct.pack(">H", 999), 1002),           # below 1000
               (struct.pack(">H", 1005), 1002),          # reserved: never sent on the wire
               (struct.pack(">H", 1006), 1002),
               (struct.pack(">H", 2000), 1002),          # unassigned
               (struct.pack(">H", 5000), 1002),
               (struct.pack(">H", 1000) + b"\xff", 1007)]  # reason not UTF-8
        for payload, code in bad:
            with self.subTest(payload=payload):
                c = self.raw(self.d.port, self.anna)
                c.send(frame(payload, opcode=8))
                self.assertClosedWith(c, code)
        for payload, echoed in [(b"", 1000), (struct.pack(">H", 1001) + "au revoir é".encode(), 1001),
                                (struct.pack(">H", 4001), 4001)]:
            with self.subTest(payload=payload):
                c = self.raw(self.d.port, self.anna)
                c.send(frame(payload, opcode=8))
                self.assertClosedWith(c, echoed)

    def test_a_silent_client_is_pinged_then_dropped(self):
        c = self.raw(self.d.port, self.anna)
        started = time.monotonic()
        op, _ = c.read()
        self.assertEqual(op, 9, "a ping after half the idle timeout")
        self.assertTrue(c.closed(), "dropped once the whole timeout passed without a pong")
        self.assertGreaterEqual(time.monotonic() - started, 1.5)
        self.d.wait_for(r"net\.ws_timeout user=anna")
        # a client that answers pings stays
        c = self.raw(self.d.port, self.ben)
        for _ in range(2):
            op, payload = c.read()
            self.assertEqual(op, 9)
            c.send(frame(payload, opcode=10))
        c.send(frame(call("me", {}, "still")))
        m = c.read_json()
        while m.get("ref") != "still":
            m = c.read_json()
        self.assertEqual(m["data"]["handle"], "ben")


if __name__ == "__main__":
    unittest.main()
