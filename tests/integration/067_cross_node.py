"""Pushes across nodes (docs/scaling.md, "Pushes across nodes"): three tourbusd nodes on one
PostgreSQL store, linked by a real nats-server (cluster.nats), with real WebSocket clients of one
group conversation, two on each node. A message sent on one node reaches the clients on the other
two as a `message` push with the seq its sender was answered; thirty messages sent at once from
every node reach every client once each, in seq order. Then nats-server is killed in the middle
of the traffic and started again on its port: every node notices (cluster.nats_disconnected,
status "nats": "disconnected"), chat goes on (every message is acknowledged), every node connects
and subscribes again by itself (cluster.nats_reconnected, "connected", and nats-server's /connz
lists the three subscribed); every message sent from then on reaches every client live; no
client gets a message pushed twice; every client holds every acknowledged message once,
gap-free, from its pushes and the protocol's sync (docs/protocol.md, "Reconnecting and sync"),
and every node's history holds them all. Nothing acknowledged is lost to the outage: each client's
pushes alone hold every message, gap-free and in seq order (what a node missed came from the
store). How each client received the other nodes' messages sent during the outage (live while
down, after the restart) is printed. Last, rights taken away through one node (a new role, a
revoked token, a disabled user) reach the sessions on the others at once, and a file uploaded
through one node is downloaded through the others (one shared files.dir).

It needs a PostgreSQL server: the CTest fixture postgres (TOURBUS_TEST_POSTGRES_FILE), or
TOURBUS_TEST_POSTGRES; run by hand without either, it starts a throwaway one of its own
(tests/postgres.py). And Debian's nats-server (NATS_SERVER, by default /usr/sbin/nats-server)."""

import asyncio
import collections
import http.client
import json
import os
import shutil
import tempfile
import time
import unittest

from cluster import Member, add_users, have, rest, server, start_nats, start_nodes, until, wait_linked
from harness import WAIT
from wsclient import Client

NAMES = ("tb1", "tb2", "tb3")
# Two people on each node: USERS[i] connects to NAMES[i % 3].
USERS = ("ann", "bea", "cal", "dan", "eva", "fil")
BURST = 5  # messages each client sends at once in the concurrent round (6 x 5 = 30)
AT_LEAST = 3  # messages each client has acknowledged in each stretch of the outage round
PACE = 0.1  # seconds between one client's messages in the outage round (the traffic's rate)

CONFIG = """
[websocket]
events_per_second = 10000
event_burst = 10000
"""


