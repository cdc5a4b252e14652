"""Schedules: event rules (booking confirmations, once per event), tour-relative reminders that
follow their tour (moved, cancelled, late joiners), one-shot reminders across `kill -9`, review
requests with no-shows and nudges, the errors operators see, queue cancel, pause/resume/remove."""

import datetime
import json
import os
import re
import shutil
import tempfile
import time
import unittest
import zoneinfo

from harness import DaemonTest, wait_until

EXAMPLES = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "templates"))
UTC = datetime.timezone.utc


def now():
    return datetime.datetime.now(UTC)


def whole(t):
    """Rounded up to a whole second: tour times are given to the second."""
    return t.replace(microsecond=0) + datetime.timedelta(seconds=1 if t.microsecond else 0)


def rfc3339(t):
    """UTC with milliseconds and Z."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def parse(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


class ScheduleTest(DaemonTest):
    config = '[notify]\ntemplates_dir = "%s"\n' % EXAMPLES

    def lines(self, *args):
        """A list command's --json output: one JSON object a line."""
        r = self.d.cli("--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def jobs(self, *filters):
        return self.lines("notify", "list", *filters)

    def add_tour(self, title, start, end, *extra):
        return self.d.cli_json("tour", "add", "-t", title, "--start", rfc3339(start), "--end", rfc3339(end),
                               "--tz", "Europe/Rome", *extra)

    def next_of(self, name):
        return self.d.cli_json("reminder", "next", name, "-n", "100")["next"]

    def show(self, name):
        return self.d.cli_json("reminder", "show", name)

    def fired_lines(self, pattern, start=0):
        with self.d.cond:
            return [l for l in self.d.lines[start:] if re.search(r"schedule\.fired .*" + pattern, l)]

    def wait_fired(self, pattern, count=1, start=0):
        """Waits for `count` schedule.fired log lines matching `pattern` at or after line `start`."""
        wait_until(lambda: len(self.fired_lines(pattern, start)) >= count,
                   "%d schedule.fired %s" % (count, pattern), describe=lambda: "; log:\n" + self.d.log_text())
        return self.fired_lines(pattern, start)

    def scheduler_pass(self):
        """Proof that the scheduler went over every firing due before now: a rule answers a fresh
        event at once, and due firings are fired earliest first, so anything due earlier was fired
        (and logged) by the time this one is."""
        if not any(r["name"] == "probe" for r in self.lines("rule", "list")):
            self.add_user("probe")
            self.d.cli_json("rule", "add", "probe", "-t", "tour_reminder", "-e", "test.probe", "--category", "reminder")
        mark = self.d.log_mark()
        posted = self.d.cli_json("event", "post", "test.probe", "-u", "probe", "--var", "tour_title=probe",
                                 "--var", "start_local=-", "--var", "meeting_point=-")
        self.assertEqual(posted["firings"], 1)
        self.wait_fired(r'"rule probe"', start=mark)


def field(line, name):
    return re.search(r"\b%s=(\S+)" % name, line).group(1)


class Rules(ScheduleTest):
    def test_a_booking_confirmation_goes_out_once_per_event(self):
        self.add_user("maria")
        tour = self.add_tour("Forum at dusk", now() + datetime.timedelta(days=3),
                             now() + datetime.timedelta(days=3, hours=2), "-m", "Arch of Titus", "-p", "maria")
        self.d.cli_json("rule", "add", "confirm", "-t", "booking_confirmation", "-e", "booking.confirmed")
        mark = self.d.log_mark()
        post = ["event", "post", "booking.confirmed", "-u", "maria", "--tour", str(tour["id"]),
                "--var", "booking_ref=B-7", "-k", "book-7"]
        first = self.d.cli_json(*post)
        self.assertEqual((first["duplicate"], first["firings"]), (False, 1))
        again = self.d.cli_json(*post)
        self.assertEqual((again["duplicate"], again["firings"], again["event"]), (True, 0, first["event"]))
        # what an operator sees for the repeat
        r = self.d.cli(*post)
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (0, "event %d was posted already (same idempotency key); nothing new" % first["event"]))

        line = self.wait_fired(r'"rule confirm"', start=mark)[0]
        print("\nbooking.confirmed -> schedule.fired: %s ms (late_ms in the log)" % field(line, "late_ms"))
        self.scheduler_pass()  # the repeats had every chance to fire too
        self.assertEqual(len(self.fired_lines(r'"rule confirm"', mark)), 1)

        jobs = self.jobs("-u", "maria")
        self.assertEqual(len(jobs), 1, jobs)
        self.assertEqual(jobs[0]["idempotency_key"], "firing:%s" % field(line, "firing"))
        text = self.d.cli("notify", "show", str(jobs[0]["id"])).stdout
        self.assertIn("B-7", text)
        self.assertIn("Forum at dusk", text)
        self.assertIn("Arch of Titus", text)  # the tour's own variables fill the template

        rule = next(r for r in self.lines("rule", "list") if r["name"] == "confirm")
        self.assertEqual((rule["firings"]["fired"], rule["firings"]["pending"]), (1, 0))
        table = self.d.cli("rule", "list").stdout.splitlines()
        self.assertEqual(table[0].split()[-1], "FIRED")
        self.assertEqual(next(l for l in table if l.startswith("confirm ")).split()[-1], "1")


