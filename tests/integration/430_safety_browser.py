"""examples/safety.html in a real browser: headless Chromium, driven over the Chrome DevTools
Protocol (python3-websockets, as 150_browser), opens the page from the repository with the
geolocation permission granted and the phone's position set through the DevTools protocol
(Emulation.setGeolocationOverride). A Spanish-speaking tourist on a tour running now logs in with
her token and consents to share her position: what the DevTools protocol says reaches the daemon
(`tourbus location show`), and so does a move. An operator's CAP alert with English and Spanish
info blocks, sent to the tour, shows in Spanish; "I need help" is recorded over the WebSocket
with an incident conversation. Reloaded, the page finds the answered alert again and one sent
while it was away (alert.list), still unanswered, and answers it safe. The SOS button, once
confirmed, raises one SOS at the emulated position, and `tourbus sos ack` shows on the page as
help coming. Every wait polls the page or the CLI until a deadline. Chromium is installed by
scripts/setup.sh; without it this test fails."""

import datetime
import json
import os
import pathlib
import tempfile
import unittest

from browser import Browser
from harness import DaemonTest, wait_until

SAFETY_HTML = pathlib.Path(__file__).resolve().parent.parent.parent / "examples" / "safety.html"
UTC = datetime.timezone.utc
COLOSSEUM = (41.8902, 12.4922, 7)       # latitude, longitude, accuracy (m) set through the DevTools protocol
FORUM = (41.8925, 12.4853, 12)

# The page's state as the test reads it: only what is on screen.
PAGE_STATE = """(() => {
    const $ = (id) => document.getElementById(id);
    const text = (e, sel) => e.querySelector(sel)?.textContent ?? null;
    return {
        status: $("status").textContent,
        tour: $("tour").value,
        tours: [...$("tour").options].map((o) => o.textContent),
        share: $("share").textContent,
        sharing: $("share").getAttribute("aria-pressed"),
        shareStatus: $("share-status").textContent,
        alerts: [...document.querySelectorAll("#alerts .alert")].map((a) => ({
            id: Number(a.dataset.alert), lang: a.lang, state: a.dataset.state, answer: a.dataset.answer,
            kind: text(a, ".kind"), headline: text(a, ".headline"), description: text(a, ".description"),
            instruction: text(a, ".instruction"), line: text(a, ".answer"),
            buttons: [...a.querySelectorAll(".answers button")].map((b) => b.textContent),
        })),
        sosConfirm: !$("sos-confirm").hidden,
        sosState: $("sos-state").dataset.state ?? "",
        sosText: $("sos-state").textContent,
        title: document.title,
        markup: document.querySelectorAll("#alerts img, #alerts script, #alerts *[onerror]").length,
    };
})()"""


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def cap_document(identifier):
    """A CAP 1.2 alert with an English and a Spanish info block (the Spanish one a little marked up,
    which the page must show as text)."""
    sent = datetime.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>%s</identifier>
  <sender>civil-protection@roma.example</sender>
  <sent>%s</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
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
    <area><areaDesc>Rome centre</areaDesc><circle>41.8902,12.4922 2</circle></area>
  </info>
  <info>
    <language>es-ES</language>
    <category>Met</category>
    <event>Inundación repentina</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>Inundación junto al Coliseo</headline>
    <description>El Tíber sube deprisa &lt;img src=x onerror="document.title='pwned'"&gt;</description>
    <instruction>Suba a un lugar alto ya.</instruction>
    <area><areaDesc>Centro de Roma</areaDesc><circle>41.8902,12.4922 2</circle></area>
  </info>
