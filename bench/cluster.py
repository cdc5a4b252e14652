#!/usr/bin/python3
"""The cluster scenario: three tourbusd nodes (tb1, tb2, tb3) on one PostgreSQL store, linked by a
real nats-server (cluster.nats, docs/scaling.md "Several nodes" and "Pushes across nodes"), against
one node on the same store without NATS. Measured in one run, with real WebSocket clients (Python
`websockets`, one asyncio loop timing each frame as it reads it, monotonic clock):

1. Delivery latency, 1:1: pairs in direct conversations, every sender on tb1; half the receivers
   on tb1 too (same node), half on tb2 (cross-node), messages paced at a moderate rate, the two
   halves interleaved in the same seconds. Time from message.send to the receiver's `message`
   push, and from the sender's reply (sent after the commit) to the push: p50/p90/p99, cross ÷
   same; the peer is the same pairs on one node without NATS.
2. Fan-out: one group conversation whose members are spread over the three nodes, members on
   every node sending in turn at a steady rate: deliveries/s, latency (receivers on the sender's
   node and on the others), the nodes' CPU per delivery; against the same members all on tb1 (the
   cluster running) and all on one node without NATS.
3. Connections per node: idle WebSocket sessions spread over the three nodes, each node's VmRSS
   before and after, per connection; against the same number on one node without NATS.

Every tourbusd is pinned to CPU 0 (the three nodes share it, as the one node has it alone), the
clients to CPU 1; PostgreSQL (tests/postgres.py: a throwaway cluster, fsync on) and nats-server
are not pinned. Its section of BENCHMARKS.md is render(). See bench/README.md.

Run by bench/bench.py (`bench/run --only cluster`), or by itself without building anything:
  /usr/bin/python3 bench/cluster.py [--quick] [--markdown FILE]
which prints one JSON line (and, with --markdown, writes the section).
"""

import argparse
import asyncio
import concurrent.futures
import datetime
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
INTEGRATION = os.path.join(ROOT, "tests", "integration")

import websockets  # noqa: E402  (Debian's python3-websockets, as bench/translate.py)

NAMES = ("tb1", "tb2", "tb3")
SUBJECT = "tourbus.events"  # where the nodes publish their pushes
NATS_SERVER = os.environ.get("NATS_SERVER", "/usr/sbin/nats-server")
WAIT = 60  # seconds any step may take before the scenario gives up
PREFIX = "bench "  # the measured messages' text: PREFIX + their number
HELD_MS = 90  # a push later than this was most likely held by a node's sequencer (a seq gap: 100 ms)
WARNING = re.compile(r" (warning|error|critical) \[")  # a log line's level (spdlog: "TIME LEVEL [LOGGER] ...")

SIZES = {
    # pairs: direct conversations (half same-node, half cross-node); pair_messages at pair_rate/s;
    # group: members of the fan-out group (a third per node); group_rate messages/s for group_seconds;
    # idle: connections of the connections step (spread over the three nodes)
    "default": dict(pairs=100, pair_messages=3000, pair_rate=200, group=48, group_rate=100, group_seconds=15.0,
                    idle=1000),
    "quick": dict(pairs=40, pair_messages=600, pair_rate=200, group=24, group_rate=50, group_seconds=4.0, idle=300),
}


def _raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _load(name, path):
    """A module by its path: the tests' cluster.py and postgres.py (bench/cluster.py has the first's name)."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _stat(pid):
    """(utime, stime) of a process in seconds, or (0, 0) when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(v[11]) / tick, int(v[12]) / tick


def _cpu(pids):
    return sum(sum(_stat(p)) for p in pids)


def _user(pids):
    return sum(_stat(p)[0] for p in pids)


def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _all_user_jiffies():
    with open("/proc/stat") as f:
        v = f.readline().split()  # "cpu" user nice ...
    return int(v[1]) + int(v[2])


def _pct(xs, p):
    """The p-th percentile by nearest rank, of a sorted list."""
    if not xs:
        return None
    return xs[min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))]


def _summary(lat):
    """Latencies in seconds -> p50/p90/p99/max in ms, and how many were held-like (> HELD_MS)."""
    xs = sorted(x * 1000 for x in lat)
    return dict(n=len(xs), p50_ms=_pct(xs, 50), p90_ms=_pct(xs, 90), p99_ms=_pct(xs, 99), p999_ms=_pct(xs, 99.9),
                max_ms=xs[-1] if xs else None, over_held=sum(1 for x in xs if x > HELD_MS))


# --- the processes -------------------------------------------------------------------------------