class TourReminders(ScheduleTest):
    def setUp(self):
        super().setUp()
        self.add_user("maria")
        self.add_user("bob")

    def test_moving_a_tour_by_two_hours_replans_its_reminder(self):
        start = whole(now() + datetime.timedelta(days=3))
        tour = self.add_tour("Vatican", start, start + datetime.timedelta(hours=3), "-p", "maria")
        self.d.cli_json("reminder", "add", "eve", "-t", "tour_reminder", "--all-tours", "--offset", "start-24h")
        old_due = start - datetime.timedelta(hours=24)
        planned = self.next_of("eve")
        self.assertEqual([(n["user"], n["tour"], parse(n["due_at"])) for n in planned], [("maria", tour["id"], old_due)])

        moved = start + datetime.timedelta(hours=2)
        t = self.d.cli_json("tour", "set", str(tour["id"]), "--start", rfc3339(moved),
                            "--end", rfc3339(moved + datetime.timedelta(hours=3)))
        self.assertEqual(parse(t["starts_at"]), moved)
        new_due = moved - datetime.timedelta(hours=24)
        planned = self.next_of("eve")
        self.assertEqual([(n["user"], n["tour"], parse(n["due_at"])) for n in planned], [("maria", tour["id"], new_due)])
        # what an operator sees: the new time, in UTC and in the tour's zone, and not the old one
        text = self.d.cli("reminder", "next", "eve").stdout
        self.assertIn(new_due.strftime("%Y-%m-%dT%H:%M:%S"), text)
        self.assertIn(new_due.astimezone(zoneinfo.ZoneInfo("Europe/Rome")).isoformat(), text)
        self.assertNotIn(old_due.strftime("%Y-%m-%dT%H:%M:%S"), text)
        self.assertEqual(self.show("eve")["firings"]["pending"], 1)

    def test_a_cancelled_tour_fires_nothing(self):
        start = whole(now() + datetime.timedelta(days=3))
        tour = self.add_tour("Catacombs", start, start + datetime.timedelta(hours=3), "-p", "maria")
        self.d.cli_json("reminder", "add", "eve", "-t", "tour_reminder", "--all-tours", "--offset", "start-24h")
        self.assertEqual(len(self.next_of("eve")), 1)
        c = self.d.cli_json("tour", "cancel", str(tour["id"]), "--reason", "strike")
        self.assertEqual(c["status"], "cancelled")
        self.assertEqual(self.next_of("eve"), [])
        self.assertEqual(self.d.cli("reminder", "next", "eve").stdout.splitlines()[-1], "nothing planned")
        shown = self.show("eve")
        self.assertEqual(shown["pending"], [])
        self.assertEqual([(f["state"], f["user"], f["tour"], f.get("note")) for f in shown["recent"]],
                         [("cancelled", "maria", tour["id"], "tour cancelled")])
        self.assertEqual((shown["firings"]["cancelled"], shown["firings"]["pending"], shown["firings"]["fired"]), (1, 0, 0))

    def test_a_late_joiner_gets_only_what_is_still_ahead(self):
        start = whole(now() + datetime.timedelta(hours=10))
        tour = self.add_tour("Trastevere food", start, start + datetime.timedelta(hours=3), "-p", "maria")
        tid = str(tour["id"])
        self.d.cli_json("reminder", "add", "day", "-t", "tour_reminder", "--all-tours", "--offset", "start-24h")
        self.d.cli_json("reminder", "add", "two", "-t", "tour_reminder", "--all-tours", "--offset", "start-2h")
        mark = self.d.log_mark()
        self.assertEqual(self.d.cli_json("tour", "join", tid, "bob")["participants"], ["maria", "bob"])
        two = self.next_of("two")
        self.assertEqual(sorted((n["user"], parse(n["due_at"])) for n in two),
                         [("bob", start - datetime.timedelta(hours=2)), ("maria", start - datetime.timedelta(hours=2))])
        # start-24h is behind us: nothing planned, and nothing sent late either
        self.assertEqual(self.next_of("day"), [])
        self.scheduler_pass()
        self.assertEqual(self.fired_lines(r'"reminder day"', mark), [])
        self.assertEqual(self.show("day")["firings"], {"cancelled": 0, "fired": 0, "pending": 0, "skipped": 0})
        self.assertEqual(self.jobs("-u", "bob"), [])

        self.assertEqual(self.d.cli_json("tour", "leave", tid, "bob")["participants"], ["maria"])
        self.assertEqual([n["user"] for n in self.next_of("two")], ["maria"])
        self.assertEqual([f["user"] for f in self.show("two")["pending"]], ["maria"])


