"""Bad input never crashes the daemon: a fixed-seed stream of malformed HTTP requests, JSON bodies
and WebSocket frames (run under ASan+UBSan in the second pass of the test command). Every answer
is a well-formed HTTP response or a closed connection, and the daemon keeps serving."""

import asyncio
import json
import random
import socket

import websockets

from harness import WAIT, DaemonTest

METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS", "G\x00T", ""]
TARGETS = ["/v1/users", "/v1/users/anna", "/v1/tours/1", "/v1/tours/-1/join", "/v1/tokens/99999999999999999999",
           "/v1/users?limit=abc", "/v1/users?after=1&after=2", "/%ff%fe", "/v1/users/%00", "//", "*", "/v1/../etc/passwd",
           "/v1/tours?from=2026-13-45T99:99", "/metrics?x", "/v1/status/" + "a" * 3000]
VALUES = [None, True, False, 0, -1, 2 ** 63, 1e308, -1e-308, "", "x" * 1000, "\u0000", "\ud7ff\ue000", [], {}, [[[]]],
          {"a": {"b": {"c": []}}}, "2026-12-01T09:00", "+39 333 123 4567", "Europe/Rome", "tourist", "anna"]
FIELDS = ["handle", "display_name", "role", "email", "phone", "language", "time_zone", "quiet_hours", "marketing_consent",
          "title", "starts_at", "ends_at", "guide", "participants", "users", "id", "meeting_lat", "meeting_lon", "reason",
          "user", "ttl_days", "label", "status", "", "\u00e9"]


def random_body(rng):
    kind = rng.randrange(5)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
    if kind == 1:
        return b"{" * rng.randrange(1, 2000)  # deep nesting
    obj = {rng.choice(FIELDS): rng.choice(VALUES) for _ in range(rng.randrange(6))}
    text = json.dumps(obj)
    if kind == 2 and text:
        cut = rng.randrange(len(text))
        text = text[:cut] + rng.choice(["", "\"", "}", ",", "\\u12", "\x01"]) + text[cut + 1:]
    return text.encode("utf-8", "surrogatepass")


def random_request(rng):
    if rng.random() < 0.1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) + b"\r\n\r\n"
    body = random_body(rng)
    headers = ["Host: x"]
    length = len(body)
    r = rng.random()
    if r < 0.1:
        length = rng.choice([-1, 2 ** 70, length + 10])
    elif r < 0.15:
        headers.append("Transfer-Encoding: chunked")
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if rng.random() < 0.5 else b"zz\r\n" + body
        length = None
    if length is not None:
        headers.append("Content-Length: %s" % length)
    if rng.random() < 0.5:
        headers.append("Content-Type: " + rng.choice(["application/json", "text/plain", "application/json; charset=utf-8", "\x7f"]))
    if rng.random() < 0.2:
        headers.append("Authorization: " + rng.choice(["Bearer", "Bearer tb_", "Basic eA==", "Bearer " + "t" * 5000]))
    line = "%s %s HTTP/1.%d" % (rng.choice(METHODS), rng.choice(TARGETS), rng.choice([0, 1, 9]))
    return ("\r\n".join([line] + headers) + "\r\n\r\n").encode("utf-8", "surrogatepass") + body


def read_answer(sock):
    """Returns the status line of the answer, or None when the server just closed."""
    data = b""
    while b"\r\n" not in data:
        try:
            chunk = sock.recv(4096)
        except OSError:  # reset or already shut down by the server
            return None
        if not chunk:
            return None
        data += chunk
    return data.split(b"\r\n", 1)[0]


class Garbage(DaemonTest):
    config = "[server]\nmax_body_bytes = 65536\n[websocket]\nevents_per_second = 100000\nevent_burst = 100000\n"

    def setUp(self):
        super().setUp()
        self.add_user("anna")
        self.add_user("olga", role="operator")

    def test_http_garbage_on_both_listeners(self):
        rng = random.Random(20261124)
        token = self.token("olga")
        for i in range(400):
            request = random_request(rng)
            if rng.random() < 0.5:
                s = socket.create_connection(("127.0.0.1", self.d.port), timeout=WAIT)
                if rng.random() < 0.5:  # an authenticated one gets past the token check
                    request = request.replace(b"Host: x", b"Host: x\r\nAuthorization: Bearer " + token.encode(), 1)
            else:
                s = self.d.unix_connect()
            with s:
                try:
                    s.sendall(request)
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass  # the server may answer and close before the client is done sending
                status = read_answer(s)
            if status is not None:
                self.assertRegex(status, rb"^HTTP/1\.[01] [1-5]\d\d ", (i, request[:200]))
        # Still alive, still correct, nothing stored by the noise except what was valid.
        self.assertEqual(self.d.cli_json("user", "show", "anna")["role"], "tourist")
        self.assertEqual(self.d.proc.poll(), None)

    def test_websocket_garbage(self):
        rng = random.Random(424242)
        token = self.token("olga")

        async def go():
            async with websockets.connect("ws://127.0.0.1:%d/v1/ws?access_token=%s" % (self.d.port, token),
                                          max_size=None) as ws:
                for i in range(400):
                    kind = rng.randrange(4)
                    if kind == 0:
                        frame = random_body(rng).decode("utf-8", "replace")
                    else:
                        frame = {"event": rng.choice(["me", "user.show", "user.update", "tour.create", "tour.join",
                                                      "token.issue", "status", "nope", 5, None]),
                                 "data": rng.choice(VALUES + [{rng.choice(FIELDS): rng.choice(VALUES)
                                                               for _ in range(rng.randrange(5))}]),
                                 "ref": rng.choice([i, str(i), None, [], 1.5])}
                        frame = json.dumps(frame)
                    await ws.send(frame)
                    answer = json.loads(await ws.recv())
                    self.assertIn(answer["event"], ("reply", "error"))
                await ws.send(json.dumps({"event": "me", "ref": "last"}))
                self.assertEqual(json.loads(await ws.recv())["ref"], "last")

        asyncio.run(asyncio.wait_for(go(), 120))
        self.assertEqual(self.d.proc.poll(), None)


if __name__ == "__main__":
    import unittest
    unittest.main()
