#!/usr/bin/python3
"""The translation scenario: a tour chat of 20 members in 3 languages (a guide and 7 tourists in
English, 7 in Spanish, 5 in Italian) against the real tourbusd on loopback, with the offline
engine: Debian's Apertium APy as a sidecar (English to Italian goes through Spanish). Measured:
the added latency per message (the original's arrival against its `message.translated`
annotation's, at a Spanish and an Italian reader, one message at a time); translations per second
through the sidecar when a burst of distinct messages arrives at once; the cache hit rate over a
tour chat script whose phrases repeat as tour chats do (from tourbusd's own counters); and the
peer: APy called directly, one request at a time and four at once, for the ratio. Its section of
BENCHMARKS.md is render(). See bench/README.md.

Run by bench/bench.py (`bench/run --only translate`), or by itself without building anything:
  /usr/bin/python3 bench/translate.py [--messages 120] [--burst 60] [--markdown FILE]
which prints one JSON line (and, with --markdown, writes the section).
"""

import argparse
import asyncio
import concurrent.futures
import datetime
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import websockets  # noqa: E402

from apertium import Apy  # noqa: E402  (the tests' APy on a free loopback port)
from bench import UnixHTTP  # noqa: E402
from safety import Daemon  # noqa: E402  (tourbusd pinned to a CPU, its log watched)

WAIT = 120
MEMBERS = [("guide", "en", "guide")] + [("en%d" % i, "en", "tourist") for i in range(7)] + \
          [("es%d" % i, "es", "tourist") for i in range(7)] + [("it%d" % i, "it", "tourist") for i in range(5)]
# What a guide and a group write on a day out: short practical lines that come back again and again.
GUIDE_LINES = [
    "Good morning everybody, the bus leaves in ten minutes", "Please stay together", "We meet at the main entrance",
    "The museum opens at 10:00", "Do not forget your tickets", "We have a break of 20 minutes", "Follow me please",
    "The toilets are on the left", "Lunch is at the restaurant near the square", "Please be on time",
    "The next stop is the cathedral", "Take your bags with you", "Photos are not allowed inside", "Drink some water",
    "We are running a little late", "The bus is waiting at the parking", "Thank you for today", "See you tomorrow",
]
TOURIST_LINES = [
    "¿Dónde está el autobús?", "Gracias", "Llegamos en cinco minutos", "¿A qué hora es la comida?", "Perfecto",
    "¿Dónde están los baños?", "Estamos en la tienda", "Muchas gracias por la visita",
]


# Distinct sentences for the burst and the peer, with no numbers (numbers are protected, so
# "gate 3" and "gate 4" would be the same text to the engine, and a cache hit).
_WHO = ["The guide", "Our driver", "The group", "The museum", "The boat", "The hotel", "The train", "The restaurant"]
_DOES = ["waits for us", "opens early", "closes late", "is very busy", "changes the plan", "needs our names",
         "looks beautiful", "is near the river"]
_WHEN = ["today", "this evening", "in the morning", "after lunch", "before the show", "on Sunday", "tonight",
         "at noon"]


