"""Notifications through the outbox against real protocol peers on loopback: e-mail to an SMTP
server (aiosmtpd, STARTTLS + AUTH) parsed as MIME, SMS to a Twilio-compatible API, signed
webhooks, the in-app feed over the WebSocket; retries with backoff, dead letters, preferences,
consent, quiet hours, templates, idempotency, and `kill -9` in the middle of a queue."""

import asyncio
import datetime
import email.header
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import TOURBUSD, WAIT, Daemon, DaemonTest, wait_until
import peers
from wsclient import Client

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "templates")


class NotifyTest(DaemonTest):
    """Starts the provider peers (SMTP with STARTTLS and AUTH, an HTTPS server playing Twilio and
    the webhook receiver), then the daemon configured for them."""

    extra_config = ""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tourbus-notify-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cert = peers.Certificate(self.dir)
        self.smtp = peers.SmtpPeer(auth=("mailer", "s3cret-pw"), tls="starttls", certificate=self.cert)
        self.addCleanup(self.smtp.close)
        self.http = peers.HttpPeer(tls=self.cert)
        self.addCleanup(self.http.close)
        self.sid, self.sms_token = "AC" + "0" * 32, "tw-token-123"
        self.http.route(peers.twilio_path(self.sid), peers.twilio_responder(self.sid, self.sms_token))
        self.config = """
[notify]
templates_dir = "%s"
ca_file = "%s"
retry_base_ms = 40
retry_max_ms = 200
max_attempts = 4
[email]
smtp_url = "smtp://127.0.0.1:%d"
username = "mailer"
password = "s3cret-pw"
from = "Tour Desk <desk@tours.example>"
unsubscribe_url = "https://tours.example/unsubscribe/{{handle}}"
[sms]
provider = "twilio"
url = "%s"
account_sid = "%s"
auth_token = "%s"
from = "+15005550006"
[webhook]
url = "%s/hook"
secret = "hook-secret"
""" % (os.path.abspath(TEMPLATES), self.cert.cert, self.smtp.port, self.http.url, self.sid, self.sms_token,
       self.http.url) + self.extra_config
        self.config = self.adjust_config(self.config)
        super().setUp()

    def adjust_config(self, config):
        return config

    def send(self, *args):
        return self.d.cli_json("notify", "send", *args)

    def job(self, job_id):
        return self.d.cli_json("notify", "show", str(job_id))

    def wait_job(self, job_id, state):
        return wait_until(lambda: (lambda j: j if j["state"] == state else None)(self.job(job_id)),
                          "job %s to be %s" % (job_id, state))


