"""The spot WebSocket API's user-data methods (``/ws-api/v3``, spec §7.1).

Since 2025 Binance delivers spot account events only here: the client subscribes with a
signed ``userDataStream.subscribe.signature`` (or ``session.logon`` then
``userDataStream.subscribe``) and receives every event wrapped as
``{"subscriptionId":N,"event":{...}}`` on the same connection. Responses echo the request
id (ccxt sends a string) with ``status`` 200 and ``rateLimits``; refusals carry the HTTP
status and Binance's ``{"code","msg"}`` under ``error`` so ccxt maps them to the same
exception classes as REST. Request weight is charged to the spot REST bucket (Binance counts
both per IP), so a ban answers here too, with ``data.retryAfter``. Trading methods (``order.place`` ...) are not served: the adapter
trades over REST.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from .errors import BinanceError
from .ws_conn import Connection, text_frame
from .ws_fanout import UserFanout, torn

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode

WEIGHT_LIMIT = 6000
_WEIGHTS = {"userDataStream.subscribe.signature": 2, "userDataStream.subscribe": 2, "session.logon": 2}


class WsApiConnection(Connection):
    """One ``/ws-api/v3`` connection: its session key and its user-data subscriptions."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, max_queue: int, ctx: Any, fanout: UserFanout) -> None:
        super().__init__(request, ws, "user", max_queue)
        self._ctx = ctx
        self._fanout = fanout
        self._next_subscription = 0
        self._subscriptions: dict[int, str] = {}  # subscriptionId -> api key
        self._prefixes: dict[int, bytes] = {}
        self._session_key: str | None = None
        self._session_subscriptions: set[int] = set()  # made by userDataStream.subscribe
        self._connected_ms = ctx.now_ms()
        self._authorized_ms: int | None = None
        self._weight = 0

    # -- requests -------------------------------------------------------------------------
    def handle(self, text: str | bytes) -> dict[str, Any]:
        try:
            request = _decode(text)
        except msgspec.DecodeError as exc:
            return self._error(None, BinanceError(400, -1000, f"Invalid JSON: {exc}"))
        if not isinstance(request, dict):
            return self._error(None, BinanceError(400, -1000, "Invalid request: expected a JSON object"))
        request_id = request.get("id")
        method = request.get("method")
        params = request.get("params") or {}
        if not isinstance(method, str) or not method:
            return self._error(request_id, BinanceError(400, -1102, "Mandatory parameter 'method' was not sent, was empty/null, or malformed."))
        if not isinstance(params, dict):
            return self._error(request_id, BinanceError(400, -1102, "Mandatory parameter 'params' was not sent, was empty/null, or malformed."))
        weight = _WEIGHTS.get(method, 1)
        self._weight += weight
        limits = getattr(self._ctx, "limits", None)
        try:
            if limits is not None:  # Binance counts WebSocket API and REST weight per IP together
                limits.charge("spot", weight)
            result = self._dispatch(method, params)
        except BinanceError as exc:
            return self._error(request_id, exc)
        return {"id": request_id, "status": 200, "result": result, "rateLimits": self._rate_limits()}

    def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        ctx = self._ctx
        if method == "userDataStream.subscribe.signature":
            return {"subscriptionId": self._subscribe(ctx.auth.verify_ws_api(params))}
        if method == "session.logon":
            self._session_key = ctx.auth.verify_ws_api(params)
            self._authorized_ms = ctx.now_ms()
            return self._session_status()
        if method == "session.status":
            return self._session_status()
        if method == "session.logout":
            self._end_session_subscriptions()
            self._session_key = self._authorized_ms = None
            return self._session_status()
        if method == "userDataStream.subscribe":
            if self._session_key is None:
                raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            subscription_id = self._subscribe(self._session_key)
            self._session_subscriptions.add(subscription_id)
            return {"subscriptionId": subscription_id}
        if method == "userDataStream.unsubscribe":
            self._unsubscribe(params.get("subscriptionId"))
            return {}
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": ctx.now_ms()}
        raise BinanceError(400, -1020, "This operation is not supported.")

    # -- subscriptions --------------------------------------------------------------------
    def _subscribe(self, api_key: str) -> int:
        subscription_id = self._next_subscription
        self._next_subscription += 1
        self._subscriptions[subscription_id] = api_key
        self._prefixes[subscription_id] = b'{"subscriptionId":' + str(subscription_id).encode() + b',"event":'
        self._fanout.add("spot", api_key, self)
        return subscription_id

    def _unsubscribe(self, subscription_id: Any) -> None:
        if subscription_id is None:
            targets = list(self._subscriptions)
        else:
            try:
                wanted = int(subscription_id)
            except (TypeError, ValueError):
                wanted = -1
            if wanted not in self._subscriptions:
                raise BinanceError(400, -1130, "Data sent for parameter 'subscriptionId' is not valid.")
            targets = [wanted]
        self._unsubscribe_ids(targets)

    def _unsubscribe_ids(self, targets: list[int]) -> None:
        for sid in targets:
            self._session_subscriptions.discard(sid)
            api_key = self._subscriptions.pop(sid)
            self._prefixes.pop(sid, None)
            if api_key not in self._subscriptions.values():
                self._fanout.remove("spot", api_key, self)

    def _end_session_subscriptions(self) -> None:
        """Logging out ends the session's subscriptions: Binance says so with eventStreamTerminated."""
        for sid in sorted(self._session_subscriptions):
            event = {"e": "eventStreamTerminated", "E": self._ctx.now_ms()}
            self.send(text_frame(self._prefixes[sid] + _encode(event) + b"}"))
        ended = list(self._session_subscriptions)
        if ended:
            self._unsubscribe_ids(ended)

    def terminate_user(self, api_key: str) -> None:
        """Binance ending this key's subscriptions (``faults.terminate_user_subscriptions``)."""
        ended = sorted(sid for sid, owner in self._subscriptions.items() if owner == api_key)
        for sid in ended:
            event = {"e": "eventStreamTerminated", "E": self._ctx.now_ms()}
            self.send(text_frame(self._prefixes[sid] + _encode(event) + b"}"))
        if ended:
            self._unsubscribe_ids(ended)

    def unsubscribe_all(self) -> None:
        for api_key in set(self._subscriptions.values()):
            self._fanout.remove("spot", api_key, self)
        self._subscriptions.clear()
        self._prefixes.clear()
        self._session_subscriptions.clear()

    def deliver_user(self, api_key: str, raw: bytes, malformed: bool) -> None:
        # One connection may hold several subscriptions (even of different keys): the
        # event goes to each subscription of its owner, under that subscription's id.
        for sid, owner in list(self._subscriptions.items()):
            if owner != api_key:
                continue
            framed = self._prefixes[sid] + raw + b"}"
            if malformed:
                self.send(torn(framed))
            self.send(text_frame(framed))

    # -- helpers --------------------------------------------------------------------------
    def _session_status(self) -> dict[str, Any]:
        return {
            "apiKey": self._session_key,
            "authorizedSince": self._authorized_ms,
            "connectedSince": self._connected_ms,
            "returnRateLimits": True,
            "serverTime": self._ctx.now_ms(),
            "userDataStream": bool(self._subscriptions),
        }

    def _rate_limits(self) -> list[dict[str, Any]]:
        return [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": WEIGHT_LIMIT, "count": self._weight}]

    def _error(self, request_id: Any, exc: BinanceError) -> dict[str, Any]:
        error = exc.body()
        if exc.status in (418, 429):  # when to ask again, as Binance's WebSocket API says it
            now = self._ctx.now_ms()
            retry_s = int(exc.headers.get("Retry-After", "60"))
            error["data"] = {"serverTime": now, "retryAfter": now + retry_s * 1000}
        return {"id": request_id, "status": exc.status, "error": error, "rateLimits": self._rate_limits()}
