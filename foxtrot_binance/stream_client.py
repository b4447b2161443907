"""Direct client for Binance's public market streams (the adapter's lean market-data path).

ccxt.pro conflates updates and spends ~30 µs of CPU per bookTicker; this client reads combined
streams with aiohttp and decodes with msgspec (perf-anchors.md), and it owns what the
production failures of Binance adapters are about (anchors-binance.md §5):

* silent stalls: a watchdog replaces a socket that delivered no data for ``stale_after``;
* Binance's 24 h cut-off: each socket is replaced make-before-break before it is reached;
* reconnect storms: one supervisor per connection, so at most one reconnect is ever in
  flight for it, with exponential backoff and full jitter, reset only once a socket has
  proved itself by delivering data;
* too many streams per connection: streams are spread over connections of at most
  ``max_streams_per_connection``, and SUBSCRIBE messages are batched and paced under
  Binance's incoming-message limit (5/s spot, 10/s USDⓈ-M, pongs included);
* USDⓈ-M routed endpoints: each stream goes to ``/public`` or ``/market`` (a stream on the
  wrong one is acknowledged and then silent, not refused).

Everything runs on the event loop the first :meth:`MarketStreamClient.subscribe` is called
on; no method is thread-safe. Delivery is a plain callback per message: no task, no queue,
no await beyond the websocket receive.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import msgspec

from foxtrot_binance.endpoints import ws_base
from foxtrot_binance.logs import OccasionalLog, get_logger
from foxtrot_binance.stream_messages import (
    ErrorBody,
    StreamKind,
    channel_of,
    data_frame_decoder,
    data_frame_type,
    decoder_for,
    frame_decoder,
    payload_type,
)

if TYPE_CHECKING:
    from loguru import Logger

    from foxtrot_binance.settings import BinanceSettings

Endpoint = Literal["spot", "public", "market"]
ConnectionState = Literal["connected", "disconnected", "reconnecting"]
OnMessage = Callable[[str, str, Any], None]
"""``on_message(channel, symbol, payload)``: channel as in ``channel_of`` (``bookTicker``,
``ticker``, ``depth5`` ...), the upper-case Binance symbol, and the decoded Struct."""

LIVE_HOSTS: dict[tuple[str, str], str] = {
    ("spot", "live"): "wss://stream.binance.com:9443",
    ("spot", "testnet"): "wss://stream.testnet.binance.vision",
    ("spot", "demo"): "wss://demo-stream.binance.com",
    ("usdm", "live"): "wss://fstream.binance.com",
    ("usdm", "testnet"): "wss://fstream.binancefuture.com",
    ("usdm", "demo"): "wss://fstream.binancefuture.com",
}
BINANCE_MESSAGE_RATE = {"spot": 5, "usdm": 10}
"""Messages per second a client may send on one connection before Binance disconnects it."""
USDM_PUBLIC_CHANNELS = frozenset({"bookTicker", "depth", "depth5", "depth10", "depth20", "trade", "rpiDepth"})
"""USDⓈ-M channels served on ``/public`` (book data, raw trades); all others are on ``/market``."""


def _kind(kind: str) -> StreamKind:
    return "spot" if kind == "spot" else "usdm"


def endpoint_of(kind: str, stream: str) -> Endpoint:
    """Which Binance endpoint serves ``stream`` for this market kind."""
    if _kind(kind) == "spot":
        return "spot"
    if stream == "!bookTicker" or channel_of(stream) in USDM_PUBLIC_CHANNELS:
        return "public"
    return "market"


def connection_url(kind: str, endpoint: Endpoint, base_url: str | None = None, server: str = "live") -> str:
    """The combined-stream URL of one endpoint.

    Live USDⓈ-M is ``wss://fstream.binance.com/{public,market}/stream``; a ``base_url`` (the
    simulator, a proxy) serves every kind on one host, so futures paths keep ``/fstream``.
    """
    spot = _kind(kind) == "spot"
    if base_url:
        root = ws_base(base_url)
        return root + ("/stream" if spot else f"/fstream/{endpoint}/stream")
    root = LIVE_HOSTS[(_kind(kind), server)]
    return root + ("/stream" if spot else f"/{endpoint}/stream")


@dataclass(frozen=True)
class StreamClientConfig:
    """Tunables; tests shrink the delays to milliseconds."""

    max_streams_per_connection: int = 200
    """Binance allows 1024 (spot) / 200 (USDⓈ-M); fewer streams per socket spread the load."""
    messages_per_second: float | None = None
    """Pace of SUBSCRIBE/UNSUBSCRIBE; None: Binance's limit minus one, room for a pong."""
    max_batch: int = 100
    """Stream names per SUBSCRIBE message."""
    reconnect_delay: float = 1.0
    """First backoff ceiling in seconds (doubles per failed attempt, full jitter)."""
    max_reconnect_delay: float = 60.0
    stable_after: float = 30.0
    """A socket that delivered data and lived this long resets the backoff; a server that
    accepts and then drops at once keeps the client backing off instead of hammering it."""
    stale_after: float = 30.0
    """A socket that delivered no data for this long is replaced. Must exceed the slowest
    stream's update interval (depth5@100ms and markPrice@1s never go quiet)."""
    max_connection_age: float = 23 * 3600.0
    """Sockets are replaced (make-before-break) after this long, less up to 2 % jitter;
    Binance cuts them at 24 h."""
    connect_timeout: float = 10.0
    ack_timeout: float = 10.0
    """A SUBSCRIBE not acknowledged in this time is logged, and the socket replaced."""
    close_timeout: float = 2.0

    @classmethod
    def from_settings(cls, settings: BinanceSettings, **overrides: Any) -> StreamClientConfig:
        values: dict[str, Any] = {"reconnect_delay": settings.reconnect_delay, "stale_after": settings.stale_after}
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class StreamEvent:
    """A connection state change, for the adapter's ``write_log``."""

    state: ConnectionState
    connection: str
    """``spot#1``, ``public#2`` ...: endpoint and a per-client connection number."""
    url: str
    reason: str = ""
    delay: float | None = None
    """Seconds until the next attempt (``reconnecting`` only)."""


