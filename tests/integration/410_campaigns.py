"""Campaigns: a campaign to 10,000 people held to its throttle and the frequency cap, signed
unsubscribe links (the page, one-click, tampering, List-Unsubscribe) taking effect mid-campaign,
`kill -9` mid-campaign without duplicates, pause/resume/cancel, the sliding window, quiet hours,
a scheduled start, segment errors with their column, previews per language and channel, segments
over the real store, and the signed review link that records a review and sends the person on to
review.url. Figures the CLI does not show (each job's created_at, each recipient's state) are read
from the daemon's database, read-only."""

import datetime
import json
import os
import re
import shutil
import tempfile
import threading
import unittest

from harness import WAIT, DaemonTest, UnixHTTPConnection
import peers

EXAMPLES = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "templates"))
UTC = datetime.timezone.utc

MARKETING_ES = '''category = "marketing"
subject = "{{offer}}"
text = """
Hola {{name}},
{{offer}}: {{url}}

Para no recibir más ofertas: {{unsubscribe_url}}
"""
'''
REVIEW_LINK_EN = '''category = "review"
subject = "How was {{tour_title}}?"
text = "Hello {{name}}, tell us how {{tour_title}} went: {{review_url}}"
'''
OFFER = ("--var", "offer=Night tour -20%", "--var", "url=https://tours.example/night")


def now():
    return datetime.datetime.now(UTC)


