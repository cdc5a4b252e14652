"""Tour previews through a real Janus (Debian's, VideoRoom) with aiortc as the guide's camera and
the viewers' players, no browser: a guide goes on air for a tour and its participants decode the
video (nobody can watch before the guide publishes, strangers to the tour are refused, a link
preview admits whoever holds its secret and nobody with a wrong one), the viewers' quality reports
pick a simulcast layer, `calls.preview_max_viewers` turns away one viewer too many until a
viewer's WebSocket closes, and the operator lists, shows and stops previews with the CLI. A
recorded preview: everyone is told when recording starts, the video keeps flowing, and when the
guide stops, the recording is converted to a WebM file (VP8, with a duration, as ffprobe reads
it) that the tour's participants and the CLI can fetch and strangers cannot see, Janus's raw
`.mjr` files are gone, and `recording remove` deletes it. The test runs in a network namespace of
its own with a veth pair, on which Janus offers its candidates (janus.py)."""

import os
import subprocess
import sys

if os.environ.get("TOURBUS_IN_NETNS") != "1":
    # Re-run in a fresh user and network namespace: Janus's veth pair is ours to create there.
    os.environ["TOURBUS_IN_NETNS"] = "1"
    os.execvp("unshare", ["unshare", "--user", "--map-root-user", "--net", "--", sys.executable, *sys.argv])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

import asyncio  # noqa: E402
import datetime  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402

import av  # noqa: E402
import numpy  # noqa: E402
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402

import janus  # noqa: E402
from harness import WAIT, DaemonTest, wait_until  # noqa: E402
from wsclient import Client, Reply  # noqa: E402

UTC = datetime.timezone.utc
WIDTH, HEIGHT = 320, 240
POOR = {"rtt_ms": 120, "loss_percent": 15, "bitrate_kbps": 400, "fps": 24, "height": 240}
GOOD = {"rtt_ms": 30, "loss_percent": 0, "bitrate_kbps": 1500, "fps": 30, "height": 720}


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def json_records(text, key):
    """The records a `tourbus --json ... list` printed: one JSON object a line, or one object
    holding them under `key`, or one array."""
    text = text.strip()
    if not text:
        return []
    try:
        whole = json.loads(text)
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(whole, list):
        return whole
    return whole[key] if key in whole else [whole]


class Camera(VideoStreamTrack):
    """A synthetic camera, 320x240 at 30 frames a second: a white bar moving over a background
    that changes colour, so that every frame differs from the last."""

    def __init__(self):
        super().__init__()
        self.n = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        image = numpy.zeros((HEIGHT, WIDTH, 3), numpy.uint8)
        image[:, :, 1] = (self.n * 4) % 256
        x = (self.n * 3) % (WIDTH - 20)
        image[100:140, x:x + 20, :] = 255
        self.n += 1
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class Viewer:
    """One viewing device: a WebSocket session and an aiortc peer connection that answers Janus's
    offer and decodes the guide's video, counting the frames it gets."""

    def __init__(self, test, client, handle):
        self.test, self.client, self.handle = test, client, handle
        self.id = None
        self.pc = None
        self.frames = 0
        self.size = None
        self.ended = False
        self.decoded = asyncio.Event()
        self.task = None

    async def watch(self, preview, **extra):
        """preview.watch, then the answer with every candidate (no trickle): the watch answer.
        `unavailable` is retried, as a page does: Janus takes viewers once the guide's own
        connection is up, a moment after preview.publish has answered."""
        deadline = time.monotonic() + WAIT
        while True:
            try:
                watched = await self.client.call("preview.watch", dict(id=preview, **extra))
                break
            except Reply as e:
                if e.code != "unavailable" or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)  # retrying a refused request, not waiting for an effect
        self.id = watched["viewer"]
        self.pc = RTCPeerConnection()
        self.test.pcs.append(self.pc)
        track = asyncio.get_running_loop().create_future()

        @self.pc.on("track")
        def on_track(t):
            if t.kind == "video" and not track.done():
                track.set_result(t)

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=watched["sdp"], type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())  # gathers every candidate
        self.answered = await self.client.call("preview.answer", {"viewer": self.id, "sdp": self.pc.localDescription.sdp})
        self.task = asyncio.get_running_loop().create_task(self._decode(await asyncio.wait_for(track, WAIT)))
        return watched

    async def _decode(self, track):
        try:
            while True:
                frame = await track.recv()
                self.frames += 1
                self.size = (frame.width, frame.height)
                self.decoded.set()
        except MediaStreamError:
            self.ended = True
            self.decoded.set()

    async def until_frames(self, n, what):
        """Waits until this viewer has decoded n frames in all."""
        async def wait():
            while self.frames < n:
                if self.ended:
                    raise AssertionError("%s: the video ended after %d frames" % (what, self.frames))
                self.decoded.clear()
                await self.decoded.wait()
        try:
            await asyncio.wait_for(wait(), WAIT)
        except asyncio.TimeoutError:
            raise AssertionError("timed out waiting for %s: %s decoded %d frames of %d%s" % (
                what, self.handle, self.frames, n, self.test.describe())) from None

    async def close(self):
        await self.client.close()
        if self.pc:
            await self.pc.close()
        if self.task:
            await asyncio.wait_for(self.task, WAIT)