class _Route:
    __slots__ = ("channel", "conn", "decoder", "frame_type", "stream", "symbol")

    def __init__(self, stream: str, kind: StreamKind, conn: _Connection) -> None:
        self.stream = stream
        self.channel = channel_of(stream)
        self.symbol = stream.split("@", 1)[0].upper()
        self.decoder = decoder_for(kind, stream)
        payload = payload_type(kind, stream)
        self.frame_type = None if payload is None else data_frame_type(stream, payload)
        self.conn = conn


class MarketStreamClient:
    """Public market streams of one market kind, over as many sockets as the limits require."""

    def __init__(
        self,
        kind: str,
        on_message: OnMessage,
        *,
        adapter_name: str = "BINANCE",
        base_url: str | None = None,
        server: str = "live",
        proxy: str | None = None,
        config: StreamClientConfig | None = None,
        on_state: Callable[[StreamEvent], None] | None = None,
    ) -> None:
        self.kind: StreamKind = _kind(kind)
        self.config = config or StreamClientConfig()
        self._on_message = on_message
        self._on_state = on_state
        self._base_url = base_url
        self._server = server
        self._proxy = proxy
        self._log: Logger = get_logger(adapter_name)
        self._routes: dict[str, _Route] = {}
        # the one-pass data path: a decoder for the union of the routes' frame types, and the
        # route of each frame type. Routes added since the last rebuild take the two-pass path
        # until the rebuild (debounced, so subscribing many symbols does not rebuild per call);
        # removed ones leave _frame_routes at once, so their frames are ignored as before.
        self._frame_decoder: msgspec.json.Decoder[Any] | None = None
        self._frame_routes: dict[type[Any], _Route] = {}
        self._rebuild: asyncio.TimerHandle | None = None
        self._pools: dict[Endpoint, list[_Connection]] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._serial = 0
        self._closed = False
        self._bad_frame_log = OccasionalLog()

    @classmethod
    def from_settings(
        cls,
        kind: str,
        on_message: OnMessage,
        settings: BinanceSettings,
        *,
        adapter_name: str = "BINANCE",
        on_state: Callable[[StreamEvent], None] | None = None,
        **config: Any,
    ) -> MarketStreamClient:
        """The client an adapter runs: hosts, proxy, backoff and watchdog from its settings."""
        return cls(
            kind,
            on_message,
            adapter_name=adapter_name,
            base_url=settings.base_url,
            server=settings.server,
            proxy=settings.proxy_url,
            config=StreamClientConfig.from_settings(settings, **config),
            on_state=on_state,
        )

    # -- public API (call on the loop) -----------------------------------------------
    @property
    def streams(self) -> frozenset[str]:
        return frozenset(self._routes)

    @property
    def connections(self) -> list[str]:
        """Labels of the open connections, e.g. ``["public#1", "market#2"]``."""
        return [conn.label for pool in self._pools.values() for conn in pool]

    def url(self, endpoint: Endpoint) -> str:
        return connection_url(self.kind, endpoint, self._base_url, self._server)

    def subscribe(self, streams: Iterable[str]) -> None:
        """Add streams; they are (re)subscribed on every socket that serves them, until removed."""
        if self._closed:
            raise RuntimeError("the stream client is closed")
        touched: set[_Connection] = set()
        for stream in streams:
            if stream in self._routes:
                continue
            conn = self._connection_with_room(endpoint_of(self.kind, stream))
            self._routes[stream] = _Route(stream, self.kind, conn)
            conn.desired[stream] = None
            touched.add(conn)
        for conn in touched:
            conn.changed()
        if touched:
            self._schedule_rebuild()

    def unsubscribe(self, streams: Iterable[str]) -> None:
        touched: set[_Connection] = set()
        for stream in streams:
            route = self._routes.pop(stream, None)
            if route is not None:
                route.conn.desired.pop(stream, None)
                touched.add(route.conn)
                if route.frame_type is not None:
                    self._frame_routes.pop(route.frame_type, None)
        for conn in touched:
            if conn.desired:
                conn.changed()
            else:
                self._retire(conn)

    async def close(self) -> None:
        """Stop every socket and task this client started; safe to call more than once."""
        self._closed = True
        if self._rebuild is not None:
            self._rebuild.cancel()
            self._rebuild = None
        conns = [conn for pool in self._pools.values() for conn in pool]
        self._pools.clear()
        self._routes.clear()
        self._frame_routes.clear()
        self._frame_decoder = None
        await asyncio.gather(*(conn.close() for conn in conns), return_exceptions=True)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        if self._http is not None:
            http, self._http = self._http, None
            await http.close()

    # -- the one-pass decoder --------------------------------------------------------
    REBUILD_DELAY = 0.05
    """Seconds a new route waits for the one-pass decoder: a burst of subscribe calls (one per
    symbol) costs one rebuild, not one each (a 1,000-stream union takes ~10 ms to build)."""

    def _schedule_rebuild(self) -> None:
        if self._rebuild is None:
            self._rebuild = asyncio.get_running_loop().call_later(self.REBUILD_DELAY, self._rebuild_decoder)

    def _rebuild_decoder(self) -> None:
        self._rebuild = None
        if self._closed:
            return
        routes = {route.frame_type: route for route in self._routes.values() if route.frame_type is not None}
        self._frame_decoder = data_frame_decoder(routes)
        self._frame_routes = routes

    # -- connections -----------------------------------------------------------------
    def _connection_with_room(self, endpoint: Endpoint) -> _Connection:
        pool = self._pools.setdefault(endpoint, [])
        for conn in pool:
            if len(conn.desired) < self.config.max_streams_per_connection:
                return conn
        self._serial += 1
        conn = _Connection(self, f"{endpoint}#{self._serial}", self.url(endpoint))
        pool.append(conn)
        return conn

    def _retire(self, conn: _Connection) -> None:
        pool = self._pools.get(conn.endpoint, [])
        if conn in pool:
            pool.remove(conn)
        task = asyncio.get_running_loop().create_task(conn.close())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _reject(self, stream: str) -> None:
        """Binance refused this stream on its own: forget it rather than retry forever."""
        route = self._routes.get(stream)
        if route is not None:
            self.unsubscribe([stream])

    def _http_session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    # -- reporting -------------------------------------------------------------------
    def _emit(self, event: StreamEvent) -> None:
        level = "INFO" if event.state == "connected" else "WARNING"
        self._log.log(level, "market stream {} {} {}", event.connection, event.state, event.reason)
        if self._on_state is not None:
            try:
                self._on_state(event)
            except Exception:
                self._log.exception("on_state callback failed")

    def _bad_frame(self, conn: _Connection, data: Any, exc: Exception) -> None:
        """Log a frame we could not use, at most once a second (a broken feed must not flood)."""
        if self._bad_frame_log.due():
            sample = bytes(data[:120]) if isinstance(data, (bytes, bytearray)) else str(data)[:120]
            self._log.warning(
                "market stream {}: skipped a malformed frame ({} so far): {}: {!r}",
                conn.label, self._bad_frames, exc, sample,
            )

    @property
    def _bad_frames(self) -> int:
        return self._bad_frame_log.count


