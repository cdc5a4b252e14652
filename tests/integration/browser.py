"""Headless Chromium for the scenarios that test a page (150_browser, 160_socketio_clients,
460_call_browser): one
browser with one page, driven synchronously over the Chrome DevTools Protocol (python3-websockets).
Chromium is installed by scripts/setup.sh; without it these tests fail."""

import asyncio
import http.client
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile

import websockets

from harness import WAIT, wait_until


class Browser:
    """One headless Chromium with one page, driven synchronously over the DevTools protocol."""

    def __init__(self, extra_args=()):
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
               "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", *extra_args, "about:blank"]
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

    def report(self, state_expression):
        """For a failure: the page's state (what the expression gives, as JSON) and its console."""
        try:
            state = json.dumps(self.evaluate(state_expression), indent=1)
        except Exception as e:  # the page itself is gone
            state = repr(e)
        return "\npage: %s\npage console:\n%s" % (state, "\n".join(self.console[-30:]))

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
