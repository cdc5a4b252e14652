"""Tour previews across nodes (docs/scaling.md, "Calls and previews on several nodes";
docs/previews.md): three tourbusd nodes on one PostgreSQL store, linked by a real nats-server, one
real Janus (Debian's, VideoRoom), aiortc as the guide's camera and the viewers' players. A preview
on air lives on the leader: the guide is on one follower and two viewers on the other, so every
preview operation goes through a follower, NATS and the leader; a third viewer is on the leader.

The guide starts and publishes a preview through her follower; the viewers on the other follower
and on the leader watch and decode the video; the leader alone logged the preview and its
viewers; preview.show and preview.list through every node count the three viewers; errors come
back with the leader's code (and, for a preview that does not exist, its words). A viewer's
WebSocket closing on a follower drops her from the count and the others' video goes on. The
guide stops the preview through her follower: the viewers on the follower and on the leader get
preview.ended. Then a second preview, recorded and watched, is on air when the leader is killed
(kill -9): the node that takes the lead logs calls.previews_interrupted, destroys the Janus room,
stores the recording, and the guide gets preview.ended; every survivor says the preview ended.

Like 470 it runs in a user and network namespace of its own, where Janus gets a veth pair to offer
candidates on (janus.py). The CTest fixture's PostgreSQL listens on the host's loopback, out of
that namespace's reach (its unix socket admits only the superuser), so the test starts a throwaway
server in the namespace (tests/postgres.py, through cluster.server), as the cluster scenarios do
when run by hand. PostgreSQL refuses to run as root: in the namespace the test is not root (when
started by root it is mapped to the postgres system user, whom initdb can name), and unshare's
--keep-caps keeps the namespace's capabilities, which the veth pair needs, across exec."""

import os
import subprocess
import sys

import harness

if os.environ.get("TOURBUS_IN_NETNS") != "1":
    # Re-run in a fresh user and network namespace, not as root there (PostgreSQL refuses it).
    import pwd
    os.environ["TOURBUS_IN_NETNS"] = "1"
    me = pwd.getpwnam(harness.postgres().SYSTEM_USER) if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    os.execvp("unshare", ["unshare", "--user", "--map-user=%d" % me.pw_uid, "--map-group=%d" % me.pw_gid, "--net",
                          "--keep-caps", "--", sys.executable, *sys.argv])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
# The fixture's server, if any, is on the host's loopback: not here.
for var in ("TOURBUS_TEST_POSTGRES_FILE", "TOURBUS_TEST_POSTGRES"):
    os.environ.pop(var, None)

import asyncio  # noqa: E402
import datetime  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402
import urllib.request  # noqa: E402

from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402

import janus  # noqa: E402
from cluster import Scenario, add_users, pushed, server, start_nats, start_nodes  # noqa: E402
from harness import WAIT, wait_until  # noqa: E402

# 470's synthetic camera and viewer (an aiortc player that counts decoded frames), as they are (its
# module code finds TOURBUS_IN_NETNS set: it stays in this namespace).
_spec = importlib.util.spec_from_file_location("previews_470", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                           "470_previews.py"))
p470 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(p470)

NAMES = ("tb1", "tb2", "tb3")
USERS = ("anna", "bob", "cleo", "eve", "gina")
NO_PREVIEW = 999999
ROOM_BASE = 7_000_000_000  # a preview's Janus room is this plus its id (lib/calls/previews.hpp, room_of)
GOOD = p470.GOOD