class Segments(ScheduleTest):
    def test_a_reminder_to_a_segment_reaches_who_matches_when_it_fires(self):
        self.add_user("gina", "guide", language="it")
        self.add_user("gus", "guide", language="en")
        self.add_user("tina", "tourist", language="it")
        due = now() + datetime.timedelta(seconds=2)
        added = self.d.cli_json("reminder", "add", "brief", "-t", "tour_reminder", "--segment", "role = guide and language = it",
                                "--at", rfc3339(due), "--var", "tour_title=Briefing", "--var", "start_local=S",
                                "--var", "meeting_point=M")
        self.assertEqual(added["audience"], "segment role = guide and language = it")
        # Evaluated when it fires: gus matches by then, tina never does.
        self.d.cli_json("user", "set", "gus", "--language", "it")
        self.wait_fired(r'"reminder brief"')
        self.assertEqual(sorted(j["user"] for j in self.jobs() if j["subject"].startswith("Reminder: Briefing")),
                         ["gina", "gus"])
        r = self.d.cli("reminder", "add", "bad", "-t", "tour_reminder", "--segment", "role = gide", "--cron", "0 9 * * *")
        self.assertCliError(r, 4, "invalid_argument")
        self.assertIn("at column 8", r.stderr)


class Crash(ScheduleTest):
    def setUp(self):
        super().setUp()
        self.add_user("maria")

    def add_soon(self, name, due):
        return self.d.cli_json("reminder", "add", name, "-t", "tour_reminder", "--to", "maria", "--at", rfc3339(due),
                               "--var", "tour_title=T-" + name, "--var", "start_local=S", "--var", "meeting_point=M")

    def jobs_for(self, name):
        return [j for j in self.jobs("-u", "maria") if j["subject"] == "Reminder: T-%s starts S" % name]

    def test_kill9_right_after_a_firing_neither_duplicates_nor_drops(self):
        self.add_soon("soon", now() + datetime.timedelta(seconds=2))
        line = self.d.wait_for(r'schedule\.fired .*"reminder soon"')
        self.d.kill9()
        key = "firing:" + field(line, "firing")
        self.d.start()
        self.scheduler_pass()  # the restarted scheduler went over everything due
        self.assertEqual(self.fired_lines(r'"reminder soon"'), [], self.d.log_text())
        jobs = self.jobs_for("soon")
        self.assertEqual([j["idempotency_key"] for j in jobs], [key])
        shown = self.show("soon")
        self.assertEqual((shown["firings"]["fired"], shown["firings"]["pending"]), (1, 0))
        self.assertEqual(shown["recent"][0]["notification"], jobs[0]["notification"])

    def test_kill9_before_a_firing_fires_it_once_late(self):
        due = now() + datetime.timedelta(seconds=3)
        added = self.add_soon("later", due)
        self.assertEqual(added["firings"]["pending"], 1)
        self.d.kill9()
        self.assertEqual(self.fired_lines(r'"reminder later"'), [])  # it had not fired yet
        # the wall clock passes the due time while the daemon is down (not a synchronisation)
        wait_until(lambda: now() > due + datetime.timedelta(milliseconds=100), "the due time to pass")
        self.d.start()
        line = self.wait_fired(r'"reminder later"')[0]
        self.assertGreater(int(field(line, "late_ms")), 0, line)
        self.scheduler_pass()
        self.assertEqual(len(self.fired_lines(r'"reminder later"')), 1)
        jobs = self.jobs_for("later")
        self.assertEqual([j["idempotency_key"] for j in jobs], ["firing:" + field(line, "firing")])
        shown = self.show("later")
        self.assertEqual((shown["firings"]["fired"], shown["firings"]["pending"]), (1, 0))