class Node:
    """One tourbusd pinned to a CPU, its log (stderr) read by a thread that keeps the cluster.*,
    store.* warning and error lines."""

    def __init__(self, binary, config, name, cpu, env):
        self.name = name
        self.proc = subprocess.Popen(["taskset", "-c", cpu, binary, "--config", config], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_raise_nofile)
        self.lines = []
        self.cond = threading.Condition()
        self.port = None
        seen = []
        for line in self.proc.stderr:
            seen.append(line)
            m = re.search(r"daemon\.ready .*listen=\S*:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
            if "start_failed" in line:
                break
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("tourbusd %s did not start: %s" % (name, "".join(seen[-5:])))
        self.lines += [l.rstrip("\n") for l in seen if "cluster." in l]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        kept = False  # whether the last line was kept: a multi-line message (PostgreSQL's DETAIL) goes with it
        for line in self.proc.stderr:
            more = kept and not line[:1].isdigit()
            kept = more or "cluster." in line or WARNING.search(line) is not None
            if kept:
                with self.cond:
                    if more:
                        self.lines[-1] += " | " + line.strip()
                    else:
                        self.lines.append(line.rstrip("\n"))
                    self.cond.notify_all()

    def wait_for(self, pattern, timeout=WAIT):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while not any(rx.search(l) for l in self.lines):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("%s: no %r in its log after %d s" % (self.name, pattern, timeout))
                self.cond.wait(left)

    def mark(self):
        with self.cond:
            return len(self.lines)

    def warnings(self, since=0):
        with self.cond:
            return [l for l in self.lines[since:] if WARNING.search(l)]

    def rss(self):
        return _rss_kib(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def write_config(work, name, state, conninfo, nats_url):
    """bench.py's config (a crowd on loopback: connection and rate limits up, abuse limits off) and
    the [cluster] table: the shared store, this node's name, and NATS unless nats_url is None."""
    path = os.path.join(work, "%s%s.toml" % (name, "" if nats_url else "-alone"))
    with open(path, "w") as f:
        f.write('state_dir = "%s"\n[server]\nlisten = "127.0.0.1:0"\nmax_connections = 20000\n'
                'idle_timeout_seconds = 600\nmax_connections_per_ip = 0\nrequests_per_second_per_ip = 0\n'
                'requests_per_second_per_token = 0\nmax_websockets_per_token = 0\n'
                '[websocket]\nevents_per_second = 100000\nevent_burst = 100000\nidle_timeout_seconds = 600\n'
                'send_queue_frames = 100000\n[chat]\nmax_group_members = 1000000\n'
                '[cluster]\npostgres = %s\nnode = "%s"\n' % (state, json.dumps(conninfo), name))
        if nats_url:
            f.write("nats = %s\n" % json.dumps(nats_url))
    return path


def call(sock, method, path, body=None, conn=None):
    from bench import UnixHTTP  # HTTP over the control socket, as the other scenarios speak it
    c = conn or UnixHTTP(sock)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"} if body is not None else {})
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    if r.status >= 300:
        raise RuntimeError("%s %s: %d %s" % (method, path, r.status, data[:300]))
    return data


def metrics(sock):
    """The node's store counters from /metrics."""
    text = call(sock, "GET", "/metrics").decode()
    out = {}
    for key in ("tourbus_store_commits_total", "tourbus_store_writes_total", "tourbus_store_retried_batches_total"):
        m = re.search(r"^%s (\S+)$" % key, text, re.M)
        out[key] = float(m.group(1)) if m else 0.0
    return out


def setup(sock, s, log):
    """Users with tokens over the control socket, then the conversations: pairs, the group; the
    connections step's users share none. Returns (tokens by handle, pairs [(conv, a, b)], group
    (conv, handles), idle handles)."""
    from bench import UnixHTTP
    t0 = time.monotonic()
    pair_users = [("p%04da" % i, "p%04db" % i) for i in range(s["pairs"])]
    group = ["g%03d" % i for i in range(s["group"])]
    idle = ["i%05d" % i for i in range(s["idle"])]
    handles = [h for p in pair_users for h in p] + group + idle
    local = threading.local()

    def conn():
        if not hasattr(local, "conn"):
            local.conn = UnixHTTP(sock)
        return local.conn

    def make(h):
        call(sock, "POST", "/v1/users", {"handle": h, "display_name": h, "role": "tourist"}, conn())
        return json.loads(call(sock, "POST", "/v1/tokens", {"user": h, "label": "bench", "ttl_days": 0}, conn()))["token"]

    def direct(p):
        c = json.loads(call(sock, "POST", "/v1/conversations", {"kind": "direct", "members": list(p)}, conn()))
        return c["id"], p[0], p[1]

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        tokens = dict(zip(handles, ex.map(make, handles)))
        pairs = list(ex.map(direct, pair_users))
    g = json.loads(call(sock, "POST", "/v1/conversations", {"kind": "group", "title": "bench", "members": group}))
    log("cluster: %d users with tokens, %d pairs and a group of %d in %.1f s" % (
        len(handles), len(pairs), len(group), time.monotonic() - t0))
    return tokens, pairs, (g["id"], group), idle


# --- the clients ---------------------------------------------------------------------------------

class Tap:
    """Where the clients' frames go: the recording of the step under way (None between steps)."""

    def __init__(self):
        self.rec = None


class Recording:
    """One step's frames: the measured messages sent, their replies, and their `message` pushes
    (to the clients in `only`, when given)."""

    def __init__(self, only=None):
        self.only = only  # ids of the clients whose pushes count, or None: every client's
        self.sent = {}  # number -> (send time, sender's node)
        self.acked = {}  # number -> reply time
        self.got = []  # (number, receiving client, arrival time)
        self.errors = []
        self.changed = asyncio.Event()

    def message(self, client, t, data):
        text = data.get("text") or ""
        if text.startswith(PREFIX) and (self.only is None or id(client) in self.only):
            self.got.append((int(text[len(PREFIX):]), client, t))
            self.changed.set()

    def reply(self, client, t, frame):
        if frame.get("event") == "error":
            self.errors.append(frame.get("data"))
            self.changed.set()
            return
        text = (frame.get("data") or {}).get("text") or ""
        if text.startswith(PREFIX):
            self.acked[int(text[len(PREFIX):])] = t


class Client:
    """One WebSocket session on a node (cubic and TCP_NODELAY on its socket, as bench/loadgen's)."""

    def __init__(self, ws, node, tap):
        self.ws, self.node, self.tap = ws, node, tap
        self.refs = 0
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, port, token, node, tap):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
        except (OSError, AttributeError):
            pass
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        ws = await websockets.connect("ws://127.0.0.1:%d/v1/ws?access_token=%s" % (port, token), sock=sock,
                                      compression=None, max_size=None, ping_interval=None, close_timeout=2,
                                      open_timeout=WAIT)
        return cls(ws, node, tap)

    async def _read(self):
        try:
            async for raw in self.ws:
                t = time.monotonic()
                rec = self.tap.rec
                if rec is None:
                    continue
                frame = json.loads(raw)
                if frame.get("ref") is not None:
                    rec.reply(self, t, frame)
                elif frame.get("event") == "message":
                    rec.message(self, t, frame["data"])
        except websockets.exceptions.ConnectionClosed:
            pass

    async def send(self, conversation, text):
        self.refs += 1
        await self.ws.send(json.dumps({"event": "message.send", "ref": self.refs,
                                       "data": {"conversation": conversation, "text": text}}))

    async def close(self):
        await self.ws.close()
        await self.reader


async def open_all(specs, tap, at_once=50):
    """Clients for [(port, token, node)], at most `at_once` connecting at a time, in order."""
    sem = asyncio.Semaphore(at_once)

    async def one(spec):
        async with sem:
            return await Client.open(spec[0], spec[1], spec[2], tap)

    return await asyncio.gather(*(one(x) for x in specs))


async def close_all(clients):
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def settle(seconds=0.5):
    await asyncio.sleep(seconds)


async def wait_deliveries(rec, expected, timeout=10.0):
    deadline = time.monotonic() + timeout
    while len(rec.got) < expected and not rec.errors:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        rec.changed.clear()
        try:
            await asyncio.wait_for(rec.changed.wait(), min(left, 0.5))
        except asyncio.TimeoutError:
            pass
    return not rec.errors


async def paced(rec, n, rate, pick):
    """Sends n messages at `rate` per second (the i-th at t0 + i/rate): pick(i) -> (client, conversation)."""
    t0 = time.monotonic()
    for i in range(n):
        due = t0 + i / rate
        d = due - time.monotonic()
        if d > 0:
            await asyncio.sleep(d)
        client, conv = pick(i)
        rec.sent[i] = (time.monotonic(), client.node)
        await client.send(conv, PREFIX + str(i))
    return time.monotonic() - t0


class Usage:
    """CPU of the nodes, PostgreSQL, nats-server and this process over a step, and other processes'
    user CPU on the machine meanwhile (in cores)."""

    def __init__(self, nodes, pg_pids, nats_pid):
        self.nodes, self.pg_pids, self.nats_pid = nodes, pg_pids, nats_pid
        self.t = time.monotonic()
        self.node0 = {n.name: _cpu([n.proc.pid]) for n in nodes}
        self.pg0 = _cpu(self.pg_pids())
        self.nats0 = _cpu([nats_pid]) if nats_pid else 0.0
        self.self0 = os.times()
        self.jiffies0 = _all_user_jiffies()
        self.ours0 = self._our_user()

    def _our_user(self):
        return (_user([n.proc.pid for n in self.nodes]) + _user(self.pg_pids()) +
                (_user([self.nats_pid]) if self.nats_pid else 0.0) + os.times().user)

    def end(self):
        wall = time.monotonic() - self.t
        node = {n.name: _cpu([n.proc.pid]) - self.node0[n.name] for n in self.nodes}
        me = os.times()
        others = max(0.0, (_all_user_jiffies() - self.jiffies0) / os.sysconf("SC_CLK_TCK") - (self._our_user() - self.ours0))
        return dict(seconds=wall, node_cpu=node, nodes_cpu=sum(node.values()), pg_cpu=_cpu(self.pg_pids()) - self.pg0,
                    nats_cpu=(_cpu([self.nats_pid]) - self.nats0) if self.nats_pid else 0.0,
                    client_cpu=(me.user + me.system) - (self.self0.user + self.self0.system),
                    others_cores=others / wall if wall > 0 else 0.0)


# --- the steps -----------------------------------------------------------------------------------

async def step_connections(nodes, idle, tokens, tap, layout):
    """`idle` sessions spread over the nodes (each to nodes[i % len]); each node's VmRSS before, with
    them open (after a settle: presence has reached the other nodes) and its share."""
    before = {n.name: n.rss() for n in nodes}
    t0 = time.monotonic()
    clients = await open_all([(nodes[i % len(nodes)].port, tokens[h], nodes[i % len(nodes)].name)
                              for i, h in enumerate(idle)], tap)
    opened = time.monotonic() - t0
    await settle(2.0)
    after = {n.name: n.rss() for n in nodes}
    per = {}
    for n in nodes:
        own = sum(1 for c in clients if c.node == n.name)
        delta = (after[n.name] - before[n.name]) * 1024
        per[n.name] = dict(connections=own, rss_before_kib=before[n.name], rss_after_kib=after[n.name],
                           bytes_per_connection=delta / own if own else None)
    total = sum((after[k] - before[k]) * 1024 for k in after)
    await close_all(clients)
    await settle(1.0)  # the nodes write last_seen of the users gone offline: within this step
    return dict(layout=layout, connections=len(clients), connects_per_second=len(clients) / opened, nodes=per,
                total_bytes_per_connection=total / len(clients))


async def step_pairs(pairs, tokens, where, s, tap, usage_of):
    """The 1:1 latency step. where(i) -> (sender's node, receiver's node) for pair i. Every pair
    gets one message first (not timed: a node's first push of a conversation reads the store), then
    the measured messages go round the pairs in turn."""
    clients = []
    specs = []
    for i, (conv, a, b) in enumerate(pairs):
        sn, rn = where(i)
        specs += [(sn.port, tokens[a], sn.name), (rn.port, tokens[b], rn.name)]
    clients = await open_all(specs, tap)
    senders, receivers = clients[0::2], clients[1::2]
    convs = [p[0] for p in pairs]
    try:
        warm = Recording()
        tap.rec = warm
        for i, c in enumerate(senders):
            await c.send(convs[i], "warm-up")
        await settle(1.0)
        rec = Recording(only={id(c) for c in receivers})
        tap.rec = rec
        usage = usage_of()
        n = s["pair_messages"]
        send_seconds = await paced(rec, n, s["pair_rate"], lambda i: (senders[i % len(senders)], convs[i % len(convs)]))
        complete = await wait_deliveries(rec, n)
        u = usage.end()
    finally:
        tap.rec = None
        await close_all(clients)
    receiver_of = {id(c): i for i, c in enumerate(receivers)}
    lat = split(rec, lambda client, num: receiver_of.get(id(client)) == num % len(pairs))
    acks = sorted(rec.acked[k] - rec.sent[k][0] for k in rec.acked)
    return dict(messages=n, rate=s["pair_rate"], send_seconds=send_seconds, ack=_summary(acks),
                missing=n - lat.pop("pushed"), complete=complete, errors=rec.errors[:5], usage=u, **lat)


def split(rec, counts=lambda client, num: True):
    """A step's pushes (those for which counts(client, number) holds), timed from the send and from
    the sender's reply (which comes after the commit: what follows it is the push's own way, on
    the node or through NATS), to receivers on the sender's node and on the others."""
    out = {k: [] for k in ("same", "cross", "same_after_ack", "cross_after_ack")}
    pushed = set()
    for num, client, t in rec.got:
        if not counts(client, num):
            continue
        pushed.add(num)
        where = "cross" if client.node != rec.sent[num][1] else "same"
        out[where].append(t - rec.sent[num][0])
        if num in rec.acked:
            out[where + "_after_ack"].append(t - rec.acked[num])
    res = {k: _summary(v) if v else None for k, v in out.items()}
    res["all"] = _summary(out["same"] + out["cross"])
    res["all_after_ack"] = _summary(out["same_after_ack"] + out["cross_after_ack"])
    res["pushed"] = len(pushed)
    return res


async def step_group(group, tokens, nodes, s, tap, usage_of):
    """The fan-out step: the group's members, member i on nodes[i % len(nodes)], send in turn (member
    i sends messages i, i + M, ...) at group_rate for group_seconds; every member's `message` push
    (the sender's own included) is a delivery."""
    conv, handles = group
    clients = await open_all([(nodes[i % len(nodes)].port, tokens[h], nodes[i % len(nodes)].name)
                              for i, h in enumerate(handles)], tap)
    m = len(clients)
    try:
        await settle(1.0)  # the presence pushes of the members coming online
        warm = Recording()
        tap.rec = warm
        for c in clients[:len(nodes)]:  # one message from each node, not timed
            await c.send(conv, "warm-up")
        await settle(1.0)
        before = {n.name: metrics(n.sock) for n in nodes}
        rec = Recording()
        tap.rec = rec
        usage = usage_of()
        n = int(s["group_rate"] * s["group_seconds"])
        t0 = time.monotonic()
        send_seconds = await paced(rec, n, s["group_rate"], lambda i: (clients[i % m], conv))
        complete = await wait_deliveries(rec, n * m)
        u = usage.end()
        after = {n_.name: metrics(n_.sock) for n_ in nodes}
    finally:
        tap.rec = None
        await close_all(clients)
    last = max([t0] + [t for _, _, t in rec.got])
    lat = split(rec)
    del lat["pushed"]
    deliveries = len(rec.got)
    acks = sorted(rec.acked[k] - rec.sent[k][0] for k in rec.acked)
    store = {}
    for name in before:
        d = {k: after[name][k] - before[name][k] for k in before[name]}
        store[name] = dict(commits=d["tourbus_store_commits_total"], writes=d["tourbus_store_writes_total"],
                           retried=d["tourbus_store_retried_batches_total"])
    return dict(members=m, members_per_node={n_.name: sum(1 for c in clients if c.node == n_.name) for n_ in nodes},
                messages=n, rate=s["group_rate"], send_seconds=send_seconds, deliveries=deliveries,
                expected=n * m, complete=complete, deliveries_per_second=deliveries / (last - t0) if last > t0 else 0,
                node_us_per_delivery=1e6 * u["nodes_cpu"] / deliveries if deliveries else None,
                store=store, errors=rec.errors[:5], usage=u, ack=_summary(acks), **lat)


# --- the run -------------------------------------------------------------------------------------

def run(build, server_cpu="0", client_cpu="1", wait_quiet=None, log=None, quick=False, tourbusd=None):
    """The whole scenario in temp directories; returns the results (a dict, JSON-ready)."""
    log = log or (lambda *a: print("cluster:", *a, file=sys.stderr, flush=True))
    quiet = (lambda what: wait_quiet(what, longest=60)) if wait_quiet else (lambda what: 0.0)
    s = dict(SIZES["quick" if quick else "default"])
    tourbusd = tourbusd or os.path.join(build, "daemon", "tourbusd")
    preload = os.path.join(build, "bench", "cubic_preload.so")
    if not os.access(NATS_SERVER, os.X_OK):
        raise RuntimeError("no %s: install Debian's nats-server (scripts/setup.sh)" % NATS_SERVER)
    pgmod = _load("tourbus_postgres", os.path.join(ROOT, "tests", "postgres.py"))
    if INTEGRATION not in sys.path:
        sys.path.append(INTEGRATION)  # the tests' cluster.py imports harness
    natsmod = _load("tourbus_test_cluster", os.path.join(INTEGRATION, "cluster.py"))
    t_start = time.monotonic()
    r = dict(sizes=s, quick=quick, load_before=os.getloadavg(), problems=[],
             date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
             tourbusd_built=datetime.datetime.fromtimestamp(os.path.getmtime(tourbusd), datetime.timezone.utc)
             .strftime("%Y-%m-%d %H:%M UTC"))
    work = tempfile.mkdtemp(prefix="tourbus-bench-cluster-")
    pg = nats = None
    nodes = []
    affinity = os.sched_getaffinity(0)
    # A SIGTERM (timeout, a CI job cancelled) ends the run through the `finally` below, which
    # stops PostgreSQL (in a session of its own, it would outlive us), nats-server and the nodes.
    term = signal.signal(signal.SIGTERM, lambda *_: sys.exit("cluster: terminated"))
    try:
        pg = pgmod.Postgres().start(tempfile.mkdtemp(prefix="tourbus-bench-postgres-"))
        pg.create_database("cluster")
        conninfo = pg.conninfo("cluster")
        r["postgres"] = os.path.basename(os.path.dirname(pg.bin))
        nats = natsmod.NatsServer().start()
        r["nats_server"] = subprocess.run([NATS_SERVER, "--version"], capture_output=True, text=True).stdout.strip()
        credentials = os.path.join(work, "credentials")
        os.makedirs(credentials)
        with open(os.path.join(credentials, "cluster.postgres_password"), "w") as f:
            f.write(pg.password)
        env = dict(os.environ, CREDENTIALS_DIRECTORY=credentials)
        if os.path.exists(preload):
            env["LD_PRELOAD"] = preload  # cubic on the accepted sockets, as for the other scenarios
        states = {n: os.path.join(work, "state-" + n) for n in NAMES}
        configs = {n: write_config(work, n, states[n], conninfo, nats.url) for n in NAMES}
        alone = write_config(work, NAMES[0], states[NAMES[0]], conninfo, None)
        check = subprocess.run([tourbusd, "--config", configs[NAMES[0]], "--check-config"], capture_output=True,
                               text=True)
        if check.returncode != 0:
            raise RuntimeError("tourbusd --check-config: %s" % check.stderr.strip())

        def start(name, config):
            n = Node(tourbusd, config, name, server_cpu, env)
            n.sock = os.path.join(states[name], "tourbusd.sock")
            return n

        # The schema and the people, through tb1 alone; then the nodes start afresh.
        n = start(NAMES[0], configs[NAMES[0]])
        try:
            tokens, pairs, group, idle = setup(n.sock, s, log)
        finally:
            n.stop()
        pg_pids = lambda: pgmod.cluster_processes(pg.data)  # noqa: E731
        tap = Tap()

        def measure(what, coro):
            """Runs a step once the CPUs are quiet; keeps the warnings the nodes logged during it."""
            r.setdefault("quiet", {})[what] = quiet("cluster %s" % what)
            log("cluster: %s" % what)
            marks = [x.mark() for x in nodes]
            os.sched_setaffinity(0, {int(client_cpu)})  # this process is the clients: the other CPU
            try:
                return asyncio.run(coro)
            finally:
                os.sched_setaffinity(0, affinity)
                warned = ["%s: %s" % (x.name, l) for x, m in zip(nodes, marks) for l in x.warnings(m)]
                if warned:
                    r.setdefault("warnings", {})[what] = warned[:50] + (["..."] if len(warned) > 50 else [])
                    r.setdefault("warning_counts", {})[what] = len(warned)

        # --- three nodes linked by NATS
        t = time.monotonic()
        nodes = [start(name, configs[name]) for name in NAMES]
        for x in nodes:
            x.wait_for(r"cluster\.nats_connected\b")
        deadline = time.monotonic() + WAIT
        while len(nats.subscribers(SUBJECT) or []) < len(nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("nats-server does not have the %d nodes subscribed to %s" % (len(nodes), SUBJECT))
            time.sleep(0.05)
        r["cluster_start_seconds"] = time.monotonic() - t
        usage_of = lambda: Usage(nodes, pg_pids, nats.proc.pid)  # noqa: E731
        tb1, tb2 = nodes[0], nodes[1]
        r["connections_cluster"] = measure("connections over 3 nodes", step_connections(nodes, idle, tokens, tap, "3 nodes"))
        log("cluster: %d connections over 3 nodes: %s bytes each (%s)" % (
            r["connections_cluster"]["connections"], round(r["connections_cluster"]["total_bytes_per_connection"]),
            ", ".join("%s %s" % (k, v["bytes_per_connection"] and round(v["bytes_per_connection"]))
                      for k, v in r["connections_cluster"]["nodes"].items())))
        r["pairs_cluster"] = measure("1:1 latency, senders on tb1, receivers on tb1 and tb2", step_pairs(
            pairs, tokens, lambda i: (tb1, tb1 if i % 2 == 0 else tb2), s, tap, usage_of))
        p = r["pairs_cluster"]
        log("cluster: 1:1 same node p50 %.2f p99 %.2f ms; cross-node p50 %.2f p99 %.2f ms" % (
            p["same"]["p50_ms"], p["same"]["p99_ms"], p["cross"]["p50_ms"], p["cross"]["p99_ms"]))
        r["group_spread"] = measure("fan-out, members on 3 nodes", step_group(group, tokens, nodes, s, tap, usage_of))
        r["group_tb1"] = measure("fan-out, members all on tb1", step_group(group, tokens, [tb1], s, tap, usage_of))
        for key in ("group_spread", "group_tb1"):
            g = r[key]
            log("cluster: %s: %d deliveries/s, p50 %.2f p99 %.2f ms, %.1f µs node CPU per delivery" % (
                key, g["deliveries_per_second"], g["all"]["p50_ms"], g["all"]["p99_ms"], g["node_us_per_delivery"]))
        for x in nodes:
            x.stop()
        nodes = []

        # --- one node, no NATS, the same store
        nodes = [start(NAMES[0], alone)]
        one = nodes[0]
        usage_of = lambda: Usage(nodes, pg_pids, None)  # noqa: E731
        r["connections_alone"] = measure("connections on one node", step_connections(nodes, idle, tokens, tap, "1 node"))
        r["pairs_alone"] = measure("1:1 latency, one node without NATS", step_pairs(
            pairs, tokens, lambda i: (one, one), s, tap, usage_of))
        r["group_alone"] = measure("fan-out, one node without NATS", step_group(group, tokens, [one], s, tap, usage_of))
        log("cluster: one node without NATS: 1:1 p50 %.2f p99 %.2f ms; fan-out p99 %.2f ms, %.1f µs per delivery" % (
            r["pairs_alone"]["same"]["p50_ms"], r["pairs_alone"]["same"]["p99_ms"], r["group_alone"]["all"]["p99_ms"],
            r["group_alone"]["node_us_per_delivery"]))
        one.stop()
        nodes = []
    finally:
        os.sched_setaffinity(0, affinity)
        for x in nodes:
            x.stop()
        if nats:
            nats.cleanup()
        if pg:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, term)
    for key in ("pairs_cluster", "pairs_alone", "group_spread", "group_tb1", "group_alone"):
        x = r[key]
        if x["errors"]:
            r["problems"].append("%s: error replies %s" % (key, x["errors"]))
        if not x["complete"]:
            r["problems"].append("%s: not every push arrived within 10 s" % key)
    r["load_after"] = os.getloadavg()
    r["seconds"] = time.monotonic() - t_start
    for p in r["problems"]:
        log("cluster: PROBLEM: " + p)
    return r


# --- the section of BENCHMARKS.md ----------------------------------------------------------------

def _n(x, digits=0):
    return ("{:,.%df}" % digits).format(x) if x is not None else "–"


def _ms(x):
    return "–" if x is None else "%.2f ms" % x


def _ratio(a, b):
    return "%.2f×" % (a / b) if a and b else "–"


def _us(seconds, n):
    return "%.0f µs" % (1e6 * seconds / n) if seconds is not None and n else "–"


def render(c):
    s = c["sizes"]
    pc, pa = c["pairs_cluster"], c["pairs_alone"]
    gs, g1, ga = c["group_spread"], c["group_tb1"], c["group_alone"]
    cc, ca = c["connections_cluster"], c["connections_alone"]
    out = []
    w = out.append
    w("## Several nodes (NATS)\n")
    if c.get("run"):
        m = c["run"]
        w("*From a run of its own: `%s` on %s, commit `%s` (%s, %d cores), %.0f s.*\n" % (
            m["command"], m["date"], m["commit"], m["cpu"], m["cores"], c.get("seconds", 0)))
    w("`bench/cluster.py`%s: three tourbusd nodes, tb1, tb2 and tb3, on one PostgreSQL store (%s, a throwaway "
      "cluster on loopback with default settings, fsync on) and linked by a real nats-server (%s on loopback, "
      "`cluster.nats`): a push made on one node is published on `tourbus.events` and delivered by the others to "
      "their own sessions, in seq order ([docs/scaling.md](docs/scaling.md#pushes-across-nodes)). The peer is "
      "tb1 alone on the same store without `cluster.nats`. Every tourbusd is pinned to CPU 0 (the three nodes "
      "share it, as the one node has it alone); the clients, one Python process (`websockets`, one asyncio loop "
      "timing each frame as it reads it, on the same monotonic clock as the send), on CPU 1; PostgreSQL and "
      "nats-server unpinned. Latency is from just before `message.send` is written to the `message` push; "
      "*after the reply* is from the sender's reply, which tourbusd sends once the message is committed, to "
      "the push: what the push's own way costs, on the node or through NATS, without the commit. A node holds "
      "a push that comes after a seq gap for up to 100 ms, so pushes more than %d ms after the reply are "
      "counted.\n" % (" (`--quick` sizes: a smoke run, not a measurement)" if c.get("quick") else "",
                      c.get("postgres", "PostgreSQL"), c.get("nats_server", "nats-server"), HELD_MS))
    w("**Delivery latency, 1:1.** %d pairs in direct conversations, every sender on tb1: in half the pairs the "
      "receiver is on tb1 too (same node), in the other half on tb2 (cross-node). %s messages at %d a second, "
      "going round the pairs, so both halves share the same seconds (every conversation had one message "
      "before, not timed: a node's first push of a conversation reads the store). On the one node, the same "
      "pairs all on it.\n" % (s["pairs"], _n(pc["messages"]), pc["rate"]))
    w("| receiver | pushes | p50 | p90 | p99 | max | after the reply: p50 | p99 | > %d ms after the reply | "
      "p50 ÷ one node | p99 ÷ one node | others' CPU |" % HELD_MS)
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    base = pa["same"]
    rows = [("one node without NATS (the peer)", base, pa["same_after_ack"], pa),
            ("cluster: on the sender's node (tb1)", pc["same"], pc["same_after_ack"], pc),
            ("cluster: on another node (tb2)", pc["cross"], pc["cross_after_ack"], pc)]
    for label, v, a, step in rows:
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f |" % (
            label, _n(v["n"]), _ms(v["p50_ms"]), _ms(v["p90_ms"]), _ms(v["p99_ms"]), _ms(v["max_ms"]),
            _ms(a and a["p50_ms"]), _ms(a and a["p99_ms"]), _n(a and a["over_held"]),
            _ratio(v["p50_ms"], base["p50_ms"]), _ratio(v["p99_ms"], base["p99_ms"]), step["usage"]["others_cores"]))
    w("")
    w("*others' CPU*: other processes' user CPU on the machine during the step, in cores (anything running "
      "beside the benchmark; before each step the harness waits, at most a minute, for the two CPUs to be "
      "quiet). The two cluster rows come from the same step.\n")
    sa, ca_ = pc["same_after_ack"], pc["cross_after_ack"]
    ncpu = pc["usage"]["node_cpu"]
    w("Cross-node ÷ same node, in the cluster: p50 **%s**, p99 **%s** from the send; what the hop through NATS "
      "adds after the reply, at the median: **%s** (p99: %s). The reply itself (the commit on PostgreSQL): p50 %s, "
      "p99 %s in the cluster; %s and %s on one node. tourbusd CPU per message: tb1 %s (it stores every message "
      "and pushes half of them), tb2 %s (it pushes the other half, from NATS), tb3 %s (no session of its own is "
      "concerned: what taking every push off NATS costs a node); one node without NATS: %s.\n" % (
          _ratio(pc["cross"]["p50_ms"], pc["same"]["p50_ms"]), _ratio(pc["cross"]["p99_ms"], pc["same"]["p99_ms"]),
          _ms(ca_["p50_ms"] - sa["p50_ms"]), _ms(ca_["p99_ms"] - sa["p99_ms"]),
          _ms(pc["ack"]["p50_ms"]), _ms(pc["ack"]["p99_ms"]), _ms(pa["ack"]["p50_ms"]), _ms(pa["ack"]["p99_ms"]),
          _us(ncpu.get("tb1"), pc["messages"]), _us(ncpu.get("tb2"), pc["messages"]), _us(ncpu.get("tb3"), pc["messages"]),
          _us(pa["usage"]["nodes_cpu"], pa["messages"])))
    w("**Fan-out.** One group conversation of %d members; its members send in turn (member *i* the messages *i*, "
      "*i* + %d, ...), %d messages a second for %g s (%s messages, %s deliveries: every member's `message` push, "
      "the sender's own included). A steady rate, to compare latency and cost, not a search for the maximum "
      "(one Python client could not saturate a node: the most one node delivers is in [Fan-out](#fan-out), "
      "bench/loadgen on SQLite). *Same* / *other node*: receivers on the sender's node, and on the others.\n" % (
          gs["members"], gs["members"], gs["rate"], s["group_seconds"], _n(gs["messages"]), _n(gs["expected"])))
    w("| members | deliveries/s | p50 | p99 | p99 same / other node | the reply (commit): p50 / p99 | "
      "after the reply, other node: p50 / p99 | > %d ms after the reply | tourbusd CPU per delivery (all nodes) | "
      "PostgreSQL CPU | nats-server CPU | p99 ÷ one node | CPU ÷ one node | others' CPU |" % HELD_MS)
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, g in (("%s over tb1, tb2, tb3" % " + ".join(str(v) for v in gs["members_per_node"].values()), gs),
                     ("all %d on tb1 (cluster, NATS on)" % g1["members"], g1),
                     ("all %d on one node without NATS (the peer)" % ga["members"], ga)):
        u, x = g["usage"], g.get("cross_after_ack")
        ack = g.get("ack") or {}
        w("| %s | %s | %s | %s | %s / %s | %s / %s | %s | %s | %.1f µs | %.1f s | %.1f s | %s | %s | %.2f |" % (
            label, _n(g["deliveries_per_second"]), _ms(g["all"]["p50_ms"]), _ms(g["all"]["p99_ms"]),
            _ms(g["same"]["p99_ms"]), _ms(g["cross"] and g["cross"]["p99_ms"]), _ms(ack.get("p50_ms")),
            _ms(ack.get("p99_ms")),
            "%s / %s" % (_ms(x["p50_ms"]), _ms(x["p99_ms"])) if x else "–", _n(g["all_after_ack"]["over_held"]),
            g["node_us_per_delivery"], u["pg_cpu"], u["nats_cpu"],
            _ratio(g["all"]["p99_ms"], ga["all"]["p99_ms"]), _ratio(g["node_us_per_delivery"], ga["node_us_per_delivery"]),
            u["others_cores"]))
    w("")
    w("Spread over three nodes, each node's tourbusd CPU per delivery to its own sessions: %s; every node stores "
      "the messages sent through it: %s commits for %s writes in all, %s batches retried after a conflict "
      "between nodes (on one node: %s commits for %s writes). PostgreSQL's and nats-server's CPU are seconds "
      "over the %g s.\n" % (
          ", ".join("%s %s" % (k, _us(v, gs["deliveries"] * gs["members_per_node"][k] / gs["members"]))
                    for k, v in gs["usage"]["node_cpu"].items()),
          _n(sum(v["commits"] for v in gs["store"].values())), _n(sum(v["writes"] for v in gs["store"].values())),
          _n(sum(v["retried"] for v in gs["store"].values())), _n(sum(v["commits"] for v in ga["store"].values())),
          _n(sum(v["writes"] for v in ga["store"].values())), s["group_seconds"]))
    w("**Connections per node.** %s idle WebSocket sessions (users who share no conversation), spread over the "
      "three nodes, against the same on one node: VmRSS with them open (2 s after the last, so that presence has "
      "reached the other nodes) less before.\n" % _n(cc["connections"]))
    w("| layout | node | its sessions | VmRSS before | VmRSS after | bytes per own session |")
    w("|---|---|---|---|---|---|")
    for layout, x in (("3 nodes", cc), ("one node without NATS", ca)):
        for name, v in x["nodes"].items():
            w("| %s | %s | %s | %.1f MiB | %.1f MiB | %s |" % (layout, name, _n(v["connections"]), v["rss_before_kib"] / 1024,
                                                         v["rss_after_kib"] / 1024, _n(v["bytes_per_connection"])))
    w("")
    one = ca["total_bytes_per_connection"]
    remote = [((v["rss_after_kib"] - v["rss_before_kib"]) * 1024 - v["connections"] * one) / (cc["connections"] - v["connections"])
              for v in cc["nodes"].values()]
    w("All nodes' growth per session: %s bytes spread over three nodes, %s on one node (%s). Besides its own "
      "sessions a node of the cluster keeps the presence of the others' users: counting its own sessions at the "
      "one node's figure, a node grew by about %s bytes more per session open on another node (VmRSS moves in "
      "pages and allocators keep what traffic left: a rough figure). Connects/s %s and %s: one Python client's "
      "rate, not tourbusd's. At scale the "
      "idle scenario measured one node holding 19,000 WebSocket sessions at about 2.4 KB each ([Idle "
      "connections](#idle-connections)); a cluster holds that per node, plus the presence of the others' "
      "users.\n" % (_n(cc["total_bytes_per_connection"]), _n(one), _ratio(cc["total_bytes_per_connection"], one),
                   _n(sum(remote) / len(remote)), _n(cc["connects_per_second"]), _n(ca["connects_per_second"])))
    w("**What this machine can and cannot show.** It has 2 cores, and the three nodes, PostgreSQL, nats-server "
      "and the clients all share them: no horizontal gain can be measured here, and none is claimed. What an "
      "operator sizes by ([docs/scaling.md](docs/scaling.md#sizing)) is per node: the sessions a node holds "
      "(memory above), the CPU a delivery costs it (a node delivers the pushes of its own sessions, whichever "
      "node stored the message) and what taking every other node's pushes off NATS costs it, what the hop "
      "through NATS adds to a push; and, for the database, the total message rate of all nodes ([The store on "
      "PostgreSQL](#the-store-on-postgresql)).\n")
    w("Load average (1 min) %.2f before the run, %.2f after.\n" % (c["load_before"][0], c["load_after"][0]))
    if c["problems"]:
        w("**Seen wrong in this run:** " + "; ".join(c["problems"]) + ".\n")
    if c.get("warnings"):
        parts = []
        for what, lines in c["warnings"].items():
            kinds = {}
            for line in lines:
                m = re.search(r"^(\w+): \S+ \w+ \[\w+\] ([\w.]+)(?: error=\"([^\"]{0,60}))?", line)
                key = (m.group(2) + (" (%s)" % m.group(3).split("ERROR:")[-1].split("|")[0].strip() if m.group(3) else "")) if m else line[:80]
                kinds.setdefault(key, set()).add(m.group(1) if m else "?")
            parts.append("%s: %d, %s" % (what, c["warning_counts"][what], "; ".join(
                "`%s` on %s" % (k, ", ".join(sorted(v))) for k, v in kinds.items())))
        w("Warnings the nodes logged during the steps: %s.\n" % "; ".join(parts))
    return "\n".join(out) + "\n"


def main():
    sys.path.insert(0, HERE)
    import bench  # wait_quiet, log, the build directory
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--tourbusd", help="the daemon (default BUILD/daemon/tourbusd)")
    ap.add_argument("--markdown", help="also write the section of BENCHMARKS.md to this file")
    args = ap.parse_args()
    _raise_nofile()
    r = run(bench.BUILD, bench.SERVER_CPU, bench.LOADGEN_CPU, bench.wait_quiet, bench.log, args.quick, args.tourbusd)
    env = "TOURBUS_BENCH_BUILD=%s " % os.environ["TOURBUS_BENCH_BUILD"] if os.environ.get("TOURBUS_BENCH_BUILD") else ""
    r["run"] = bench.machine((env + "bench/cluster.py " + " ".join(sys.argv[1:])).strip())
    print(json.dumps(r), flush=True)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(render(r))


if __name__ == "__main__":
    main()