class PreviewsCrossNode(Scenario, unittest.TestCase):
    PROBE = ("preview.show", {"id": NO_PREVIEW})  # answered unavailable until the node knows the leader

    def setUp(self):
        server(self)  # a throwaway PostgreSQL, in this namespace
        self.work = tempfile.mkdtemp(prefix="tourbus-previews-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.janus = janus.Janus(self.work)
        self.addCleanup(self.janus.stop)
        self.nats = start_nats(self)
        calls = "".join("%s = %s\n" % (k, json.dumps(v)) for k, v in self.janus.config().items())
        config = "[calls]\n%s[websocket]\nevents_per_second = 10000\nevent_burst = 10000\n" % calls
        self.nodes = start_nodes(self, NAMES, config, self.nats)
        one = self.nodes[NAMES[0]]
        self.tokens = add_users(self, one, USERS, guides=("gina",))
        now = datetime.datetime.now(p470.UTC)
        self.tour = one.cli_json("tour", "add", "-t", "Retiro at sunset", "--start",
                                 p470.rfc3339(now + datetime.timedelta(hours=1)), "--end",
                                 p470.rfc3339(now + datetime.timedelta(hours=3)), "--tz", "Europe/Madrid", "-g", "gina",
                                 "-p", "anna", "-p", "bob", "-p", "cleo")["id"]
        self.leader = self.leading(NAMES)
        self.f1, self.f2 = sorted(n for n in NAMES if n != self.leader)
        self.pcs = []

    # -- helpers (Viewer calls pcs and describe) -------------------------------------------------
    def describe(self):
        return "".join("\n%s log (tail):\n%s" % (n, "\n".join(d.log_text().splitlines()[-20:]))
                       for n, d in self.nodes.items()) + self.janus.tail()

    async def show(self, name, preview):
        """`tourbus preview show` through node `name`."""
        return await asyncio.to_thread(self.nodes[name].cli_json, "preview", "show", str(preview))

    async def viewer(self, handle, node):
        v = p470.Viewer(self, await self.connect(handle, node), handle)
        v.node = node
        return v

    async def until_shown(self, client, preview, check, what):
        """Polls preview.show through the client's node until check() holds: no push says it."""
        deadline = time.monotonic() + WAIT
        while True:
            got = await client.call("preview.show", {"id": preview})
            if check(got):
                return got
            self.assertLess(time.monotonic(), deadline, "timed out waiting for %s: last %r%s" % (what, got, self.describe()))
            await asyncio.sleep(0.05)  # the interval between two polls

    async def publish(self, guide, preview):
        """The guide's aiortc camera on air through her node (every candidate gathered first)."""
        pc = RTCPeerConnection()
        self.pcs.append(pc)
        pc.addTransceiver(p470.Camera(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        published = await guide.call("preview.publish", {"id": preview, "sdp": pc.localDescription.sdp})
        self.assertIn("VP8", published["sdp"])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=published["sdp"], type="answer"))
        await self.until_shown(guide, preview, lambda p: p["on_air"], "preview %d on air" % preview)

    def room_exists(self, preview):
        """Whether Janus has the preview's VideoRoom room (its own `exists` request)."""
        def post(path, body):
            body = dict(body, transaction=secrets.token_hex(6), apisecret=janus.API_SECRET)
            req = urllib.request.Request(self.janus.url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=WAIT) as r:
                return json.load(r)

        session = post("", {"janus": "create"})["data"]["id"]
        try:
            handle = post("/%d" % session, {"janus": "attach", "plugin": "janus.plugin.videoroom"})["data"]["id"]
            got = post("/%d/%d" % (session, handle), {"janus": "message",
                                                       "body": {"request": "exists", "room": ROOM_BASE + preview}})
            return got["plugindata"]["data"]["exists"]
        finally:
            post("/%d" % session, {"janus": "destroy"})

    # -- the scenario ----------------------------------------------------------------------------
    def test_previews_live_on_the_leader_and_end_with_it(self):
        self.run_clients(self.scenario, 6 * WAIT, self.pcs)

    async def scenario(self):
        leader, f1, f2 = self.leader, self.f1, self.f2
        gina = await self.connect("gina", f1)
        anna, bob = await self.viewer("anna", f2), await self.viewer("bob", f2)
        cleo = await self.viewer("cleo", leader)
        eve = await self.connect("eve", f2)
        await self.led(gina, f1)
        await self.led(eve, f2)
        marks = self.marks()

        # The guide goes on air through her follower; the preview is the leader's.
        p = await gina.call("preview.start", {"tour": self.tour, "title": "Retiro at sunset", "access": "tour",
                                              "record": False})
        pid = p["id"]
        self.assertEqual((p["guide"], p["state"], p["on_air"], p["viewers"]), ("gina", "live", False, 0))
        await self.refused(anna.client, "preview.watch", {"id": pid}, "unavailable")  # not on air yet
        await self.publish(gina, pid)
        self.logged_by(leader, r"calls\.preview_started preview=%d guide=gina\b" % pid, marks)
        self.logged_by(leader, r"calls\.preview_on_air preview=%d guide=gina\b" % pid, marks)

        # Viewers on the other follower and on the leader decode the guide's video.
        for v in (anna, bob, cleo):
            watched = await v.watch(pid)
            self.assertIs(watched["recording"], False)
            self.assertIn("VP8", watched["sdp"])
        self.assertEqual(len({anna.id, bob.id, cleo.id}), 3)
        for v in (anna, bob, cleo):
            await v.until_frames(1, "%s's first frame, through %s" % (v.handle, v.node))
            self.assertEqual(v.size, (p470.WIDTH, p470.HEIGHT))
            self.logged_by(leader, r"calls\.preview_viewer preview=%d viewer=%d user=%s\b" % (pid, v.id, v.handle), marks)

        # They are counted on the leader: show and list through every node say 3.
        shown = await gina.call("preview.show", {"id": pid})
        self.assertEqual((shown["state"], shown["on_air"], shown["viewers"]), ("live", True, 3))
        self.assertEqual(sorted(w["viewer"] for w in shown["watching"]), sorted([anna.id, bob.id, cleo.id]))
        for name in NAMES:
            self.assertEqual((await self.show(name, pid))["viewers"], 3, name)
        for client, where in ((bob.client, f2), (cleo.client, leader)):
            listed = {x["id"]: x for x in (await client.call("preview.list", {}))["previews"]}
            self.assertEqual(listed[pid]["viewers"], 3, where)
        self.assertNotIn(pid, [x["id"] for x in (await eve.call("preview.list", {}))["previews"]])

        # A quality report through a follower picks the layer; errors are the leader's.
        q = await bob.client.call("preview.stats", dict(viewer=bob.id, **GOOD))
        self.assertEqual((q["score"], q["substream"]), ("good", 2))
        await self.refused(eve, "preview.watch", {"id": pid}, "permission_denied")
        await self.refused(bob.client, "preview.leave", {"viewer": anna.id}, ("permission_denied", "not_found"))
        here = await self.refused(cleo.client, "preview.show", {"id": NO_PREVIEW}, "not_found")
        there = await self.refused(eve, "preview.show", {"id": NO_PREVIEW}, "not_found")
        self.assertEqual((there.message, there.field), (here.message, here.field))

        # anna's WebSocket closes on her follower: the leader drops her viewer; the video goes on.
        bob_before, cleo_before = bob.frames, cleo.frames
        await anna.close()
        await self.until_shown(gina, pid, lambda s: s["viewers"] == 2, "anna's viewer to go with her WebSocket")
        self.assertEqual((await self.show(leader, pid))["viewers"], 2)
        await bob.until_frames(bob_before + 10, "bob's video going on")
        await cleo.until_frames(cleo_before + 10, "cleo's video going on")

        # The guide stops it through her follower: the viewers, on the follower and on the leader, hear it.
        stopped = await gina.call("preview.stop", {"id": pid})
        self.assertEqual((stopped["state"], stopped["recordings"]), ("ended", []))
        self.logged_by(leader, r"calls\.preview_ended preview=%d viewers=2\b" % pid, marks)
        for v in (bob, cleo):
            await pushed(v.client, "preview.ended", "the end of preview %d on %s" % (pid, v.node), lambda d: d["id"] == pid)
        for name in NAMES:
            self.assertEqual((await self.show(name, pid))["state"], "ended", name)
        self.assertFalse(self.room_exists(pid))
        for v in (bob, cleo):
            await v.pc.close()

        # A second preview, recorded and watched through a follower, is on air when the leader dies.
        second = await gina.call("preview.start", {"tour": self.tour, "title": "Night walk", "access": "tour", "record": True})
        sid = second["id"]
        await self.publish(gina, sid)
        bob2 = await self.viewer("bob", f2)  # a page of his own for it
        await bob2.watch(sid)
        await bob2.until_frames(30, "bob's video of the recorded preview")
        await asyncio.to_thread(wait_until, lambda: [f for _, _, fs in os.walk(self.janus.recordings) for f in fs
                                                     if f.endswith(".mjr")], "Janus writing the recording",
                                describe=self.describe)
        self.assertTrue(self.room_exists(sid))
        survivors = (f1, f2)
        marks = self.marks(survivors)
        killed = time.monotonic()
        self.nodes[leader].kill9()

        # The node that takes the lead ends it: the guide hears it, the room goes, the recording is stored.
        ended = await pushed(gina, "preview.ended", "the end of preview %d after the leader died" % sid,
                             lambda d: d["id"] == sid)
        after = time.monotonic() - killed
        self.assertEqual(ended, {"id": sid})
        new = await asyncio.to_thread(self.leading, survivors)
        await asyncio.to_thread(self.logged_by, new, r"cluster\.leading\b", marks)
        await asyncio.to_thread(self.logged_by, new, r"calls\.previews_interrupted previews=1\b", marks)
        await asyncio.to_thread(self.logged_by, new, r"calls\.recording_stored preview=%d\b" % sid, marks)
        self.assertFalse(self.room_exists(sid))
        for name in survivors:
            shown = await self.show(name, sid)
            self.assertEqual((shown["state"], shown["on_air"], shown["viewers"]), ("ended", False, 0), name)
            r = await asyncio.to_thread(self.nodes[name].cli, "--json", "recording", "list", "--preview", str(sid))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(p470.json_records(r.stdout, "recordings")), 1, (name, r.stdout))
        shown = await gina.call("preview.show", {"id": sid})
        self.assertEqual(shown["state"], "ended")
        print("\n%s (the leader) killed; %s leads; preview.ended reached the guide on %s at %.1f s"
              % (leader, new, f1, after))


if __name__ == "__main__":
    unittest.main()