class Email(NotifyTest):
    def test_template_in_each_language_as_mime_over_starttls_with_auth(self):
        self.add_user("giulia", name="Giulia Rossi", email="giulia@example.it", language="it")
        self.add_user("ann", name="Ánn Ö'Brien", email="ann@example.com", language="en-GB")
        sent = self.send("--to", "giulia,ann", "-t", "booking_confirmation", "--channel", "email",
                         "--var", "tour_title=Colosseo & Fòri", "--var", "booking_ref=B-17",
                         "--var", "meeting_point=Arco di Costantino", "--var", "start_local=1 Dec 09:00")
        self.assertEqual((sent["category"], len(sent["jobs"])), ("transactional", 2))
        mails = {m.rcpt_tos[0]: m for m in self.smtp.wait_messages(2)}
        it, en = mails["giulia@example.it"], mails["ann@example.com"]
        self.assertTrue(it.tls and en.tls)
        self.assertEqual((it.auth_user, it.mail_from), ("mailer", "desk@tours.example"))
        # languages: Italian for giulia, English (en-GB falls back to en) for ann
        self.assertEqual(str(it.message["Subject"]), "Prenotazione confermata: Colosseo & Fòri")
        self.assertIn("il tuo posto per Colosseo & Fòri è confermato (prenotazione B-17)", it.text())
        self.assertEqual(str(en.message["Subject"]), "Booking confirmed: Colosseo & Fòri")
        self.assertIn("Subject: =?UTF-8?B?", en.raw.decode("ascii"))  # a UTF-8 subject as encoded words
        # names: a non-ASCII display name survives as an RFC 2047 encoded word
        self.assertEqual(en.message["To"].addresses[0].display_name, "Ánn Ö'Brien")
        self.assertEqual(str(en.message["From"]), "Tour Desk <desk@tours.example>")
        self.assertIn("=?UTF-8?B?", en.raw.decode("ascii").split("\r\n\r\n")[0])
        # MIME: multipart/alternative, text and HTML in UTF-8; variables are escaped in HTML only
        self.assertEqual(en.message.get_content_type(), "multipart/alternative")
        self.assertIn("Hello Ánn Ö'Brien,", en.text())
        self.assertIn("<strong>Colosseo &amp; Fòri</strong>", en.html())
        self.assertIsNotNone(en.message["Message-ID"])
        self.assertIsNone(en.message["List-Unsubscribe"])  # not marketing
        job = self.wait_job(sent["jobs"][0]["id"], "delivered")
        self.assertEqual([(a["outcome"], a["status"]) for a in job["attempts_made"]], [("delivered", "250")])
        # the password is nowhere in the log, nor in --check-config
        self.assertNotIn("s3cret-pw", self.d.log_text())

    def test_marketing_needs_consent_carries_list_unsubscribe_and_respects_opt_out(self):
        self.add_user("ann", email="ann@example.com", marketing_consent="yes")
        self.add_user("bob", email="bob@example.com")
        sent = self.send("--to", "ann,bob", "-t", "marketing", "--channel", "email", "--var", "offer=Night tour -20%",
                         "--var", "url=https://tours.example/night")
        self.assertEqual([j["user"] for j in sent["jobs"]], ["ann"])
        self.assertEqual(sent["skipped"], [{"user": "bob", "channel": None, "reason": "no_consent"}])
        mail = self.smtp.wait_messages(1)[0]
        self.assertEqual(mail.message["List-Unsubscribe"], "<https://tours.example/unsubscribe/ann>")
        self.assertEqual(mail.message["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click")
        # ann opts out of marketing e-mail: the next campaign skips her, and nothing is queued
        r = self.d.cli("--as", "ann", "pref", "set", "marketing", "email", "off")
        self.assertEqual(r.returncode, 0, r.stderr)
        again = self.send("--to", "ann", "-t", "marketing", "--channel", "email", "--var", "offer=x", "--var", "url=https://x")
        self.assertEqual((again["jobs"], again["skipped"][0]["reason"]), ([], "opted_out"))
        shown = self.d.cli_json("--as", "ann", "pref", "show")
        self.assertEqual(shown["preferences"][0]["enabled"], False)
        # emergencies cannot be turned off
        r = self.d.cli("--as", "ann", "pref", "set", "emergency", "email", "off")
        self.assertEqual(r.returncode, 4, r.stderr)

    def test_temporary_failures_back_off_then_deliver_permanent_ones_go_dead(self):
        self.add_user("ann", email="ann@example.com")
        self.smtp.fail_next(451, "4.3.0 try again later", times=2)
        sent = self.send("--to", "ann", "-c", "transactional", "-s", "Your receipt", "--text", "Thanks!", "--channel", "email")
        job = self.wait_job(sent["jobs"][0]["id"], "delivered")
        self.assertEqual([(a["outcome"], a["status"]) for a in job["attempts_made"]],
                         [("retry", "451"), ("retry", "451"), ("delivered", "250")])
        # the attempt keeps the server's own words, not libcurl's
        self.assertEqual(job["attempts_made"][0]["response"], "451 4.3.0 try again later")
        self.assertTrue(job["attempts_made"][2]["response"].startswith("250 2.0.0 OK: queued as"), job["attempts_made"])
        at = [datetime.datetime.fromisoformat(a["at"].replace("Z", "+00:00")) for a in job["attempts_made"]]
        self.assertGreaterEqual((at[1] - at[0]).total_seconds(), 0.019)  # at least half the 40 ms base
        self.assertEqual(len(self.smtp.messages), 1)

        # 550: no such mailbox is permanent, straight to the dead letters after one attempt
        self.smtp.fail_next(550, "5.1.1 no such user")
        dead = self.send("--to", "ann", "-c", "transactional", "--text", "second", "--channel", "email")
        job = self.wait_job(dead["jobs"][0]["id"], "dead")
        self.assertEqual([(a["outcome"], a["status"]) for a in job["attempts_made"]], [("dead", "550")])
        listed = [j["id"] for j in map(json.loads, self.d.cli("--json", "queue", "dead", "list").stdout.splitlines())]
        self.assertEqual(listed, [job["id"]])
        status = self.d.cli_json("queue", "status")
        email_row = next(c for c in status["channels"] if c["channel"] == "email")
        self.assertEqual((email_row["configured"], email_row["dead"]), (True, 1))
        # the text table gives the channel-wide figures once, on the channel's first lane row
        table = self.d.cli("queue", "status").stdout.splitlines()
        at = next(i for i, l in enumerate(table) if l.startswith("email "))
        self.assertEqual(table[at].split()[:3], ["email", "yes", "emergency"])
        self.assertEqual([l.split() for l in table[at + 1:at + 3]],
                         [["transactional", "0", "0", "-"], ["marketing", "0", "0", "-"]])
        # an operator fixes the cause and retries the dead letter: it is delivered
        r = self.d.cli("queue", "dead", "retry", "--job", str(job["id"]))
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "retried 1 dead job(s)"))
        self.wait_job(job["id"], "delivered")
        self.assertEqual(self.smtp.messages[-1].text().strip(), "second")
        # without a selection nothing is touched
        self.assertEqual(self.d.cli("queue", "dead", "purge").returncode, 2)

    def test_a_retried_job_goes_to_the_address_the_user_has_now(self):
        self.add_user("ann", email="ann@old.example")
        self.smtp.fail_next(550, "5.1.1 no such user")
        sent = self.send("--to", "ann", "-c", "transactional", "--text", "your ticket", "--channel", "email")
        job = self.wait_job(sent["jobs"][0]["id"], "dead")
        # the operator corrects the address and retries: the new one gets it, the old one nothing
        self.assertEqual(self.d.cli("user", "set", "ann", "--email", "ann@new.example").returncode, 0)
        self.assertEqual(self.d.cli("queue", "dead", "retry", "--job", str(job["id"])).returncode, 0)
        job = self.wait_job(job["id"], "delivered")
        self.assertEqual(job["address"], "ann@new.example")
        self.assertEqual([m.rcpt_tos for m in self.smtp.messages], [["ann@new.example"]])
        # with no address left, a retry reaches nobody
        self.smtp.fail_next(550, "5.1.1 no such user")
        sent = self.send("--to", "ann", "-c", "transactional", "--text", "again", "--channel", "email")
        job = self.wait_job(sent["jobs"][0]["id"], "dead")
        self.assertEqual(self.d.cli("user", "set", "ann", "--email", "").returncode, 0)
        self.assertEqual(self.d.cli("queue", "dead", "retry", "--job", str(job["id"])).returncode, 0)
        job = wait_until(lambda: (lambda j: j if j["state"] == "dead" and len(j["attempts_made"]) == 2 else None)(
            self.job(job["id"])), "the retried job to be dead")
        self.assertEqual(job["attempts_made"][-1]["status"], "gone")
        self.assertEqual(len(self.smtp.messages), 1)


