"""Push notifications against real protocol peers on loopback: Web Push (the payload decrypted by
an independent RFC 8291 implementation, the VAPID JWT verified), FCM HTTP v1 (the OAuth2 JWT-bearer
exchange, the v1 body, UNREGISTERED tokens removed) and APNs over HTTP/2 with ALPN (the ES256
provider token, the headers, 410 removing the device)."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import TOURBUS, WAIT, DaemonTest, wait_until
import peers


class Push(DaemonTest):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tourbus-push-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cert = peers.Certificate(self.dir)
        keys = json.loads(subprocess.run([TOURBUS, "--json", "push", "vapid-keys"], capture_output=True, text=True,
                                         check=True, timeout=WAIT).stdout)
        self.vapid_public = keys["public_key"]
        self.webpush = peers.WebPushPeer(self.cert, vapid_public_key=self.vapid_public)
        self.addCleanup(self.webpush.close)
        self.fcm = peers.FcmPeer(self.cert)
        self.addCleanup(self.fcm.close)
        account = self.fcm.make_service_account(self.dir, project_id="tours-app")
        self.apns = peers.ApnsPeer(self.cert)
        self.addCleanup(self.apns.close)
        p8, key_id, team_id = self.apns.make_key(self.dir)
        self.team_id, self.key_id = team_id, key_id
        self.config = """
