"""Notification queue behaviour across channels and targets: a hanging provider holds up only its
own channel, a tour's participants as recipients, dead letters purged, and e-mail over SMTPS
(TLS from the first byte)."""

import json
import os
import shutil
import tempfile
import threading
import unittest

from harness import WAIT, DaemonTest, wait_until
import peers


class Isolation(DaemonTest):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tourbus-iso-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cert = peers.Certificate(self.dir)
        self.smtp = peers.SmtpPeer(tls="smtps", certificate=self.cert)
        self.addCleanup(self.smtp.close)
        self.http = peers.HttpPeer()
        self.addCleanup(self.http.close)
        # The webhook receiver hangs until the test lets it go.
        self.release = threading.Event()
        self.addCleanup(self.release.set)
        self.arrived = []  # requests the receiver is holding

        def hang(req):
            self.arrived.append(req)
            self.release.wait(WAIT)
            return peers.Response(204)

        self.http.route("/slow", hang)
        self.config = """
[notify]
ca_file = "%s"
workers = 2
timeout_seconds = 60
[email]
smtp_url = "smtps://127.0.0.1:%d"
from = "desk@tours.example"
[webhook]
url = "%s/slow"
secret = "s"
""" % (self.cert.cert, self.smtp.port, self.http.url)
        super().setUp()

    def jobs(self, notification):
        out = self.d.cli("--json", "notify", "list", "--notification", str(notification)).stdout.splitlines()
        return [json.loads(l) for l in out]

    def test_a_hanging_provider_holds_up_only_its_own_channel(self):
        for h in ("ann", "bob", "cai"):
            self.add_user(h, email=h + "@example.com")
        stuck = self.d.cli_json("notify", "send", "--role", "tourist", "-c", "transactional", "--text", "to the hook",
                                "--channel", "webhook")
        # all three requests are under way at once (a webhook thread keeps up to 16), each one
        # stuck: the receiver does not answer
        in_flight = lambda: next(c for c in self.d.cli_json("queue", "status")["channels"] if c["channel"] == "webhook")["in_flight"]
        wait_until(lambda: in_flight() == 3, "three webhook deliveries in flight")
        wait_until(lambda: len(self.arrived) == 3, "three requests held by the receiver")
        # e-mail (over SMTPS) goes out meanwhile, emergency and ordinary alike
        mail = self.d.cli_json("notify", "send", "--to", "ann,bob", "-c", "transactional", "-s", "Hi", "--text", "by mail",
                               "--channel", "email")
        self.smtp.wait_messages(2)
        self.assertTrue(all(m.tls for m in self.smtp.messages))
        wait_until(lambda: all(j["state"] == "delivered" for j in self.jobs(mail["notification"])), "the e-mails delivered")
        self.assertTrue(all(j["state"] == "queued" for j in self.jobs(stuck["notification"])))
        self.release.set()
        wait_until(lambda: all(j["state"] == "delivered" for j in self.jobs(stuck["notification"])), "the webhooks delivered")

    def test_a_tours_participants_and_purging_dead_letters(self):
        self.add_user("gina", role="guide", email="gina@example.com")
        self.add_user("ann", email="ann@example.com")
        self.add_user("bob", email="bob@example.com")
        self.add_user("eve", email="eve@example.com")
        tour = self.d.cli_json("tour", "add", "--title", "Ostia", "--start", "2026-12-02T09:00", "--end", "2026-12-02T13:00",
                               "--tz", "Europe/Rome", "--guide", "gina", "-p", "ann", "-p", "bob")
        self.smtp.fail_next(550, "5.1.1 unknown", times=2)
        sent = self.d.cli_json("notify", "send", "--tour", str(tour["id"]), "-c", "reminder", "-s", "Tomorrow",
                               "--text", "Train at 8:40", "--channel", "email")
        self.assertEqual(sorted(j["user"] for j in sent["jobs"]), ["ann", "bob"])  # participants only
        wait_until(lambda: all(j["state"] == "dead" for j in self.jobs(sent["notification"])), "both jobs dead")
        r = self.d.cli("queue", "dead", "purge", "--channel", "email")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "purged 2 dead job(s)"))
        self.assertEqual(self.jobs(sent["notification"]), [])
        self.assertEqual(self.d.cli("--json", "queue", "dead", "list").stdout, "")
        r = self.d.cli("notify", "send", "--tour", "999", "-c", "reminder", "--text", "x")
        self.assertEqual(r.returncode, 3, r.stderr)


