"""Presence across nodes and the loss of a node (docs/scaling.md, "Several nodes" and "Pushes across
nodes"): three tourbusd nodes on one PostgreSQL store, linked by a real nats-server, with real
WebSocket clients of one group conversation on all three.

Presence is the best over every node's sessions: presence.list through any node shows each
connected user online, whichever node their session is on, and a user with no session offline.
A user with a session on two nodes who closes one of them stays online and nobody is told anything;
when they mark the other away each contact is told once ("away"), and when they close it each
contact is told once ("offline"), after which presence.list through every node says offline, with
the time they were last seen.

Then a node is killed (kill -9) while every client is sending messages, each one at a time. Its
clients that come back connect to the other two nodes and follow the protocol's sync
(docs/protocol.md, "Reconnecting and sync"): the pages they missed, then the message that was
not acknowledged, sent again with its original client_id ("duplicate": true when it had been
stored). Every client, those that stayed and those that came back, ends up holding every
acknowledged message once, gap-free, and no client_id was stored twice. The user who was connected
only to the dead node, and does not come back, is announced offline once to each contact by the
node the contact is on, when that node forgets the dead one (cluster.node_unheard, after 10 s
without a beat); presence.list then says offline. How long that took after the kill is printed.

It needs a PostgreSQL server: the CTest fixture postgres (TOURBUS_TEST_POSTGRES_FILE), or
TOURBUS_TEST_POSTGRES; run by hand without either, it starts a throwaway one of its own
(tests/postgres.py). And Debian's nats-server (NATS_SERVER, by default /usr/sbin/nats-server)."""

import asyncio
import collections
import json
import re
import time
import unittest

import websockets

from cluster import Member, add_users, have, rest, server, start_nats, start_nodes, until
from harness import WAIT, Daemon
from wsclient import Client

NAMES = ("tb1", "tb2", "tb3")
DEAD = "tb3"  # the node killed
# Who connects where, in this order: tia has a session on two nodes; nia never connects.
SESSIONS = (("ann", "tb1"), ("bea", "tb2"), ("cal", "tb3"), ("dan", "tb3"), ("kit", "tb3"), ("tia", "tb1"),
            ("tia", "tb2"))
USERS = ("ann", "bea", "cal", "dan", "kit", "tia", "nia")  # the group conversation's members
MOVES = {"cal": "tb1", "dan": "tb2"}  # the dead node's clients that come back, and where to
LOST = "kit"  # only on the dead node, does not come back
SENDERS = ("ann", "bea", "cal", "dan")
AT_LEAST = 3  # messages each sender has acknowledged in each stretch of the traffic
PACE = 0.1  # seconds between one client's messages (the traffic's rate)

CONFIG = """
[websocket]
events_per_second = 10000
event_burst = 10000
"""


class Conn(Member):
    """One WebSocket connection of a person to a node (cluster.Member: the conversation's `message`
    pushes in `got`), keeping the `presence` pushes it received too, in arrival order: what the
    scenario judges who was told of whom, and when."""

    def __init__(self, handle, node, client, conv):
        super().__init__(handle, node, client, conv)
        self.presence = []  # presence pushes' data: {user, status, last_seen}

    def other(self, frame):
        if frame["event"] == "presence":
            self.presence.append(frame["data"])

    def pushed(self):
        return "%s; presence pushes %s" % (super().pushed(), self.presence)

    def mark(self):
        """Where the presence pushes from now on begin."""
        self.take()
        return len(self.presence)

    def about(self, handle, since=0):
        """The presence pushes about `handle` from `since` on."""
        self.take()
        return [p for p in self.presence[since:] if p["user"] == handle]

    async def presence_list(self):
        """presence.list of every member, through this connection's node: {handle: entry}."""
        listed = await self.client.call("presence.list", {"users": list(USERS)})
        return {p["user"]: p for p in listed["presence"]}


