"""Spot REST views: orders, new-order answers (ACK/RESULT/FULL), cancels and account trades.

Field order and presence follow binance_examples/spot_rest_*. Spot payloads never carry
``positionSide`` or ``cumQuote``: ccxt reads those as the mark of a contract order.
"""

from __future__ import annotations

from typing import Any

from .accounts import ZERO
from .instruments import fmt
from .matching import STOP_TYPES, SpotOrder, SpotTrade

def order_view(o: SpotOrder) -> dict[str, Any]:
    return {
        "symbol": o.inst.symbol, "orderId": o.order_id, "orderListId": o.list_id, "clientOrderId": o.client_id,
        "price": fmt(o.price), "origQty": fmt(o.qty), "executedQty": fmt(o.executed),
        "cummulativeQuoteQty": fmt(o.cum_quote), "status": o.status, "timeInForce": o.tif, "type": o.type,
        "side": o.side, "stopPrice": fmt(o.stop), "icebergQty": fmt(ZERO), "time": o.time,
        "updateTime": o.update_time, "isWorking": o.working, "workingTime": o.working_time,
        "origQuoteOrderQty": fmt(o.quote_qty), "selfTradePreventionMode": "NONE",
    }


def new_order_view(o: SpotOrder, trades: list[SpotTrade], resp_type: str) -> dict[str, Any]:
    d: dict[str, Any] = {"symbol": o.inst.symbol, "orderId": o.order_id, "orderListId": o.list_id,
                         "clientOrderId": o.client_id, "transactTime": o.time}
    if resp_type == "ACK":
        return d
    d.update({"price": fmt(o.price), "origQty": fmt(o.qty), "executedQty": fmt(o.executed),
              "origQuoteOrderQty": fmt(o.quote_qty), "cummulativeQuoteQty": fmt(o.cum_quote), "status": o.status,
              "timeInForce": o.tif, "type": o.type, "side": o.side, "workingTime": o.working_time,
              "selfTradePreventionMode": "NONE"})
    if o.type in STOP_TYPES:
        d["stopPrice"] = fmt(o.stop)
    if resp_type == "FULL":
        d["fills"] = [{"price": fmt(t.price), "qty": fmt(t.qty), "commission": fmt(t.commission),
                       "commissionAsset": t.commission_asset, "tradeId": t.trade_id} for t in trades]
    return d


def cancel_view(o: SpotOrder, cancel_id: str, now: int) -> dict[str, Any]:
    d = {"symbol": o.inst.symbol, "origClientOrderId": o.client_id, "orderId": o.order_id,
         "orderListId": o.list_id, "clientOrderId": cancel_id, "transactTime": now, "price": fmt(o.price),
         "origQty": fmt(o.qty), "executedQty": fmt(o.executed), "origQuoteOrderQty": fmt(o.quote_qty),
         "cummulativeQuoteQty": fmt(o.cum_quote), "status": o.status, "timeInForce": o.tif, "type": o.type,
         "side": o.side, "selfTradePreventionMode": "NONE"}
    if o.type in STOP_TYPES:
        d["stopPrice"] = fmt(o.stop)
    return d


def trade_view(t: SpotTrade) -> dict[str, Any]:
    return {"symbol": t.order.inst.symbol, "id": t.trade_id, "orderId": t.order.order_id,
            "orderListId": t.order.list_id, "price": fmt(t.price), "qty": fmt(t.qty),
            "quoteQty": fmt(t.price * t.qty), "commission": fmt(t.commission),
            "commissionAsset": t.commission_asset, "time": t.time, "isBuyer": t.order.buy,
            "isMaker": t.maker, "isBestMatch": True}
