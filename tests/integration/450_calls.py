"""Call signalling with the real daemon and real WebSocket clients, several devices per person:
ICE servers with coturn-style TURN credentials, a call ringing every device of the callee, the
first to answer taking it (the others stop ringing), SDP and ICE candidates relayed to that one
device only and refused to strangers and to the other devices, quality reports and their score,
hang-up with the record and the system message in the conversation; a decline, a busy callee, a
cancelled call and a missed one (ring timeout) with their records and missed-call notifications; a
connection lost mid-call; a mesh of three; and `kill -9` with a call under way."""

import asyncio
import base64
import hashlib
import hmac
import json
import queue
import time
import unittest

import socketio

from harness import WAIT, DaemonTest, wait_until
from wsclient import Client, Reply

SECRET = "coturn-shared-secret-for-tests"
SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"


class Calls(DaemonTest):
    config = """
[sos]
ring_seconds = 5
[calls]
ring_seconds = 5
stun_urls = "stun:127.0.0.1:3478"
turn_urls = "turn:127.0.0.1:3478?transport=udp, turn:127.0.0.1:3478?transport=tcp"
turn_secret = "%s"
turn_ttl_seconds = 600
stats_interval_ms = 60000
[websocket]
events_per_second = 10000
event_burst = 10000
""" % SECRET

    def setUp(self):
        super().setUp()
        for h in ["alice", "bob", "carl", "dora", "eve"]:
            self.add_user(h)
        for h in ["olga", "otto"]:
            self.add_user(h, role="operator")
        self.tok = {h: self.token(h) for h in ["alice", "bob", "carl", "dora", "eve", "olga", "otto"]}
        self.url = "ws://127.0.0.1:%d/v1/ws" % self.d.port
        self.ab = self.d.cli_json("conversation", "create", "direct", "alice", "bob")["id"]
        self.cb = self.d.cli_json("conversation", "create", "direct", "carl", "bob")["id"]
        self.ac = self.d.cli_json("conversation", "create", "direct", "alice", "carl")["id"]

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 6 * WAIT))

    async def connect(self, handle):
        return await Client.connect(self.url, self.tok[handle])

    def history(self, conversation):
        return self.d.curl("GET", "/v1/conversations/%d/messages" % conversation)[1]["messages"]

    def record(self, call):
        return self.d.cli_json("call", "show", str(call))

    def feed(self, handle):
        status, _, body = self.d.http("GET", "/v1/feed", token=self.tok[handle])
        self.assertEqual(status, 200, body)
        return body["items"]


