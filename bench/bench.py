#!/usr/bin/python3
"""The tourbus benchmarks, side by side with the ws and socket.io peers and the raw ceiling.

tourbusd is measured over its plain WebSocket (/v1/ws, "tourbus") and over its Socket.IO
(/socket.io/, "tourbus-socketio", connection state recovery on as by default; in the fan-out also
"tourbus-socketio-norecovery", recovery off).

Run through bench/run, which installs and builds what is needed first. Every server listens on
127.0.0.1, is pinned to CPU 0 and loaded by bench/loadgen pinned to CPU 1; every TCP socket uses
congestion control cubic (the servers through bench/cubic_preload.so). Writes BENCHMARKS.md.
See bench/README.md for what each scenario measures.
"""

import argparse
import concurrent.futures
import datetime
import http.client
import importlib.util
import json
import os
import platform
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The build directory (bench/run's TOURBUS_BENCH_BUILD, relative to ROOT unless absolute).
BUILD = os.path.join(ROOT, os.environ.get("TOURBUS_BENCH_BUILD") or "build")

SIZES = {
    # idle connections; fan-out groups x members; durable pairs; burst members; queue jobs;
    # equal_rate: the fan-out's last step, messages/s, the same for every server (its CPU per delivery);
    # schedule: pending firings and campaign recipients (users);
    # safety: users with a last position, of them inside the alert's circle, of those online (--online),
    # rounds of the alert and its peer taking turns
    "default": dict(idle=19000, groups=100, members=20, step_seconds=3.0, pairs=500, durable_seconds=5.0,
                    burst=10000, burst_repeat=5, queue=19000, rate=1000, factor=1.4, fanout_rounds=2,
                    equal_rate=2500, schedule=100000, safety_users=100000, safety_area=10000, safety_online=1000,
                    safety_rounds=3),
    "quick": dict(idle=2000, groups=20, members=10, step_seconds=1.0, pairs=50, durable_seconds=1.5,
                  burst=1000, burst_repeat=3, queue=2000, rate=1000, factor=2.0, fanout_rounds=1,
                  equal_rate=2000, schedule=10000, safety_users=10000, safety_area=1000, safety_online=200,
                  safety_rounds=1),
}

# tourbusd's Socket.IO variants: the [socketio] table each runs with. Recovery on is what an
# operator gets by default (120 s); the fan-out also measures it off, to show what it costs.
SOCKETIO = {
    "tourbus-socketio": "[socketio]\nrecovery_seconds = 120\n",
    "tourbus-socketio-norecovery": "[socketio]\nrecovery_seconds = 0\n",
}

SERVER_CPU = "0"
LOADGEN_CPU = "1"


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_jiffies():
    """(user, busy, total) jiffies of the two benchmark CPUs from /proc/stat; busy counts system,
    irq and softirq time too (loopback traffic is mostly softirq), user only user and nice."""
    names = {"cpu" + SERVER_CPU, "cpu" + LOADGEN_CPU}
    user = busy = total = 0
    with open("/proc/stat") as f:
        for line in f:
            v = line.split()
            if v and v[0] in names:
                n = [int(x) for x in v[1:9]]  # user nice system idle iowait irq softirq steal
                user += n[0] + n[1]
                b = n[0] + n[1] + n[2] + n[5] + n[6] + n[7]
                busy += b
                total += b + n[3] + n[4]
    return user, busy, total


def wait_quiet(what, limit=0.10, longest=300):
    """Other work on the machine (a build, a test run) takes CPU from whichever server has its
    turn: before a measurement, waits until the two benchmark CPUs were less than `limit` busy over
    2 s, at most `longest` s. Returns how busy they were when it went on."""
    t0 = time.monotonic()
    while True:
        _, b0, t0_ = cpu_jiffies()
        time.sleep(2)
        _, b1, t1_ = cpu_jiffies()
        frac = (b1 - b0) / max(1, t1_ - t0_)
        waited = time.monotonic() - t0
        if frac < limit or waited >= longest:
            if waited > 3:
                log("%s: waited %.0f s for the CPUs to be quiet (%.0f%% busy)" % (what, waited, 100 * frac))
            return frac


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=600)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