class _Connection:
    """One logical connection: the streams it carries and the supervisor that keeps a socket for them."""

    def __init__(self, client: MarketStreamClient, label: str, url: str) -> None:
        self.client = client
        self.label = label
        self.endpoint: Endpoint = label.split("#", 1)[0]  # type: ignore[assignment]
        self.url = url
        self.desired: dict[str, None] = {}
        self.session: _Session | None = None
        self.candidate: _Session | None = None
        """The replacement socket while a make-before-break rotation is under way."""
        self._loop = asyncio.get_running_loop()
        self._wake: asyncio.Future[None] = self._loop.create_future()
        self._rotate_reason: str | None = None
        # a socket of this connection delivered data for stable_after seconds since the last
        # drop: the link is proven, even if a rotation replaced that socket since
        self._proved = False
        self._closing = False
        """Checked after every await: Python < 3.12's wait_for can swallow a cancellation that
        races with its inner future, so cancel() alone does not reliably stop the supervisor."""
        self._task = self._loop.create_task(self._supervise(), name=f"binance-stream-{label}")

    def changed(self) -> None:
        for session in (self.session, self.candidate):
            if session is not None:
                session.kick()

    def wake(self) -> None:
        if not self._wake.done():
            self._wake.set_result(None)

    def rotate_soon(self, reason: str) -> None:
        self._rotate_reason = reason
        self.wake()

    async def close(self) -> None:
        self._closing = True
        self.wake()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    # -- supervision -----------------------------------------------------------------
    async def _supervise(self) -> None:
        cfg = self.client.config
        attempt = 0
        try:
            while not self._closing:
                session, error = await self._open()
                if self._closing:
                    if session is not None:
                        await session.abort(cfg.close_timeout)
                    break
                if session is None:
                    delay = _backoff(attempt, cfg.reconnect_delay, cfg.max_reconnect_delay)
                    attempt += 1
                    self.client._emit(StreamEvent("reconnecting", self.label, self.url, error, delay))
                    await asyncio.sleep(delay)
                    continue
                self.session = session
                self._rotate_reason = None  # a fresh socket is what any pending rotation asked for
                self._proved = False
                self.client._emit(StreamEvent("connected", self.label, self.url))
                reason = await self._watch()
                current = self.session
                proved = self._proved or (
                    current is not None
                    and current.received > 0
                    and self._loop.time() - current.opened >= cfg.stable_after
                )
                await self._drop_session()
                if self._closing:
                    break
                attempt = 0 if proved else attempt
                delay = _backoff(attempt, cfg.reconnect_delay, cfg.max_reconnect_delay)
                attempt += 1
                self.client._emit(StreamEvent("disconnected", self.label, self.url, reason))
                self.client._emit(StreamEvent("reconnecting", self.label, self.url, reason, delay))
                await asyncio.sleep(delay)
        finally:
            await self._drop_session()

    async def _watch(self) -> str:
        """Run until the current socket must be replaced; rotate it in place when it is old."""
        cfg = self.client.config
        check = max(0.005, min(cfg.stale_after / 4, cfg.ack_timeout / 4, 1.0))
        last_count, last_change = -1, self._loop.time()
        while True:
            session = self.session
            if self._closing or session is None:
                return "closed by the client"
            if self._wake.done():
                self._wake = self._loop.create_future()
            timeout = max(0.001, min(check, session.rotate_at - self._loop.time()))
            await asyncio.wait([self._wake, session.done], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if session.done.done():
                return session.done.result()
            now = self._loop.time()
            if not self._proved and session.received > 0 and now - session.opened >= cfg.stable_after:
                self._proved = True
            if session.received != last_count:
                last_count, last_change = session.received, now
            elif session.acked and now - last_change >= cfg.stale_after:
                return f"no data for {cfg.stale_after:g} s"
            overdue = session.overdue_request(now, cfg.ack_timeout)
            if overdue is not None:
                return f"no reply to request {overdue} within {cfg.ack_timeout:g} s"
            if self._rotate_reason is None and now >= session.rotate_at:
                self._rotate_reason = "scheduled reconnect before Binance's 24 h limit"
            if self._rotate_reason is not None:
                await self._rotate(self._rotate_reason)
                last_count, last_change = -1, self._loop.time()

    async def _rotate(self, reason: str) -> None:
        """Make-before-break: the new socket holds every stream before the old one goes."""
        self._rotate_reason = None
        new, error = await self._open()
        if new is not None and self._closing:
            await new.abort(self.client.config.close_timeout)
            return
        if new is not None:
            new_ready = new.ready
            self.candidate = new
            try:
                done, _ = await asyncio.wait(
                    [new_ready, new.done], timeout=self.client.config.connect_timeout, return_when=asyncio.FIRST_COMPLETED
                )
            except BaseException:  # cancelled by close(): the half-built socket must not leak
                await new.abort(self.client.config.close_timeout)
                raise
            finally:
                self.candidate = None
            if new_ready in done and not new.done.done():
                old, self.session = self.session, new
                if old is not None:
                    await old.abort(self.client.config.close_timeout)
                self.client._emit(StreamEvent("connected", self.label, self.url, f"replaced the socket: {reason}"))
                return
            await new.abort(self.client.config.close_timeout)
            error = "the new socket did not take the subscriptions"
        # keep the old socket; try again in a minute (Binance's own cut-off ends it otherwise)
        self.client._log.warning("market stream {}: could not rotate ({}), retrying later", self.label, error)
        if self.session is not None:
            self.session.rotate_at = self._loop.time() + 60.0

    async def _open(self) -> tuple[_Session | None, str]:
        cfg = self.client.config
        try:
            ws = await asyncio.wait_for(
                self.client._http_session().ws_connect(
                    self.url,
                    autoping=True,
                    proxy=self.client._proxy,
                    decode_text=False,
                    timeout=aiohttp.ClientWSTimeout(ws_close=cfg.close_timeout),
                ),
                cfg.connect_timeout,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every dial failure means "back off and retry"
            return None, f"{type(exc).__name__}: {exc}"
        return _Session(self, ws), ""

    async def _drop_session(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.abort(self.client.config.close_timeout)


class _Session:
    """One websocket: reads and dispatches frames, and keeps its subscriptions equal to ``desired``."""

    def __init__(self, conn: _Connection, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        self.conn = conn
        self.ws = ws
        self.opened = loop.time()
        self.rotate_at = self.opened + conn.client.config.max_connection_age * random.uniform(0.98, 1.0)
        """Spread over the last 2 % of the age limit so that sockets opened together do not
        all rotate in the same instant."""
        self.received = 0
        self.server: set[str] = set()
        """Streams this socket holds or has been asked to hold."""
        self.acked: set[str] = set()
        self.solo: list[str] = []
        """Streams to resend one per message after Binance refused the batch they were in."""
        self.inflight: dict[int, tuple[str, list[str], float]] = {}
        self.done: asyncio.Future[str] = loop.create_future()
        self.ready: asyncio.Future[None] = loop.create_future()
        self._next_id = 0
        self._dirty = asyncio.Event()
        self._dirty.set()
        self._reader = loop.create_task(self._read(), name=f"binance-stream-{conn.label}-read")
        self._writer = loop.create_task(self._write(), name=f"binance-stream-{conn.label}-write")

    def kick(self) -> None:
        self._dirty.set()

    def overdue_request(self, now: float, timeout: float) -> int | None:
        for request_id, (_, _, sent) in self.inflight.items():
            if now - sent >= timeout:
                return request_id
        return None

    async def abort(self, close_timeout: float) -> None:
        for task in (self._writer, self._reader):
            task.cancel()
        await asyncio.gather(self._writer, self._reader, return_exceptions=True)
        with contextlib.suppress(Exception):  # a peer that never answers the close is left behind
            await asyncio.wait_for(self.ws.close(), close_timeout)
        self._finish("closed by the client")

    def _finish(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_result(reason)
        self.conn.wake()

    # -- reading ---------------------------------------------------------------------
    async def _read(self) -> None:
        client = self.conn.client
        on_message = client._on_message
        receive = self.ws.receive
        text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        bad = (msgspec.DecodeError, msgspec.ValidationError)
        reason = "connection lost"
        try:
            while True:
                msg = await receive()
                if msg.type is not text and msg.type is not binary:
                    code = self.ws.close_code
                    reason = f"connection closed (code {code})" if code else "connection lost"
                    break
                data = msg.data
                # the hot path: a data frame of a routed stream, decoded in one pass
                decoder = client._frame_decoder
                if decoder is not None:
                    try:
                        frame = decoder.decode(data)
                    except bad:
                        pass  # a reply, another stream, or malformed: the two-pass path decides
                    else:
                        route = client._frame_routes.get(type(frame))
                        if route is not None:
                            self.received += 1
                            try:
                                on_message(route.channel, route.symbol, frame.data)
                            except Exception:
                                client._log.exception("market data callback failed on {}", route.stream)
                            continue
                        # unsubscribed (perhaps subscribed again) since the decoder was built
                self._read_slow(data)
        except asyncio.CancelledError:
            reason = "closed by the client"
            raise
        except Exception as exc:  # noqa: BLE001 - any read failure ends this socket
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            self._finish(reason)

    def _read_slow(self, data: Any) -> None:
        """Any frame the one-pass decoder did not take: envelope first, then its payload."""
        client = self.conn.client
        bad = (msgspec.DecodeError, msgspec.ValidationError)
        try:
            frame = frame_decoder.decode(data)
        except bad as exc:
            client._bad_frame(self.conn, data, exc)
            return
        stream = frame.stream
        if stream is None:
            if frame.id is not None:
                self._on_reply(frame)
            return
        self.received += 1
        route = client._routes.get(stream)
        if route is None or route.decoder is None:
            if stream == "!serverShutdown":
                self.conn.rotate_soon("Binance announced a server shutdown")
            return
        try:
            payload = route.decoder.decode(frame.data)
        except bad as exc:
            client._bad_frame(self.conn, data, exc)
            return
        try:
            client._on_message(route.channel, route.symbol, payload)
        except Exception:
            client._log.exception("market data callback failed on {}", stream)

    def _on_reply(self, frame: Any) -> None:
        request = self.inflight.pop(frame.id, None) if isinstance(frame.id, int) else None
        if request is None:
            return
        method, streams, _ = request
        log = self.conn.client._log
        error = frame.error
        if error is None and frame.code is not None:
            error = ErrorBody(code=frame.code, msg=frame.msg or "")
        if error is not None:
            log.warning(
                "market stream {}: Binance refused {} {} (code {}: {})",
                self.conn.label, method, streams, error.code, error.msg,
            )
            if method == "SUBSCRIBE":
                self.server.difference_update(streams)
                if len(streams) > 1:
                    self.solo.extend(streams)
                    self.kick()
                else:
                    log.error("market stream {}: dropping stream {} that Binance refuses", self.conn.label, streams[0])
                    self.conn.client._reject(streams[0])
        elif method == "SUBSCRIBE":
            server = self.server
            self.acked.update(s for s in streams if s in server)
        self._check_ready()

    def _check_ready(self) -> None:
        if self.ready.done() or self.inflight or self.solo:
            return
        acked = self.acked
        if all(stream in acked for stream in self.conn.desired):
            self.ready.set_result(None)

    # -- writing ---------------------------------------------------------------------
    async def _write(self) -> None:
        client = self.conn.client
        cfg = client.config
        rate = cfg.messages_per_second or (BINANCE_MESSAGE_RATE[client.kind] - 1)
        interval = 1.0 / rate
        encode = msgspec.json.encode
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                while True:
                    request = self._next_request(cfg.max_batch)
                    if request is None:
                        self._check_ready()
                        break
                    method, streams = request
                    self._next_id += 1
                    self.inflight[self._next_id] = (method, streams, loop.time())
                    message = encode({"method": method, "params": streams, "id": self._next_id})
                    await self.ws.send_str(message.decode())  # Binance expects text frames
                    await asyncio.sleep(interval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a socket we cannot write to is finished
            self._finish(f"send failed: {type(exc).__name__}: {exc}")

    def _next_request(self, max_batch: int) -> tuple[str, list[str]] | None:
        desired, server = self.conn.desired, self.server
        gone = [s for s in server if s not in desired][:max_batch]
        if gone:
            server.difference_update(gone)
            self.acked.difference_update(gone)
            return "UNSUBSCRIBE", gone
        while self.solo:
            stream = self.solo.pop(0)
            if stream in desired and stream not in server:
                server.add(stream)
                return "SUBSCRIBE", [stream]
        new = [s for s in desired if s not in server][:max_batch]
        if new:
            server.update(new)
            return "SUBSCRIBE", new
        return None


def _backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0.0, min(cap, base * (2.0 ** min(attempt, 30))))
