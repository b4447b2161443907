"""Market websocket streams of the simulator: raw, combined, and the SUBSCRIBE protocol.

Routes (one aiohttp app, next to REST):

* spot: ``/ws``, ``/ws/<stream>[/<stream>...]``, ``/stream?streams=a/b/c`` (combined), and
  ccxt.pro's layout ``/stream/ws[/<anything>]``. A purely numeric path segment is ccxt's
  connection index, never a stream name, so it is ignored.
* USDⓈ-M: ``/fstream/public/...`` and ``/fstream/market/...`` with the same ``/ws`` and
  ``/stream?streams=`` forms, plus the legacy ``/fstream/ws`` and ``/fstream/stream`` that
  carry every category. On ``public`` / ``market`` a stream of the other category is
  accepted and acknowledged but never delivers, which is what Binance does.
  ``/fstream/ws/<listenKey>`` (legacy private stream) is handed to the user-data layer.

An invalid stream name in the URL refuses the upgrade with HTTP 400; in a SUBSCRIBE it gets
Binance's nested error. A client that sends more text messages than Binance allows (5/s spot,
10/s USDⓈ-M) is disconnected with close code 1008, as Binance disconnects it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from .ws_conn import Connection, IncomingLimiter, prepare, registry_for, text_frame
from .ws_fanout import MarketFanout
from .ws_protocol import check_streams, handle_request
from .ws_settings import settings_for
from .ws_streams import MAX_INCOMING_PER_S, usdm_category

_encode = msgspec.json.Encoder().encode

LegacyPrivateHandler = Callable[[web.Request, str], Awaitable[web.StreamResponse]]
LEGACY_PRIVATE_KEY = web.AppKey("foxtrot_ws_legacy_private", object)
"""Set by the user-data layer: serves ``/fstream/ws/<listenKey>``."""
FANOUT_KEY = web.AppKey("foxtrot_ws_fanout", MarketFanout)


class MarketConnection(Connection):
    """One market-stream websocket and the streams it holds (in subscription order)."""

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        kind: str,
        category: str | None,
        combined: bool,
        max_queue: int,
        fanout: MarketFanout,
    ) -> None:
        super().__init__(request, ws, "market", max_queue)
        self.kind = kind
        self.category = category
        self.combined = combined
        self._fanout = fanout
        self._streams: dict[str, bool] = {}  # name -> fed by the fan-out

    def stream_names(self) -> list[str]:
        return list(self._streams)

    def subscribe(self, streams: list[str]) -> None:
        for name in streams:
            if name in self._streams:
                continue
            fed = self._delivers(name)
            self._streams[name] = fed
            if fed:
                self._fanout.add(self.kind, name, self)

    def unsubscribe(self, streams: list[str]) -> None:
        for name in streams:
            fed = self._streams.pop(name, None)
            if fed:
                self._fanout.remove(self.kind, name, self)

    def unsubscribe_all(self) -> None:
        self.unsubscribe(list(self._streams))

    def _delivers(self, stream: str) -> bool:
        if self.kind == "spot" or self.category is None:
            return True
        return usdm_category(stream) == self.category


def add_market_routes(app: web.Application, ctx: Any) -> None:
    """Register the market-stream websocket routes on the simulator's aiohttp app."""
    fanout = MarketFanout(ctx.bus, ctx.faults)
    app[FANOUT_KEY] = fanout
    registry = registry_for(app, ctx)

    async def serve(request: web.Request, kind: str, category: str | None, combined: bool, initial: list[str]) -> web.StreamResponse:
        settings = settings_for(ctx)
        problem = check_streams(kind, initial) if initial else None
        if problem is not None:
            return web.json_response({"code": 2, "msg": problem}, status=400)
        ws = await prepare(request, settings.ping_interval(kind))
        conn = MarketConnection(request, ws, kind, category, combined, settings.max_queue, fanout)
        registry.add(conn)
        conn.start(settings.max_connection_age)
        limiter = IncomingLimiter(MAX_INCOMING_PER_S[kind])
        try:
            conn.subscribe(list(dict.fromkeys(initial)))
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                if settings.enforce_message_rate and not limiter.allow():
                    conn.outbound.flush_now()
                    conn.outbound.closed = True
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"Too many requests")
                    break
                conn.send(text_frame(_encode(handle_request(msg.data, conn))))
        finally:
            conn.unsubscribe_all()
            registry.discard(conn)
            await conn.finish()
        return ws

    def raw(kind: str, category: str | None) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await serve(request, kind, category, False, _path_streams(request.match_info.get("tail", "")))

        return handler

    def combined(kind: str, category: str | None) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await serve(request, kind, category, True, _path_streams(request.query.get("streams", "")))

        return handler

    async def legacy_usdm_raw(request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        private = app.get(LEGACY_PRIVATE_KEY)
        if private is not None and _looks_like_listen_key(tail):
            return await private(request, tail)  # type: ignore[operator]
        return await serve(request, "usdm", None, False, _path_streams(tail))

    router = app.router
    router.add_get("/ws", raw("spot", None))
    router.add_get("/ws/{tail:.+}", raw("spot", None))
    router.add_get("/stream", combined("spot", None))
    router.add_get("/stream/ws", raw("spot", None))
    router.add_get("/stream/ws/{tail:.*}", raw("spot", None))
    for category in ("public", "market"):
        router.add_get(f"/fstream/{category}/ws", raw("usdm", category))
        router.add_get(f"/fstream/{category}/ws/{{tail:.+}}", raw("usdm", category))
        router.add_get(f"/fstream/{category}/stream", combined("usdm", category))
    router.add_get("/fstream/ws", legacy_usdm_raw)
    router.add_get("/fstream/ws/{tail:.+}", legacy_usdm_raw)
    router.add_get("/fstream/stream", combined("usdm", None))


def _path_streams(tail: str) -> list[str]:
    """Stream names from a ``a/b/c`` path tail or ``streams=`` value; numeric parts are indexes."""
    return [part for part in tail.split("/") if part and not part.isdigit()]


def _looks_like_listen_key(tail: str) -> bool:
    return bool(tail) and "/" not in tail and tail.isalnum() and not tail.isdigit()
