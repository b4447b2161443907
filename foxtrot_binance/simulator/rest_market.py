"""Public market-data REST endpoints shared in shape by spot (/api/v3) and USD-M (/fapi/v1)."""

from __future__ import annotations

import json
from typing import Any

from .errors import BinanceError, invalid_symbol, mandatory
from .exchange import Exchange
from .instruments import Kind, exchange_meta, fmt
from .klines import INTERVAL_MS, kline_row
from .market import Market
from .rest_common import Call

MAX_KLINES = {"spot": 1000, "usdm": 1500}


def symbols_param(call: Call) -> list[str] | None:
    raw = call.params.get("symbols")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise BinanceError(400, -1100, "Illegal characters found in parameter 'symbols'; legal range is "
                                       "'^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.") from None
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise BinanceError(400, -1100, "Illegal characters found in parameter 'symbols'.")
    return value


def market_of(ex: Exchange, kind: Kind, call: Call, required: bool = True) -> Market:
    symbol = call.params.get("symbol")
    if symbol is None:
        raise mandatory("symbol")
    market = ex.market(kind, symbol)
    if market is None:
        raise invalid_symbol()
    return market


def markets_for(ex: Exchange, kind: Kind, call: Call) -> tuple[list[Market], bool]:
    """(markets, single): one ``symbol``, a ``symbols`` JSON array, or every symbol."""
    if call.params.get("symbol") is not None:
        return [market_of(ex, kind, call)], True
    names = symbols_param(call)
    if names is None:
        return list(ex.markets[kind].values()), False
    out = []
    for name in names:
        m = ex.market(kind, name)
        if m is None:
            raise invalid_symbol()
        out.append(m)
    return out, False


def exchange_info(ex: Exchange, kind: Kind, call: Call, weight_limit: int) -> dict[str, Any]:
    meta = exchange_meta(kind)
    interval, interval_num = "MINUTE", 1
    if call.ctx.limits is not None:
        interval, interval_num, _ = call.ctx.limits.interval
    for rl in meta.get("rateLimits", []):
        if rl.get("rateLimitType") == "REQUEST_WEIGHT":
            rl.update(limit=weight_limit, interval=interval, intervalNum=interval_num)
    wanted: list[str] | None = None
    if call.params.get("symbol"):
        wanted = [call.params.req("symbol")]
    elif call.params.get("symbols"):
        wanted = symbols_param(call)
    symbols = []
    for inst in ex.instruments.all(kind):
        if wanted is None or inst.symbol in wanted:
            symbols.append(inst.info)
    if wanted is not None and not symbols:
        raise invalid_symbol()
    body: dict[str, Any] = {"timezone": meta.get("timezone", "UTC"), "serverTime": call.ctx.now_ms()}
    if kind == "usdm":
        body["futuresType"] = meta.get("futuresType", "U_MARGINED")
    body["rateLimits"] = meta.get("rateLimits", [])
    body["exchangeFilters"] = meta.get("exchangeFilters", [])
    if kind == "usdm":
        body["assets"] = meta.get("assets", [])
    body["symbols"] = symbols
    return body


def depth(ex: Exchange, kind: Kind, call: Call) -> dict[str, Any]:
    market = market_of(ex, kind, call)
    limit = call.params.int("limit") or (100 if kind == "spot" else 500)
    limit = max(1, min(limit, 5000 if kind == "spot" else 1000))
    uid, bids, asks = market.depth(limit)
    if kind == "spot":
        return {"lastUpdateId": uid, "bids": bids, "asks": asks}
    now = call.ctx.now_ms()
    return {"lastUpdateId": uid, "E": now, "T": now - 1, "bids": bids, "asks": asks}


