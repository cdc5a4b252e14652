"""A live tour preview in real browsers, through a real Janus (docs/previews.md): headless Chromium
pages (examples/preview.html, fake camera) for a guide and two of the tour's participants. The
guide's page starts a preview of the tour and publishes its camera with three simulcast layers
(rid h, m, l), which Chromium encodes and sends to Janus; both viewers' pages decode it. Turning
recording on shows "● Recording" on all three pages. A viewer whose reports say poor is switched by
tourbusd to the lowest layer, and the height of the frames its browser decodes drops below what the
other viewer, reporting what it measures, decodes (the poor reports are forced through the page's
tb.forceStats({loss_percent: 20}): a real throttle cannot single out one of two browsers on the
same link, and tc on the shared veth would hit the guide and both viewers alike; everything from
the report on is real: tourbusd's score, the switch in Janus, the frames Chromium decodes). Good
reports bring it back up, and both viewers reporting poor, then good, within the same second each
get the layer asked for, with frames of that layer's height. Stopping shows "The preview has ended"
on the viewers' pages, and the recording Janus made is converted and listed (recording.list,
recording.ready), and downloads as WebM. Janus (Debian's, tests/integration/janus.py) runs in a network namespace of this test's own
(unshare, as 460) on a veth pair; every wait polls the pages, the CLI or the files until a deadline."""

import os
import subprocess
import sys

if os.environ.get("TOURBUS_IN_NETNS") != "1":
    # Re-run in a fresh user and network namespace: ours for Janus's veth pair.
    os.environ["TOURBUS_IN_NETNS"] = "1"
    os.execvp("unshare", ["unshare", "--user", "--map-root-user", "--net", "--", sys.executable, *sys.argv])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

import datetime  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import unittest  # noqa: E402

from browser import Browser  # noqa: E402
from harness import DaemonTest, wait_until  # noqa: E402
from janus import Janus  # noqa: E402

PREVIEW_HTML = pathlib.Path(__file__).resolve().parent.parent.parent / "examples" / "preview.html"
# 460's list. A viewer's page never opens the camera, so Chromium hides its host addresses behind
# mDNS names, which Janus ignores (nat.ignore_mdns): Janus learns them from the checks, as it would
# from a tourist's phone.
MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
         "--disable-quic"]
