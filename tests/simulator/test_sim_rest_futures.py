"""USD-M REST against real ccxt 4.5.90 over 127.0.0.1."""

from __future__ import annotations

import ccxt
import pytest

from foxtrot_binance.simulator import BinanceSimulator

SYM = "BTC/USDT:USDT"


def test_balance_and_market_data(swap) -> None:
    balance = swap.fetch_balance()
    assert balance["USDT"]["free"] == 100000.0 and balance["USDC"]["total"] == 50000.0
    book = swap.fetch_order_book(SYM, 10)
    assert book["bids"][0][0] < book["asks"][0][0] and book["timestamp"] is not None
    assert swap.fetch_ticker(SYM)["last"] > 0
    assert swap.fetch_bids_asks([SYM])[SYM]["ask"] == book["asks"][0][0]
    funding = swap.fetch_funding_rate(SYM)
    assert funding["fundingRate"] == 0.0001 and funding["markPrice"] > 0
    assert swap.fapiPublicGetPremiumIndex({"symbol": "BTCUSDT"})["symbol"] == "BTCUSDT"


def test_leverage_margin_mode_and_position_mode(swap) -> None:
    assert swap.set_leverage(7, SYM)["leverage"] == 7
    assert swap.set_margin_mode("isolated", SYM)["msg"] == "success"
    with pytest.raises(ccxt.MarginModeAlreadySet):
        swap.set_margin_mode("isolated", SYM)
    assert swap.set_position_mode(True)["msg"] == "success"
    with pytest.raises(ccxt.OperationRejected, match="No need to change position side"):
        swap.set_position_mode(True)
    assert swap.fetch_position_mode(SYM)["hedged"] is True


def test_one_way_positions_pnl_and_reduce_only(swap, simulator: BinanceSimulator) -> None:
    with pytest.raises(ccxt.ExchangeError, match="ReduceOnly Order is rejected"):
        swap.create_order(SYM, "market", "sell", 0.01, None, {"reduceOnly": True})
    buy = swap.create_order(SYM, "market", "buy", 0.02)
    assert buy["status"] == "closed" and buy["filled"] == 0.02
    [pos] = swap.fetch_positions([SYM])
    assert pos["side"] == "long" and pos["contracts"] == 0.02 and pos["entryPrice"] == buy["average"]
    with pytest.raises(ccxt.OperationRejected, match="position side does not match"):
        swap.create_order(SYM, "market", "buy", 0.01, None, {"positionSide": "LONG"})
    with pytest.raises(ccxt.ExchangeError, match="Position side cannot be changed"):
        swap.set_position_mode(True)
    sell = swap.create_order(SYM, "market", "sell", 0.01, None, {"reduceOnly": True})
    trades = swap.fetch_my_trades(SYM)
    assert float(trades[-1]["info"]["realizedPnl"]) == pytest.approx((sell["average"] - buy["average"]) * 0.01)
    [pos] = swap.fetch_positions([SYM])
    assert pos["contracts"] == 0.01


def test_hedge_mode_positions(swap) -> None:
    swap.set_position_mode(True)
    swap.create_order(SYM, "market", "buy", 0.01, None, {"positionSide": "LONG"})
    swap.create_order(SYM, "market", "sell", 0.02, None, {"positionSide": "SHORT"})
    positions = {p["side"]: p["contracts"] for p in swap.fetch_positions([SYM])}
    assert positions == {"long": 0.01, "short": 0.02}
    with pytest.raises(ccxt.ExchangeError, match="ReduceOnly"):
        swap.create_order(SYM, "market", "sell", 0.05, None, {"positionSide": "LONG"})
    swap.create_order(SYM, "market", "sell", 0.01, None, {"positionSide": "LONG"})
    assert {p["side"] for p in swap.fetch_positions([SYM])} == {"short"}


