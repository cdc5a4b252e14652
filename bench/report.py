"""BENCHMARKS.md from the results of bench/bench.py: a table per scenario, ratios, targets."""

import os

NAMES = {"tourbus": "tourbus (WebSocket)", "baseline": "tourbus at the baseline commit (--baseline)",
         "tourbus-socketio": "tourbus (Socket.IO)", "tourbus-socketio-norecovery": "tourbus (Socket.IO, recovery off)",
         "ws": "ws (Node)", "socketio": "socket.io (Node)",
         "ceiling-send": "raw ceiling, one send per delivery", "ceiling-coalesce": "raw ceiling, coalesced writes"}
SIO = "tourbus-socketio"
SIO_NOTE = ("*tourbus (Socket.IO)* is the same tourbusd over its Socket.IO endpoint (`/socket.io/`, Engine.IO 4 "
            "over WebSocket, the token in the CONNECT packet, every `message.send` an event with an ack, every "
            "push `42[\"message\",...]`), with connection state recovery **on** (`socketio.recovery_seconds = "
            "120`, the default: every message push carries its offset and the CONNECT answer a pid) and the "
            "default Engine.IO pings (25 s, answered by the generator).")


def sio_ratios(table, value, lower_is_better=False):
    """The line under a table: tourbus Socket.IO ÷ tourbus WebSocket and ÷ the socket.io peer."""
    sio, ws, peer = value(table.get(SIO)), value(table.get("tourbus")), value(table.get("socketio"))
    if not sio:
        return ""
    parts = []
    if ws:
        parts.append("tourbus (Socket.IO) ÷ tourbus (WebSocket): **%.2f**" % (sio / ws))
    if peer:
        parts.append("tourbus (Socket.IO) ÷ socket.io (Node): **%.2f**" % (sio / peer))
    return "; ".join(parts) + (" (lower is better)" if lower_is_better else "") + ".\n"


def ratio(a, b):
    return "%.2f×" % (a / b) if a and b else "–"


def fmt(x, digits=0):
    return ("{:,.%df}" % digits).format(x) if x is not None else "–"


def rounds(v):
    """A fan-out server's every round: its maximum, and others' CPU meanwhile where measured."""
    best = v.get("rounds", [v["summary"]["max_deliveries_per_second"]])
    others = v.get("others_rounds")
    if not others:
        return ", ".join(fmt(x) for x in best)
    return ", ".join("%s (%.2f)" % (fmt(x), o) for x, o in zip(best, others))