def raw_get(node, path, token):
    """GET through the node's TCP listener: (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=WAIT)
    try:
        conn.request("GET", path, headers={"Authorization": "Bearer " + token})
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


class CrossNode(unittest.TestCase):
    def setUp(self):
        server(self)
        self.nats = start_nats(self)
        # The nodes share one files.dir (docs/scaling.md, "Files on several nodes").
        self.files = tempfile.mkdtemp(prefix="tourbus-files-")
        self.addCleanup(shutil.rmtree, self.files, True)
        config = CONFIG + "\n[files]\ndir = %s\n" % json.dumps(self.files)
        # Back once each node is connected to nats-server, and the server has the three subscribed.
        self.nodes = start_nodes(self, NAMES, config, self.nats)
        self.assertEqual(self.nats_states(), {name: "connected" for name in NAMES})
        one = self.nodes[NAMES[0]]
        self.tokens = add_users(self, one, USERS)
        made = one.cli_json("conversation", "create", "group", *USERS, "--title", "Across the nodes")
        self.assertEqual(sorted(m["handle"] for m in made["members"]), sorted(USERS))
        self.conv = made["id"]

    def wait_logged(self, pattern, marks):
        """Every node logged a line matching `pattern` after its mark."""
        for name, d in self.nodes.items():
            d.wait_for(pattern, start=marks[name])

    def nats_states(self):
        """What each node's status says of its NATS connection."""
        return {name: d.cli_json("status")["nats"] for name, d in self.nodes.items()}

    async def connect(self):
        members = []
        for i, handle in enumerate(USERS):
            name = NAMES[i % len(NAMES)]
            client = await Client.connect("ws://127.0.0.1:%d/v1/ws" % self.nodes[name].port, self.tokens[handle])
            members.append(Member(handle, name, client, self.conv))
        return members

    def test_no_socketio_recovery(self):
        """Socket.IO connection state recovery is off on a cluster linked by NATS (an offset, the
        highest message id a node pushed, could skip another node's message): the CONNECT answer
        carries no pid, whatever socketio.recovery_seconds says."""
        for name, node in self.nodes.items():
            status, _, body = node.http("GET", "/socket.io/?EIO=4&transport=polling")
            self.assertEqual(status, 200, body)
            at = "/socket.io/?EIO=4&transport=polling&sid=" + json.loads(body[1:])["sid"]
            connect = "40" + json.dumps({"token": self.tokens[USERS[0]]})
            status, _, body = node.http("POST", at, connect, headers={"Content-Type": "text/plain;charset=UTF-8"})
            self.assertEqual((status, body), (200, "ok"), name)
            status, _, body = node.http("GET", at)
            self.assertTrue(body.startswith("40{"), "%s: %r" % (name, body))
            answer = json.loads(body[2:])
            self.assertIn("sid", answer, name)
            self.assertNotIn("pid", answer, name)

    def test_pushes_cross_nodes(self):
        started = time.monotonic()
        asyncio.run(asyncio.wait_for(self.connected(), 4 * WAIT))
        print("\n067_cross_node: %.1f s" % (time.monotonic() - started))

    async def connected(self):
        members = await self.connect()
        try:
            await self.scenario(members)
        finally:
            for m in members:
                await m.client.close()

    async def scenario(self, members):
        nodes = {m.handle: m.node for m in members}  # handle: the node its client is on
        acked = {}  # seq: the acknowledged message (the answer to message.send)

        async def send(member, client_id):
            sent = await member.client.call("message.send", {"conversation": self.conv, "client_id": client_id,
                                                             "text": "%s on %s: %s" % (member.handle, member.node,
                                                                                       client_id)})
            self.assertEqual((sent["sender"], sent["client_id"], sent["duplicate"]), (member.handle, client_id, False))
            self.assertNotIn(sent["seq"], acked)
            acked[sent["seq"]] = sent
            return sent

        def pushed_as_acked(member):
            """Every push `member` got is the acknowledged message of its seq."""
            for m in member.got:
                want = acked.get(m["seq"])
                self.assertIsNotNone(want, "%s got seq %d, never acknowledged: %r" % (member.handle, m["seq"], m))
                self.assertEqual((m["id"], m["sender"], m["client_id"], m["text"]),
                                 (want["id"], want["sender"], want["client_id"], want["text"]), member.handle)

        # 1. A message sent on the first node reaches every client, those on the other two nodes
        # included, as a `message` push with the seq its sender was answered.
        first = await send(members[0], "first")
        self.assertEqual(first["seq"], 1)
        for m in members:
            await m.wait_seqs([1], "the first message, sent by %s on %s" % (members[0].handle, members[0].node))
            self.assertEqual([x["seq"] for x in m.got], [1], m.handle)
        for m in members:
            pushed_as_acked(m)

        # 2. Thirty messages at once: every client sends five without waiting for answers, the
        # sends interleaved over the three nodes. The answers share out seqs 2..31; every client
        # gets each of them once, in seq order, whichever node it was sent on.
        futures = []
        for i in range(BURST):
            for m in members:
                futures.append((m, await m.client.send("message.send", {
                    "conversation": self.conv, "client_id": "burst-%s-%d" % (m.handle, i),
                    "text": "%s on %s: burst %d" % (m.handle, m.node, i)})))
        for m, future in futures:
            frame = await asyncio.wait_for(future, WAIT)
            self.assertEqual(frame["event"], "reply", frame)
            self.assertEqual((frame["data"]["sender"], frame["data"]["duplicate"]), (m.handle, False))
            acked[frame["data"]["seq"]] = frame["data"]
        total = 1 + BURST * len(members)
        self.assertEqual(sorted(acked), list(range(1, total + 1)))
        for m in members:
            await m.wait_seqs(range(1, total + 1), "seqs 1..%d" % total)
        for m in members:
            await m.round_trip()  # nothing more comes: no message twice
            self.assertEqual(sorted(m.seqs()), list(range(1, total + 1)), "%s on %s: the pushes' seqs, each once"
                             % (m.handle, m.node))
            pushed_as_acked(m)
        # In seq order on each connection (docs/protocol.md, "Delivery guarantees"; docs/scaling.md,
        # "Pushes across nodes"), whichever node each message was sent on.
        for m in members:
            seqs = m.seqs()
            late = ["%d (sent on %s) after %d (sent on %s)" % (seqs[i], nodes[acked[seqs[i]]["sender"]], seqs[i - 1],
                                                               nodes[acked[seqs[i - 1]]["sender"]])
                    for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1]]
            self.assertEqual(late, [], "%s on %s: pushes out of seq order: %s" % (m.handle, m.node, seqs))

        # 3. nats-server killed (SIGKILL) in the middle of the traffic, and started again on its
        # port. Every client sends a message every PACE seconds (each once the last was answered)
        # all along. The stretches: before; stopping (killed, not every node has noticed yet);
        # down (every node logged cluster.nats_disconnected); restarting (started again, not every
        # node subscribed again yet); after (nats-server has the three subscribed again).
        phase = ["before"]  # the stretch a send began in
        began_in = {}  # seq: the stretch its send began in
        answered_in = collections.defaultdict(list)  # stretch: [seq], sends begun and answered in it
        stop, progress = asyncio.Event(), asyncio.Event()

        async def sender(m):
            n = 0
            try:
                while not stop.is_set():
                    began = phase[0]
                    n += 1
                    sent = await send(m, "live-%s-%d" % (m.handle, n))
                    began_in[sent["seq"]] = began
                    if phase[0] == began:
                        answered_in[began].append(sent["seq"])
                    progress.set()
                    await rest(stop, PACE)
            finally:
                progress.set()

        def each_answered(stretch):
            per = collections.Counter(acked[s]["sender"] for s in answered_in[stretch])
            return all(per[m.handle] >= AT_LEAST for m in members)

        senders = [asyncio.create_task(sender(m)) for m in members]
        await until(progress, senders, lambda: each_answered("before"),
                    "every client to have messages answered before the outage")
        marks = {name: d.log_mark() for name, d in self.nodes.items()}
        phase[0] = "stopping"
        await asyncio.to_thread(self.nats.stop)
        # Every node notices that NATS is gone ...
        await asyncio.to_thread(self.wait_logged, r"cluster\.nats_disconnected\b", marks)
        self.assertEqual(await asyncio.to_thread(self.nats_states), {name: "disconnected" for name in NAMES})
        phase[0] = "down"
        # ... and chat goes on without it: every client keeps having its messages acknowledged.
        await until(progress, senders, lambda: each_answered("down"),
                    "every client to have messages answered while NATS is down")
        phase[0] = "restarting"
        # What the clients received while NATS was down: everything the nodes pushed until now.
        for m in members:
            await m.round_trip()
        pushed_in_outage = {m.handle: set(m.seqs()) for m in members}
        await asyncio.to_thread(self.nats.start)
        # Every node connects again by itself, and subscribes again.
        await asyncio.to_thread(self.wait_logged, r"cluster\.nats_reconnected\b", marks)
        await asyncio.to_thread(wait_linked, self.nats, len(self.nodes))
        self.assertEqual(await asyncio.to_thread(self.nats_states), {name: "connected" for name in NAMES})
        phase[0] = "after"
        await until(progress, senders, lambda: each_answered("after"),
                    "every client to have messages answered after the outage")
        stop.set()
        await asyncio.gather(*senders)
        total = max(acked)
        self.assertEqual(sorted(acked), list(range(1, total + 1)), "every acknowledged message has its own seq")

        # 4. Linked again: every message sent once the nodes were subscribed again reaches every
        # client live, whichever node it was sent on.
        after = sorted(seq for seq, stretch in began_in.items() if stretch == "after")
        for m in members:
            await m.wait_seqs(after, "the %d messages sent after NATS was back, live" % len(after))

        # 5. Every client holds every acknowledged message once: what was pushed and what the sync
        # of the protocol fetches (pushes from `have` on are kept, the pages fill the gaps). First
        # what each got live of the other nodes' messages sent in the outage, told before judging.
        synced, report = {}, []
        for m in members:
            await m.round_trip()
            synced[m.handle] = await m.sync(have(m.seqs()))
            pushed = set(m.seqs())
            line = []
            for stretch in ("down", "restarting"):
                remote = [s for s in answered_in[stretch] if nodes[acked[s]["sender"]] != m.node]
                line.append("%s: %d sent on other nodes, %d pushed while NATS was down, %d pushed after, %d "
                            "only through sync" % (stretch, len(remote), len(set(remote) & pushed_in_outage[m.handle]),
                                                   len((set(remote) & pushed) - pushed_in_outage[m.handle]),
                                                   len(set(remote) - pushed)))
            report.append("  %s on %s: %s" % (m.handle, m.node, "; ".join(line)))
        print("\n%d messages, %d of them sent while every node saw NATS down (seqs %s); what each client got live "
              "of the other nodes' messages sent then (down), and after the restart before every node was "
              "subscribed again (restarting):\n%s"
              % (total, len(answered_in["down"]), sorted(answered_in["down"]), "\n".join(report)))
        for m in members:
            pushed = m.seqs()
            twice = [s for s, n in collections.Counter(pushed).items() if n > 1]
            self.assertEqual(twice, [], "%s on %s: seqs pushed twice" % (m.handle, m.node))
            pushed_as_acked(m)
            # Nothing acknowledged was lost to the outage: what the other nodes stored while this
            # one heard nothing from them came from the store (the gap behind a later push, or the
            # catch-up when NATS was back), so the pushes alone hold every message, in seq order.
            self.assertEqual(pushed, list(range(1, total + 1)), "%s on %s: the pushes, in order and gap-free"
                             % (m.handle, m.node))
            last_seq, pages, _ = synced[m.handle]
            self.assertEqual(last_seq, total, m.handle)
            for page_message in pages:
                want = acked[page_message["seq"]]
                self.assertEqual((page_message["id"], page_message["client_id"]), (want["id"], want["client_id"]))
            held = set(pushed) | {x["seq"] for x in pages}
            self.assertEqual(sorted(held), list(range(1, total + 1)), "%s on %s: what it holds after sync"
                             % (m.handle, m.node))
            # Its own node's messages reached it live all along.
            local = [s for s, a in acked.items() if nodes[a["sender"]] == m.node]
            self.assertEqual(sorted(set(local) - set(pushed)), [],
                             "%s on %s: messages sent on its own node, not pushed" % (m.handle, m.node))

        # 6. Every node's history holds every acknowledged message, gap-free (the CLI's export
        # pages through message.history on that node).
        for name, d in self.nodes.items():
            r = d.cli("conversation", "export", str(self.conv))
            self.assertEqual(r.returncode, 0, r.stderr)
            got = [json.loads(line) for line in r.stdout.splitlines()]
            self.assertEqual([x["seq"] for x in got], list(range(1, total + 1)), "history through %s" % name)
            self.assertEqual([(x["id"], x["client_id"]) for x in got],
                             [(acked[s]["id"], acked[s]["client_id"]) for s in range(1, total + 1)], name)

        # 7. Rights taken away through one node reach the sessions on the others at once: a role
        # changed through tb1 applies to the next request of a session on tb3; a token revoked
        # through tb2 closes its session on tb3 (4003); a user disabled through tb3 has their
        # session on tb1 closed. The sessions of others go on.
        by = {m.handle: m for m in members}
        cal, fil, dan, bea = by["cal"], by["fil"], by["dan"], by["bea"]
        self.assertEqual((cal.node, fil.node, dan.node, bea.node), ("tb3", "tb3", "tb1", "tb2"))
        mark = self.nodes["tb3"].log_mark()
        r = self.nodes["tb1"].cli("user", "set", "cal", "--role", "guide")
        self.assertEqual(r.returncode, 0, r.stderr)
        await asyncio.to_thread(self.nodes["tb3"].wait_for, r"net\.ws_role_changed user=cal session=\d+ role=guide",
                                start=mark)
        self.assertEqual((await cal.client.call("me"))["role"], "guide")
        listed = [json.loads(line) for line in
                  self.nodes["tb2"].cli("--json", "token", "list", "--user", "fil").stdout.splitlines()]
        r = self.nodes["tb2"].cli("token", "revoke", str(listed[-1]["id"]))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(await asyncio.wait_for(fil.client.closed, WAIT), (4003, "the token was revoked"))
        r = self.nodes["tb3"].cli("user", "disable", "dan")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(await asyncio.wait_for(dan.client.closed, WAIT), (4003, "the account was disabled"))
        for m in (cal, bea):
            self.assertEqual((await m.client.call("me"))["handle"], m.handle)

        # 8. A file uploaded through one node is shown and downloaded through the others (one
        # shared files.dir); each node received its uploads in its own incoming/ directory.
        pdf = b"%PDF-1.4\n% shared between the nodes\n" + os.urandom(64).hex().encode() + b"\n%%EOF\n"
        status, _, f = self.nodes["tb1"].http("POST", "/v1/files?name=plan.pdf", pdf, token=self.tokens["ann"],
                                              headers={"Content-Type": "application/pdf"})
        self.assertEqual(status, 201, f)
        sent = await by["ann"].client.call("message.send", {"conversation": self.conv, "kind": "file", "file": f["id"],
                                                            "client_id": "the-plan"})
        for name, handle in (("tb2", "bea"), ("tb3", "cal")):
            status, headers, body = raw_get(self.nodes[name], "/v1/files/%d/content" % f["id"], self.tokens[handle])
            self.assertEqual((status, body), (200, pdf), "%s through %s" % (handle, name))
            self.assertEqual(headers["content-type"], "application/pdf")
        await by["bea"].wait_seqs([sent["seq"]], "the message with the file")
        self.assertEqual(by["bea"].got[-1]["file"]["sha256"], f["sha256"])
        self.assertEqual(sorted(os.listdir(os.path.join(self.files, "incoming"))), sorted(NAMES))


if __name__ == "__main__":
    unittest.main()