class Previews(DaemonTest):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="tourbus-previews-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.janus = janus.Janus(self.work)
        self.addCleanup(self.janus.stop)
        calls = "".join("%s = %s\n" % (k, json.dumps(v)) for k, v in self.janus.config().items())
        self.config = """
[calls]
%spreview_max_viewers = 2
[websocket]
events_per_second = 10000
event_burst = 10000
""" % calls
        super().setUp()
        now = datetime.datetime.now(UTC)
        for h in ["anna", "bob", "cleo", "eve"]:
            self.add_user(h)
        self.add_user("gina", role="guide")
        self.tour = self.d.cli_json("tour", "add", "-t", "Retiro at sunset", "--start", rfc3339(now + datetime.timedelta(hours=1)),
                                    "--end", rfc3339(now + datetime.timedelta(hours=3)), "--tz", "Europe/Madrid", "-g", "gina",
                                    "-p", "anna", "-p", "bob", "-p", "cleo")["id"]
        self.tok = {h: self.token(h) for h in ["anna", "bob", "cleo", "eve", "gina"]}
        self.url = "ws://127.0.0.1:%d/v1/ws" % self.d.port
        self.pcs = []
        self.answers = []  # every answer a client got, to look for Janus's secrets in

    def run_async(self, coro):
        async def guarded():
            try:
                return await coro
            finally:
                for pc in self.pcs:
                    await pc.close()
        return asyncio.run(asyncio.wait_for(guarded(), 6 * WAIT))

    def describe(self):
        return "\ndaemon log (tail):\n%s%s" % ("\n".join(self.d.log_text().splitlines()[-25:]), self.janus.tail())

    async def connect(self, handle):
        return await Client.connect(self.url, self.tok[handle])

    async def viewer(self, handle):
        return Viewer(self, await self.connect(handle), handle)

    async def call(self, client, event, data):
        got = await client.call(event, data)
        self.answers.append(got)
        return got

    async def refused(self, codes, client, event, data):
        """The request is refused with one of `codes` (a code or a tuple of them)."""
        with self.assertRaises(Reply) as cm:
            await client.call(event, data)
        self.assertIn(cm.exception.code, codes if isinstance(codes, tuple) else (codes,), "%s %r" % (event, data))
        return cm.exception

    async def until(self, fetch, check, what):
        """Polls fetch() (a coroutine function) until check() holds of its result: for states that
        no push announces (a preview going on air, a viewer gone)."""
        deadline = time.monotonic() + WAIT
        while True:
            got = await fetch()
            if check(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s: last %r%s" % (what, got, self.describe()))
            await asyncio.sleep(0.05)  # the interval between two polls, not a wait for an effect

    async def publish(self, guide, preview):
        """The guide's camera on air: an offer with every candidate gathered (tourbusd does not
        trickle to Janus), Janus's answer through preview.publish."""
        pc = RTCPeerConnection()
        self.pcs.append(pc)
        pc.addTransceiver(Camera(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers every candidate here
        published = await self.call(guide, "preview.publish", {"id": preview, "sdp": pc.localDescription.sdp})
        self.assertIn("VP8", published["sdp"])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=published["sdp"], type="answer"))
        return await self.until(lambda: guide.call("preview.show", {"id": preview}), lambda p: p["on_air"],
                                "preview %d on air" % preview)

    async def cli_json(self, *args):
        return await asyncio.to_thread(self.d.cli_json, *args)

    async def cli_list(self, key, *args):
        r = await asyncio.to_thread(self.d.cli, "--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json_records(r.stdout, key)

    def assertNoJanusSecrets(self):
        text = json.dumps(self.answers)
        for secret in (janus.ADMIN_KEY, janus.API_SECRET):
            self.assertNotIn(secret, text)

    def download(self, recording, handle):
        """GET /v1/recordings/ID/content with the user's token: (status, Content-Type, bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=WAIT)
        conn.request("GET", "/v1/recordings/%d/content" % recording, headers={"Authorization": "Bearer " + self.tok[handle]})
        res = conn.getresponse()
        body = res.read()
        conn.close()
        return res.status, res.getheader("Content-Type"), body

    def mjr_files(self):
        return [os.path.join(d, f) for d, _, files in os.walk(self.janus.recordings) for f in files if f.endswith(".mjr")]


class Watching(Previews):
    def test_tour_participants_watch_strangers_do_not_a_link_admits_its_holder_and_the_operator_stops_it(self):
        async def go():
            gina = await self.connect("gina")
            anna, bob, cleo, eve = [await self.viewer(h) for h in ["anna", "bob", "cleo", "eve"]]

            p = await self.call(gina, "preview.start", {"tour": self.tour, "title": "Retiro at sunset", "access": "tour",
                                                        "record": False})
            pid = p["id"]
            self.assertEqual((p["tour"], p["guide"], p["title"], p["access"], p["state"], p["recording"]),
                             (self.tour, "gina", "Retiro at sunset", "tour", "live", False))
            self.assertFalse(p["on_air"])
            self.assertFalse(p.get("link"))
            # Nothing to watch before the guide publishes.
            await self.refused("unavailable", anna.client, "preview.watch", {"id": pid})

            await self.publish(gina, pid)
            # eve is not on the tour: refused, the preview being on air or not.
            await self.refused("permission_denied", eve.client, "preview.watch", {"id": pid})

            # Both participants get Janus's offer and decode the guide's video.
            for v in (anna, bob):
                watched = await v.watch(pid)
                self.answers.append(watched)
                self.assertIs(watched["recording"], False)
                self.assertIn("VP8", watched["sdp"])
            self.assertNotEqual(anna.id, bob.id)
            for v in (anna, bob):
                await v.until_frames(1, "%s's first frame" % v.handle)
                self.assertEqual(v.size, (WIDTH, HEIGHT))
            shown = await gina.call("preview.show", {"id": pid})
            self.assertEqual((shown["viewers"], shown["state"], shown["on_air"]), (2, "live", True))

            # Quality reports pick the layer: poor -> the lowest, good -> the highest.
            q = await anna.client.call("preview.stats", dict(viewer=anna.id, **POOR))
            self.assertEqual((q["score"], q["substream"]), ("poor", 0))
            q = await bob.client.call("preview.stats", dict(viewer=bob.id, **GOOD))
            self.assertEqual((q["score"], q["substream"]), ("good", 2))
            # Nobody acts for another's viewer.
            await self.refused(("permission_denied", "not_found"), eve.client, "preview.stats", dict(viewer=anna.id, **GOOD))
            await self.refused(("permission_denied", "not_found"), bob.client, "preview.leave", {"viewer": anna.id})

            # A third viewer is one too many (preview_max_viewers = 2) until anna closes her page.
            await self.refused("rate_limited", cleo.client, "preview.watch", {"id": pid})
            listed = await self.cli_list("previews", "preview", "list")
            self.assertIn((pid, "live"), [(x["id"], x["state"]) for x in listed])
            self.assertEqual((await self.cli_json("preview", "show", str(pid)))["viewers"], 2)
            bob_before = bob.frames
            await anna.close()
            await self.until(lambda: gina.call("preview.show", {"id": pid}), lambda s: s["viewers"] == 1,
                             "anna's viewer to go with her WebSocket")
            await cleo.watch(pid)
            await cleo.until_frames(1, "cleo's first frame, in anna's place")
            await bob.until_frames(bob_before + 10, "bob's video going on")
            self.assertIn(pid, [x["id"] for x in (await cleo.client.call("preview.list", {}))["previews"]])
            self.assertNotIn(pid, [x["id"] for x in (await eve.client.call("preview.list", {}))["previews"]])

            # A link preview: its secret, shown once, admits eve; no secret or a wrong one does not.
            lp = await self.call(gina, "preview.start", {"title": "From the office", "access": "link", "record": False})
            lid, link = lp["id"], lp["link"]
            self.assertTrue(link)
            self.assertEqual((lp["access"], lp["state"]), ("link", "live"))
            await self.publish(gina, lid)
            self.assertNotIn(link, json.dumps(await gina.call("preview.show", {"id": lid})))
            self.assertNotIn(link, json.dumps(await gina.call("preview.list", {})))
            await self.refused("permission_denied", eve.client, "preview.watch", {"id": lid})
            wrong = link[:-1] + ("x" if link[-1] != "x" else "y")
            await self.refused("permission_denied", eve.client, "preview.watch", {"id": lid, "link": wrong})
            self.answers.append(await eve.watch(lid, link=link))
            await eve.until_frames(1, "eve's first frame through the link")

            # The operator sees both live, and stops the link preview from the CLI.
            listed = await self.cli_list("previews", "preview", "list")
            self.assertTrue({pid, lid} <= {x["id"] for x in listed if x["state"] == "live"}, listed)
            r = await asyncio.to_thread(self.d.cli, "preview", "stop", str(lid))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual((await eve.client.push("preview.ended", lambda d: d["id"] == lid))["id"], lid)
            self.assertEqual((await self.cli_json("preview", "show", str(lid)))["state"], "ended")
            self.assertEqual((await self.cli_json("preview", "show", str(pid)))["state"], "live")
            await cleo.client.quiet("preview.ended")

            # The guide ends the tour preview: its viewers are told; nothing was recorded.
            stopped = await self.call(gina, "preview.stop", {"id": pid})
            self.assertEqual((stopped["state"], stopped["recordings"]), ("ended", []))
            for v in (bob, cleo):
                await v.client.push("preview.ended", lambda d: d["id"] == pid)
            self.assertNoJanusSecrets()
            for v in (bob, cleo, eve):
                await v.close()
            await gina.close()

        self.run_async(go())


class Recording(Previews):
    def test_a_recorded_preview_becomes_a_webm_the_participants_can_fetch(self):
        out = os.path.join(self.work, "recording.webm")

        async def go():
            gina = await self.connect("gina")
            anna, bob, eve = [await self.viewer(h) for h in ["anna", "bob", "eve"]]
            pid = (await self.call(gina, "preview.start", {"tour": self.tour, "title": "Retiro at sunset", "access": "tour",
                                                           "record": False}))["id"]
            await self.publish(gina, pid)
            for v in (anna, bob):
                await v.watch(pid)
                await v.until_frames(1, "%s's first frame" % v.handle)

            # Only the guide (or an operator) records; everyone watching is told at once.
            await self.refused("permission_denied", anna.client, "preview.record", {"id": pid, "on": True})
            rec = await self.call(gina, "preview.record", {"id": pid, "on": True})
            self.assertIs(rec["recording"], True)
            for c in (anna.client, bob.client, gina):
                told = await c.push("preview.recording", lambda d: d["id"] == pid)
                self.assertEqual((told["recording"], told["by"]), (True, "gina"))
            await asyncio.to_thread(wait_until, self.mjr_files, "Janus writing the recording", describe=self.describe)
            # The video goes on while it is recorded: some seconds of it.
            marks = {v: v.frames for v in (anna, bob)}
            for v in (anna, bob):
                await v.until_frames(marks[v] + 60, "%s's video while recording" % v.handle)

            stopped = await self.call(gina, "preview.stop", {"id": pid})
            self.assertEqual(stopped["state"], "ended")
            self.assertGreaterEqual(len(stopped["recordings"]), 1, stopped)
            rid = stopped["recordings"][0]
            for v in (anna, bob):
                await v.client.push("preview.ended", lambda d: d["id"] == pid)
            ready = await gina.push("recording.ready", lambda d: d["id"] == rid)
            self.assertEqual(ready["preview"], pid)
            self.assertGreater(ready["size"], 0)
            self.assertGreater(ready["duration_ms"], 1000)
            await anna.pc.close()
            await bob.pc.close()

            # The tour's participants see it; a stranger does not.
            seen = await anna.client.call("recording.show", {"id": rid})
            self.assertEqual((seen["id"], seen["preview"], seen["content_type"], seen["size"]),
                             (rid, pid, "video/webm", ready["size"]))
            self.assertIn(rid, [x["id"] for x in (await anna.client.call("recording.list", {}))["recordings"]])
            await self.refused(("not_found", "permission_denied"), eve.client, "recording.show", {"id": rid})
            self.assertNotIn(rid, [x["id"] for x in (await eve.client.call("recording.list", {}))["recordings"]])

            # The operator's CLI lists and downloads it: WebM, VP8, some seconds long.
            self.assertIn(rid, [x["id"] for x in await self.cli_list("recordings", "recording", "list")])
            self.assertIn(rid, [x["id"] for x in await self.cli_list("recordings", "recording", "list", "--preview", str(pid))])
            r = await asyncio.to_thread(self.d.cli, "recording", "download", str(rid), "-o", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, "rb") as f:
                data = f.read()
            self.assertEqual(data[:4], b"\x1a\x45\xdf\xa3")  # EBML: Matroska/WebM
            self.assertEqual(len(data), ready["size"])
            probe = json.loads(subprocess.run(
                ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height:format=duration",
                 "-of", "json", out], capture_output=True, text=True, check=True, timeout=WAIT).stdout)
            self.assertEqual((probe["streams"][0]["codec_name"], probe["streams"][0]["width"], probe["streams"][0]["height"]),
                             ("vp8", WIDTH, HEIGHT))
            duration = float(probe["format"]["duration"])
            self.assertGreater(duration, 1.0)
            self.assertAlmostEqual(ready["duration_ms"] / 1000, duration, delta=1.5)
            # The same bytes over HTTP for a participant; a stranger gets nothing.
            status, ctype, body = await asyncio.to_thread(self.download, rid, "anna")
            self.assertEqual((status, ctype.split(";")[0], body == data), (200, "video/webm", True))
            status, _, body = await asyncio.to_thread(self.download, rid, "eve")
            self.assertIn(status, (403, 404))
            self.assertNotIn(data[:64], body)
            # Janus's raw files are gone once converted.
            self.assertEqual(self.mjr_files(), [])

            # Removed: gone for everyone.
            r = await asyncio.to_thread(self.d.cli, "recording", "remove", str(rid))
            self.assertEqual(r.returncode, 0, r.stderr)
            await self.refused("not_found", anna.client, "recording.show", {"id": rid})
            await self.refused("not_found", gina, "recording.show", {"id": rid})
            self.assertEqual((await asyncio.to_thread(self.download, rid, "anna"))[0], 404)
            self.assertNotIn(rid, [x["id"] for x in await self.cli_list("recordings", "recording", "list")])
            self.assertNoJanusSecrets()
            for v in (anna, bob, eve):
                await v.close()
            await gina.close()

        self.run_async(go())


class Interrupted(Previews):
    def test_a_recording_survives_kill_9_and_is_stored_at_restart(self):
        out = os.path.join(self.work, "after-crash.webm")

        async def record_then_crash():
            gina = await self.connect("gina")
            anna = await self.viewer("anna")
            pid = (await self.call(gina, "preview.start", {"tour": self.tour, "access": "tour", "record": True}))["id"]
            self.assertIs((await gina.call("preview.show", {"id": pid}))["recording"], True)
            await self.publish(gina, pid)
            watched = await anna.watch(pid)
            self.assertIs(watched["recording"], True)  # a viewer arriving is told at once
            await anna.until_frames(60, "anna's video while recorded")
            await asyncio.to_thread(wait_until, self.mjr_files, "Janus writing the recording", describe=self.describe)
            self.d.kill9()  # tourbusd dies while the preview is live and recorded
            await anna.pc.close()
            return pid

        pid = self.run_async(record_then_crash())
        mark = 0
        self.d.start()
        # At start-up the preview is over; once the server runs, its room goes and what Janus
        # recorded is converted and stored.
        self.d.wait_for(r"calls\.previews_interrupted previews=1", mark)
        self.d.wait_for(r"calls\.recording_stored preview=%d " % pid, mark)
        shown = self.d.cli_json("preview", "show", str(pid))
        self.assertEqual((shown["state"], shown["recording"], shown["on_air"]), ("ended", False, False))
        recordings = json_records(self.d.cli("--json", "recording", "list", "--preview", str(pid)).stdout, "recordings")
        self.assertEqual(len(recordings), 1, recordings)
        r = self.d.cli("recording", "download", str(recordings[0]["id"]), "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        probe = json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name:format=duration",
             "-of", "json", out], capture_output=True, text=True, check=True, timeout=WAIT).stdout)
        self.assertEqual(probe["streams"][0]["codec_name"], "vp8")
        self.assertGreater(float(probe["format"]["duration"]), 1.0)
        self.assertEqual(self.mjr_files(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