def parse(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def create_users(d, users, connections=8):
    """user.create for each dict in `users` (defaults: tourist, en, consent), over a few keep-alive
    connections in threads: thousands of users without thousands of CLI processes."""
    failures = []

    def work(chunk):
        conn = UnixHTTPConnection(d.socket)
        try:
            for u in chunk:
                body = dict({"display_name": u["handle"], "role": "tourist", "language": "en", "marketing_consent": True}, **u)
                conn.request("POST", "/v1/users", body=json.dumps(body), headers={"Content-Type": "application/json"})
                res = conn.getresponse()
                data = res.read()
                if res.status != 201:
                    failures.append((u["handle"], res.status, data))
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(users[i::connections],)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise AssertionError("user.create failed for %d users, e.g. %r" % (len(failures), failures[:3]))


class CampaignTest(DaemonTest):
    """The daemon with the example templates plus a Spanish marketing template and a review
    template carrying {{review_url}}; campaigns without quiet hours, plus what a class adds."""

    notify_keys = ""    # more [notify] keys
    quiet_hours = ""    # campaign.quiet_hours
    campaign_keys = ""  # more [campaign] keys
    extra_config = ""   # more sections

    def setUp(self):
        self.templates = tempfile.mkdtemp(prefix="tourbus-templates-")
        self.addCleanup(shutil.rmtree, self.templates, True)
        for name in os.listdir(EXAMPLES):
            shutil.copy(os.path.join(EXAMPLES, name), self.templates)
        for name, text in (("marketing.es.toml", MARKETING_ES), ("review_link.en.toml", REVIEW_LINK_EN)):
            with open(os.path.join(self.templates, name), "w") as f:
                f.write(text)
        self.config = ('[notify]\ntemplates_dir = "%s"\n%s[campaign]\nquiet_hours = "%s"\n%s%s'
                       % (self.templates, self.notify_keys, self.quiet_hours, self.campaign_keys, self.extra_config))
        super().setUp()

    # -- the CLI ------------------------------------------------------------------------------
    def lines(self, *args):
        """A list or follow command's --json output: one JSON object a line."""
        r = self.d.cli("--json", *args)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def create(self, name, segment, *extra):
        return self.d.cli_json("campaign", "create", name, "-t", "marketing", "--segment", segment, *OFFER, *extra)

    def stats(self, name):
        return self.d.cli_json("campaign", "stats", name)

    def follow(self, *args):
        """`campaign start|resume NAME --wait` or `campaign stats NAME --watch` in --json mode:
        the progress lines, checked for form; the last one is the campaign's end."""
        progress = self.lines("campaign", *args)
        self.assertGreaterEqual(len(progress), 1)
        done = [p["processed"] for p in progress]
        self.assertEqual(done, sorted(done), progress)  # never goes back
        for p in progress:
            self.assertLessEqual({"name", "state", "targeted", "processed", "queued", "skipped", "sent", "delivered",
                                  "rate_per_second", "eta_seconds"}, set(p), p)
        return progress

    def user_id(self, handle):
        return self.d.cli_json("user", "show", handle)["id"]

    def consent(self, handle):
        return self.d.cli_json("user", "show", handle)["marketing_consent"]

    def batch(self, name, start):
        return self.d.wait_for(r"schedule\.campaign_batch campaign=%s " % re.escape(name), start=start)

    def batch_lines(self, name, start=0):
        with self.d.cond:
            return [l for l in self.d.lines[start:] if re.search(r"schedule\.campaign_batch campaign=%s " % re.escape(name), l)]

    def probe_round(self, handle="probe", **fields):
        """Proof that the campaign runner went round again: a one-person campaign started now is
        done, and a round takes the due campaigns in the order they were made, so every older one
        that was due had its turn in that round too."""
        self.add_user(handle, marketing_consent="yes", **fields)
        name = "probe-" + handle
        self.create(name, "handle = " + handle)
        self.assertEqual(self.follow("start", name, "--wait")[-1]["state"], "done")

    # -- the daemon's own records, read-only ---------------------------------------------------
    def sql(self, query, *args):
        return self.d.store_rows(query, args)

    def campaign_jobs(self, name):
        """(handle, channel, created_at ms) of every job the campaign's notifications hold."""
        return self.sql("SELECT u.handle, j.channel, j.created_at FROM notify_jobs j "
                        "JOIN notifications n ON n.id = j.notification_id JOIN users u ON u.id = j.user_id "
                        "WHERE n.created_by = ? ORDER BY j.created_at", "campaign:" + name)

    def recipients(self, name):
        """handle -> (state, reason) of the campaign's recipients."""
        rows = self.sql("SELECT u.handle, r.state, r.reason FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id "
                        "JOIN users u ON u.id = r.user_id WHERE c.name = ?", name)
        return {h: (s, why) for h, s, why in rows}


# Ten thousand in the normal build; the sanitizer build (build dir build-asan) runs the same with
# a thousand at a tenth of the rate, which takes about as long (CI has 30 minutes for both builds).
SANITIZED = "build-asan" in os.environ.get("TOURBUS_BUILD_DIR", "")
PEOPLE = 1_000 if SANITIZED else 10_000


class Throttle(CampaignTest):
    RATE = 100 if SANITIZED else 1000
    campaign_keys = "rate_per_second = %d\nmax_per_user = 1\ncap_days = 7\n" % RATE

    def test_ten_thousand_people_at_the_rate_and_the_frequency_cap(self):
        handles = ["p%05d" % i for i in range(PEOPLE)]
        create_users(self.d, [{"handle": h} for h in handles])
        capped = handles[::10]  # 1,000 people spread over the whole audience
        sent = self.d.cli_json("notify", "send", "--to", ",".join(capped), "-t", "marketing",
                               "--var", "offer=Early bird", "--var", "url=https://tours.example/early")
        self.assertEqual(len(sent["jobs"]), PEOPLE // 10)

        self.create("spring", "consent")
        progress = self.follow("start", "spring", "--wait")
        self.assertEqual((progress[-1]["state"], progress[-1]["targeted"], progress[-1]["processed"]), ("done", PEOPLE, PEOPLE))
        self.assertGreater(len({p["processed"] for p in progress}), 1, progress)  # progress while it ran

        st = self.stats("spring")
        self.assertEqual((st["state"], st["targeted"], st["pending"]), ("done", PEOPLE, 0))
        self.assertEqual(st["skipped_by_reason"], {"frequency_cap": PEOPLE // 10})
        self.assertEqual(st["recipients_queued"], PEOPLE * 9 // 10)
        self.assertEqual(st["jobs_by_channel"], {"inapp": PEOPLE * 9 // 10})

        jobs = self.campaign_jobs("spring")
        self.assertEqual(len(jobs), PEOPLE * 9 // 10)
        self.assertEqual({h for h, _, _ in jobs}, set(handles) - set(capped))  # the capped got nothing more
        self.assertEqual({c for _, c, _ in jobs}, {"inapp"})
        # The throttle held: a token bucket of one second at the rate lets at most twice the rate
        # through in any one second (the full bucket, then what refills meanwhile).
        times = [t for _, _, t in jobs]
        busiest, j = 0, 0
        for i in range(len(times)):
            while j < len(times) and times[j] - times[i] < 1000:
                j += 1
            busiest = max(busiest, j - i)
        print("\n%d recipients: busiest second %d jobs (rate %d/s); enqueued over %.1f s"
              % (PEOPLE, busiest, self.RATE, (times[-1] - times[0]) / 1000))
        self.assertLessEqual(busiest, 2 * self.RATE)
        self.assertGreater(busiest, 0)


class Unsubscribe(CampaignTest):
    """E-mail to a real SMTP server (no email.unsubscribe_url: the signed link goes in the
    List-Unsubscribe header); no frequency cap, so consent alone decides; requests logged."""

    campaign_keys = "max_per_user = 0\n"

    def setUp(self):
        self.smtp = peers.SmtpPeer()
        self.addCleanup(self.smtp.close)
        self.extra_config = ('[log]\nlevel = "debug"\n[email]\nsmtp_url = "smtp://127.0.0.1:%d"\nstarttls = "off"\n'
                             'from = "Tour Desk <desk@tours.example>"\n' % self.smtp.port)
        super().setUp()

    def test_an_unsubscribe_mid_campaign_stops_further_sends(self):
        create_users(self.d, [{"handle": "f%03d" % i} for i in range(1, 80)])
        self.add_user("f000", email="f000@example.com", marketing_consent="yes")  # gets the campaign by e-mail too
        self.add_user("xena", email="xena@example.com", marketing_consent="yes")  # the last in line
        xena = self.user_id("xena")

        # an earlier offer carries her own signed link, in the text and in List-Unsubscribe
        sent = self.d.cli_json("notify", "send", "--to", "xena", "-t", "marketing", "--channel", "email,inapp", *OFFER)
        self.assertEqual(sorted(j["channel"] for j in sent["jobs"]), ["email", "inapp"])
        text = self.d.cli_json("notify", "show", str(sent["jobs"][0]["id"]))["text"]
        m = re.search(r"http://127\.0\.0\.1:%d(/v1/links/u\.%d\.0\.0\.([0-9a-f]{32}))\s" % (self.d.port, xena), text)
        self.assertIsNotNone(m, text)
        url, path, signature = m.group(0).strip(), m.group(1), m.group(2)
        mail = self.smtp.wait_messages(1)[0]
        self.assertEqual(mail.message["List-Unsubscribe"], "<%s>" % url)
        self.assertEqual(mail.message["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click")

        # following it shows a page asking to confirm; nothing changes (mail scanners fetch links)
        status, headers, page = self.d.http("GET", path)
        self.assertEqual(status, 200, page)
        self.assertTrue(headers["Content-Type"].startswith("text/html"), headers)
        self.assertIn('<form method="post">', page)
        self.assertTrue(self.consent("xena"))
        # a forged link: one hex digit of the signature changed, or another kind of link
        forged = path[:-1] + ("0" if path[-1] != "0" else "1")
        for method in ("GET", "POST"):
            for bad in (forged, path.replace("/u.", "/r.", 1)):
                status, _, page = self.d.http(method, bad, body="List-Unsubscribe=One-Click",
                                              headers={"Content-Type": "application/x-www-form-urlencoded"})
                self.assertEqual(status, 404, (method, bad, page))
        self.assertTrue(self.consent("xena"))

        self.create("autumn", "consent", "--rate", "20")  # 81 people at 20 a second: xena in ~4 s
        mark = self.d.log_mark()
        self.d.cli_json("campaign", "start", "autumn")
        self.batch("autumn", mark)
        self.assertEqual(self.recipients("autumn")["xena"], ("pending", None))  # really mid-campaign, before her turn
        # RFC 8058 one-click, as a mail client sends it
        status, _, page = self.d.http("POST", path, body="List-Unsubscribe=One-Click",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200, page)
        self.assertIn("Unsubscribed", page)
        self.assertFalse(self.consent("xena"))

        self.assertEqual(self.follow("stats", "autumn", "--watch")[-1]["state"], "done")
        st = self.stats("autumn")
        self.assertEqual((st["targeted"], st["recipients_queued"], st["pending"]), (81, 80, 0))
        self.assertEqual(st["skipped_by_reason"], {"no_consent": 1})
        self.assertEqual(self.recipients("autumn")["xena"], ("skipped", "no_consent"))
        self.assertNotIn("xena", {h for h, _, _ in self.campaign_jobs("autumn")})
        self.assertEqual({j["notification"] for j in self.lines("notify", "list", "-u", "xena")}, {sent["notification"]})
        self.assertEqual([m.rcpt_tos for m in self.smtp.wait_messages(2)], [["xena@example.com"], ["f000@example.com"]])

        # the campaign's own mail carries a link naming the campaign: unsubscribing counts there
        cid = self.sql("SELECT id FROM campaigns WHERE name = 'autumn'")[0][0]
        mail = self.smtp.messages[1]
        m = re.fullmatch(r"<http://127\.0\.0\.1:%d(/v1/links/u\.%d\.%d\.0\.[0-9a-f]{32})>"
                         % (self.d.port, self.user_id("f000"), cid), mail.message["List-Unsubscribe"])
        self.assertIsNotNone(m, mail.message["List-Unsubscribe"])
        self.assertEqual(mail.message["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click")
        self.assertIn(m.group(1), mail.text())
        self.assertEqual(self.stats("autumn")["unsubscribed"], 0)
        status, _, _ = self.d.http("POST", m.group(1), body="List-Unsubscribe=One-Click",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200)
        self.assertFalse(self.consent("f000"))
        self.assertEqual(self.stats("autumn")["unsubscribed"], 1)

        # the links act for a person: their path is never logged, though the requests are
        log = self.d.log_text()
        self.assertIn('target="/v1/links/..."', log)
        self.assertNotIn(signature, log)
        self.assertNotRegex(log, r"/v1/links/[a-z]\.")


class Restart(CampaignTest):
    def test_kill9_mid_campaign_resumes_without_duplicates(self):
        handles = ["r%03d" % i for i in range(300)]
        create_users(self.d, [{"handle": h} for h in handles])
        self.create("winter", "consent", "--rate", "50")
        mark = self.d.log_mark()
        self.d.cli_json("campaign", "start", "winter")
        self.batch("winter", mark)
        self.d.kill9()
        states = [s for s, _ in self.recipients("winter").values()]
        self.assertGreater(states.count("queued"), 0)
        self.assertGreater(states.count("pending"), 0)  # killed mid-campaign

        self.d.start()
        self.assertEqual(self.follow("stats", "winter", "--watch")[-1]["state"], "done")
        st = self.stats("winter")
        self.assertEqual((st["targeted"], st["recipients_queued"], st["skipped"], st["pending"]), (300, 300, 0, 0))
        per_user = {}
        for h, _, _ in self.campaign_jobs("winter"):
            per_user[h] = per_user.get(h, 0) + 1
        self.assertEqual({h for h, n in per_user.items() if n != 1}, set())  # nobody twice
        self.assertEqual(set(per_user), set(handles))  # nobody missing
        self.assertEqual(self.recipients("winter"), {h: ("queued", None) for h in handles})


class Lifecycle(CampaignTest):
    """E-mail to a closed port with a long retry: e-mail jobs stay queued until cancelled."""

    notify_keys = "retry_base_ms = 600000\nretry_max_ms = 600000\nmax_attempts = 5\n"
    extra_config = '[email]\nsmtp_url = "smtp://127.0.0.1:9"\nstarttls = "off"\nfrom = "desk@tours.example"\n'

    def test_pause_with_a_reason_then_resume_to_done(self):
        handles = ["a%02d" % i for i in range(40)]
        create_users(self.d, [{"handle": h} for h in handles])
        self.create("summer", "consent", "--rate", "10")
        mark = self.d.log_mark()
        self.d.cli_json("campaign", "start", "summer")
        self.batch("summer", mark)
        paused = self.d.cli_json("campaign", "pause", "summer", "-r", "the price is wrong")
        self.assertEqual((paused["state"], paused["pause_reason"]), ("paused", "the price is wrong"))
        listed = {c["name"]: c for c in self.lines("campaign", "list")}["summer"]
        self.assertEqual((listed["state"], listed["pause_reason"]), ("paused", "the price is wrong"))
        before = self.stats("summer")
        self.assertGreater(before["pending"], 0)
        self.assertEqual((before["state"], before["pause_reason"]), ("paused", "the price is wrong"))

        mark = self.d.log_mark()
        self.probe_round()
        after = self.stats("summer")
        self.assertEqual((after["pending"], after["recipients_queued"]), (before["pending"], before["recipients_queued"]))
        self.assertEqual(self.batch_lines("summer", mark), [])
        self.assertCliError(self.d.cli("--json", "campaign", "pause", "summer"), 4, "conflict")  # paused already

        progress = self.follow("resume", "summer", "--wait")
        self.assertEqual(progress[-1]["state"], "done")
        st = self.stats("summer")
        self.assertEqual((st["state"], st["pause_reason"], st["pending"], st["recipients_queued"]), ("done", None, 0, 40))
        self.assertEqual(sorted(h for h, _, _ in self.campaign_jobs("summer")), handles)

    def test_cancel_mid_campaign_cancels_the_rest_and_what_is_queued(self):
        handles = ["b%02d" % i for i in range(30)]
        create_users(self.d, [{"handle": h, "email": h + "@example.com"} for h in handles])
        self.create("fall", "consent", "--rate", "5", "--channel", "email")
        mark = self.d.log_mark()
        self.d.cli_json("campaign", "start", "fall")
        self.batch("fall", mark)
        cancelled = self.d.cli_json("campaign", "cancel", "fall")
        self.assertEqual(cancelled["state"], "cancelled")
        st = self.stats("fall")
        queued = st["recipients_queued"]
        self.assertGreater(queued, 0)
        self.assertEqual((st["state"], st["pending"], st["recipients_cancelled"]), ("cancelled", 0, 30 - queued))
        self.assertEqual((st["queued"], st["cancelled"]), (0, queued))  # its messages not yet sent: gone too
        gone = self.lines("notify", "list", "--state", "cancelled", "--limit", "1000")
        self.assertEqual(len(gone), queued)
        self.assertEqual({j["channel"] for j in gone}, {"email"})
        self.assertEqual(self.lines("notify", "list", "--state", "queued"), [])
        self.assertIsNotNone(st["finished_at"])

        mark = self.d.log_mark()
        self.probe_round()
        self.assertEqual(self.batch_lines("fall", mark), [])
        again = self.stats("fall")
        self.assertEqual((again["recipients_queued"], again["recipients_cancelled"]), (queued, 30 - queued))
        self.assertEqual(len(self.campaign_jobs("fall")), queued)
        self.assertCliError(self.d.cli("--json", "campaign", "resume", "fall"), 4, "conflict")


class SlidingWindow(CampaignTest):
    campaign_keys = "rate_per_second = 0\nwindow_max = 10\nwindow_minutes = 60\n"

    def test_the_window_caps_a_campaign_without_a_rate(self):
        create_users(self.d, [{"handle": "w%02d" % i} for i in range(25)])
        self.create("flash", "consent")
        mark = self.d.log_mark()
        self.d.cli_json("campaign", "start", "flash")
        self.assertIn("queued=10 ", self.batch("flash", mark))
        self.probe_round()  # the runner went round again: the window is full for the hour
        st = self.stats("flash")
        self.assertEqual((st["state"], st["recipients_queued"], st["pending"]), ("running", 10, 15))
        self.assertEqual(len(self.batch_lines("flash")), 1)
        self.assertEqual(len(self.campaign_jobs("flash")), 10)


class QuietHours(CampaignTest):
    """campaign.quiet_hours covers the present hour in UTC; people with quiet hours of their own
    keep theirs."""

    T = now()
    quiet_hours = "%s-%s" % ((T - datetime.timedelta(hours=1)).strftime("%H:%M"), (T + datetime.timedelta(hours=1)).strftime("%H:%M"))

    @staticmethod
    def next_at(t, hhmm):
        """The next HH:MM (UTC) after t, in ms."""
        at = t.replace(hour=int(hhmm[:2]), minute=int(hhmm[3:]), second=0, microsecond=0)
        if at <= t:
            at += datetime.timedelta(days=1)
        return int(at.timestamp() * 1000)

    def test_people_in_their_quiet_hours_are_held_until_they_end(self):
        t = self.T
        hhmm = lambda d: (t + d).strftime("%H:%M")
        own_now = "%s-%s" % (hhmm(datetime.timedelta(hours=-1)), hhmm(datetime.timedelta(hours=2)))
        own_later = "%s-%s" % (hhmm(datetime.timedelta(hours=3)), hhmm(datetime.timedelta(hours=4)))
        self.add_user("owl", tz="UTC", quiet_hours=own_now, marketing_consent="yes")   # their own: now
        self.add_user("lark", tz="UTC", quiet_hours=own_later, marketing_consent="yes")  # their own: not now
        self.add_user("jay", tz="UTC", marketing_consent="yes")  # the campaign's: now
        self.add_user("kiwi", tz="Asia/Dhaka", marketing_consent="yes")  # the campaign's, but it is 6 h later there
        self.create("dawn", "consent")
        mark = self.d.log_mark()
        self.d.cli_json("campaign", "start", "dawn")
        self.assertIn("queued=2 skipped=0 held=2", self.batch("dawn", mark))
        self.probe_round(tz="Asia/Dhaka")  # outside the quiet hours, as kiwi
        st = self.stats("dawn")
        self.assertEqual((st["state"], st["recipients_queued"], st["pending"]), ("running", 2, 2))
        self.assertEqual(sorted(h for h, _, _ in self.campaign_jobs("dawn")), ["kiwi", "lark"])
        self.assertEqual(len(self.batch_lines("dawn")), 1)
        held = dict(self.sql("SELECT u.handle, r.not_before FROM campaign_recipients r JOIN users u ON u.id = r.user_id "
                             "WHERE r.state = 'pending'"))
        self.assertEqual(held, {"owl": self.next_at(t, own_now[-5:]), "jay": self.next_at(t, self.quiet_hours[-5:])})


class Scheduled(CampaignTest):
    def test_a_scheduled_campaign_starts_at_its_time(self):
        create_users(self.d, [{"handle": "s%02d" % i} for i in range(5)])
        self.create("noon", "consent")
        r = self.d.cli("--json", "campaign", "schedule", "noon", "--at", "2020-01-01T00:00:00Z")
        self.assertCliError(r, 4, "invalid_argument")
        self.assertIn("in the past", r.stderr)
        at = now().replace(microsecond=0) + datetime.timedelta(seconds=2)
        mark = self.d.log_mark()
        shown = self.d.cli_json("campaign", "schedule", "noon", "--at", rfc3339(at))
        self.assertEqual((shown["state"], parse(shown["start_at"]), shown["targeted"]), ("scheduled", at, 0))
        self.d.wait_for(r"schedule\.campaign_started campaign=noon state=running", start=mark)
        self.assertEqual(self.follow("stats", "noon", "--watch")[-1]["state"], "done")
        st = self.stats("noon")
        self.assertEqual((st["targeted"], st["recipients_queued"]), (5, 5))
        self.assertGreaterEqual(parse(st["started_at"]), at)  # not before its time


class Errors(CampaignTest):
    def test_bad_campaigns_are_refused_with_the_reason(self):
        self.add_user("maria", marketing_consent="yes")
        cases = [
            (["-t", "marketing", "--segment", "consent and langage = es"], 4, "invalid_argument", "segment",
             "segment: at column 13: unknown field 'langage'"),
            (["-t", "marketing", "--segment", "consent and"], 4, "invalid_argument", "segment", "at column 12"),
            (["-t", "marketing", "--segment", "country = XX"], 4, "invalid_argument", "segment", "at column 11"),
            (["-t", "marketing", "--segment", ""], 4, "invalid_argument", "segment", "segment: empty"),
            (["-t", "marketing", "--segment", "   "], 4, "invalid_argument", "segment", "segment: empty"),
            (["-t", "booking_confirmation", "--segment", "consent"], 4, "invalid_argument", "template",
             "'booking_confirmation' is a transactional template"),
            (["-t", "no_such_template", "--segment", "consent"], 3, "not_found", "template", "no template 'no_such_template'"),
        ]
        for args, code, error, fld, words in cases:
            with self.subTest(args=args):
                r = self.d.cli("--json", "campaign", "create", "x", *args)
                self.assertCliError(r, code, error)
                self.assertEqual(json.loads(r.stdout)["error"]["field"], fld)
                self.assertIn(words, r.stderr)
        r = self.d.cli("--json", "campaign", "create", "Not A Name", "-t", "marketing", "--segment", "consent")
        self.assertCliError(r, 4, "invalid_argument")
        self.assertEqual(self.lines("campaign", "list"), [])  # none of them was stored
        self.create("ok", "consent")
        self.assertCliError(self.d.cli("--json", "campaign", "create", "ok", "-t", "marketing", "--segment", "consent"),
                            4, "already_exists")
        self.assertCliError(self.d.cli("--json", "campaign", "stats", "nosuch"), 3, "not_found")
        self.assertEqual([c["name"] for c in self.lines("campaign", "list")], ["ok"])


class Preview(CampaignTest):
    extra_config = '[email]\nsmtp_url = "smtp://127.0.0.1:9"\nstarttls = "off"\nfrom = "desk@tours.example"\n'

    def test_counts_per_language_and_channel_and_a_sample_in_each_language(self):
        self.add_user("emma", name="Emma Stone", email="emma@example.com", marketing_consent="yes")
        self.add_user("eric", marketing_consent="yes")
        self.add_user("ella", marketing_consent="yes")
        self.add_user("sofia", name="Sofía Ruiz", language="es", email="sofia@example.es", marketing_consent="yes")
        self.add_user("pablo", language="es", marketing_consent="yes")
        self.add_user("nacho", language="es")  # no consent
        self.add_user("greta", language="de", marketing_consent="yes")  # not in the segment
        self.create("rebajas", "language in (en, es)")
        p = self.d.cli_json("campaign", "preview", "rebajas")
        self.assertEqual(p["matched"], 6)
        self.assertEqual(p["by_language"], {"en": 3, "es": 3})
        self.assertEqual(p["by_channel"], {"inapp": 5, "email": 2})
        self.assertEqual(p["skipped"], {"no_consent": 1})
        self.assertEqual(sorted(p["samples"]), ["en", "es"])
        en, es = p["samples"]["en"], p["samples"]["es"]
        self.assertEqual((en["user"], en["subject"], es["user"], es["subject"]),
                         ("emma", "Night tour -20%", "sofia", "Night tour -20%"))
        self.assertIn("Hello Emma Stone,", en["text"])
        self.assertIn("No more offers:", en["text"])
        self.assertIn("Hola Sofía Ruiz,", es["text"])
        self.assertIn("Para no recibir más ofertas:", es["text"])
        self.assertNotIn("Hello", es["text"])
        self.assertIn("https://tours.example/night", es["text"])
        # what an operator reads
        text = self.d.cli("campaign", "preview", "rebajas").stdout
        self.assertIn("rebajas: 6 people match language in (en, es)", text)
        self.assertIn("--- es (as sent to sofia)", text)
        # a preview stores and sends nothing
        self.assertEqual(self.lines("notify", "list"), [])
        st = self.stats("rebajas")
        self.assertEqual((st["state"], st["targeted"]), ("draft", 0))

    # The sample of a language is the message of the first person of it who is reached: one left
    # out (no consent, opted out) does not take the language's sample away.
    def test_a_language_whose_first_match_is_left_out_still_has_a_sample(self):
        self.add_user("nacho", language="es")  # no consent, and the first Spanish speaker
        self.add_user("sofia", language="es", marketing_consent="yes")
        self.add_user("emma", marketing_consent="yes")
        self.create("rebajas", "language in (en, es)")
        p = self.d.cli_json("campaign", "preview", "rebajas")
        self.assertEqual((p["matched"], p["by_channel"], p["skipped"]), (3, {"inapp": 2}, {"no_consent": 1}))
        self.assertEqual(p["samples"]["en"]["user"], "emma")
        self.assertEqual(p["samples"].get("es", {}).get("user"), "sofia")


class Segments(CampaignTest):
    def test_segments_select_over_the_real_store(self):
        t = now()
        past = (t - datetime.timedelta(days=3), t - datetime.timedelta(days=3) + datetime.timedelta(hours=2))
        self.add_user("ana", language="es", phone="+34600000001", marketing_consent="yes")
        self.add_user("bea", language="es-MX", phone="+5215512345678", marketing_consent="yes")
        self.add_user("carl", phone="+34600000002")  # no consent
        self.add_user("dan", phone="+12025550123", marketing_consent="yes")
        self.add_user("eve", marketing_consent="yes")  # no phone
        self.add_user("fay", language="es", marketing_consent="yes")
        self.add_user("gus", language="es", phone="+34600000003", marketing_consent="yes")
        for h in ("ana", "carl", "fay", "gus"):
            self.assertIn("vip", self.d.cli_json("user", "tag", h, "vip")["tags"])
        self.d.cli_json("user", "tag", "eve", "newsletter")
        self.assertEqual(self.d.cli("user", "disable", "gus").returncode, 0)  # disabled: never selected

        def tour(title, start, end, *people):
            args = ["tour", "add", "-t", title, "--start", rfc3339(start), "--end", rfc3339(end), "--tz", "UTC"]
            for p in people:
                args += ["-p", p]
            return self.d.cli_json(*args)["id"]

        t1 = tour("Prado", past[0], past[1], "ana", "dan")
        self.assertEqual(self.d.cli_json("tour", "set", str(t1), "--status", "finished")["status"], "finished")
        t2 = tour("Retiro", past[0] + datetime.timedelta(hours=3), past[1] + datetime.timedelta(hours=3), "dan", "fay")
        self.assertEqual(self.d.cli_json("tour", "no-show", str(t2), "fay")["marked"], 1)
        t3 = tour("Toledo", t + datetime.timedelta(days=5), t + datetime.timedelta(days=5, hours=8), "eve", "carl")
        cancelled = tour("Segovia", past[0], past[1], "eve")
        self.d.cli_json("tour", "cancel", str(cancelled))

        cases = [
            ("tag = vip", {"ana", "carl", "fay"}),
            ("tag = vip and consent", {"ana", "fay"}),
            ("tag in (vip, newsletter)", {"ana", "carl", "fay", "eve"}),
            ("tag != vip", {"bea", "dan", "eve"}),
            ("language = es", {"ana", "bea", "fay"}),
            ("language = ES", {"ana", "bea", "fay"}),
            ("language != es", {"carl", "dan", "eve"}),
            ("country = ES", {"ana", "carl"}),
            ("country = MX", {"bea"}),
            ("not country = ES", {"bea", "dan", "eve", "fay"}),
            ("consent", {"ana", "bea", "dan", "eve", "fay"}),
            ("consent = false", {"carl"}),
            ("tours >= 1", {"ana", "dan"}),  # fay was a no-show; eve's tours are ahead or cancelled
            ("tours >= 2", {"dan"}),
            ("tours = 0", {"bea", "carl", "eve", "fay"}),
            ("toured within 30d", {"ana", "dan"}),
            ("tour = %d" % t2, {"dan"}),
            ("tour = %d" % t3, {"eve", "carl"}),
            ("tour = %d and consent" % t3, {"eve"}),
            ("(language = es or tag = vip) and not consent", {"carl"}),
            ("handle = ANA or handle = \"dan\"", {"ana", "dan"}),
        ]
        languages = {"ana": "es", "bea": "es-MX", "carl": "en", "dan": "en", "eve": "en", "fay": "es"}
        for i, (segment, who) in enumerate(cases):
            with self.subTest(segment=segment):
                name = "seg%02d" % i
                self.create(name, segment)
                p = self.d.cli_json("campaign", "preview", name)
                self.assertEqual(p["matched"], len(who), p)
                by_language = {}
                for h in who:
                    by_language[languages[h]] = by_language.get(languages[h], 0) + 1
                self.assertEqual(p["by_language"], by_language)

        # the audience a started campaign fixes is the one the preview counted
        self.create("vip-es", "tag = vip and language = es")
        self.assertEqual(self.follow("start", "vip-es", "--wait")[-1]["state"], "done")
        self.assertEqual(self.recipients("vip-es"), {"ana": ("queued", None), "fay": ("queued", None)})


class ReviewLink(CampaignTest):
    extra_config = ('[review]\ntemplate = "review_link"\nafter_minutes = 0\nnudges = 1\nnudge_every_hours = 1\n'
                    'url = "http://127.0.0.1:9/review?tour={{tour_id}}&who={{handle}}"\n')

    def people(self, tour_id):
        return {p["user"]: p for p in self.d.cli_json("review", "status", str(tour_id))["people"]}

    def test_the_review_link_records_the_review_and_redirects(self):
        self.add_user("maria")
        t = now()
        end = t.replace(microsecond=0) + datetime.timedelta(seconds=2)
        tour = self.d.cli_json("tour", "add", "-t", "Appian Way", "--start", rfc3339(t - datetime.timedelta(hours=1)),
                               "--end", rfc3339(end), "--tz", "UTC", "-p", "maria")["id"]
        self.d.wait_for(r'schedule\.fired .*"review review-requests".* user=maria ')
        maria = self.people(tour)["maria"]
        self.assertIsNotNone(maria["asked_at"])
        self.assertIsNotNone(maria["next_at"])  # a nudge is planned
        self.assertIsNone(maria["reviewed_at"])

        jobs = self.lines("notify", "list", "-u", "maria")
        self.assertEqual([j["category"] for j in jobs], ["review"])
        text = self.d.cli_json("notify", "show", str(jobs[0]["id"]))["text"]
        m = re.search(r"http://127\.0\.0\.1:%d(/v1/links/r\.%d\.%d\.(\d+)\.([0-9a-f]{32}))$"
                      % (self.d.port, self.user_id("maria"), tour), text)
        self.assertIsNotNone(m, text)
        path, expires, signature = m.group(1), int(m.group(2)), m.group(3)
        self.assertGreater(expires, (t + datetime.timedelta(days=170)).timestamp() * 1000)  # it lasts months

        forged = path[:-1] + ("0" if path[-1] != "0" else "1")
        status, headers, _ = self.d.http("GET", forged)
        self.assertEqual(status, 404)
        self.assertNotIn("Location", headers)
        self.assertIsNone(self.people(tour)["maria"]["reviewed_at"])

        for _ in range(2):  # following it twice records once
            status, headers, _ = self.d.http("GET", path)
            self.assertEqual(status, 302)
            self.assertEqual(headers["Location"], "http://127.0.0.1:9/review?tour=%d&who=maria" % tour)
        maria = self.people(tour)["maria"]
        self.assertIsNotNone(maria["reviewed_at"])
        self.assertIsNone(maria["next_at"])  # no nudge once reviewed
        self.assertEqual(self.d.cli_json("review", "status", str(tour))["reviewed"], 1)
        log = self.d.log_text()
        self.assertEqual(len(re.findall(r"schedule\.review_recorded tour=%d user=maria source=link" % tour, log)), 1, log)
        self.assertNotIn(signature, log)


class Tracking(CampaignTest):
    campaign_keys = 'tracking = "on"\n'

    def test_clicks_and_in_app_reads_are_counted_when_tracking_is_on(self):
        self.add_user("ann", marketing_consent="yes")
        self.add_user("bob", marketing_consent="yes")
        self.create("clicky", "handle in (ann, bob)")
        self.assertEqual(self.follow("start", "clicky", "--wait")[-1]["state"], "done")
        st = self.stats("clicky")
        self.assertEqual((st["tracking"], st["opened"], st["clicked"]), (True, 0, 0))

        # ann's message carries a tracked link in place of the offer's url, signed for her
        job = self.lines("notify", "list", "-u", "ann")[0]
        text = self.d.cli_json("notify", "show", str(job["id"]))["text"]
        self.assertNotIn("https://tours.example/night", text)
        m = re.search(r"http://127\.0\.0\.1:%d(/v1/links/c\.%d\.\d+\.0\.[0-9a-f]{32})\s" % (self.d.port, self.user_id("ann")), text)
        self.assertIsNotNone(m, text)
        for _ in range(2):  # twice: one click counted
            status, headers, _ = self.d.http("GET", m.group(1) + "?utm_source=mail")
            self.assertEqual(status, 302)
            self.assertEqual(headers["Location"], "https://tours.example/night")
        forged = m.group(1)[:-1] + ("0" if m.group(1)[-1] != "0" else "1")
        self.assertEqual(self.d.http("GET", forged)[0], 404)

        # ann reads her in-app feed: opened
        r = self.d.cli("--as", "ann", "feed", "--mark-read")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = self.stats("clicky")
        self.assertEqual((st["opened"], st["clicked"]), (1, 1))


class NoTracking(CampaignTest):
    def test_nothing_is_counted_and_the_offer_links_straight_when_tracking_is_off(self):
        self.add_user("ann", marketing_consent="yes")
        self.create("plain", "handle = ann")
        self.assertEqual(self.follow("start", "plain", "--wait")[-1]["state"], "done")
        job = self.lines("notify", "list", "-u", "ann")[0]
        text = self.d.cli_json("notify", "show", str(job["id"]))["text"]
        self.assertIn("https://tours.example/night", text)
        self.assertNotIn("/v1/links/c.", text)
        r = self.d.cli("--as", "ann", "feed", "--mark-read")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = self.stats("plain")
        self.assertEqual((st["tracking"], st["opened"], st["clicked"]), (False, None, None))



if __name__ == "__main__":
    unittest.main()
