"""examples/chat.html in a real browser: headless Chromium, driven over the Chrome DevTools
Protocol (python3-websockets), opens the page from the repository, connects to the real daemon with
alice's token, shows what bob sends from the terminal, sends what is typed into it, never renders a
message as HTML, and rides out a `kill -9` and restart of the daemon (on the same port): it
reconnects by itself, syncs, resends what was typed while the daemon was down, and nothing is
stored twice. Chromium is installed by scripts/setup.sh; without it this test fails."""

import asyncio
import collections
import http.client
import itertools
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import websockets

from harness import WAIT, DaemonTest, wait_until

CHAT_HTML = pathlib.Path(__file__).resolve().parent.parent.parent / "examples" / "chat.html"


class Browser:
    """One headless Chromium with one page, driven synchronously over the DevTools protocol."""

    def __init__(self):
        exe = shutil.which("chromium")
        if not exe:
            raise AssertionError("chromium is not installed: run scripts/setup.sh (it installs the test packages)")
        self.dir = tempfile.mkdtemp(prefix="tourbus-chromium-")
        self.profile = os.path.join(self.dir, "profile")
        self.log = open(os.path.join(self.dir, "chromium.log"), "w+")
        self.loop = asyncio.new_event_loop()
        self.ws = None
        self.ids = itertools.count(1)
        self.console = []  # console messages and uncaught exceptions of the page, for failures
        # A session of its own, so that cleanup ends chromium and every child it started.
        # --no-sandbox: the tests run as root. The rest keeps all traffic on loopback: no update,
        # sync or extension fetches, and no host name resolves (the page uses 127.0.0.1 only).
        cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
               "--user-data-dir=" + self.profile, "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
               "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "about:blank"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        try:
            port = wait_until(self._devtools_port, "chromium's DevToolsActivePort", describe=self._log_tail)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
            conn.request("GET", "/json/list")
            targets = json.loads(conn.getresponse().read())
            conn.close()
            page = next(t for t in targets if t["type"] == "page")

            async def connect():  # created inside the loop: websockets binds to the running one
                return await websockets.connect(page["webSocketDebuggerUrl"], max_size=None, ping_interval=None)
            self.ws = self.run(connect())
            self.call("Runtime.enable")
            self.call("Page.enable")
        except BaseException:
            self.close()
            raise

    def _devtools_port(self):
        if self.proc.poll() is not None:
            raise AssertionError("chromium exited (%d) before it listened%s" % (self.proc.returncode, self._log_tail()))
        try:
            with open(os.path.join(self.profile, "DevToolsActivePort")) as f:
                first = f.readline()
        except FileNotFoundError:
            return None
        return int(first) if first.endswith("\n") else None  # complete once the line is

    def _log_tail(self):
        self.log.seek(0)
        return "\nchromium's output:\n" + self.log.read()[-3000:]

    def run(self, coro):
        return self.loop.run_until_complete(asyncio.wait_for(coro, WAIT))

    def call(self, method, **params):
        """Sends a DevTools command and returns its result; events read meanwhile are kept."""
        ident = next(self.ids)

        async def exchange():
            await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
            while True:
                msg = json.loads(await self.ws.recv())
                if msg.get("id") == ident:
                    return msg
                if msg.get("method") == "Runtime.consoleAPICalled":
                    args = msg["params"]["args"]
                    self.console.append("console.%s: %s" % (msg["params"]["type"], " ".join(
                        str(a.get("value", a.get("description", ""))) for a in args)))
                elif msg.get("method") == "Runtime.exceptionThrown":
                    d = msg["params"]["exceptionDetails"]
                    self.console.append("exception: %s" % d.get("exception", {}).get("description", d.get("text")))
        msg = self.run(exchange())
        if "error" in msg:
            raise AssertionError("%s failed: %s" % (method, msg["error"]))
        return msg["result"]

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (promises are awaited)."""
        r = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise AssertionError("%s: %s" % (expression, d.get("exception", {}).get("description", d.get("text"))))
        return r["result"].get("value")

    def click(self, selector, containing=""):
        """A real mouse click in the middle of the first element matching the selector (and text)."""
        box = self.evaluate("""(() => {
            const e = [...document.querySelectorAll(%s)].find((e) => e.textContent.includes(%s));
            if (!e) return null;
            e.scrollIntoView({block: "center"});
            const r = e.getBoundingClientRect();
            return {x: r.left + r.width / 2, y: r.top + r.height / 2};
        })()""" % (json.dumps(selector), json.dumps(containing)))
        if box is None:
            raise AssertionError("nothing to click: %s containing %r" % (selector, containing))
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1)

    def type(self, selector, text, enter=False):
        """Focuses a field, replaces its content by typing `text`, and presses Enter if asked."""
        self.evaluate("(() => { const e = document.querySelector(%s); e.focus(); e.select(); })()" % json.dumps(selector))
        self.call("Input.insertText", text=text)
        if enter:
            key = dict(key="Enter", code="Enter", windowsVirtualKeyCode=13, nativeVirtualKeyCode=13)
            self.call("Input.dispatchKeyEvent", type="keyDown", text="\r", **key)
            self.call("Input.dispatchKeyEvent", type="keyUp", **key)

    def close(self):
        if self.ws is not None:
            try:
                self.run(self.ws.close())
            except Exception:
                pass
            self.ws = None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # any child left behind
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.loop.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


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
        try:
            state = json.dumps(self.state(), indent=1)
        except Exception as e:  # the page itself is gone
            state = repr(e)
        return "\npage: %s\npage console:\n%s\ndaemon log (tail):\n%s" % (
            state, "\n".join(self.browser.console[-30:]), "\n".join(self.d.log_text().splitlines()[-30:]))

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