[notify]
ca_file = "%s"
retry_base_ms = 40
retry_max_ms = 200
[webpush]
vapid_public_key = "%s"
vapid_private_key = "%s"
subject = "mailto:ops@tours.example"
ttl_seconds = 3600
endpoint_hosts = "push.example.net, 127.0.0.1"
[fcm]
service_account_file = "%s"
url = "%s"
[apns]
key_file = "%s"
key_id = "%s"
team_id = "%s"
topic = "example.tours.app"
url = "%s"
""" % (self.cert.cert, keys["public_key"], keys["private_key"], account, self.fcm.url, p8, key_id, team_id, self.apns.url)
        super().setUp()
        self.add_user("ann")
        self.ann = self.token("ann")

    def send(self, *args):
        return self.d.cli_json("notify", "send", "--to", "ann", *args)

    def job(self, job_id):
        return self.d.cli_json("notify", "show", str(job_id))

    def wait_job(self, job_id, state):
        return wait_until(lambda: (lambda j: j if j["state"] == state else None)(self.job(job_id)),
                          "job %s to be %s" % (job_id, state))

    def test_web_push_is_encrypted_and_signed_and_a_gone_subscription_is_removed(self):
        status, _, key = self.d.http("GET", "/v1/push/vapid-key", token=self.ann)
        self.assertEqual((status, key["public_key"]), (200, self.vapid_public))
        browser = self.webpush.subscribe()
        status, _, sub = self.d.http("POST", "/v1/push/subscriptions", token=self.ann,
                                     body={"endpoint": browser.endpoint, "p256dh": browser.p256dh, "auth": browser.auth})
        self.assertEqual(status, 201, sub)
        sent = self.send("-c", "emergency", "-s", "Storm", "--text", "Stay inside, the guide will call")
        self.assertEqual(sorted(j["channel"] for j in sent["jobs"]), ["inapp", "webpush"])
        push = self.webpush.wait_requests(1, where=lambda r: r.kind == "push")[0]
        self.assertIsNone(push.error, push.error)
        # decrypted by the test's own RFC 8291 implementation
        body = json.loads(push.plaintext)
        self.assertEqual((body["title"], body["body"], body["category"]), ("Storm", "Stay inside, the guide will call", "emergency"))
        self.assertEqual((push.headers["ttl"], push.headers["urgency"], push.headers["content-encoding"]),
                         ("3600", "high", "aes128gcm"))
        self.assertEqual(push.vapid["sub"], "mailto:ops@tours.example")
        self.assertEqual(push.vapid["aud"], self.webpush.url)
        webpush_job = next(j for j in sent["jobs"] if j["channel"] == "webpush")
        self.wait_job(webpush_job["id"], "delivered")

        # 410 Gone: the job is dead at once and the subscription is removed
        self.webpush.respond(self.webpush.path(browser.endpoint.rsplit("/", 1)[1]), 410)
        gone = self.send("-c", "transactional", "--text", "second", "--channel", "webpush")
        job = self.wait_job(gone["jobs"][0]["id"], "dead")
        self.assertEqual([(a["outcome"], a["status"]) for a in job["attempts_made"]], [("dead", "410")])
        status, _, listed = self.d.http("GET", "/v1/push", token=self.ann)
        self.assertEqual(listed["subscriptions"], [])
        # bad subscriptions are refused up front
        status, _, err = self.d.http("POST", "/v1/push/subscriptions", token=self.ann,
                                     body={"endpoint": browser.endpoint, "p256dh": "AAAA", "auth": browser.auth})
        self.assertEqual((status, err["error"]["field"]), (400, "p256dh"))
        for endpoint, says in (("http://evil.example/x", "https://"), ("https://169.254.169.254/latest", "known push service"),
                               ("https://evilpush.example.net/x", "known push service"),
                               ("https://u@127.0.0.1/x", "no user name or password"), ("https://a b", "https://")):
            status, _, err = self.d.http("POST", "/v1/push/subscriptions", token=self.ann,
                                         body={"endpoint": endpoint, "p256dh": browser.p256dh, "auth": browser.auth})
            self.assertEqual((status, err["error"]["field"]), (400, "endpoint"), endpoint)
            self.assertIn(says, err["error"]["message"], endpoint)
        status, _, ok = self.d.http("POST", "/v1/push/subscriptions", token=self.ann,
                                    body={"endpoint": "https://eu.push.example.net/x", "p256dh": browser.p256dh, "auth": browser.auth})
        self.assertEqual(status, 201, ok)  # a subdomain of a listed host

    def test_an_operator_manages_a_users_browsers_and_phones_from_the_cli(self):
        browser = self.webpush.subscribe()
        sub = self.d.cli_json("push", "subscribe", "-u", "ann", "--endpoint", browser.endpoint, "--p256dh", browser.p256dh,
                              "--auth", browser.auth)
        dev = self.d.cli_json("push", "device", "register", "-u", "ann", "--platform", "fcm", "--token", "fcm-token-ann-9")
        self.assertEqual(dev["platform"], "fcm")
        listed = self.d.cli_json("push", "list", "-u", "ann")
        self.assertEqual(([s["id"] for s in listed["subscriptions"]], [d["id"] for d in listed["devices"]]), ([sub["id"]], [dev["id"]]))
        self.assertEqual(listed["devices"][0]["token"], "fcm-toke…")  # never the whole token
        table = self.d.cli("push", "list", "-u", "ann").stdout.splitlines()
        self.assertEqual([l.split()[:3] for l in table[1:]], [["browser", str(sub["id"]), "webpush"], ["phone", str(dev["id"]), "fcm"]])
        # the same as a web page or an app would: ann sees her own
        status, _, own = self.d.http("GET", "/v1/push", token=self.ann)
        self.assertEqual(own, listed)
        bad = self.d.cli("--json", "push", "device", "register", "-u", "ann", "--platform", "pager", "--token", "x")
        self.assertCliError(bad, 4, "invalid_argument")
        self.assertEqual(self.d.cli("push", "device", "unregister", str(dev["id"]), "-u", "ann").stdout.strip(), "removed %d" % dev["id"])
        self.assertEqual(self.d.cli("push", "unsubscribe", str(sub["id"]), "-u", "ann").stdout.strip(), "removed %d" % sub["id"])
        self.assertCliError(self.d.cli("--json", "push", "unsubscribe", str(sub["id"]), "-u", "ann"), 3, "not_found")
        self.assertEqual(self.d.cli_json("push", "list", "-u", "ann"), {"subscriptions": [], "devices": []})

    def test_fcm_oauth_exchange_v1_body_retry_and_unregistered_token(self):
        status, _, dev = self.d.http("POST", "/v1/devices", token=self.ann, body={"platform": "fcm", "token": "fcm-token-ann-1"})
        self.assertEqual(status, 201, dev)
        self.fcm.fail_send("UNAVAILABLE", times=1)
        sent = self.send("-c", "transactional", "-s", "Pickup", "--text", "Bus at 9:15", "--channel", "fcm")
        job = self.wait_job(sent["jobs"][0]["id"], "delivered")
        self.assertEqual([(a["outcome"], a["status"]) for a in job["attempts_made"]], [("retry", "503"), ("delivered", "200")])
        self.fcm.assert_no_errors()
        self.assertEqual(self.fcm.token_count, 1)  # one OAuth exchange, the token reused for the retry
        msg = self.fcm.sends[-1].json()["message"]
        self.assertEqual((msg["token"], msg["notification"]["title"], msg["notification"]["body"]),
                         ("fcm-token-ann-1", "Pickup", "Bus at 9:15"))
        self.assertEqual(msg["data"]["category"], "transactional")
        self.assertEqual(self.fcm.sends[-1].project, "tours-app")
        # UNREGISTERED: dead at once, the device removed
        self.fcm.fail_send("UNREGISTERED")
        gone = self.send("-c", "transactional", "--text", "again", "--channel", "fcm")
        job = self.wait_job(gone["jobs"][0]["id"], "dead")
        self.assertEqual(job["attempts_made"][0]["status"], "404")
        status, _, listed = self.d.http("GET", "/v1/push", token=self.ann)
        self.assertEqual(listed["devices"], [])

    def test_apns_http2_with_provider_token_and_410_removes_the_device(self):
        token = "a1" * 32
        status, _, dev = self.d.http("POST", "/v1/devices", token=self.ann, body={"platform": "apns", "token": token})
        self.assertEqual(status, 201, dev)
        sent = self.send("-c", "reminder", "-s", "Tomorrow", "--text", "Meet at 9", "--channel", "apns")
        self.wait_job(sent["jobs"][0]["id"], "delivered")
        req = self.apns.wait_requests(1)[0]
        self.assertIsNone(req.error, req.error)
        self.assertEqual(req.version, "HTTP/2")
        self.assertEqual(req.device_token, token)
        self.assertEqual((req.jwt_header["kid"], req.jwt_claims["iss"]), (self.key_id, self.team_id))
        self.assertEqual((req.headers["apns-topic"], req.headers["apns-push-type"], req.headers["apns-priority"]),
                         ("example.tours.app", "alert", "10"))
        self.assertEqual(req.payload["aps"]["alert"], {"title": "Tomorrow", "body": "Meet at 9"})
        self.apns.unregister(token)
        gone = self.send("-c", "reminder", "--text", "again", "--channel", "apns")
        job = self.wait_job(gone["jobs"][0]["id"], "dead")
        self.assertEqual(job["attempts_made"][0]["status"], "410")
        status, _, listed = self.d.http("GET", "/v1/push", token=self.ann)
        self.assertEqual(listed["devices"], [])

    def retry_until_gone(self, job_id):
        """Retries a dead job; returns it once its new attempt has gone dead too."""
        r = self.d.cli("queue", "dead", "retry", "--job", str(job_id))
        self.assertEqual(r.returncode, 0, r.stderr)
        job = wait_until(lambda: (lambda j: j if j["state"] == "dead" and len(j["attempts_made"]) == 2 else None)(
            self.job(job_id)), "job %s to be dead again" % job_id)
        self.assertEqual(job["attempts_made"][-1]["status"], "gone")
        return job

    def test_a_retried_job_never_reaches_whoever_has_the_address_now(self):
        self.add_user("bob")
        bob = self.token("bob")
        # Web Push: ann's subscription is removed by a 410 and bob subscribes next
        ann_browser = self.webpush.subscribe()
        status, _, ann_sub = self.d.http("POST", "/v1/push/subscriptions", token=self.ann, body={
            "endpoint": ann_browser.endpoint, "p256dh": ann_browser.p256dh, "auth": ann_browser.auth})
        self.assertEqual(status, 201, ann_sub)
        self.webpush.respond(self.webpush.path(ann_browser.endpoint.rsplit("/", 1)[1]), 410)
        sent = self.send("-c", "transactional", "--text", "for ann only", "--channel", "webpush")
        job = self.wait_job(sent["jobs"][0]["id"], "dead")
        bob_browser = self.webpush.subscribe()
        status, _, bob_sub = self.d.http("POST", "/v1/push/subscriptions", token=bob, body={
            "endpoint": bob_browser.endpoint, "p256dh": bob_browser.p256dh, "auth": bob_browser.auth})
        self.assertEqual(status, 201, bob_sub)
        self.assertGreater(bob_sub["id"], ann_sub["id"])
        mark = self.webpush.mark()
        self.retry_until_gone(job["id"])

        # the same browser changes hands: bob signs in on ann's second browser
        shared = self.webpush.subscribe()
        keys = {"endpoint": shared.endpoint, "p256dh": shared.p256dh, "auth": shared.auth}
        status, _, ann_sub = self.d.http("POST", "/v1/push/subscriptions", token=self.ann, body=keys)
        self.webpush.respond(self.webpush.path(shared.endpoint.rsplit("/", 1)[1]), 413)  # permanent, kept
        sent = self.send("-c", "transactional", "--text", "for ann only", "--channel", "webpush")
        job = self.wait_job(sent["jobs"][0]["id"], "dead")
        status, _, bob_sub = self.d.http("POST", "/v1/push/subscriptions", token=bob, body=keys)
        self.assertEqual(status, 201, bob_sub)
        self.assertGreater(bob_sub["id"], ann_sub["id"])
        status, _, listed = self.d.http("GET", "/v1/push", token=self.ann)
        self.assertEqual(listed["subscriptions"], [])
        self.retry_until_gone(job["id"])
        self.assertEqual(self.webpush.requests[mark + 1:], [])  # only the 413; nothing for bob

        # FCM and APNs: ann's device token is unregistered, bob registers his phone next
        status, _, ann_dev = self.d.http("POST", "/v1/devices", token=self.ann, body={"platform": "fcm", "token": "fcm-ann"})
        self.fcm.fail_send("UNREGISTERED")
        sent = self.send("-c", "transactional", "--text", "for ann only", "--channel", "fcm")
        job = self.wait_job(sent["jobs"][0]["id"], "dead")
        status, _, bob_dev = self.d.http("POST", "/v1/devices", token=bob, body={"platform": "fcm", "token": "fcm-bob"})
        self.assertGreater(bob_dev["id"], ann_dev["id"])
        sends = len(self.fcm.sends)
        self.retry_until_gone(job["id"])
        self.assertEqual(len(self.fcm.sends), sends)

        apns_ann, apns_bob = "a2" * 32, "b3" * 32
        status, _, ann_dev = self.d.http("POST", "/v1/devices", token=self.ann, body={"platform": "apns", "token": apns_ann})
        self.apns.unregister(apns_ann)
        sent = self.send("-c", "transactional", "--text", "for ann only", "--channel", "apns")
        job = self.wait_job(sent["jobs"][0]["id"], "dead")
        status, _, bob_dev = self.d.http("POST", "/v1/devices", token=bob, body={"platform": "apns", "token": apns_bob})
        self.assertGreater(bob_dev["id"], ann_dev["id"])
        mark = self.apns.mark()
        self.retry_until_gone(job["id"])
        self.assertEqual(self.apns.requests[mark:], [])


if __name__ == "__main__":
    unittest.main()
