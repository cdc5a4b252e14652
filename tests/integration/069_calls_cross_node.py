"""Calls across nodes (docs/scaling.md, "Calls and previews on several nodes"; docs/calls.md): three
tourbusd nodes on one PostgreSQL store, linked by a real nats-server (cluster.nats), with real
WebSocket clients. A call lives on the leader: the call operations sent to the other two (the
followers) are run there and answered with the leader's answer, codes and all; pushes to one
session (call.signal, call.taken) reach it on whatever node it is. The callers are put on the
followers on purpose, so that every step goes through a follower, NATS and the leader.

ann (on one follower) calls bob (on the other): bob's two devices (his second on the leader) ring,
his ringing reaches ann, he answers on the follower and his device on the leader stops ringing
(call.taken); offer, answer and a candidate go from device to device, to the device that joined
only; his quality report is scored; the leader alone logged the call. carol (on the leader) finds
bob busy; ann starting a second call gets the leader's conflict, a call that does not exist the
leader's not_found, word for word. ann's connection closes: bob hears she left (disconnected) and
the call ends, completed, as every node's `call show` says.

Then a follower is killed (kill -9) with ann's device in a call: once the leader forgets that node
(cluster.node_unheard, after 10 s without a beat) bob hears ann left, disconnected, and the call
ends; bob can call again. Last, the leader is killed with a call under way between the followers
and a third person still being rung: the node that takes the lead ends it as failed (its log says
calls.interrupted), every member, rung or joined, gets call.ended "failed", every survivor's `call
show` says so, and calls through the followers work again under the new leader. How long each
took after the kill is printed.

It needs a PostgreSQL server: the CTest fixture postgres (TOURBUS_TEST_POSTGRES_FILE), or
TOURBUS_TEST_POSTGRES; run by hand without either, it starts a throwaway one of its own
(tests/postgres.py). And Debian's nats-server (NATS_SERVER, by default /usr/sbin/nats-server)."""

import asyncio
import re
import time
import unittest

from cluster import Scenario, add_users, pushed, server, start_nats, start_nodes

NAMES = ("tb1", "tb2", "tb3")
USERS = ("ann", "bob", "carol")
OFFER = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
ANSWER = "v=0\r\no=- 7726102839310441204 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
CANDIDATE = "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"
NO_CALL = 999999  # a call id that does not exist

# No ring times out during a scenario (calls.ring_seconds); stats reports may come 100 ms apart.
CONFIG = """
[calls]
ring_seconds = 300
stats_interval_ms = 100
[websocket]
events_per_second = 10000
event_burst = 10000
"""


