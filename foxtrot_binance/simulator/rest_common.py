"""The REST plumbing shared by the spot and futures routes: parameters, auth, JSON answers.

Handlers are plain functions of a ``Call`` returning the JSON body; this wrapper does what
every Binance endpoint does the same way (merge query and form body, check the signature,
attach the order-count headers, or drop the connection for a lost-response fault).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl

from aiohttp import web

from .accounts import Account
from .context import SimContext
from .params import Params

API_KEY_HEADER = "X-MBX-APIKEY"


class _HasIdAndTime(Protocol):
    order_id: int
    time: int


O = TypeVar("O", bound=_HasIdAndTime)


class _HasTradeFields(Protocol):
    trade_id: int
    time: int

    @property
    def order(self) -> Any: ...


T = TypeVar("T", bound=_HasTradeFields)


def select_trades(trades: list[T], params: Params) -> list[T]:
    """myTrades / userTrades selection, the same on both hosts: by orderId, from fromId or a
    time range, else the most recent ``limit`` (default 500, at most 1000)."""
    from_id, start, end = params.int("fromId"), params.int("startTime"), params.int("endTime")
    order_id = params.int("orderId")
    limit = max(1, min(params.int("limit") or 500, 1000))
    if order_id is not None:
        trades = [t for t in trades if t.order.order_id == order_id]
    if from_id is not None:
        trades = [t for t in trades if t.trade_id >= from_id]
    if start is not None:
        trades = [t for t in trades if t.time >= start]
    if end is not None:
        trades = [t for t in trades if t.time <= end]
    forward = from_id is not None or start is not None
    return trades[:limit] if forward else trades[-limit:]


def select_orders(orders: list[O], params: Params) -> list[O]:
    """allOrders' selection, the same on both hosts: from orderId or a time range, else the
    most recent ``limit`` (default 500, at most 1000)."""
    order_id, start, end = params.int("orderId"), params.int("startTime"), params.int("endTime")
    limit = max(1, min(params.int("limit") or 500, 1000))
    if order_id is not None:
        orders = [o for o in orders if o.order_id >= order_id]
    if start is not None:
        orders = [o for o in orders if o.time >= start]
    if end is not None:
        orders = [o for o in orders if o.time <= end]
    return orders[:limit] if (order_id is not None or start is not None) else orders[-limit:]


@dataclass
class Call:
    ctx: SimContext
    request: web.Request
    params: Params
    account: Account | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False

    @property
    def acct(self) -> Account:
        assert self.account is not None
        return self.account


Handler = Callable[[Call], Any]


async def read_params(request: web.Request) -> tuple[str, str, dict[str, str]]:
    """(raw query, raw body, merged params); the body wins on duplicates, as on Binance."""
    raw_query = request.rel_url.raw_query_string
    raw_body = ""
    if request.method in ("POST", "PUT", "DELETE") and request.body_exists:
        raw_body = await request.text()
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    if raw_body and "json" not in (request.content_type or ""):
        params.update(parse_qsl(raw_body, keep_blank_values=True))
    return raw_query, raw_body, params


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(body, separators=(",", ":")), status=status,
                        content_type="application/json", headers=headers)


def drop_connection(request: web.Request) -> web.Response:
    """Abort the TCP connection: the client gets no answer at all (a reset, not an HTTP error).

    The returned response is never delivered; aiohttp discards writes to an aborted transport.
    """
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)


def route(ctx: SimContext, handler: Handler, signed: bool = False) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        raw_query, raw_body, params = await read_params(request)
        call = Call(ctx, request, Params(params))
        if signed:
            call.account = ctx.auth.verify_rest(request.headers.get(API_KEY_HEADER), raw_query, raw_body, params)
        body = handler(call)
        if call.drop_connection:
            return drop_connection(request)
        return json_response(body, headers=call.headers)

    return wrapped
