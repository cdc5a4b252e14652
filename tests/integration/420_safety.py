"""Safety with the real daemon, real WebSocket clients, the CLI and a Twilio-like SMS peer: live
location (consent, the window, who sees whom, the rate limit, stragglers, the geofence), alerts by
area and tour in each person's language (CAP in and out, xmllint against the CAP 1.2 schema),
quiet hours ignored, roll-call over WebSocket, SMS replies (signature checked) and signed links,
incidents, the escalation ladder rung by rung, SOS with its rings and acknowledgement, the duty
roster, and `kill -9` in the middle of an alert's fan-out."""

import asyncio
import json
import base64
import datetime
import hashlib
import hmac
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import peers
import socketio
from harness import TOURBUS, WAIT, DaemonTest, wait_until
from wsclient import Client, Reply

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(HERE, "..", "data", "CAP-v1.2.xsd")
UTC = datetime.timezone.utc
COLOSSEUM = (41.8902, 12.4922)
MILAN = (45.4642, 9.1900)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def cap_document(identifier, sent, areas='<circle>41.8902,12.4922 2</circle>', extra=""):
    return """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>%s</identifier>
  <sender>civil-protection@roma.example</sender>
  <sent>%s</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>%s
  <info>
    <language>en-US</language>
    <category>Met</category>
    <event>Flash flood</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>Flash flood near the Colosseum</headline>
    <description>The Tiber is rising fast.</description>
    <instruction>Go to higher ground now.</instruction>
    <area><areaDesc>Rome centre</areaDesc>%s</area>
  </info>
  <info>
    <language>es-ES</language>
    <category>Met</category>
    <event>Inundación repentina</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>Inundación junto al Coliseo</headline>
    <description>El Tíber sube deprisa.</description>
    <instruction>Suba a un lugar alto ya.</instruction>
    <area><areaDesc>Centro de Roma</areaDesc>%s</area>
  </info>
</alert>
""" % (identifier, sent, extra, areas, areas)


