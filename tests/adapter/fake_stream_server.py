"""A tiny Binance market-stream server on 127.0.0.1 for protocol-exact client tests.

It speaks only what the stream client relies on: combined-stream paths (``/stream``,
``/fstream/{public,market}/stream``), SUBSCRIBE/UNSUBSCRIBE acked as ``{"result":null,"id":N}``,
the nested error form for refused streams, and frames wrapped as ``{"stream":..,"data":..}``.
Tests push frames and drop sockets at will. It runs on its own thread and loop, like the real
simulator, so the client's loop holds nothing but the client; every wait is on an event.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

T = TypeVar("T")


@dataclass
class FakeConn:
    path: str
    request: web.Request
    ws: web.WebSocketResponse
    streams: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    pongs: int = 0
    open: bool = True


class FakeStreamServer:
    """Use as a context manager; ``await``-able helpers run on the server loop."""

    def __init__(self) -> None:
        self.conns: list[FakeConn] = []
        self.events: list[tuple[str, int]] = []
        """("open"|"subscribed"|"closed", connection index) in the order they happened."""
        self.refuse: set[str] = set()
        self.flat_errors = False  # refuse in the flat form of Binance's docs table instead of the nested one
        self.hold_replies_from: int | None = None
        """Sockets with this index or higher get their replies only on release_replies()."""
        self._held: list[tuple[web.WebSocketResponse, str]] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fake-binance-streams", daemon=True)
        self._changed: asyncio.Event | None = None
        self.port = 0
        app = web.Application()
        for path in ("/stream", "/fstream/public/stream", "/fstream/market/stream"):
            app.router.add_get(path, self._serve)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> FakeStreamServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    async def _start(self) -> None:
        self._changed = asyncio.Event()
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        for conn in self.conns:
            if conn.open:
                conn.request.transport.abort()  # type: ignore[union-attr]
        await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what tests await ---------------------------------------------------------------
    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait (on events, never polling) until ``predicate()`` holds on the server's state."""
        await self.call(self._until(predicate, timeout))

    async def push(self, stream: str, data: Any) -> int:
        """Send one combined frame to every socket holding ``stream``; returns how many got it."""
        return await self.call(self._push(stream, json.dumps({"stream": stream, "data": data})))

    async def push_raw(self, stream: str, text: str) -> int:
        """Send ``text`` as-is to every socket holding ``stream`` (malformed frames)."""
        return await self.call(self._push(stream, text))

    async def drop_all(self) -> None:
        """Abort every socket without a close frame (the client sees code 1006)."""
        await self.call(self._drop_all())

    async def release_replies(self) -> None:
        await self.call(self._release())

    async def ping_all(self) -> None:
        """Send a websocket PING on every open socket, as Binance does every 20 s (spot)."""
        await self.call(self._ping_all())

    # -- views (read from the test thread after an until()) ---------------------------------
    def open_conns(self) -> list[FakeConn]:
        return [c for c in self.conns if c.open]

    def subscribes(self) -> list[list[str]]:
        return [r["params"] for c in self.conns for r in c.requests if r.get("method") == "SUBSCRIBE"]

    def holding(self, stream: str) -> list[FakeConn]:
        return [c for c in self.conns if c.open and stream in c.streams]

    # -- server loop side ---------------------------------------------------------------
    def _notify(self) -> None:
        assert self._changed is not None
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _until(self, predicate: Callable[[], bool], timeout: float) -> None:
        deadline = self.loop.time() + timeout
        while not predicate():
            assert self._changed is not None
            event = self._changed
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                raise TimeoutError("condition not reached on the fake server")
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                raise TimeoutError("condition not reached on the fake server") from None

    async def _push(self, stream: str, text: str) -> int:
        sent = 0
        for conn in self.conns:
            if conn.open and stream in conn.streams and not conn.ws.closed:
                await conn.ws.send_str(text)
                sent += 1
        return sent

    async def _release(self) -> None:
        self.hold_replies_from = None
        held, self._held = self._held, []
        for ws, text in held:
            if not ws.closed:
                await ws.send_str(text)

    async def _ping_all(self) -> None:
        for conn in self.conns:
            if conn.open and not conn.ws.closed:
                await conn.ws.ping(b"binance")

    async def _drop_all(self) -> None:
        for conn in self.conns:
            if conn.open:
                conn.request.transport.abort()  # type: ignore[union-attr]

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)  # so that the client's PONGs reach us
        await ws.prepare(request)
        conn = FakeConn(request.path, request, ws)
        self.conns.append(conn)
        index = len(self.conns) - 1
        self.events.append(("open", index))
        self._notify()
        try:
            async for msg in ws:
                if msg.type is WSMsgType.PONG:
                    conn.pongs += 1
                    self._notify()
                    continue
                if msg.type is WSMsgType.PING:
                    await ws.pong(msg.data)
                    continue
                if msg.type is not WSMsgType.TEXT:
                    continue
                body = json.loads(msg.data)
                conn.requests.append(body)
                method, params, rid = body.get("method"), body.get("params", []), body.get("id")
                refused = [s for s in params if s in self.refuse]
                if method == "SUBSCRIBE" and refused:
                    error = {"code": 2, "msg": f"Invalid request: unknown stream `{refused[0]}`"}
                    reply: dict[str, Any] = {**error, "id": rid} if self.flat_errors else {"error": error, "id": rid}
                else:
                    if method == "SUBSCRIBE":
                        conn.streams.update(params)
                        self.events.append(("subscribed", index))
                    elif method == "UNSUBSCRIBE":
                        conn.streams.difference_update(params)
                    reply = {"result": None, "id": rid}
                if self.hold_replies_from is not None and index >= self.hold_replies_from:
                    self._held.append((ws, json.dumps(reply)))
                else:
                    await ws.send_str(json.dumps(reply))
                self._notify()
        finally:
            conn.open = False
            self.events.append(("closed", index))
            self._notify()
        return ws