def klines(ex: Exchange, kind: Kind, call: Call) -> list[list[Any]]:
    market = market_of(ex, kind, call)
    interval = call.params.req("interval")
    if interval not in market.intervals:
        raise BinanceError(400, -1120, "Invalid interval.")
    limit = call.params.int("limit") or 500
    limit = max(1, min(limit, MAX_KLINES[kind]))
    start, end = call.params.int("startTime"), call.params.int("endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(400, -1023, "Start time is greater than end time.")
    now = call.ctx.now_ms()
    if start is not None and start > now:
        return []
    bars = market.klines(interval, start, end, limit, now)
    inst = market.inst
    return [kline_row(b, inst.fp, inst.fq) for b in bars]


def ticker_24h(ex: Exchange, kind: Kind, call: Call) -> Any:
    markets, single = markets_for(ex, kind, call)
    now = call.ctx.now_ms()
    mini = call.params.get("type") == "MINI"
    out = []
    for m in markets:
        t = m.ticker_24h(now)
        if mini:
            t = {k: t[k] for k in ("symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume",
                                   "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count")}
        out.append(t)
    return out[0] if single else out


def book_ticker(ex: Exchange, kind: Kind, call: Call) -> Any:
    markets, single = markets_for(ex, kind, call)
    now = call.ctx.now_ms()
    out = []
    for m in markets:
        (bt, bq), (at, aq) = m.best_bid(), m.best_ask()
        d: dict[str, Any] = {"symbol": m.symbol, "bidPrice": m.inst.fp(m.p(bt)), "bidQty": m.inst.fq(m.q(bq)),
                             "askPrice": m.inst.fp(m.p(at)), "askQty": m.inst.fq(m.q(aq))}
        if kind == "usdm":
            d["time"] = now
            d["lastUpdateId"] = m.update_id
        out.append(d)
    return out[0] if single else out


def ticker_price(ex: Exchange, kind: Kind, call: Call) -> Any:
    markets, single = markets_for(ex, kind, call)
    now = call.ctx.now_ms()
    out = []
    for m in markets:
        d: dict[str, Any] = {"symbol": m.symbol, "price": m.inst.fp(m.price)}
        if kind == "usdm":
            d["time"] = now
        out.append(d)
    return out[0] if single else out


def interval_known(interval: str) -> bool:
    return interval in INTERVAL_MS


def _tape(market: Market, call: Call, id_index: int) -> list[tuple[int, int, int, int, bool, int]]:
    rows = list(market.tape)
    limit = max(1, min(call.params.int("limit") or 500, 1000))
    from_id, start, end = call.params.int("fromId"), call.params.int("startTime"), call.params.int("endTime")
    if from_id is not None:
        rows = [r for r in rows if r[id_index] >= from_id]
    if start is not None:
        rows = [r for r in rows if r[5] >= start]
    if end is not None:
        rows = [r for r in rows if r[5] <= end]
    forward = from_id is not None or start is not None
    return rows[:limit] if forward else rows[-limit:]


def recent_trades(ex: Exchange, kind: Kind, call: Call) -> list[dict[str, Any]]:
    """Recent public trades (the simulator's tape since it started)."""
    m = market_of(ex, kind, call)
    out = []
    for tid, _agg, ticks, lots, maker, ts in _tape(m, call, 0):
        price, qty = m.p(ticks), m.q(lots)
        d: dict[str, Any] = {"id": tid, "price": m.inst.fp(price), "qty": m.inst.fq(qty),
                             "quoteQty": fmt(price * qty, 8), "time": ts, "isBuyerMaker": maker}
        if kind == "spot":
            d["isBestMatch"] = True
        out.append(d)
    return out


def agg_trades(ex: Exchange, kind: Kind, call: Call) -> list[dict[str, Any]]:
    m = market_of(ex, kind, call)
    out = []
    for tid, agg, ticks, lots, maker, ts in _tape(m, call, 1):
        d: dict[str, Any] = {"a": agg, "p": m.inst.fp(m.p(ticks)), "q": m.inst.fq(m.q(lots)), "f": tid, "l": tid,
                             "T": ts, "m": maker}
        if kind == "spot":
            d["M"] = True
        out.append(d)
    return out
