"""Three tourbusd nodes on one PostgreSQL store (docs/scaling.md, "Several nodes"): every node's
status lists the three, alive, and names the same one leader, whose /metrics alone say
tourbus_leader 1; webhook notifications sent through every node, each failing once so that its
retry falls due while all three nodes poll the queue, reach a real receiver once each; reminders
created through any node fire once, on the leader. Then the leader is killed (kill -9) in the middle
of a delivery: another node leads within a second or two, the dead one is shown gone, the
delivery it held is made by another node once it is gone, and reminders and notifications go on
once each. Started again with its name and state dir, it comes back as a follower. A follower
killed in the middle of a delivery and started again at once lets go of its claim
(notify.claims_released) and the job is delivered.

An emergency alert sent through the leader, its roll-call partly answered (through the other
nodes), outlives the leader: killed (kill -9) once the first rung of the escalation ladder is
taken and before the next is due, the new leader takes every later rung once (SMS, the guide
told, the operators on duty told), answers given through the survivors after the kill stop the
ladder for those people, and the roll-call ends with the counts docs/safety.md promises; every
SMS reaches a real receiver once.

A throttled SMS campaign to a hundred people, started through the leader, outlives it: killed
(kill -9) with part of the audience sent and SMS deliveries of its own under way (held by the
receiver), the new leader enqueues the rest; each person is enqueued once (one job), each job is
delivered once, and at the receiver every person has one message, the deliveries the kill cut
repeated once each with the same `delivery` (at least once, as docs/api.md promises).

It needs a PostgreSQL server: the CTest fixture postgres (TOURBUS_TEST_POSTGRES_FILE), or
TOURBUS_TEST_POSTGRES; run by hand without either, it starts a throwaway one of its own
(tests/postgres.py)."""

import base64
import collections
import datetime
import hashlib
import hmac
import json
import os
import re
import threading
import time
import unittest
import urllib.parse

from cluster import Scenario, server
from harness import WAIT, Daemon, UnixHTTPConnection, wait_until
import peers

EXAMPLES = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "templates"))
NAMES = ("tb1", "tb2", "tb3")
GONE_AFTER = 10  # seconds without a beat before a node counts as gone (store/nodes.hpp)
FAIL_ONCE = "[fail-once]"  # in a notification's text: the receiver answers its first request 503
HOLD = "[hold]"  # in a notification's text: the receiver holds its first request until released

