"""USD-M REST views: orders, algo orders, trades, account, balance and position risk.

Field sets follow binance_examples/usdm_rest_*; contract payloads always carry
``positionSide`` and ``cumQuote`` because that is how ccxt tells them from spot ones.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .accounts import ZERO, Account, Position
from .instruments import fmt

if TYPE_CHECKING:  # pragma: no cover
    from .futures import AlgoOrder, FuturesEngine, FuturesOrder, FuturesTrade


def order_view(o: FuturesOrder, with_time: bool = True) -> dict[str, Any]:
    inst = o.inst
    d: dict[str, Any] = {
        "avgPrice": fmt(o.avg, 5), "clientOrderId": o.client_id, "cumQty": inst.fq(o.executed),
        "cumQuote": fmt(o.cum_quote, 5), "executedQty": inst.fq(o.executed), "orderId": o.order_id,
        "origQty": inst.fq(o.qty), "origType": o.orig_type, "price": inst.fp(o.price), "reduceOnly": o.reduce_only,
        "side": o.side, "positionSide": o.position_side, "status": o.status, "stopPrice": inst.fp(o.stop),
        "closePosition": o.close_position, "symbol": inst.symbol, "timeInForce": o.tif, "type": o.type,
        "updateTime": o.update_time, "workingType": o.working_type, "priceProtect": False, "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
    }
    if with_time:
        d["time"] = o.time
    return d


def algo_view(a: AlgoOrder) -> dict[str, Any]:
    inst = a.inst
    actual = a.actual
    return {
        "algoId": a.algo_id, "clientAlgoId": a.client_id, "algoType": "CONDITIONAL", "orderType": a.order_type,
        "symbol": inst.symbol, "side": a.side, "positionSide": a.position_side, "timeInForce": a.tif,
        "quantity": inst.fq(a.qty), "algoStatus": a.status,
        "actualOrderId": str(actual.order_id) if actual else "",
        "actualPrice": fmt(actual.avg if actual else ZERO, 5),
        "actualType": actual.type if actual else "", "actualQty": inst.fq(actual.executed if actual else ZERO),
        "triggerPrice": inst.fp(a.trigger), "price": inst.fp(a.price), "icebergQuantity": None,
        "tpTriggerPrice": "0.000", "tpPrice": "0.000", "slTriggerPrice": "0.000", "slPrice": "0.000",
        "tpOrderType": "", "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": a.working_type,
        "priceMatch": "NONE", "closePosition": a.close_position, "priceProtect": False, "reduceOnly": a.reduce_only,
        "activatePrice": "", "callbackRate": "", "createTime": a.time, "updateTime": a.update_time,
        "triggerTime": a.trigger_time, "goodTillDate": 0,
    }


def trade_view(t: FuturesTrade) -> dict[str, Any]:
    inst = t.order.inst
    return {"buyer": t.order.buy, "commission": fmt(t.commission, 8), "commissionAsset": inst.margin_asset,
            "id": t.trade_id, "maker": t.maker, "orderId": t.order.order_id, "price": inst.fp(t.price),
            "qty": inst.fq(t.qty), "quoteQty": fmt(t.price * t.qty, 8), "realizedPnl": fmt(t.realized, 8),
            "side": t.order.side, "positionSide": t.order.position_side, "symbol": inst.symbol, "time": t.time}


def income_rows(t: FuturesTrade) -> list[dict[str, Any]]:
    """/fapi/v1/income entries one fill makes: its commission, and its realised PnL if any."""
    inst = t.order.inst
    rows = []
    for kind, amount, offset in (("REALIZED_PNL", t.realized, 1), ("COMMISSION", -t.commission, 2)):
        if amount:
            rows.append({"symbol": inst.symbol, "incomeType": kind, "income": fmt(amount, 8),
                         "asset": inst.margin_asset, "info": "", "time": t.time,
                         "tranId": t.trade_id * 10 + offset, "tradeId": str(t.trade_id)})
    return rows


def _pos_numbers(engine: FuturesEngine, account: Account, pos: Position) -> dict[str, Decimal]:
    m = engine._markets[pos.symbol]
    mark = m.mark_price
    lev = Decimal(engine.leverage(account, pos.symbol))
    notional = pos.amount * mark
    im = abs(notional) / lev
    return {"mark": mark, "notional": notional, "im": im, "mm": abs(notional) * Decimal("0.004"),
            "up": (mark - pos.entry) * pos.amount, "lev": lev}


def position_risk(engine: FuturesEngine, account: Account, pos: Position) -> dict[str, Any]:
    """/fapi/v3/positionRisk row."""
    inst = engine._markets[pos.symbol].inst
    n = _pos_numbers(engine, account, pos)
    isolated = account.margin_type.get(pos.symbol) == "ISOLATED"
    return {"symbol": pos.symbol, "positionSide": pos.side, "positionAmt": inst.fq(pos.amount),
            "entryPrice": fmt(pos.entry, 8), "breakEvenPrice": fmt(pos.entry, 8), "markPrice": fmt(n["mark"], 8),
            "unRealizedProfit": fmt(n["up"], 8), "liquidationPrice": "0",
            "isolatedMargin": fmt(n["im"] if isolated else ZERO, 8), "notional": fmt(n["notional"], 8),
            "marginAsset": inst.margin_asset, "isolatedWallet": fmt(n["im"] if isolated else ZERO, 8),
            "initialMargin": fmt(n["im"], 8), "maintMargin": fmt(n["mm"], 8),
            "positionInitialMargin": fmt(n["im"], 8), "openOrderInitialMargin": "0", "adl": 0,
            "bidNotional": "0", "askNotional": "0", "updateTime": pos.update_time}


def position_risk_v2(engine: FuturesEngine, account: Account, pos: Position) -> dict[str, Any]:
    inst = engine._markets[pos.symbol].inst
    n = _pos_numbers(engine, account, pos)
    isolated = account.margin_type.get(pos.symbol) == "ISOLATED"
    from .futures import _max_notional
    return {"entryPrice": fmt(pos.entry, 8), "breakEvenPrice": fmt(pos.entry, 8),
            "marginType": "isolated" if isolated else "cross", "isAutoAddMargin": "false",
            "isolatedMargin": fmt(n["im"] if isolated else ZERO, 8), "leverage": str(int(n["lev"])),
            "liquidationPrice": "0", "markPrice": fmt(n["mark"], 8),
            "maxNotionalValue": str(_max_notional(int(n["lev"]))), "positionAmt": inst.fq(pos.amount),
            "notional": fmt(n["notional"], 8), "isolatedWallet": fmt(n["im"] if isolated else ZERO, 8),
            "symbol": pos.symbol, "unRealizedProfit": fmt(n["up"], 8), "positionSide": pos.side,
            "updateTime": pos.update_time}


def all_positions(engine: FuturesEngine, account: Account, symbol: str | None = None) -> list[Position]:
    """Every (symbol, side) row Binance lists for this account's mode, creating empty ones."""
    sides = ("LONG", "SHORT") if account.dual_side else ("BOTH",)
    out = []
    for sym in engine._markets:
        if symbol is not None and sym != symbol:
            continue
        for side in sides:
            out.append(account.position(sym, side))
    return out


