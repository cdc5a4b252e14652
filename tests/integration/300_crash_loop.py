"""Crash loop: a mixed workload while tourbusd is killed with SIGKILL at random moments and
restarted, round after round; then every acknowledged message, notification and job is checked.

Workload, on several threads at once:
- chat: tourists send messages over HTTP with a client_id; a send that got no answer (the daemon
  died) is sent again with the same client_id after the restart, as a real client does;
- notifications: the operator sends, with an idempotency key, to a few users on the webhook,
  e-mail (a real SMTP server on loopback) and in-app channels; an unanswered send is repeated
  with the same key.

After the last round: every acknowledged message is stored exactly once (one per client_id), each
conversation's seqs run 1..last without a gap, every acknowledged notification has its jobs and
every job was delivered at least once (the webhook receiver and the SMTP server saw its id), and
(SQLite) `PRAGMA integrity_check` says ok.

Rounds: TOURBUS_CRASH_ROUNDS (default 3, the test command's short variant); docs/testing.md has
the figures of a 100-round run:
  TOURBUS_CRASH_ROUNDS=100 TOURBUSD=build/daemon/tourbusd TOURBUS=build/cmd/tourbus \\
      /usr/bin/python3 tests/integration/300_crash_loop.py -v
"""

import http.client
import json
import os
import random
import re
import tempfile
import threading
import time
import unittest

import peers
from harness import WAIT, Daemon, wait_until

ROUNDS = int(os.environ.get("TOURBUS_CRASH_ROUNDS", "3"))
SEED = int(os.environ.get("TOURBUS_CRASH_SEED", str(random.randrange(1 << 30))))
TOURISTS = 6


class Gone(Exception):
    """The daemon did not answer: it is down or went down during the request."""