class SmsWebhookProvider(DaemonTest):
    def setUp(self):
        self.http = peers.HttpPeer()
        self.addCleanup(self.http.close)
        self.config = """
[sms]
provider = "webhook"
url = "%s/sms"
auth_token = "gw-token"
from = "TourDesk"
""" % self.http.url
        super().setUp()

    def test_generic_json_provider_gets_number_text_and_segments(self):
        self.add_user("ann", phone="+447700900123")
        # numbers are E.164 from the start: user.create refuses others
        r = self.d.cli("user", "add", "bob", "--phone", "0044 7700 900124")
        self.assertEqual(r.returncode, 4, r.stderr)
        self.d.cli_json("notify", "send", "--to", "ann", "-c", "emergency", "--text", "Évacuez le musée", "--channel", "sms")
        req = self.http.wait_requests(1, where="/sms")[0]
        body = req.json()
        self.assertEqual((body["to"], body["from"], body["text"]), ("+447700900123", "TourDesk", "Évacuez le musée"))
        self.assertEqual((body["encoding"], body["segments"]), ("GSM-7", 1))  # É and é are in the GSM 7-bit alphabet
        self.assertEqual(req.bearer(), "gw-token")


class WebhookBatch(DaemonTest):
    """One webhook thread makes several requests at once: each answer lands on its own job."""

    def setUp(self):
        self.http = peers.HttpPeer()
        self.addCleanup(self.http.close)
        # bob's receiver fails once, then accepts; cai's refuses for good; the others accept
        self.calls = {}

        def mixed(req):
            user = req.json()["user"]
            self.calls[user] = self.calls.get(user, 0) + 1
            if user == "bob" and self.calls[user] == 1:
                return peers.Response(503, {"error": "busy"})
            if user == "cai":
                return peers.Response(400, {"error": "unknown user"})
            return peers.Response(204)

        self.http.route("/mixed", mixed)
        self.config = """
[notify]
workers = 1
retry_base_ms = 20
[webhook]
url = "%s/mixed"
secret = "s"
""" % self.http.url
        super().setUp()

    def test_each_answer_lands_on_its_own_job(self):
        users = ["ann", "bob", "cai", "dan", "eva", "fay"]
        for h in users:
            self.add_user(h)
        sent = self.d.cli_json("notify", "send", "--to", ",".join(users), "-c", "transactional", "--text", "batch",
                               "--channel", "webhook")
        jobs = {j["user"]: j["id"] for j in sent["jobs"]}
        show = lambda h: self.d.cli_json("notify", "show", str(jobs[h]))
        wait_until(lambda: all(show(h)["state"] in ("delivered", "dead") for h in users), "every job settled")
        got = {h: (show(h)["state"], [(a["outcome"], a["status"]) for a in show(h)["attempts_made"]]) for h in users}
        for h in ("ann", "dan", "eva", "fay"):
            self.assertEqual(got[h], ("delivered", [("delivered", "204")]), h)
        self.assertEqual(got["bob"], ("delivered", [("retry", "503"), ("delivered", "204")]))
        self.assertEqual(got["cai"], ("dead", [("dead", "400")]))
        # every request carried its own job's id
        for req in self.http.requests:
            self.assertEqual(req.headers["Tourbus-Delivery"], str(jobs[req.json()["user"]]))


if __name__ == "__main__":
    unittest.main()