class Server:
    """A server under test: started pinned to CPU 0 with the congestion-control shim preloaded."""

    def __init__(self, name, argv, ready=r"ready port=(\d+)", on_stderr=False):
        self.name = name
        env = dict(os.environ)
        env["LD_PRELOAD"] = os.path.join(BUILD, "bench", "cubic_preload.so")
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, preexec_fn=raise_nofile)
        self.port = None
        seen = []
        for line in self.proc.stderr if on_stderr else self.proc.stdout:
            seen.append(line)
            m = re.search(ready, line)
            if m:
                self.port = int(m.group(1))
                break
            if "start_failed" in line:
                break
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("%s did not start: %s" % (name, "".join(seen[-5:])))
        # Keep draining its output so a chatty server never blocks on a full pipe.
        for s in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=lambda s=s: [None for _ in s], daemon=True).start()

    def rss(self):
        return rss_kib(self.proc.pid)

    def cpu_seconds(self, user_only=False):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + (0 if user_only else int(fields[12]))) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Tourbus:
    """tourbusd in a state directory of its own, with the users and conversations of every scenario."""

    def __init__(self, work, sizes):
        self.work = work
        self.sizes = sizes
        self.state = os.path.join(work, "state")
        self.tokens = {}
        self.binary = os.path.join(BUILD, "daemon", "tourbusd")

    def config(self, state, extra="", binary=None):
        """The config file; `extra` adds tables other than [server], [websocket] and [chat]."""
        path = os.path.join(self.work, "tourbus.toml")
        server = 'state_dir = "%s"\n[server]\nlisten = "127.0.0.1:0"\nmax_connections = 20000\nidle_timeout_seconds = 600\n' % state
        # The generator is a crowd of clients on 8 loopback addresses: the per-address and
        # per-token abuse limits are off, as behind a load balancer, and the burst group may be
        # large. A baseline from before these keys existed gets the config without them.
        limits = ('max_connections_per_ip = 0\nrequests_per_second_per_ip = 0\nrequests_per_second_per_token = 0\n'
                  'max_websockets_per_token = 0\n')
        rest = ('[websocket]\nevents_per_second = 100000\nevent_burst = 100000\nidle_timeout_seconds = 600\n'
                'send_queue_frames = 100000\n')
        for text in (server + limits + rest + "[chat]\nmax_group_members = 1000000\n" + extra, server + rest + extra):
            with open(path, "w") as f:
                f.write(text)
            check = subprocess.run([binary or self.binary, "--config", path, "--check-config"], capture_output=True)
            if check.returncode == 0:
                break
        return path

    def start(self, state=None, extra="", name="tourbus", binary=None):
        state = state or self.state
        cfg = self.config(state, extra, binary)
        self.server = Server(name, [binary or self.binary, "--config", cfg],
                             ready=r"daemon\.ready .*listen=\S*:(\d+)", on_stderr=True)
        self.sock = os.path.join(state, "tourbusd.sock")
        return self.server

    def call(self, conn, method, path, body=None, as_user=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if as_user:
            headers["Tourbus-As"] = as_user
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        res = conn.getresponse()
        data = res.read()
        if res.status >= 300:
            raise RuntimeError("%s %s: %d %s" % (method, path, res.status, data[:300]))
        return json.loads(data)

    def parallel(self, items, fn, threads=32):
        local = threading.local()

        def run(item):
            if not hasattr(local, "conn"):
                local.conn = UnixHTTP(self.sock)
            return fn(local.conn, item)

        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            return list(ex.map(run, items))

    def setup(self):
        """Users with tokens, then the conversations of each scenario (users never share two)."""
        s = self.sizes
        n = s["idle"]
        t0 = time.monotonic()
        handles = ["u%05d" % i for i in range(n)]

        def make(conn, h):
            self.call(conn, "POST", "/v1/users", {"handle": h, "display_name": h, "role": "tourist"})
            return self.call(conn, "POST", "/v1/tokens", {"user": h, "label": "bench", "ttl_days": 0})["token"]

        self.tokens = dict(zip(handles, self.parallel(handles, make)))
        log("tourbus: %d users with tokens in %.1f s" % (n, time.monotonic() - t0))
        # fan-out: groups of members among the first users
        fan = handles[:s["groups"] * s["members"]]

        def group(conn, g):
            members = fan[g * s["members"]:(g + 1) * s["members"]]
            c = self.call(conn, "POST", "/v1/conversations",
                          {"kind": "group", "title": "bench %d" % g, "members": members})
            return [(c["id"], h) for h in members]

        self.fanout_conns = [x for g in self.parallel(range(s["groups"]), group) for x in g]
        # durable: pairs in direct conversations, after the fan-out users
        base = len(fan)
        pairs = [(handles[base + 2 * i], handles[base + 2 * i + 1]) for i in range(s["pairs"])]

        def direct(conn, pair):
            c = self.call(conn, "POST", "/v1/conversations", {"kind": "direct", "members": list(pair)})
            return [(c["id"], pair[0]), (c["id"], pair[1])]

        self.durable_conns = [x for p in self.parallel(pairs, direct) for x in p]
        # burst: one group of the next `burst` users (wrapping to the start if there are too few)
        base += 2 * s["pairs"]
        burst = [handles[(base + i) % n] for i in range(s["burst"])]
        conn = UnixHTTP(self.sock)
        c = self.call(conn, "POST", "/v1/conversations", {"kind": "group", "title": "burst", "members": burst[:500]})
        for i in range(500, len(burst), 500):
            self.call(conn, "POST", "/v1/conversations/%d/members" % c["id"], {"users": burst[i:i + 500]})
        self.burst_conns = [(c["id"], h) for h in burst]
        self.idle_conns = [(0, h) for h in handles]
        log("tourbus: set up in %.1f s" % (time.monotonic() - t0))


def load_module(name):
    """bench/NAME.py as a module, by its path (not through sys.path, where another NAME may come first)."""
    key = "bench_" + name
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, os.path.join(ROOT, "bench", name + ".py"))
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return sys.modules[key]