</alert>
""" % (identifier, sent)


class BrowserSafety(DaemonTest):
    def setUp(self):
        super().setUp()
        self.add_user("lucia", name="Lucía Gómez", language="es")
        self.add_user("gina", role="guide")
        self.add_user("olga", role="operator")
        now = datetime.datetime.now(UTC)
        self.tour = self.d.cli_json("tour", "add", "-t", "Colosseum at dawn", "--start", rfc3339(now - datetime.timedelta(minutes=30)),
                                    "--end", rfc3339(now + datetime.timedelta(hours=2)), "--tz", "Europe/Rome", "-g", "gina",
                                    "-m", "Arch of Constantine", "--lat", "41.8898", "--lon", "12.4906", "-p", "lucia")["id"]
        self.dir = tempfile.mkdtemp(prefix="tourbus-safety-browser-", dir=self.d.dir)  # removed with the daemon's dir
        self.browser = Browser()
        self.addCleanup(self.browser.close)

    # -- the page ----------------------------------------------------------------------------
    def state(self):
        return self.browser.evaluate(PAGE_STATE)

    def describe(self):
        return self.browser.report(PAGE_STATE) + "\ndaemon log (tail):\n" + "\n".join(self.d.log_text().splitlines()[-30:])

    def wait_page(self, check, what):
        """Waits until check(page state) is true; returns that state."""
        def ready():
            state = self.state()
            return state if check(state) else None
        return wait_until(ready, what, describe=self.describe)

    def card(self, state, alert):
        return next((a for a in state["alerts"] if a["id"] == alert), None)

    def set_position(self, where):
        self.browser.call("Emulation.setGeolocationOverride", latitude=where[0], longitude=where[1], accuracy=where[2])

    def open_page(self):
        """Navigates to (or reloads) the page and waits for a fresh copy, not yet connected."""
        b = self.browser
        if b.evaluate("location.href") == SAFETY_HTML.as_uri():
            b.evaluate("window.previousCopy = true")
            b.call("Page.reload", ignoreCache=True)
        else:
            b.call("Page.navigate", url=SAFETY_HTML.as_uri())
        wait_until(lambda: b.evaluate("location.href === %s && !window.previousCopy && document.readyState === 'complete' && "
                                      "document.getElementById('status').textContent === 'disconnected'"
                                      % json.dumps(SAFETY_HTML.as_uri())), "safety.html to load", describe=self.describe)

    def log_in(self):
        b = self.browser
        b.type("#url", "ws://127.0.0.1:%d/v1/ws" % self.d.port)
        b.type("#token", self.token("lucia"))
        b.click("#connect")
        self.wait_page(lambda s: s["status"] == "connected as lucia", "the page to connect")

    # -- the daemon, through the operator's CLI ------------------------------------------------
    def lucia_at(self):
        shown = self.d.cli_json("location", "show", str(self.tour))
        return next(p for p in shown["people"] if p["user"] == "lucia")

    def wait_position(self, where, what):
        return wait_until(lambda: (lambda p: p if (p["lat"], p["lon"]) == where[:2] else None)(self.lucia_at()),
                          what, describe=lambda: "\nlast seen: %s%s" % (self.lucia_at(), self.describe()))

    def roll_call(self, alert):
        st = self.d.cli_json("alert", "status", str(alert))
        return next(p for p in st["people"] if p["user"] == "lucia")

    def sos_list(self):
        """`tourbus --json sos list`: a JSON line per SOS, newest first."""
        r = self.d.cli("--json", "sos", "list", "--state", "all")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def send_cap(self, name, document, *targets):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(document)
        return self.d.cli_json("alert", "send", "--cap", path, *targets)

    def test_location_alert_roll_call_and_sos_from_the_page(self):
        b = self.browser
        # The phone's position and the permission to read it: the DevTools protocol, no prompt.
        b.call("Browser.grantPermissions", permissions=["geolocation"])
        self.set_position(COLOSSEUM)
        self.open_page()
        self.assertEqual(b.evaluate("document.title"), "tourbus safety")
        self.log_in()
        state = self.wait_page(lambda s: s["tour"] == str(self.tour) and s["sharing"] == "false",
                               "the running tour chosen, not shared yet")
        self.assertIn("Colosseum at dawn", state["tours"][0])
        before = self.lucia_at()
        self.assertEqual((before["sharing"], before["lat"]), (False, None))  # nothing without consent

        # Consent: location.share, then the position from watchPosition, as the DevTools protocol set it.
        b.click("#share")
        self.wait_page(lambda s: s["sharing"] == "true", "the consent recorded")
        at = self.wait_position(COLOSSEUM, "the emulated position to reach the daemon")
        self.assertTrue(at["sharing"])
        self.assertEqual(at["accuracy"], COLOSSEUM[2])
        self.wait_page(lambda s: s["shareStatus"].startswith("sharing: position sent"), "the page to say it was sent")

        # The phone moves: the new position arrives (paced by the page, not by this test).
        self.set_position(FORUM)
        at = self.wait_position(FORUM, "the new position to reach the daemon")
        self.assertEqual(at["accuracy"], FORUM[2])

        # A CAP alert in English and Spanish to her tour: the page shows hers, the Spanish block.
        sent = self.send_cap("flood.xml", cap_document("roma-flood-430"), "--tour", str(self.tour))
        alert = sent["id"]
        state = self.wait_page(lambda s: (self.card(s, alert) or {}).get("headline") == "Inundación junto al Coliseo",
                               "the Spanish headline on the page")
        card = self.card(state, alert)
        self.assertEqual(card["instruction"], "Suba a un lugar alto ya.")
        self.assertEqual(card["description"], "El Tíber sube deprisa <img src=x onerror=\"document.title='pwned'\">")
        self.assertIn("Severe", card["kind"])
        self.assertEqual(card["state"], "open")
        self.assertEqual([b.split(" ")[0] for b in card["buttons"]], ["Estoy", "Necesito"])  # her language
        self.assertEqual(state["markup"], 0)          # shown as text, never parsed as HTML
        self.assertTrue(state["title"].startswith("⚠"), state["title"])
        self.assertIsNone(self.roll_call(alert)["answer"])

        # "I need help": recorded over the WebSocket, with an incident conversation.
        b.click('#alerts .alert[data-alert="%d"] button.help' % alert)
        person = wait_until(lambda: (lambda p: p if p["answer"] == "need_help" else None)(self.roll_call(alert)),
                            "the roll-call to show need_help", describe=self.describe)
        self.assertEqual(person["via"], "websocket")
        self.assertIsNotNone(person["incident"])
        incident = self.d.cli_json("conversation", "show", str(person["incident"]))
        self.assertIn("lucia", [m["handle"] for m in incident["members"]])
        self.assertIn("gina", [m["handle"] for m in incident["members"]])
        state = self.wait_page(lambda s: (self.card(s, alert) or {}).get("answer") == "need_help"
                               and self.card(s, alert)["state"] == "answered", "the answer recorded on the page")
        self.assertIn("I need help", self.card(state, alert)["line"])
        self.assertEqual(state["title"], "tourbus safety")
        self.assertEqual(b.evaluate("document.title"), "tourbus safety")  # no onerror ran

        # Reloaded (a phone that dropped the page): an alert sent meanwhile is not missed.
        self.open_page()
        mark = self.d.log_mark()
        strike = self.d.cli_json("alert", "send", "--headline", "Huelga: metro cerrado", "--language", "es",
                                 "--instruction", "Vayan a la parada del autobús", "--severity", "Moderate",
                                 "--user", "lucia")["id"]
        self.d.wait_for(r"safety\.alert_sent alert=%d " % strike, start=mark)  # sent while nobody was connected
        self.log_in()
        state = self.wait_page(lambda s: self.card(s, strike) and self.card(s, alert), "both alerts listed after the reload")
        self.assertEqual((self.card(state, alert)["answer"], self.card(state, alert)["headline"]),
                         ("need_help", "Inundación junto al Coliseo"))
        self.assertEqual((self.card(state, strike)["state"], self.card(state, strike)["headline"]),
                         ("open", "Huelga: metro cerrado"))
        self.wait_page(lambda s: s["sharing"] == "true", "the consent found again")
        b.click('#alerts .alert[data-alert="%d"] button.safe' % strike)
        person = wait_until(lambda: (lambda p: p if p["answer"] == "safe" else None)(self.roll_call(strike)),
                            "the roll-call to show safe", describe=self.describe)
        self.assertEqual(person["via"], "websocket")
        self.wait_page(lambda s: self.card(s, strike)["answer"] == "safe", "safe recorded on the page")

        # SOS: the first tap only asks; the confirmation raises one, at the phone's position.
        self.assertEqual(self.sos_list(), [])
        b.click("#sos")
        self.wait_page(lambda s: s["sosConfirm"], "the SOS confirmation")
        self.assertEqual(self.sos_list(), [])         # a pocket tap raises nothing
        b.click("#sos-send")
        raised = wait_until(lambda: self.sos_list(), "the SOS at the daemon", describe=self.describe)
        self.assertEqual(len(raised), 1)
        sos = raised[0]
        self.assertEqual((sos["user"], sos["state"]), ("lucia", "open"))
        self.assertEqual((sos["location"]["lat"], sos["location"]["lon"]), FORUM[:2])
        self.assertEqual(sos["location"]["accuracy"], FORUM[2])
        state = self.wait_page(lambda s: s["sosState"] == "open", "the page to show the SOS open")
        self.assertIn("gina", state["sosText"])       # who was alerted
        self.assertFalse(state["sosConfirm"])

        # Acknowledged by the operator: the page hears it (sos.updated).
        r = self.d.cli("sos", "ack", str(sos["id"]), "--note", "on our way")
        self.assertEqual(r.returncode, 0, r.stderr)
        state = self.wait_page(lambda s: s["sosState"] == "acknowledged", "the page to show the SOS acknowledged")
        self.assertIn("Help is coming", state["sosText"])
        self.assertEqual([(s["id"], s["state"]) for s in self.sos_list()], [(sos["id"], "acknowledged")])  # one SOS

        # Consent withdrawn on another device: the page stops sharing (told by the `location` push,
        # or by permission_denied when the move below reaches the daemon first) and says so.
        r = self.d.cli("--as", "lucia", "location", "share", str(self.tour), "off")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.set_position(COLOSSEUM)
        state = self.wait_page(lambda s: s["sharing"] == "false" and s["shareStatus"].startswith("not sharing"),
                               "the page to stop sharing")
        self.assertEqual(state["share"], "Share my location with this tour")
        gone = self.lucia_at()
        self.assertEqual((gone["sharing"], gone["lat"]), (False, None))


if __name__ == "__main__":
    unittest.main()
