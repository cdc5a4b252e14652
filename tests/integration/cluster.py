"""What the scenarios of several nodes share (docs/scaling.md, "Several nodes" and "Pushes across
nodes"): a PostgreSQL server for the nodes' one store, free loopback ports, a real nats-server to
link them (cluster.nats), the nodes started on that store and linked through it, their users and
tokens, and a person's WebSocket client of one conversation on one node (Member) with the helpers
the traffic of the cross-node scenarios runs on (have, until, rest); last, what their test cases
share: a push waited for (pushed), the leader the nodes agree on, their logs, the clients a
scenario opens and the errors they are answered (Scenario)."""

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import harness
from harness import WAIT, Daemon, read_lines, wait_until
from wsclient import Client, Reply

NATS_SERVER = os.environ.get("NATS_SERVER", "/usr/sbin/nats-server")
SUBJECT = "tourbus.events"  # where the nodes publish their pushes (cluster.nats)


def server(test):
    """Points the harness at a PostgreSQL server: the fixture's, or a throwaway one of the test's,
    stopped and forgotten (TOURBUS_TEST_POSTGRES and its password taken out of the environment
    again) at the test's cleanup, so that each test of a file starts one of its own."""
    if harness.postgres_base():
        return
    cluster = tempfile.mkdtemp(prefix="tourbus-pg-")
    os.chmod(cluster, 0o755)  # the postgres user must reach it when we are root
    test.addCleanup(shutil.rmtree, cluster, True)
    pg = harness.postgres().Postgres().start(os.path.join(cluster, "pg"))
    test.addCleanup(pg.stop)
    os.environ["TOURBUS_TEST_POSTGRES"] = pg.conninfo()
    os.environ["TOURBUS_TEST_POSTGRES_PASSWORD"] = pg.password
    # Gone with the server (these cleanups run before pg.stop): the next test starts one of its own.
    test.addCleanup(os.environ.pop, "TOURBUS_TEST_POSTGRES_PASSWORD", None)
    test.addCleanup(os.environ.pop, "TOURBUS_TEST_POSTGRES", None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """A real nats-server on 127.0.0.1 at a free port, its log read as it is written, with its
    monitoring endpoint on another loopback port (who is connected, subscribed to what). stop()
    kills it; start() again (or restart()) brings it back on the same ports, so the nodes'
    cluster.nats URL stays right."""

    def __init__(self):
        if not os.access(NATS_SERVER, os.X_OK):
            raise RuntimeError("no %s: install Debian's nats-server (scripts/setup.sh)" % NATS_SERVER)
        self.dir = tempfile.mkdtemp(prefix="tourbus-nats-")
        self.port, self.monitor = free_port(), free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.proc = None
        self.reader = None
        self.lines = []  # every run's log, in order
        self.cond = threading.Condition()

    def start(self):
        mark = len(self.lines)
        self.proc = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor),
                                      "-P", os.path.join(self.dir, "nats-server.pid")],
                                     cwd=self.dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=read_lines, args=(self.proc.stderr, self.lines, self.cond),
                                       daemon=True)
        self.reader.start()
        deadline = time.monotonic() + WAIT
        with self.cond:
            while not any("Server is ready" in line for line in self.lines[mark:]):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError("nats-server on port %d not ready (exit %s); log:\n%s"
                                         % (self.port, self.proc.poll(), "\n".join(self.lines[mark:])))
                self.cond.wait(min(left, 0.5))
        return self

    def subscribers(self, subject):
        """The names of the client connections subscribed to `subject` (the monitoring endpoint's
        /connz), or None while it does not answer."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/connz?subs=1&limit=1024" % self.monitor, timeout=2) as r:
                connz = json.load(r)
        except OSError:
            return None
        return sorted(c.get("name", "") for c in connz.get("connections", []) if subject in c.get("subscriptions_list", []))

    def stop(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
        if self.proc:
            self.proc.wait(timeout=WAIT)
            self.reader.join(timeout=WAIT)
            self.proc.stderr.close()

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_nats(test):
    """A NatsServer, started, stopped and removed at the test's cleanup: started before the nodes,
    it is cleaned up after them."""
    nats = NatsServer()
    test.addCleanup(nats.cleanup)
    return nats.start()


def add_users(test, node, handles, guides=()):
    """Adds a user of each handle through `node` (a guide if it is in `guides`, else a tourist),
    then issues each a token; returns {handle: token}."""
    for handle in handles:
        node.cli_json("user", "add", handle, "--role", "guide" if handle in guides else "tourist")
    tokens = {}
    for handle in handles:
        r = node.cli("token", "issue", handle)
        test.assertEqual(r.returncode, 0, r.stderr)
        tokens[handle] = r.stdout.strip()
    return tokens


def start_nodes(test, names, config, nats):
    """Starts a node of each name on one PostgreSQL database, linked by `nats`, and returns them by
    name once each is ready, has logged cluster.nats_connected and nats-server has it subscribed
    to SUBJECT. The first node alone makes the database's tables (066_cluster starts nodes on an
    empty database at once), then the others start together. Their cleanups are the test's."""
    cluster = {"nats": nats.url}
    first = Daemon(config=config, node=names[0], cluster=cluster)
    test.addCleanup(first.cleanup)  # after the others': it drops the database they use
    nodes = {names[0]: first}
    for name in names[1:]:
        nodes[name] = Daemon(config=config, store_of=first, node=name, cluster=cluster)
        test.addCleanup(nodes[name].cleanup)
    first.start()
    others = [nodes[name] for name in names[1:]]
    for d in others:
        d.start(wait_ready=False)
    for d in others:
        line = d.wait_for(r"daemon\.ready")
        d.port = int(re.search(r"listen=127\.0\.0\.1:(\d+)", line).group(1))
    for d in nodes.values():
        d.wait_for(r"cluster\.nats_connected\b")
    wait_linked(nats, len(nodes))
    return nodes