class Reviews(ScheduleTest):
    def setUp(self):
        self.templates = tempfile.mkdtemp(prefix="tourbus-templates-")
        self.addCleanup(shutil.rmtree, self.templates, True)
        for name in os.listdir(EXAMPLES):
            shutil.copy(os.path.join(EXAMPLES, name), self.templates)
        with open(os.path.join(self.templates, "review_ask.en.toml"), "w") as f:
            f.write('category = "review"\nsubject = "How was {{tour_title}}?"\n'
                    'text = "Hello {{name}}, thank you for joining {{tour_title}}. Tell us how it went."\n')
        self.config = ('[notify]\ntemplates_dir = "%s"\n[review]\ntemplate = "review_ask"\nafter_minutes = 0\n'
                       'nudges = 1\nnudge_every_hours = 1\n' % self.templates)
        super().setUp()
        for h in ("maria", "bob", "carla", "dan"):
            self.add_user(h)

    def people(self, tour_id):
        status = self.d.cli_json("review", "status", str(tour_id))
        return status, {p["user"]: p for p in status["people"]}

    def test_asked_after_the_tour_not_the_no_show_nudged_until_reviewed(self):
        t0 = now()
        # Far enough ahead that the other tour is cancelled before it ends, even on a loaded machine.
        end = whole(t0 + datetime.timedelta(seconds=8))
        tour = self.add_tour("Appian Way by bike", t0 - datetime.timedelta(hours=1), end, "-p", "maria", "-p", "bob",
                             "-p", "carla")
        tid = tour["id"]
        # a cancelled tour ending sooner: its requests would come first, if it got any
        gone = self.add_tour("Ostia Antica", t0 - datetime.timedelta(hours=1), end - datetime.timedelta(seconds=1),
                             "-p", "dan")
        _, before = self.people(gone["id"])
        self.assertIsNotNone(before["dan"]["next_at"])  # planned while it still runs
        self.d.cli_json("tour", "cancel", str(gone["id"]))
        marked = self.d.cli_json("tour", "no-show", str(tid), "carla")
        self.assertEqual(marked["marked"], 1)

        lines = self.wait_fired(r'"review review-requests"', 2)
        self.assertEqual(sorted((field(l, "user"), field(l, "tour"), field(l, "step")) for l in lines),
                         [("bob", str(tid), "0"), ("maria", str(tid), "0")])
        status, people = self.people(tid)
        self.assertEqual((status["enabled"], status["participants"], status["asked"], status["reviewed"]), (True, 3, 2, 0))
        self.assertIsNotNone(people["maria"]["asked_at"])
        self.assertIsNotNone(people["bob"]["asked_at"])
        self.assertEqual((people["carla"]["asked_at"], people["carla"]["no_show"], people["carla"]["next_at"]),
                         (None, True, None))
        self.assertEqual(parse(people["bob"]["next_at"]), end + datetime.timedelta(hours=1))
        asked = self.jobs("-u", "maria")
        self.assertEqual([(j["category"], j["subject"]) for j in asked], [("review", "How was Appian Way by bike?")])
        self.assertEqual(self.jobs("-u", "carla"), [])

        posted = self.d.cli_json("event", "post", "review.submitted", "-u", "maria", "--tour", str(tid))
        self.assertTrue(posted.get("review_recorded"), posted)
        status, people = self.people(tid)
        self.assertEqual(status["reviewed"], 1)
        self.assertIsNotNone(people["maria"]["reviewed_at"])
        self.assertIsNone(people["maria"]["next_at"])  # no nudge once reviewed
        self.assertEqual(parse(people["bob"]["next_at"]), end + datetime.timedelta(hours=1))
        text = self.d.cli("review", "status", str(tid)).stdout
        self.assertIn("2 of 3 asked, 1 reviewed", text)
        self.assertEqual(next(l for l in text.splitlines() if l.startswith("carla ")).split()[5], "yes")

        # the cancelled tour: nobody asked, nothing pending, nothing sent
        status, people = self.people(gone["id"])
        self.assertEqual((status["status"], status["asked"]), ("cancelled", 0))
        self.assertEqual((people["dan"]["asked_at"], people["dan"]["next_at"]), (None, None))
        self.assertEqual(self.fired_lines(r"tour=%d " % gone["id"]), [])
        self.assertEqual(self.jobs("-u", "dan"), [])


