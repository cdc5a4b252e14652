#!/usr/bin/python3
"""The safety scenario: an emergency alert by area, against the real tourbusd on loopback. Of
100,000 tourists on tours running now, each with consent and a fresh last position, 10,000 are
inside a circle of 2 km around the Colosseum; an alert to that circle is sent with the CLI
(`tourbus alert send --circle`) while 1,000 of them (--online) are connected over /v1/ws.
Measured: the alert.send call, the time until every job is queued (the daemon's
`safety.alert_sent ... after_ms=N` line, and the wall time to it), until every online recipient
has its `alert` push and its in-app feed `notification`, until the in-app queue is drained; the
roll-call (every online recipient answers `alert.answer` safe at once: answers recorded per
second, the counts checked with `tourbus alert status --json`); and a peer: `notify.send` of an
emergency to the same 10,000 handles (`tourbus notify send --to`), timed the same way, for the
ratios. Also tourbusd's RSS and CPU time. Its section of BENCHMARKS.md is render(). See
bench/README.md.

Run by bench/bench.py (`bench/run --only safety`), or by itself without building anything:
  /usr/bin/python3 bench/safety.py [--users 100000] [--area 10000] [--online 1000] [--markdown FILE]
which prints one JSON line (and, with --markdown, writes the section).
"""

import argparse
import asyncio
import concurrent.futures
import datetime
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from bench import UnixHTTP  # HTTP over the control socket, as the other scenarios speak it

CENTER = (41.8902, 12.4922)  # the Colosseum
RADIUS_KM = 2.0
TOUR_SIZE = 250
LANGUAGES = ("en", "es", "fr", "de", "it", "pt")
HEADLINE = "Bench: gas leak near the Colosseum"
PEER_SUBJECT = "Bench peer: gas leak near the Colosseum"
WAIT = 120  # seconds: the longest any step may take before it is reported as missing


def _raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _km(a, b):
    """Great-circle distance in km (haversine, mean Earth radius)."""
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def _around(rnd, lo_km, hi_km):
    """A point between lo_km and hi_km from CENTER, uniform over the ring's area."""
    r = math.sqrt(rnd.uniform((lo_km / hi_km) ** 2, 1.0)) * hi_km
    a = rnd.uniform(0, 2 * math.pi)
    lat = CENTER[0] + r / 111.32 * math.cos(a)
    lon = CENTER[1] + r / (111.32 * math.cos(math.radians(CENTER[0]))) * math.sin(a)
    return lat, lon


def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pid, user_only=False):
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + (0 if user_only else int(v[12]))) / os.sysconf("SC_CLK_TCK")


def _user_jiffies(cpus):
    names = {"cpu%s" % c for c in cpus}
    n = 0
    with open("/proc/stat") as f:
        for line in f:
            v = line.split()
            if v and v[0] in names:
                n += int(v[1]) + int(v[2])
    return n


