"""Spot REST routes (/api/v3), plus the /sapi and /dapi calls ccxt makes while loading markets."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import rest_market as mk
from .context import SimContext
from .errors import BinanceError
from .instruments import fmt
from .spot_views import cancel_view, new_order_view, order_view, trade_view
from .params import Params
from .rest_common import Call, route, select_orders, select_trades


class _CancelReplaceError(BinanceError):
    """A cancel-replace refusal: Binance adds the two partial results under ``data``."""

    def __init__(self, status: int, code: int, msg: str, data: dict[str, Any]) -> None:
        super().__init__(status, code, msg)
        self.data = data

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg, "data": self.data}


def add_spot_routes(app: web.Application, ctx: SimContext) -> None:
    ex = ctx.exchange
    assert ex is not None and ctx.limits is not None
    limits = ctx.limits
    engine = ex.spot

    def ping(call: Call) -> Any:
        return {}

    def server_time(call: Call) -> Any:
        return {"serverTime": call.ctx.now_ms()}

    def account(call: Call) -> Any:
        acct = call.acct
        assets = sorted(set(acct.spot) | ex.instruments.assets())
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                                "seller": "0.00000000"},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": acct.spot_update_time,
            "accountType": "SPOT",
            "balances": [{"asset": a, "free": fmt(acct.balance(a).free), "locked": fmt(acct.balance(a).locked)}
                         for a in assets],
            "permissions": ["SPOT"], "uid": abs(hash(acct.api_key)) % 1_000_000_000,
        }

    def new_order(call: Call, test: bool = False) -> Any:
        resp_type = call.params.get("newOrderRespType") or "FULL"
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceError(400, -1100, "Illegal characters found in parameter 'newOrderRespType'.")
        if not test:
            call.headers.update(limits.count_order("spot", call.acct.api_key))
        order, trades = engine.new_order(call.acct, call.params, test=test)
        if test:
            return {}
        if call.ctx.faults.take_lost_order_response():
            call.drop_connection = True
        return new_order_view(order, trades, resp_type)

    def cancel_replace(call: Call) -> Any:
        """Cancel then place (STOP_ON_FAILURE), answered with Binance's two-part result."""
        p = call.params
        mode = p.enum("cancelReplaceMode", ("STOP_ON_FAILURE", "ALLOW_FAILURE"), -1100,
                      "Illegal characters found in parameter 'cancelReplaceMode'.")
        inst = engine.instrument(p.get("symbol"))
        cancel_params = {"symbol": inst.symbol}
        if p.get("cancelOrderId") is not None:
            cancel_params["orderId"] = p.req("cancelOrderId")
        if p.get("cancelOrigClientOrderId") is not None:
            cancel_params["origClientOrderId"] = p.req("cancelOrigClientOrderId")
        if p.get("cancelNewClientOrderId") is not None:
            cancel_params["newClientOrderId"] = p.req("cancelNewClientOrderId")
        now = call.ctx.now_ms()
        try:
            order, cancel_id = engine.cancel(call.acct, Params(cancel_params))
            cancel_result: tuple[str, Any] = ("SUCCESS", cancel_view(order, cancel_id, now))
        except BinanceError as err:
            cancel_result = ("FAILURE", err.body())
            if mode == "STOP_ON_FAILURE":
                raise _CancelReplaceError(400, -2022, "Order cancel-replace failed.", {
                    "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                    "cancelResponse": err.body(), "newOrderResponse": None}) from None
        new_params = {k: v for k, v in p.raw.items() if not k.startswith("cancel") and k != "signature"}
        try:
            call.headers.update(limits.count_order("spot", call.acct.api_key))
            placed, trades = engine.new_order(call.acct, Params(new_params))
            new_result: tuple[str, Any] = ("SUCCESS", new_order_view(placed, trades, p.get("newOrderRespType") or "FULL"))
        except BinanceError as err:
            new_result = ("FAILURE", err.body())
        data = {"cancelResult": cancel_result[0], "newOrderResult": new_result[0],
                "cancelResponse": cancel_result[1], "newOrderResponse": new_result[1]}
        if cancel_result[0] == "SUCCESS" and new_result[0] == "SUCCESS":
            return data
        if new_result[0] == "FAILURE" and cancel_result[0] == "FAILURE":
            raise _CancelReplaceError(400, -2022, "Order cancel-replace failed.", data)
        raise _CancelReplaceError(409, -2021, "Order cancel-replace partially failed.", data)

    def get_order(call: Call) -> Any:
        inst = engine.instrument(call.params.get("symbol"))
        order = engine.find(call.acct, inst.symbol, call.params.int("orderId"), call.params.get("origClientOrderId"))
        return order_view(order)

    def cancel_order(call: Call) -> Any:
        order, cancel_id = engine.cancel(call.acct, call.params)
        return cancel_view(order, cancel_id, call.ctx.now_ms())

    def open_orders(call: Call) -> Any:
        symbol = call.params.get("symbol")
        if symbol is not None:
            symbol = engine.instrument(symbol).symbol
        return [order_view(o) for o in engine.open_orders(call.acct, symbol)]

    def cancel_open_orders(call: Call) -> Any:
        inst = engine.instrument(call.params.get("symbol"))
        now = call.ctx.now_ms()
        return [cancel_view(o, cid, now) for o, cid in engine.cancel_all(call.acct, inst.symbol)]

    def all_orders(call: Call) -> Any:
        inst = engine.instrument(call.params.get("symbol"))
        return [order_view(o) for o in select_orders(engine.orders(call.acct, inst.symbol), call.params)]

    def my_trades(call: Call) -> Any:
        inst = engine.instrument(call.params.get("symbol"))
        return [trade_view(t) for t in select_trades(engine.trades(call.acct, inst.symbol), call.params)]

    def avg_price(call: Call) -> Any:
        m = mk.market_of(ex, "spot", call)
        return {"mins": 5, "price": m.inst.fp(m.price), "closeTime": call.ctx.now_ms()}

    def empty_list(call: Call) -> Any:
        return []

    def dapi_info(call: Call) -> Any:
        return {"timezone": "UTC", "serverTime": call.ctx.now_ms(),
                "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                "limit": 2400},
                               {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200}],
                "exchangeFilters": [], "symbols": []}

    r = app.router
    api = "/api/v3/"
    public = {
        "ping": ping, "time": server_time,
        "exchangeInfo": lambda c: mk.exchange_info(ex, "spot", c, limits.limit("spot")),
        "depth": lambda c: mk.depth(ex, "spot", c),
        "klines": lambda c: mk.klines(ex, "spot", c),
        "uiKlines": lambda c: mk.klines(ex, "spot", c),
        "ticker/24hr": lambda c: mk.ticker_24h(ex, "spot", c),
        "ticker/bookTicker": lambda c: mk.book_ticker(ex, "spot", c),
        "ticker/price": lambda c: mk.ticker_price(ex, "spot", c),
        "avgPrice": avg_price,
        "trades": lambda c: mk.recent_trades(ex, "spot", c),
        "aggTrades": lambda c: mk.agg_trades(ex, "spot", c),
    }
    for path, handler in public.items():
        r.add_get(api + path, route(ctx, handler))
    r.add_get(api + "account", route(ctx, account, signed=True))
    r.add_post(api + "order", route(ctx, new_order, signed=True))
    r.add_post(api + "order/cancelReplace", route(ctx, cancel_replace, signed=True))
    r.add_post(api + "order/test", route(ctx, lambda c: new_order(c, test=True), signed=True))
    r.add_get(api + "order", route(ctx, get_order, signed=True))
    r.add_delete(api + "order", route(ctx, cancel_order, signed=True))
    r.add_get(api + "openOrders", route(ctx, open_orders, signed=True))
    r.add_delete(api + "openOrders", route(ctx, cancel_open_orders, signed=True))
    r.add_get(api + "allOrders", route(ctx, all_orders, signed=True))
    r.add_get(api + "myTrades", route(ctx, my_trades, signed=True))
    for path in ("/sapi/v1/capital/config/getall", "/sapi/v1/margin/allPairs", "/sapi/v1/margin/isolated/allPairs"):
        r.add_get(path, route(ctx, empty_list, signed=True))
    r.add_get("/sapi/v1/system/status", route(ctx, lambda c: {"status": 0, "msg": "normal"}))
    r.add_get("/dapi/v1/exchangeInfo", route(ctx, dapi_info))
    r.add_get("/dapi/v1/ping", route(ctx, ping))
    r.add_get("/dapi/v1/time", route(ctx, server_time))