class RefusedStarttls(NotifyTest):
    """The SMTP server offers no STARTTLS while email.starttls is "required" (the default)."""

    def adjust_config(self, config):
        self.plain = peers.SmtpPeer(tls=None)
        self.addCleanup(self.plain.close)
        return config.replace("smtp://127.0.0.1:%d" % self.smtp.port, "smtp://127.0.0.1:%d" % self.plain.port)

    def test_the_mail_is_not_sent_in_clear_and_the_attempt_says_why(self):
        self.add_user("ann", email="ann@example.com")
        sent = self.send("--to", "ann", "-c", "transactional", "--text", "your ticket", "--channel", "email")
        job = wait_until(lambda: (lambda j: j if j["attempts_made"] else None)(self.job(sent["jobs"][0]["id"])),
                         "a first attempt")
        first = job["attempts_made"][0]
        self.assertEqual((first["outcome"], first["status"]), ("retry", "starttls_refused"))
        self.assertIn("refused STARTTLS", first["response"])
        self.assertEqual(self.plain.messages, [])


class Credentials(NotifyTest):
    """Secrets as systemd credentials (LoadCredential=): files named after their keys in
    $CREDENTIALS_DIRECTORY, so the config file itself holds none."""

    def setUp(self):
        self.creds = tempfile.mkdtemp(prefix="tourbus-creds-")
        self.addCleanup(shutil.rmtree, self.creds, True)
        for name, value in (("email.password", "s3cret-pw\n"), ("webhook.secret", "hook-secret")):
            with open(os.path.join(self.creds, name), "w") as f:
                f.write(value)
        self.daemon_env = {"CREDENTIALS_DIRECTORY": self.creds}
        super().setUp()

    def adjust_config(self, config):
        self.with_secrets = config
        return "\n".join(l for l in config.splitlines() if not l.startswith(("password =", "secret ="))) + "\n"

    def test_secrets_come_from_the_credentials_directory(self):
        self.add_user("ann", email="ann@example.com")
        sent = self.send("--to", "ann", "-c", "transactional", "--text", "Ticket", "--channel", "email,webhook")
        for job in sent["jobs"]:
            self.wait_job(job["id"], "delivered")  # SMTP AUTH took the credential's password
        hook = self.http.wait_requests(1, where="/hook")[0]
        expected = hmac.new(b"hook-secret", (hook.headers["tourbus-timestamp"] + "." + hook.body.decode()).encode(),
                            hashlib.sha256).hexdigest()
        self.assertEqual(hook.headers["tourbus-signature"], "sha256=" + expected)
        self.assertNotIn("s3cret-pw", self.d.log_text())
        self.assertNotIn("hook-secret", self.d.log_text())

    def test_a_secret_in_both_places_is_refused(self):
        path = os.path.join(self.creds, "both.toml")
        with open(path, "w") as f:
            f.write(self.with_secrets)
        r = subprocess.run([TOURBUSD, "--check-config", "--config", path, "--state-dir", self.d.state],
                           env=dict(os.environ, CREDENTIALS_DIRECTORY=self.creds), capture_output=True, text=True,
                           timeout=WAIT)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("email.password is set in the config and as the systemd credential email.password", r.stderr)
        self.assertNotIn("s3cret-pw", r.stderr + r.stdout)


