"""One server-side websocket connection: a send queue that never blocks the publisher.

The exchange core publishes from the event loop and must never wait for a slow client, so
every connection owns a bounded queue of ready-made frames and a writer task that drains it
into the socket in batches (one ``transport.write`` per batch: the per-message cost stays
around a microsecond, which is what lets one loop feed tens of thousands of messages per
second). Frames are built once by the fan-out and shared by every connection that wants
them. A consumer that falls ``max_queue`` frames behind is disconnected, as Binance does
with clients that do not read: buffering without bound would only delay the failure and
eat the simulator's memory.

Frames are written straight to the request's transport. That is safe next to aiohttp's own
control frames (pongs, close) because every write is a whole frame on the same loop thread,
and the connection is prepared with ``compress=False`` so no frame needs a deflate bit.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

import msgspec
from aiohttp import WSCloseCode, web
from loguru import logger

Target = Literal["market", "user"]

_encode = msgspec.json.Encoder().encode
_PACK2 = struct.Struct("!BBH").pack
_PACK8 = struct.Struct("!BBQ").pack


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final, uncompressed RFC 6455 text frame carrying ``payload``."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return _PACK2(0x81, 126, n) + payload
    return _PACK8(0x81, 127, n) + payload


class Outbound:
    """The bounded send queue and writer task of one websocket connection."""

    def __init__(self, request: web.Request, max_queue: int, on_overflow: Callable[[], None]) -> None:
        transport = request.transport
        if transport is None:  # pragma: no cover - aiohttp hands us a live request
            raise RuntimeError("request has no transport")
        self._transport = transport
        self._protocol = request.protocol
        self._queue: deque[bytes] = deque()
        self._max_queue = max_queue
        self._on_overflow = on_overflow
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def push(self, frame: bytes) -> None:
        """Queue one frame; never blocks. Overflow disconnects the client."""
        if self.closed:
            return
        queue = self._queue
        queue.append(frame)
        if len(queue) > self._max_queue:
            self.closed = True
            queue.clear()
            self._on_overflow()
            return
        self._wakeup.set()

    def flush_now(self) -> None:
        """Write whatever is queued immediately (before a close frame must follow it)."""
        if self._queue and not self._transport.is_closing():
            self._transport.write(b"".join(self._queue))
        self._queue.clear()

    async def stop(self) -> None:
        self.closed = True
        self._queue.clear()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        queue, transport, protocol = self._queue, self._transport, self._protocol
        while not self.closed:
            await self._wakeup.wait()
            self._wakeup.clear()
            while queue and not self.closed:
                if transport.is_closing():
                    self.closed = True
                    queue.clear()
                    return
                batch = queue.popleft() if len(queue) == 1 else b"".join(queue)
                queue.clear()
                transport.write(batch)
                # The kernel buffer is full: wait for aiohttp's protocol to resume writing.
                # Frames keep queueing meanwhile and the bound above cuts off a dead reader.
                while protocol.writing_paused and not transport.is_closing():
                    await asyncio.sleep(0.002)


class IncomingLimiter:
    """Binance's per-connection limit on messages *from* the client (a 1-second window)."""

    def __init__(self, per_second: int) -> None:
        self._per_second = per_second
        self._stamps: deque[float] = deque()

    def allow(self) -> bool:
        now = time.monotonic()
        stamps = self._stamps
        while stamps and now - stamps[0] >= 1.0:
            stamps.popleft()
        if len(stamps) >= self._per_second:
            return False
        stamps.append(now)
        return True