def request(port, method, path, body, token):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        conn.request(method, path, body=json.dumps(body),
                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        res = conn.getresponse()
        data = res.read()
        conn.close()
    except (OSError, http.client.HTTPException) as e:
        raise Gone(str(e))
    return res.status, json.loads(data)


class CrashLoop(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tourbus-crash-")
        self.smtp = peers.SmtpPeer()
        self.addCleanup(self.smtp.close)
        self.hook = peers.HttpPeer()
        self.addCleanup(self.hook.close)
        # The senders are a crowd on one address and a few tokens, sending as fast as they can:
        # the per-address and per-token request limits are off (097_limits tests them).
        config = """
[server]
requests_per_second_per_ip = 0
requests_per_second_per_token = 0
[notify]
retry_base_ms = 40
retry_max_ms = 400
max_attempts = 50
[email]
smtp_url = "smtp://127.0.0.1:%d"
starttls = "off"
from = "Tour Desk <desk@tours.example>"
rate_per_second = 1000
[webhook]
url = "%s/hook"
secret = "hook-secret"
rate_per_second = 1000
""" % (self.smtp.port, self.hook.url)
        self.d = Daemon(config=config).start()
        self.addCleanup(self.d.cleanup)
        self.port = self.d.port
        self.d.cli_json("user", "add", "desk", "--role", "operator")
        self.operator = self.d.cli("token", "issue", "desk").stdout.strip()
        self.tokens, self.convs = {}, []
        for i in range(TOURISTS):
            h = "t%d" % i
            self.d.cli_json("user", "add", h, "--email", "%s@example.com" % h)
            self.tokens[h] = self.d.cli("token", "issue", h).stdout.strip()
        for i in range(0, TOURISTS, 2):  # three groups the operator made, two senders each
            a, b = "t%d" % i, "t%d" % (i + 1)
            status, c = request(self.port, "POST", "/v1/conversations",
                                {"kind": "group", "title": "Bus %d" % i, "members": [a, b]}, self.operator)
            self.assertEqual(status, 201, c)
            self.convs.append((c["id"], a, b))

    def sender(self, conv, handle, stop, acked, counter):
        """Sends until stopped; an unanswered send is repeated with its client_id until answered."""
        pending = None
        while True:
            if pending is None:
                if stop.is_set():
                    return
                pending = "%s-%d" % (handle, next(counter))
            try:
                status, body = request(self.port, "POST", "/v1/conversations/%d/messages" % conv,
                                       {"client_id": pending, "text": "hello " + pending}, self.tokens[handle])
            except Gone:
                self.resent += 1
                self.up.wait()
                continue
            self.assertIn(status, (200, 201, 202), body)
            acked[pending] = (conv, body["seq"])
            pending = None

    def notifier(self, stop, acked, counter):
        pending = None
        while True:
            if pending is None:
                if stop.is_set():
                    return
                n = next(counter)
                users = random.Random(n).sample(sorted(self.tokens), 2)
                pending = ("n-%d" % n, users)
            key, users = pending
            try:
                status, body = request(self.port, "POST", "/v1/notifications",
                                       {"users": users, "category": "transactional", "subject": "Bus " + key,
                                        "text": "The bus leaves at 8 (" + key + ")", "idempotency_key": key,
                                        "channels": ["webhook", "email", "inapp"]}, self.operator)
            except Gone:
                self.resent += 1
                self.up.wait()
                continue
            self.assertIn(status, (200, 201, 202), body)
            acked[key] = body
            pending = None

    def test_kill9_rounds_lose_and_duplicate_nothing(self):
        rng = random.Random(SEED)
        print("\ncrash loop: %d rounds, seed %d" % (ROUNDS, SEED))
        messages, notifications, stop = {}, {}, threading.Event()
        self.up = threading.Event()
        self.resent = 0  # requests the daemon died under, sent again after the restart
        self.up.set()
        counters = {h: iter(range(1 << 30)) for h in self.tokens}
        threads = [threading.Thread(target=self.sender, args=(conv, h, stop, messages, counters[h]))
                   for conv, a, b in self.convs for h in (a, b)]
        threads.append(threading.Thread(target=self.notifier, args=(stop, notifications, iter(range(1 << 30)))))
        errors = []
        for t in threads:
            run = t.run
            t.run = lambda run=run: self.record_failure(run, errors)
            t.daemon = True  # a failed test does not wait for them
            t.start()
        started = time.monotonic()
        for r in range(ROUNDS):
            # let work be acknowledged, then kill at a random moment while requests are in flight
            target, sent = len(messages) + 100, len(notifications) + 5
            wait_until(lambda: (len(messages) >= target and len(notifications) >= sent) or errors,
                       "100 more acknowledged messages and 5 more notifications")
            time.sleep(rng.uniform(0, 0.3))  # the random moment of the kill, not a synchronisation
            self.up.clear()
            self.d.kill9()
            self.d.start(listen="127.0.0.1:%d" % self.port)
            self.up.set()
            self.assertEqual(errors, [])
        stop.set()
        for t in threads:
            t.join(WAIT)
        self.assertEqual(errors, [])
        elapsed = time.monotonic() - started
        jobs = {j["id"]: j for n in notifications.values() for j in n["jobs"]}
        print("crash loop: %d rounds in %.1f s: %d messages and %d notifications (%d jobs) acknowledged, "
              "%d requests sent again after a kill" % (ROUNDS, elapsed, len(messages), len(notifications), len(jobs), self.resent))
        self.assertGreater(self.resent, 0, "no kill hit a request in flight")

        # every acknowledged message exactly once, seqs gap-free
        for conv, a, b in self.convs:
            rows = self.d.store_rows("SELECT seq, client_id FROM messages WHERE conversation_id = ? ORDER BY seq", (conv,))
            self.assertEqual([s for s, _ in rows], list(range(1, len(rows) + 1)), "conversation %d has gaps" % conv)
            ids = [c for _, c in rows]
            self.assertEqual(len(ids), len(set(ids)), "a client_id stored twice in conversation %d" % conv)
            stored = dict((c, s) for s, c in rows)
            for cid, (c, seq) in messages.items():
                if c == conv:
                    self.assertEqual(stored.get(cid), seq, "acknowledged message %s" % cid)
        # every acknowledged notification stored once, each of its jobs delivered at least once
        keys = [k for (k,) in self.d.store_rows("SELECT idempotency_key FROM notifications WHERE idempotency_key IS NOT NULL")]
        self.assertEqual(len(keys), len(set(keys)))
        self.assertLessEqual(set(notifications), set(keys))
        self.assertEqual({j["channel"] for j in jobs.values()}, {"webhook", "email", "inapp"})

        def undelivered():
            hooked = {json.loads(r.body)["delivery"] for r in self.hook.requests if r.path == "/hook"}
            mailed = {int(re.match(r"<(\d+)\.", m.message["Message-ID"]).group(1)) for m in self.smtp.requests}
            states = dict(self.d.store_rows("SELECT id, state FROM notify_jobs"))
            return [j for j, job in jobs.items()
                    if states[j] != "delivered" or (job["channel"] == "webhook" and j not in hooked)
                    or (job["channel"] == "email" and j not in mailed)]
        # the queue drains at the peers' pace (one SMTP connection per mail): wait while it moves
        def fewer_than(n):
            now = len(undelivered())
            return (now,) if now < n else None
        waited, left = time.monotonic(), len(jobs) + 1
        while left:
            (left,) = wait_until(lambda: fewer_than(left), "fewer than %d undelivered jobs" % left,
                                 describe=lambda: ": " + str(undelivered()[:10]))
        print("crash loop: every job delivered %.1f s after the last restart" % (time.monotonic() - waited))
        # The file the killed process was writing is whole. SQLite only: with PostgreSQL the daemon
        # writes no file (the server, never killed here, keeps its own) and SQL has no such check.
        if self.d.store_engine == "sqlite":
            self.assertEqual(self.d.store_rows("PRAGMA integrity_check")[0][0], "ok")

    @staticmethod
    def record_failure(run, errors):
        try:
            run()
        except BaseException as e:  # noqa: B902 - reported by the main thread
            errors.append(repr(e))


if __name__ == "__main__":
    unittest.main()
