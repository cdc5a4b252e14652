"""Two headless Chromium pages (examples/call.html, fake camera and microphone) hold a video call
through tourbusd's signalling: directly over loopback, with a screen shared as a second track by
renegotiation and stopped without ending the call, the link then throttled (tc tbf, 200 kbit/s) so the
reported quality drops and the page sends less; and through a real coturn relay
(iceTransportPolicy "relay") with the credentials tourbusd hands out, which a wrong secret cannot
open. The whole test runs in a network namespace of its own with only loopback (Chromium prefers
other interfaces when it sees any); coturn (Debian's) is started here."""

import os
import subprocess
import sys

if os.environ.get("TOURBUS_IN_NETNS") != "1":
    # Re-run in a fresh user and network namespace: loopback only, and ours to throttle.
    os.environ["TOURBUS_IN_NETNS"] = "1"
    os.execvp("unshare", ["unshare", "--user", "--map-root-user", "--net", "--", sys.executable, *sys.argv])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

import json  # noqa: E402
import pathlib  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import unittest  # noqa: E402

from browser import Browser  # noqa: E402
from harness import WAIT, DaemonTest, wait_until  # noqa: E402

CALL_HTML = pathlib.Path(__file__).resolve().parent.parent.parent / "examples" / "call.html"
MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
         "--disable-quic"]
SECRET = "coturn-secret-460"