def wait_linked(nats, count):
    """nats-server has `count` connections subscribed to SUBJECT (one for each node)."""
    last = [None]

    def check():
        last[0] = nats.subscribers(SUBJECT)
        return last[0] is not None and len(last[0]) == count

    wait_until(check, "the %d nodes subscribed to %s on nats-server" % (count, SUBJECT),
               describe=lambda: "; subscribed: %r" % (last[0],))


class Member:
    """A person's one WebSocket connection (a wsclient.Client) to one node, and the `message` pushes
    of the conversation `conv` it received, in arrival order: `got`, the Message objects. Other
    pushes go to other() (dropped here; a subclass keeps those it judges, e.g. presence). What the
    cross-node scenarios rely on: seqs() in arrival order, duplicates included; wait_for() and
    wait_seqs() fail at once, naming the member, when the connection is closed; round_trip() has
    read every push the node queued before it; sync() is the protocol's."""

    def __init__(self, handle, node, client, conv):
        self.handle, self.node, self.client, self.conv = handle, node, client, conv
        self.got = []  # message pushes: the Message objects, in arrival order

    def __repr__(self):
        return "%s on %s" % (self.handle, self.node)

    def take(self):
        """Moves the pushes the client has read so far into `got` (and other())."""
        frames, self.client.pushes[:] = list(self.client.pushes), []
        for f in frames:
            if f["event"] == "message" and f["data"]["conversation"] == self.conv:
                self.got.append(f["data"])
            else:
                self.other(f)

    def other(self, frame):
        """A push other than the conversation's `message`: dropped."""

    def pushed(self):
        """What a failure message says of the pushes received."""
        return "pushed seqs %s" % [m["seq"] for m in self.got]

    def seqs(self):
        """The seqs of the message pushes received so far, in arrival order."""
        self.take()
        return [m["seq"] for m in self.got]

    async def wait_for(self, check, what, timeout=WAIT):
        """Waits until check() holds (it reads `got`, or what a subclass keeps), taking pushes as
        they are read; fails when the connection closes first, or at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            self.client.arrived.clear()
            self.take()
            if check():
                return
            if self.client.closed.done():
                raise AssertionError("%r: connection closed %s while waiting for %s"
                                     % (self, self.client.closed.result(), what))
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%r: timed out waiting for %s; %s" % (self, what, self.pushed()))
            try:
                await asyncio.wait_for(self.client.arrived.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def wait_seqs(self, seqs, what, timeout=WAIT):
        """Waits until a message push of each of `seqs` has been received."""
        seqs = set(seqs)
        await self.wait_for(lambda: seqs <= {m["seq"] for m in self.got}, what, timeout)

    async def round_trip(self):
        """Every push the node queued for this client before now has been read (and taken)."""
        await self.client.call("me")
        self.take()

    async def sync(self, have):
        """The protocol's sync (docs/protocol.md, "Reconnecting and sync"), on the open connection:
        conversation.list, then message.history pages after `have` until `more` is false. Returns
        (last_seq, the messages of the pages, how many pages)."""
        listed = await self.client.call("conversation.list", {"limit": 1000})
        last_seq = next(c["last_seq"] for c in listed["conversations"] if c["id"] == self.conv)
        pages, after, count = [], have, 0
        while last_seq > after:
            page = await self.client.call("message.history", {"conversation": self.conv, "after": after})
            pages += page["messages"]
            count += 1
            if not page["more"] or not page["messages"]:
                break
            after = page["messages"][-1]["seq"]
        return last_seq, pages, count


def have(seqs):
    """The highest seq such that every seq from 1 up to it is in `seqs`: where a client's sync
    starts (message.history after it)."""
    held, n = set(seqs), 0
    while n + 1 in held:
        n += 1
    return n


async def until(progress, tasks, check, what, timeout=WAIT):
    """Waits, while the sender `tasks` run, until check() holds, judging it again each time one of
    them sets the asyncio.Event `progress` (after each answer). A sender that has ended (they run
    until told to stop) fails the wait at once, with its own exception when it raised one; so does
    the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        progress.clear()
        for t in tasks:
            if t.done():
                t.result()  # a sender's failure, as it is
                raise AssertionError("a sender stopped")
        if check():
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out waiting for %s" % what)
        try:
            await asyncio.wait_for(progress.wait(), left)
        except asyncio.TimeoutError:
            pass


