"""Chat under pressure: `kill -9` during a burst from several clients loses no acknowledged
message and leaves every conversation gap-free, resends after the restart are deduplicated; a
member who stops reading is dropped with 4001 while the others receive every message in order."""

import asyncio
import socket
import unittest

from harness import WAIT, DaemonTest
from wsclient import Client

CONFIG = """[websocket]
events_per_second = 100000
event_burst = 100000
send_queue_frames = 32
max_frame_bytes = 131072

[chat]
max_text_bytes = 65536
"""


class ChatLoad(DaemonTest):
    config = CONFIG

    def setUp(self):
        super().setUp()
        self.people = ["ann", "ben", "cat", "dan", "eva", "fay"]
        for h in self.people:
            self.add_user(h)
        self.add_user("gus", role="guide")
        self.tok = {h: self.token(h, "--ttl-days", "1") for h in self.people + ["gus"]}
        tour = self.d.cli_json("tour", "add", "--title", "Burst", "--start", "2026-12-01T10:00", "--end",
                               "2026-12-01T11:00", "--tz", "UTC", "--guide", "gus",
                               *[x for h in self.people for x in ("-p", h)])
        self.conv = tour["conversation"]
        self.url = "ws://127.0.0.1:%d/v1/ws" % self.d.port

    def history(self, conv):
        messages, after = [], 0
        while True:
            status, page = self.d.curl("GET", "/v1/conversations/%d/messages?after=%d" % (conv, after))
            self.assertEqual(status, 200, page)
            messages += page["messages"]
            if not page["more"]:
                return messages
            after = messages[-1]["seq"]

    def test_kill9_during_a_burst_loses_no_acknowledged_message(self):
        acked, sent = {}, {}

        async def burst():
            clients = [await Client.connect(self.url, self.tok[h]) for h in self.people]
            enough = asyncio.Event()

            async def sender(i, c):
                n = 0
                while True:
                    cid = "%s-%d" % (self.people[i], n)
                    sent[cid] = "burst %s" % cid
                    try:
                        fut = await c.send("message.send", {"conversation": self.conv, "client_id": cid, "text": sent[cid]})
                        frame = await fut
                    except Exception:
                        return  # the daemon is gone
                    if frame["event"] == "reply":
                        acked[cid] = frame["data"]["seq"]
                    if len(acked) >= 300:
                        enough.set()
                    n += 1

            tasks = [asyncio.create_task(sender(i, c)) for i, c in enumerate(clients)]
            await asyncio.wait_for(enough.wait(), WAIT)
            self.d.kill9()  # while every client still has a message in flight
            await asyncio.gather(*tasks)

        asyncio.run(asyncio.wait_for(burst(), 4 * WAIT))
        self.assertGreaterEqual(len(acked), 300)
        self.d.start()
        self.url = "ws://127.0.0.1:%d/v1/ws" % self.d.port  # a new port after the restart
        stored = self.history(self.conv)
        seqs = [m["seq"] for m in stored]
        self.assertEqual(seqs, list(range(1, len(stored) + 1)))  # gap-free
        by_cid = {m["client_id"]: m for m in stored if m["client_id"]}
        self.assertEqual(len(by_cid), len(stored))  # no duplicates
        for cid, seq in acked.items():  # every acknowledged message, with the seq it was given
            self.assertEqual((by_cid[cid]["seq"], by_cid[cid]["text"]), (seq, sent[cid]))

        # resending what was never acknowledged: stored ones come back as duplicates, others are new
        async def resend():
            clients = {h: await Client.connect(self.url, self.tok[h]) for h in self.people}
            for cid, text in sent.items():
                if cid in acked:
                    continue
                r = await clients[cid.split("-")[0]].call("message.send",
                                                          {"conversation": self.conv, "client_id": cid, "text": text})
                self.assertEqual(r["duplicate"], cid in by_cid)
            for c in clients.values():
                await c.close()
        asyncio.run(asyncio.wait_for(resend(), 4 * WAIT))
        final = self.history(self.conv)
        self.assertEqual([m["seq"] for m in final], list(range(1, len(final) + 1)))
        self.assertEqual(sorted(m["client_id"] for m in final), sorted(sent))
        print("acknowledged %d, stored at the crash %d, sent %d" % (len(acked), len(stored), len(sent)))

    def test_a_member_who_stops_reading_is_dropped_and_the_others_get_everything(self):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(WAIT)
        raw.connect(("127.0.0.1", self.d.port))
        raw.sendall(("GET /v1/ws?access_token=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" % self.tok["fay"]).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += raw.recv(1)
        self.assertIn(b" 101 ", head.split(b"\r\n")[0])
        mark = self.d.log_mark()
        count, text = 200, "x" * 30000

        async def go():
            ann, ben = await Client.connect(self.url, self.tok["ann"]), await Client.connect(self.url, self.tok["ben"])
            for i in range(count):
                await ann.call("message.send", {"conversation": self.conv, "text": "%d %s" % (i, text)})
            got = []
            while len(got) < count:
                m = await ben.push("message")
                got.append(int(m["text"].split()[0]))
            self.assertEqual(got, list(range(count)))
            await ann.close()
            await ben.close()
        asyncio.run(asyncio.wait_for(go(), 4 * WAIT))
        self.d.wait_for(r"net\.ws_too_slow user=fay", start=mark)
        raw.close()


if __name__ == "__main__":
    unittest.main()