CONFIG = """
[log]
level = "debug"  # notify.delivered job=N: which node delivered what

[notify]
templates_dir = %s
retry_base_ms = 1000
retry_max_ms = 2000

[webhook]
url = %s
secret = "hook-secret"

[sms]
provider = "webhook"  # a JSON POST per SMS to the test's receiver ("delivery": the job id)
url = %s
auth_token = "sms-token"  # also signs the replies the provider posts (sms.inbound)
from = "Tours"
rate_per_second = 200  # a campaign's SMS go as fast as it enqueues them

[alert]
escalate_after_seconds = %d  # the roll-call's ladder: one rung each time this passes

[campaign]
quiet_hours = ""  # whatever the hour the test runs at, nobody is held until the morning
"""
# alert.escalate_after_seconds: the scenario answers, kills and waits between rungs, so a slower
# daemon (the sanitizer build) gets wider windows.
SANITIZED = "build-asan" in os.environ.get("TOURBUS_BUILD_DIR", "")
ESCALATE_AFTER = 6 if SANITIZED else 3


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def parse_time(text):
    """An RFC 3339 time as the daemon writes it ("...Z"), as an aware datetime."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Receiver:
    """The webhook receiver (a real HTTP server): answers 200, except a job's first request when its
    text holds FAIL_ONCE (503) or HOLD (held until release(), then 200). Every request is noted as
    it arrives, by its Tourbus-Delivery header (the job id, the same on every attempt):
    peers.HttpPeer records a request only once it is answered."""

    def __init__(self):
        self.peer = peers.HttpPeer()
        self.url = self.peer.url + "/hook"
        self.cond = threading.Condition()
        self.arrived = []  # (job id, JSON body), in arrival order
        self.released = set()
        self.closing = False
        self.peer.route("/hook", self.answer)

    def answer(self, req):
        job, body = int(req.headers["tourbus-delivery"]), req.json()
        with self.cond:
            first = job not in self.jobs()
            self.arrived.append((job, body))
            self.cond.notify_all()
            if first and HOLD in body["text"]:
                self.cond.wait_for(lambda: job in self.released or self.closing, WAIT * 2)
        if first and FAIL_ONCE in body["text"]:
            return 503, [], {"error": "try again"}
        return None  # 200

    def jobs(self):
        with self.cond:
            return [job for job, _ in self.arrived]

    def count(self, job):
        return self.jobs().count(job)

    def release(self, job):
        with self.cond:
            self.released.add(job)
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        self.peer.close()


class SmsReceiver:
    """The SMS provider (sms.provider = "webhook", a real HTTP server): answers 200 and notes
    every request as it arrives, as (delivery, to, text); delivery is the job id. With hold_after
    set to a number, once that many jobs have arrived the first request of each further job is
    held (noted in `held`) until release_all(), then answered 200; from then on none is held."""

    def __init__(self):
        self.peer = peers.HttpPeer()
        self.url = self.peer.url + "/sms"
        self.cond = threading.Condition()
        self.arrived = []
        self.hold_after = None
        self.held = set()  # jobs whose first request was held
        self.released = False
        self.closing = False
        self.peer.route("/sms", self.answer)

    def answer(self, req):
        body = req.json()
        job = body["delivery"]
        with self.cond:
            seen = {d for d, _, _ in self.arrived}
            self.arrived.append((job, body["to"], body["text"]))
            self.cond.notify_all()
            if self.hold_after is not None and not self.released and job not in seen and len(seen) >= self.hold_after:
                self.held.add(job)
                self.cond.wait_for(lambda: self.released or self.closing, WAIT * 2)
        return None  # 200

    def messages(self):
        with self.cond:
            return list(self.arrived)

    def holding(self):
        with self.cond:
            return set(self.held)

    def release_all(self):
        with self.cond:
            self.released = True
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        self.peer.close()


class Cluster(Scenario, unittest.TestCase):
    def setUp(self):
        server(self)
        self.hook = Receiver()
        self.addCleanup(self.hook.close)
        self.sms = SmsReceiver()
        self.addCleanup(self.sms.close)
        config = CONFIG % (json.dumps(EXAMPLES), json.dumps(self.hook.url), json.dumps(self.sms.url), ESCALATE_AFTER)
        first = Daemon(config=config, node=NAMES[0])
        self.addCleanup(first.cleanup)  # last: it drops the database the others use
        self.nodes = {NAMES[0]: first}
        for name in NAMES[1:]:
            self.nodes[name] = Daemon(config=config, store_of=first, node=name)
            self.addCleanup(self.nodes[name].cleanup)
        # All three at once: the migrations of an empty database run once, under their lock.
        for d in self.nodes.values():
            d.start(wait_ready=False)
        for d in self.nodes.values():
            self.ready(d)
        self.expected = {}  # job id: the requests the receiver must have had for it by the end

    # -- helpers ---------------------------------------------------------------------------------
    def ready(self, d):
        line = d.wait_for(r"daemon\.ready")
        d.port = int(re.search(r"listen=127\.0\.0\.1:(\d+)", line).group(1))

    def status(self, name):
        return self.nodes[name].cli_json("status")

    def leader_metric(self, name):
        status, text = self.nodes[name].curl("GET", "/metrics", raw=True)
        self.assertEqual(status, 200, text)
        values = re.findall(r"^tourbus_leader (\d+)$", text, re.M)
        self.assertEqual(len(values), 1, text)
        return int(values[0])

    @staticmethod
    def agreed(statuses, down=()):
        """The leader when every node in `statuses` ({name: its status}) lists those nodes alive
        and the nodes in `down` gone, exactly one of them says it leads (role), and every list
        names that one leader and no other; else None."""
        up = list(statuses)
        leaders = [name for name, s in statuses.items() if s["role"] == "leader"]
        if len(leaders) != 1:
            return None
        want = {name: ("leader" if name == leaders[0] else "follower") for name in up}
        want.update({name: "gone" for name in down})
        for s in statuses.values():
            if {n["name"]: n["role"] for n in s["nodes"]} != want:
                return None
        return leaders[0]

    def wait_agreed(self, up, down=(), timeout=WAIT):
        last = {}

        def check():
            last.update({name: self.status(name) for name in up})
            return self.agreed(last, down)

        return wait_until(check, "nodes %s alive%s with one leader, the same from each" %
                          (list(up), ", %s gone" % list(down) if down else ""), timeout=timeout,
                          describe=lambda: "; status: " + json.dumps({n: s["nodes"] for n, s in last.items()}))

    def check_lists(self, up, leader):
        """What each node in `up` says of every node: itself, pid, address, version."""
        for name in up:
            s = self.status(name)
            self.assertEqual((s["node"], s["role"]), (name, "leader" if name == leader else "follower"))
            self.assertEqual([n["name"] for n in s["nodes"]], sorted(NAMES))
            for n in s["nodes"]:
                if n["name"] not in up:
                    continue
                d = self.nodes[n["name"]]
                self.assertEqual((n["self"], n["alive"], n["pid"], n["listen"], n["version"], n["connections"]),
                                 (n["name"] == name, True, d.proc.pid, "127.0.0.1:%d" % d.port, s["version"], 0), n)
                self.assertLess(n["lag_ms"], GONE_AFTER * 1000, n)

    def lines(self, name, pattern, start=0):
        d = self.nodes[name]
        with d.cond:
            return [l for l in d.lines[start:] if re.search(pattern, l)]

    def where_logged(self, pattern, marks=None):
        """{node: the lines of its current run matching pattern, after its mark}, nodes with none left out."""
        found = {name: self.lines(name, pattern, (marks or {}).get(name, 0)) for name in self.nodes}
        return {name: lines for name, lines in found.items() if lines}

    def send(self, name, text):
        """A webhook notification to ann through node `name`; returns its job id."""
        sent = self.nodes[name].cli_json("notify", "send", "--to", "ann", "-c", "transactional", "--text", text,
                                         "--channel", "webhook")
        self.assertEqual(len(sent["jobs"]), 1, sent)
        return sent["jobs"][0]["id"]

    def jobs(self, via):
        r = self.nodes[via].cli("--json", "notify", "list", "-u", "ann", "--limit", "1000")
        self.assertEqual(r.returncode, 0, r.stderr)
        return {j["id"]: j for j in map(json.loads, r.stdout.splitlines())}

    def wait_delivered(self, ids, via):
        ids = set(ids)
        wait_until(lambda: all(self.jobs(via)[i]["state"] == "delivered" for i in ids),
                   "jobs %s to be delivered" % sorted(ids),
                   describe=lambda: "; " + json.dumps({i: self.jobs(via)[i]["state"] for i in ids}))

    def delivered_once(self, ids, via, marks=None):
        """Each job was delivered by exactly one node (notify.delivered in the logs); returns
        {job: node}."""
        pattern = lambda job: r"notify\.delivered job=%d " % job
        wait_until(lambda: all(self.where_logged(pattern(j), marks) for j in ids),
                   "notify.delivered of %s" % sorted(ids))
        by = {}
        for job in ids:
            found = self.where_logged(pattern(job), marks)
            self.assertEqual([len(l) for l in found.values()], [1], "job %d delivered by %s" % (job, found))
            by[job] = next(iter(found))
        return by

    def hold_on(self, name, via):
        """A webhook job whose delivery node `name` has under way (held by the receiver), sent
        through `via`: the node that sent a job claims it at once, the others look every 2 s, so
        a job another node claimed first is let go (delivered) and another one sent."""
        for attempt in range(10):
            job = self.send(via, "held %s #%d %s" % (name, attempt, HOLD))
            wait_until(lambda: job in self.hook.jobs(), "the receiver to hold job %d" % job)
            claimed = self.nodes[via].store_rows("SELECT claimed_by FROM notify_jobs WHERE id = ?", (job,))
            if claimed == [(name,)]:
                return job
            self.expected[job] = 1
            self.hook.release(job)
        self.fail("node %s never claimed a job it sent" % name)

    def fire_soon(self, name, via, seconds=3):
        """A one-shot reminder to ann over the webhook, made through node `via`, due in a few seconds."""
        self.nodes[via].cli_json("reminder", "add", name, "-t", "tour_reminder", "--to", "ann", "--channel", "webhook",
                                 "--at", rfc3339(now() + datetime.timedelta(seconds=seconds)),
                                 "--var", "tour_title=T-" + name, "--var", "start_local=S", "--var", "meeting_point=M")

    def scheduler_pass(self, leader, via):
        """Proof that the leader's scheduler went over every firing due before now: a rule's event
        posted through another node fires at once on the leader, and due firings fire earliest
        first, so anything due earlier was fired by the time this one is."""
        marks = self.marks()
        posted = self.nodes[via].cli_json("event", "post", "test.probe", "-u", "ann", "--var", "tour_title=probe",
                                          "--var", "start_local=-", "--var", "meeting_point=-")
        self.assertEqual(posted["firings"], 1)
        wait_until(lambda: self.where_logged(r'schedule\.fired .*"rule probe"', marks), "the probe rule to fire")
        self.assertEqual(list(self.where_logged(r'schedule\.fired .*"rule probe"', marks)), [leader])

    def fired_once_on(self, leader, names, marks):
        """Each reminder in `names` fired once since `marks`, on the leader, and made one job, whose
        one webhook request the receiver had; returns their job ids."""
        ids = []
        jobs = self.jobs(leader)
        for name in names:
            fired = self.where_logged(r'schedule\.fired .*"reminder %s"' % name, marks)
            self.assertEqual({n: len(lines) for n, lines in fired.items()}, {leader: 1},
                             "reminder %s fired: %s" % (name, fired))
            made = [j for j in jobs.values() if j["subject"] == "Reminder: T-%s starts S" % name]
            self.assertEqual(len(made), 1, made)
            firing = re.search(r"\bfiring=(\d+)", fired[leader][0]).group(1)
            self.assertEqual(made[0]["idempotency_key"], "firing:" + firing)
            ids.append(made[0]["id"])
            self.expected[made[0]["id"]] = 1
        self.wait_delivered(ids, leader)
        self.assertEqual([self.hook.count(i) for i in ids], [1] * len(ids))
        return ids

    # -- the scenario ------------------------------------------------------------------------------
    def test_three_nodes_share_one_store(self):
        up = list(NAMES)
        # 1. Every node lists the three, alive, and the same one leader; only it says
        # tourbus_leader 1, only it logged cluster.leading.
        leader = self.wait_agreed(up)
        self.check_lists(up, leader)
        self.assertEqual({name: self.leader_metric(name) for name in up}, {name: int(name == leader) for name in up})
        self.assertEqual(list(self.where_logged(r"cluster\.leading")), [leader])
        # Started at once on an empty database, they applied each migration once between them.
        migrated = [int(re.search(r"version=(\d+)", line).group(1))
                    for name in up for line in self.lines(name, r"store\.migrated ")]
        self.assertEqual(sorted(migrated), list(range(1, self.status(leader)["store"]["schema_version"] + 1)))
        follower = next(name for name in up if name != leader)
        text = self.nodes[follower].cli("status").stdout
        self.assertIn("node:        %s (follower)\n" % follower, text)
        self.assertIn("  %s (this node): follower, 0 connections, " % follower, text)
        self.assertRegex(text, r"\n  %s: leader, 0 connections, last seen \d+ ms ago, 127\.0\.0\.1:%d, pid %d, " %
                         (leader, self.nodes[leader].port, self.nodes[leader].proc.pid))

        # 2. Notifications sent through every node: the receiver refuses each one's first attempt,
        # so their retries fall due while all three nodes look for work; each job is attempted
        # twice (503, then 200), by one node at a time, and delivered once.
        self.nodes[NAMES[0]].cli_json("user", "add", "ann", "--role", "tourist")
        self.nodes[leader].cli_json("rule", "add", "probe", "-t", "tour_reminder", "-e", "test.probe",
                                    "--category", "reminder")
        sent = {self.send(name, "from %s #%d %s" % (name, i, FAIL_ONCE)): name for i in range(4) for name in NAMES}
        self.wait_delivered(sent, NAMES[2])
        for job in sent:
            self.expected[job] = 2
            self.assertEqual([(a["outcome"], a["status"]) for a in self.nodes[NAMES[1]].cli_json(
                "notify", "show", str(job))["attempts_made"]], [("retry", "503"), ("delivered", "200")])
            self.assertEqual(self.hook.count(job), 2, "job %d" % job)
        with self.hook.cond:
            texts = [body["text"] for job, body in self.hook.arrived if job in sent]
        self.assertEqual(sorted(texts),
                         sorted(["from %s #%d %s" % (n, i, FAIL_ONCE) for i in range(4) for n in NAMES] * 2))
        by = self.delivered_once(sent, NAMES[0])
        print("\n12 jobs sent through %s, delivered by %s" % (dict(collections.Counter(sent.values())),
                                                             dict(collections.Counter(by.values()))))

        # 3. Reminders made through each node fire once, all on the leader.
        marks = self.marks()
        for name in NAMES:
            self.fire_soon("before-" + name, name)
        wait_until(lambda: all(self.where_logged(r'schedule\.fired .*"reminder before-%s"' % n, marks) for n in NAMES),
                   "the three reminders to fire")
        self.scheduler_pass(leader, follower)
        self.fired_once_on(leader, ["before-" + n for n in NAMES], marks)

        # 4. kill -9 of the leader while a delivery of its own is under way.
        held = self.hold_on(leader, leader)
        self.expected[held] = 2  # the attempt cut by the kill, and the one made after it
        old_leader, survivors = self.nodes[leader], [n for n in NAMES if n != leader]
        marks = self.marks()
        killed_at = time.monotonic()
        old_leader.kill9()
        self.hook.release(held)
        # Another node leads, well before the dead one counts as gone: its session, and the
        # advisory lock with it, ended with the process.
        wait_until(lambda: self.where_logged(r"cluster\.leading", marks), "another node to lead",
                   timeout=GONE_AFTER)
        took_over = time.monotonic() - killed_at
        new_leader = next(iter(self.where_logged(r"cluster\.leading", marks)))
        self.assertIn(new_leader, survivors)
        self.assertEqual({name: self.status(name)["role"] for name in survivors},
                         {name: "leader" if name == new_leader else "follower" for name in survivors})
        # Every survivor's list names the new leader alone at once (its takeover rewrites the
        # rows), while the dead node still counts as alive.
        def one_leader_listed():
            for name in survivors:
                listed = [n["name"] for n in self.status(name)["nodes"] if n["role"] == "leader"]
                if listed != [new_leader]:
                    return False
            return True
        wait_until(one_leader_listed, "every survivor to list %s as the one leader" % new_leader, timeout=GONE_AFTER)
        self.assertLess(time.monotonic() - killed_at, GONE_AFTER)
        follower = next(name for name in survivors if name != new_leader)
        # Work after the kill: a reminder made through the follower, notifications through both.
        self.fire_soon("after", follower)
        after = {self.send(name, "after the kill, from %s #%d %s" % (name, i, FAIL_ONCE)): name
                 for i in range(2) for name in survivors}
        # The dead node is shown gone once it has been silent for 10 s; the lists agree again.
        self.assertEqual(self.wait_agreed(survivors, [leader]), new_leader)
        gone = time.monotonic() - killed_at
        self.check_lists(survivors, new_leader)
        self.assertEqual({name: self.leader_metric(name) for name in survivors},
                         {name: int(name == new_leader) for name in survivors})
        print("kill -9 of the leader %s: %s leads after %.1f s, %s shown gone after %.1f s" %
              (leader, new_leader, took_over, leader, gone))
        # The notifications queued after the kill: once each (after the refused first attempt).
        self.wait_delivered(after, follower)
        for job in after:
            self.expected[job] = 2
            self.assertEqual(self.hook.count(job), 2, "job %d" % job)
        self.delivered_once(after, new_leader, marks)
        # The delivery the dead leader held: made again by a live node once the leader was gone,
        # delivered once (its cut attempt was never recorded).
        self.wait_delivered([held], new_leader)
        self.assertEqual(self.hook.count(held), 2)
        self.assertIn(next(iter(self.delivered_once([held], new_leader, marks).values())), survivors)
        shown = self.nodes[follower].cli_json("notify", "show", str(held))
        self.assertEqual([a["outcome"] for a in shown["attempts_made"]], ["delivered"])
        # The reminder made after the kill fires once, on the new leader.
        wait_until(lambda: self.where_logged(r'schedule\.fired .*"reminder after"', marks),
                   "the reminder after the kill")
        self.scheduler_pass(new_leader, follower)
        self.fired_once_on(new_leader, ["after"], marks)

        # 5. The old leader started again, with its name and state dir: a follower, and every node
        # lists the three alive with the new leader.
        before = next(n for n in self.status(new_leader)["nodes"] if n["name"] == leader)
        old_leader.start()
        self.assertEqual(self.status(leader)["role"], "follower")
        self.assertEqual(self.wait_agreed(up), new_leader)
        self.check_lists(up, new_leader)
        again = next(n for n in self.status(follower)["nodes"] if n["name"] == leader)
        self.assertGreater(again["started_at"], before["started_at"])
        self.assertEqual({name: self.leader_metric(name) for name in up}, {name: int(name == new_leader) for name in up})
        self.assertEqual(self.lines(leader, r"cluster\.leading"), [])
        # What it held when it died was taken by another node: nothing of its own to let go of.
        self.assertEqual(self.lines(leader, r"notify\.claims_released"), [])

        # 6. A follower killed in the middle of a delivery and started again at once (before it
        # counts as gone, so nobody took its claim): it lets go of the claim, and the job goes out.
        held = self.hold_on(leader, leader)
        self.expected[held] = 2
        old_leader.kill9()
        self.hook.release(held)
        old_leader.start()
        released = self.lines(leader, r"notify\.claims_released")
        self.assertEqual(len(released), 1, old_leader.log_text())
        self.assertRegex(released[0], r"notify\.claims_released jobs=1 ")
        self.wait_delivered([held], new_leader)
        self.assertEqual(self.hook.count(held), 2)
        self.assertEqual(self.wait_agreed(up), new_leader)

        # Nothing came late or twice over the whole run.
        self.assertEqual(collections.Counter(self.hook.jobs()), self.expected)

    # -- an emergency alert outlives the leader that started it -----------------------------------
    def alert_status(self, via, alert):
        return self.nodes[via].cli_json("alert", "status", str(alert))

    @staticmethod
    def person(status, handle):
        return next(p for p in status["people"] if p["user"] == handle)

    def escalations(self, alert, marks):
        """{(user, rung): [the node of each safety.escalated line]} of the alert since marks."""
        found = collections.defaultdict(list)
        for name, lines in self.where_logged(r"safety\.escalated alert=%d " % alert, marks).items():
            for line in lines:
                m = re.search(r"safety\.escalated alert=\d+ user=(\S+) rung=(\S+) ", line)
                found[(m.group(1), m.group(2))].append(name)
        return dict(found)

    def alert_jobs(self, via, alert):
        """Every notification job the alert made (its fan-out, rungs, the help call): (id,
        handle, created_by, channel, state)."""
        return self.nodes[via].store_rows(
            "SELECT j.id, u.handle, n.created_by, j.channel, j.state FROM notify_jobs j "
            "JOIN notifications n ON n.id = j.notification_id JOIN users u ON u.id = j.user_id "
            "WHERE n.created_by = ? OR n.created_by LIKE ? ORDER BY j.id", ("alert:%d" % alert, "alert:%d:%%" % alert))

    def wait_alert_jobs_delivered(self, via, alert, count):
        last = []

        def check():
            last[:] = self.alert_jobs(via, alert)
            return len(last) == count and all(state == "delivered" for *_, state in last)

        wait_until(check, "the %d jobs of alert %d to be delivered" % (count, alert),
                   describe=lambda: "; jobs: %s" % last)
        return last

    def sms_reply(self, via, sender, body):
        """A roll-call reply by SMS, posted to node `via` as the provider would (signed)."""
        d = self.nodes[via]
        form = {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": "SM" + "3" * 32,
                "AccountSid": "AC" + "1" * 32}
        signed = "http://127.0.0.1:%d/v1/webhooks/sms" % d.port + "".join(k + form[k] for k in sorted(form))
        signature = base64.b64encode(hmac.new(b"sms-token", signed.encode(), hashlib.sha1).digest()).decode()
        status, _, text = d.http("POST", "/v1/webhooks/sms", body=urllib.parse.urlencode(form),
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "X-Twilio-Signature": signature})
        self.assertEqual(status, 200, text)
        return text

    def test_an_alert_started_on_the_leader_completes_after_it_dies(self):
        leader = self.wait_agreed(list(NAMES))
        survivors = [n for n in NAMES if n != leader]
        L = self.nodes[leader]
        phones = {"anna": "+393330000001", "bob": "+393330000002", "carl": "+393330000003",
                  "dora": "+393330000004", "gina": "+393330000005", "olga": "+393330000006",
                  "otto": "+393330000007"}
        people = {"anna": "Anna Rossi", "bob": "Bob Clark", "carl": "Carl Neri", "dora": "Dora Bianchi"}
        for i, (handle, name) in enumerate(people.items()):  # made through every node: one store
            self.nodes[NAMES[i % 3]].cli_json("user", "add", handle, "--role", "tourist", "-n", name,
                                              "--phone", phones[handle], "--language", "en")
        L.cli_json("user", "add", "gina", "--role", "guide", "-n", "Gina Verdi", "--phone", phones["gina"])
        for op in ("olga", "otto"):
            L.cli_json("user", "add", op, "--role", "operator", "--phone", phones[op])
        self.nodes[survivors[0]].cli_json("duty", "on", "olga")  # otto is off duty: never told
        t = now()
        tour = L.cli_json("tour", "add", "-t", "Colosseum at dawn", "--tz", "Europe/Rome", "-g", "gina",
                          "--start", rfc3339(t - datetime.timedelta(minutes=30)),
                          "--end", rfc3339(t + datetime.timedelta(hours=2)),
                          *[x for h in people for x in ("-p", h)])["id"]

        # 1. The alert, through the leader, to the whole tour (its four tourists and its guide): the
        # leader sends it at once, on every channel each has (in-app, SMS).
        marks = self.marks()
        sent = L.cli_json("alert", "send", "--headline", "Flash flood near the Colosseum",
                          "--instruction", "Go to higher ground now.", "--tour", str(tour))
        alert = sent["id"]
        self.assertEqual((sent["state"], sent["recipients"], sent["by_reason"]["tour"]), ("sending", 5, 5), sent)
        # Two answer at once, through the other nodes: the guide is safe, anna needs help.
        a = self.nodes[survivors[0]].cli_json("--as", "gina", "alert", "answer", str(alert), "safe")
        self.assertEqual((a["answer"], a["via"]), ("safe", "app"))
        a = self.nodes[survivors[1]].cli_json("--as", "anna", "alert", "answer", str(alert), "need-help",
                                              "--note", "stuck on the bridge")
        self.assertEqual(a["answer"], "need_help")
        self.assertIsNotNone(a["incident"])
        L.wait_for(r"safety\.alert_sent alert=%d " % alert, start=marks[leader])
        # 2. After ESCALATE_AFTER seconds the leader takes the first rung for the three who did not answer:
        # the alert again, on every channel.
        for h in ("bob", "carl", "dora"):
            L.wait_for(r"safety\.escalated alert=%d user=%s rung=renotify " % (alert, h), start=marks[leader])
        # What the leader queued so far is delivered (so that the kill cuts no delivery: that case
        # is the other test's): the alert to five, the help call to two, the first rung to three.
        self.wait_alert_jobs_delivered(survivors[0], alert, 2 * (5 + 2 + 3))
        before = self.alert_status(leader, alert)
        due = min(parse_time(self.person(before, h)["next_rung_at"]) for h in ("bob", "carl", "dora"))
        self.assertEqual([(p["user"], p["rung"]) for p in before["people"] if p["answer"] is None],
                         [(h, "renotify") for h in ("bob", "carl", "dora")])

        # 3. kill -9 of the leader before the second rung is due.
        kill_marks = self.marks()
        L.kill9()
        killed_at = time.monotonic()
        self.assertLess(now(), due, "the kill came after the next rung was due: the test proves nothing")
        # bob answers through a survivor at once (whether or not another node leads yet).
        a = self.nodes[survivors[0]].cli_json("--as", "bob", "alert", "answer", str(alert), "safe")
        self.assertEqual((a["user"], a["answer"], a["via"]), ("bob", "safe", "app"))
        self.assertLess(parse_time(a["answered_at"]), due)
        wait_until(lambda: self.where_logged(r"cluster\.leading", kill_marks), "another node to lead",
                   timeout=GONE_AFTER)
        new_leader = next(iter(self.where_logged(r"cluster\.leading", kill_marks)))
        follower = next(n for n in survivors if n != new_leader)
        took_over = time.monotonic() - killed_at
        N = self.nodes[new_leader]
        # 4. The new leader takes the second rung for carl and dora (their alert went out by SMS
        # already: recorded as skipped), not for bob, who answered.
        for h in ("carl", "dora"):
            N.wait_for(r"safety\.escalated alert=%d user=%s rung=sms " % (alert, h), start=kill_marks[new_leader])
        # carl answers by replying SAFE to the SMS, through the node that does not lead, before
        # his third rung is due.
        carl = self.person(self.alert_status(follower, alert), "carl")
        self.assertEqual(carl["rung"], "sms")
        carl_due = parse_time(carl["next_rung_at"])
        reply = self.sms_reply(follower, phones["carl"], "SAFE")
        self.assertIn("<Response><Message>", reply)
        carl = self.person(self.alert_status(follower, alert), "carl")
        self.assertEqual((carl["answer"], carl["via"], carl["by"]), ("safe", "sms", "sms"))
        self.assertLess(parse_time(carl["answered_at"]), carl_due)
        # 5. dora alone climbs on: her guide is told, then the operators on duty.
        N.wait_for(r"safety\.escalated alert=%d user=dora rung=guide " % alert, start=kill_marks[new_leader])
        N.wait_for(r"safety\.escalated alert=%d user=dora rung=operators " % alert, start=kill_marks[new_leader])
        ladder_done = time.monotonic() - killed_at

        # Every rung was taken once: the first by the old leader, the others by the new one.
        steps = self.escalations(alert, marks)
        self.assertEqual(steps, {("bob", "renotify"): [leader], ("carl", "renotify"): [leader],
                                 ("dora", "renotify"): [leader], ("carl", "sms"): [new_leader],
                                 ("dora", "sms"): [new_leader], ("dora", "guide"): [new_leader],
                                 ("dora", "operators"): [new_leader]})
        self.assertEqual(list(self.where_logged(r"safety\.alert_sent alert=%d " % alert, marks)), [leader])
        self.assertEqual(len(self.lines(leader, r"safety\.alert_sent alert=%d " % alert, marks[leader])), 1)
        # The answers were taken where they were given.
        answered = {name: sorted(re.search(r" user=(\S+)", l).group(1) for l in lines) for name, lines in
                    self.where_logged(r"safety\.answered alert=%d " % alert, marks).items()}
        expected = {survivors[0]: ["bob", "gina"], survivors[1]: ["anna"]}
        expected[follower] = sorted(expected[follower] + ["carl"])
        self.assertEqual(answered, expected)

        # The roll-call, as a survivor shows it: everyone notified once, three safe, one needs help,
        # one never answered and climbed to the top rung, where her ladder ends; the alert is sent.
        st = self.alert_status(follower, alert)
        self.assertEqual({k: st[k] for k in ("state", "recipients", "safe", "need_help", "no_answer", "answered_percent")},
                         {"state": "sent", "recipients": 5, "safe": 3, "need_help": 1, "no_answer": 1,
                          "answered_percent": 80})
        self.assertEqual(st["tours"], [{"tour": tour, "title": "Colosseum at dawn", "guide": "gina", "recipients": 5,
                                        "safe": 3, "need_help": 1, "no_answer": 1}])
        got = {p["user"]: (p["answer"], p["via"], p["rung"], p["next_rung_at"], sorted(p["channels"]))
               for p in st["people"]}
        self.assertEqual(got, {"anna": ("need_help", "app", "alert", None, ["inapp", "sms"]),
                               "gina": ("safe", "app", "alert", None, ["inapp", "sms"]),
                               "bob": ("safe", "app", "renotify", None, ["inapp", "sms"]),
                               "carl": ("safe", "sms", "sms", None, ["inapp", "sms"]),
                               "dora": (None, None, "operators", None, ["inapp", "sms"])})
        self.assertEqual([p["user"] for p in st["people"]][:2], ["anna", "dora"])  # need help, then not answered
        self.assertIsNotNone(self.person(st, "anna")["incident"])
        rungs = [(r["user"], r["rung"], r["detail"]) for r in st["rungs"]]
        self.assertEqual(sorted(rungs[:3]), [(h, "renotify", "sent again on inapp, sms") for h in ("bob", "carl", "dora")])
        self.assertEqual(sorted(rungs[3:5]), [(h, "sms", "skipped: the alert went out by SMS already")
                                              for h in ("carl", "dora")])
        self.assertEqual(rungs[5:], [("dora", "guide", "their guide gina was told"),
                                     ("dora", "operators", "the operators on duty were told")])
        listed = [x for x in map(json.loads, self.nodes[follower].cli("--json", "alert", "list").stdout.splitlines())
                  if x["id"] == alert]
        self.assertEqual([(x["state"], x["recipients"], x["answered"]) for x in listed], [("sent", 5, 4)])

        # What reached people: one job per channel for each message the docs promise, each
        # delivered, by one node, and each SMS at the receiver once.
        base = "alert:%d" % alert
        jobs = self.wait_alert_jobs_delivered(follower, alert, 2 * (5 + 2 + 3 + 2))
        want = collections.Counter()
        for h in ("anna", "bob", "carl", "dora", "gina"):
            want.update([(h, base)])  # the alert
        for h in ("bob", "carl", "dora"):
            want.update([(h, base + ":renotify")])  # the first rung
        want.update([("gina", base + ":help"), ("olga", base + ":help")])  # anna needs help
        want.update([("gina", base + ":escalation"), ("olga", base + ":escalation")])  # rungs 3 and 4
        for channel in ("inapp", "sms"):
            self.assertEqual(collections.Counter((h, by) for _, h, by, ch, _ in jobs if ch == channel), want, channel)
        # In-app: one feed item each (written with its job's outcome, in one transaction).
        feed = self.nodes[follower].store_rows(
            "SELECT u.handle, n.created_by FROM feed f JOIN notifications n ON n.id = f.notification_id "
            "JOIN users u ON u.id = f.user_id WHERE n.created_by = ? OR n.created_by LIKE ?", (base, base + ":%"))
        self.assertEqual(collections.Counter(feed), want)
        # SMS: each delivered by one node, and at the receiver once.
        sms_jobs = {j[0]: j for j in jobs if j[3] == "sms"}
        self.delivered_once(sms_jobs, follower, marks)
        received = self.sms.messages()
        self.assertEqual(collections.Counter(d for d, _, _ in received), {j: 1 for j in sms_jobs})
        self.assertEqual({(d, to) for d, to, _ in received},
                         {(j, phones[h]) for j, (_, h, _, _, _) in sms_jobs.items()})
        told = sorted((to, text) for d, to, text in received if sms_jobs[d][2] == base + ":escalation")
        line = "1 person has not answered the roll-call of alert %d: Dora Bianchi (dora)." % alert
        self.assertEqual([to for to, _ in told], sorted([phones["gina"], phones["olga"]]))
        for _, text in told:
            self.assertIn(line, text)
        self.assertNotIn(phones["otto"], [to for _, to, _ in received])
        self.assertEqual(self.hook.jobs(), [])  # the webhook channel is never chosen by itself
        print("\nalert %d sent through the leader %s, killed after the first rung: %s leads after %.1f s and "
              "took the last rung %.1f s after the kill" % (alert, leader, new_leader, took_over, ladder_done))

    # -- a campaign outlives the leader that runs it ---------------------------------------------
    def add_people(self, people):
        """user.create for each dict in `people` (a tourist, in English), spread over the three
        nodes (one store), over a keep-alive connection to each: a hundred users without a hundred
        CLI processes."""
        failures = []

        def work(node, chunk):
            conn = UnixHTTPConnection(self.nodes[node].socket)
            try:
                for u in chunk:
                    body = dict({"role": "tourist", "language": "en"}, **u)
                    conn.request("POST", "/v1/users", body=json.dumps(body), headers={"Content-Type": "application/json"})
                    res = conn.getresponse()
                    data = res.read()
                    if res.status != 201:
                        failures.append((u["handle"], res.status, data))
            finally:
                conn.close()

        threads = [threading.Thread(target=work, args=(name, people[i::3])) for i, name in enumerate(NAMES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])

    def claimed_by(self, via, node):
        """The ids of the jobs still queued that `node` claimed (to deliver them itself)."""
        return {i for i, in self.nodes[via].store_rows(
            "SELECT id FROM notify_jobs WHERE claimed_by = ? AND state = 'queued'", (node,))}

    def campaign_jobs(self, via, name):
        """{job id: (handle, channel, address, state)} of every job the campaign's notifications hold."""
        rows = self.nodes[via].store_rows(
            "SELECT j.id, u.handle, j.channel, j.address, j.state FROM notify_jobs j "
            "JOIN notifications n ON n.id = j.notification_id JOIN users u ON u.id = j.user_id "
            "WHERE n.created_by = ? ORDER BY j.id", ("campaign:" + name,))
        return {i: rest for i, *rest in rows}

    def campaign_batches(self, name, start, end=None):
        """{node: the recipients its schedule.campaign_batch lines of the campaign say it enqueued},
        over each node's lines from start[node] up to end[node] (or the last), nodes with none left out."""
        rx = re.compile(r"schedule\.campaign_batch campaign=%s queued=(\d+) " % re.escape(name))
        found = {}
        for node, d in self.nodes.items():
            with d.cond:
                lines = d.lines[start[node]:end[node] if end else None]
            queued = [int(m.group(1)) for m in map(rx.search, lines) if m]
            if queued:
                found[node] = sum(queued)
        return found

    def test_a_campaign_started_on_the_leader_sends_once_to_each_after_it_dies(self):
        leader = self.wait_agreed(list(NAMES))
        survivors = [n for n in NAMES if n != leader]
        L = self.nodes[leader]
        count, rate = 100, 20  # at 20 a second, about five seconds of enqueueing
        people = {"c%03d" % i: ("+39334%07d" % i, "Guest %03d" % i) for i in range(count)}
        self.add_people([{"handle": h, "display_name": display, "phone": phone, "marketing_consent": True}
                         for h, (phone, display) in people.items()]
                        + [{"handle": "x%d" % i, "display_name": "No Consent %d" % i, "phone": "+39335000000%d" % i}
                           for i in range(3)])  # no marketing consent: not in the audience
        name = "spring-sms"
        self.nodes[survivors[0]].cli_json("campaign", "create", name, "-t", "marketing", "--segment", "consent",
                                          "--channel", "sms", "--rate", str(rate), "--var", "offer=Spring tours -15%",
                                          "--var", "url=https://tours.example/spring")
        # Once a quarter of the audience has its SMS, the receiver holds each new job's first
        # request: deliveries under way, the leader's among them, for the kill to cut.
        self.sms.hold_after = count // 4

        # 1. Started through the leader: it runs the campaign, and delivers what it enqueues.
        marks = self.marks()
        started = L.cli_json("campaign", "start", name)
        started_at = time.monotonic()
        self.assertEqual((started["state"], started["targeted"]), ("running", count), started)
        L.wait_for(r"schedule\.campaign_batch campaign=%s " % name, start=marks[leader])
        held_by_leader = wait_until(lambda: self.sms.holding() & self.claimed_by(survivors[0], leader),
                                    "an SMS of the leader's held at the receiver",
                                    describe=lambda: "; held %s, arrived %d" % (sorted(self.sms.holding()),
                                                                                len(self.sms.messages())))

        # 2. kill -9 of the leader mid-campaign, with those SMS under way.
        kill_marks = self.marks()
        L.kill9()
        killed_at = time.monotonic()
        # What it had claimed and not recorded stays its own until it counts as gone (10 s
        # without a beat, beats every 2 s): only then may another node deliver those jobs.
        claimed_at_kill = self.claimed_by(survivors[0], leader)
        self.sms.release_all()  # the survivors' held requests are answered; the leader's went nowhere
        self.assertLessEqual(held_by_leader, claimed_at_kill)
        L.reader.join(WAIT)  # its log is complete
        # What it enqueued, by its log (read to its end), and nobody else while it lived.
        old = self.campaign_batches(name, marks, dict(kill_marks, **{leader: None}))
        self.assertEqual(list(old), [leader])
        self.assertLess(old[leader], count, "the campaign was enqueued whole before the kill")
        self.assertEqual(self.lines(leader, r"schedule\.campaign_done "), [])

        # 3. Another node leads and goes on with the campaign.
        wait_until(lambda: self.where_logged(r"cluster\.leading", kill_marks), "another node to lead", timeout=GONE_AFTER)
        new_leader = next(iter(self.where_logged(r"cluster\.leading", kill_marks)))
        took_over = time.monotonic() - killed_at
        follower = next(n for n in survivors if n != new_leader)
        # What reached the receiver of the jobs the dead leader held, before any other node may
        # take them (from 8 s after the kill): each was sent at most once so far.
        before = collections.Counter(d for d, _, _ in self.sms.messages())
        self.assertLess(time.monotonic() - killed_at, GONE_AFTER - 2 - 1, "too late to tell what the kill cut")
        cut = {j for j in claimed_at_kill if before[j]}
        self.assertEqual({j: before[j] for j in cut}, {j: 1 for j in cut})
        self.assertLessEqual(held_by_leader, cut)
        self.nodes[new_leader].wait_for(r"schedule\.campaign_done campaign=%s$" % name, start=kill_marks[new_leader])
        enqueued = time.monotonic() - started_at

        # 4. The campaign ends as a survivor shows it: everyone targeted queued once, each job
        # delivered (those the dead leader held once it counted as gone).
        last = {}

        def finished():
            last.update(self.nodes[follower].cli_json("campaign", "stats", name))
            return last["state"] == "done" and last["delivered"] == count

        wait_until(finished, "campaign %s done and delivered to %d" % (name, count), describe=lambda: "; stats %s" % last)
        delivered = time.monotonic() - killed_at
        st = self.nodes[follower].cli_json("campaign", "stats", name)
        self.assertEqual({k: st[k] for k in ("state", "pause_reason", "targeted", "pending", "recipients_queued",
                                             "recipients_cancelled", "skipped", "skipped_by_reason", "queued", "sent",
                                             "delivered", "failed", "cancelled", "jobs_by_channel", "unsubscribed")},
                         {"state": "done", "pause_reason": None, "targeted": count, "pending": 0,
                          "recipients_queued": count, "recipients_cancelled": 0, "skipped": 0, "skipped_by_reason": {},
                          "queued": 0, "sent": count, "delivered": count, "failed": 0, "cancelled": 0,
                          "jobs_by_channel": {"sms": count}, "unsubscribed": 0})
        self.assertIsNotNone(st["finished_at"])
        listed = [c for c in map(json.loads, self.nodes[new_leader].cli("--json", "campaign", "list").stdout.splitlines())
                  if c["name"] == name]
        self.assertEqual([(c["state"], c["targeted"], c["pending"], c["queued"], c["skipped"]) for c in listed],
                         [("done", count, 0, count, 0)])
        # The two leaders enqueued it between them, nobody else: the dead one up to the kill, the
        # new one the rest, and only the new one finished it. (A batch committed in the instant
        # before the kill would have no line: the store, below, is the proof of once each.)
        new = {n: queued for n, queued in self.campaign_batches(name, kill_marks).items() if n != leader}
        self.assertEqual(list(new), [new_leader])
        self.assertGreater(new[new_leader], 0)
        self.assertLessEqual(old[leader] + new[new_leader], count)
        self.assertEqual(list(self.where_logged(r"schedule\.campaign_done campaign=%s$" % name, marks)), [new_leader])
        self.assertEqual(len(self.lines(new_leader, r"schedule\.campaign_done campaign=%s$" % name)), 1)

        # 5. In the store: each recipient queued, with one job (one per recipient and channel:
        # SMS alone), to their phone, delivered; each job with one attempt recorded, delivered
        # (the attempts the kill cut were never recorded).
        recipients = dict(self.nodes[follower].store_rows(
            "SELECT u.handle, r.state FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id "
            "JOIN users u ON u.id = r.user_id WHERE c.name = ?", (name,)))
        self.assertEqual(recipients, {h: "queued" for h in people})
        jobs = self.campaign_jobs(follower, name)
        self.assertEqual(collections.Counter((h, ch) for h, ch, _, _ in jobs.values()),
                         {(h, "sms"): 1 for h in people})
        self.assertEqual({h: (address, state) for h, _, address, state in jobs.values()},
                         {h: (phone, "delivered") for h, (phone, _) in people.items()})
        attempts = self.nodes[follower].store_rows(
            "SELECT a.job_id, a.outcome FROM notify_attempts a JOIN notify_jobs j ON j.id = a.job_id "
            "JOIN notifications n ON n.id = j.notification_id WHERE n.created_by = ?", ("campaign:" + name,))
        self.assertEqual(sorted(attempts), sorted((j, "delivered") for j in jobs))
        self.assertLessEqual(claimed_at_kill, set(jobs))
        # Each job delivered by one node; what the dead leader held, by a survivor.
        by = self.delivered_once(jobs, follower, marks)
        self.assertEqual({j: by[j] for j in claimed_at_kill if by[j] not in survivors}, {})

        # 6. At the receiver: each person one message (one `delivery`, their job), with their own
        # name, and the three without consent none. Delivery is at least once (docs/api.md,
        # "Delivery"; docs/scaling.md: "An attempt that was under way when its node died is made
        # again by another node"): a job whose request reached the receiver from the dead leader,
        # its outcome unrecorded, arrives once more, with the same `delivery` to dedupe on; every
        # other job arrives exactly once.
        received = self.sms.messages()
        arrivals = collections.Counter(d for d, _, _ in received)
        self.assertEqual(arrivals, {j: 2 if j in cut else 1 for j in jobs})
        to = collections.defaultdict(set)
        for d, phone, _ in received:
            to[phone].add(d)
        self.assertEqual(to, {address: {j} for j, (_, _, address, _) in jobs.items()})
        for d, to, text in received:
            handle = jobs[d][0]
            self.assertIn("Hello %s,\nSpring tours -15%%: https://tours.example/spring" % people[handle][1], text)
        self.assertEqual(self.hook.jobs(), [])
        print("\ncampaign of %d SMS at %d/s started through the leader %s, killed with %d enqueued and %d SMS of its "
              "own held (%d cut, %d claimed): %s leads after %.1f s, finished enqueueing %.1f s after the start, "
              "all delivered %.1f s after the kill" % (count, rate, leader, old[leader], len(held_by_leader), len(cut),
                                                      len(claimed_at_kill), new_leader, took_over, enqueued, delivered))


if __name__ == "__main__":
    unittest.main()