class Daemon:
    """tourbusd pinned to one CPU; its stderr (the log) read by a thread that keeps the safety.*,
    notify.enqueued, warn and error lines with the monotonic time they arrived."""

    def __init__(self, binary, config, cpu, preload=None):
        env = dict(os.environ)
        if preload and os.path.exists(preload):
            env["LD_PRELOAD"] = preload  # cubic on the accepted sockets, as for the other scenarios
        self.proc = subprocess.Popen(["taskset", "-c", cpu, binary, "--config", config], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_raise_nofile)
        self.lines = []  # (monotonic, line)
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
            raise RuntimeError("tourbusd did not start: %s" % "".join(seen[-5:]))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            if "safety." in line or "notify.enqueued" in line or " warn " in line or " error " in line:
                t = time.monotonic()
                with self.cond:
                    self.lines.append((t, line.rstrip("\n")))
                    self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait_for(self, pattern, start=0, timeout=WAIT):
        """The first line from index `start` on matching `pattern`: (time, line, match), or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i][1])
                    if m:
                        return self.lines[i][0], self.lines[i][1], m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def since(self, start):
        with self.cond:
            return [l for _, l in self.lines[start:]]

    def rss(self):
        return _rss_kib(self.proc.pid)

    def cpu(self):
        return _cpu_seconds(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def write_config(work, state):
    """The bench config (bench.py's limits: a crowd on loopback), and the escalation ladder pushed
    out of the measurement: nobody climbs a rung while the peer runs."""
    path = os.path.join(work, "tourbus.toml")
    with open(path, "w") as f:
        f.write('state_dir = "%s"\n[server]\nlisten = "127.0.0.1:0"\nmax_connections = 20000\n'
                'idle_timeout_seconds = 600\nmax_connections_per_ip = 0\nrequests_per_second_per_ip = 0\n'
                'requests_per_second_per_token = 0\nmax_websockets_per_token = 0\n'
                '[websocket]\nevents_per_second = 100000\nevent_burst = 100000\nidle_timeout_seconds = 600\n'
                'send_queue_frames = 100000\n[alert]\nescalate_after_seconds = 86400\n' % state)
    return path


def prepare(db_path, users, area, tour_size, log):
    """Bulk-inserts, in one transaction, `users` tourists on tours of `tour_size` running now (a guide
    each), every tourist sharing with their tour and with a last position recorded now: the first
    `area` inside the circle (tours of their own), a tenth of the others in Rome 2.5-15 km from its
    centre, the rest over Europe. Returns the handles inside, and the time of the positions."""
    t0 = time.monotonic()
    rnd = random.Random(20261206)
    now = int(time.time() * 1000)
    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 10000")
    base = con.execute("SELECT coalesce(max(id), 0) FROM users").fetchone()[0]
    tbase = con.execute("SELECT coalesce(max(id), 0) FROM tours").fetchone()[0]
    ntours = (users + tour_size - 1) // tour_size
    near = (users - area) // 10
    # positions first: tour k's members are users [k*tour_size, (k+1)*tour_size)
    pos = []
    for i in range(users):
        if i < area:
            p = _around(rnd, 0.0, RADIUS_KM * 0.95)
        elif i < area + near:
            p = _around(rnd, RADIUS_KM * 1.25, 15.0)
        else:
            while True:
                p = (rnd.uniform(36.0, 60.0), rnd.uniform(-9.0, 30.0))
                if _km(p, CENTER) > 20:
                    break
        pos.append(p)
    inside = [i for i in range(users) if _km(pos[i], CENTER) < RADIUS_KM]
    if inside != list(range(area)):
        raise RuntimeError("the generated positions do not put exactly the first %d users inside" % area)
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO users (id, handle, display_name, role, language, time_zone, created_at, updated_at) "
        "VALUES (?, ?, ?, 'guide', 'en', 'Europe/Rome', ?, ?)",
        [(base + users + k + 1, "g%05d" % k, "Guide %d" % k, now, now) for k in range(ntours)])
    con.executemany(
        "INSERT INTO users (id, handle, display_name, role, language, time_zone, created_at, updated_at) "
        "VALUES (?, ?, ?, 'tourist', ?, 'Europe/Rome', ?, ?)",
        [(base + i + 1, "t%06d" % i, "Tourist %d" % i, LANGUAGES[i % len(LANGUAGES)], now, now) for i in range(users)])
    tours = []
    for k in range(ntours):
        members = pos[k * tour_size:(k + 1) * tour_size]
        lat = sum(p[0] for p in members) / len(members)
        lon = sum(p[1] for p in members) / len(members)
        tours.append((tbase + k + 1, "Bench tour %d" % k, now - 30 * 60000, now + 3 * 3600000, "Europe/Rome",
                      "Meeting point %d" % k, lat, lon, base + users + k + 1, now, now))
    con.executemany(
        "INSERT INTO tours (id, title, starts_at, ends_at, time_zone, meeting_label, meeting_lat, meeting_lon, "
        "guide_id, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)", tours)
    con.executemany("INSERT INTO tour_participants (tour_id, user_id, joined_at) VALUES (?, ?, ?)",
                    [(tbase + i // tour_size + 1, base + i + 1, now) for i in range(users)])
    con.executemany("INSERT INTO location_consents (tour_id, user_id, sharing, updated_at) VALUES (?, ?, 1, ?)",
                    [(tbase + i // tour_size + 1, base + i + 1, now) for i in range(users)])
    con.executemany(
        "INSERT INTO locations (user_id, tour_id, lat, lon, accuracy, battery, at) VALUES (?, ?, ?, ?, 12, 80, ?)",
        [(base + i + 1, tbase + i // tour_size + 1, pos[i][0], pos[i][1], now) for i in range(users)])
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    log("safety: %d tourists on %d tours (%d inside the circle) inserted in %.1f s" % (
        users, ntours, area, time.monotonic() - t0))
    return ["t%06d" % i for i in range(area)], ntours, now


def call(sock, method, path, body=None, conn=None):
    conn = conn or UnixHTTP(sock)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    res = conn.getresponse()
    data = res.read()
    if res.status >= 300:
        raise RuntimeError("%s %s: %d %s" % (method, path, res.status, data[:300]))
    return json.loads(data)


def issue_tokens(sock, handles):
    local = threading.local()

    def one(h):
        if not hasattr(local, "conn"):
            local.conn = UnixHTTP(sock)
        return call(sock, "POST", "/v1/tokens", {"user": h, "label": "bench", "ttl_days": 0}, local.conn)["token"]

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        return list(ex.map(one, handles))


def queue_inapp(sock, conn):
    st = call(sock, "GET", "/v1/queue", conn=conn)
    row = next(c for c in st["channels"] if c["channel"] == "inapp")
    return sum(l["queued"] for l in row["lanes"]), row["in_flight"], row["delivered"]


class Watch:
    """First arrival per client of the pushes matching `match(event, data)`, after `t0`."""

    def __init__(self, name, n, match, t0):
        self.name, self.n, self.match, self.t0 = name, n, match, t0
        self.times = {}
        self.done = asyncio.Event()
        if n == 0:
            self.done.set()

    def offer(self, idx, t, event, data):
        if idx not in self.times and self.match(event, data):
            self.times[idx] = t
            if len(self.times) >= self.n:
                self.done.set()

    async def wait(self, timeout=WAIT):
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        ms = sorted((t - self.t0) * 1000 for t in self.times.values())
        return dict(clients=len(ms), of=self.n, p50_ms=statistics.median(ms) if ms else None,
                    max_ms=ms[-1] if ms else None)


class Crowd:
    """The online recipients: one WebSocket each (websockets, asyncio), every push offered to the
    open watches, every reply kept with its arrival time."""

    def __init__(self):
        self.conns = []
        self.watches = []
        self.replies = {}  # client index -> (time, frame)
        self.replied = asyncio.Event()
        self.expect_replies = 0
        self.closed = 0

    async def connect(self, port, tokens, parallel=200):
        import websockets
        sem = asyncio.Semaphore(parallel)

        async def one(tok):
            async with sem:
                return await websockets.connect("ws://127.0.0.1:%d/v1/ws?access_token=%s" % (port, tok), max_size=None,
                                                compression=None, ping_interval=None, open_timeout=60,
                                                close_timeout=5)

        self.conns = await asyncio.gather(*[one(t) for t in tokens])
        self.readers = [asyncio.get_running_loop().create_task(self._read(i, ws)) for i, ws in enumerate(self.conns)]

    async def _read(self, idx, ws):
        import websockets
        try:
            async for raw in ws:
                t = time.monotonic()
                frame = json.loads(raw)
                ev = frame.get("event")
                if ev in ("reply", "error"):
                    self.replies[idx] = (t, frame)
                    if len(self.replies) >= self.expect_replies:
                        self.replied.set()
                    continue
                for w in self.watches:
                    w.offer(idx, t, ev, frame.get("data") or {})
        except websockets.exceptions.ConnectionClosed:
            pass
        self.closed += 1

    def watch(self, name, match, t0):
        w = Watch(name, len(self.conns), match, t0)
        self.watches.append(w)
        return w

    async def answer_all(self, alert):
        """Every client sends alert.answer safe at once (no client waits for another); returns
        (first send time, reply times, error frames)."""
        self.replies = {}
        self.replied = asyncio.Event()
        self.expect_replies = len(self.conns)
        frame = json.dumps({"event": "alert.answer", "ref": 1, "data": {"id": alert, "answer": "safe"}})
        t0 = time.monotonic()
        await asyncio.gather(*[ws.send(frame) for ws in self.conns])
        try:
            await asyncio.wait_for(self.replied.wait(), WAIT)
        except asyncio.TimeoutError:
            pass
        errors = [f for _, f in self.replies.values() if f.get("event") != "reply"]
        return t0, [t for t, f in self.replies.values() if f.get("event") == "reply"], errors

    async def close(self):
        await asyncio.gather(*[ws.close() for ws in self.conns], return_exceptions=True)
        await asyncio.gather(*self.readers, return_exceptions=True)


async def cli(binary, sock, *args):
    """Runs the CLI; returns (seconds, exit status, stdout, stderr)."""
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(binary, "-s", sock, "-j", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return time.monotonic() - t0, proc.returncode, out.decode(), err.decode()


async def drained(sock, delivered_before, jobs, t0):
    """Polls queue.status (in a thread) until the in-app queue is empty and `jobs` more were
    delivered; returns seconds since t0, or None after WAIT."""
    conn = UnixHTTP(sock)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        queued, in_flight, delivered = await asyncio.to_thread(queue_inapp, sock, conn)
        if queued == 0 and in_flight == 0 and delivered - delivered_before >= jobs:
            return time.monotonic() - t0
        await asyncio.sleep(0.005)
    return None


class Usage:
    """CPU over a phase: tourbusd's, and other processes' user time on the two benchmark CPUs."""

    def __init__(self, daemon, cpus):
        self.daemon, self.cpus = daemon, cpus
        self.t0 = time.monotonic()
        self.d0 = daemon.cpu()
        self.du0 = _cpu_seconds(daemon.proc.pid, user_only=True)
        self.self0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        self.j0 = _user_jiffies(cpus)

    def end(self):
        tick = os.sysconf("SC_CLK_TCK")
        secs = time.monotonic() - self.t0
        ours = (_cpu_seconds(self.daemon.proc.pid, user_only=True) - self.du0 +
                resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime -
                self.self0)
        others = max(0.0, (_user_jiffies(self.cpus) - self.j0) / tick - ours) / secs
        return dict(daemon_cpu_seconds=self.daemon.cpu() - self.d0, others_cores=others, seconds=secs)


async def alert_round(crowd, d, sock, conn, binary_cli, area_handles, cpus, wait_quiet, log, n, problems):
    """One alert to the circle, then the roll-call of the online recipients; returns their figures."""
    online = len(crowd.conns)
    headline = "%s (round %d)" % (HEADLINE, n)
    a = dict(round=n, quiet_before=await asyncio.to_thread(wait_quiet, "safety alert, round %d" % n))
    a["rss_before_kib"] = d.rss()
    delivered0 = queue_inapp(sock, conn)[2]
    mark = d.mark()
    usage = Usage(d, cpus)
    t0 = time.monotonic()
    push = crowd.watch("alert", lambda ev, data: ev == "alert" and data.get("headline") == headline, t0)
    feed = crowd.watch("feed", lambda ev, data: ev == "notification" and headline in (data.get("title") or ""), t0)
    secs, rc, out, err = await cli(binary_cli, sock, "alert", "send", "--headline", headline, "--event", "Gas leak",
                                   "--instruction", "Move away from the Colosseum and follow your guide.",
                                   "--circle", "%s,%s %s" % (CENTER[0], CENTER[1], RADIUS_KM))
    if rc != 0:
        raise RuntimeError("tourbus alert send failed (exit %d): %s %s" % (rc, out, err))
    sent = json.loads(out)
    a.update(call_ms=secs * 1000, id=sent["id"], recipients=sent["recipients"], by_reason=sent.get("by_reason"),
             state_in_answer=sent.get("state"))
    if sent["recipients"] != len(area_handles):
        problems.append("round %d: alert.send answered %d recipients, %d are inside the circle" % (
            n, sent["recipients"], len(area_handles)))
    # In a thread: this loop must go on reading the clients' pushes meanwhile.
    line = await asyncio.to_thread(d.wait_for, r"safety\.alert_sent alert=%d .*after_ms=(\d+)" % sent["id"], mark)
    if line:
        a["sent_after_ms"] = int(line[2].group(1))
        a["sent_wall_ms"] = (line[0] - t0) * 1000
    else:
        problems.append("round %d: no safety.alert_sent line for alert %d within %d s" % (n, sent["id"], WAIT))
    created = await asyncio.to_thread(d.wait_for, r"safety\.alert_created alert=%d " % sent["id"], mark, 1)
    a["created_wall_ms"] = (created[0] - t0) * 1000 if created else None
    batches = [l for l in d.since(mark) if re.search(r"safety\.alert_batch alert=%d " % sent["id"], l)]
    a["batches"] = len(batches)
    a["jobs"] = sum(int(re.search(r"jobs=(\d+)", l).group(1)) for l in batches)
    a["batch_users"] = sum(int(re.search(r"users=(\d+)", l).group(1)) for l in batches)
    a["push"] = await push.wait()
    a["feed"] = await feed.wait()
    crowd.watches = []
    ms = await drained(sock, delivered0, a["jobs"], t0)
    a["drained_ms"] = ms * 1000 if ms is not None else None
    a.update(usage.end())
    a["rss_after_kib"] = d.rss()
    for k, w in (("push", "alert push"), ("feed", "in-app notification of the alert")):
        if a[k]["clients"] < online:
            problems.append("round %d: %d of %d online recipients got the %s within %d s" % (
                n, a[k]["clients"], online, w, WAIT))
    if a["jobs"] != len(area_handles) or a["batch_users"] != len(area_handles):
        problems.append("round %d: the alert's batches logged %d users and %d jobs for %d recipients" % (
            n, a["batch_users"], a["jobs"], len(area_handles)))
    log("safety alert, round %d: call %.0f ms, every job queued after_ms=%s (wall %.0f ms), online: alert push "
        "max %.0f ms, feed max %.0f ms; tourbusd CPU %.2f s, others %.2f cores" % (
            n, a["call_ms"], a.get("sent_after_ms"), a.get("sent_wall_ms") or -1, a["push"]["max_ms"] or -1,
            a["feed"]["max_ms"] or -1, a["daemon_cpu_seconds"], a["others_cores"]))

    # The roll-call: every online recipient answers at once.
    mark = d.mark()
    usage = Usage(d, cpus)
    first, replies, errors = await crowd.answer_all(sent["id"])
    rc_ = dict(round=n, answers=len(replies), errors=len(errors), sent=online)
    if replies:
        rc_["seconds"] = max(replies) - first
        rc_["answers_per_second"] = len(replies) / rc_["seconds"]
        rc_["reply_p50_ms"] = statistics.median(sorted((t - first) * 1000 for t in replies))
    rc_.update(usage.end())
    if errors:
        problems.append("round %d: %d alert.answer errors, e.g. %s" % (n, len(errors), json.dumps(errors[0])[:300]))
    if len(replies) + len(errors) < online:
        problems.append("round %d: %d of %d alert.answer got no reply within %d s" % (
            n, online - len(replies) - len(errors), online, WAIT))
    secs, rc, out, err = await cli(binary_cli, sock, "alert", "status", str(sent["id"]))
    if rc != 0:
        problems.append("round %d: tourbus alert status failed (exit %d): %s" % (n, rc, err.strip()))
    else:
        st = json.loads(out)
        rc_["status"] = {k: st.get(k) for k in ("recipients", "safe", "need_help", "no_answer", "answered_percent", "state")}
        want = dict(recipients=len(area_handles), safe=online, need_help=0, no_answer=len(area_handles) - online)
        for k, v in want.items():
            if st.get(k) != v:
                problems.append("round %d: alert status %s = %s, expected %s" % (n, k, st.get(k), v))
        people = {p["user"] for p in st.get("people", [])}
        if people != set(area_handles):
            problems.append("round %d: alert status lists %d people, %d of them not among the %d inside the circle" % (
                n, len(people), len(people - set(area_handles)), len(area_handles)))
        rc_["status_call_ms"] = secs * 1000
    rc_["answered_lines"] = sum(1 for l in d.since(mark) if "safety.answered alert=%d " % sent["id"] in l)
    if rc_["answered_lines"] != len(replies):
        problems.append("round %d: %d safety.answered lines for %d replies" % (n, rc_["answered_lines"], len(replies)))
    rc_["rss_after_kib"] = d.rss()
    log("safety roll-call, round %d: %d answers in %.3f s, %.0f answers/s; status %s" % (
        n, len(replies), rc_.get("seconds", 0), rc_.get("answers_per_second", 0), rc_.get("status")))
    return a, rc_


async def peer_round(crowd, d, sock, conn, binary_cli, area_handles, cpus, wait_quiet, log, n, problems):
    """The peer: notify.send of an emergency to the same people, timed the same way."""
    online = len(crowd.conns)
    subject = "%s (round %d)" % (PEER_SUBJECT, n)
    p = dict(round=n, quiet_before=await asyncio.to_thread(wait_quiet, "safety peer, round %d" % n))
    delivered0 = queue_inapp(sock, conn)[2]
    mark = d.mark()
    usage = Usage(d, cpus)
    t0 = time.monotonic()
    feed = crowd.watch("peer", lambda ev, data: ev == "notification" and (data.get("title") or "") == subject, t0)
    secs, rc, out, err = await cli(binary_cli, sock, "notify", "send", "--to", ",".join(area_handles), "--category",
                                   "emergency", "--subject", subject, "--text",
                                   "Move away from the Colosseum and follow your guide.")
    if rc != 0:
        raise RuntimeError("tourbus notify send failed (exit %d): %s %s" % (rc, out[:300], err[:300]))
    res = json.loads(out)
    p.update(call_ms=secs * 1000, jobs=len(res["jobs"]))
    # notify.send logs notify.enqueued after its transaction committed, before it answers (an answer
    # listing every job, which the CLI then reads and prints: the call's end comes later).
    line = await asyncio.to_thread(d.wait_for, r"notify\.enqueued notification=%s jobs=(\d+)" % res["notification"], mark)
    if line:
        p["queued_wall_ms"] = (line[0] - t0) * 1000
    else:
        problems.append("round %d: no notify.enqueued line for notification %s" % (n, res["notification"]))
    p["feed"] = await feed.wait()
    crowd.watches = []
    ms = await drained(sock, delivered0, p["jobs"], t0)
    p["drained_ms"] = ms * 1000 if ms is not None else None
    p.update(usage.end())
    p["rss_after_kib"] = d.rss()
    if p["jobs"] != len(area_handles):
        problems.append("round %d: notify.send queued %d jobs for %d people" % (n, p["jobs"], len(area_handles)))
    if p["feed"]["clients"] < online:
        problems.append("round %d: %d of %d online recipients got the peer's notification within %d s" % (
            n, p["feed"]["clients"], online, WAIT))
    log("safety peer, round %d: notify.send %d jobs, queued after %.0f ms (call %.0f ms), online feed max %.0f ms; "
        "tourbusd CPU %.2f s, others %.2f cores" % (n, p["jobs"], p.get("queued_wall_ms") or -1, p["call_ms"],
                                                    p["feed"]["max_ms"] or -1, p["daemon_cpu_seconds"], p["others_cores"]))
    return p


async def measure(d, sock, binary_cli, area_handles, tokens, server_cpu, client_cpu, wait_quiet, log, rounds, r):
    crowd = Crowd()
    cpus = (server_cpu, client_cpu)
    t = time.monotonic()
    await crowd.connect(d.port, tokens)
    r["connect_seconds"] = time.monotonic() - t
    log("safety: %d recipients online over /v1/ws in %.1f s" % (len(tokens), r["connect_seconds"]))
    await asyncio.sleep(1)
    # What the CLI itself costs (start, connect, one small call), to read the call latencies by.
    overhead = []
    for _ in range(5):
        s, rc, out, err = await cli(binary_cli, sock, "alert", "list", "--limit", "1")
        overhead.append(s)
    r["cli_overhead_ms"] = statistics.median(overhead) * 1000
    conn = UnixHTTP(sock)
    r["alerts"], r["rollcalls"], r["peers"] = [], [], []
    # The alert and its peer take turns, `rounds` times over (this machine's speed drifts): each
    # keeps its best round.
    for n in range(1, rounds + 1):
        a, rc_ = await alert_round(crowd, d, sock, conn, binary_cli, area_handles, cpus, wait_quiet, log, n,
                                   r["problems"])
        r["alerts"].append(a)
        r["rollcalls"].append(rc_)
        r["peers"].append(await peer_round(crowd, d, sock, conn, binary_cli, area_handles, cpus, wait_quiet, log, n,
                                           r["problems"]))
    big = float("inf")
    r["alert"] = min(r["alerts"], key=lambda a: a.get("sent_wall_ms") or big)
    r["peer"] = min(r["peers"], key=lambda p: p.get("queued_wall_ms") or big)
    r["rollcall"] = max(r["rollcalls"], key=lambda x: x.get("answers_per_second") or 0)
    r["rss_before_alert_kib"] = r["alerts"][0]["rss_before_kib"]
    r["rss_after_alert_kib"] = r["alerts"][0]["rss_after_kib"]
    r["rss_after_rollcall_kib"] = r["rollcalls"][0]["rss_after_kib"]
    r["rss_after_peer_kib"] = r["peers"][0]["rss_after_kib"]
    r["closed_during_run"] = crowd.closed
    await crowd.close()


def run(build, users, area, online, server_cpu, client_cpu, wait_quiet, log, rounds=3, tour_size=TOUR_SIZE,
        tourbusd=None, cli_binary=None):
    """The whole scenario in a temp directory; returns the results (a dict, JSON-ready)."""
    tourbusd = tourbusd or os.path.join(build, "daemon", "tourbusd")
    cli_binary = cli_binary or os.path.join(build, "cmd", "tourbus")
    preload = os.path.join(build, "bench", "cubic_preload.so")
    online = min(online, area)
    r = dict(users=users, area=area, online=online, radius_km=RADIUS_KM, center=list(CENTER), tour_size=tour_size,
             rounds=rounds, problems=[], tourbusd_built=datetime.datetime.fromtimestamp(
                 os.path.getmtime(tourbusd), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    work = tempfile.mkdtemp(prefix="tourbus-safety-")
    state = os.path.join(work, "state")
    config = write_config(work, state)
    affinity = os.sched_getaffinity(0)
    d = None
    try:
        # The schema, by the daemon itself; then the people, straight into SQLite.
        Daemon(tourbusd, config, server_cpu, preload).stop()
        handles, ntours, _ = prepare(os.path.join(state, "tourbus.db"), users, area, tour_size, log)
        r["tours"] = ntours
        r["guides"] = ntours
        t = time.monotonic()
        d = Daemon(tourbusd, config, server_cpu, preload)
        r["start_seconds"] = time.monotonic() - t
        r["rss_started_kib"] = d.rss()
        sock = os.path.join(state, "tourbusd.sock")
        step = max(1, area // online)
        online_handles = handles[::step][:online]
        t = time.monotonic()
        tokens = issue_tokens(sock, online_handles)
        log("safety: %d tokens issued in %.1f s" % (len(tokens), time.monotonic() - t))
        os.sched_setaffinity(0, {int(client_cpu)})  # this process is the clients: the other CPU
        _raise_nofile()
        asyncio.run(measure(d, sock, cli_binary, handles, tokens, server_cpu, client_cpu, wait_quiet, log, rounds, r))
        r["rss_end_kib"] = d.rss()
        r["warnings"] = [l for l in d.since(0) if (" warn " in l or " error " in l) and "safety.alert_created" not in l][:20]
    finally:
        os.sched_setaffinity(0, affinity)
        if d:
            d.stop()
        shutil.rmtree(work, ignore_errors=True)
    for p in r["problems"]:
        log("safety: PROBLEM: " + p)
    return r


# --- the section of BENCHMARKS.md ---------------------------------------------------------------

def _n(x, digits=0):
    return ("{:,.%df}" % digits).format(x) if x is not None else "–"


def _ms(x):
    return "%s ms" % _n(x, 1 if x is not None and x < 100 else 0) if x is not None else "–"


def _ratio(a, b):
    return "%.2f×" % (a / b) if a and b else "–"


def _met(x, goal):
    return "–" if x is None else ("yes" if x < goal else "**no**")


def render(s):
    a, rc, p = s["alert"], s["rollcall"], s["peer"]
    phases = s.get("alerts", [a]) + s.get("peers", [p]) + s.get("rollcalls", [rc])
    out = []
    w = out.append
    w("## Safety alerts\n")
    if s.get("run"):
        m = s["run"]
        w("*From a run of its own, not the run above: `%s` on %s, commit `%s`, on the same machine (%s, %d cores; "
          "%.0f s; tourbusd built %s). Other builds may run beside it on this machine: the harness waits (at most 5 "
          "minutes) for the two CPUs to be quiet before each alert and each peer, and measures the CPU others used "
          "during each phase: at most %.2f cores in this run. The other sections were not re-run.*\n" % (
              m["command"], m["date"], m["commit"], m["cpu"], m["cores"], s.get("seconds", 0), s.get("tourbusd_built"),
              max(x["others_cores"] for x in phases)))
    w("`bench/safety.py`, against tourbusd on loopback, pinned to CPU 0 (its event loop, SQLite writer and "
      "notification workers share it); the clients (Python `websockets`, one asyncio loop, timing each frame as "
      "it reads it) and the CLI on CPU 1. The store, on disk with `synchronous = full`, holds %s tourists on %s "
      "tours running now (%s each, a guide each), every tourist sharing their position with their tour and with "
      "a last position recorded just before the run: %s inside a circle of %g km around the Colosseum "
      "(%.4f,%.4f), the others elsewhere in Rome (2.5-15 km out, a tenth of them) or over Europe; languages "
      "mixed (en, es, fr, de, it, pt). Only the in-app channel is configured (the default). %s of the people in "
      "the circle (every %s by id) are online over `/v1/ws`. The alert is `tourbus alert send --headline ... "
      "--circle \"%.4f,%.4f %g\"`, timed from just before the CLI starts (a CLI call alone, start, connect and a "
      "small request, takes %s); the escalation ladder is set out of the way (`alert.escalate_after_seconds = "
      "86400`) so that no rung fires during the run.\n" % (
          _n(s["users"]), _n(s["tours"]), _n(s["tour_size"]), _n(s["area"]), s["radius_km"], s["center"][0],
          s["center"][1], _n(s["online"]), _ordinal(max(1, s["area"] // max(1, s["online"]))), s["center"][0],
          s["center"][1], s["radius_km"], _ms(s["cli_overhead_ms"])))
    if s.get("rounds", 1) > 1:
        w("The alert (a new one to the same circle each time, with its roll-call) and its peer take turns, %d rounds "
          "over, since this machine's speed drifts from one minute to the next: each keeps its best round (the "
          "alert and the peer the one whose jobs were all queued soonest, the roll-call the most answers per "
          "second), and every round is listed under the tables.\n" % s["rounds"])
    w("| alert to %s recipients by area | measured | goal | met |" % _n(a["recipients"]))
    w("|---|---|---|---|")
    w("| `alert.send` answered (the alert and its %s recipient rows committed), CLI call | %s | | |" % (
        _n(a["recipients"]), _ms(a["call_ms"])))
    w("| every job queued: `safety.alert_sent after_ms` (counted from the alert's creation; %d batches of "
      "`alert.batch_size` %s) | %s | < 200 ms | %s |" % (
          a["batches"], _n(-(-a["recipients"] // max(1, a["batches"]))), _ms(a.get("sent_after_ms")),
          _met(a.get("sent_after_ms"), 200)))
    w("| every job queued: wall time from before the CLI call to that log line | %s | < 200 ms | %s |" % (
        _ms(a.get("sent_wall_ms")), _met(a.get("sent_wall_ms"), 200)))
    w("| every online recipient has the `alert` push (%s of %s): median / last | %s / %s | < 1 s | %s |" % (
        _n(a["push"]["clients"]), _n(a["push"]["of"]), _ms(a["push"]["p50_ms"]), _ms(a["push"]["max_ms"]),
        _met(a["push"]["max_ms"], 1000)))
    w("| every online recipient has it in the in-app feed (`notification` push): median / last | %s / %s | | |" % (
        _ms(a["feed"]["p50_ms"]), _ms(a["feed"]["max_ms"])))
    w("| in-app queue drained (all %s feed rows stored) | %s | | |" % (_n(a["jobs"]), _ms(a["drained_ms"])))
    w("| tourbusd CPU time, from the call until drained | %.2f s | | |\n" % a["daemon_cpu_seconds"])
    w("**Roll-call.** Every online recipient sends `alert.answer {id, answer: \"safe\"}` at the same moment "
      "(all %s frames written before any reply is read); answers recorded per second from the first send to the "
      "last reply (a reply comes after its answer is committed).\n" % _n(rc["sent"]))
    st = rc.get("status") or {}
    w("| answers | seconds | answers/s | median reply | `tourbus alert status --json` afterwards |")
    w("|---|---|---|---|---|")
    w("| %s | %.3f | **%s** | %s | %s recipients, %s safe, %s need help, %s not answered%s |\n" % (
        _n(rc["answers"]), rc.get("seconds", 0), _n(rc.get("answers_per_second")), _ms(rc.get("reply_p50_ms")),
        _n(st.get("recipients")), _n(st.get("safe")), _n(st.get("need_help")), _n(st.get("no_answer")),
        " (as expected)" if not [x for x in s["problems"] if "alert status" in x] else ""))
    w("**Peer.** The same %s people as a plain emergency notification: `tourbus notify send --to HANDLES "
      "--category emergency` (notify.send commits every job in one transaction, logs `notify.enqueued`, then "
      "answers with the list of the jobs, which the CLI reads and prints), timed the same way. Ratios are "
      "alert ÷ peer: times, so above 1 the alert is slower.\n" % _n(p["jobs"]))
    w("| | alert (`alert.send`, by area) | peer (`notify.send`, %s handles) | alert ÷ peer |" % _n(p["jobs"]))
    w("|---|---|---|---|")
    w("| the call answered (CLI) | %s | %s | %s |" % (_ms(a["call_ms"]), _ms(p["call_ms"]), _ratio(a["call_ms"], p["call_ms"])))
    w("| every in-app job queued: wall time to the log line (`safety.alert_sent`, `notify.enqueued`) | %s | %s | **%s** |" % (
        _ms(a.get("sent_wall_ms")), _ms(p.get("queued_wall_ms")), _ratio(a.get("sent_wall_ms"), p.get("queued_wall_ms"))))
    w("| every online recipient has it (the alert's `alert` push, the peer's `notification`): last | %s | %s | **%s** |" % (
        _ms(a["push"]["max_ms"]), _ms(p["feed"]["max_ms"]), _ratio(a["push"]["max_ms"], p["feed"]["max_ms"])))
    w("| the same: median | %s | %s | %s |" % (
        _ms(a["push"]["p50_ms"]), _ms(p["feed"]["p50_ms"]), _ratio(a["push"]["p50_ms"], p["feed"]["p50_ms"])))
    w("| every online recipient has the `notification` (feed) push: last | %s | %s | %s |" % (
        _ms(a["feed"]["max_ms"]), _ms(p["feed"]["max_ms"]), _ratio(a["feed"]["max_ms"], p["feed"]["max_ms"])))
    w("| in-app queue drained | %s | %s | %s |" % (_ms(a["drained_ms"]), _ms(p["drained_ms"]),
                                                  _ratio(a["drained_ms"], p["drained_ms"])))
    w("| tourbusd CPU time, until drained | %.2f s | %.2f s | %s |" % (
        a["daemon_cpu_seconds"], p["daemon_cpu_seconds"], _ratio(a["daemon_cpu_seconds"], p["daemon_cpu_seconds"])))
    w("| other processes' user CPU on the two cores meanwhile | %.2f cores | %.2f cores | |\n" % (
        a["others_cores"], p["others_cores"]))
    if len(s.get("alerts", [])) > 1:
        w("Every round (alert: every job queued / last online `alert` push / tourbusd CPU; peer: every job queued / "
          "last online `notification` / tourbusd CPU; roll-call: answers/s; in brackets other processes' user CPU "
          "on the two cores, in cores):\n")
        for x, y, z in zip(s["alerts"], s["peers"], s["rollcalls"]):
            w("- round %d: alert %s / %s / %.2f s (%.2f); peer %s / %s / %.2f s (%.2f); roll-call %s answers/s (%.2f)" % (
                x["round"], _ms(x.get("sent_wall_ms")), _ms(x["push"]["max_ms"]), x["daemon_cpu_seconds"],
                x["others_cores"], _ms(y.get("queued_wall_ms")), _ms(y["feed"]["max_ms"]), y["daemon_cpu_seconds"],
                y["others_cores"], _n(z.get("answers_per_second")), z["others_cores"]))
        w("")
    w("tourbusd's memory (VmRSS): %.1f MiB after start with the store, %.1f MiB with the %s clients connected "
      "(before the first alert), %.1f MiB after it was sent and drained, %.1f MiB after its roll-call (and "
      "`alert status`), %.1f MiB after its peer; %.1f MiB at the end.\n" % (
          s["rss_started_kib"] / 1024, s["rss_before_alert_kib"] / 1024, _n(s["online"]), s["rss_after_alert_kib"] / 1024,
          s["rss_after_rollcall_kib"] / 1024, s["rss_after_peer_kib"] / 1024, s["rss_end_kib"] / 1024))
    if s["problems"]:
        w("**Seen wrong in this run:** " + "; ".join(s["problems"]) + ".\n")
    return "\n".join(out)


def _ordinal(n):
    return {1: "one", 2: "second", 3: "third"}.get(n, "%dth" % n)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import bench  # wait_quiet, log, the build directory
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100000, help="tourists with a last position (default 100,000)")
    ap.add_argument("--area", type=int, default=10000, help="of them inside the circle (default 10,000)")
    ap.add_argument("--online", type=int, default=1000, help="of those, connected over /v1/ws (default 1,000)")
    ap.add_argument("--rounds", type=int, default=3, help="the alert and the peer take turns this many times (default 3)")
    ap.add_argument("--tour-size", type=int, default=TOUR_SIZE, help="participants per tour (default %d)" % TOUR_SIZE)
    ap.add_argument("--tourbusd", help="the daemon (default BUILD/daemon/tourbusd)")
    ap.add_argument("--cli", help="the CLI (default BUILD/cmd/tourbus)")
    ap.add_argument("--markdown", help="also write the section of BENCHMARKS.md to this file")
    args = ap.parse_args()
    t0 = time.monotonic()
    r = run(bench.BUILD, args.users, args.area, args.online, bench.SERVER_CPU, bench.LOADGEN_CPU, bench.wait_quiet,
            bench.log, args.rounds, args.tour_size, args.tourbusd, args.cli)
    r["seconds"] = time.monotonic() - t0
    env = "TOURBUS_BENCH_BUILD=%s " % os.environ["TOURBUS_BENCH_BUILD"] if os.environ.get("TOURBUS_BENCH_BUILD") else ""
    r["run"] = bench.machine((env + "bench/safety.py " + " ".join(sys.argv[1:])).strip())
    print(json.dumps(r), flush=True)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(render(r) + "\n")


if __name__ == "__main__":
    main()
