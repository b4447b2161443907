"""User-data streams of the simulator: the spot WebSocket API and the USDⓈ-M listenKey stream.

Routes:

* ``/ws-api/v3``: spot user data through the WebSocket API (see ws_api.py).
* ``POST/PUT/DELETE /fapi/v1/listenKey``: API-key header only, unsigned; unknown body
  params (ccxt sends ``subType=None``) are ignored. A POST while the caller's key is valid
  returns that key, extended; a PUT or DELETE on an expired/unknown key answers
  ``400 {"code":-1125}``; a missing/unknown API key answers 401 (-2014 / -2015).
* ``/fstream/private/ws?listenKey=K``, ``/fstream/private/ws/K`` and legacy
  ``/fstream/ws/K``: raw account events, no subscribe message. An unknown or expired key
  refuses the upgrade with ``400 {"code":-1125}``.

When a key expires (TTL without keep-alive, DELETE, or ``faults.expire_listen_keys()``) every
private connection on it receives ``{"e":"listenKeyExpired","E":"<ms as a string>","listenKey":K}``
and is closed; the key is gone, so its keep-alive is rejected and the next POST mints a new key.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from .errors import BinanceError
from .listen_keys import ListenKey, ListenKeyStore, no_such_key
from .ws_api import WsApiConnection
from .ws_conn import Connection, prepare, registry_for, text_frame
from .ws_fanout import UserFanout, torn
from .ws_market import LEGACY_PRIVATE_KEY
from .ws_settings import settings_for

_encode = msgspec.json.Encoder().encode

LISTEN_KEYS_KEY = web.AppKey("foxtrot_ws_listen_keys", ListenKeyStore)
USER_FANOUT_KEY = web.AppKey("foxtrot_ws_user_fanout", UserFanout)


class PrivateConnection(Connection):
    """One futures private stream: raw events of the listenKey's owner."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, max_queue: int, listen_key: ListenKey) -> None:
        super().__init__(request, ws, "user", max_queue)
        self.listen_key = listen_key

    def deliver_user(self, api_key: str, raw: bytes, malformed: bool) -> None:
        if malformed:
            self.send(torn(raw))
        self.send(text_frame(raw))