UTC = datetime.timezone.utc
PAGE_STATE = "tb.state()"
POOR = {"loss_percent": 20}
GOOD = {"rtt_ms": 20, "loss_percent": 0, "bitrate_kbps": 800, "fps": 30}


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class BrowserPreview(DaemonTest):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="tourbus-preview-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.janus = Janus(self.work)
        self.addCleanup(self.janus.stop)
        keys = "".join('%s = %s\n' % (k, json.dumps(v)) for k, v in self.janus.config().items())
        self.config = """
[calls]
%sstats_interval_ms = 500
[websocket]
events_per_second = 10000
event_burst = 10000
""" % keys
        super().setUp()
        self.add_user("gus", role="guide")
        self.add_user("tina")
        self.add_user("toby")
        now = datetime.datetime.now(UTC)
        self.tour = self.d.cli_json("tour", "add", "-t", "Retiro at sunset", "--start", rfc3339(now - datetime.timedelta(minutes=30)),
                                    "--end", rfc3339(now + datetime.timedelta(hours=2)), "--tz", "Europe/Madrid", "-g", "gus",
                                    "-p", "tina", "-p", "toby")["id"]
        self.pages = {}

    # -- the pages -----------------------------------------------------------------------------
    def page(self, handle, mode):
        b = Browser(extra_args=MEDIA)
        self.addCleanup(b.close)
        self.pages[handle] = b
        b.call("Page.navigate", url=PREVIEW_HTML.as_uri() + "?mode=" + mode)
        wait_until(lambda: b.evaluate("document.readyState === 'complete' && typeof tb === 'object'"), "preview.html to load")
        me = b.evaluate("tb.connect(%s, %s)" % (json.dumps("ws://127.0.0.1:%d/v1/ws" % self.d.port), json.dumps(self.token(handle))))
        self.assertEqual(me["handle"], handle)
        return b

    def describe(self):
        out = "".join("\n[%s]%s" % (h, p.report(PAGE_STATE)) for h, p in self.pages.items())
        lines = self.d.log_text().splitlines()
        return (out + self.janus.tail() + "\ndaemon log ([calls]):\n" + "\n".join(l for l in lines if "[calls]" in l) +
                "\ndaemon log (tail):\n" + "\n".join(lines[-30:]))

    def until(self, page, check, what):
        """Polls the page's tb.state() until check(state) holds; returns that state."""
        def ready():
            s = page.evaluate(PAGE_STATE)
            return s if check(s) else None
        return wait_until(ready, what, describe=self.describe)

    def height(self, page):
        return page.evaluate("tb.frameHeight()")

    def switch(self, gus, viewers, stats, score, rid):
        """Forces the viewers' reports; waits until tourbusd answers each with the score and the
        layer `rid` (l 0, m 1, h 2) and each decodes frames of that layer's height, as the guide's
        page encodes it."""
        substream = "lmh".index(rid)
        for page in viewers.values():
            page.evaluate("tb.forceStats(%s)" % json.dumps(stats))
        for handle, page in viewers.items():
            self.until(page, lambda s: s["lastStats"] and s["lastStats"]["forced"] and
                       (s["lastStats"]["score"], s["lastStats"]["substream"]) == (score, substream),
                       "%s answered %s, layer %d" % (handle, score, substream))
        for handle, page in viewers.items():
            wait_until(lambda: self.height(page) == gus.evaluate(PAGE_STATE)["layers"][rid]["height"],
                       "%s decoding the %s layer" % (handle, rid), describe=self.describe)

    # -- the daemon, through the operator's CLI --------------------------------------------------
    def show(self, pid):
        return self.d.cli_json("preview", "show", str(pid))

    def mjr_files(self):
        return [os.path.join(d, f) for d, _, fs in os.walk(self.janus.recordings) for f in fs if f.endswith(".mjr")]

    def test_a_guide_broadcasts_to_two_viewers_with_simulcast_and_a_recording(self):
        # The guide goes on air: a preview of the tour, the camera in three simulcast layers.
        gus = self.page("gus", "broadcast")
        p = gus.evaluate("tb.broadcast({tour: %d, title: 'Retiro at sunset', access: 'tour'})" % self.tour)
        pid = p["id"]
        self.assertEqual((p["guide"], p["tour"], p["access"], p["state"], p["recording"]), ("gus", self.tour, "tour", "live", False))
        self.until(gus, lambda s: s["connection"] == "connected", "the guide's page connected to Janus")
        s = self.until(gus, lambda s: sorted(s["layers"]) == ["h", "l", "m"] and all(l["frames"] > 0 for l in s["layers"].values()),
                       "the three simulcast layers encoded and sent")
        print("\n  the guide sends: %s" % ", ".join("%s %sp" % (r, l["height"]) for r, l in sorted(s["layers"].items())))
        wait_until(lambda: self.show(pid)["on_air"], "the preview on air", describe=self.describe)

        # Two of the tour's participants watch it.
        tina, toby = self.page("tina", "watch"), self.page("toby", "watch")
        viewers = [page.evaluate("tb.watch(%d)" % pid) for page in (tina, toby)]
        self.assertEqual(len(set(viewers)), 2)
        for handle, page in (("tina", tina), ("toby", toby)):
            self.until(page, lambda s: s["connection"] == "connected" and s.get("inbound", {}).get("frames", 0) > 0,
                       "the guide's video decoded on %s's page" % handle)
            self.assertGreater(page.evaluate("tb.framesDecoded()"), 0)
        shown = wait_until(lambda: (lambda v: v if v["viewers"] == 2 else None)(self.show(pid)), "two viewers counted",
                           describe=self.describe)
        self.assertGreaterEqual(shown["peak_viewers"], 2)
        for page in (gus, tina, toby):
            self.assertFalse(page.evaluate("tb.recordingShown()"))

        # Recording on: every page says so.
        r = gus.evaluate("tb.record(true)")
        self.assertTrue(r["recording"])
        for handle, page in (("gus", gus), ("tina", tina), ("toby", toby)):
            wait_until(lambda: page.evaluate("tb.recordingShown()"), "the recording notice on %s's page" % handle,
                       describe=self.describe)

        # Simulcast: tina reports what she measures (good, or fair on a loaded machine: the highest or
        # the middle layer); toby's reports say poor, and he is switched to the lowest layer.
        t = self.until(tina, lambda s: s["lastStats"] and s["lastStats"]["score"] != "poor" and s["inbound"]["height"] > 0,
                       "a good or fair report from tina")["lastStats"]
        self.assertGreaterEqual(t["substream"], 1)
        self.switch(gus, {"toby": toby}, POOR, "poor", "l")
        low = wait_until(lambda: (lambda lo, hi: (lo, hi) if 0 < lo < hi else None)(self.height(toby), self.height(tina)),
                         "toby's decoded frames smaller than tina's", describe=self.describe)
        print("  tina (%s, layer %d) decodes %dp; toby, reporting poor (layer 0), %dp" % (t["score"], t["substream"], low[1], low[0]))

        # Good reports again: back to the highest layer.
        self.switch(gus, {"toby": toby}, GOOD, "good", "h")
        # A bad patch for everyone: both viewers' reports say poor within the same second, then good
        # again; each gets the layer its report asked for (each switch waits for a keyframe of that
        # layer, and Janus asks the guide for at most one a second).
        self.switch(gus, {"tina": tina, "toby": toby}, POOR, "poor", "l")
        self.switch(gus, {"tina": tina, "toby": toby}, GOOD, "good", "h")

        # The guide stops: the viewers' pages say it ended, and the recording is converted and listed.
        stopped = gus.evaluate("tb.stop()")
        self.assertEqual(stopped["state"], "ended")
        self.assertIn("recordings", stopped)
        for handle, page in (("gus", gus), ("tina", tina), ("toby", toby)):
            s = self.until(page, lambda s: s["endedShown"], "'The preview has ended' on %s's page" % handle)
            self.assertFalse(s["recordingShown"])
        recs = wait_until(lambda: gus.evaluate("tb.send('recording.list', {preview: %d})" % pid)["recordings"],
                          "the recording listed", describe=self.describe)
        for rec in recs:
            self.assertEqual((rec["preview"], rec["content_type"]), (pid, "video/webm"))
            self.assertGreater(rec["size"], 0)
        self.assertEqual(sorted(stopped["recordings"]), sorted(x["id"] for x in recs))
        ready = wait_until(lambda: gus.evaluate("tb.recordingsReady()"), "recording.ready on the guide's page", describe=self.describe)
        self.assertEqual(sorted((x["id"], x["preview"]) for x in ready), sorted((x["id"], pid) for x in recs))
        # A participant of the tour sees it too.
        self.assertEqual(sorted(x["id"] for x in tina.evaluate("tb.send('recording.list', {preview: %d})" % pid)["recordings"]),
                         sorted(x["id"] for x in recs))
        out = os.path.join(self.work, "preview.webm")
        r = self.d.cli("recording", "download", str(recs[0]["id"]), "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            data = f.read()
        self.assertEqual(data[:4], b"\x1a\x45\xdf\xa3")  # EBML: Matroska / WebM
        self.assertEqual(len(data), recs[0]["size"])
        wait_until(lambda: not self.mjr_files(), "Janus's .mjr files removed once converted",
                   describe=lambda: "\n.mjr left: %s" % self.mjr_files())
        print("  recording %s: %s bytes, %s ms" % (recs[0]["id"], recs[0]["size"], recs[0]["duration_ms"]))
        shown = self.show(pid)
        self.assertEqual((shown["state"], shown["on_air"]), ("ended", False))


if __name__ == "__main__":
    unittest.main(verbosity=2)
