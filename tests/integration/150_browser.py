"""examples/chat.html in a real browser: headless Chromium, driven over the Chrome DevTools
Protocol (python3-websockets), opens the page from the repository, connects to the real daemon with
alice's token, shows what bob sends from the terminal, sends what is typed into it, never renders a
message as HTML, and rides out a `kill -9` and restart of the daemon (on the same port): it
reconnects by itself, syncs, resends what was typed while the daemon was down, and nothing is
stored twice. Chromium is installed by scripts/setup.sh; without it this test fails."""

import collections
import json
import pathlib
import unittest

from browser import Browser
from harness import DaemonTest, wait_until

CHAT_HTML = pathlib.Path(__file__).resolve().parent.parent.parent / "examples" / "chat.html"

# The page's state as the test reads it: only what is on screen.
PAGE_STATE = """({
    status: document.getElementById("status").textContent,
    title: document.getElementById("title").textContent,
    convs: [...document.querySelectorAll("#convs li")].map((li) => li.textContent),
    messages: [...document.querySelectorAll("#messages .msg")].map((d) => ({
        meta: d.querySelector(".meta")?.textContent ?? "",
        text: d.querySelector(".text").textContent,
        mine: d.classList.contains("mine"),
        unsent: d.classList.contains("unsent"),
    })),
    input: document.getElementById("text").value,
    images: document.querySelectorAll("#messages img, #messages script, #messages *[onerror]").length,
    documentTitle: document.title,
})"""


class BrowserChat(DaemonTest):
    def setUp(self):
        super().setUp()
        self.add_user("alice")
        self.add_user("bob")
        self.conv = str(self.d.cli_json("conversation", "create", "direct", "alice", "bob")["id"])
        self.browser = Browser()
        self.addCleanup(self.browser.close)

    def history(self):
        r = self.d.cli("conversation", "export", self.conv)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines()]

    def bob_sends(self, text):
        r = self.d.cli("--as", "bob", "send", self.conv, text)
        self.assertEqual(r.returncode, 0, r.stderr)

    def state(self):
        return self.browser.evaluate(PAGE_STATE)

    def describe(self):
        return self.browser.report(PAGE_STATE) + "\ndaemon log (tail):\n" + "\n".join(self.d.log_text().splitlines()[-30:])

    def wait_page(self, check, what):
        """Waits until check(page state) is true; returns that state."""
        def ready():
            state = self.state()
            return state if check(state) else None
        return wait_until(ready, what, describe=self.describe)

    def shown(self, state, text, meta_prefix=None):
        """The message is on screen once, sent (not greyed out as unsent), from the sender."""
        hits = [m for m in state["messages"] if m["text"] == text and not m["unsent"]]
        return len(hits) == 1 and (meta_prefix is None or hits[0]["meta"].startswith(meta_prefix + " · "))

    def stored(self, text, sender):
        return [m for m in self.history() if m["text"] == text and m["sender"] == sender]

    def test_chat_page_against_the_daemon_through_a_restart(self):
        b = self.browser
        b.call("Page.navigate", url=CHAT_HTML.as_uri())
        wait_until(lambda: b.evaluate("location.href === %s && document.readyState === 'complete' && "
                                      "document.getElementById('status').textContent === 'disconnected'"
                                      % json.dumps(CHAT_HTML.as_uri())), "chat.html to load", describe=self.describe)
        page_title = b.evaluate("document.title")
        self.assertEqual(page_title, "tourbus chat")

        # Connect as alice: the server URL and token typed in, the Connect button clicked.
        port = self.d.port
        b.type("#url", "ws://127.0.0.1:%d/v1/ws" % port)
        b.type("#token", self.token("alice"))
        b.click("#connect")
        self.wait_page(lambda s: s["status"] == "connected as alice", "the page to connect")
        self.wait_page(lambda s: s["convs"] == ["bob"], "the direct conversation with bob in the list")
        b.click("#convs li", "bob")
        self.wait_page(lambda s: s["title"].strip() == "bob" and b.evaluate("document.activeElement.id") == "text",
                       "the conversation to open")

        # bob, from the terminal, to the page
        self.bob_sends("Hello from the terminal")
        self.wait_page(lambda s: self.shown(s, "Hello from the terminal", "bob"), "bob's message on the page")

        # alice, from the page, to the daemon
        b.type("#text", "Hello from the browser", enter=True)
        wait_until(lambda: self.stored("Hello from the browser", "alice"), "alice's message to be stored",
                   describe=self.describe)
        state = self.wait_page(lambda s: self.shown(s, "Hello from the browser", "alice"), "alice's message as sent")
        self.assertTrue([m for m in state["messages"] if m["text"] == "Hello from the browser"][0]["mine"])
        self.assertEqual(state["input"], "")

        # Message text is shown as text, never parsed as HTML.
        evil = "<img src=x onerror=\"document.title='pwned'\">"
        self.bob_sends(evil)
        state = self.wait_page(lambda s: self.shown(s, evil, "bob"), "the markup shown as text")
        self.assertEqual(state["images"], 0)
        self.assertEqual(state["documentTitle"], page_title)

        # kill -9: the page notices and retries; what alice types meanwhile waits, greyed out.
        self.d.kill9()
        self.wait_page(lambda s: "retrying" in s["status"], "the page to notice the daemon is gone")
        b.type("#text", "Typed while the daemon was down", enter=True)
        self.wait_page(lambda s: [m for m in s["messages"] if m["text"] == "Typed while the daemon was down"
                                  and m["unsent"]], "the unsent line shown as sending")
        # The same state dir on the same port: the page reconnects to the URL it has.
        self.d.start(listen="127.0.0.1:%d" % port)
        self.assertEqual(self.d.port, port)
        self.bob_sends("After the restart")
        self.wait_page(lambda s: self.shown(s, "After the restart", "bob"), "bob's message after the restart")
        self.wait_page(lambda s: s["status"] == "connected as alice", "the page to be connected again")
        wait_until(lambda: self.stored("Typed while the daemon was down", "alice"),
                   "the line typed while the daemon was down to be sent after the reconnect", describe=self.describe)

        b.type("#text", "Back online", enter=True)
        wait_until(lambda: self.stored("Back online", "alice"), "alice's line after the restart to be stored",
                   describe=self.describe)

        # Everything stored exactly once, and the page shows exactly what is stored, in order.
        expected = [("bob", "Hello from the terminal"), ("alice", "Hello from the browser"), ("bob", evil),
                    ("alice", "Typed while the daemon was down"), ("bob", "After the restart"),
                    ("alice", "Back online")]
        stored = self.history()
        self.assertEqual(sorted((m["sender"], m["text"]) for m in stored), sorted(expected))
        dupes = [t for t, n in collections.Counter(m["text"] for m in stored).items() if n > 1]
        self.assertEqual(dupes, [])
        self.assertEqual([m["seq"] for m in stored], list(range(1, len(expected) + 1)))
        texts = [m["text"] for m in stored]
        state = self.wait_page(lambda s: [(m["text"], m["unsent"]) for m in s["messages"]] == [(t, False) for t in texts],
                               "the page to show exactly the stored messages, in order")
        self.assertEqual(state["images"], 0)
        self.assertEqual(b.evaluate("document.title"), page_title)  # no onerror ran, even later
        self.assertEqual(self.history(), stored)                      # and no late resend was stored


if __name__ == "__main__":
    unittest.main()