class NodeLoss(unittest.TestCase):
    def setUp(self):
        server(self)
        self.nats = start_nats(self)
        self.nodes = start_nodes(self, NAMES, CONFIG, self.nats)
        one = self.nodes[NAMES[0]]
        self.tokens = add_users(self, one, USERS)
        made = one.cli_json("conversation", "create", "group", *USERS, "--title", "Losing a node")
        self.assertEqual(sorted(m["handle"] for m in made["members"]), sorted(USERS))
        self.conv = made["id"]

    def test_name_clash(self):
        """A second tourbusd started by mistake under a running node's name is logged by both
        (cluster.name_clash, with the other's pid), within a couple of beats."""
        name = NAMES[1]
        original = self.nodes[name]
        mark = original.log_mark()
        twin = Daemon(config=CONFIG, store_of=self.nodes[NAMES[0]], node=name, cluster={"nats": self.nats.url})
        self.addCleanup(twin.cleanup)
        twin.start()
        line = twin.wait_for(r"cluster\.name_clash node=%s other_pid=%d " % (name, original.proc.pid))
        self.assertIn("give each node its own name", line)
        original.wait_for(r"cluster\.name_clash node=%s other_pid=%d " % (name, twin.proc.pid), start=mark)

    def test_node_loss(self):
        started = time.monotonic()
        asyncio.run(asyncio.wait_for(self.connected(), 4 * WAIT))
        print("\n068_node_loss: %.1f s" % (time.monotonic() - started))

    async def connected(self):
        self.conns = []  # every connection opened, for closing at the end
        try:
            await self.scenario()
        finally:
            for c in self.conns:
                await c.client.close()

    async def open(self, handle, node):
        client = await Client.connect("ws://127.0.0.1:%d/v1/ws" % self.nodes[node].port, self.tokens[handle])
        conn = Conn(handle, node, client, self.conv)
        self.conns.append(conn)
        return conn

    async def scenario(self):
        live = {}  # (handle, node): the open connection
        for handle, node in SESSIONS:
            live[(handle, node)] = await self.open(handle, node)
        acked = {}  # seq: the answer to message.send
        settles = iter(range(1, 1000))

        def record(answer, handle, client_id, duplicate=False):
            self.assertEqual((answer["sender"], answer["client_id"], answer["duplicate"]), (handle, client_id, duplicate))
            self.assertNotIn(answer["seq"], acked, "seq %d acknowledged twice" % answer["seq"])
            acked[answer["seq"]] = answer

        async def settle():
            """Every node has handled what every other node published before now: a message sent
            through each node reaches every open connection (NATS keeps each node's publications in
            order, and a node hands them to its sessions in that order). Each node's writer has also
            committed what it was given before (its message comes after)."""
            seqs = []
            for name in sorted({node for _, node in live}):
                conn = next(c for (_, node), c in live.items() if node == name)
                client_id = "settle-%d" % next(settles)
                sent = await conn.client.call("message.send", {"conversation": self.conv, "client_id": client_id,
                                                                "text": "%s on %s: %s" % (conn.handle, name, client_id)})
                record(sent, conn.handle, client_id)
                seqs.append(sent["seq"])
            for c in live.values():
                await c.wait_seqs(seqs, "the settling messages %s" % seqs)
                await c.round_trip()

        async def presence_everywhere(want, seen=()):
            """presence.list through every open connection (so through every node) gives each member
            the status `want` says, with a last_seen for the users in `seen` (offline) and for no one
            else (online, away, or never seen)."""
            for c in live.values():
                listed = await c.presence_list()
                self.assertEqual({u: p["status"] for u, p in listed.items()}, want, "presence.list through %r" % c)
                for u, p in listed.items():
                    self.assertEqual(p["last_seen"] is not None, u in seen,
                                     "presence.list through %r: %s's last_seen: %r" % (c, u, p))

        # 1. Every member online through every node, whichever node their session is on; nia, with
        # no session, offline and never seen. While they connected, each client was told of the
        # others coming online at most once each, and never of itself.
        await settle()
        for c in live.values():
            users = [p["user"] for p in c.presence]
            self.assertEqual([p for p in c.presence if (p["status"], p["last_seen"]) != ("online", None)], [], repr(c))
            self.assertNotIn(c.handle, users, repr(c))
            self.assertEqual(sorted(users), sorted(set(users)), "%r: told twice of one user coming online" % c)
        want = {handle: "online" for handle, _ in SESSIONS}
        want["nia"] = "offline"
        await presence_everywhere(want)

        # 2. tia closes her session on tb1: she is still online on tb2, so no client is told
        # anything about her, and presence.list through every node (tb1 too) says online.
        marks = {key: c.mark() for key, c in live.items()}
        tb1 = self.nodes["tb1"]
        log = tb1.log_mark()
        await live.pop(("tia", "tb1")).client.close()
        await asyncio.to_thread(tb1.wait_for, r"net\.ws_closed user=tia\b", log)
        await settle()  # what tb1 told the others of tia's session has been handled everywhere
        for key, c in live.items():
            self.assertEqual(c.about("tia", marks[key]), [], "%r: told of tia closing one of two sessions" % c)
        await presence_everywhere(want)

        # 3. tia marks her one session (on tb2) away: each other client is told once, "away".
        tia = live[("tia", "tb2")]
        others = {key: c for key, c in live.items() if c.handle != "tia"}
        self.assertEqual(await tia.client.call("presence.set", {"status": "away"}), {"status": "away"})
        for key, c in others.items():
            await c.wait_for(lambda: c.about("tia", marks[key]), "tia's presence push (away)")
        await settle()
        for key, c in others.items():
            self.assertEqual([(p["status"], p["last_seen"]) for p in c.about("tia", marks[key])], [("away", None)],
                             "%r: tia's presence pushes" % c)
        self.assertEqual(tia.about("tia"), [], "tia told of herself")
        want["tia"] = "away"
        await presence_everywhere(want)

        # 4. tia closes it: each other client is told once, "offline" with the time; presence.list
        # through every node says offline, last seen then.
        marks = {key: c.mark() for key, c in others.items()}
        await live.pop(("tia", "tb2")).client.close()
        for key, c in others.items():
            await c.wait_for(lambda: c.about("tia", marks[key]), "tia's presence push (offline)")
        await settle()
        for key, c in others.items():
            told = c.about("tia", marks[key])
            self.assertEqual([p["status"] for p in told], ["offline"], "%r: tia's presence pushes: %s" % (c, told))
            self.assertRegex(told[0]["last_seen"] or "", r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", repr(c))
        want["tia"] = "offline"
        await presence_everywhere(want, seen=("tia",))

        # 5. tb3 killed in the middle of the traffic. Every sender sends a message every PACE
        # seconds, each once the last was answered; a client that loses its connection comes back
        # on another node, syncs, sends its unacknowledged message again with the same client_id,
        # and carries on there. Stretches: before the kill; kill (tb3's senders send back to back
        # until each has a message on its way, then tb3 is killed); after (from the kill on).
        marks = {key: c.mark() for key, c in live.items()}
        sending = {h: live[(h, node)] for h, node in SESSIONS if h in SENDERS}  # handle: its connection now
        phase = ["before"]
        answered = collections.defaultdict(collections.Counter)  # stretch: {handle: sends begun and answered in it}
        on_the_way = set()  # senders with a message written and not yet answered
        moved = {}  # handle: how it came back
        stop, progress = asyncio.Event(), asyncio.Event()

        async def come_back(handle, unanswered):
            """The protocol's reconnect: connect to another node, sync from the seqs held, send the
            unacknowledged message (`unanswered`, the params of its message.send) again, with its
            client_id."""
            old = sending[handle]
            self.assertIn(handle, MOVES, "%r lost its connection" % old)
            await asyncio.wait_for(asyncio.shield(old.client.closed), WAIT)
            old.take()
            lost_after = time.monotonic() - killed_at[0]
            new = await self.open(handle, MOVES[handle])
            sending[handle] = live[(handle, new.node)] = new
            del live[(handle, old.node)]
            have_seq = have(old.seqs())
            last_seq, pages, count = await new.sync(have_seq)
            self.assertGreaterEqual(last_seq, have_seq, repr(new))
            # Held already (pushed before the node died, or in a page): stored, so a duplicate. Not
            # held: new, or stored by a commit still under way when the node died that showed only
            # after the sync's reads (a duplicate then too, pushed once a later seq comes).
            answer = await new.client.call("message.send", unanswered)
            was = {(m["sender"], m["client_id"]): m for m in old.got + pages}.get((handle, unanswered["client_id"]))
            if was:
                self.assertEqual((answer["duplicate"], answer["seq"], answer["id"]), (True, was["seq"], was["id"]),
                                 "%r: resent %s, held as %r" % (new, unanswered["client_id"], was))
            record(answer, handle, unanswered["client_id"], answer["duplicate"])
            moved[handle] = {"old": old, "new": new, "have": have_seq, "last_seq": last_seq, "pages": pages,
                             "page_count": count, "resent": dict(answer, held=was is not None), "lost_after": lost_after,
                             "back_after": time.monotonic() - killed_at[0]}

        async def sender(handle):
            n = 0
            while not stop.is_set():
                conn = sending[handle]
                n += 1
                client_id = "%s-%d" % (handle, n)
                params = {"conversation": self.conv, "client_id": client_id, "text": "%s: %s" % (handle, client_id)}
                began = phase[0]
                try:
                    future = await conn.client.send("message.send", params)
                    on_the_way.add(handle)
                    progress.set()
                    frame = await asyncio.wait_for(future, WAIT)
                except (ConnectionError, websockets.exceptions.ConnectionClosed):
                    on_the_way.discard(handle)
                    await come_back(handle, params)
                    progress.set()
                    continue
                on_the_way.discard(handle)
                self.assertEqual(frame["event"], "reply", frame)
                record(frame["data"], handle, client_id)
                if phase[0] == began:
                    answered[began][handle] += 1
                progress.set()
                if phase[0] == "kill" and conn.node == DEAD:
                    continue  # back to back: a message on its way when the node dies
                await rest(stop, PACE)

        def each_answered(stretch):
            return all(answered[stretch][h] >= AT_LEAST for h in SENDERS)

        killed_at = [None]
        senders = [asyncio.create_task(sender(h)) for h in SENDERS]
        try:
            await until(progress, senders, lambda: each_answered("before"),
                        "every sender to have messages answered before the kill")
            phase[0] = "kill"
            await until(progress, senders, lambda: set(MOVES) <= on_the_way,
                        "%s each to have a message on its way through %s" % (" and ".join(MOVES), DEAD))
            survivors = [name for name in NAMES if name != DEAD]
            logs = {name: self.nodes[name].log_mark() for name in survivors}
            killed_at[0] = time.monotonic()
            self.nodes[DEAD].kill9()  # at once, before the clients read anything more
            phase[0] = "after"
            lost = live.pop((LOST, DEAD))

            # 6. Each surviving node forgets tb3 once it has not been heard from for 10 s, with the
            # three users whose sessions were there; kit, the one not back elsewhere, is announced
            # offline then to each contact, once, by the contact's node.
            await until(progress, senders, lambda: set(MOVES) <= set(moved),
                        "%s to come back" % " and ".join(MOVES))
            unheard, told_at = {}, {}

            async def node_unheard(name):
                line = await asyncio.to_thread(self.nodes[name].wait_for, r"cluster\.node_unheard node=%s\b" % DEAD,
                                               logs[name])
                unheard[name] = (time.monotonic() - killed_at[0], line)

            async def told(handle):
                c = sending[handle]
                since = marks.get((handle, c.node), 0)
                await c.wait_for(lambda: c.about(LOST, since), "%s's presence push (offline)" % LOST)
                told_at[handle] = time.monotonic() - killed_at[0]

            await asyncio.gather(*[node_unheard(name) for name in survivors], *[told(h) for h in SENDERS])
            await until(progress, senders, lambda: each_answered("after"),
                        "every sender to have messages answered after the kill")
        finally:
            stop.set()
            results = await asyncio.gather(*senders, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        total = max(acked)
        self.assertEqual(sorted(acked), list(range(1, total + 1)), "every acknowledged message has its own seq")

        for name, (after, line) in unheard.items():
            self.assertRegex(line, r"cluster\.node_unheard node=%s users=3\b" % DEAD, name)
        for key, c in live.items():
            await c.round_trip()
            since = marks.get(key, 0)
            self.assertEqual([(p["user"], p["status"]) for p in c.presence[since:]], [(LOST, "offline")],
                             "%r: the presence pushes after the kill" % c)
            self.assertIsNotNone(c.presence[-1]["last_seen"], repr(c))
        for c in [moved[h]["old"] for h in MOVES] + [lost]:
            self.assertTrue(c.client.closed.done(), repr(c))
            self.assertEqual(c.presence[marks[(c.handle, DEAD)]:], [], "%r: presence pushes before it died" % c)
        want[LOST] = "offline"
        await presence_everywhere(want, seen=("tia", LOST))

        # 7. Every client holds every acknowledged message once, gap-free: those that stayed from
        # their pushes alone, in seq order (what tb3 stored and had no time to publish came from
        # the store); those that came back from their pushes on both connections and the pages
        # of their sync. No client_id was stored twice.
        def held(h):
            if h not in moved:
                return set(sending[h].seqs())
            m = moved[h]
            return set(m["old"].seqs()) | {x["seq"] for x in m["pages"]} | set(m["new"].seqs())

        everything = set(range(1, total + 1))
        for h in SENDERS:
            await sending[h].wait_for(lambda: everything <= held(h), "seqs 1..%d" % total)
            await sending[h].round_trip()
            self.assertEqual(sorted(held(h)), sorted(everything), h)
        for c in self.conns:
            seqs = c.seqs()
            twice = [s for s, n in collections.Counter(seqs).items() if n > 1]
            self.assertEqual(twice, [], "%r: seqs pushed twice" % c)
            self.assertEqual(seqs, sorted(seqs), "%r: pushes out of seq order" % c)
            for m in c.got:
                want_m = acked[m["seq"]]
                self.assertEqual((m["id"], m["sender"], m["client_id"], m["text"]),
                                 (want_m["id"], want_m["sender"], want_m["client_id"], want_m["text"]), repr(c))
        for h in SENDERS:
            if h not in moved:
                self.assertEqual(sending[h].seqs(), list(range(1, total + 1)), "%r: the pushes" % sending[h])
        for h, m in moved.items():
            for x in m["pages"]:
                self.assertEqual((x["id"], x["client_id"]), (acked[x["seq"]]["id"], acked[x["seq"]]["client_id"]), h)
        for name in NAMES:
            if name == DEAD:
                continue
            r = self.nodes[name].cli("conversation", "export", str(self.conv))
            self.assertEqual(r.returncode, 0, r.stderr)
            got = [json.loads(line) for line in r.stdout.splitlines()]
            self.assertEqual([x["seq"] for x in got], list(range(1, total + 1)), "history through %s" % name)
            self.assertEqual([(x["id"], x["client_id"]) for x in got],
                             [(acked[s]["id"], acked[s]["client_id"]) for s in range(1, total + 1)], name)
            again = [k for k, n in collections.Counter((x["sender"], x["client_id"]) for x in got).items() if n > 1]
            self.assertEqual(again, [], "history through %s: client_ids stored twice" % name)

        report = []
        for h, m in sorted(moved.items()):
            resent = m["resent"]
            report.append("  %s: connection to %s lost %.2f s after the kill, back on %s and synced at %.2f s "
                          "(held seqs up to %d, last_seq %d, %d messages in %d pages); resent %s: duplicate %s, "
                          "seq %d, %s"
                          % (h, DEAD, m["lost_after"], m["new"].node, m["back_after"], m["have"], m["last_seq"],
                             len(m["pages"]), m["page_count"], resent["client_id"], str(resent["duplicate"]).lower(),
                             resent["seq"], "held before" if resent["held"] else "not held before"))
        print("\n%d messages; %s killed with %s each sending:\n%s\n%s announced offline after the kill: %s; "
              "pushes reached %s"
              % (total, DEAD, " and ".join(MOVES), "\n".join(report), LOST,
                 ", ".join("%s logged %s at %.1f s" % (name, re.search(r"cluster\.node_unheard \S+ \S+", line).group(0),
                                                        after) for name, (after, line) in sorted(unheard.items())),
                 ", ".join("%s (%s) at %.1f s" % (h, sending[h].node, told_at[h]) for h in SENDERS)))


if __name__ == "__main__":
    unittest.main()