def test_rejections(swap) -> None:
    with pytest.raises(ccxt.ExchangeError, match="notional must be no smaller than 100"):
        swap.create_order(SYM, "limit", "buy", 0.001, 50000)
    with pytest.raises(ccxt.ExchangeError, match="Margin is insufficient"):
        swap.create_order(SYM, "market", "buy", 100)
    ask = swap.fetch_order_book(SYM, 5)["asks"][0][0]
    with pytest.raises(ccxt.ExchangeError, match="Post Only order will be rejected"):
        swap.create_order(SYM, "limit", "buy", 0.01, ask + 100, {"postOnly": True})


def test_limit_orders_open_cancel_and_fill_on_set_price(swap, simulator: BinanceSimulator) -> None:
    last = swap.fetch_ticker(SYM)["last"]
    price = round(last * 0.98, 1)
    order = swap.create_order(SYM, "limit", "buy", 0.01, price, {"clientOrderId": "fut-1"})
    assert order["status"] == "open" and order["clientOrderId"] == "fut-1"
    assert swap.fetch_order(None, SYM, {"origClientOrderId": "fut-1"})["id"] == order["id"]
    other = swap.create_order(SYM, "limit", "buy", 0.02, round(price * 0.99, 1))
    assert {o["id"] for o in swap.fetch_open_orders(SYM)} == {order["id"], other["id"]}
    assert swap.cancel_order(other["id"], SYM)["status"] == "canceled"
    simulator.set_price("BTCUSDT", price - 10, kind="usdm")
    filled = swap.fetch_order(order["id"], SYM)
    assert filled["status"] == "closed" and filled["average"] == price
    assert swap.fetch_positions([SYM])[0]["contracts"] == 0.01
    assert len(swap.fetch_closed_orders(SYM)) >= 1


def test_conditional_orders_via_algo_endpoint(swap, simulator: BinanceSimulator) -> None:
    last = swap.fetch_ticker(SYM)["last"]
    swap.create_order(SYM, "market", "buy", 0.02)
    stop = swap.create_order(SYM, "market", "sell", 0.02, None,
                             {"triggerPrice": round(last * 0.9, 1), "reduceOnly": True, "clientOrderId": "stop-1"})
    take = swap.create_order(SYM, "limit", "sell", 0.01, round(last * 1.1, 1),
                             {"takeProfitPrice": round(last * 1.1, 1), "reduceOnly": True})
    opened = swap.fetch_open_orders(SYM, params={"trigger": True})
    assert {o["id"] for o in opened} == {stop["id"], take["id"]}
    assert swap.fetch_order(stop["id"], SYM, {"trigger": True})["clientOrderId"] == "stop-1"
    canceled = swap.cancel_order(take["id"], SYM, {"trigger": True})
    assert canceled["id"] == take["id"]
    assert swap.fetch_order(take["id"], SYM, {"trigger": True})["status"] == "canceled"
    simulator.set_price("BTCUSDT", round(last * 0.89, 1), kind="usdm")
    info = swap.fetch_order(stop["id"], SYM, {"trigger": True})["info"]
    assert info["algoStatus"] == "FINISHED" and info["actualOrderId"]
    assert swap.fetch_positions([SYM]) == []
    actual = swap.fetch_order(info["actualOrderId"], SYM)
    assert actual["status"] == "closed" and actual["info"]["origType"] == "STOP_MARKET"


def test_funding_charges_long_positions(swap, simulator: BinanceSimulator) -> None:
    swap.create_order(SYM, "market", "buy", 0.1)
    before = swap.fetch_balance()["USDT"]["total"]
    mark = float(swap.fapiPublicGetPremiumIndex({"symbol": "BTCUSDT"})["markPrice"])
    simulator.apply_funding("BTCUSDT", "0.001")
    after = swap.fetch_balance()["USDT"]["total"]
    assert after == pytest.approx(before - 0.1 * mark * 0.001, abs=0.01)


