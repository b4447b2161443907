"""USD-M signed REST routes: orders, algo orders, trades, account, positions, settings."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from . import futures_views as fv
from .context import SimContext
from .errors import BinanceError
from .params import Params
from .rest_common import Call, route, select_orders, select_trades


def _json_list(raw: str | None, name: str) -> list[Any]:
    try:
        value = json.loads(raw or "")
    except ValueError:
        raise BinanceError(400, -1130, f"Data sent for parameter '{name}' is not valid.") from None
    if not isinstance(value, list):
        raise BinanceError(400, -1130, f"Data sent for parameter '{name}' is not valid.")
    return value


def _str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def add_futures_private_routes(app: web.Application, ctx: SimContext) -> None:
    ex = ctx.exchange
    assert ex is not None and ctx.limits is not None
    limits = ctx.limits
    eng = ex.usdm

    def symbol_or_none(call: Call) -> str | None:
        symbol = call.params.get("symbol")
        return None if symbol is None else eng.instrument(symbol).symbol

    def new_order(call: Call) -> Any:
        call.headers.update(limits.count_order("usdm", call.acct.api_key))
        order = eng.new_order(call.acct, call.params)
        if call.ctx.faults.take_lost_order_response():
            call.drop_connection = True
        view = fv.order_view(order, with_time=False)
        return view

    def modify_order(call: Call) -> Any:
        return fv.order_view(eng.modify(call.acct, call.params), with_time=False)

    def batch_new(call: Call) -> Any:
        """Up to 5 orders; each answer is the order or its own error, as Binance does."""
        items = _json_list(call.params.req("batchOrders"), "batchOrders")
        if len(items) > 5:
            raise BinanceError(400, -4082, "Invalid number of batch place orders.")
        out: list[Any] = []
        for item in items:
            if not isinstance(item, dict):
                raise BinanceError(400, -1130, "Data sent for parameter 'batchOrders' is not valid.")
            try:
                call.headers.update(limits.count_order("usdm", call.acct.api_key))
                order = eng.new_order(call.acct, Params({k: _str(v) for k, v in item.items()}))
                out.append(fv.order_view(order, with_time=False))
            except BinanceError as err:
                out.append(err.body())
        return out

    def batch_cancel(call: Call) -> Any:
        inst = eng.instrument(call.params.get("symbol"))
        raw = call.params.raw
        ids = raw.get("orderIdList") or raw.get("orderidlist")
        cids = raw.get("origClientOrderIdList") or raw.get("origclientorderidlist")
        if not ids and not cids:
            raise BinanceError(400, -1102, "Param 'orderIdList' or 'origClientOrderIdList' must be sent, but both "
                                           "were empty/null!")
        targets = [(int(i), None) for i in _json_list(ids, "orderIdList")] if ids else \
            [(None, str(c)) for c in _json_list(cids, "origClientOrderIdList")]  # type: ignore[arg-type]
        out: list[Any] = []
        for order_id, client_id in targets:
            query = {"symbol": inst.symbol}
            if order_id is not None:
                query["orderId"] = str(order_id)
            else:
                query["origClientOrderId"] = str(client_id)
            try:
                out.append(fv.order_view(eng.cancel(call.acct, Params(query)), with_time=False))
            except BinanceError as err:
                out.append(err.body())
        return out

    def get_order(call: Call) -> Any:
        inst = eng.instrument(call.params.get("symbol"))
        return fv.order_view(eng.find(call.acct, inst.symbol, call.params.int("orderId"),
                                      call.params.get("origClientOrderId")))

    def cancel_order(call: Call) -> Any:
        return fv.order_view(eng.cancel(call.acct, call.params), with_time=False)

    def open_orders(call: Call) -> Any:
        return [fv.order_view(o) for o in eng.open_orders(call.acct, symbol_or_none(call))]

    def open_order(call: Call) -> Any:
        inst = eng.instrument(call.params.get("symbol"))
        order = eng.find(call.acct, inst.symbol, call.params.int("orderId"), call.params.get("origClientOrderId"))
        if not order.is_open:
            raise BinanceError(400, -2013, "Order does not exist.")
        return fv.order_view(order)

    def cancel_all(call: Call) -> Any:
        inst = eng.instrument(call.params.get("symbol"))
        eng.cancel_all(call.acct, inst.symbol)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def all_orders(call: Call) -> Any:
        inst = eng.instrument(call.params.get("symbol"))
        return [fv.order_view(o) for o in select_orders(eng.orders(call.acct, inst.symbol), call.params)]

    def user_trades(call: Call) -> Any:
        inst = eng.instrument(call.params.get("symbol"))
        start, end = call.params.int("startTime"), call.params.int("endTime")
        if start is not None and end is not None and end - start > 7 * 86_400_000:
            raise BinanceError(400, -4166, "The time between startTime and endTime cannot be longer than 7 days.")
        return [fv.trade_view(t) for t in select_trades(eng.trades(call.acct, inst.symbol), call.params)]

    def income(call: Call) -> Any:
        """Income history from the account's fills (commission, realised PnL), oldest first;
        the simulator keeps no funding or transfer entries here."""
        start, end = call.params.int("startTime"), call.params.int("endTime")
        wanted, symbol = call.params.get("incomeType"), call.params.get("symbol")
        limit = max(1, min(call.params.int("limit") or 100, 1000))
        if start is None and end is None:
            start = eng._clock() - 7 * 86_400_000
        rows = [row for t in eng.trades(call.acct, symbol) for row in fv.income_rows(t)
                if (start is None or t.time >= start) and (end is None or t.time <= end)]
        return [row for row in rows if wanted is None or row["incomeType"] == wanted][:limit]

    def new_algo(call: Call) -> Any:
        call.headers.update(limits.count_order("usdm", call.acct.api_key))
        algo = eng.new_algo(call.acct, call.params)
        if call.ctx.faults.take_lost_order_response():
            call.drop_connection = True
        view = fv.algo_view(algo)
        for key in ("actualOrderId", "actualPrice", "actualType", "actualQty", "tpTriggerPrice", "tpPrice",
                    "slTriggerPrice", "slPrice", "tpOrderType"):
            view.pop(key, None)
        return view

    def get_algo(call: Call) -> Any:
        return fv.algo_view(eng.find_algo(call.acct, call.params.int("algoId"), call.params.get("clientAlgoId")))

    def cancel_algo(call: Call) -> Any:
        algo = eng.cancel_algo(call.acct, call.params)
        return {"algoId": algo.algo_id, "clientAlgoId": algo.client_id, "code": "200", "msg": "success"}

    def open_algos(call: Call) -> Any:
        symbol = symbol_or_none(call)
        return [fv.algo_view(a) for a in eng.algos(call.acct, symbol) if a.is_open]

    def all_algos(call: Call) -> Any:
        inst = eng.instrument(call.params.get("symbol"))
        return [fv.algo_view(a) for a in eng.algos(call.acct, inst.symbol)]

    def leverage(call: Call) -> Any:
        return eng.set_leverage(call.acct, call.params.req("symbol"), call.params.int("leverage", required=True) or 0)

    def margin_type(call: Call) -> Any:
        eng.set_margin_type(call.acct, call.params.req("symbol"), call.params.req("marginType").upper())
        return {"code": 200, "msg": "success"}

    def dual_get(call: Call) -> Any:
        return {"dualSidePosition": call.acct.dual_side}

    def dual_post(call: Call) -> Any:
        value = call.params.bool("dualSidePosition")
        if value is None:
            raise BinanceError(400, -1102, "Mandatory parameter 'dualSidePosition' was not sent, was empty/null, "
                                           "or malformed.")
        eng.set_dual_side(call.acct, value)
        return {"code": 200, "msg": "success"}

    def position_risk_v3(call: Call) -> Any:
        symbol = symbol_or_none(call)
        acct = call.acct
        rows = []
        with_orders = {o.inst.symbol for o in eng.open_orders(acct)}
        for pos in fv.all_positions(eng, acct, symbol):
            if pos.amount != 0 or pos.symbol in with_orders:
                rows.append(fv.position_risk(eng, acct, pos))
        return rows

    def position_risk_v2(call: Call) -> Any:
        symbol = symbol_or_none(call)
        return [fv.position_risk_v2(eng, call.acct, p) for p in fv.all_positions(eng, call.acct, symbol)]

    def brackets(call: Call) -> Any:
        symbol = symbol_or_none(call)
        if symbol is not None:
            return fv.leverage_brackets(symbol)
        return [fv.leverage_brackets(s) for s in ex.markets["usdm"]]

    def symbol_config(call: Call) -> Any:
        symbol = symbol_or_none(call)
        from .futures import _max_notional
        return [{"symbol": s, "marginType": call.acct.margin_type.get(s, "CROSSED"), "isAutoAddMargin": "false",
                 "leverage": eng.leverage(call.acct, s), "maxNotionalValue": str(_max_notional(eng.leverage(call.acct, s)))}
                for s in ex.markets["usdm"] if symbol is None or s == symbol]

    def commission_rate(call: Call) -> Any:
        inst = eng.instrument(call.params.get("symbol"))
        return {"symbol": inst.symbol, "makerCommissionRate": "0.0002", "takerCommissionRate": "0.0004"}

    r = app.router
    v1 = "/fapi/v1/"
    s = lambda h: route(ctx, h, signed=True)  # noqa: E731
    r.add_post(v1 + "order", s(new_order))
    r.add_put(v1 + "order", s(modify_order))
    r.add_post(v1 + "batchOrders", s(batch_new))
    r.add_delete(v1 + "batchOrders", s(batch_cancel))
    r.add_get(v1 + "order", s(get_order))
    r.add_delete(v1 + "order", s(cancel_order))
    r.add_get(v1 + "openOrders", s(open_orders))
    r.add_get(v1 + "openOrder", s(open_order))
    r.add_delete(v1 + "allOpenOrders", s(cancel_all))
    r.add_get(v1 + "allOrders", s(all_orders))
    r.add_get(v1 + "userTrades", s(user_trades))
    r.add_get(v1 + "income", s(income))
    r.add_post(v1 + "algoOrder", s(new_algo))
    r.add_get(v1 + "algoOrder", s(get_algo))
    r.add_delete(v1 + "algoOrder", s(cancel_algo))
    r.add_get(v1 + "openAlgoOrders", s(open_algos))
    r.add_get(v1 + "allAlgoOrders", s(all_algos))
    r.add_post(v1 + "leverage", s(leverage))
    r.add_post(v1 + "marginType", s(margin_type))
    r.add_get(v1 + "positionSide/dual", s(dual_get))
    r.add_post(v1 + "positionSide/dual", s(dual_post))
    r.add_get(v1 + "leverageBracket", s(brackets))
    r.add_get(v1 + "symbolConfig", s(symbol_config))
    r.add_get(v1 + "commissionRate", s(commission_rate))
    for version in ("v2", "v3"):
        r.add_get(f"/fapi/{version}/account", s(lambda c, v2=version == "v2": fv.account_view(eng, c.acct, v2)))
        r.add_get(f"/fapi/{version}/balance", s(lambda c: fv.balance_view(eng, c.acct)))
    r.add_get("/fapi/v3/positionRisk", s(position_risk_v3))
    r.add_get("/fapi/v2/positionRisk", s(position_risk_v2))