class Connection:
    """What every simulator websocket has: a target for faults, a send queue, a way out."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, target: Target, max_queue: int) -> None:
        self.request = request
        self.ws = ws
        self.target: Target = target
        self.path = request.path
        self.outbound = Outbound(request, max_queue, self._overflowed)
        self._age_timer: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[Any] | None = None

    def start(self, max_age: float | None) -> None:
        self.outbound.start()
        if max_age is not None:
            loop = asyncio.get_running_loop()
            self._age_timer = loop.call_later(max_age, self._aged)

    def send(self, frame: bytes) -> None:
        self.outbound.push(frame)

    def abort(self) -> None:
        """Drop the TCP connection without a close frame: the client sees an abnormal 1006."""
        self.outbound.closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    def close_soon(self, code: int = WSCloseCode.OK, message: bytes = b"") -> None:
        """Flush what is queued, then close cleanly with ``code`` (from the loop thread)."""
        if self._closing is None:
            self.outbound.flush_now()
            self.outbound.closed = True
            self._closing = asyncio.get_running_loop().create_task(self.ws.close(code=code, message=message))

    @property
    def closing(self) -> asyncio.Task[Any] | None:
        return self._closing

    async def finish(self) -> None:
        if self._age_timer is not None:
            self._age_timer.cancel()
        await self.outbound.stop()
        if self._closing is not None and not self._closing.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._closing), timeout=1.0)
            except Exception:  # the peer vanished mid-close (or never answered within 1 s)
                pass

    def _overflowed(self) -> None:
        logger.bind(path=self.path).warning("websocket consumer too slow: disconnected")
        self.abort()

    def _aged(self) -> None:
        self.close_soon(WSCloseCode.GOING_AWAY, b"connection age limit")


class ConnectionRegistry:
    """Every live websocket of one app, so that ``faults.drop_streams`` can reach them.

    Fault switches are flipped from a test's thread; the drop itself must happen on the
    simulator loop, hence the hop through ``call_soon_threadsafe``.
    """

    def __init__(self, faults: Any) -> None:
        self._conns: set[Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        faults.add_drop_listener(self._on_drop)

    def add(self, conn: Connection) -> None:
        self._loop = asyncio.get_running_loop()
        self._conns.add(conn)

    def discard(self, conn: Connection) -> None:
        self._conns.discard(conn)

    def connections(self, target: Target | None = None) -> list[Connection]:
        return [c for c in self._conns if target is None or c.target == target]

    def drop(self, target: str) -> None:
        for conn in list(self._conns):
            if target in ("all", conn.target):
                conn.abort()

    async def close_all(self) -> None:
        """Server shutdown: say goodbye (1001) to every client, then cut whoever lingers."""
        conns = list(self._conns)
        for conn in conns:
            conn.close_soon(WSCloseCode.GOING_AWAY, b"server shutdown")
        pending = [c.closing for c in conns if c.closing is not None]
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        for conn in conns:
            conn.abort()

    def server_shutdown(self, now_ms: int, grace: float | None = None) -> None:
        """Binance's maintenance notice: ``serverShutdown`` on every market stream, then (after
        ``grace`` seconds, if given) a 1001 close. Clients are expected to reconnect early."""
        for conn in self.connections("market"):
            event = {"e": "serverShutdown", "E": now_ms}
            payload = {"stream": "!serverShutdown", "data": event} if getattr(conn, "combined", False) else event
            conn.send(text_frame(_encode(payload)))
            if grace is not None:
                asyncio.get_running_loop().call_later(grace, conn.close_soon, WSCloseCode.GOING_AWAY, b"server shutdown")

    def on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the simulator loop, from whatever thread calls (tests do)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def _on_drop(self, target: str) -> None:
        self.on_loop(self.drop, target)


REGISTRY_KEY = web.AppKey("foxtrot_ws_registry", ConnectionRegistry)
REGISTRY_EXTRA = "ws_registry"
"""Where the registry is also published in ``ctx.extras``, for whoever holds only the context."""


def registry_for(app: web.Application, ctx: Any) -> ConnectionRegistry:
    """The app's one registry, shared by the market and user-data routes."""
    registry = app.get(REGISTRY_KEY)
    if registry is None:
        registry = ConnectionRegistry(ctx.faults)
        app[REGISTRY_KEY] = registry
        extras = getattr(ctx, "extras", None)
        if isinstance(extras, dict):
            extras[REGISTRY_EXTRA] = registry

        async def _shutdown(_app: web.Application) -> None:
            await registry.close_all()

        app.on_shutdown.append(_shutdown)
    return registry


async def prepare(request: web.Request, ping_interval: float | None) -> web.WebSocketResponse:
    """Upgrade to a websocket the way Binance does: no compression, periodic server pings."""
    ws = web.WebSocketResponse(compress=False, autoping=True, heartbeat=ping_interval, max_msg_size=1 << 20)
    await ws.prepare(request)
    return ws


def announce_server_shutdown(ctx: Any, grace: float | None = None) -> None:
    """Send Binance's ``serverShutdown`` notice on every market stream (thread-safe).

    For tests of an adapter's early reconnect: ``announce_server_shutdown(sim.ctx, grace=0.5)``
    notifies every market connection and closes each one (1001) ``grace`` seconds later.
    """
    registry = getattr(ctx, "extras", {}).get(REGISTRY_EXTRA)
    if registry is None:
        raise RuntimeError("the websocket routes are not installed on this context")
    registry.on_loop(lambda: registry.server_shutdown(ctx.now_ms(), grace))