class Signalling(Calls):
    def test_every_device_rings_the_first_to_answer_takes_it_and_signals_reach_that_device_only(self):
        async def go():
            alice, bob1, bob2, eve = [await self.connect(h) for h in ["alice", "bob", "bob", "eve"]]
            # ICE servers: STUN as configured, TURN with coturn's REST credentials.
            cfg = await alice.call("call.config")
            stun, turn = cfg["ice_servers"]
            self.assertEqual(stun, {"urls": ["stun:127.0.0.1:3478"]})
            expiry, user = turn["username"].split(":")
            self.assertEqual(user, "alice")
            self.assertAlmostEqual(int(expiry), time.time() + 600, delta=60)
            self.assertEqual(turn["credential"], base64.b64encode(
                hmac.new(SECRET.encode(), turn["username"].encode(), hashlib.sha1).digest()).decode())
            self.assertEqual(len(turn["urls"]), 2)

            call = await alice.call("call.start", {"conversation": self.ab})
            cid = call["id"]
            self.assertEqual((call["from"], call["video"], call["members"]), ("alice", True, {"alice": "joined", "bob": "invited"}))
            for dev in (bob1, bob2):
                inv = await dev.push("call.invite", lambda d: d["id"] == cid)
                self.assertEqual((inv["from"], inv["conversation"]), ("alice", self.ab))
            await bob1.call("call.ringing", {"id": cid})
            self.assertEqual((await alice.push("call.ringing"))["user"], "bob")

            # bob answers on his second device: the first stops ringing.
            joined = await bob2.call("call.accept", {"id": cid})
            self.assertEqual(joined["members"]["bob"], "joined")
            taken = await bob1.push("call.taken", lambda d: d["id"] == cid)
            self.assertEqual(taken["state"], "joined")
            acc = await alice.push("call.accepted", lambda d: d["id"] == cid)
            self.assertEqual(acc["user"], "bob")
            with self.assertRaises(Reply) as cm:
                await bob1.call("call.accept", {"id": cid})
            self.assertEqual(cm.exception.code, "conflict")

            # The offer goes to the device that answered, and nowhere else.
            await alice.call("call.signal", {"id": cid, "to": "bob", "type": "offer", "sdp": SDP,
                                             "tracks": {"cam-1": "camera", "screen-1": "screen"}})
            offer = await bob2.push("call.signal", lambda d: d["id"] == cid)
            self.assertEqual((offer["from"], offer["type"], offer["sdp"]), ("alice", "offer", SDP))
            self.assertEqual(offer["tracks"], {"cam-1": "camera", "screen-1": "screen"})
            await bob2.call("call.signal", {"id": cid, "to": "alice", "type": "answer", "sdp": SDP})
            self.assertEqual((await alice.push("call.signal"))["type"], "answer")
            await alice.call("call.signal", {"id": cid, "to": "bob", "type": "candidate", "sdp_mid": "0", "sdp_mline_index": 0,
                                             "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"})
            cand = await bob2.push("call.signal", lambda d: d["type"] == "candidate")
            self.assertEqual((cand["sdp_mid"], cand["sdp_mline_index"]), ("0", 0))
            await bob1.quiet("call.signal")

            # Nobody else can inject anything: a stranger, bob's other device, a bad type.
            with self.assertRaises(Reply) as cm:
                await eve.call("call.signal", {"id": cid, "to": "bob", "type": "offer", "sdp": SDP})
            self.assertEqual(cm.exception.code, "not_found")
            with self.assertRaises(Reply) as cm:
                await bob1.call("call.signal", {"id": cid, "to": "alice", "type": "offer", "sdp": SDP})
            self.assertEqual(cm.exception.code, "permission_denied")
            with self.assertRaises(Reply) as cm:
                await alice.call("call.signal", {"id": cid, "to": "bob", "type": "bye"})
            self.assertEqual(cm.exception.code, "invalid_argument")
            with self.assertRaises(Reply) as cm:
                await alice.call("call.signal", {"id": cid, "to": "bob", "type": "offer", "sdp": "x" * (32 * 1024 + 1)})
            self.assertEqual(cm.exception.code, "invalid_argument")
            with self.assertRaises(Reply) as cm:
                await eve.call("call.hangup", {"id": cid})
            self.assertEqual(cm.exception.code, "not_found")

            # Quality: a good sample, then a second too soon.
            q = await alice.call("call.stats", {"id": cid, "rtt_ms": 40, "loss_percent": 0, "bitrate_kbps": 1200, "fps": 30,
                                                "height": 720})
            self.assertEqual((q["score"], q["worst_score"], q["samples"]), ("good", "good", 1))
            with self.assertRaises(Reply) as cm:
                await alice.call("call.stats", {"id": cid, "rtt_ms": 40, "loss_percent": 0, "bitrate_kbps": 1200})
            self.assertEqual(cm.exception.code, "rate_limited")
            poor = await bob2.call("call.stats", {"id": cid, "rtt_ms": 600, "loss_percent": 12, "bitrate_kbps": 80, "fps": 5,
                                                  "height": 180})
            self.assertEqual((poor["score"], poor["worst_score"]), ("poor", "poor"))
            metrics = self.d.curl("GET", "/metrics", raw=True)[1]
            self.assertIn('tourbus_calls{state="active"} 1', metrics)
            self.assertIn('tourbus_call_quality{score="poor"} 1', metrics)

            # bob hangs up: the call is over for alice too.
            await bob2.call("call.hangup", {"id": cid})
            self.assertEqual((await alice.push("call.left"))["user"], "bob")
            ended = await alice.push("call.ended", lambda d: d["id"] == cid)
            self.assertEqual(ended["outcome"], "completed")
            with self.assertRaises(Reply) as cm:
                await alice.call("call.signal", {"id": cid, "to": "bob", "type": "offer", "sdp": SDP})
            self.assertEqual(cm.exception.code, "not_found")
            for c in (alice, bob1, bob2, eve):
                await c.close()
            return cid

        cid = self.run_async(go())
        rec = self.record(cid)
        self.assertEqual((rec["state"], rec["outcome"], rec["from"]), ("ended", "completed", "alice"))
        self.assertEqual({h: m["state"] for h, m in rec["members"].items()}, {"alice": "left", "bob": "left"})
        self.assertIsNotNone(rec["duration_seconds"])
        self.assertEqual((rec["quality"]["samples"], rec["quality"]["worst_score"]), (2, "poor"))
        notice = self.history(self.ab)[-1]
        self.assertEqual(notice["kind"], "system")
        self.assertTrue(notice["text"].startswith("Video call, 0:0"), notice["text"])
        self.assertEqual((notice["details"]["call"], notice["details"]["outcome"]), (cid, "completed"))
        # Calls need a session: HTTP callers are told so.
        status, _, body = self.d.http("POST", "/v1/calls", {"conversation": self.ab}, token=self.tok["alice"])
        self.assertEqual((status, body["error"]["code"]), (400, "invalid_argument"))
        listed = [json.loads(l) for l in self.d.cli("--json", "call", "list", "--conversation", str(self.ab)).stdout.splitlines()]
        self.assertEqual([c["id"] for c in listed], [cid])

    def test_decline_busy_cancel_missed_and_a_lost_connection(self):
        async def go():
            alice, bob, carl = [await self.connect(h) for h in ["alice", "bob", "carl"]]
            # Declined.
            c1 = (await alice.call("call.start", {"conversation": self.ab, "video": False}))["id"]
            await bob.push("call.invite", lambda d: d["id"] == c1)
            await bob.call("call.decline", {"id": c1})
            self.assertEqual((await alice.push("call.declined"))["reason"], "declined")
            self.assertEqual((await alice.push("call.ended", lambda d: d["id"] == c1))["outcome"], "declined")

            # Busy: bob is in a call with alice when carl calls.
            c2 = (await alice.call("call.start", {"conversation": self.ab}))["id"]
            await bob.push("call.invite", lambda d: d["id"] == c2)
            await bob.call("call.accept", {"id": c2})
            busy = await carl.call("call.start", {"conversation": self.cb})
            self.assertEqual((busy["members"]["bob"], busy["ended"]), ("busy", "busy"))
            self.assertEqual((await carl.push("call.ended", lambda d: d["id"] == busy["id"]))["outcome"], "busy")
            await bob.quiet("call.invite")
            with self.assertRaises(Reply) as cm:  # nobody calls out from inside a call
                await bob.call("call.start", {"conversation": self.cb})
            self.assertEqual(cm.exception.code, "conflict")

            # A lost connection leaves the call: alice hears it, the call ends.
            await bob.ws.close()
            left = await alice.push("call.left", lambda d: d["id"] == c2)
            self.assertEqual((left["user"], left["reason"]), ("bob", "disconnected"))
            self.assertEqual((await alice.push("call.ended", lambda d: d["id"] == c2))["outcome"], "completed")

            # Cancelled before carl answered: his devices stop ringing, he has a missed call.
            c3 = (await alice.call("call.start", {"conversation": self.ac}))["id"]
            await carl.push("call.invite", lambda d: d["id"] == c3)
            await alice.call("call.cancel", {"id": c3})
            self.assertEqual((await carl.push("call.ended", lambda d: d["id"] == c3))["outcome"], "cancelled")
            await carl.close()

            # Missed: carl is offline; after calls.ring_seconds nobody has answered.
            c4 = (await alice.call("call.start", {"conversation": self.ac}))["id"]
            self.assertEqual((await alice.push("call.ended", lambda d: d["id"] == c4))["outcome"], "missed")
            await alice.close()
            return c1, c2, busy["id"], c3, c4

        c1, c2, c3busy, c3, c4 = self.run_async(go())
        outcomes = {c: self.record(c)["outcome"] for c in (c1, c2, c3busy, c3, c4)}
        self.assertEqual(outcomes, {c1: "declined", c2: "completed", c3busy: "busy", c3: "cancelled", c4: "missed"})
        self.assertFalse(self.record(c1)["video"])
        texts = [m["text"] for m in self.history(self.ab) if m["kind"] == "system"]
        self.assertIn("Call declined", texts)
        carl_texts = [m["text"] for m in self.history(self.ac) if m["kind"] == "system"]
        self.assertEqual(carl_texts[-2:], ["Missed video call from alice"] * 2)
        self.assertEqual(self.record(c3busy)["members"]["bob"]["state"], "busy")
        self.assertEqual(self.record(c4)["members"]["carl"]["state"], "missed")
        # The missed calls reach carl's feed through the notification engine; bob's decline is no missed call.
        titles = wait_until(lambda: [i["title"] for i in self.feed("carl") if "Missed" in i["title"]] or None,
                            "carl's missed-call notifications")
        wait_until(lambda: len([i for i in self.feed("carl") if "Missed" in i["title"]]) == 2, "both missed calls in the feed")
        self.assertEqual(titles[0], "Missed video call from alice")
        self.assertFalse([i for i in self.feed("bob") if "Missed" in i["title"]])

    def test_a_socketio_device_answers_a_websocket_caller(self):
        got = queue.Queue()
        sio = socketio.Client(reconnection=False)
        for name in ("call.invite", "call.signal", "call.ended"):
            sio.on(name, lambda data, name=name: got.put((name, data)))
        sio.connect("http://127.0.0.1:%d" % self.d.port, auth={"token": self.tok["bob"]}, transports=["websocket"],
                    wait_timeout=WAIT)
        self.addCleanup(sio.disconnect)

        def next_event(name):
            while True:
                event, data = got.get(timeout=WAIT)
                if event == name:
                    return data

        def sio_call(event, data):
            ack = sio.call(event, data, timeout=WAIT)
            self.assertEqual(ack["event"], "reply", ack)
            return ack["data"]

        async def go():
            alice = await self.connect("alice")
            cid = (await alice.call("call.start", {"conversation": self.ab}))["id"]
            self.assertEqual(next_event("call.invite")["id"], cid)
            sio_call("call.ringing", {"id": cid})
            sio_call("call.accept", {"id": cid})
            await alice.push("call.accepted", lambda d: d["user"] == "bob")
            await alice.call("call.signal", {"id": cid, "to": "bob", "type": "offer", "sdp": SDP})
            offer = next_event("call.signal")
            self.assertEqual((offer["from"], offer["type"], offer["sdp"]), ("alice", "offer", SDP))
            sio_call("call.signal", {"id": cid, "to": "alice", "type": "answer", "sdp": SDP})
            self.assertEqual((await alice.push("call.signal"))["type"], "answer")
            sio.disconnect()  # the Socket.IO device goes away: bob leaves, the call ends
            self.assertEqual((await alice.push("call.left"))["reason"], "disconnected")
            self.assertEqual((await alice.push("call.ended", lambda d: d["id"] == cid))["outcome"], "completed")
            await alice.close()

        self.run_async(go())

    def test_an_sos_video_call_rings_the_operators_on_duty_and_the_first_takes_it(self):
        for h in ("olga", "otto"):
            self.assertEqual(self.d.cli("duty", "on", h).returncode, 0)

        async def go():
            alice, olga, otto = [await self.connect(h) for h in ["alice", "olga", "otto"]]
            sos = await alice.call("sos", {"note": "lost at the station", "client_id": "sos-1"})
            call = await alice.call("call.start", {"sos": sos["id"]})
            self.assertEqual((call["sos"], call["conversation"]), (sos["id"], sos["conversation"]))
            self.assertEqual(call["members"], {"alice": "joined", "olga": "invited", "otto": "invited"})
            for op in (olga, otto):
                self.assertEqual((await op.push("call.invite", lambda d: d["id"] == call["id"]))["sos"], sos["id"])
            await otto.call("call.accept", {"id": call["id"]})
            taken = await olga.push("call.taken", lambda d: d["id"] == call["id"])
            self.assertEqual((taken["state"], taken["by"]), ("taken", "otto"))  # olga sees who took it
            self.assertEqual((await alice.push("call.accepted"))["user"], "otto")
            with self.assertRaises(Reply) as cm:
                await olga.call("call.accept", {"id": call["id"]})
            self.assertEqual(cm.exception.code, "conflict")
            # Answering the call acknowledged the SOS.
            updated = await alice.push("sos.updated", lambda d: d["id"] == sos["id"])
            self.assertEqual((updated["state"], updated["acked_by"]), ("acknowledged", "otto"))
            await otto.call("call.hangup", {"id": call["id"]})
            await alice.push("call.ended", lambda d: d["id"] == call["id"])

            # Another SOS whose video nobody answers: the call is missed and the SOS rings again at once.
            second = await alice.call("sos", {"note": "still lost", "client_id": "sos-2"})
            unanswered = await alice.call("call.start", {"sos": second["id"]})
            self.assertEqual((await alice.push("call.ended", lambda d: d["id"] == unanswered["id"]))["outcome"], "missed")
            with self.assertRaises(Reply) as cm:  # only the SOS's own person calls with it
                await olga.call("call.start", {"sos": second["id"]})
            self.assertEqual(cm.exception.code, "not_found")
            for c in (alice, olga, otto):
                await c.close()
            return call["id"], unanswered["id"], second["id"]

        cid, missed, second = self.run_async(go())
        self.d.wait_for(r"calls\.sos_unanswered call=%d sos=%d escalated=true" % (missed, second))
        rec = self.record(cid)
        self.assertEqual({h: m["state"] for h, m in rec["members"].items()}, {"alice": "left", "olga": "taken", "otto": "left"})
        self.assertEqual(self.record(missed)["outcome"], "missed")
        # The operators get no missed-call notification: the SOS itself rings them again.
        for h in ("olga", "otto"):
            self.assertFalse([i for i in self.feed(h) if i["title"].startswith("Missed")])

    def test_a_mesh_of_three_and_kill9_mid_call(self):
        group = self.d.cli_json("conversation", "create", "group", "alice", "bob", "carl", "dora", "eve", "--title", "Crew")["id"]

        async def go():
            alice, bob, carl = [await self.connect(h) for h in ["alice", "bob", "carl"]]
            with self.assertRaises(Reply) as cm:  # five people: more than calls.max_members
                await alice.call("call.start", {"conversation": group})
            self.assertEqual((cm.exception.code, cm.exception.field), ("invalid_argument", "to"))
            cid = (await alice.call("call.start", {"conversation": group, "to": ["bob", "Carl", "dora"]}))["id"]
            await bob.push("call.invite", lambda d: d["id"] == cid)
            await bob.call("call.accept", {"id": cid})
            await alice.push("call.accepted", lambda d: d["user"] == "bob")
            await carl.push("call.invite", lambda d: d["id"] == cid)
            await carl.call("call.accept", {"id": cid})
            # Everyone already in the call hears carl joined, and offers to him.
            for c in (alice, bob):
                got = await c.push("call.accepted", lambda d: d["user"] == "carl")
                self.assertEqual(got["members"], {"alice": "joined", "bob": "joined", "carl": "joined", "dora": "invited"})
            await bob.call("call.signal", {"id": cid, "to": "carl", "type": "offer", "sdp": SDP})
            self.assertEqual((await carl.push("call.signal"))["from"], "bob")
            await bob.call("call.hangup", {"id": cid})
            await carl.push("call.left", lambda d: d["user"] == "bob")
            await alice.call("call.signal", {"id": cid, "to": "carl", "type": "offer", "sdp": SDP})  # two remain
            await carl.push("call.signal", lambda d: d["from"] == "alice")
            # dora (offline) never answered: after calls.ring_seconds she missed it, the call goes on.
            wait_until(lambda: self.record(cid)["members"]["dora"]["state"] == "missed", "dora's ring to time out")
            await alice.call("call.signal", {"id": cid, "to": "carl", "type": "candidate", "candidate": ""})
            await carl.push("call.signal", lambda d: d["type"] == "candidate")
            # tourbusd dies with the call on.
            self.assertEqual(self.record(cid)["state"], "active")
            self.d.kill9()
            return cid

        cid = self.run_async(go())
        # After the restart the call is over, as failed.
        self.d.start()
        self.d.wait_for(r"calls\.interrupted calls=1", start=0)
        rec = self.record(cid)
        self.assertEqual((rec["state"], rec["outcome"]), ("ended", "failed"))
        self.assertEqual(rec["members"]["bob"]["state"], "left")
        self.assertLess(rec["members"]["bob"]["left_at"], rec["ended_at"])  # when he hung up, not when it ended
        wait_until(lambda: [i["title"] for i in self.feed("dora") if "Missed" in i["title"]] == ["Missed video call from alice"],
                   "dora's missed-call notification")


if __name__ == "__main__":
    unittest.main(verbosity=2)