class SmsAndWebhook(NotifyTest):
    def test_twilio_form_auth_segments_and_server_errors(self):
        self.add_user("ann", phone="+393331234567")
        self.http.respond(peers.twilio_path(self.sid), 500, {"message": "upstream down"})
        sent = self.send("--to", "ann", "-c", "transactional", "--text", "Pickup moved to 9:15 {€}", "--channel", "sms")
        job = self.wait_job(sent["jobs"][0]["id"], "delivered")
        self.assertEqual([(a["outcome"], a["status"]) for a in job["attempts_made"]], [("retry", "500"), ("delivered", "201")])
        self.assertIn("encoding=GSM-7 segments=1", job["attempts_made"][1]["response"])
        ok = [r for r in self.http.requests if r.status == 201]
        self.assertEqual(ok[0].form(), {"To": "+393331234567", "From": "+15005550006", "Body": "Pickup moved to 9:15 {€}"})
        self.assertEqual(ok[0].basic_auth(), (self.sid, self.sms_token))
        # Cyrillic needs UCS-2: 71 characters are two segments of 67
        sent = self.send("--to", "ann", "-c", "transactional", "--text", "Привет" * 11 + "П" * 5, "--channel", "sms")
        job = self.wait_job(sent["jobs"][0]["id"], "delivered")
        self.assertIn("encoding=UCS-2 segments=2", job["attempts_made"][0]["response"])
        self.assertNotIn(self.sms_token, self.d.log_text())

    def test_quiet_hours_defer_but_an_emergency_goes_through(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=1)
        quiet = "%02d:%02d-%02d:%02d" % (start.hour, start.minute, end.hour, end.minute)
        self.add_user("ann", phone="+393331234567", tz="UTC", quiet_hours=quiet)
        later = self.send("--to", "ann", "-c", "reminder", "--text", "Tomorrow 9:00", "--channel", "sms,inapp")
        by_channel = {j["channel"]: j for j in later["jobs"]}
        self.assertEqual(by_channel["sms"]["deferred"], "quiet_hours")
        ends = datetime.datetime.fromisoformat(by_channel["sms"]["next_at"].replace("Z", "+00:00"))
        self.assertEqual(ends.strftime("%H:%M"), end.strftime("%H:%M"))
        self.assertIsNone(by_channel["inapp"]["deferred"])  # the feed does not wake anyone
        urgent = self.send("--to", "ann", "-t", "emergency_alert", "--var", "what=Storm warning",
                           "--var", "instructions=Stay in the hotel")
        # auto for an emergency: the feed and SMS (the user has a phone), without waiting
        self.assertEqual(sorted(j["channel"] for j in urgent["jobs"]), ["inapp", "sms"])
        self.assertTrue(all(j["deferred"] is None for j in urgent["jobs"]))
        sms = next(j for j in urgent["jobs"] if j["channel"] == "sms")
        self.wait_job(sms["id"], "delivered")
        bodies = [r.form()["Body"] for r in self.http.requests if r.status == 201]
        self.assertEqual(len(bodies), 1)
        self.assertIn("URGENT: Storm warning", bodies[0])
        self.assertEqual(self.job(by_channel["sms"]["id"])["state"], "queued")  # still waiting for the morning

    def test_webhook_is_signed_and_the_feed_is_pushed_live(self):
        self.add_user("ann")
        token = self.token("ann")

        async def scenario():
            ws = await Client.connect("ws://127.0.0.1:%d/v1/ws" % self.d.port, token)
            sent = await asyncio.to_thread(self.send, "--to", "ann", "-c", "transactional", "-s", "Ticket",
                                           "--text", "Your ticket is ready", "--channel", "webhook,inapp",
                                           "-k", "ticket-42")
            pushed = await ws.push("notification")
            feed = await ws.call("feed.list")
            read = await ws.call("feed.read", {})
            cleared = await ws.push("notification.read")
            await ws.close()
            return sent, pushed, feed, read, cleared

        sent, pushed, feed, read, cleared = asyncio.run(scenario())
        self.assertEqual((pushed["title"], pushed["body"], pushed["unread"]), ("Ticket", "Your ticket is ready", 1))
        self.assertEqual((feed["unread"], [i["id"] for i in feed["items"]]), (1, [pushed["id"]]))
        self.assertEqual((read["marked"], read["unread"], cleared["unread"]), (1, 0, 0))

        hook = self.http.wait_requests(1, where="/hook")[0]
        body = hook.body.decode()
        expected = hmac.new(b"hook-secret", (hook.headers["tourbus-timestamp"] + "." + body).encode(), hashlib.sha256).hexdigest()
        self.assertEqual(hook.headers["tourbus-signature"], "sha256=" + expected)
        self.assertLess(abs(int(hook.headers["tourbus-timestamp"]) - time.time()), 60)
        doc = json.loads(body)
        self.assertEqual((doc["user"], doc["category"], doc["subject"], doc["text"], doc["idempotency_key"]),
                         ("ann", "transactional", "Ticket", "Your ticket is ready", "ticket-42"))
        self.assertEqual(str(doc["delivery"]), hook.headers["tourbus-delivery"])
        # the same idempotency key again: the first notification, nothing new queued or sent
        again = self.send("--to", "ann", "-c", "transactional", "--text", "changed", "--channel", "webhook", "-k", "ticket-42")
        self.assertEqual((again["duplicate"], again["notification"]), (True, sent["notification"]))
        self.assertEqual(len(self.jobs_of(sent["notification"])), 2)

    def jobs_of(self, notification):
        out = self.d.cli("--json", "notify", "list", "--notification", str(notification)).stdout.splitlines()
        return [json.loads(l) for l in out]