class Safety(DaemonTest):
    extra_config = ""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tourbus-safety-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cert = peers.Certificate(self.dir)
        self.http = peers.HttpPeer(tls=self.cert)
        self.addCleanup(self.http.close)
        self.sid, self.sms_token = "AC" + "1" * 32, "tw-inbound-token"
        self.http.route(peers.twilio_path(self.sid), peers.twilio_responder(self.sid, self.sms_token))
        self.config = """
[notify]
ca_file = "%s"
[sms]
provider = "twilio"
url = "%s"
account_sid = "%s"
auth_token = "%s"
from = "+15005550006"
[websocket]
events_per_second = 10000
event_burst = 10000
[location]
min_interval_ms = 300
straggler_meters = 300
straggler_seconds = 0
geofence_meters = 150
""" % (self.cert.cert, self.http.url, self.sid, self.sms_token) + self.extra_config
        super().setUp()
        now = datetime.datetime.now(UTC)
        self.add_user("anna", phone="+34600000001", language="es-ES", quiet_hours="00:00-23:59")
        self.add_user("bob", language="en")
        self.add_user("carl")
        self.add_user("gina", role="guide")
        self.add_user("gino", role="guide")
        self.add_user("olga", role="operator")
        self.add_user("otto", role="operator")
        self.tour = self.d.cli_json("tour", "add", "-t", "Colosseum at dawn", "--start", rfc3339(now - datetime.timedelta(minutes=30)),
                                    "--end", rfc3339(now + datetime.timedelta(hours=2)), "--tz", "Europe/Rome", "-g", "gina",
                                    "-m", "Arch of Constantine", "--lat", str(COLOSSEUM[0]), "--lon", str(COLOSSEUM[1]),
                                    "-p", "anna", "-p", "bob")["id"]
        self.later = self.d.cli_json("tour", "add", "-t", "Milan tomorrow", "--start", rfc3339(now + datetime.timedelta(days=1)),
                                     "--end", rfc3339(now + datetime.timedelta(days=1, hours=3)), "--tz", "Europe/Rome",
                                     "-g", "gino", "-p", "carl")["id"]
        self.tok = {h: self.token(h) for h in ["anna", "bob", "carl", "gina", "olga"]}
        self.url = "ws://127.0.0.1:%d/v1/ws" % self.d.port

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 6 * WAIT))

    async def connect(self, handle):
        return await Client.connect(self.url, self.tok[handle])

    async def share(self, client, where, tour=None):
        """Sends a position, waiting out the rate limit as the daemon asks (no fixed sleeps)."""
        data = {"lat": where[0], "lon": where[1], "accuracy": 8, "battery": 64}
        if tour:
            data["tour"] = tour
        deadline = time.monotonic() + WAIT
        while True:
            try:
                return await client.call("location.update", data)
            except Reply as e:
                if e.code != "rate_limited" or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)  # retrying a refused request, not waiting for an effect

    def status(self, alert):
        return self.d.cli_json("alert", "status", str(alert))

    def person(self, status, handle):
        return next(p for p in status["people"] if p["user"] == handle)

    def sms_reply(self, sender, body, signature=None):
        form = {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": "SM" + "2" * 32, "AccountSid": self.sid}
        url = "http://127.0.0.1:%d/v1/webhooks/sms" % self.d.port
        signed = url + "".join(k + form[k] for k in sorted(form))
        good = base64.b64encode(hmac.new(self.sms_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()
        return self.d.http("POST", "/v1/webhooks/sms", body=urllib.parse.urlencode(form),
                           headers={"Content-Type": "application/x-www-form-urlencoded",
                                    "X-Twilio-Signature": signature or good})

    def jobs_of(self, handle):
        r = self.d.cli("--json", "notify", "list", "--user", handle, "--limit", "200")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


class Location(Safety):
    def test_consent_window_visibility_rate_limit_stragglers_and_geofence(self):
        async def go():
            anna, bob, carl, gina = [await self.connect(h) for h in ["anna", "bob", "carl", "gina"]]
            # no consent yet: nothing is stored
            with self.assertRaises(Reply) as cm:
                await self.share(anna, COLOSSEUM)
            self.assertEqual(cm.exception.code, "permission_denied")
            # outside a tour's window (carl's tour is tomorrow): nothing to share with
            await carl.call("location.share", {"id": self.later, "share": True})
            with self.assertRaises(Reply) as cm:
                await self.share(carl, MILAN)
            self.assertEqual(cm.exception.code, "conflict")

            for c in (anna, bob, gina):
                self.assertTrue((await c.call("location.share", {"id": self.tour, "share": True}))["sharing"])
            await self.share(gina, COLOSSEUM)
            seen = await bob.push("location", lambda d: d["user"] == "gina")  # tourists see the guide
            self.assertEqual((seen["lat"], seen["lon"], seen["tour"]), COLOSSEUM + (self.tour,))

            # anna at the meeting point: the guide sees her and hears she is inside the geofence
            await self.share(anna, (41.8903, 12.4923))
            at = await gina.push("location", lambda d: d["user"] == "anna")
            self.assertEqual((at["lat"], at["battery"]), (41.8903, 64))
            fence = await gina.push("location.geofence", lambda d: d["user"] == "anna")
            self.assertTrue(fence["inside"])
            await bob.quiet("location")  # the group is not visible to bob: he got only the guide's
            # the rate limit, per connection
            with self.assertRaises(Reply) as cm:
                await anna.call("location.update", {"lat": 41.8903, "lon": 12.4923})
            self.assertEqual(cm.exception.code, "rate_limited")

            # 1.2 km away from the guide: a straggler, and out of the geofence
            await self.share(anna, (41.9010, 12.4923))
            strag = await gina.push("location.straggler", lambda d: d["user"] == "anna")
            self.assertTrue(strag["straggling"])
            self.assertGreater(strag["distance_m"], 1000)
            self.assertFalse((await gina.push("location.geofence", lambda d: d["user"] == "anna"))["inside"])

            # what each may see
            mine = await bob.call("location.show", {"id": self.tour})
            self.assertEqual(sorted(p["user"] for p in mine["people"]), ["bob", "gina"])
            with self.assertRaises(Reply) as cm:
                await carl.call("location.show", {"id": self.tour})  # another group's positions
            self.assertEqual(cm.exception.code, "not_found")
            with self.assertRaises(Reply) as cm:
                await bob.call("location.group", {"id": self.tour, "visible": True})
            self.assertEqual(cm.exception.code, "permission_denied")
            await gina.call("location.group", {"id": self.tour, "visible": True})
            group = await bob.call("location.show", {"id": self.tour})
            anna_pos = next(p for p in group["people"] if p["user"] == "anna")
            self.assertEqual((anna_pos["lat"], anna_pos["straggler"]), (41.9010, True))
            self.assertGreater(anna_pos["distance_m"], 1000)

            # the operator's view, from the CLI
            shown = self.d.cli_json("location", "show", str(self.tour))
            self.assertTrue(shown["open"])
            self.assertEqual({p["user"] for p in shown["people"]}, {"anna", "bob", "gina"})
            text = self.d.cli("location", "show", str(self.tour))
            self.assertEqual(text.returncode, 0, text.stderr)
            self.assertIn("anna", text.stdout)

            # consent withdrawn: gone at once, for the viewers and in the store
            await anna.call("location.share", {"id": self.tour, "share": False})
            gone = await gina.push("location", lambda d: d["user"] == "anna" and not d["shared"])
            self.assertFalse(gone["shared"])
            after = self.d.cli_json("location", "show", str(self.tour))
            anna_now = next(p for p in after["people"] if p["user"] == "anna")
            self.assertEqual((anna_now["sharing"], anna_now["lat"]), (False, None))
            with self.assertRaises(Reply) as cm:
                await self.share(anna, COLOSSEUM)
            self.assertEqual(cm.exception.code, "permission_denied")
            for c in (anna, bob, carl, gina):
                await c.close()
        self.run_async(go())
        anna_id = self.d.store_rows("SELECT id FROM users WHERE handle = 'anna'")[0][0]
        self.assertEqual(self.d.store_rows("SELECT count(*) FROM location_trail WHERE user_id = ?", (anna_id,))[0][0], 0)
        self.assertEqual(self.d.store_rows("SELECT count(*) FROM locations WHERE user_id = ?", (anna_id,))[0][0], 0)


class Alerts(Safety):
    def test_an_area_alert_in_each_language_with_roll_call_by_websocket_sms_and_link(self):
        async def go():
            anna, bob, gina = [await self.connect(h) for h in ["anna", "bob", "gina"]]
            for c in (anna, bob, gina):
                await c.call("location.share", {"id": self.tour, "share": True})
            await self.share(anna, COLOSSEUM)
            await self.share(gina, COLOSSEUM)
            await self.share(bob, MILAN)  # far from the area

            path = os.path.join(self.dir, "flood.xml")
            with open(path, "w") as f:
                f.write(cap_document("roma-flood-1", datetime.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")))
            sent = self.d.cli_json("alert", "send", "--cap", path)
            self.assertEqual((sent["recipients"], sent["by_reason"]["area"]), (2, 2))
            alert = sent["id"]
            pushed = await anna.push("alert")  # her language: the es-ES block
            self.assertEqual((pushed["headline"], pushed["instruction"]), ("Inundación junto al Coliseo", "Suba a un lugar alto ya."))
            self.assertEqual((await gina.push("alert"))["headline"], "Flash flood near the Colosseum")
            await bob.quiet("alert")

            # the same document again (a feed re-read): one alert
            again = self.d.cli_json("alert", "send", "--cap", path)
            self.assertEqual((again["id"], again.get("duplicate")), (alert, True))

            # every channel she has, now, though it is her quiet time
            wait_until(lambda: {j["channel"] for j in self.jobs_of("anna")} >= {"inapp", "sms"}, "anna's alert jobs")
            for j in self.jobs_of("anna"):
                self.assertIsNone(j.get("deferred"), j)
            sms = next(j for j in self.jobs_of("anna") if j["channel"] == "sms")
            wait_until(lambda: any("Inundaci" in r.form().get("Body", "") for r in self.http.requests
                                   if r.path == peers.twilio_path(self.sid)), "the SMS at the provider")

            # the operator watches the roll-call converge: a JSON line per change, until all answered
            env = dict(os.environ, TOURBUS_SOCKET=self.d.socket)
            watch = subprocess.Popen([TOURBUS, "--json", "alert", "status", str(alert), "--watch"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            self.addCleanup(lambda: watch.poll() is None and watch.kill())
            first = json.loads(watch.stdout.readline())
            self.assertEqual((first["recipients"], first["no_answer"]), (2, 0 + 2))

            # roll-call: gina over Socket.IO; anna by SMS keyword in Spanish
            sio = socketio.Client(reconnection=False)
            sio.connect("http://127.0.0.1:%d" % self.d.port, auth={"token": self.tok["gina"]}, transports=["websocket"],
                        wait_timeout=WAIT)
            ack = sio.call("alert.answer", {"id": alert, "answer": "safe"}, timeout=WAIT)
            sio.disconnect()
            self.assertEqual(ack["event"], "reply", ack)
            self.assertEqual((ack["data"]["answer"], ack["data"]["via"]), ("safe", "websocket"))
            status, _, body = self.sms_reply("+34600000001", "AYUDA, estoy atrapada", signature="bm90IHRoZSBzaWduYXR1cmU=")
            self.assertEqual(status, 403)
            self.assertEqual(self.person(self.status(alert), "anna")["answer"], None)
            status, headers, body = self.sms_reply("+34600000001", "AYUDA, estoy atrapada")
            self.assertEqual(status, 200, body)
            self.assertIn("<Message>La ayuda", body)
            st = self.status(alert)
            a = self.person(st, "anna")
            self.assertEqual((a["answer"], a["via"]), ("need_help", "sms"))
            self.assertEqual((st["safe"], st["need_help"], st["no_answer"], st["answered_percent"]), (1, 1, 0, 100))
            self.assertEqual(st["tours"][0]["tour"], self.tour)
            out, err = watch.communicate(timeout=WAIT)
            self.assertEqual(watch.returncode, 0, err)
            last = json.loads(out.splitlines()[-1])
            self.assertEqual((last["safe"], last["need_help"], last["no_answer"]), (1, 1, 0))
            # the incident conversation: anna, her guide and the operators, with her last position
            incident = a["incident"]
            self.assertIsNotNone(incident)
            note = await gina.push("message", lambda m: m["conversation"] == incident)
            self.assertIn("41.89020,12.49220", note["text"])
            self.assertIn("estoy atrapada", note["text"])
            # her guide's "seen safe" does not undo her call for help
            kept = await gina.call("alert.answer", {"id": alert, "answer": "safe", "user": "anna"})
            self.assertEqual((kept["answer"], kept["kept"]), ("need_help", True))
            # a tourist answers only for herself
            with self.assertRaises(Reply) as cm:
                await bob.call("alert.answer", {"id": alert, "answer": "safe", "user": "anna"})
            self.assertEqual(cm.exception.code, "permission_denied")
            text = self.d.cli("alert", "status", str(alert))
            self.assertEqual(text.returncode, 0, text.stderr)
            self.assertIn("anna", text.stdout)

            # a tour alert to bob wherever he is, answered through the signed link in his message
            tour_alert = self.d.cli_json("alert", "send", "--headline", "Strike: metro closed", "--instruction",
                                         "Meet at the bus stop", "--tour", str(self.tour))
            self.assertEqual(tour_alert["by_reason"]["tour"], 3)
            def strike():
                _, _, feed = self.d.http("GET", "/v1/feed", token=self.tok["bob"])
                return next((i for i in feed["items"] if "Strike" in i["title"]), None)
            wait_until(strike, "bob's in-app alert")
            link = re.search(r"http://\S+/v1/links/s\.\S+", strike()["body"]).group(0)
            path = urllib.parse.urlparse(link).path
            status, _, page = self.d.http("GET", path)
            self.assertEqual(status, 200)
            self.assertIn("<button", page)
            self.assertIsNone(self.person(self.status(tour_alert["id"]), "bob")["answer"])  # a GET records nothing
            status, _, page = self.d.http("POST", path, body="", headers={"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(status, 200, page)
            b = self.person(self.status(tour_alert["id"]), "bob")
            self.assertEqual((b["answer"], b["via"]), ("safe", "link"))

            # cancelled: its recipients are told, the roll-call stops
            cancel = self.d.cli_json("alert", "cancel", str(tour_alert["id"]), "--note", "Metro running again")
            self.assertEqual(cancel["cancels"], tour_alert["id"])
            told = await bob.push("alert", lambda d: d["msg_type"] == "Cancel")
            self.assertEqual(told["answer_to"], tour_alert["id"])
            for c in (anna, bob, gina):
                await c.close()
        self.run_async(go())

    def test_cap_export_validates_and_bad_documents_name_their_line(self):
        sent = self.d.cli_json("alert", "send", "--headline", "Heat wave", "--description", "40 °C & more",
                               "--circle", "41.9,12.5 10", "--polygon", "41.8,12.4 41.8,12.6 42.0,12.6 41.8,12.4",
                               "--role", "tourist", "--status", "Exercise")
        exported = self.d.cli("alert", "show", str(sent["id"]), "--cap")
        self.assertEqual(exported.returncode, 0, exported.stderr)
        path = os.path.join(self.dir, "out.xml")
        with open(path, "w") as f:
            f.write(exported.stdout)
        lint = subprocess.run(["xmllint", "--noout", "--schema", SCHEMA, path], capture_output=True, text=True)
        self.assertEqual(lint.returncode, 0, lint.stderr + exported.stdout)
        self.assertIn("40 °C &amp; more", exported.stdout)
        # a document that breaks off: refused, naming the line
        bad = os.path.join(self.dir, "bad.xml")
        with open(bad, "w") as f:
            f.write(cap_document("x-1", "2026-12-06T10:00:00+00:00").replace("<urgency>Immediate</urgency>",
                                                                             "<urgency>Soon</urgency>", 1))
        r = self.d.cli("--json", "alert", "send", "--cap", bad)
        self.assertCliError(r, 4, "invalid_argument")
        self.assertIn("line 13: <urgency> must be", r.stderr)
        with open(bad, "w") as f:
            f.write(cap_document("x-2", "2026-12-06T10:00:00+00:00")[:400])
        r = self.d.cli("alert", "send", "--cap", bad)
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"line \d+")
        # a guide alerts only the tours they guide
        gina = self.token("gina")
        status, _, body = self.d.http("POST", "/v1/alerts", {"headline": "x", "roles": ["tourist"]}, token=gina)
        self.assertEqual((status, body["error"]["code"]), (403, "permission_denied"))
        status, _, body = self.d.http("POST", "/v1/alerts", {"headline": "Bus late", "tours": [str(self.tour)]}, token=gina)
        self.assertEqual(status, 202, body)


class Ladder(Safety):
    extra_config = "[alert]\nescalate_after_seconds = 1\n[sos]\nring_seconds = 1\n"

    def test_escalation_rung_by_rung_then_sos_rings_until_acknowledged(self):
        self.d.cli_json("duty", "on", "olga")
        status, duty = self.d.curl("GET", "/v1/duty")
        self.assertEqual([d["user"] for d in duty["duty"]], ["olga"])
        listed = self.d.cli("duty", "list")
        self.assertIn("olga", listed.stdout)
        self.assertCliError(self.d.cli("--json", "duty", "on", "anna"), 4, "invalid_argument")  # not an operator

        mark = self.d.log_mark()
        sent = self.d.cli_json("alert", "send", "--headline", "Fire on Via Sacra", "--user", "bob")
        self.d.wait_for(r"safety\.escalated alert=%d user=bob rung=operators" % sent["id"], start=mark)
        st = self.status(sent["id"])
        self.assertEqual([r["rung"] for r in st["rungs"]], ["renotify", "sms", "guide", "operators"])
        self.assertEqual(st["rungs"][1]["detail"], "skipped: no phone number")
        self.assertEqual(st["rungs"][2]["detail"], "their guide gina was told")
        self.assertEqual(st["rungs"][3]["detail"], "the operators on duty were told")
        self.assertEqual(self.person(st, "bob")["rung"], "operators")
        wait_until(lambda: any("Not answered" in j.get("subject", "") for j in self.jobs_of("olga")), "olga told")
        self.assertFalse(any("Not answered" in j.get("subject", "") for j in self.jobs_of("otto")))

        # any notification can ask for the ladder: a tracked pickup change, confirmed over the app
        tracked = self.d.cli_json("notify", "send", "--to", "carl", "-c", "transactional", "-s", "Pickup moved",
                                  "--text", "Your pickup is now 9:15 at the north gate.", "--escalate")
        self.assertTrue(tracked["tracked"])
        self.d.wait_for(r"safety\.escalated alert=%d user=carl rung=renotify" % tracked["alert"], start=mark)
        status, _, body = self.d.http("POST", "/v1/alerts/%d/answer" % tracked["alert"], {"answer": "safe"},
                                      token=self.tok["carl"])
        self.assertEqual((status, body["answer"]), (200, "safe"))
        carl = self.person(self.status(tracked["alert"]), "carl")
        self.assertEqual((carl["answer"], carl["next_rung_at"]), ("safe", None))
        self.assertTrue(any(j["category"] == "transactional" and j["subject"] == "Pickup moved" for j in self.jobs_of("carl")))

        # closed once the emergency is over: the ladder stops, later answers are refused, nobody is told
        storm = self.d.cli_json("alert", "send", "--headline", "Storm over the Forum", "--user", "bob")
        self.d.wait_for(r"safety\.escalated alert=%d user=bob rung=renotify" % storm["id"], start=mark)
        closed = self.d.cli_json("alert", "close", str(storm["id"]))
        self.assertEqual((closed["state"], closed["recipients"], closed["unanswered"]), ("closed", 1, 1))
        self.assertEqual(self.person(self.status(storm["id"]), "bob")["next_rung_at"], None)
        listed = self.d.cli("--json", "alert", "list", "--state", "closed").stdout.splitlines()
        self.assertIn(storm["id"], [json.loads(line)["id"] for line in listed])
        status, _, body = self.d.http("POST", "/v1/alerts/%d/answer" % storm["id"], {"answer": "safe"}, token=self.tok["bob"])
        self.assertEqual((status, body["error"]["code"]), (409, "conflict"))
        self.assertCliError(self.d.cli("--json", "alert", "close", str(storm["id"])), 4, "conflict")  # closed already
        self.assertIn("closed: 0 safe, 0 need help, 1 not answered of 1", self.d.cli("alert", "close", str(sent["id"])).stdout)

        async def go():
            anna, gina, olga = [await self.connect(h) for h in ["anna", "gina", "olga"]]
            started = time.monotonic()
            raised = await anna.call("sos", {"lat": 41.8910, "lon": 12.4930, "accuracy": 12, "note": "I fell", "client_id": "s-1"})
            for who in (gina, olga):
                got = await who.push("sos", lambda d: d["id"] == raised["id"])
                self.assertEqual(got["user"], "anna")
            took = time.monotonic() - started
            print("\nSOS reached the guide and the operator on duty in %.0f ms" % (took * 1000))
            self.assertEqual(sorted(raised["notified"]), ["gina", "olga"])
            self.assertEqual(raised["location"]["lat"], 41.891)
            # the incident conversation carries where she is
            note = await olga.push("message", lambda m: m["conversation"] == raised["conversation"])
            self.assertIn("41.89100,12.49300", note["text"])
            # a resend from a flaky phone is the same SOS
            again = await anna.call("sos", {"lat": 41.8910, "lon": 12.4930, "client_id": "s-1"})
            self.assertEqual((again["id"], again["duplicate"]), (raised["id"], True))
            mark = self.d.log_mark()
            self.d.wait_for(r"safety\.sos_ring sos=%d" % raised["id"], start=mark)  # it rings again
            _, listed = self.d.curl("GET", "/v1/sos")
            self.assertEqual([(s["id"], s["state"]) for s in listed["sos"]], [(raised["id"], "open")])
            text = self.d.cli("sos", "list")
            self.assertIn("anna", text.stdout)
            with self.assertRaises(Reply) as cm:
                await anna.call("sos.ack", {"id": raised["id"]})
            self.assertEqual(cm.exception.code, "permission_denied")
            acked = await gina.call("sos.ack", {"id": raised["id"], "note": "on my way"})
            self.assertEqual((acked["state"], acked["acked_by"]), ("acknowledged", "gina"))
            update = await anna.push("sos.updated")
            self.assertEqual(update["state"], "acknowledged")
            resolved = self.d.cli_json("sos", "resolve", str(raised["id"]), "--note", "ankle strapped")
            self.assertEqual(resolved["state"], "resolved")
            self.assertEqual(self.d.curl("GET", "/v1/sos")[1]["sos"], [])
            for c in (anna, gina, olga):
                await c.close()
        self.run_async(go())


class Crash(Safety):
    extra_config = "[alert]\nbatch_size = 1\n"

    def test_kill_9_during_a_fan_out_then_restart_completes_it_without_duplicates(self):
        # 300 people in the normal build; the sanitizer build (build-asan), slower per batch, needs
        # fewer for the kill to land in the middle of the fan-out.
        count = 100 if "build-asan" in os.environ.get("TOURBUS_BUILD_DIR", "") else 300
        people = ["p%03d" % i for i in range(count)]
        for h in people:  # over the control socket with curl: quicker than the CLI under the sanitizers
            status, body = self.d.curl("POST", "/v1/users", {"handle": h, "display_name": h, "role": "tourist"})
            self.assertEqual(status, 201, body)
        mark = self.d.log_mark()
        sent = self.d.cli_json("alert", "send", "--headline", "Evacuate the square", "--role", "tourist")
        total = sent["recipients"]
        self.assertEqual(total, count + 3)
        self.d.wait_for(r"safety\.alert_batch alert=%d " % sent["id"], start=mark)
        self.d.kill9()
        self.assertFalse(re.search(r"safety\.alert_sent alert=%d " % sent["id"], "\n".join(self.d.lines[mark:])),
                         "the fan-out finished before the kill; the test proves nothing")
        self.d.start()  # a new log
        self.d.wait_for(r"safety\.alert_sent alert=%d " % sent["id"])
        # the restart picked the fan-out up where it stopped
        self.assertTrue(re.search(r"safety\.alert_batch alert=%d " % sent["id"], "\n".join(self.d.lines)))
        per_user = self.d.store_rows("SELECT j.user_id, count(*) FROM notify_jobs j JOIN notifications n ON n.id = j.notification_id "
                                     "WHERE n.created_by = ? AND j.channel = 'inapp' GROUP BY j.user_id",
                                     ("alert:%d" % sent["id"],))
        unsent = self.d.store_rows("SELECT count(*) FROM alert_recipients WHERE alert_id = ? AND notified_at IS NULL",
                                   (sent["id"],))[0][0]
        self.assertEqual(len(per_user), total)
        self.assertEqual({n for _, n in per_user}, {1})
        self.assertEqual(unsent, 0)
        self.assertEqual(self.status(sent["id"])["recipients"], total)


if __name__ == "__main__":
    unittest.main()