async def rest(stop, seconds):
    """A sender's pause between two messages (the traffic's rate): `seconds`, or less once the
    asyncio.Event `stop` is set."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass


async def pushed(client, event, what, where=lambda data: True, timeout=WAIT):
    """The earliest push `event` (matching `where`) the client got, waiting for it; fails naming
    `what` and the pushes it holds at the deadline."""
    try:
        return await asyncio.wait_for(client.push(event, where), timeout)
    except asyncio.TimeoutError:
        raise AssertionError("timed out waiting for %s (%s); pushes held: %s"
                             % (what, event, [(f["event"], f["data"]) for f in client.pushes])) from None


class Scenario:
    """What a cluster scenario's test case (class X(Scenario, unittest.TestCase)) does with its
    nodes, self.nodes ({name: Daemon}): the leader they agree on, their log marks, a line one of
    them alone logged; and with WebSocket clients: connect() (on self.tokens, {handle: token}),
    run_clients(), refused(), led() (on the test case's PROBE)."""

    PROBE = None  # led(): a request (event, data) a follower answers unavailable until its node knows the leader

    def leading(self, up):
        """The leader, once every node in `up` says whether it leads, exactly one does, and each
        names that one alone as the leader in its list of nodes (status)."""
        last = {}

        def check():
            last.update({name: self.nodes[name].cli_json("status") for name in up})
            leaders = [name for name in up if last[name]["role"] == "leader"]
            if len(leaders) != 1:
                return None
            listed = [[n["name"] for n in last[name]["nodes"] if n["role"] == "leader"] for name in up]
            return leaders[0] if all(names == leaders for names in listed) else None

        return wait_until(check, "one leader among %s, named by each" % (list(up),),
                          describe=lambda: "; status: " + json.dumps({n: (s["role"], s["nodes"]) for n, s in last.items()}))

    def marks(self, names=None):
        """{name: its log mark} of the nodes `names`, by default of every node."""
        return {name: self.nodes[name].log_mark() for name in (self.nodes if names is None else names)}

    def logged_by(self, name, pattern, marks):
        """Node `name` logs a line matching `pattern` after its mark (waiting for it), and no other
        node of `marks` ({name: log mark}) has; returns the line."""
        line = self.nodes[name].wait_for(pattern, marks[name])
        rx = re.compile(pattern)
        others = [n for n, mark in marks.items() if n != name and any(rx.search(x) for x in self.nodes[n].lines[mark:])]
        self.assertEqual(others, [], "%r logged by %s too" % (pattern, others))
        return line

    def run_clients(self, scenario, timeout=4 * WAIT, more=()):
        """Runs the coroutine function `scenario` within `timeout`, every client it opened (connect)
        closed after, then each of `more` (their close() awaited); prints how long it took."""
        async def go():
            self.clients = []
            try:
                await scenario()
            finally:
                for c in self.clients:
                    await c.close()
                for m in more:
                    await m.close()

        started = time.monotonic()
        asyncio.run(asyncio.wait_for(go(), timeout))
        script = os.path.splitext(os.path.basename(sys.modules[type(self).__module__].__file__))[0]
        print("\n%s %s: %.1f s" % (script, self._testMethodName, time.monotonic() - started))

    async def connect(self, handle, node):
        """A WebSocket client of `handle` on node `node`, closed by run_clients."""
        client = await Client.connect("ws://127.0.0.1:%d/v1/ws" % self.nodes[node].port, self.tokens[handle])
        self.clients.append(client)
        return client

    async def refused(self, client, event, data, codes):
        """The request is answered with an error, its code `codes` or one of them (a tuple);
        returns the error (Reply)."""
        with self.assertRaises(Reply, msg="%s %r" % (event, data)) as cm:
            await client.call(event, data)
        self.assertIn(cm.exception.code, codes if isinstance(codes, tuple) else (codes,),
                      "%s %r: %s" % (event, data, cm.exception))
        return cm.exception

    async def led(self, client, what):
        """Once the node of `client` knows the leader: until then a follower answers PROBE
        `unavailable` (docs/scaling.md); from then on it gets the leader's not_found."""
        event, data = self.PROBE
        deadline = time.monotonic() + WAIT
        while True:
            with self.assertRaises(Reply) as cm:
                await client.call(event, data)
            if cm.exception.code != "unavailable":
                self.assertEqual(cm.exception.code, "not_found", str(cm.exception))
                return
            self.assertLess(time.monotonic(), deadline, "%s still answers %s" % (what, cm.exception))
            await asyncio.sleep(0.05)  # the interval between two polls
