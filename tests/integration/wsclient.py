"""A small asyncio WebSocket client for the tests, on Debian's python3-websockets: requests are
matched to replies by ref, server pushes are kept in order for the test to inspect."""

import asyncio
import itertools
import json

import websockets

from harness import WAIT


class Reply(Exception):
    """An error reply: .code, .message, .field."""

    def __init__(self, data):
        super().__init__("%s: %s" % (data.get("code"), data.get("message")))
        self.code = data.get("code")
        self.message = data.get("message")
        self.field = data.get("field")


class Client:
    def __init__(self, ws):
        self.ws = ws
        self.refs = itertools.count(1)
        self.waiting = {}
        self.pushes = []  # server pushes not yet taken, in arrival order
        self.arrived = asyncio.Event()
        self.closed = asyncio.get_running_loop().create_future()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, url, token=None, **kw):
        if token:
            url += ("&" if "?" in url else "?") + "access_token=" + token
        ws = await websockets.connect(url, max_size=None, **kw)
        return cls(ws)

    async def _read(self):
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                ref = frame.get("ref")
                if ref is not None and ref in self.waiting:
                    self.waiting.pop(ref).set_result(frame)
                else:
                    self.pushes.append(frame)
                    self.arrived.set()
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result((self.ws.close_code, self.ws.close_reason))
            self.arrived.set()
            for f in self.waiting.values():
                if not f.done():
                    f.set_exception(ConnectionError("closed"))

    async def send(self, event, data=None):
        """Sends a request; returns a future for its reply frame."""
        ref = next(self.refs)
        fut = asyncio.get_running_loop().create_future()
        self.waiting[ref] = fut
        frame = {"event": event, "ref": ref}
        if data is not None:
            frame["data"] = data
        await self.ws.send(json.dumps(frame))
        return fut

    async def call(self, event, data=None):
        """Sends a request and returns the reply's data; raises Reply on an error."""
        frame = await asyncio.wait_for(await self.send(event, data), WAIT)
        if frame["event"] == "error":
            raise Reply(frame["data"])
        return frame["data"]

    async def push(self, event=None, where=lambda data: True):
        """Takes the earliest server push of this event (matching `where`); others stay queued."""
        async def wait():
            while True:
                for i, frame in enumerate(self.pushes):
                    if (event is None or frame["event"] == event) and where(frame["data"]):
                        return self.pushes.pop(i)["data"]
                if self.closed.done():
                    raise ConnectionError("closed while waiting for %s" % event)
                self.arrived.clear()
                await self.arrived.wait()
        return await asyncio.wait_for(wait(), WAIT)

    async def quiet(self, event):
        """Asserts that no push of this event is queued, after a round trip that every earlier
        push would have preceded."""
        await self.call("me")
        unexpected = [f["data"] for f in self.pushes if f["event"] == event]
        if unexpected:
            raise AssertionError("unexpected %s push: %r" % (event, unexpected))

    async def close(self):
        await self.ws.close()
        await self.reader