def asset_row(engine: FuturesEngine, account: Account, asset: str, v2: bool) -> dict[str, Any]:
    w = account.wallet(asset)
    up = engine.unrealized(account, asset)
    pim, oim = engine.position_margin(account, asset), engine.order_margin(account, asset)
    avail = engine.available(account, asset)
    d: dict[str, Any] = {
        "asset": asset, "walletBalance": fmt(w.balance, 8), "unrealizedProfit": fmt(up, 8),
        "marginBalance": fmt(w.balance + up, 8), "maintMargin": fmt(pim * Decimal("0.08"), 8),
        "initialMargin": fmt(pim + oim, 8), "positionInitialMargin": fmt(pim, 8),
        "openOrderInitialMargin": fmt(oim, 8), "crossWalletBalance": fmt(w.balance, 8), "crossUnPnl": fmt(up, 8),
        "availableBalance": fmt(avail, 8), "maxWithdrawAmount": fmt(max(ZERO, min(avail, w.balance)), 8),
    }
    if v2:
        d["marginAvailable"] = True
    d["updateTime"] = w.update_time
    return d


def account_view(engine: FuturesEngine, account: Account, v2: bool) -> dict[str, Any]:
    assets = [asset_row(engine, account, a, v2) for a in sorted(account.usdm)]
    tot = {k: sum((Decimal(a[k]) for a in assets), ZERO) for k in (
        "initialMargin", "maintMargin", "walletBalance", "unrealizedProfit", "marginBalance",
        "positionInitialMargin", "openOrderInitialMargin", "crossWalletBalance", "crossUnPnl", "availableBalance",
        "maxWithdrawAmount")}
    body: dict[str, Any] = {}
    if v2:
        body.update({"feeTier": 0, "feeBurn": True, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                     "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1})
    body.update({
        "totalInitialMargin": fmt(tot["initialMargin"], 8), "totalMaintMargin": fmt(tot["maintMargin"], 8),
        "totalWalletBalance": fmt(tot["walletBalance"], 8), "totalUnrealizedProfit": fmt(tot["unrealizedProfit"], 8),
        "totalMarginBalance": fmt(tot["marginBalance"], 8),
        "totalPositionInitialMargin": fmt(tot["positionInitialMargin"], 8),
        "totalOpenOrderInitialMargin": fmt(tot["openOrderInitialMargin"], 8),
        "totalCrossWalletBalance": fmt(tot["crossWalletBalance"], 8), "totalCrossUnPnl": fmt(tot["crossUnPnl"], 8),
        "availableBalance": fmt(tot["availableBalance"], 8), "maxWithdrawAmount": fmt(tot["maxWithdrawAmount"], 8),
        "assets": assets,
    })
    if v2:
        body["positions"] = [_v2_account_position(engine, account, p) for p in all_positions(engine, account)]
    else:
        body["positions"] = [_v3_account_position(engine, account, p) for p in account.positions.values()
                             if p.amount != ZERO]
    return body


def _v3_account_position(engine: FuturesEngine, account: Account, pos: Position) -> dict[str, Any]:
    inst = engine._markets[pos.symbol].inst
    n = _pos_numbers(engine, account, pos)
    isolated = account.margin_type.get(pos.symbol) == "ISOLATED"
    return {"symbol": pos.symbol, "positionSide": pos.side, "positionAmt": inst.fq(pos.amount),
            "unrealizedProfit": fmt(n["up"], 8), "isolatedMargin": fmt(n["im"] if isolated else ZERO, 8),
            "notional": fmt(n["notional"], 8), "isolatedWallet": fmt(n["im"] if isolated else ZERO, 8),
            "initialMargin": fmt(n["im"], 8), "maintMargin": fmt(n["mm"], 8), "updateTime": pos.update_time}


def _v2_account_position(engine: FuturesEngine, account: Account, pos: Position) -> dict[str, Any]:
    inst = engine._markets[pos.symbol].inst
    n = _pos_numbers(engine, account, pos)
    from .futures import _max_notional
    return {"symbol": pos.symbol, "initialMargin": fmt(n["im"], 8), "maintMargin": fmt(n["mm"], 8),
            "unrealizedProfit": fmt(n["up"], 8), "positionInitialMargin": fmt(n["im"], 8),
            "openOrderInitialMargin": "0", "leverage": str(int(n["lev"])),
            "isolated": account.margin_type.get(pos.symbol) == "ISOLATED", "entryPrice": fmt(pos.entry, 8),
            "breakEvenPrice": fmt(pos.entry, 8), "maxNotional": str(_max_notional(int(n["lev"]))),
            "bidNotional": "0", "askNotional": "0", "positionSide": pos.side, "positionAmt": inst.fq(pos.amount),
            "updateTime": pos.update_time}


def balance_view(engine: FuturesEngine, account: Account) -> list[dict[str, Any]]:
    out = []
    for asset in sorted(account.usdm):
        w = account.wallet(asset)
        avail = engine.available(account, asset)
        up = engine.unrealized(account, asset)
        out.append({"accountAlias": "SgsR", "asset": asset, "balance": fmt(w.balance, 8),
                    "crossWalletBalance": fmt(w.balance, 8), "crossUnPnl": fmt(up, 8),
                    "availableBalance": fmt(avail, 8), "maxWithdrawAmount": fmt(max(ZERO, min(avail, w.balance)), 8),
                    "marginAvailable": True, "updateTime": w.update_time})
    return out


def leverage_brackets(symbol: str) -> dict[str, Any]:
    caps = ((125, 50_000, "0.004"), (100, 600_000, "0.005"), (50, 3_000_000, "0.01"), (20, 12_000_000, "0.025"),
            (10, 70_000_000, "0.05"), (5, 100_000_000, "0.1"), (4, 230_000_000, "0.125"),
            (3, 480_000_000, "0.15"), (2, 600_000_000, "0.25"), (1, 800_000_000, "0.5"))
    brackets, floor, cum = [], 0, Decimal(0)
    prev_ratio = Decimal(0)
    for i, (lev, cap, ratio) in enumerate(caps, start=1):
        r = Decimal(ratio)
        cum += Decimal(floor) * (r - prev_ratio)
        brackets.append({"bracket": i, "initialLeverage": lev, "notionalCap": cap, "notionalFloor": floor,
                         "maintMarginRatio": float(r), "cum": float(cum)})
        floor, prev_ratio = cap, r
    return {"symbol": symbol, "notionalCoef": 1.0, "brackets": brackets}