class Errors(ScheduleTest):
    def setUp(self):
        super().setUp()
        self.add_user("maria")

    def reminder(self, *args):
        return self.d.cli("--json", "reminder", "add", "x", "-t", "tour_reminder", *args)

    def test_bad_schedules_are_refused_with_the_reason(self):
        cases = [
            (["--to", "maria", "--cron", "61 * * * *"], 4, "invalid_argument", "cron", "at column 1"),
            (["--to", "maria", "--cron", "0 9 * *"], 4, "invalid_argument", "cron", "expected 5 fields"),
            (["--to", "maria", "--cron", "0 9 * * *", "--tz", "Mars/Base"], 4, "invalid_argument", "time_zone", "Mars/Base"),
            (["--all-tours", "--offset", "start-24x"], 4, "invalid_argument", "offset", "unknown unit"),
            (["--to", "maria", "--at", "2020-01-01T00:00:00Z"], 4, "invalid_argument", "at", "in the past"),
            (["--to", "maria", "--at", "tomorrow"], 4, "invalid_argument", "at", "is not a time"),
            (["--cron", "0 9 * * *"], 4, "invalid_argument", "user", "exactly one audience"),
            (["--all-tours", "--cron", "0 9 * * *"], 4, "invalid_argument", "all_tours", "tour-relative trigger"),
            (["--to", "maria", "--offset", "start-2h"], 4, "invalid_argument", "offset", "goes to a tour or all_tours"),
            (["--to", "nobody", "--cron", "0 9 * * *"], 3, "not_found", "user", "nobody"),
            (["--tour", "99", "--offset", "start-2h"], 3, "not_found", "tour", "no tour 99"),
        ]
        for args, code, error, fld, words in cases:
            with self.subTest(args=args):
                r = self.reminder(*args)
                self.assertCliError(r, code, error)
                self.assertEqual(json.loads(r.stdout)["error"]["field"], fld)
                self.assertIn(words, r.stderr)
        r = self.d.cli("--json", "reminder", "add", "x", "-t", "no_such_template", "--to", "maria", "--cron", "0 9 * * *")
        self.assertCliError(r, 3, "not_found")
        self.assertIn("no template 'no_such_template'", r.stderr)
        r = self.d.cli("--json", "rule", "add", "r", "-t", "booking_confirmation", "-e", "Booking Confirmed!")
        self.assertCliError(r, 4, "invalid_argument")
        self.assertIn("is not an event type", r.stderr)
        r = self.d.cli("--json", "event", "post", "booking.confirmed", "-u", "nobody")
        self.assertCliError(r, 3, "not_found")
        self.assertIn("no user with handle 'nobody'", r.stderr)
        # nothing was stored by any of them
        self.assertEqual([s["name"] for s in self.lines("reminder", "list", "--removed")], ["review-requests"])
        self.assertEqual(self.lines("rule", "list"), [])

    def test_an_unknown_template_is_named_once(self):
        r = self.d.cli("reminder", "add", "x", "-t", "no_such_template", "--to", "maria", "--cron", "0 9 * * *")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertTrue(r.stderr.startswith("tourbus: template: no template 'no_such_template'"), r.stderr)


