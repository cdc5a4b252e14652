"""The chat from the command line: conversation commands, send with dedupe, export as JSON lines,
`tourbus follow` across a `kill -9` and restart (nothing lost, nothing repeated), and
`tourbus chat` driven in tmux (send-keys, capture-pane) and in plain line mode."""

import asyncio
import json
import os
import queue
import shutil
import subprocess
import threading
import time
import unittest

from harness import TOURBUS, WAIT, DaemonTest, wait_until
from wsclient import Client




class ChatCli(DaemonTest):
    def setUp(self):
        super().setUp()
        for h, role in [("alice", "tourist"), ("bob", "tourist"), ("gina", "guide"), ("eve", "tourist")]:
            self.add_user(h, role=role)
        tour = self.d.cli_json("tour", "add", "--title", "Trevi walk", "--start", "2026-12-01T10:00", "--end",
                               "2026-12-01T12:00", "--tz", "Europe/Rome", "--guide", "gina", "-p", "alice", "-p", "bob")
        self.conv = str(tour["conversation"])

    def history(self):
        return [json.loads(l) for l in self.d.cli("conversation", "export", self.conv).stdout.splitlines()]

    def test_conversation_commands_send_and_export(self):
        listed = self.d.cli("--json", "conversation", "list").stdout.splitlines()
        self.assertEqual([json.loads(l)["title"] for l in listed], ["Trevi walk"])
        r = self.d.cli("send", self.conv, "Meet at the fountain at 10")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "sent %s:1" % self.conv))
        for _ in range(2):
            sent = self.d.cli_json("--as", "alice", "send", self.conv, "On my way", "--client-id", "alice-1")
        self.assertEqual((sent["seq"], sent["duplicate"], sent["sender"]), (2, True, "alice"))
        loc = self.d.cli_json("--as", "gina", "send", self.conv, "--location", "41.9009", "12.4833", "--label", "Trevi")
        self.assertEqual(loc["location"]["label"], "Trevi")
        self.assertEqual([(m["seq"], m["sender"]) for m in self.history()], [(1, None), (2, "alice"), (3, "gina")])
        table = self.d.cli("conversation", "history", self.conv).stdout
        self.assertIn("On my way", table)
        self.assertIn("[location 41.9009,12.4833 Trevi]", table)
        found = self.d.cli("--json", "conversation", "search", self.conv, "fountain").stdout.splitlines()
        self.assertEqual([json.loads(l)["seq"] for l in found], [1])
        # eve is not a member: told it does not exist (exit 3), and nothing is stored
        r = self.d.cli("--as", "eve", "send", self.conv, "hello?")
        self.assertCliError(r, 3, "not_found")
        r = self.d.cli("--as", "nobody", "conversation", "list")
        self.assertCliError(r, 3, "not_found")
        g = self.d.cli_json("--as", "gina", "conversation", "create", "group", "alice", "bob", "-t", "Rossi family")
        self.assertEqual([m["handle"] for m in g["members"]], ["alice", "bob", "gina"])
        removed = self.d.cli_json("conversation", "remove", str(g["id"]), "bob")
        self.assertEqual([m["handle"] for m in removed["members"]], ["alice", "gina"])
        out = os.path.join(self.d.dir, "export.jsonl")
        self.assertEqual(self.d.cli("-q", "conversation", "export", self.conv, "-o", out).returncode, 0)
        with open(out) as f:
            self.assertEqual(len(f.read().splitlines()), 3)

    def test_follow_survives_kill9_and_restart(self):
        env = dict(os.environ, TOURBUS_SOCKET=self.d.socket)
        follow = subprocess.Popen([TOURBUS, "follow", self.conv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env)
        self.addCleanup(follow.kill)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in follow.stdout], daemon=True).start()
        wait_until(lambda: "following" in follow.stderr.readline(), "follow to start")

        def next_message():
            return json.loads(lines.get(timeout=WAIT))
        for i in range(3):
            self.d.cli("--as", "alice", "send", self.conv, "before %d" % i)
        self.assertEqual([next_message()["text"] for _ in range(3)], ["before 0", "before 1", "before 2"])
        self.d.kill9()
        self.d.start()
        for i in range(2):
            self.d.cli("--as", "bob", "send", self.conv, "after %d" % i)
        got = [next_message() for _ in range(2)]
        self.assertEqual([(m["seq"], m["text"]) for m in got], [(4, "after 0"), (5, "after 1")])
        self.d.cli("send", self.conv, "last")
        self.assertEqual(next_message()["seq"], 6)  # and nothing repeated in between

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.tmux_socket] + list(args), capture_output=True, text=True,
                              timeout=WAIT, env=dict(os.environ, TERM="xterm"))

    def pane(self):
        return self.tmux("capture-pane", "-p", "-t", "chat").stdout

    def test_chat_in_tmux(self):
        self.assertTrue(shutil.which("tmux"), "tmux is installed by scripts/setup.sh")
        self.tmux_socket = "tourbus-test-%d" % os.getpid()
        self.addCleanup(lambda: self.tmux("kill-server"))
        self.d.cli("send", self.conv, "Welcome aboard")
        command = "TOURBUS_SOCKET=%s %s chat --as gina %s" % (self.d.socket, TOURBUS, self.conv)
        self.assertEqual(self.tmux("new-session", "-d", "-s", "chat", "-x", "150", "-y", "40", command).returncode, 0)
        wait_until(lambda: "[Trevi walk] >" in self.pane(), "the chat prompt")
        self.assertIn("Welcome aboard", self.pane())

        self.tmux("send-keys", "-t", "chat", "Ciao a tutti", "Enter")
        wait_until(lambda: [m for m in self.history() if m["text"] == "Ciao a tutti" and m["sender"] == "gina"],
                   "the guide's line to be stored")
        self.d.cli("--as", "alice", "send", self.conv, "Is the bus late?")
        wait_until(lambda: "alice: Is the bus late?" in self.pane(), "alice's message on screen")

        async def type_as_alice():
            alice = await Client.connect("ws://127.0.0.1:%d/v1/ws" % self.d.port, self.token("alice"))
            await alice.call("typing", {"conversation": int(self.conv)})
            wait_until(lambda: "(alice typing)" in self.pane(), "the typing indicator")
            await alice.close()
        asyncio.run(asyncio.wait_for(type_as_alice(), WAIT))

        self.tmux("send-keys", "-t", "chat", "/location 41.9009 12.4833 Trevi Fountain", "Enter")
        wait_until(lambda: [m for m in self.history() if m["kind"] == "location"], "the location message")
        self.tmux("send-keys", "-t", "chat", "/who", "Enter")
        wait_until(lambda: "alice  " in self.pane() and "gina  online" in self.pane(), "/who")
        self.tmux("send-keys", "-t", "chat", "/quit", "Enter")
        wait_until(lambda: self.tmux("has-session", "-t", "chat").returncode != 0, "the chat to end")

    def test_chat_line_mode_when_not_on_a_terminal(self):
        self.d.cli("send", self.conv, "Welcome aboard")
        r = subprocess.run([TOURBUS, "--as", "bob", "chat", self.conv], input="Hello from a script\n/quit\n",
                           capture_output=True, text=True, timeout=WAIT, env=dict(os.environ, TOURBUS_SOCKET=self.d.socket))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("*: Welcome aboard", r.stdout)
        self.assertIn("bob: Hello from a script", r.stdout)
        self.assertNotIn("\x1b[", r.stdout)  # no terminal control sequences in line mode
        self.assertEqual(self.history()[-1]["text"], "Hello from a script")

    def test_chat_remotely_over_websocket_with_a_token(self):
        self.d.cli("send", self.conv, "Welcome aboard")
        url = "ws://127.0.0.1:%d" % self.d.port
        env = dict(os.environ, TOURBUS_TOKEN=self.token("alice"), TOURBUS_SOCKET="/nonexistent")
        r = subprocess.run([TOURBUS, "chat", "--server", url, self.conv], input="From my phone\n/quit\n",
                           capture_output=True, text=True, timeout=WAIT, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("alice: From my phone", r.stdout)
        self.assertEqual((self.history()[-1]["sender"], self.history()[-1]["text"]), ("alice", "From my phone"))
        # a bad token is refused with the documented exit code, and nothing is sent
        r = subprocess.run([TOURBUS, "chat", "--server", url, "--token", "tb_wrong", self.conv], input="x\n",
                           capture_output=True, text=True, timeout=WAIT, env=env)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertEqual(len(self.history()), 2)
        # a tourist not in the conversation cannot open it
        env["TOURBUS_TOKEN"] = self.token("eve")
        r = subprocess.run([TOURBUS, "chat", "--server", url, self.conv], input="x\n", capture_output=True, text=True,
                           timeout=WAIT, env=env)
        self.assertEqual(r.returncode, 3, r.stderr)


if __name__ == "__main__":
    unittest.main()