class Templates(NotifyTest):
    def test_list_show_preview_dry_run_and_missing_variables(self):
        listed = {(t["name"], t["language"]) for t in map(json.loads, self.d.cli("--json", "template", "list").stdout.splitlines())}
        self.assertIn(("tour_reminder", "de"), listed)
        self.assertIn(("emergency_alert", "en"), listed)
        shown = self.d.cli_json("template", "show", "tour_reminder", "-l", "de-AT")
        self.assertEqual((shown["language"], shown["variables"]), ("de", ["meeting_point", "name", "start_local", "tour_title"]))
        preview = self.d.cli_json("template", "preview", "tour_reminder", "--var", "tour_title=Vatican")
        self.assertIn("Reminder: Vatican starts \u2039start_local\u203a", preview["subject"])
        self.assertEqual(sorted(preview["sampled"]), ["meeting_point", "name", "start_local"])

        self.add_user("ann", email="ann@example.com")
        dry = self.send("--to", "ann", "-t", "tour_reminder", "--dry-run", "--var", "tour_title=Vatican",
                        "--var", "start_local=tomorrow 9:00", "--var", "meeting_point=St Peter's")
        self.assertTrue(dry["dry_run"])
        self.assertEqual(sorted(j["channel"] for j in dry["jobs"]), ["email", "inapp"])  # auto: no SMS for a reminder
        self.assertIn("Hello", dry["jobs"][0]["text"])
        self.assertEqual(self.d.cli("--json", "notify", "list").stdout, "")  # nothing stored
        # a variable without a value is an error at send time, and nothing is queued
        r = self.d.cli("--json", "notify", "send", "--to", "ann", "-t", "tour_reminder", "--var", "tour_title=Vatican")
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("no value for variable", json.loads(r.stdout)["error"]["message"])
        r = self.d.cli("notify", "send", "--to", "ann", "-t", "../../etc/passwd", "--text", "x")
        self.assertNotEqual(r.returncode, 0)
        r = self.d.cli("notify", "send", "--to", "ann", "-t", "no_such_template")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(self.d.cli("--json", "notify", "list").stdout, "")


