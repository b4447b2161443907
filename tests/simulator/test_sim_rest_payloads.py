"""Every REST answer carries every key its real Binance counterpart carries (binance_examples)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from foxtrot_binance.simulator import BinanceSimulator

from conftest import ccxt_client

EXAMPLES = Path("/work/shared/reference/binance_examples")
CONDITIONAL = {"stopPrice", "icebergQty", "activatePrice", "priceRate", "pair", "cumBase"}


def missing(name: str, got: Any) -> set[str]:
    want = json.loads((EXAMPLES / f"{name}.json").read_text())["payload"]
    if isinstance(want, list):
        assert isinstance(got, list) and got, name
        want, got = want[0], got[0]
    return set(want) - set(got) - CONDITIONAL


def test_spot_rest_payloads(simulator: BinanceSimulator) -> None:
    c = ccxt_client(simulator)
    last = float(c.publicGetTickerPrice({"symbol": "BTCUSDT"})["price"])
    placed = c.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"})
    resting = c.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                  "quantity": "0.001", "price": f"{last * 0.9:.2f}", "newOrderRespType": "RESULT"})
    checks = {
        "spot_rest_order_post_full": placed,
        "spot_rest_order_post_result": resting,
        "spot_rest_order_get": c.privateGetOrder({"symbol": "BTCUSDT", "orderId": resting["orderId"]}),
        "spot_rest_openOrders": c.privateGetOpenOrders({"symbol": "BTCUSDT"}),
        "spot_rest_allOrders": c.privateGetAllOrders({"symbol": "BTCUSDT"}),
        "spot_rest_myTrades": c.privateGetMyTrades({"symbol": "BTCUSDT"}),
        "spot_rest_account": c.privateGetAccount(),
        "spot_rest_depth": c.publicGetDepth({"symbol": "BTCUSDT", "limit": 5}),
        "spot_rest_ticker_24hr": c.publicGetTicker24hr({"symbol": "BTCUSDT"}),
        "spot_rest_ticker_24hr_mini": c.publicGetTicker24hr({"symbol": "BTCUSDT", "type": "MINI"}),
        "spot_rest_ticker_bookTicker": c.publicGetTickerBookTicker({"symbol": "BTCUSDT"}),
        "spot_rest_ticker_bookTicker_list": c.publicGetTickerBookTicker(),
        "spot_rest_ticker_price": c.publicGetTickerPrice({"symbol": "BTCUSDT"}),
        "spot_rest_time": c.publicGetTime(),
        "spot_rest_avgPrice": c.publicGetAvgPrice({"symbol": "BTCUSDT"}),
        "spot_rest_order_delete": c.privateDeleteOrder({"symbol": "BTCUSDT", "orderId": resting["orderId"]}),
    }
    info = c.publicGetExchangeInfo()
    assert missing("spot_rest_exchangeInfo", info) <= {"sors"}
    assert {"timezone", "serverTime", "rateLimits", "exchangeFilters", "symbols"} <= set(info)
    for name, got in checks.items():
        assert missing(name, got) == set(), name
    kline = c.publicGetKlines({"symbol": "BTCUSDT", "interval": "1m", "limit": 1})[0]
    assert len(kline) == 12 and all(isinstance(v, str) for v in kline[1:6])
    assert "bidQty" in checks["spot_rest_ticker_24hr"] and "time" not in checks["spot_rest_ticker_bookTicker"]
    for forbidden in ("positionSide", "cumQuote"):
        assert forbidden not in checks["spot_rest_order_get"]


def test_usdm_rest_payloads(simulator: BinanceSimulator) -> None:
    c = ccxt_client(simulator, "swap")
    last = float(c.fapiPublicGetTickerPrice({"symbol": "BTCUSDT"})["price"])
    c.fapiPrivatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"})
    resting = c.fapiPrivatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                      "quantity": "0.01", "price": f"{last * 0.9:.1f}"})
    algo = c.fapiPrivatePostAlgoOrder({"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL",
                                       "type": "STOP_MARKET", "quantity": "0.01", "triggerPrice": f"{last * 0.8:.1f}"})
    checks = {
        "usdm_rest_order_post": resting,
        "usdm_rest_order_get": c.fapiPrivateGetOrder({"symbol": "BTCUSDT", "orderId": resting["orderId"]}),
        "usdm_rest_openOrder": c.fapiPrivateGetOpenOrder({"symbol": "BTCUSDT", "orderId": resting["orderId"]}),
        "usdm_rest_openOrders": c.fapiPrivateGetOpenOrders({"symbol": "BTCUSDT"}),
        "usdm_rest_allOrders": c.fapiPrivateGetAllOrders({"symbol": "BTCUSDT"}),
        "usdm_rest_userTrades": c.fapiPrivateGetUserTrades({"symbol": "BTCUSDT"}),
        "usdm_rest_algoOrder_post": algo,
        "usdm_rest_algoOrder_get": c.fapiPrivateGetAlgoOrder({"algoId": algo["algoId"]}),
        "usdm_rest_openAlgoOrders": c.fapiPrivateGetOpenAlgoOrders({"symbol": "BTCUSDT"}),
        "usdm_rest_allAlgoOrders": c.fapiPrivateGetAllAlgoOrders({"symbol": "BTCUSDT"}),
        "usdm_rest_account_v3": c.fapiPrivateV3GetAccount(),
        "usdm_rest_account_v2": c.fapiPrivateV2GetAccount(),
        "usdm_rest_balance_v2": c.fapiPrivateV2GetBalance(),
        "usdm_rest_positionRisk": c.fapiPrivateV3GetPositionRisk(),
        "usdm_rest_positionRisk_v2": c.fapiPrivateV2GetPositionRisk({"symbol": "BTCUSDT"}),
        "usdm_rest_leverageBracket": c.fapiPrivateGetLeverageBracket(),
        "usdm_rest_leverage_post": c.fapiPrivatePostLeverage({"symbol": "BTCUSDT", "leverage": 5}),
        "usdm_rest_marginType_post": c.fapiPrivatePostMarginType({"symbol": "ETHUSDT", "marginType": "ISOLATED"}),
        "usdm_rest_positionSide_dual_get": c.fapiPrivateGetPositionSideDual(),
        "usdm_rest_symbolConfig": c.fapiPrivateGetSymbolConfig({"symbol": "BTCUSDT"}),
        "usdm_rest_commissionRate": c.fapiPrivateGetCommissionRate({"symbol": "BTCUSDT"}),
        "usdm_rest_depth": c.fapiPublicGetDepth({"symbol": "BTCUSDT", "limit": 5}),
        "usdm_rest_ticker_24hr": c.fapiPublicGetTicker24hr({"symbol": "BTCUSDT"}),
        "usdm_rest_ticker_bookTicker": c.fapiPublicGetTickerBookTicker({"symbol": "BTCUSDT"}),
        "usdm_rest_ticker_price": c.fapiPublicGetTickerPrice({"symbol": "BTCUSDT"}),
        "usdm_rest_premiumIndex": c.fapiPublicGetPremiumIndex({"symbol": "BTCUSDT"}),
        "usdm_rest_premiumIndex_list": c.fapiPublicGetPremiumIndex(),
        "usdm_rest_time": c.fapiPublicGetTime(),
        "usdm_rest_order_delete": c.fapiPrivateDeleteOrder({"symbol": "BTCUSDT", "orderId": resting["orderId"]}),
        "usdm_rest_algoOrder_delete": c.fapiPrivateDeleteAlgoOrder({"algoId": algo["algoId"]}),
        "usdm_rest_allOpenOrders_delete": c.fapiPrivateDeleteAllOpenOrders({"symbol": "BTCUSDT"}),
    }
    for name, got in checks.items():
        assert missing(name, got) == set(), name
    info = c.fapiPublicGetExchangeInfo()
    assert missing("usdm_rest_exchangeInfo", info) == set()
    for key in ("positionSide", "cumQuote"):
        assert key in checks["usdm_rest_order_get"]
    assert c.fapiPrivateV3GetAccount()["assets"][0]["updateTime"] > 0


def test_firehose_publishes_book_tickers_through_the_bus(simulator: BinanceSimulator) -> None:
    seen: list[str] = []
    sink = lambda stream, payload: seen.append(payload["s"])  # noqa: E731
    for symbol in ("btcusdt", "ethusdt"):
        simulator.call(simulator.bus.subscribe, "spot", f"{symbol}@bookTicker", sink)
    assert simulator.firehose("spot", ["BTCUSDT", "ETHUSDT"], 1000).result(timeout=10) == 1000
    assert simulator.call(len, seen) == 1000 and seen[:2] == ["BTCUSDT", "ETHUSDT"]


def test_firehose_reports_each_published_message_for_exact_timing(simulator: BinanceSimulator) -> None:
    published: list[tuple[str, int, float]] = []
    done = simulator.firehose("usdm", ["BTCUSDT", "ETHUSDT"], 50, rate=10_000,
                              on_publish=lambda p: published.append((p["s"], p["E"], float(p["B"]))))
    assert done.result(timeout=10) == 50
    assert simulator.call(len, published) == 50
    # what a benchmark keys a tick by is unique per message: symbol, event ms, bid quantity
    assert len(set(published)) == 50