def distinct(i):
    return "%s %s %s" % (_WHO[i % 8], _DOES[(i // 8) % 8], _WHEN[(i // 64) % 8])


def call(sock, method, path, body=None):
    conn = UnixHTTP(sock)
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"} if body is not None else {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.status >= 300:
        raise RuntimeError("%s %s: %d %s" % (method, path, r.status, data[:300]))
    return json.loads(data) if data else None


def write_config(work, state, apy_url):
    path = os.path.join(work, "tourbus.toml")
    with open(path, "w") as f:
        f.write('state_dir = "%s"\n[server]\nlisten = "127.0.0.1:0"\n[log]\nlevel = "info"\n'
                '[websocket]\nevents_per_second = 100000\nevent_burst = 100000\n'
                '[translate]\nproviders = "apertium"\napertium_url = "%s"\npivots = "es"\n' % (state, apy_url))
    return path


def script(n, rnd):
    """n (sender, text, lang) lines: the guide three times in four, a Spanish tourist otherwise;
    phrases drawn with a skew (a few of them most of the time), as in a real group chat."""
    weights = [1.0 / (i + 1) for i in range(len(GUIDE_LINES))]
    tw = [1.0 / (i + 1) for i in range(len(TOURIST_LINES))]
    out = []
    for _ in range(n):
        if rnd.random() < 0.75:
            out.append(("guide", rnd.choices(GUIDE_LINES, weights)[0], "en"))
        else:
            out.append(("es%d" % (1 + rnd.randrange(6)), rnd.choices(TOURIST_LINES, tw)[0], "es"))
    return out


class Reader:
    """A WebSocket member recording when each message and each translation arrived; `changed` is
    set on every arrival (shared by every reader and the senders' sockets)."""

    def __init__(self, ws, changed):
        self.ws = ws
        self.original, self.translated = {}, {}
        self.changed = changed
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self):
        async for raw in self.ws:
            t = time.monotonic()
            f = json.loads(raw)
            if f.get("event") == "message":
                self.original.setdefault(f["data"]["seq"], t)
            elif f.get("event") == "message.translated":
                self.translated.setdefault(f["data"]["seq"], t)
            self.changed.set()


async def until(changed, check):
    deadline = time.monotonic() + WAIT
    while not check():
        changed.clear()
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError("timed out")
        await asyncio.wait_for(changed.wait(), left)


def _percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else None


async def measure(d, sock, messages, burst, r, log):
    url = "ws://127.0.0.1:%d/v1/ws" % d.port
    tokens = {h: call(sock, "POST", "/v1/tokens", {"user": h})["token"] for h, _, _ in MEMBERS}
    conv = call(sock, "POST", "/v1/conversations", {"kind": "group", "title": "Bench tour chat",
                                                     "members": [h for h, _, _ in MEMBERS]})["id"]
    conns = {h: await websockets.connect(url + "?access_token=" + tokens[h], max_size=None) for h, _, _ in MEMBERS}
    changed = asyncio.Event()
    es, it = Reader(conns["es0"], changed), Reader(conns["it0"], changed)
    senders = {}

    async def send(handle, text, lang):
        ws = conns[handle]
        ref = senders.setdefault(handle, [0])
        ref[0] += 1
        await ws.send(json.dumps({"event": "message.send", "ref": ref[0],
                                  "data": {"conversation": conv, "text": text, "lang": lang}}))

    # Drain the senders' own sockets in the background (their replies and pushes).
    async def drain(ws, box):
        async for raw in ws:
            f = json.loads(raw)
            if f.get("event") == "reply" and "seq" in f.get("data", {}):
                box.append(f["data"]["seq"])
                changed.set()
    sent = {h: [] for h, _, _ in MEMBERS}
    drains = [asyncio.get_running_loop().create_task(drain(conns[h], sent[h])) for h, _, _ in MEMBERS
              if h not in ("es0", "it0")]

    # 1. One message at a time: the annotation's delay after the original, at the Spanish and the
    #    Italian reader, and the cache over the chat script.
    before = call(sock, "GET", "/v1/status")["translation"]
    rnd = random.Random(7)
    gaps_es, gaps_it = [], []
    fresh_es, fresh_it = [], []  # the first time a phrase comes: the engine, not the cache
    seen = set()
    t0 = time.monotonic()
    for i, (who, text, lang) in enumerate(script(messages, rnd)):
        first_time = text not in seen
        seen.add(text)
        n = sum(len(v) for v in sent.values())
        await send(who, text, lang)
        await until(changed, lambda: sum(len(v) for v in sent.values()) > n)
        seq = max(max(v) for v in sent.values() if v)
        want_es = lang != "es"
        await until(changed, lambda: seq in es.original and (seq in es.translated or not want_es))
        await until(changed, lambda: seq in it.translated)
        if want_es:
            gaps_es.append((es.translated[seq] - es.original[seq]) * 1000)
            if first_time:
                fresh_es.append(gaps_es[-1])
        gaps_it.append((it.translated[seq] - it.original[seq]) * 1000)
        if first_time:
            fresh_it.append(gaps_it[-1])
    r["chat_seconds"] = time.monotonic() - t0
    after = call(sock, "GET", "/v1/status")["translation"]
    calls = after["translated"] - before["translated"]
    hits = after["cache_hits"] - before["cache_hits"]
    readers = sum(1 for h, l, _ in MEMBERS) - 1
    r["chat"] = dict(messages=messages, engine_translations=calls, cache_hits=hits,
                     hit_rate=hits / max(1, calls + hits),
                     es_p50_ms=_percentile(gaps_es, 50), es_p95_ms=_percentile(gaps_es, 95),
                     it_p50_ms=_percentile(gaps_it, 50), it_p95_ms=_percentile(gaps_it, 95),
                     phrases=len(seen), es_fresh=len(fresh_es), es_fresh_p50_ms=_percentile(fresh_es, 50),
                     it_fresh=len(fresh_it), it_fresh_p50_ms=_percentile(fresh_it, 50),
                     es_fresh_max_ms=max(fresh_es) if fresh_es else None, it_fresh_max_ms=max(fresh_it) if fresh_it else None,
                     readers_per_message=readers)
    log("translate: chat %d messages: annotation es p50 %.0f ms, it p50 %.0f ms; cache hit rate %.0f%%" % (
        messages, r["chat"]["es_p50_ms"], r["chat"]["it_p50_ms"], 100 * r["chat"]["hit_rate"]))

    # 2. A burst of distinct messages at once: translations per second through the sidecar.
    before = call(sock, "GET", "/v1/status")["translation"]
    first = max(max(v) for v in sent.values() if v)
    t0 = time.monotonic()
    for i in range(burst):
        await send("guide", distinct(i), "en")
    await until(changed, lambda: sum(1 for s in it.translated if s > first) >= burst)
    seconds = time.monotonic() - t0
    after = call(sock, "GET", "/v1/status")["translation"]
    done = after["translated"] - before["translated"]
    r["burst"] = dict(messages=burst, seconds=seconds, engine_translations=done,
                      translations_per_second=done / seconds, messages_per_second=burst / seconds,
                      engine_calls=done + burst)  # each pivoted Italian translation is two APy calls
    log("translate: burst of %d: %.1f translations/s (%.1f s)" % (burst, done / seconds, seconds))
    for t in drains:
        t.cancel()
    for ws in conns.values():
        await ws.close()


def peer(apy_url, n, log):
    """APy by itself: n distinct English sentences to Spanish, one at a time, then four at once."""
    def one(i):
        q = urllib.parse.urlencode({"q": distinct(i),
                                    "langpair": "eng|spa", "markUnknown": "no"})
        t = time.monotonic()
        with urllib.request.urlopen(apy_url + "/translate", data=q.encode(), timeout=60) as resp:
            json.load(resp)
        return (time.monotonic() - t) * 1000
    one(511)  # the pair's pipeline starts on first use
    t = time.monotonic()
    lat = [one(i) for i in range(n)]
    serial = n / (time.monotonic() - t)
    t = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(n, 2 * n)))
    parallel = n / (time.monotonic() - t)
    log("translate: APy alone: %.1f/s one at a time (p50 %.0f ms), %.1f/s four at once" % (
        serial, _percentile(lat, 50), parallel))
    return dict(requests=n, serial_per_second=serial, p50_ms=_percentile(lat, 50), four_per_second=parallel)