class Crash(NotifyTest):
    extra_config = "rate_per_second = 40\n"  # [webhook]: the queue drains over a few seconds

    def test_kill9_mid_queue_loses_nothing(self):
        handles = ["t%02d" % i for i in range(60)]
        for h in handles:
            self.add_user(h)
        sent = self.send("--role", "tourist", "-c", "transactional", "--text", "Bus leaves at 8", "--channel", "webhook")
        self.assertEqual(len(sent["jobs"]), 60)
        self.http.wait_requests(10, where="/hook")
        self.d.kill9()
        before = len([r for r in self.http.requests if r.path == "/hook"])
        self.d.start()
        # every job is delivered at least once; none is lost
        wait_until(lambda: {json.loads(r.body)["user"] for r in self.http.requests if r.path == "/hook"} >= set(handles),
                   "all 60 webhook deliveries")
        jobs = self.jobs_of(sent["notification"])
        wait_until(lambda: all(j["state"] == "delivered" for j in self.jobs_of(sent["notification"])), "every job delivered")
        self.assertGreater(60, before)  # the crash really happened mid-queue
        deliveries = [json.loads(r.body)["delivery"] for r in self.http.requests if r.path == "/hook"]
        self.assertEqual(set(deliveries), {j["id"] for j in jobs})

    def jobs_of(self, notification):
        out = self.d.cli("--json", "notify", "list", "--notification", str(notification), "--limit", "1000").stdout.splitlines()
        return [json.loads(l) for l in out]


if __name__ == "__main__":
    unittest.main()
