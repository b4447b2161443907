"""USD-M REST routes (/fapi/v1, /fapi/v2, /fapi/v3)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import rest_market as mk
from .context import SimContext
from .instruments import fmt
from .rest_common import Call, route


def add_futures_routes(app: web.Application, ctx: SimContext) -> None:
    ex = ctx.exchange
    assert ex is not None and ctx.limits is not None
    limits = ctx.limits

    def premium_index(call: Call) -> Any:
        markets, single = mk.markets_for(ex, "usdm", call)
        now = call.ctx.now_ms()
        out = [m.premium_index(now) for m in markets]
        return out[0] if single else out

    def funding_rate(call: Call) -> Any:
        """Funding history: one entry per 8h settlement, the rate the market had then."""
        symbol = call.params.get("symbol")
        markets = [mk.market_of(ex, "usdm", call)] if symbol else list(ex.markets["usdm"].values())
        limit = max(1, min(call.params.int("limit") or 100, 1000))
        now = call.ctx.now_ms()
        start, end = call.params.int("startTime"), call.params.int("endTime")
        out: list[dict[str, Any]] = []
        for m in markets:
            last = (min(end, now) if end is not None else now) // 28_800_000 * 28_800_000
            times = []
            t = last
            while len(times) < limit and (start is None or t >= start):
                times.append(t)
                t -= 28_800_000
            for t in sorted(times)[:limit]:
                out.append({"symbol": m.symbol, "fundingTime": t, "fundingRate": fmt(m.funding_rate, 8),
                            "markPrice": fmt(m.history.price_at(t), 8)})
        return out[:limit]

    r = app.router
    v1 = "/fapi/v1/"
    public = {
        "ping": lambda c: {}, "time": lambda c: {"serverTime": c.ctx.now_ms()},
        "exchangeInfo": lambda c: mk.exchange_info(ex, "usdm", c, limits.limit("usdm")),
        "depth": lambda c: mk.depth(ex, "usdm", c),
        "klines": lambda c: mk.klines(ex, "usdm", c),
        "ticker/24hr": lambda c: mk.ticker_24h(ex, "usdm", c),
        "ticker/bookTicker": lambda c: mk.book_ticker(ex, "usdm", c),
        "ticker/price": lambda c: mk.ticker_price(ex, "usdm", c),
        "premiumIndex": premium_index,
        "fundingRate": funding_rate,
        "trades": lambda c: mk.recent_trades(ex, "usdm", c),
        "aggTrades": lambda c: mk.agg_trades(ex, "usdm", c),
        # mark/index/premium candles: the contract's own path stands in for them
        "markPriceKlines": lambda c: mk.klines(ex, "usdm", c),
        "indexPriceKlines": lambda c: mk.klines(ex, "usdm", _pair_as_symbol(c)),
        "premiumIndexKlines": lambda c: mk.klines(ex, "usdm", c),
    }
    for path, handler in public.items():
        r.add_get(v1 + path, route(ctx, handler))
    r.add_get("/fapi/v2/ticker/price", route(ctx, lambda c: mk.ticker_price(ex, "usdm", c)))
    from .rest_futures_private import add_futures_private_routes
    add_futures_private_routes(app, ctx)


def _pair_as_symbol(call: Call) -> Call:
    """indexPriceKlines takes ``pair`` where the others take ``symbol``."""
    if call.params.get("symbol") is None and call.params.get("pair") is not None:
        call.params.raw["symbol"] = call.params.raw["pair"]
    return call