class CallsCrossNode(Scenario, unittest.TestCase):
    # Until its node knows the leader, a follower answers the call operations unavailable; then a
    # call.accept of a call that does not exist gets the leader's not_found (Scenario.led).
    PROBE = ("call.accept", {"id": NO_CALL})

    def setUp(self):
        server(self)
        self.nats = start_nats(self)
        self.nodes = start_nodes(self, NAMES, CONFIG, self.nats)
        one = self.nodes[NAMES[0]]
        self.tokens = add_users(self, one, USERS)
        self.ab = one.cli_json("conversation", "create", "direct", "ann", "bob")["id"]
        self.cb = one.cli_json("conversation", "create", "direct", "carol", "bob")["id"]
        self.leader = self.leading(NAMES)
        self.f1, self.f2 = sorted(name for name in NAMES if name != self.leader)

    # -- helpers ---------------------------------------------------------------------------------
    def record(self, name, call):
        """`tourbus call show` of the call through node `name`."""
        return self.nodes[name].cli_json("call", "show", str(call))

    async def answered(self, caller, callee, conversation, callee_handle="bob"):
        """`caller` calls `callee` (a client of `callee_handle`) in `conversation`, the callee
        answers; returns the call's id."""
        call = await caller.call("call.start", {"conversation": conversation})
        cid = call["id"]
        await pushed(callee, "call.invite", "the invitation to call %d" % cid, lambda d: d["id"] == cid)
        await callee.call("call.accept", {"id": cid})
        accepted = await pushed(caller, "call.accepted", "%s's answer" % callee_handle, lambda d: d["id"] == cid)
        self.assertEqual(accepted["user"], callee_handle)
        return cid

    # -- 1. signalling through the followers ----------------------------------------------------
    def test_a_call_between_followers_runs_on_the_leader(self):
        self.run_clients(self.signalling)

    async def signalling(self):
        leader, f1, f2 = self.leader, self.f1, self.f2
        ann, bob = await self.connect("ann", f1), await self.connect("bob", f2)
        bob_l, carol = await self.connect("bob", leader), await self.connect("carol", leader)
        await self.led(ann, f1)
        await self.led(bob, f2)
        marks = self.marks()

        # ann calls bob: both his devices ring, his ringing reaches her.
        call = await ann.call("call.start", {"conversation": self.ab})
        cid = call["id"]
        self.assertEqual((call["from"], call["conversation"], call["members"]),
                         ("ann", self.ab, {"ann": "joined", "bob": "invited"}))
        for dev, where in ((bob, f2), (bob_l, leader)):
            invite = await pushed(dev, "call.invite", "bob's invitation on %s" % where, lambda d: d["id"] == cid)
            self.assertEqual((invite["from"], invite["conversation"]), ("ann", self.ab), where)
        self.assertEqual(await bob.call("call.ringing", {"id": cid}), {"id": cid, "state": "invited"})
        rang = await pushed(ann, "call.ringing", "bob's ringing", lambda d: d["id"] == cid)
        self.assertEqual(rang["user"], "bob")

        # bob answers on his follower: ann and he hear it, his device on the leader stops ringing
        # (and cannot take the call any more).
        joined = await bob.call("call.accept", {"id": cid})
        self.assertEqual(joined["members"], {"ann": "joined", "bob": "joined"})
        for dev, where in ((ann, f1), (bob, f2)):
            accepted = await pushed(dev, "call.accepted", "bob's answer, on %s" % where, lambda d: d["id"] == cid)
            self.assertEqual((accepted["user"], accepted["members"]), ("bob", {"ann": "joined", "bob": "joined"}), where)
        taken = await pushed(bob_l, "call.taken", "call.taken on bob's device on the leader", lambda d: d["id"] == cid)
        self.assertEqual(taken["state"], "joined")
        await self.refused(bob_l, "call.accept", {"id": cid}, "conflict")  # answered on another device
        await bob.quiet("call.taken")  # not to the device that answered

        # Offer, answer and a candidate, each to the one device in the call.
        await ann.call("call.signal", {"id": cid, "to": "bob", "type": "offer", "sdp": OFFER,
                                       "tracks": {"cam-1": "camera"}})
        offer = await pushed(bob, "call.signal", "ann's offer", lambda d: d["id"] == cid)
        self.assertEqual((offer["from"], offer["type"], offer["sdp"], offer["tracks"]),
                         ("ann", "offer", OFFER, {"cam-1": "camera"}))
        sent = await bob.call("call.signal", {"id": cid, "to": "ann", "type": "answer", "sdp": ANSWER})
        self.assertEqual(sent, {"id": cid, "to": "ann", "type": "answer"})
        answer = await pushed(ann, "call.signal", "bob's answer", lambda d: d["id"] == cid)
        self.assertEqual((answer["from"], answer["type"], answer["sdp"]), ("bob", "answer", ANSWER))
        await bob.call("call.signal", {"id": cid, "to": "ann", "type": "candidate", "candidate": CANDIDATE,
                                       "sdp_mid": "0", "sdp_mline_index": 0})
        cand = await pushed(ann, "call.signal", "bob's candidate", lambda d: d["type"] == "candidate")
        self.assertEqual((cand["from"], cand["candidate"], cand["sdp_mid"], cand["sdp_mline_index"]),
                         ("bob", CANDIDATE, "0", 0))
        await bob_l.quiet("call.signal")
        e = await self.refused(bob_l, "call.signal", {"id": cid, "to": "ann", "type": "offer", "sdp": OFFER},
                               "permission_denied")  # the device that did not answer
        self.assertIn("device that joined", e.message)

        # bob's quality report, from his device in the call, through his follower.
        q = await bob.call("call.stats", {"id": cid, "rtt_ms": 40, "loss_percent": 0, "bitrate_kbps": 1200, "fps": 30,
                                          "height": 720})
        self.assertEqual((q["id"], q["score"], q["worst_score"], q["samples"]), (cid, "good", "good", 1))

        # Busy is the leader's to know: carol finds bob busy; bob's devices do not ring.
        busy = await carol.call("call.start", {"conversation": self.cb})
        self.assertEqual((busy["members"], busy.get("ended")), ({"carol": "joined", "bob": "busy"}, "busy"))
        ended = await pushed(carol, "call.ended", "the busy call's end", lambda d: d["id"] == busy["id"])
        self.assertEqual(ended["outcome"], "busy")
        for dev in (bob, bob_l):
            await dev.quiet("call.invite")

        # Errors through a follower are the leader's, word for word.
        e = await self.refused(ann, "call.start", {"conversation": self.ab}, "conflict")
        self.assertIn("you are in call %d" % cid, e.message)
        here = await self.refused(bob_l, "call.accept", {"id": NO_CALL}, "not_found")
        there = await self.refused(bob, "call.accept", {"id": NO_CALL}, "not_found")
        self.assertEqual((there.code, there.message, there.field), (here.code, here.message, here.field))
        e = await self.refused(ann, "call.signal", {"id": cid, "to": "carol", "type": "offer", "sdp": OFFER},
                               "invalid_argument")
        self.assertEqual(e.field, "to")
        # The call and its answer were the leader's alone.
        self.logged_by(leader, r"calls\.started call=%d\b" % cid, marks)
        self.logged_by(leader, r"calls\.joined call=%d user=bob\b" % cid, marks)

        # ann's connection closes: bob hears she left, disconnected, and the call ends completed
        # (his device on the leader, which never joined, hears nothing of it).
        await ann.close()
        left = await pushed(bob, "call.left", "ann leaving", lambda d: d["id"] == cid)
        self.assertEqual((left["user"], left["reason"]), ("ann", "disconnected"))
        ended = await pushed(bob, "call.ended", "the call's end", lambda d: d["id"] == cid)
        self.assertEqual((ended["conversation"], ended["outcome"]), (self.ab, "completed"))
        await bob_l.quiet("call.ended")
        for name in (leader, f1, f2):
            rec = self.record(name, cid)
            self.assertEqual((rec["state"], rec["outcome"], rec["from"]), ("ended", "completed", "ann"), name)
            self.assertEqual({h: m["state"] for h, m in rec["members"].items()}, {"ann": "left", "bob": "left"}, name)
            self.assertEqual(rec["quality"]["samples"], 1, name)
        self.assertEqual(self.record(leader, busy["id"])["outcome"], "busy")

    # -- 2. a follower dies --------------------------------------------------------------------
    def test_a_dead_followers_device_leaves_its_call(self):
        self.run_clients(self.follower_killed)

    async def follower_killed(self):
        leader, f1, f2 = self.leader, self.f1, self.f2
        ann, bob = await self.connect("ann", f1), await self.connect("bob", f2)
        carol = await self.connect("carol", leader)
        await self.led(ann, f1)
        await self.led(bob, f2)
        cid = await self.answered(ann, bob, self.ab)
        await ann.call("call.signal", {"id": cid, "to": "bob", "type": "offer", "sdp": OFFER})
        await pushed(bob, "call.signal", "ann's offer", lambda d: d["id"] == cid)

        # ann's node dies. Once the leader has not heard from it for 10 s, ann's device is gone:
        # bob hears she left, disconnected, and the call ends.
        marks = self.marks((leader, f2))
        killed = time.monotonic()
        self.nodes[f1].kill9()
        left = await pushed(bob, "call.left", "ann leaving with %s" % f1, lambda d: d["id"] == cid)
        left_after = time.monotonic() - killed
        self.assertEqual((left["user"], left["reason"]), ("ann", "disconnected"))
        ended = await pushed(bob, "call.ended", "the call's end", lambda d: d["id"] == cid)
        ended_after = time.monotonic() - killed
        self.assertEqual(ended["outcome"], "completed")
        line = await asyncio.to_thread(self.nodes[leader].wait_for, r"cluster\.node_unheard node=%s\b" % f1,
                                       marks[leader])
        for name in (leader, f2):
            rec = self.record(name, cid)
            self.assertEqual((rec["state"], rec["outcome"]), ("ended", "completed"), name)
            self.assertEqual({h: m["state"] for h, m in rec["members"].items()}, {"ann": "left", "bob": "left"}, name)

        # bob is in no call any more: he calls carol, who declines.
        again = await bob.call("call.start", {"conversation": self.cb})
        self.assertEqual(again["members"], {"bob": "joined", "carol": "invited"})
        await pushed(carol, "call.invite", "carol's invitation", lambda d: d["id"] == again["id"])
        await carol.call("call.decline", {"id": again["id"]})
        ended = await pushed(bob, "call.ended", "the declined call's end", lambda d: d["id"] == again["id"])
        self.assertEqual(ended["outcome"], "declined")
        print("\n%s killed: the leader logged %s; bob heard ann left at %.1f s, the call ended at %.1f s"
              % (f1, re.search(r"cluster\.node_unheard.*", line).group(0), left_after, ended_after))

    # -- 3. the leader dies --------------------------------------------------------------------
    def test_the_new_leader_ends_the_calls_of_the_dead_one_as_failed(self):
        crew = self.nodes[NAMES[0]].cli_json("conversation", "create", "group", *USERS, "--title", "Crew")["id"]
        self.run_clients(lambda: self.leader_killed(crew))

    async def leader_killed(self, crew):
        leader, f1, f2 = self.leader, self.f1, self.f2
        ann, bob, carol = await self.connect("ann", f1), await self.connect("bob", f2), await self.connect("carol", f2)
        await self.led(ann, f1)
        await self.led(bob, f2)

        # ann calls the crew; bob answers, carol's device rings on.
        call = await ann.call("call.start", {"conversation": crew})
        cid = call["id"]
        for dev in (bob, carol):
            await pushed(dev, "call.invite", "the invitation", lambda d: d["id"] == cid)
        await carol.call("call.ringing", {"id": cid})
        await bob.call("call.accept", {"id": cid})
        await pushed(ann, "call.accepted", "bob's answer", lambda d: d["id"] == cid)
        await ann.call("call.signal", {"id": cid, "to": "bob", "type": "offer", "sdp": OFFER})
        await pushed(bob, "call.signal", "ann's offer", lambda d: d["id"] == cid)
        self.assertEqual(self.record(f1, cid)["state"], "active")

        # The leader dies. The node that takes the lead ends the call, failed: everyone still in it,
        # joined or rung, is told; every survivor's record says so.
        survivors = (f1, f2)
        marks = self.marks(survivors)
        killed = time.monotonic()
        self.nodes[leader].kill9()
        after = {}
        for dev, who in ((ann, "ann"), (bob, "bob"), (carol, "carol")):
            ended = await pushed(dev, "call.ended", "the end of call %d, for %s" % (cid, who), lambda d: d["id"] == cid)
            after[who] = time.monotonic() - killed
            self.assertEqual((ended["conversation"], ended["outcome"]), (crew, "failed"), who)
        new = self.leading(survivors)
        self.logged_by(new, r"cluster\.leading\b", marks)
        self.logged_by(new, r"calls\.interrupted calls=1\b", marks)
        for name in survivors:
            rec = self.record(name, cid)
            self.assertEqual((rec["state"], rec["outcome"]), ("ended", "failed"), name)
        listed = await bob.call("call.show", {"id": cid})
        self.assertEqual((listed["state"], listed["outcome"]), ("ended", "failed"))

        # Calls go on under the new leader, through either survivor: nobody is still busy with the
        # failed call; carol calls bob, he answers, hangs up, and the call ends for carol.
        await self.led(ann, f1)
        await self.led(bob, f2)
        next_call = await self.answered(carol, bob, self.cb)
        self.assertEqual(await bob.call("call.hangup", {"id": next_call}), {"id": next_call, "state": "left"})
        ended = await pushed(carol, "call.ended", "the new call's end", lambda d: d["id"] == next_call)
        self.assertEqual(ended["outcome"], "completed")
        self.logged_by(new, r"calls\.started call=%d\b" % next_call, marks)
        print("\n%s (the leader) killed; %s leads; call.ended (failed) reached %s"
              % (leader, new, ", ".join("%s at %.1f s" % (who, t) for who, t in after.items())))


if __name__ == "__main__":
    unittest.main()