def render(r, command):
    m = r["machine"]
    out = []
    w = out.append
    w("# tourbus benchmarks\n")
    w("Produced by `%s`%s on %s. Every number below comes from this one run.\n" % (
        command, " (**quick sizes: a smoke run, not a measurement**)" if r.get("quick") else "", m["date"]))
    w("| | |\n|---|---|")
    w("| machine | %s, %d cores, Linux %s |" % (m["cpu"], m["cores"], m["kernel"]))
    w("| commit | `%s` |" % m["commit"])
    w("| peers | Node %s: ws and socket.io as pinned in bench/peers/package-lock.json |" % m["node"])
    w("| pinning | each server on CPU 0 (`taskset -c 0`), the load generator on CPU 1 |")
    w("| TCP | loopback (127.0.0.1-8 → 127.0.0.1), congestion control **cubic** on every socket (generator and "
      "ceiling by setsockopt, tourbusd and the Node peers by the LD_PRELOAD shim bench/cubic_preload.so), TCP_NODELAY |")
    w("| tourbusd | release build (`-O2`), log level info, store on disk with `synchronous = full` unless said |")
    w("| duration | %.0f s for the whole run |\n" % r.get("seconds", 0))
    w("To reproduce: `%s` from a clean clone (it installs and builds what it needs); `bench/run --quick` "
      "for a smoke run. bench/README.md explains each scenario.\n" % command)

    targets = []
    f = r.get("fanout")
    if f:
        t = f["tourbus"]["summary"]["max_deliveries_per_second"]
        s = r["sizes"]
        w("## Fan-out\n")
        w("%d groups of %d members, every connection a member that publishes; the total rate is stepped up "
          "(×%.1f, %.0f s a step) until the server saturates (fewer than 90%% of the offered deliveries arrive "
          "within the step, or they do not all arrive within 5 s after it). A delivery is one member receiving "
          "one message, the sender included; latency is send → receive, measured by the generator's own clock. "
          "The servers take turns, %d round(s) over: each keeps its best round (its figures below), and every "
          "round's maximum is listed, since this machine's speed drifts from one minute to the next.\n"
          % (s["groups"], s["members"], s["factor"], s["step_seconds"], s.get("fanout_rounds", 1)))
        if SIO in f:
            w(SIO_NOTE + " The p50/p99/p99.9 are each server's own, at half of its own maximum.\n")
        ts = f.get(SIO, {}).get("summary", {}).get("max_deliveries_per_second")
        equal_label = fmt(s.get("equal_rate", 0) * s["members"])
        w("| server | max deliveries/s | tourbus (WebSocket) ÷ this | tourbus (Socket.IO) ÷ this | p50 at half rate | "
          "p99 at half rate | p99.9 at half rate | server CPU per delivery at %s/s | server CPU s | every round |" % equal_label)
        w("|---|---|---|---|---|---|---|---|---|---|")
        for k, v in f.items():
            sm = v["summary"]
            us = sm.get("equal_server_us_per_delivery", -1)
            w("| %s | %s | %s | %s | %.2f ms | %.2f ms | %.2f ms | %s | %.1f | %s |" % (
                NAMES[k], fmt(sm["max_deliveries_per_second"]), ratio(t, sm["max_deliveries_per_second"]) if k != "tourbus" else "",
                ratio(ts, sm["max_deliveries_per_second"]) if k != SIO else "",
                sm["half_p50_ms"], sm["half_p99_ms"], sm["half_p999_ms"],
                ("%.2f µs" % us + (" (sat.)" if sm.get("equal_saturated") else "")) if us >= 0 else "–",
                v["server_cpu_seconds"], rounds(v)))
        w("")
        if any("others_rounds" in v for v in f.values()):
            w("In brackets after each round: other processes' user CPU on the two benchmark cores during it, in "
              "cores (anything else running on the machine, which the harness waits out before each turn but "
              "cannot keep away once it has begun).\n")
        w(sio_ratios(f, lambda v: v and v["summary"]["max_deliveries_per_second"]))
        cpu = lambda k: f.get(k, {}).get("summary", {}).get("equal_server_us_per_delivery", -1)
        if cpu(SIO) > 0 and cpu("tourbus") > 0:
            w("Server CPU per delivery: every server's last step offers the same %s deliveries/s; its CPU time (all "
              "threads, from the step's first send until its last delivery) over its deliveries. tourbus "
              "(Socket.IO) ÷ tourbus (WebSocket): **%.2f**%s.\n" % (equal_label,
                  cpu(SIO) / cpu("tourbus"),
                  "; recovery off ÷ WebSocket %.2f" % (cpu("tourbus-socketio-norecovery") / cpu("tourbus"))
                  if cpu("tourbus-socketio-norecovery") > 0 else ""))
        if SIO in f and "tourbus-socketio-norecovery" in f:
            off = f["tourbus-socketio-norecovery"]["summary"]["max_deliveries_per_second"]
            w("Recovery on ÷ recovery off: **%.2f** (what the offsets on every push cost, within this machine's "
              "drift).\n" % (ts / off))
        w("\nSteps (offered messages/s → deliveries/s, p99):\n")
        for k, v in f.items():
            steps = ", ".join("%s→%s (%.1f ms)%s" % (fmt(x["offered_msgs_per_second"]), fmt(x["deliveries_per_second"]),
                                                     x["p99_ms"], " sat." if x["saturated"] else "")
                              for x in v["steps"] if x["label"] == "step")
            w("- %s: %s" % (NAMES[k], steps))
        w("")
        get = lambda k: f.get(k, {}).get("summary", {}).get("max_deliveries_per_second")
        targets.append(("fan-out ≥ 5× socket.io", t / get("socketio") if get("socketio") else 0, 5))
        targets.append(("fan-out ≥ 2× ws", t / get("ws") if get("ws") else 0, 2))
        targets.append(("fan-out ≥ 60% of the coalescing ceiling", t / get("ceiling-coalesce") if get("ceiling-coalesce") else 0, 0.6))
        half = f["tourbus"]["summary"]["half_p99_ms"]
        targets.append(("p99 at half saturation ≤ 5 ms", half, 5, True))
        if ts:
            targets.append(("Socket.IO framing costs ≤ 15%: tourbus Socket.IO fan-out ≥ 0.85× tourbus WebSocket's",
                            ts / t, 0.85))
            targets.append(("tourbus Socket.IO fan-out ≥ 3× socket.io (Node)", ts / get("socketio") if get("socketio") else 0, 3))

    i = r.get("idle")
    if i:
        w("## Idle connections\n")
        w("Open connections held by one server: resident memory (VmRSS) after they are all open, less before, "
          "per connection; and how fast the generator could open them (upgrade included; tourbus checks a token "
          "on each).\n")
        if SIO in i:
            w("tourbus (Socket.IO) connections have joined the namespace (token checked, pid issued: recovery "
              "on, the default) before they count as open.\n")
        w("| server | connections | bytes per connection | tourbus (WebSocket) ÷ this | tourbus (Socket.IO) ÷ this | "
          "connects/s |")
        w("|---|---|---|---|---|---|")
        t = i["tourbus"]["per_conn_bytes"]
        ts = i.get(SIO, {}).get("per_conn_bytes")
        for k, v in i.items():
            w("| %s | %s | %s | %s | %s | %s |" % (NAMES[k], fmt(v["connections"]), fmt(v["per_conn_bytes"]),
                                                ratio(t, v["per_conn_bytes"]) if k != "tourbus" else "",
                                                ratio(ts, v["per_conn_bytes"]) if k != SIO else "",
                                                fmt(v["connects_per_second"])))
        w("")
        w(sio_ratios(i, lambda v: v and v["per_conn_bytes"], lower_is_better=True))
        if "ws" in i:
            targets.append(("memory per idle connection below ws's", t / i["ws"]["per_conn_bytes"], 1, True))
        targets.append(("memory per idle connection ≤ 4 KiB", t, 4096, True))

    d = r.get("durable")
    if d:
        w("## Durable 1:1\n")
        w("%d pairs in direct conversations, every connection keeping %d messages unacknowledged: a message "
          "counts when its sender has the reply, which tourbusd sends only after the message is committed. "
          "*durable*: the database on disk, `store.synchronous = full` (fsync on every commit, group commit). "
          "*persistence off*: the same database on tmpfs (RAM) with `synchronous = normal`: no disk at all.\n"
          % (r["sizes"]["pairs"], d["durable"]["window"]))
        w("| store | acknowledged messages/s | ack p50 | ack p99 | ack p99.9 | delivery p99 |")
        w("|---|---|---|---|---|---|")
        for k, label in (("durable", "durable (disk, fsync)"), ("memory", "persistence off (tmpfs)"),
                         ("postgres", "PostgreSQL 15 (disk, fsync, same machine)")):
            if k not in d:
                continue
            v = d[k]
            w("| %s | %s | %.2f ms | %.2f ms | %.2f ms | %.2f ms |" % (label, fmt(v["acked_per_second"]), v["ack_p50_ms"],
                                                                    v["ack_p99_ms"], v["ack_p999_ms"], v["delivery_p99_ms"]))
        rr = d["durable"]["acked_per_second"] / d["memory"]["acked_per_second"]
        w("\nDurable ÷ persistence off: **%.2f**.\n" % rr)
        if "postgres" in d:
            pr = d["postgres"]["acked_per_second"] / d["durable"]["acked_per_second"]
            w("*PostgreSQL*: the same database moved by `tourbus migrate-store` into a PostgreSQL 15 server on "
              "loopback (a fresh cluster with default settings, fsync on, `synchronous_commit = on`), tourbusd "
              "pinned to one core as above and PostgreSQL unpinned, so it shares the other core with the load "
              "generator. Each group commit is one transaction over TCP instead of a SQLite commit in the "
              "process: this is the store's cost per message, the figure to size a cluster's database by "
              "(docs/scaling.md).\n")
            w("PostgreSQL ÷ SQLite (durable): **%.2f**.\n" % pr)
        targets.append(("durable ≥ half of persistence off", rr, 0.5))

    if r.get("cluster"):  # beside the store on PostgreSQL: the nodes share one
        from bench import load_module  # bench/cluster.py by its path (tests/integration has a cluster.py too)
        w(load_module("cluster").render(r["cluster"]))

    b = r.get("burst")
    if b:
        w("## Burst\n")
        w("One message to a group of %s members, all connected: time from the send until the last member has "
          "it (median and worst of %d, after one warm-up), and the median member's wait.\n"
          % (fmt(b["tourbus"]["members"]), b["tourbus"]["repeats"]))
        w("| server | last member (median) | last member (worst) | median member | tourbus (WebSocket) ÷ this (time) | "
          "tourbus (Socket.IO) ÷ this (time) |")
        w("|---|---|---|---|---|---|")
        t = b["tourbus"]["last_member_ms_median"]
        ts = b.get(SIO, {}).get("last_member_ms_median")
        for k, v in b.items():
            w("| %s | %.2f ms | %.2f ms | %.2f ms | %s | %s |" % (
                NAMES[k], v["last_member_ms_median"], v["last_member_ms_max"], v["member_p50_ms_median"],
                ratio(t, v["last_member_ms_median"]) if k != "tourbus" else "",
                ratio(ts, v["last_member_ms_median"]) if k != SIO else ""))
        w("")
        w(sio_ratios(b, lambda v: v and v["last_member_ms_median"], lower_is_better=True))

    q = r.get("queue")
    if q:
        w("## Notification queue\n")
        w("One `notify.send` to %s users on one channel: *committed* is jobs written to the outbox (one "
          "transaction) per second of the call; *delivered* is jobs per second from the call until none is "
          "queued or in flight. `inapp` stores feed rows; `webhook` makes a signed HTTP POST per job to the "
          "generator's C++ sink on loopback (keep-alive, the default 4 workers).\n" % fmt(q["inapp"]["jobs"]))
        w("| channel | jobs | committed jobs/s | delivered jobs/s |")
        w("|---|---|---|---|")
        for k in ("inapp", "webhook"):
            v = q[k]
            w("| %s | %s | %s | %s |" % (k, fmt(v["jobs"]), fmt(v["committed_per_second"]), fmt(v["delivered_per_second"])))
        w("")
        targets.append(("outbox ≥ 20,000 jobs/s to a local sink: in-app feed, delivered", q["inapp"]["delivered_per_second"], 20000))
        targets.append(("outbox ≥ 20,000 jobs/s to a local sink: webhook over HTTP, delivered",
                        q["webhook"]["delivered_per_second"], 20000))

    if r.get("schedule"):
        import schedule
        w(schedule.render(r["schedule"]))

    if r.get("safety"):
        import safety
        w(safety.render(r["safety"]))
    if r.get("translate"):
        import translate
        w(translate.render(r["translate"]))

    if targets:
        w("## Targets\n")
        w("| target | measured | met |")
        w("|---|---|---|")
        for t in targets:
            name, value, goal = t[0], t[1], t[2]
            lower = len(t) > 3
            ok = value <= goal if lower else value >= goal
            shown = "%.2f" % value if value < 100 else fmt(value)
            w("| %s | %s | %s |" % (name, shown, "yes" if ok else "**no**"))
        w("")
    # The soak takes an hour, so it is not part of this run: its last table (bench/soak.md,
    # written by tests/integration/310_soak.py) is carried over with its own date and commit.
    soak = os.path.join(os.path.dirname(os.path.abspath(__file__)), "soak.md")
    if os.path.exists(soak):
        with open(soak) as f:
            w(f.read().rstrip() + "\n")
    return "\n".join(out) + "\n"