def run(build, server_cpu, log, messages=120, burst=60, tourbusd=None):
    tourbusd = tourbusd or os.path.join(build, "daemon", "tourbusd")
    r = dict(members=len(MEMBERS), languages={"en": 8, "es": 7, "it": 5}, problems=[])
    work = tempfile.mkdtemp(prefix="tourbus-translate-")
    apy = d = None
    try:
        apy = Apy(work)
        r["apy_pairs"] = len(apy.pairs)
        state = os.path.join(work, "state")
        config = write_config(work, state, apy.url)
        d = Daemon(tourbusd, config, server_cpu)
        sock = os.path.join(state, "tourbusd.sock")
        for handle, lang, role in MEMBERS:
            call(sock, "POST", "/v1/users", {"handle": handle, "display_name": handle, "role": role, "language": lang})
        asyncio.run(measure(d, sock, messages, burst, r, log))
        r["peer"] = peer(apy.url, burst, log)
        r["rss_kib"] = d.rss()
    finally:
        if d:
            d.stop()
        if apy:
            apy.close()
        shutil.rmtree(work, ignore_errors=True)
    return r


def _ms(x):
    return "–" if x is None else ("%.0f ms" % x)


def render(s):
    c, b, p = s["chat"], s["burst"], s["peer"]
    out = []
    w = out.append
    w("## Translation\n")
    if s.get("date"):
        w("*From a run of its own: `/usr/bin/python3 bench/translate.py --messages %d --burst %d` on %s (%.0f s), "
          "on this machine (2 cores), idle otherwise. The other sections were not re-run.*\n" % (
              c["messages"], b["messages"], s["date"], s.get("seconds", 0)))
    w("`bench/translate.py`: tourbusd on loopback (pinned to CPU 0) with Debian's Apertium APy as its sidecar "
      "(`translate.providers = \"apertium\"`, English to Italian through Spanish: `translate.pivots = \"es\"`), "
      "APy and the clients sharing CPU 1. A group conversation of %d members: a guide and 7 tourists who read "
      "English, 7 Spanish, 5 Italian, all online over `/v1/ws`.\n" % s["members"])
    w("**Added latency.** %d messages of a tour chat script (the guide three lines in four, Spanish tourists the "
      "rest; short practical phrases drawn with a skew, so some come back often), one at a time: each is sent, "
      "and the next waits until a Spanish and an Italian reader have both the original and its translation. The "
      "annotation's delay is its arrival minus the original's, at the same reader.\n" % c["messages"])
    w("| reader | all %d messages: median | 95th percentile | a phrase's first time (the engine; %d and %d of them): median | slowest |" % (
        c["messages"], c["es_fresh"], c["it_fresh"]))
    w("|---|---|---|---|---|")
    w("| Spanish (English to Spanish, one APy call) | %s | %s | %s | %s |" % (
        _ms(c["es_p50_ms"]), _ms(c["es_p95_ms"]), _ms(c["es_fresh_p50_ms"]), _ms(c["es_fresh_max_ms"])))
    w("| Italian (English to Spanish to Italian: two calls; Spanish to Italian: one) | %s | %s | %s | %s |\n" % (
        _ms(c["it_p50_ms"]), _ms(c["it_p95_ms"]), _ms(c["it_fresh_p50_ms"]), _ms(c["it_fresh_max_ms"])))
    w("The original itself reaches every reader as soon as it is stored; the annotation adds that delay after it. "
      "A message's languages are translated one after the other (Spanish first, which the Italian chain then "
      "reuses) and stored and pushed together, so both readers see the same delay. The slowest first times "
      "include APy starting a pair's pipeline on its first use (about 0.3 s).\n")
    w("**Cache.** Over that script tourbusd asked the engine %d times and answered %d times from its cache: a hit "
      "rate of **%.0f%%** (%d distinct phrases in the script). Beyond the cache, a message is translated once per language, not once per reader: "
      "each message here has %d readers but at most 2 translations.\n" % (
          c["engine_translations"], c["cache_hits"], 100 * c["hit_rate"], c["phrases"], c["readers_per_message"]))
    w("**Throughput.** %d distinct messages sent at once by the guide: every translation stored and pushed after "
      "%.1f s: **%.1f translations per second** (%.1f messages per second, each to Spanish and, through it, to "
      "Italian). The peer, APy alone on the same machine, English to Spanish: %.1f per second one request at a "
      "time (median %s), %.1f per second four at once; tourbusd's throughput ÷ APy's four-at-once rate: %.2f× "
      "(the Italian chain's first leg is the Spanish translation, from the cache, so a message costs APy two "
      "calls: tourbusd drives the sidecar at its own pace).\n" % (
          b["messages"], b["seconds"], b["translations_per_second"], b["messages_per_second"], p["serial_per_second"],
          _ms(p["p50_ms"]), p["four_per_second"], b["translations_per_second"] / p["four_per_second"]))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=120)
    ap.add_argument("--burst", type=int, default=60)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--markdown")
    a = ap.parse_args()
    t = time.monotonic()
    r = run(a.build, "0", lambda m: print(m, file=sys.stderr), a.messages, a.burst)
    r["seconds"] = time.monotonic() - t
    r["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(json.dumps(r))
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(render(r))


if __name__ == "__main__":
    main()