def test_account_v2_and_position_risk_v2(swap) -> None:
    swap.create_order(SYM, "market", "buy", 0.01)
    v2 = swap.fapiPrivateV2GetAccount()
    assert {"feeTier", "assets", "positions", "totalWalletBalance"} <= set(v2)
    rows = swap.fapiPrivateV2GetPositionRisk({"symbol": "BTCUSDT"})
    assert rows[0]["positionAmt"] == "0.010" and rows[0]["leverage"] == "20"
    assert len(swap.fapiPrivateV2GetBalance()) == 2
    brackets = swap.fapiPrivateGetLeverageBracket({"symbol": "BTCUSDT"})
    assert brackets["brackets"][0]["initialLeverage"] == 125


def test_edit_order_and_batches(swap) -> None:
    last = swap.fetch_ticker(SYM)["last"]
    order = swap.create_order(SYM, "limit", "buy", 0.01, round(last * 0.9, 1))
    edited = swap.edit_order(order["id"], SYM, "limit", "buy", 0.02, round(last * 0.91, 1))
    assert edited["amount"] == 0.02 and edited["price"] == round(last * 0.91, 1) and edited["status"] == "open"
    taken = swap.edit_order(order["id"], SYM, "limit", "buy", 0.02, round(last * 1.01, 1))
    assert swap.fetch_order(taken["id"], SYM)["status"] == "closed"
    # the minimum amount at a price low enough that its notional is under the minimum at any BTC price
    limits = swap.market(SYM)["limits"]
    too_small = round(min(last * 0.8, limits["cost"]["min"] / limits["amount"]["min"] / 2), 1)
    placed = swap.create_orders([
        {"symbol": SYM, "type": "limit", "side": "buy", "amount": 0.01, "price": round(last * 0.8, 1)},
        {"symbol": SYM, "type": "limit", "side": "buy", "amount": limits["amount"]["min"], "price": too_small},
        {"symbol": SYM, "type": "limit", "side": "sell", "amount": 0.01, "price": round(last * 1.2, 1),
         "params": {"clientOrderId": "batch-3"}},
    ])
    # ccxt sorts by timestamp, so the rejected one (no timestamp) comes first
    assert sorted(o["status"] for o in placed) == ["open", "open", "rejected"]
    rejected = next(o for o in placed if o["status"] == "rejected")
    assert rejected["info"]["code"] == -4164
    first = next(o for o in placed if o["status"] == "open" and o["clientOrderId"] != "batch-3")
    canceled = swap.cancel_orders([first["id"]], SYM)
    assert canceled[0]["status"] == "canceled"
    canceled = swap.cancel_orders([], SYM, {"clientOrderIds": ["batch-3"]})
    assert canceled[0]["clientOrderId"] == "batch-3" and swap.fetch_open_orders(SYM) == []


def test_income_history_names_each_fills_commission_and_realised_pnl(swap) -> None:
    start = swap.milliseconds()
    buy = swap.create_order(SYM, "market", "buy", 0.02)
    sell = swap.create_order(SYM, "market", "sell", 0.02, None, {"reduceOnly": True})
    rows = swap.fapiPrivateGetIncome({"startTime": start})
    commissions = [r for r in rows if r["incomeType"] == "COMMISSION"]
    realised = [r for r in rows if r["incomeType"] == "REALIZED_PNL"]
    assert {r["symbol"] for r in rows} == {"BTCUSDT"} and len(commissions) >= 2
    assert all(float(r["income"]) < 0 and r["asset"] == "USDT" for r in commissions)
    assert sum(float(r["income"]) for r in realised) == pytest.approx((sell["average"] - buy["average"]) * 0.02)
    assert [int(r["time"]) for r in rows] == sorted(int(r["time"]) for r in rows)
    assert swap.fapiPrivateGetIncome({"startTime": start, "incomeType": "REALIZED_PNL"}) == realised
    assert swap.fapiPrivateGetIncome({"startTime": swap.milliseconds() + 60_000}) == []
