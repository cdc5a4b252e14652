"""Socket.IO at /socket.io/ with real clients, against the real daemon: the official socket.io-client
4.x in Node (tests/socketio/client.mjs, installed from its lock file by npm.py) over long-polling
with the upgrade, over WebSocket alone and over long-polling alone; Debian's python3-socketio over
both transports; refusals (bad or missing token, another namespace, a binary attachment); plain
tourbus WebSocket clients and Socket.IO clients in the same conversations receiving the same
messages in the same order, with 1,000 Socket.IO clients at once; a Socket.IO client that stops
reading dropped while the others keep receiving; and examples/socketio.html in headless Chromium,
served over HTTP (polling, then the upgrade) and opened from a file (WebSocket).
Needs node and npm (scripts/setup.sh); the npm registry, once, for the locked packages."""

import asyncio
import base64
import functools
import http.server
import itertools
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import socketio

import npm
from browser import Browser
from harness import WAIT, DaemonTest, wait_until
from wsclient import Client

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
CLIENT_MJS = REPO / "tests" / "socketio" / "client.mjs"
EXAMPLE = REPO / "examples" / "socketio.html"

# Abuse limits off: hundreds of clients from one address and one token, requests as fast as they come.
CONFIG = """[server]
max_connections_per_ip = 0
max_websockets_per_token = 0
requests_per_second_per_ip = 0
requests_per_second_per_token = 0
auth_failures_per_minute = 0

[websocket]
events_per_second = 100000
event_burst = 100000
"""


def matches(report, want):
    """A report matches a dict of expected values (a subset of its keys) or a predicate."""
    if callable(want):
        return want(report)
    return all(report.get(k) == v for k, v in want.items())