def write_conns(path, pairs, tokens=None):
    """loadgen's --conns file: `GROUP TOKEN` per connection (`-`: the peers take no token)."""
    with open(path, "w") as f:
        for g, h in pairs:
            f.write("%d %s\n" % (g, tokens[h] if tokens else "-"))
    return path


def loadgen(args, stdin=None):
    argv = ["taskset", "-c", LOADGEN_CPU, os.path.join(BUILD, "bench", "loadgen")] + [str(a) for a in args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=stdin, text=True, preexec_fn=raise_nofile)


def results(proc, timeout=900):
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("loadgen failed (exit %d)" % proc.returncode)
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


class Bench:
    def __init__(self, args):
        self.args = args
        self.sizes = dict(SIZES["quick" if args.quick else "default"])
        if args.rounds:
            self.sizes["fanout_rounds"] = args.rounds
        if args.online:
            self.sizes["safety_online"] = args.online
        self.work = tempfile.mkdtemp(prefix="tourbus-bench-")
        self.shm = tempfile.mkdtemp(prefix="tourbus-bench-", dir="/dev/shm") if os.path.isdir("/dev/shm") else None
        self.peers = os.path.join(ROOT, "bench", "peers")
        self.r = {}
        self.tb = Tourbus(self.work, self.sizes)
        self.postgres = None  # the throwaway PostgreSQL server of the durable scenario

    # --- servers -------------------------------------------------------------------------------
    def start(self, kind, extra=""):
        if kind == "tourbus":
            return self.tb.start(extra=extra)
        if kind in SOCKETIO:
            return self.tb.start(extra=SOCKETIO[kind] + extra, name=kind)
        if kind == "baseline":
            return self.tb.start(state=self.baseline_state, extra=extra, name="baseline", binary=self.args.baseline)
        if kind == "ws":
            return Server("ws", ["node", os.path.join(self.peers, "ws_server.js"), "--port", "0"])
        if kind == "socketio":
            return Server("socketio", ["node", os.path.join(self.peers, "socketio_server.js"), "--port", "0"])
        mode = "send" if kind == "ceiling-send" else "coalesce"
        return Server(kind, [os.path.join(BUILD, "bench", "ceiling"), "--port", "0", "--mode", mode])

    def proto(self, kind):
        if kind in SOCKETIO:
            return "tourbus-socketio"
        return {"tourbus": "tourbus", "baseline": "tourbus", "ws": "ws", "socketio": "socketio"}.get(kind, "raw")

    def conns(self, kind, name, pairs):
        path = os.path.join(self.work, "%s-%s.conns" % (name, kind))
        return write_conns(path, pairs, self.tb.tokens if self.proto(kind).startswith("tourbus") else None)

    # --- scenarios -----------------------------------------------------------------------------
    def idle(self):
        out = {}
        for kind in ("tourbus", "tourbus-socketio", "ws", "socketio", "ceiling-coalesce"):
            wait_quiet("idle %s" % kind)
            server = self.start(kind)
            try:
                before = server.rss()
                lg = loadgen(["idle", "--proto", self.proto(kind), "--port", server.port,
                              "--conns", self.conns(kind, "idle", self.tb.idle_conns), "--sources", 8],
                             stdin=subprocess.PIPE)
                first = json.loads(lg.stdout.readline())
                # The reading after the last connection is ready, and once more a second later
                # (lazily allocated state, a garbage collector): the larger one counts.
                after = server.rss()
                time.sleep(1)
                after = max(after, server.rss())
                lg.stdin.close()
                rest = [json.loads(l) for l in lg.stdout.read().splitlines() if l.startswith("{")]
                lg.wait()
                n = first["connections"]
                out[kind] = dict(connections=n, connects_per_second=first["connects_per_second"], rss_before_kib=before,
                                 rss_after_kib=after, per_conn_bytes=(after - before) * 1024 / n,
                                 still_open=rest[-1]["still_open"] if rest else None)
                log("idle %s: %.0f bytes/connection, %.0f connects/s" % (kind, out[kind]["per_conn_bytes"],
                                                                         first["connects_per_second"]))
            finally:
                server.stop()
        self.r["idle"] = out

    def fanout(self):
        """Every server in turn, `fanout_rounds` times over: this machine's speed drifts between
        minutes, so each server keeps its best round and every round is reported."""
        out = {}
        s = self.sizes
        kinds = (["tourbus"] + (["baseline"] if self.args.baseline else []) +
                 ["tourbus-socketio", "tourbus-socketio-norecovery", "ws", "socketio", "ceiling-send", "ceiling-coalesce"])
        if self.args.servers:
            kinds = [k for k in kinds if k in self.args.servers.split(",") or k == "tourbus"]
        for round_ in range(s["fanout_rounds"]):
            for kind in kinds:
                wait_quiet("fanout %s" % kind)
                server = self.start(kind)
                try:
                    cpu0, user0 = server.cpu_seconds(), server.cpu_seconds(user_only=True)
                    children0, jiffies0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime, cpu_jiffies(), time.monotonic()
                    lg = loadgen(["fanout", "--proto", self.proto(kind), "--port", server.port,
                                  "--conns", self.conns(kind, "fanout", self.tb.fanout_conns),
                                  "--rate", s["rate"], "--factor", s["factor"], "--seconds", s["step_seconds"],
                                  "--server-pid", server.proc.pid, "--equal-rate", s["equal_rate"]])
                    res = results(lg)
                    # Other processes' user time on the two benchmark CPUs meanwhile, in cores: the
                    # CPUs' user time less the server's and the generator's (the one child reaped).
                    tick = os.sysconf("SC_CLK_TCK")
                    ours = (server.cpu_seconds(user_only=True) - user0 +
                            resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - children0)
                    others = max(0.0, (cpu_jiffies()[0] - jiffies0[0]) / tick - ours) / (time.monotonic() - t0)
                    run = dict(steps=[x for x in res if "label" in x], summary=next(x for x in res if x.get("summary")),
                               server_cpu_seconds=server.cpu_seconds() - cpu0, others_cores=others)
                    best = run["summary"]["max_deliveries_per_second"]
                    log("fanout %s round %d: %.0f deliveries/s, p99 at half rate %.2f ms, others %.2f cores" % (
                        kind, round_ + 1, best, run["summary"]["half_p99_ms"], others))
                    rounds = out.get(kind, {}).get("rounds", []) + [best]
                    others_rounds = out.get(kind, {}).get("others_rounds", []) + [others]
                    if kind not in out or best > out[kind]["summary"]["max_deliveries_per_second"]:
                        out[kind] = run
                    out[kind]["rounds"] = rounds
                    out[kind]["others_rounds"] = others_rounds
                finally:
                    server.stop()
        self.r["fanout"] = out

    def durable(self):
        out = {}
        s = self.sizes
        variants = [("durable", self.tb.state, 'store.synchronous = "full"'),
                    ("memory", None, 'store.synchronous = "normal"')]
        for name, state, setting in variants:
            if state is None:
                # persistence off: the same database copied to RAM (tmpfs), no fsync
                state = os.path.join(self.shm or self.work, "state")
                shutil.rmtree(state, ignore_errors=True)
                shutil.copytree(self.tb.state, state, ignore=shutil.ignore_patterns("*.sock", "*.lock", "*.pid"))
            extra = "[store]\n%s\n" % setting.split(".", 1)[1]
            server = self.tb.start(state=state, extra=extra)
            try:
                lg = loadgen(["durable", "--proto", "tourbus", "--port", server.port,
                              "--conns", self.conns("tourbus", "durable", self.tb.durable_conns),
                              "--window", 4, "--seconds", s["durable_seconds"]])
                res = results(lg)[-1]
                out[name] = res
                log("durable %s: %.0f acknowledged messages/s, p99 %.2f ms" % (name, res["acked_per_second"],
                                                                              res["ack_p99_ms"]))
            finally:
                server.stop()
        # The same database moved to PostgreSQL (docs/scaling.md), when the machine has it.
        pg = self.postgres_store()
        if pg:
            state, extra, credentials = pg
            os.environ["CREDENTIALS_DIRECTORY"] = credentials
            try:
                server = self.tb.start(state=state, extra=extra)
            finally:
                del os.environ["CREDENTIALS_DIRECTORY"]
            try:
                lg = loadgen(["durable", "--proto", "tourbus", "--port", server.port,
                              "--conns", self.conns("tourbus", "durable", self.tb.durable_conns),
                              "--window", 4, "--seconds", s["durable_seconds"]])
                res = results(lg)[-1]
                out["postgres"] = res
                log("durable postgres: %.0f acknowledged messages/s, p99 %.2f ms" % (res["acked_per_second"],
                                                                                    res["ack_p99_ms"]))
            finally:
                server.stop()
        self.r["durable"] = out

    def postgres_store(self):
        """The benchmark's database copied into a throwaway PostgreSQL server on loopback
        (tests/postgres.py: fsync on, default settings) by `tourbus migrate-store`; returns the
        state directory, the config tables and the credentials directory for tourbusd on it, or
        None where PostgreSQL is not installed."""
        spec = importlib.util.spec_from_file_location("tourbus_postgres", os.path.join(ROOT, "tests", "postgres.py"))
        pgmod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(pgmod)
        try:
            pgmod.bindir()
        except Exception as e:
            log("durable postgres: skipped (%s)" % e)
            return None
        if self.postgres is None:
            # A directory of its own under /tmp: the server's user must reach it (stop() removes it).
            self.postgres = pgmod.Postgres().start(tempfile.mkdtemp(prefix="tourbus-bench-postgres-"))
        self.postgres.create_database("bench")
        conninfo = self.postgres.conninfo("bench")
        credentials = os.path.join(self.work, "credentials")
        os.makedirs(credentials, exist_ok=True)
        password = os.path.join(credentials, "cluster.postgres_password")
        with open(password, "w") as f:
            f.write(self.postgres.password)
        state = os.path.join(self.work, "state-postgres")
        shutil.rmtree(state, ignore_errors=True)
        shutil.copytree(self.tb.state, state, ignore=shutil.ignore_patterns("*.sock", "*.lock", "*.pid"))
        server = self.tb.start(state=state)
        try:
            subprocess.run([os.path.join(BUILD, "cmd", "tourbus"), "--socket", os.path.join(state, "tourbusd.sock"),
                            "migrate-store", "--postgres", conninfo, "--password-file", password],
                           check=True, stdout=subprocess.DEVNULL)
        finally:
            server.stop()
        return state, "[cluster]\npostgres = %s\n" % json.dumps(conninfo), credentials

    def burst(self):
        out = {}
        s = self.sizes
        for kind in ("tourbus", "tourbus-socketio", "ws", "socketio", "ceiling-coalesce"):
            wait_quiet("burst %s" % kind)
            server = self.start(kind)
            try:
                lg = loadgen(["burst", "--proto", self.proto(kind), "--port", server.port,
                              "--conns", self.conns(kind, "burst", self.tb.burst_conns), "--repeat", s["burst_repeat"]])
                out[kind] = results(lg)[-1]
                log("burst %s: last of %d members after %.2f ms" % (kind, out[kind]["members"],
                                                                   out[kind]["last_member_ms_median"]))
            finally:
                server.stop()
        self.r["burst"] = out

    def queue(self):
        out = {}
        sink = subprocess.Popen(["taskset", "-c", LOADGEN_CPU, os.path.join(BUILD, "bench", "loadgen"), "sink",
                                 "--port", "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        port = json.loads(sink.stdout.readline())["port"]
        extra = ('[webhook]\nurl = "http://127.0.0.1:%d/hook"\nsecret = "bench"\n'
                 'rate_per_second = 100000\n' % port)
        server = self.tb.start(extra=extra)
        try:
            conn = UnixHTTP(self.tb.sock)
            users = sorted(self.tb.tokens)[:self.sizes["queue"]]
            for channel in ("inapp", "webhook"):
                t0 = time.monotonic()
                sent = self.tb.call(conn, "POST", "/v1/notifications",
                                    {"users": users, "category": "transactional", "text": "Bench " + channel,
                                     "channels": [channel]})
                t1 = time.monotonic()
                while True:
                    st = self.tb.call(conn, "GET", "/v1/queue")
                    row = next(c for c in st["channels"] if c["channel"] == channel)
                    if sum(l["queued"] for l in row["lanes"]) == 0 and row["in_flight"] == 0:
                        break
                    time.sleep(0.01)
                t2 = time.monotonic()
                n = len(sent["jobs"])
                out[channel] = dict(jobs=n, committed_per_second=n / (t1 - t0), delivered_per_second=n / (t2 - t0),
                                    send_seconds=t1 - t0, drained_seconds=t2 - t0)
                log("queue %s: %d jobs, %.0f committed/s, %.0f delivered/s" % (
                    channel, n, out[channel]["committed_per_second"], out[channel]["delivered_per_second"]))
        finally:
            server.stop()
            sink.stdin.close()
            done = json.loads(sink.stdout.read().strip().splitlines()[-1])
            sink.wait()
        out["webhook"]["sink_requests"] = done["requests"]
        if done["requests"] < out["webhook"]["jobs"]:
            raise RuntimeError("the sink got %d of %d webhook jobs" % (done["requests"], out["webhook"]["jobs"]))
        self.r["queue"] = out

    def schedule(self):
        import schedule  # bench/schedule.py: lib/schedule measured without a daemon
        self.r["schedule"] = schedule.run(BUILD, self.sizes["schedule"], SERVER_CPU, wait_quiet, log)

    def safety(self):
        import safety  # bench/safety.py: an alert by area on a store of its own, against tourbusd
        s = self.sizes
        self.r["safety"] = safety.run(BUILD, s["safety_users"], s["safety_area"], s["safety_online"], SERVER_CPU,
                                      LOADGEN_CPU, wait_quiet, log, rounds=s["safety_rounds"])

    def translate(self):
        import translate  # bench/translate.py: a tour chat in 3 languages through the Apertium sidecar
        self.r["translate"] = translate.run(BUILD, SERVER_CPU, log)

    def cluster(self):
        # bench/cluster.py: three nodes on one PostgreSQL store linked by nats-server, against one
        # node. Loaded by its path: tests/integration, which translate.py puts on sys.path, has a
        # cluster.py of its own.
        self.r["cluster"] = load_module("cluster").run(BUILD, SERVER_CPU, LOADGEN_CPU, wait_quiet, log,
                                                       quick=self.args.quick)

    # --- the run -------------------------------------------------------------------------------
    def run(self):
        t0 = time.monotonic()
        only = set(self.args.only.split(",")) if self.args.only else None
        if only and only <= {"schedule", "safety", "translate", "cluster"}:  # need none of the shared users (they make their own stores)
            return self.scenarios(only, t0)
        # With a baseline, it makes the state (its schema may be older) and gets a copy of it;
        # tourbus then migrates the original forward when it starts.
        server = self.tb.start(binary=self.args.baseline)
        try:
            self.tb.setup()
        finally:
            server.stop()
        if self.args.baseline:
            self.baseline_state = os.path.join(self.work, "baseline-state")
            shutil.copytree(self.tb.state, self.baseline_state, ignore=shutil.ignore_patterns("*.sock", "*.lock", "*.pid"))
        return self.scenarios(only, t0)

    def scenarios(self, only, t0):
        for name in ("idle", "fanout", "durable", "burst", "queue", "schedule", "safety", "translate", "cluster"):
            if only and name not in only:
                continue
            log("--- %s" % name)
            getattr(self, name)()
        self.r["seconds"] = time.monotonic() - t0
        return self.r

    def cleanup(self):
        if self.postgres is not None:
            self.postgres.stop()
        shutil.rmtree(self.work, ignore_errors=True)
        if self.shm:
            shutil.rmtree(self.shm, ignore_errors=True)


def machine(command=None):
    """The machine and the code a run measured (every scenario's report names them); `command`:
    the command line to print with them."""
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    git = ["git", "--no-optional-locks", "-C", ROOT]
    commit = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(git + ["status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    node = shutil.which("node")
    node = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() if node else "?"
    out = dict(cpu=cpu, cores=os.cpu_count(), kernel=platform.release(), commit=commit + ("+changes" if dirty else ""),
               node=node, date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    if command is not None:
        out["command"] = command
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every scenario")
    ap.add_argument("--only", help="comma-separated scenarios: idle,fanout,durable,burst,queue,schedule,safety,translate,cluster")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"), help="the report (default BENCHMARKS.md)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--command", default="bench/run", help="the command line to print in the report")
    ap.add_argument("--baseline", metavar="TOURBUSD",
                    help="a tourbusd built from another commit: it takes its turn in every fan-out round as 'baseline'")
    ap.add_argument("--rounds", type=int, help="fan-out rounds (default 2; 1 with --quick)")
    ap.add_argument("--online", type=int, help="safety: recipients online over /v1/ws (default 1,000; 200 with --quick)")
    ap.add_argument("--servers", help="fan-out: only these besides tourbus (baseline,tourbus-socketio,"
                    "tourbus-socketio-norecovery,ws,socketio,ceiling-send,ceiling-coalesce)")
    args = ap.parse_args()
    bench = Bench(args)
    try:
        r = bench.run()
    finally:
        bench.cleanup()
    r["machine"] = machine()
    r["sizes"] = bench.sizes
    r["quick"] = args.quick
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    import report
    with open(args.out, "w") as f:
        f.write(report.render(r, args.command))
    log("wrote %s (%.0f s)" % (args.out, r["seconds"]))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