def free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Coturn:
    """Debian's turnserver on 127.0.0.1, with the REST-API shared secret (use-auth-secret)."""

    def __init__(self, work, secret):
        if not shutil.which("turnserver"):
            raise AssertionError("coturn is not installed: run scripts/setup.sh")
        self.port = free_port()
        self.log = os.path.join(work, "turn.log")
        self.proc = subprocess.Popen(
            ["turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--listening-port=%d" % self.port,
             "--use-auth-secret", "--static-auth-secret=" + secret, "--realm=tourbus.test", "--no-tls", "--no-dtls",
             "--allow-loopback-peers", "--no-cli", "--min-port=40000", "--max-port=40200", "--log-file=" + self.log,
             "--simple-log", "--verbose", "--pidfile=" + os.path.join(work, "turn.pid"), "--userdb=" + os.path.join(work, "turndb"),
             "--no-stun-backward-compatibility"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.listening, "turnserver listening on 127.0.0.1:%d" % self.port, describe=self.tail)

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def listening(self):
        """A STUN Binding request answered (RFC 5389: type 0x0001, the magic cookie, an id)."""
        if self.proc.poll() is not None:
            raise AssertionError("turnserver exited: %s" % self.tail())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            request = bytes.fromhex("0001 0000 2112a442") + os.urandom(12)
            s.sendto(request, ("127.0.0.1", self.port))
            try:
                answer = s.recv(2048)
            except OSError:
                return False
            return answer[:2] == b"\x01\x01" and answer[8:20] == request[8:20]

    def tail(self):
        return "\nturn.log:\n" + self.text()[-3000:]

    def close(self):
        self.proc.terminate()
        self.proc.wait(WAIT)


PAGE_STATE = "tb.state()"


class BrowserCall(DaemonTest):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="tourbus-call-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.turn = Coturn(self.work, SECRET)
        self.addCleanup(self.turn.close)
        self.config = self.calls_config(SECRET)
        super().setUp()
        self.add_user("alice")
        self.add_user("bob")
        self.conv = self.d.cli_json("conversation", "create", "direct", "alice", "bob")["id"]
        self.tok = {h: self.token(h) for h in ["alice", "bob"]}
        self.pages = []

    def calls_config(self, secret):
        return """
[calls]
turn_urls = "turn:127.0.0.1:%d?transport=udp"
turn_secret = "%s"
stats_interval_ms = 500
[websocket]
events_per_second = 10000
event_burst = 10000
""" % (self.turn.port, secret)

    def page(self, handle, relay=False):
        b = Browser(extra_args=MEDIA)
        self.addCleanup(b.close)
        self.pages.append(b)
        url = CALL_HTML.as_uri() + ("?relay=1" if relay else "")
        b.call("Page.navigate", url=url)
        wait_until(lambda: b.evaluate("document.readyState === 'complete' && typeof tb === 'object'"), "call.html to load")
        me = b.evaluate("tb.connect(%s, %s)" % (json.dumps("ws://127.0.0.1:%d/v1/ws" % self.d.port), json.dumps(self.tok[handle])))
        self.assertEqual(me["handle"], handle)
        return b

    def describe(self):
        out = "".join(p.report(PAGE_STATE) for p in self.pages)
        return out + self.turn.tail() + "\ndaemon log (tail):\n" + "\n".join(self.d.log_text().splitlines()[-20:])

    def until(self, page, check, what):
        def ready():
            s = page.evaluate(PAGE_STATE)
            return s if check(s) else None
        return wait_until(ready, what, describe=self.describe)

    def connect_call(self, relay=False):
        alice, bob = self.page("alice", relay), self.page("bob", relay)
        cid = alice.evaluate("tb.startCall(%d)" % self.conv)
        wait_until(lambda: bob.evaluate("tb.invited()") == cid, "bob's page to ring", describe=self.describe)
        self.assertEqual(bob.evaluate("tb.accept()"), cid)
        for page, other in ((alice, "bob"), (bob, "alice")):
            self.until(page, lambda s: s["peers"].get(other, {}).get("connection") == "connected" and
                       s["peers"][other]["video"].get("camera", {}).get("frames", 0) > 0,
                       "%s's camera decoded on the other page" % other)
        return alice, bob, cid

    def record(self, cid):
        return self.d.cli_json("call", "show", str(cid))

    def test_a_direct_call_with_screen_sharing_and_a_throttled_link(self):
        alice, bob, cid = self.connect_call()
        self.assertEqual(alice.evaluate(PAGE_STATE)["peers"]["bob"]["candidate"], "host")

        # A screen as a second video track: bob decodes both, and shows it as the screen.
        alice.evaluate("tb.shareScreen()")
        s = self.until(bob, lambda s: s["peers"]["alice"]["video"].get("screen", {}).get("frames", 0) > 0,
                       "alice's screen decoded on bob's page")
        self.assertEqual(sorted(s["peers"]["alice"]["views"]), ["camera", "screen"])
        alice.evaluate("tb.stopScreen()")
        s = self.until(bob, lambda s: s["peers"]["alice"]["views"] == ["camera"], "the screen view gone from bob's page")
        self.assertEqual(s["peers"]["alice"]["connection"], "connected")  # the call goes on

        # Unthrottled, the sender's reports (scored by tourbusd) say good or fair (fair when a loaded
        # machine's fake camera runs under 15 fps).
        rank = {"good": 0, "fair": 1, "poor": 2}
        before = self.until(alice, lambda s: s["last"] and s["last"]["kbps"] > 120 and s["last"]["score"] != "poor",
                            "a good or fair report from alice")["last"]
        # 200 kbit/s on the namespace's loopback, for both directions of audio and video: the call
        # stays up, alice sends less, and the scores tourbusd gives her reports go down.
        subprocess.run(["tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "200kbit", "burst", "16kbit",
                        "latency", "50ms"], check=True)
        self.addCleanup(subprocess.run, ["tc", "qdisc", "del", "dev", "lo", "root"], stderr=subprocess.DEVNULL)
        after = self.until(alice, lambda s: s["last"]["kbps"] < 0.8 * before["kbps"] and rank[s["last"]["score"]] > rank[before["score"]],
                           "alice's bitrate and score to drop under the throttle")["last"]
        self.until(alice, lambda s: s["peers"]["bob"]["connection"] == "connected", "the call still connected")
        print("\n  before the throttle: %.0f kbit/s, %s; under 200 kbit/s: %.0f kbit/s, rtt %.0f ms, %s" % (
            before["kbps"], before["score"], after["kbps"], after["rtt_ms"], after["score"]))
        subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], check=True)

        alice.evaluate("tb.hangup()")
        rec = wait_until(lambda: (lambda r: r if r["state"] == "ended" else None)(self.record(cid)), "the call to end")
        self.assertEqual(rec["outcome"], "completed")
        self.assertIn(rec["quality"]["worst_score"], ("fair", "poor"))

    def test_through_the_turn_relay_and_not_with_a_wrong_secret(self):
        alice, bob, cid = self.connect_call(relay=True)
        for page, other in ((alice, "bob"), (bob, "alice")):
            self.assertEqual(page.evaluate(PAGE_STATE)["peers"][other]["candidate"], "relay")
        # coturn logged both allocations, made with the credentials tourbusd handed out.
        self.assertRegex(self.turn.text(), r"realm <tourbus\.test> user <\d+:alice>")
        self.assertRegex(self.turn.text(), r"realm <tourbus\.test> user <\d+:bob>")
        alice.evaluate("tb.hangup()")
        for p in self.pages:
            p.close()
        self.pages = []

        # tourbusd with another secret than coturn's: its credentials open nothing.
        self.d.stop()
        self.d.write_config(self.calls_config("not-the-" + SECRET))
        self.d.start()
        alice, bob = self.page("alice", relay=True), self.page("bob", relay=True)
        cid = alice.evaluate("tb.startCall(%d)" % self.conv)
        wait_until(lambda: bob.evaluate("tb.invited()") == cid, "bob's page to ring", describe=self.describe)
        bob.evaluate("tb.accept()")
        s = self.until(alice, lambda s: s["peers"].get("bob", {}).get("gathering") == "complete",
                       "alice's ICE gathering to finish")
        self.assertFalse(s["peers"]["bob"].get("relay_candidates"))
        self.assertNotEqual(s["peers"]["bob"]["connection"], "connected")
        self.assertRegex(self.turn.text(), r"error 401")


if __name__ == "__main__":
    unittest.main(verbosity=2)