class NodeClients:
    """tests/socketio/client.mjs in one Node process: commands go in as JSON lines, its reports are
    kept in arrival order for the test to wait on."""

    def __init__(self):
        env = dict(os.environ, TOURBUS_NODE_MODULES_DIR=str(npm.node_modules(CLIENT_MJS.parent)))
        self.proc = subprocess.Popen([npm.node(), str(CLIENT_MJS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.reports, self.stderr = [], []
        self.cond = threading.Condition()
        self.tags = itertools.count(1)
        self.readers = [threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True),
                        threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True)]
        for t in self.readers:
            t.start()

    def _read(self, stream, reports):
        for line in stream:
            with self.cond:
                if reports:
                    self.reports.append(json.loads(line))
                else:
                    self.stderr.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def send(self, **command):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def describe(self):
        with self.cond:
            tail = [json.dumps(r)[:300] for r in self.reports[-15:]]
            return "\nnode's last reports:\n%s\nnode's stderr:\n%s" % ("\n".join(tail), "\n".join(self.stderr[-20:]))

    def wait(self, want, what, start=0, timeout=WAIT):
        """The first report at or after index `start` that matches; fails at the deadline, or at
        once when the script reported an error or exited."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for r in self.reports[start:]:
                    if r.get("type") == "error":
                        raise AssertionError("client.mjs: %s%s" % (r["message"], self.describe()))
                    if matches(r, want):
                        return r
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError("timed out waiting for %s%s" % (what, self.describe()))
                self.cond.wait(min(left, 0.5))

    def mark(self):
        with self.cond:
            return len(self.reports)

    def open(self, ident, url, **opts):
        """Opens a socket (recording every event) and returns its connect report."""
        start = self.mark()
        self.send(cmd="open", id=ident, url=url, opts=opts)
        return self.wait(lambda r: r.get("id") == ident and r["type"] in ("connect", "connect_error", "disconnect"),
                         "%s to connect" % ident, start)

    def emit(self, ident, event, *args, ack=True):
        """Emits; returns the tag of the acknowledgement to wait for (None without one)."""
        tag = next(self.tags) if ack else None
        self.send(cmd="emit", id=ident, event=event, args=list(args), ack=tag)
        return tag

    def ack(self, ident, tag, timeout=WAIT):
        return self.wait({"id": ident, "type": "ack", "ack": tag}, "the ack %s of %s" % (tag, ident), timeout=timeout)["args"]

    def call(self, ident, event, *args):
        """emit with an acknowledgement; returns the one argument it carries."""
        answer = self.ack(ident, self.emit(ident, event, *args))
        if len(answer) != 1:
            raise AssertionError("%s: the ack carried %d arguments, not one: %r" % (event, len(answer), answer))
        return answer[0]

    def pushes(self, ident, event="message"):
        with self.cond:
            return [r["args"][0] for r in self.reports
                    if r.get("id") == ident and r["type"] == "event" and r["event"] == event]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send(cmd="exit")
                self.proc.wait(timeout=WAIT)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for t in self.readers:
            t.join(timeout=WAIT)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc.stderr.close()


class PyClient:
    """Debian's python3-socketio client (Socket.IO v5), events kept in arrival order."""

    def __init__(self, url, token, transport, auth=True):
        self.sio = socketio.Client(reconnection=False)
        self.events, self.errors = [], []
        self.cond = threading.Condition()
        self.sio.on("*", self._event)
        self.sio.on("connect_error", self._connect_error)
        self.sio.connect(url, auth={"token": token} if auth else None, transports=[transport], wait_timeout=WAIT)

    def _event(self, event, *args):  # with connection-state recovery an offset may follow the data
        with self.cond:
            self.events.append((event, args[0] if args else None))
            self.cond.notify_all()

    def _connect_error(self, *data):
        with self.cond:
            self.errors.append(data[0] if data else None)
            self.cond.notify_all()

    def messages(self):
        with self.cond:
            return [data for event, data in self.events if event == "message"]

    def wait_message(self, check, what):
        deadline = time.monotonic() + WAIT
        with self.cond:
            while True:
                got = [m for event, m in self.events if event == "message" and check(m)]
                if got:
                    return got[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("python-socketio: timed out waiting for %s; events: %r" % (what, self.events[-10:]))
                self.cond.wait(left)

    def call(self, event, data):
        return self.sio.call(event, data, timeout=WAIT)

    def close(self):
        self.sio.disconnect()


class SocketIOTest(DaemonTest):
    config = CONFIG

    def setUp(self):
        super().setUp()
        for h, role in [("alice", "tourist"), ("bob", "tourist"), ("gina", "guide")]:
            self.add_user(h, role=role)
        self.tok = {h: self.token(h) for h in ["alice", "bob", "gina"]}
        self.direct = self.d.cli_json("conversation", "create", "direct", "alice", "bob")["id"]
        self.tour = self.d.cli_json("tour", "add", "--title", "Colosseum at dawn", "--start", "2026-12-01T06:00",
                                    "--end", "2026-12-01T08:00", "--tz", "Europe/Rome", "--guide", "gina",
                                    "-p", "alice", "-p", "bob")["conversation"]
        self.url = "http://127.0.0.1:%d" % self.d.port
        self.ws_url = "ws://127.0.0.1:%d/v1/ws" % self.d.port

    def node(self):
        node = NodeClients()
        self.addCleanup(node.close)
        return node

    def history(self, conv):
        r = self.d.cli("conversation", "export", str(conv))
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines()]

    def stored(self, conv, text):
        found = [m for m in self.history(conv) if m["text"] == text]
        self.assertEqual(len(found), 1, "%r stored once in %d" % (text, conv))
        return found[0]

    def send_as(self, handle, conv, text):
        r = self.d.cli("--as", handle, "send", str(conv), text)
        self.assertEqual(r.returncode, 0, r.stderr)

    def describe(self):
        return "\ndaemon log (tail):\n" + "\n".join(self.d.log_text().splitlines()[-30:])


class NodeClient(SocketIOTest):
    def setUp(self):
        super().setUp()
        self.add_user("carl", role="guide")  # a conversation that alice and bob are not in
        self.staff = self.d.cli_json("conversation", "create", "group", "--title", "Staff", "carl", "gina")["id"]

    def chat(self, node, ident, handle, transport):
        """ident (connected as handle) receives a message from the terminal, sends one with an ack,
        and gets errors for bad requests; everything as the WebSocket would answer it."""
        text = "To %s over %s" % (handle, transport)
        self.send_as("bob" if handle != "bob" else "alice", self.direct, text)
        stored = self.stored(self.direct, text)
        pushed = node.wait(lambda r: r.get("id") == ident and r["type"] == "event" and r["event"] == "message"
                           and r["args"][0]["text"] == text, "the message push to " + ident)
        self.assertEqual(pushed["args"][0], stored)

        me = node.call(ident, "me")  # no parameters at all
        self.assertEqual((me["event"], me["data"]["handle"]), ("reply", handle))
        cid = "sio-%s-%s" % (ident, transport)
        text = "From %s over %s" % (handle, transport)
        answer = node.call(ident, "message.send", {"conversation": self.direct, "client_id": cid, "text": text})
        self.assertEqual(answer["event"], "reply", answer)
        self.assertEqual(set(answer), {"event", "data"})
        stored = self.stored(self.direct, text)
        self.assertEqual(answer["data"], dict(stored, duplicate=False))
        own = node.wait(lambda r: r.get("id") == ident and r["type"] == "event" and r["event"] == "message"
                        and r["args"][0]["client_id"] == cid, "the push of %s's own message" % ident)
        self.assertEqual(own["args"][0], stored)
        again = node.call(ident, "message.send", {"conversation": self.direct, "client_id": cid, "text": text})
        self.assertEqual((again["event"], again["data"]["seq"], again["data"]["duplicate"]), ("reply", stored["seq"], True))

        for args, code in [(("message.send", {"conversation": self.direct, "text": "x", "colour": "red"}), "unknown_field"),
                           (("message.send", {"conversation": self.direct}), "invalid_argument"),
                           (("message.history", {"conversation": self.staff}), "not_found"),
                           (("no.such.event", {}), "not_found"),
                           (("user.create", {"handle": "eve", "display_name": "Eve", "role": "operator"}), "permission_denied")]:
            answer = node.call(ident, *args)
            self.assertEqual(answer["event"], "error", args)
            self.assertEqual(answer["data"]["code"], code, args)
            self.assertTrue(answer["data"]["message"], answer)
        self.assertEqual(self.history(self.direct)[-1]["text"], text)  # nothing stored by the refusals

    def test_default_transports_poll_then_upgrade_to_websocket(self):
        node = self.node()
        mark = node.mark()
        first = node.open("a", self.url, auth={"token": self.tok["alice"]})
        self.assertEqual(first["type"], "connect", first)
        self.assertEqual(node.wait({"id": "a", "type": "open"}, "Engine.IO to open", mark)["transport"], "polling")
        node.wait({"id": "a", "type": "upgrade", "transport": "websocket"}, "the upgrade to websocket")
        self.chat(node, "a", "alice", "polling+websocket")

    def test_websocket_only(self):
        node = self.node()
        first = node.open("a", self.url, auth={"token": self.tok["alice"]}, transports=["websocket"])
        self.assertEqual((first["type"], first.get("transport")), ("connect", "websocket"), first)
        self.chat(node, "a", "alice", "websocket")

        # A binary attachment is refused: in the ack when there is one, else as an `error` event.
        blob = {"$binary": base64.b64encode(b"\x00\x01\x02binary").decode()}
        answer = node.call("a", "message.send", {"conversation": self.direct, "text": "with a file"}, blob)
        self.assertEqual((answer["event"], answer["data"]["code"]), ("error", "bad_request"), answer)
        mark = node.mark()
        node.emit("a", "message.send", {"conversation": self.direct, "text": "bytes", "blob": blob}, ack=False)
        error = node.wait({"id": "a", "type": "event", "event": "error"}, "the error event for a binary emit", mark)
        self.assertEqual(error["args"][0]["code"], "bad_request", error)
        self.assertEqual(node.call("a", "me")["event"], "reply")  # still served
        self.assertEqual([m for m in self.history(self.direct) if m["text"] in ("with a file", "bytes")], [])

    def test_long_polling_only_chats_like_websocket(self):
        node = self.node()
        # bob over long-polling, the token in the query; alice over WebSocket
        first = node.open("b", self.url, query={"access_token": self.tok["bob"]}, transports=["polling"])
        self.assertEqual((first["type"], first.get("transport")), ("connect", "polling"), first)
        first = node.open("a", self.url, auth={"token": self.tok["alice"]}, transports=["websocket"])
        self.assertEqual(first["type"], "connect", first)
        self.chat(node, "b", "bob", "polling")
        sent = []
        for i in range(10):  # both ways, interleaved
            for ident, handle in (("a", "alice"), ("b", "bob")):
                text = "%s %d" % (handle, i)
                answer = node.call(ident, "message.send", {"conversation": self.direct, "text": text})
                self.assertEqual(answer["event"], "reply", answer)
                sent.append((answer["data"]["seq"], handle, text))
        for ident in ("a", "b"):
            wait_until(lambda: len([m for m in node.pushes(ident) if m["seq"] >= sent[0][0]]) >= len(sent),
                       "every message pushed to %s" % ident, describe=node.describe)
            got = [(m["seq"], m["sender"], m["text"]) for m in node.pushes(ident) if m["seq"] >= sent[0][0]]
            self.assertEqual(got, sent)
        self.assertEqual(node.pushes("b", "error"), [])

    def test_bad_or_missing_token_and_other_namespaces_are_refused(self):
        node = self.node()
        cases = {"bad": dict(auth={"token": "tb_wrong"}), "badq": dict(query={"access_token": "tb_wrong"}),
                 "none": dict(), "ws": dict(auth={"token": "tb_wrong"}, transports=["websocket"])}
        for ident, opts in cases.items():
            r = node.open(ident, self.url, **opts)
            self.assertEqual(r["type"], "connect_error", (ident, r))
            self.assertIsInstance(r["message"], str)
            self.assertTrue(r["message"], r)
            self.assertEqual(r["data"]["code"], "unauthenticated", (ident, r))
            self.assertTrue(r["data"]["message"], r)
        r = node.open("ns", self.url + "/admin", auth={"token": self.tok["alice"]})
        self.assertEqual((r["type"], r["message"]), ("connect_error", "Invalid namespace"), r)
        # The token itself is fine, on the default namespace.
        self.assertEqual(node.open("ok", self.url, auth={"token": self.tok["alice"]})["type"], "connect")
        # Never a `connect` for the refused ones.
        self.assertEqual([r for r in node.reports if r.get("type") == "connect" and r["id"] != "ok"], [])


class PythonClient(SocketIOTest):
    def test_python_socketio_sends_and_receives_over_both_transports(self):
        for transport in ("polling", "websocket"):
            with self.subTest(transport=transport):
                c = PyClient(self.url, self.tok["alice"], transport)
                try:
                    text = "To python over " + transport
                    self.send_as("bob", self.direct, text)
                    self.assertEqual(c.wait_message(lambda m: m["text"] == text, "bob's message"),
                                     self.stored(self.direct, text))
                    text = "From python over " + transport
                    answer = c.call("message.send", {"conversation": self.direct, "client_id": "py-" + transport,
                                                     "text": text})
                    self.assertEqual(answer, {"event": "reply", "data": dict(self.stored(self.direct, text), duplicate=False)})
                    c.wait_message(lambda m: m["text"] == text, "the push of its own message")
                    answer = c.call("message.history", {"conversation": self.direct, "after": 0})
                    self.assertEqual(answer["data"]["messages"], self.history(self.direct))
                    answer = c.call("message.send", {"conversation": self.direct})
                    self.assertEqual((answer["event"], answer["data"]["code"]), ("error", "invalid_argument"))
                finally:
                    c.close()

    def test_python_socketio_bad_token(self):
        for auth in ({"token": "tb_wrong"}, None):
            c = socketio.Client(reconnection=False)
            seen, cond = [], threading.Condition()

            def record(name):
                def handler(*data):
                    with cond:
                        seen.append((name, data[0] if data else None))
                        cond.notify_all()
                return handler
            c.on("connect", record("connect"))
            c.on("connect_error", record("connect_error"))
            # wait=False: connect() itself would wait out wait_timeout whenever a namespace is refused
            c.connect(self.url, auth=auth, transports=["websocket"], wait=False)
            try:
                with cond:
                    self.assertTrue(cond.wait_for(lambda: seen, WAIT), "no answer to CONNECT")
                # python-socketio hands over the CONNECT_ERROR payload as it is: {message, data}
                name, error = seen[0]
                self.assertEqual(name, "connect_error", seen)
                self.assertEqual((error["data"]["code"], bool(error["message"])), ("unauthenticated", True), seen)
            finally:
                c.disconnect()


class Mixed(SocketIOTest):
    def test_plain_websocket_and_socketio_clients_get_the_same_messages(self):
        node = self.node()
        self.assertEqual(node.open("a", self.url, auth={"token": self.tok["alice"]}, transports=["websocket"])["type"],
                         "connect")
        self.assertEqual(node.open("b", self.url, query={"access_token": self.tok["bob"]}, transports=["polling"])["type"],
                         "connect")
        py = PyClient(self.url, self.tok["gina"], "websocket")
        self.addCleanup(py.close)
        before = len(self.history(self.tour))
        conv = self.tour

        async def go():
            plain = {h: await Client.connect(self.ws_url, self.tok[h]) for h in ("alice", "bob", "gina")}
            # Three senders at once, each pipelining: Socket.IO in Node, python-socketio, plain WebSocket.
            tags = [node.emit("a", "message.send", {"conversation": conv, "client_id": "node-%d" % i,
                                                    "text": "node %d" % i}) for i in range(5)]
            py_sends = asyncio.to_thread(lambda: [py.call("message.send", {"conversation": conv, "text": "py %d" % i})
                                                  for i in range(5)])
            futures = [await plain["bob"].send("message.send", {"conversation": conv, "text": "plain %d" % i})
                       for i in range(5)]
            answers = await py_sends + [await asyncio.wait_for(f, WAIT) for f in futures]
            answers += [(await asyncio.to_thread(node.ack, "a", t))[0] for t in tags]
            self.assertEqual([a["event"] for a in answers], ["reply"] * 15, answers)

            stored = self.history(conv)[before:]
            self.assertEqual(len(stored), 15)
            expected = [(m["seq"], m["sender"], m["text"]) for m in stored]
            key = lambda m: (m["seq"], m["sender"], m["text"])
            for h, c in plain.items():
                got = [key(await c.push("message", lambda m: m["conversation"] == conv)) for _ in expected]
                self.assertEqual(got, expected, "plain WebSocket client of " + h)
            for ident in ("a", "b"):
                await asyncio.to_thread(wait_until, lambda: len([m for m in node.pushes(ident) if m["conversation"] == conv])
                                        >= len(expected), "the messages on " + ident, describe=node.describe)
                self.assertEqual([key(m) for m in node.pushes(ident) if m["conversation"] == conv], expected, ident)
            await asyncio.to_thread(wait_until, lambda: len([m for m in py.messages() if m["conversation"] == conv])
                                    >= len(expected), "the messages on python-socketio")
            self.assertEqual([key(m) for m in py.messages() if m["conversation"] == conv], expected)
            for c in plain.values():
                await c.close()
        asyncio.run(asyncio.wait_for(go(), 4 * WAIT))


class Crowd(DaemonTest):
    config = CONFIG
    users = ["t%02d" % i for i in range(20)]
    # A thousand in the normal build. The sanitizer build (its build dir is build-asan) runs the
    # same code paths with 150: its daemon is several times slower, and CI has 30 minutes for both.
    sockets = 150 if "build-asan" in os.environ.get("TOURBUS_BUILD_DIR", "") else 1000

    def test_a_crowd_of_socketio_clients_and_plain_websockets_get_the_same_messages(self):
        for h in self.users:
            self.add_user(h)
        tok = {h: self.token(h) for h in self.users}
        members = {"A": self.users[0:10], "B": self.users[5:15], "C": self.users[10:20] + ["t00"]}
        conv = {name: self.d.cli_json("conversation", "create", "group", "--title", name, *m)["id"]
                for name, m in members.items()}
        url = "http://127.0.0.1:%d" % self.d.port
        node = NodeClients()
        self.addCleanup(node.close)
        # socket i is user i % 20: 50 sockets per user, each user in one or two conversations
        node.send(cmd="open_many", prefix="s", count=self.sockets, url=url, opts={"transports": ["websocket"]},
                  tokens=[tok[h] for h in self.users])
        node.wait({"type": "all_connected", "prefix": "s"}, "%d Socket.IO clients to connect" % self.sockets,
                  timeout=4 * WAIT)
        refused = [r for r in node.reports if r.get("type") in ("connect_error", "disconnect")]
        self.assertEqual(refused, [])

        def history(c):
            r = self.d.cli("conversation", "export", str(c))
            self.assertEqual(r.returncode, 0, r.stderr)
            return [json.loads(l) for l in r.stdout.splitlines()]
        before = {name: len(history(c)) for name, c in conv.items()}

        async def go():
            plain = {h: await Client.connect("ws://127.0.0.1:%d/v1/ws" % self.d.port, tok[h]) for h in self.users}
            # Two plain senders per conversation and one Socket.IO client (t00, in A and C), all at once.
            futures = []
            for name, m in members.items():
                for h in m[1:3]:
                    futures += [await plain[h].send("message.send", {"conversation": conv[name],
                                                                     "text": "%s from %s #%d" % (name, h, i)})
                                for i in range(10)]
            tags = [node.emit("s0", "message.send", {"conversation": conv[name], "text": "%s from s0 #%d" % (name, i)})
                    for i in range(10) for name in ("A", "C")]
            answers = [await asyncio.wait_for(f, WAIT) for f in futures]
            answers += [(await asyncio.to_thread(node.ack, "s0", t))[0] for t in tags]
            self.assertEqual({a["event"] for a in answers}, {"reply"})

            expected = {name: [(m["seq"], m["text"]) for m in history(c)[before[name]:]] for name, c in conv.items()}
            self.assertEqual({n: len(e) for n, e in expected.items()}, {"A": 30, "B": 20, "C": 30})
            by_id = {c: name for name, c in conv.items()}
            want = {h: [n for n in ("A", "B", "C") if h in members[n]] for h in self.users}

            for h, c in plain.items():
                total = sum(len(expected[n]) for n in want[h])
                got = [await c.push("message") for _ in range(total)]
                for n in want[h]:
                    self.assertEqual([(m["seq"], m["text"]) for m in got if m["conversation"] == conv[n]], expected[n],
                                     "plain WebSocket client of %s, conversation %s" % (h, n))
                await c.close()

            def counts():
                mark = node.mark()
                node.send(cmd="summary", prefix="s", counts=True)
                return node.wait({"type": "summary"}, "a summary", mark)["sockets"]
            total = {"s%d" % i: sum(len(expected[n]) for n in want[self.users[i % 20]]) for i in range(self.sockets)}
            await asyncio.to_thread(wait_until, lambda: counts() == total, "every Socket.IO client's messages",
                                    4 * WAIT, lambda: "; short: %r" % {k: (v, total[k]) for k, v in counts().items()
                                                                         if v != total[k]})
            mark = node.mark()
            node.send(cmd="summary", prefix="s")
            summary = node.wait({"type": "summary"}, "the summary", mark)["sockets"]
            for i in range(self.sockets):
                h = self.users[i % 20]
                got = summary["s%d" % i]
                for n in want[h]:
                    self.assertEqual([(seq, text) for c, seq, text in got if c == conv[n]], expected[n],
                                     "Socket.IO client s%d of %s, conversation %s" % (i, h, n))
                self.assertEqual({by_id[c] for c, _, _ in got}, set(want[h]))
        asyncio.run(asyncio.wait_for(go(), 8 * WAIT))
        self.assertEqual([r for r in node.reports if r.get("type") in ("connect_error", "disconnect", "error")], [])


def frames(data):
    """Splits unmasked server WebSocket frames: returns ([(opcode, payload)], bytes left over)."""
    out, i = [], 0
    while i + 2 <= len(data):
        opcode, length, j = data[i] & 0x0F, data[i + 1] & 0x7F, i + 2
        if length == 126:
            length, j = int.from_bytes(data[j:j + 2], "big"), j + 2
        elif length == 127:
            length, j = int.from_bytes(data[j:j + 8], "big"), j + 8
        if j + length > len(data):
            break
        out.append((opcode, data[j:j + length]))
        i = j + length
    return out, data[i:]


def text_frame(payload):
    """A masked client text frame (zero key: the payload reads as it is)."""
    payload = payload.encode()
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    return head + b"\0\0\0\0" + payload


class SlowConsumer(SocketIOTest):
    config = CONFIG + """send_queue_frames = 16
max_frame_bytes = 131072

[chat]
max_text_bytes = 65536
"""

    def setUp(self):
        super().setUp()
        self.add_user("fay")
        self.tok["fay"] = self.token("fay")
        self.group = self.d.cli_json("conversation", "create", "group", "--title", "Slow", "alice", "bob", "gina",
                                     "fay")["id"]

    def raw_socketio(self, token):
        """An Engine.IO WebSocket with a small receive window, joined to "/": then never read."""
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # set before connecting
        raw.settimeout(WAIT)
        raw.connect(("127.0.0.1", self.d.port))
        raw.sendall(("GET /socket.io/?EIO=4&transport=websocket&access_token=%s HTTP/1.1\r\nHost: x\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n" % token).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += raw.recv(1)
        self.assertIn(b" 101 ", head.split(b"\r\n")[0])
        data, got = b"", []
        while not any(p.startswith(b"0{") for _, p in got):  # the Engine.IO open packet
            data += raw.recv(1)
            got, _ = frames(data)
        raw.sendall(text_frame("40"))                       # Socket.IO CONNECT to "/"
        while not any(p.startswith(b"40{") for _, p in got):
            data += raw.recv(1)
            got, _ = frames(data)
        return raw, data

    def test_a_socketio_client_that_stops_reading_is_dropped_and_others_keep_receiving(self):
        raw, data = self.raw_socketio(self.tok["fay"])
        # fay's connection by her user name, or by her address (a session not yet bound to a user)
        too_slow = r"net\.ws_too_slow user=(fay|127\.0\.0\.1:%d) " % raw.getsockname()[1]
        mark = self.d.log_mark()
        node = self.node()
        self.assertEqual(node.open("b", self.url, auth={"token": self.tok["bob"]}, transports=["websocket"])["type"],
                         "connect")
        count, text = 200, "x" * 30000

        # Once dropped, fay reads at last (before the daemon gives up waiting for the close handshake,
        # however long the others take): what fitted in the buffers, then the end.
        drained = []

        def drain():
            try:
                self.d.wait_for(too_slow, start=mark, timeout=4 * WAIT)
                chunks = [data]
                while True:
                    chunk = raw.recv(1 << 20)
                    if not chunk:
                        break
                    chunks.append(chunk)
                drained.append(b"".join(chunks))
            except Exception as e:  # reported by the assertion below
                drained.append(e)
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()

        async def go():
            alice, gina = await Client.connect(self.ws_url, self.tok["alice"]), await Client.connect(self.ws_url, self.tok["gina"])
            for i in range(count):
                await alice.call("message.send", {"conversation": self.group, "text": "%d %s" % (i, text)})
            got = []
            while len(got) < count:
                m = await gina.push("message", lambda m: m["conversation"] == self.group)
                got.append(int(m["text"].split()[0]))
            self.assertEqual(got, list(range(count)))
            await alice.close()
            await gina.close()
        asyncio.run(asyncio.wait_for(go(), 4 * WAIT))
        wait_until(lambda: len(node.pushes("b")) >= count, "bob's Socket.IO client to get every message",
                   describe=node.describe)
        self.assertEqual([int(m["text"].split()[0]) for m in node.pushes("b")], list(range(count)))

        reader.join(timeout=4 * WAIT)
        raw.close()
        self.assertEqual(len(drained), 1, "fay's connection did not end")
        if isinstance(drained[0], Exception):
            raise drained[0]
        got, rest = frames(drained[0])
        self.assertLess(len([p for _, p in got if p.startswith(b'42["message"')]), count)  # she missed some
        closes = [p for opcode, p in got if opcode == 8]
        self.assertEqual([int.from_bytes(p[:2], "big") for p in closes], [4001],
                         "the end of fay's stream: %r" % ([(o, p[:20]) for o, p in got[-3:]] + [rest[:20]],))
        self.d.wait_for(r"net\.sio_disconnected user=fay ", start=mark)
        self.assertEqual([r for r in node.reports if r.get("type") == "disconnect"], [])


class Page:
    """A folder served over HTTP on loopback holding examples/socketio.html and the node_modules
    installed from examples/package-lock.json (a link), as `cd examples && npm ci` would have it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tourbus-page-")
        shutil.copy(EXAMPLE, self.dir)
        os.symlink(npm.node_modules(EXAMPLE.parent) / "node_modules", os.path.join(self.dir, "node_modules"))

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=self.dir))
        self.origin = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def file_url(self):
        return pathlib.Path(self.dir, EXAMPLE.name).as_uri()

    def http_url(self):
        return self.origin + "/" + EXAMPLE.name

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)


PAGE_STATE = """({
    status: document.getElementById("status").textContent,
    convs: [...document.querySelectorAll("#conv option")].map((o) => o.textContent),
    messages: [...document.querySelectorAll("#messages .msg")].map((li) => ({
        sender: li.querySelector(".meta").textContent,
        text: li.querySelector(".text").textContent,
        mine: li.classList.contains("mine"),
    })),
    input: document.getElementById("text").value,
    tokenField: document.getElementById("token").value,
    href: location.href,
    markup: document.querySelectorAll("#messages img, #messages script, #messages *[onerror]").length,
    documentTitle: document.title,
    transport: (typeof socket !== "undefined" && socket && socket.io.engine) ? socket.io.engine.transport.name : null,
})"""


class ExamplePage(SocketIOTest):
    def setUp(self):
        self.page = Page()
        self.addCleanup(self.page.close)
        # The page's origin may poll across origins (CORS); from a file it uses WebSocket alone.
        self.config = CONFIG + '\n[socketio]\ncors_origins = "%s"\n' % self.page.origin
        super().setUp()
        self.browser = Browser()
        self.addCleanup(self.browser.close)

    def state(self):
        return self.browser.evaluate(PAGE_STATE)

    def describe(self):
        return self.browser.report(PAGE_STATE) + super().describe()

    def wait_page(self, check, what):
        def ready():
            state = self.state()
            return state if check(state) else None
        return wait_until(ready, what, describe=self.describe)

    def load(self, url):
        self.browser.call("Page.navigate", url=url)
        base = url.split("#")[0]
        wait_until(lambda: self.browser.evaluate("location.href.split('#')[0] === %s && document.readyState === 'complete'"
                                                 % json.dumps(base)), "socketio.html to load", describe=self.describe)

    def chat(self, transport):
        b = self.browser
        state = self.wait_page(lambda s: s["status"] == "connected as alice", "the page to connect as alice")
        self.assertEqual(state["documentTitle"], "tourbus Socket.IO chat")
        self.assertEqual(sorted(state["convs"]), ["Colosseum at dawn", "bob"])
        b.evaluate("(() => { const s = document.getElementById('conv'); s.value = %s; s.dispatchEvent(new Event('change')); })()"
                   % json.dumps(str(self.direct)))
        self.wait_page(lambda s: s["transport"] == transport, "the %s transport" % transport)

        self.send_as("bob", self.direct, "Hello from the terminal")
        self.wait_page(lambda s: [m for m in s["messages"] if m["text"] == "Hello from the terminal" and m["sender"] == "bob"],
                       "bob's message on the page")
        b.type("#text", "Hello over Socket.IO", enter=True)
        wait_until(lambda: [m for m in self.history(self.direct) if m["text"] == "Hello over Socket.IO"
                            and m["sender"] == "alice"], "alice's message to be stored", describe=self.describe)
        state = self.wait_page(lambda s: [m for m in s["messages"] if m["text"] == "Hello over Socket.IO" and m["mine"]],
                               "alice's message on the page")
        self.assertEqual(state["input"], "")

        evil = "<img src=x onerror=\"document.title='pwned'\">"
        self.send_as("bob", self.direct, evil)
        state = self.wait_page(lambda s: [m for m in s["messages"] if m["text"] == evil], "the markup shown as text")
        self.assertEqual(state["markup"], 0)
        self.assertEqual(state["documentTitle"], "tourbus Socket.IO chat")
        # The page shows exactly what is stored, in order, each message once.
        stored = [(m["sender"], m["text"]) for m in self.history(self.direct)]
        self.wait_page(lambda s: [(m["sender"], m["text"]) for m in s["messages"]] == stored,
                       "the page to show exactly the stored messages")

    def test_served_over_http_polls_then_upgrades(self):
        self.load(self.page.http_url() + "#token=%s&server=%s" % (self.tok["alice"], self.url))
        self.wait_page(lambda s: "#" not in s["href"], "the token to leave the address bar")
        self.chat("websocket")

    def test_opened_from_a_file_with_the_token_typed_in(self):
        self.load(self.page.file_url())
        self.assertEqual(self.state()["status"], "disconnected")
        b = self.browser
        b.type("#server", self.url)
        b.type("#token", "tb_wrong")
        b.click("#connect")
        self.wait_page(lambda s: s["status"].startswith("refused (unauthenticated)"), "the refusal of a bad token")
        b.type("#token", self.tok["alice"])
        b.click("#connect")
        self.chat("websocket")


if __name__ == "__main__":
    unittest.main()