class _UserStreams:
    """State and handlers of the user-data routes of one app."""

    def __init__(self, app: web.Application, ctx: Any) -> None:
        self.ctx = ctx
        self.registry = registry_for(app, ctx)
        self.fanout = UserFanout(ctx.bus, ctx.faults)
        self.keys = ListenKeyStore(lambda: settings_for(ctx).listen_key_ttl)
        self.private: dict[str, set[PrivateConnection]] = {}
        self._generation = ctx.faults.listen_key_generation()
        self._housekeeper: asyncio.Task[None] | None = None

    # -- spot WebSocket API ---------------------------------------------------------------
    async def ws_api(self, request: web.Request) -> web.StreamResponse:
        settings = settings_for(self.ctx)
        ws = await prepare(request, settings.ping_interval("spot"))
        conn = WsApiConnection(request, ws, settings.max_queue, self.ctx, self.fanout)
        self.registry.add(conn)
        conn.start(settings.max_connection_age)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    conn.send(text_frame(_encode(conn.handle(msg.data))))
        finally:
            conn.unsubscribe_all()
            self.registry.discard(conn)
            await conn.finish()
        return ws

    # -- futures listenKey REST -----------------------------------------------------------
    async def listen_key_rest(self, request: web.Request) -> web.Response:
        try:
            api_key = request.headers.get("X-MBX-APIKEY")
            self.ctx.auth.require_key(api_key)
            assert api_key is not None
            self._check_generation()
            form = await request.post() if request.can_read_body else {}
            given = request.query.get("listenKey") or form.get("listenKey")
            given = given if isinstance(given, str) else None
            if request.method == "POST":
                entry = self.keys.create(api_key)
                self._ensure_housekeeper()
                return web.json_response({"listenKey": entry.key})
            if request.method == "PUT":
                entry = self.keys.keep_alive(api_key, given)
                return web.json_response({"listenKey": entry.key})
            deleted = self.keys.delete(api_key, given)
            if deleted is None:
                raise no_such_key()
            self._close_private(deleted, expired_event=False)
            return web.json_response({})
        except BinanceError as exc:
            return web.json_response(exc.body(), status=exc.status, headers=exc.headers or None)

    # -- futures private stream -----------------------------------------------------------
    async def private_query(self, request: web.Request) -> web.StreamResponse:
        return await self.private_stream(request, request.query.get("listenKey", ""))

    async def private_path(self, request: web.Request) -> web.StreamResponse:
        return await self.private_stream(request, request.match_info["key"])

    async def private_stream(self, request: web.Request, key: str) -> web.StreamResponse:
        self._check_generation()
        entry = self.keys.lookup(key)
        if entry is None:
            return web.json_response(no_such_key().body(), status=400)
        settings = settings_for(self.ctx)
        ws = await prepare(request, settings.ping_interval("usdm"))
        conn = PrivateConnection(request, ws, settings.max_queue, entry)
        self.registry.add(conn)
        self.private.setdefault(entry.key, set()).add(conn)
        self.fanout.add("usdm", entry.api_key, conn)
        conn.start(settings.max_connection_age)
        self._ensure_housekeeper()
        try:
            async for _msg in ws:  # the private stream takes no requests
                pass
        finally:
            self.fanout.remove("usdm", entry.api_key, conn)
            conns = self.private.get(entry.key)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self.private[entry.key]
            self.registry.discard(conn)
            await conn.finish()
        return ws

    # -- expiry ---------------------------------------------------------------------------
    def _close_private(self, entry: ListenKey, expired_event: bool) -> None:
        for conn in list(self.private.get(entry.key, ())):
            if expired_event:
                # USD-M sends the event time of this one event as a *string* (docs example and
                # production agree); an adapter that parses it as an int must learn it here.
                event = {"e": "listenKeyExpired", "E": str(self.ctx.now_ms()), "listenKey": entry.key}
                conn.send(text_frame(_encode(event)))
            conn.close_soon(WSCloseCode.OK, b"listenKey expired")

    def _check_generation(self) -> None:
        generation = self.ctx.faults.listen_key_generation()
        if generation != self._generation:
            self._generation = generation
            for entry in self.keys.expire_all():
                self._close_private(entry, expired_event=True)

    def housekeep(self) -> None:
        """Expire keys whose time ran out and apply a pending ``expire_listen_keys`` fault."""
        self._check_generation()
        for entry in self.keys.expire_due():
            self._close_private(entry, expired_event=True)

    def _ensure_housekeeper(self) -> None:
        if self._housekeeper is None or self._housekeeper.done():
            self._housekeeper = asyncio.get_running_loop().create_task(self._housekeep_forever())

    async def _housekeep_forever(self) -> None:
        while len(self.keys) or self.private:
            await asyncio.sleep(settings_for(self.ctx).housekeeping_interval)
            self.housekeep()

    async def shutdown(self, _app: web.Application) -> None:
        task, self._housekeeper = self._housekeeper, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def add_user_routes(app: web.Application, ctx: Any) -> None:
    """Register the user-data websocket routes (and the listenKey REST endpoints)."""
    streams = _UserStreams(app, ctx)
    app[LISTEN_KEYS_KEY] = streams.keys
    app[USER_FANOUT_KEY] = streams.fanout
    app[LEGACY_PRIVATE_KEY] = streams.private_stream
    app.on_cleanup.append(streams.shutdown)
    router = app.router
    router.add_get("/ws-api/v3", streams.ws_api)
    for method in ("POST", "PUT", "DELETE"):
        router.add_route(method, "/fapi/v1/listenKey", streams.listen_key_rest)
    router.add_get("/fstream/private/ws", streams.private_query)
    router.add_get("/fstream/private/ws/{key}", streams.private_path)