class QueueCancel(ScheduleTest):
    config = ScheduleTest.config + '[email]\nsmtp_url = "smtp://127.0.0.1:9"\nfrom = "desk@tours.example"\n'

    def test_cancel_a_job_held_by_quiet_hours(self):
        t = now()
        start, end = t - datetime.timedelta(hours=1), t + datetime.timedelta(hours=2)
        self.add_user("maria", email="maria@example.com", tz="UTC",
                      quiet_hours="%02d:%02d-%02d:%02d" % (start.hour, start.minute, end.hour, end.minute))
        sent = self.d.cli_json("notify", "send", "--to", "maria", "-c", "transactional", "-s", "Hi", "--text", "hi",
                               "--channel", "email")
        self.assertEqual([(j["state"], j["deferred"]) for j in sent["jobs"]], [("queued", "quiet_hours")])
        n = str(sent["notification"])
        self.assertEqual(self.d.cli_json("queue", "cancel", "--notification", n)["cancelled"], 1)
        self.assertEqual([j["state"] for j in self.jobs("--notification", n)], ["cancelled"])
        r = self.d.cli("queue", "cancel", "--notification", n)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "cancelled 0 queued job(s)"))
        r = self.d.cli("queue", "cancel")
        self.assertEqual(r.returncode, 2)
        self.assertIn("give --notification", r.stderr)


class Lifecycle(ScheduleTest):
    def test_pause_resume_and_remove(self):
        self.add_user("maria")
        added = self.d.cli_json("reminder", "add", "morning", "-t", "tour_reminder", "--to", "maria", "--cron", "0 9 * * *")
        self.assertEqual((added["state"], added["trigger"]), ("active", "cron 0 9 * * * (UTC)"))
        self.assertEqual(parse(added["next_due"]).strftime("%H:%M:%S"), "09:00:00")

        def state():
            return {s["name"]: s["state"] for s in self.lines("reminder", "list")}.get("morning")

        r = self.d.cli("reminder", "pause", "morning")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "morning: paused"))
        self.assertEqual(state(), "paused")
        self.assertEqual(self.d.cli_json("reminder", "resume", "morning")["state"], "active")
        self.assertEqual(state(), "active")
        self.assertEqual(self.d.cli_json("reminder", "remove", "morning")["state"], "removed")
        self.assertIsNone(state())
        removed = {s["name"]: s for s in self.lines("reminder", "list", "--removed")}["morning"]
        self.assertEqual((removed["state"], removed["next_due"], removed["firings"]["pending"]), ("removed", None, 0))
        self.assertCliError(self.d.cli("--json", "reminder", "pause", "nosuch"), 3, "not_found")


if __name__ == "__main__":
    unittest.main()
