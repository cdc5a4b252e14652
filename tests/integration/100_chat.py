"""Chat over WebSocket with several real clients (Debian's python3-websockets): direct, group and
tour conversations, fan-out to every device, ordering, client_id dedupe, sync after a reconnect,
receipts, typing, presence, edits and tombstones, search, membership rules and refusals."""

import asyncio
import json
import unittest

from harness import WAIT, DaemonTest
from wsclient import Client, Reply

CONFIG = """[websocket]
events_per_second = 10000
event_burst = 10000

[chat]
max_text_bytes = 2000
"""


class Chat(DaemonTest):
    config = CONFIG

    def setUp(self):
        super().setUp()
        for h, role in [("alice", "tourist"), ("bob", "tourist"), ("gina", "guide"), ("eve", "tourist"),
                        ("olga", "operator")]:
            self.add_user(h, role=role)
        self.tok = {h: self.token(h) for h in ["alice", "bob", "gina", "eve", "olga"]}
        self.tour = self.d.cli_json("tour", "add", "--title", "Vatican by night", "--start", "2026-12-01T20:00",
                                    "--end", "2026-12-01T23:00", "--tz", "Europe/Rome", "--guide", "gina",
                                    "-p", "alice", "-p", "bob")
        self.url = "ws://127.0.0.1:%d/v1/ws" % self.d.port

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 4 * WAIT))

    async def connect(self, handle):
        return await Client.connect(self.url, self.tok[handle])

    async def direct(self, a, b_handle):
        return (await a.call("conversation.create", {"kind": "direct", "with": b_handle}))["id"]

    def test_fan_out_to_every_device_in_order_without_duplicates(self):
        async def go():
            alice1, alice2, bob, eve = [await self.connect(h) for h in ["alice", "alice", "bob", "eve"]]
            conv = await self.direct(alice1, "bob")
            # the same pair always gets the same direct conversation
            self.assertEqual(await self.direct(bob, "alice"), conv)

            sent = await alice1.call("message.send", {"conversation": conv, "client_id": "c-1", "text": "Ciao Bob!"})
            self.assertEqual((sent["seq"], sent["sender"], sent["kind"], sent["duplicate"]), (1, "alice", "text", False))
            for device in (alice1, alice2, bob):
                pushed = await device.push("message")
                self.assertEqual((pushed["conversation"], pushed["seq"], pushed["text"]), (conv, 1, "Ciao Bob!"))

            # a resend with the same client_id is the original, and nobody gets it twice
            again = await alice2.call("message.send", {"conversation": conv, "client_id": "c-1", "text": "Ciao Bob!"})
            self.assertEqual((again["seq"], again["id"], again["duplicate"]), (1, sent["id"], True))
            with self.assertRaises(Reply) as cm:
                other = await bob.call("conversation.create", {"kind": "group", "title": "x", "members": ["alice"]})
                await alice1.call("message.send", {"conversation": other["id"], "client_id": "c-1", "text": "hi"})
            self.assertEqual(cm.exception.code, "conflict")

            # 60 messages pipelined without waiting: seqs are gap-free and arrive in order everywhere
            futures = [await alice1.send("message.send", {"conversation": conv, "client_id": "b-%d" % i,
                                                          "text": "message %d" % i}) for i in range(60)]
            replies = [await asyncio.wait_for(f, WAIT) for f in futures]
            self.assertEqual([r["data"]["seq"] for r in replies], list(range(2, 62)))
            for device in (bob, alice2):
                got = []
                while len(got) < 60:
                    m = await device.push("message")
                    if m["conversation"] == conv:
                        got.append((m["seq"], m["text"]))
                self.assertEqual(got, [(i + 2, "message %d" % i) for i in range(60)])
            await bob.quiet("message")
            # eve is in no conversation with them: she received nothing and can read nothing
            await eve.quiet("message")
            for event, data in [("message.history", {"conversation": conv}),
                                ("message.send", {"conversation": conv, "text": "let me in"}),
                                ("conversation.show", {"id": conv}),
                                ("message.search", {"conversation": conv, "q": "message"})]:
                with self.assertRaises(Reply) as cm:
                    await eve.call(event, data)
                self.assertEqual(cm.exception.code, "not_found", event)
            for c in (alice1, alice2, bob, eve):
                await c.close()
        self.run_async(go())

    def test_sync_after_reconnect_gets_exactly_the_missed_messages(self):
        async def go():
            alice, bob = await self.connect("alice"), await self.connect("bob")
            conv = await self.direct(alice, "bob")
            for i in range(3):
                await alice.call("message.send", {"conversation": conv, "client_id": "a%d" % i, "text": "before %d" % i})
            seen = 0
            while seen < 3:
                seen = (await bob.push("message"))["seq"]
            await bob.close()
            for i in range(7):
                await alice.call("message.send", {"conversation": conv, "client_id": "m%d" % i, "text": "missed %d" % i})
            bob = await self.connect("bob")
            convs = (await bob.call("conversation.list"))["conversations"]
            mine = [c for c in convs if c["id"] == conv][0]
            self.assertEqual((mine["last_seq"], mine["unread"]), (10, 10))  # bob has read nothing yet
            self.assertEqual(mine["last_message"]["text"], "missed 6")
            got, after = [], seen
            while True:
                page = await bob.call("message.history", {"conversation": conv, "after": after, "limit": 3})
                got += [(m["seq"], m["text"]) for m in page["messages"]]
                after = got[-1][0] if got else after
                if not page["more"]:
                    break
            self.assertEqual(got, [(i + 4, "missed %d" % i) for i in range(7)])
            # scrolling back from the newest
            back = await bob.call("message.history", {"conversation": conv, "before": 4, "limit": 2})
            self.assertEqual(([m["seq"] for m in back["messages"]], back["more"]), ([2, 3], True))
            with self.assertRaises(Reply) as cm:
                await bob.call("message.history", {"conversation": conv, "limit": 100000})
            self.assertEqual((cm.exception.code, cm.exception.field), ("invalid_argument", "limit"))
            await alice.close()
            await bob.close()
        self.run_async(go())

    def test_receipts_typing_and_presence(self):
        async def go():
            alice = await self.connect("alice")
            conv = await self.direct(alice, "bob")
            bob = await self.connect("bob")
            p = await alice.push("presence")
            self.assertEqual((p["user"], p["status"]), ("bob", "online"))
            listed = (await alice.call("presence.list"))["presence"]
            self.assertIn({"user": "bob", "status": "online", "last_seen": None}, listed)
            # eve shares no conversation with alice: her presence is not alice's business
            with self.assertRaises(Reply) as cm:
                await alice.call("presence.list", {"users": ["eve"]})
            self.assertEqual(cm.exception.code, "not_found")

            m = await alice.call("message.send", {"conversation": conv, "text": "Are you on the bus?"})
            await bob.push("message")
            r = await bob.call("receipt", {"conversation": conv, "read": m["seq"]})
            self.assertEqual((r["read_seq"], r["delivered_seq"], r["unread"]), (m["seq"], m["seq"], 0))
            pushed = await alice.push("receipt")
            self.assertEqual(pushed, {"conversation": conv, "user": "bob", "delivered_seq": m["seq"], "read_seq": m["seq"]})
            # bob's other device learns it too, so its unread count clears
            bob_laptop = await self.connect("bob")
            m2 = await alice.call("message.send", {"conversation": conv, "text": "Seat 12"})
            await bob.call("receipt", {"conversation": conv, "read": m2["seq"]})
            mine = await bob_laptop.push("receipt", lambda d: d["read_seq"] == m2["seq"])
            self.assertEqual(mine["user"], "bob")
            await bob_laptop.close()
            # receipts never go backwards nor beyond the conversation
            r = await bob.call("receipt", {"conversation": conv, "read": 0, "delivered": 999})
            self.assertEqual((r["read_seq"], r["delivered_seq"]), (m2["seq"], m2["seq"]))
            shown = await alice.call("conversation.show", {"id": conv})
            self.assertEqual({x["handle"]: x["read_seq"] for x in shown["members"]}, {"alice": 2, "bob": 2})

            t = await bob.call("typing", {"conversation": conv})
            self.assertTrue(t["forwarded"])
            typing = await alice.push("typing")
            self.assertEqual((typing["user"], typing["state"]), ("bob", "typing"))
            self.assertGreater(typing["expires_in_ms"], 0)
            self.assertFalse((await bob.call("typing", {"conversation": conv}))["forwarded"])  # throttled
            await bob.call("typing", {"conversation": conv, "state": "stopped"})
            self.assertEqual((await alice.push("typing"))["state"], "stopped")

            await bob.call("presence.set", {"status": "away"})
            self.assertEqual((await alice.push("presence"))["status"], "away")
            await bob.close()
            gone = await alice.push("presence")
            self.assertEqual((gone["user"], gone["status"]), ("bob", "offline"))
            self.assertTrue(gone["last_seen"].endswith("Z"))
            await alice.close()
        self.run_async(go())

    def test_tour_conversation_follows_the_tour(self):
        async def go():
            gina, eve = await self.connect("gina"), await self.connect("eve")
            convs = (await gina.call("conversation.list", {"kind": "tour"}))["conversations"]
            self.assertEqual([(c["tour_id"], c["title"]) for c in convs], [(self.tour["id"], "Vatican by night")])
            conv = convs[0]["id"]
            self.assertEqual(self.tour["conversation"], conv)
            members = (await gina.call("conversation.show", {"id": conv}))["members"]
            self.assertEqual([m["handle"] for m in members], ["alice", "bob", "gina"])
            await gina.call("message.send", {"conversation": conv, "text": "Meet at the obelisk at 19:45"})

            # eve joins the tour: she is told, and can read the whole history
            self.d.cli_json("tour", "join", str(self.tour["id"]), "eve")
            change = await eve.push("conversation.members")
            self.assertEqual((change["conversation"], change["added"]), (conv, ["eve"]))
            notice = await eve.push("message")
            self.assertEqual((notice["kind"], notice["sender"], notice["text"]), ("system", None, "eve joined the tour"))
            hist = await eve.call("message.history", {"conversation": conv})
            self.assertEqual(hist["messages"][0]["text"], "Meet at the obelisk at 19:45")

            # a tourist cannot add strangers to a tour's chat, or to a group with strangers
            with self.assertRaises(Reply) as cm:
                await eve.call("conversation.add", {"id": conv, "users": ["olga"]})
            self.assertEqual(cm.exception.code, "permission_denied")
            self.add_user("zoe")
            with self.assertRaises(Reply) as cm:
                await eve.call("conversation.create", {"kind": "group", "title": "us", "members": ["zoe"]})
            self.assertEqual((cm.exception.code, cm.exception.field), ("permission_denied", "members"))
            with self.assertRaises(Reply) as cm:
                await eve.call("conversation.leave", {"id": conv})
            self.assertEqual(cm.exception.code, "conflict")

            # leaving the tour removes her; the title follows the tour
            self.d.cli_json("tour", "leave", str(self.tour["id"]), "eve")
            change = await eve.push("conversation.members", lambda d: d["removed"])
            self.assertEqual(change["removed"], ["eve"])
            with self.assertRaises(Reply) as cm:
                await eve.call("message.history", {"conversation": conv})
            self.assertEqual(cm.exception.code, "not_found")
            self.d.cli_json("tour", "set", str(self.tour["id"]), "--title", "Vatican after dark")
            shown = await gina.call("conversation.show", {"id": conv})
            self.assertEqual(shown["title"], "Vatican after dark")
            await gina.close()
            await eve.close()
        self.run_async(go())

    def test_groups_edit_delete_search_and_locations(self):
        async def go():
            gina, alice, bob = [await self.connect(h) for h in ["gina", "alice", "bob"]]
            g = await gina.call("conversation.create", {"kind": "group", "title": "Rossi family", "members": ["alice"]})
            self.assertEqual((g["kind"], g["owner"], [m["handle"] for m in g["members"]]),
                             ("group", "gina", ["alice", "gina"]))
            conv = g["id"]
            await alice.call("conversation.add", {"id": conv, "users": ["bob"]})  # alice shares the tour with bob
            self.assertEqual((await bob.push("conversation.members"))["added"], ["bob"])

            m1 = await alice.call("message.send", {"conversation": conv, "text": "Un café buonissimo\nsecond line"})
            m2 = await bob.call("message.send", {"conversation": conv, "text": "Where is the café?"})
            loc = await gina.call("message.send", {"conversation": conv, "kind": "location", "lat": 41.9022,
                                                   "lon": 12.4539, "accuracy": 12.5, "label": "St. Peter's Square"})
            self.assertEqual(loc["location"], {"lat": 41.9022, "lon": 12.4539, "accuracy": 12.5,
                                               "label": "St. Peter's Square"})
            # numbers come out as people and JSON tools write them, not in exponent form (4.19022E1)
            _, text = self.d.curl("GET", "/v1/conversations/%d/messages" % conv, raw=True)
            self.assertIn('"location":{"lat":41.9022,"lon":12.4539,"accuracy":12.5', text)
            found = await bob.call("message.search", {"conversation": conv, "q": "cafe"})
            self.assertEqual(sorted(m["seq"] for m in found["messages"]), sorted([m1["seq"], m2["seq"]]))
            self.assertEqual(len((await bob.call("message.search", {"conversation": conv, "q": "café buonissimo"}))["messages"]), 1)
            self.assertEqual((await bob.call("message.search", {"conversation": conv, "q": "\"OR* NEAR("}))["messages"], [])

            edited = await bob.call("message.edit", {"conversation": conv, "seq": m2["seq"], "text": "Where is the bar?"})
            self.assertIsNotNone(edited["edited_at"])
            self.assertEqual((await alice.push("message.updated"))["text"], "Where is the bar?")
            with self.assertRaises(Reply) as cm:
                await alice.call("message.edit", {"conversation": conv, "seq": m2["seq"], "text": "hijack"})
            self.assertEqual(cm.exception.code, "permission_denied")
            await alice.call("message.delete", {"conversation": conv, "seq": m1["seq"]})
            hist = (await bob.call("message.history", {"conversation": conv}))["messages"]
            tomb = [m for m in hist if m["seq"] == m1["seq"]][0]
            self.assertEqual((tomb["deleted"], tomb["text"]), (True, ""))
            self.assertEqual((await bob.call("message.search", {"conversation": conv, "q": "buonissimo"}))["messages"], [])

            # bad input gets a clear error naming the field, and stores nothing
            before = (await gina.call("conversation.show", {"id": conv}))["last_seq"]
            for data, code, field in [
                ({"conversation": conv, "text": "x" * 2001}, "payload_too_large", "text"),
                ({"conversation": conv, "text": "bell\x07"}, "invalid_argument", "text"),
                ({"conversation": conv, "text": "   "}, "invalid_argument", "text"),
                ({"conversation": conv}, "invalid_argument", "text"),
                ({"conversation": conv, "kind": "location", "lat": 91, "lon": 0}, "invalid_argument", "lat"),
                ({"conversation": conv, "kind": "sticker", "text": "x"}, "invalid_argument", "kind"),
                ({"conversation": conv, "text": 5}, "invalid_argument", "text"),
                ({"conversation": conv, "text": "x", "colour": "red"}, "unknown_field", "colour"),
                ({"conversation": conv, "kind": "file", "file": 999}, "not_found", "file"),
                ({"conversation": 424242, "text": "x"}, "not_found", "conversation"),
            ]:
                with self.assertRaises(Reply) as cm:
                    await gina.call("message.send", data)
                self.assertEqual((cm.exception.code, cm.exception.field), (code, field), data)
            self.assertEqual((await gina.call("conversation.show", {"id": conv}))["last_seq"], before)

            await alice.call("conversation.mute", {"id": conv})
            await alice.call("conversation.archive", {"id": conv})
            listed = (await alice.call("conversation.list"))["conversations"]
            self.assertNotIn(conv, [c["id"] for c in listed])
            archived = (await alice.call("conversation.list", {"archived": True}))["conversations"]
            self.assertEqual([(c["id"], c["muted"], c["archived"]) for c in archived], [(conv, True, True)])
            await alice.call("conversation.leave", {"id": conv})
            left = await gina.push("conversation.members", lambda d: d["removed"])
            self.assertEqual(left, {"conversation": conv, "added": [], "removed": ["alice"]})
            for c in (gina, alice, bob):
                await c.close()
        self.run_async(go())

    def test_conversation_list_pages_in_activity_order(self):
        as_alice = ("-H", "Tourbus-As: alice")
        earlier = [c["id"] for c in self.d.curl("GET", "/v1/conversations", extra=as_alice)[1]["conversations"]]
        ids = []
        for i in range(7):
            status, conv = self.d.curl("POST", "/v1/conversations", {"kind": "group", "title": "g%d" % i,
                                                                     "members": ["alice", "bob"]})
            self.assertEqual(status, 201, conv)
            ids.append(conv["id"])
        for i in (2, 5, 0):  # the most recently active: 0, then 5, then 2, then the rest by creation
            self.d.curl("POST", "/v1/conversations/%d/messages" % ids[i], {"text": "news"})
        seen, cursor = [], None
        while True:
            status, page = self.d.curl("GET", "/v1/conversations?limit=3" + ("&cursor=" + cursor if cursor else ""),
                                       extra=as_alice)
            self.assertEqual(status, 200, page)
            self.assertLessEqual(len(page["conversations"]), 3)
            seen += [c["id"] for c in page["conversations"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(seen, [ids[0], ids[5], ids[2], ids[6], ids[4], ids[3], ids[1]] + earlier)
        # the CLI walks every page
        listed = [json.loads(l)["id"] for l in self.d.cli("--json", "--as", "alice", "conversation", "list").stdout.splitlines()]
        self.assertEqual(listed, seen)
        status, err = self.d.curl("GET", "/v1/conversations?cursor=yesterday", extra=as_alice)
        self.assertEqual((status, err["error"]["code"], err["error"]["field"]), (400, "invalid_argument", "cursor"))

    def test_operator_watches_and_posts_over_the_control_socket(self):
        # curl over the Unix socket: operators see every conversation and may post as the platform
        status, conv = self.d.curl("POST", "/v1/conversations", {"kind": "direct", "members": ["alice", "bob"]})
        self.assertEqual(status, 201, conv)
        status, m = self.d.curl("POST", "/v1/conversations/%d/messages" % conv["id"], {"text": "Your bus is late"})
        self.assertEqual((status, m["sender"], m["seq"]), (201, None, 1))
        # acting as a user: that user's rights, not an operator's
        status, m = self.d.curl("POST", "/v1/conversations/%d/messages" % conv["id"], {"text": "ok thanks"},
                                extra=["-H", "Tourbus-As: bob"])
        self.assertEqual((status, m["sender"]), (201, "bob"))
        status, err = self.d.curl("GET", "/v1/conversations/%d/messages" % conv["id"], extra=["-H", "Tourbus-As: eve"])
        self.assertEqual((status, err["error"]["code"]), (404, "not_found"))
        status, err = self.d.curl("GET", "/v1/conversations", extra=["-H", "Tourbus-As: nobody"])
        self.assertEqual((status, err["error"]["code"]), (404, "not_found"))
        # on TCP the header is ignored: the token decides who is calling
        status, _, body = self.d.http("GET", "/v1/conversations/%d" % conv["id"], token=self.tok["eve"],
                                      headers={"Tourbus-As": "alice"})
        self.assertEqual(status, 404)


if __name__ == "__main__":
    unittest.main()
