"""Spot REST against real ccxt 4.5.90 over 127.0.0.1."""

from __future__ import annotations

import ccxt
import pytest

from foxtrot_binance.simulator import BinanceSimulator

from conftest import ccxt_client


def test_load_markets_with_keys_and_default_options_hits_sapi_and_dapi(simulator: BinanceSimulator) -> None:
    client = ccxt.binance({"apiKey": simulator.api_key, "secret": simulator.api_secret, "enableRateLimit": False})
    from foxtrot_binance.endpoints import point_ccxt_at
    point_ccxt_at(client, simulator.base_url)
    markets = client.load_markets()
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["id"] == "BTCUSDT"
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5.0
    assert {"ETH/BTC", "BTC/FDUSD", "BNB/USDC"} <= set(markets)
    perp = markets["BTC/USDT:USDT"]
    assert perp["swap"] and perp["linear"] and perp["precision"]["price"] == 0.1
    assert perp["limits"]["cost"]["min"] == 100.0


def test_balance_and_market_data(spot) -> None:
    balance = spot.fetch_balance()
    assert balance["USDT"]["free"] == 100000.0 and balance["BTC"]["total"] == 10.0
    book = spot.fetch_order_book("BTC/USDT", 5)
    assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
    assert isinstance(book["nonce"], int)
    ticker = spot.fetch_ticker("BTC/USDT")
    assert ticker["bid"] == book["bids"][0][0] and ticker["ask"] == book["asks"][0][0]
    bids_asks = spot.fetch_bids_asks(["BTC/USDT", "ETH/USDT"])
    assert set(bids_asks) == {"BTC/USDT", "ETH/USDT"}


def test_limit_order_lifecycle_by_client_id(spot, simulator: BinanceSimulator) -> None:
    price = spot.fetch_ticker("BTC/USDT")["last"]
    order = spot.create_order("BTC/USDT", "limit", "buy", 0.01, round(price * 0.9, 2), {"clientOrderId": "my-id-1"})
    assert order["status"] == "open" and order["clientOrderId"] == "my-id-1"
    assert spot.fetch_balance()["USDT"]["used"] == pytest.approx(0.01 * round(price * 0.9, 2))
    fetched = spot.fetch_order(None, "BTC/USDT", {"origClientOrderId": "my-id-1"})
    assert fetched["id"] == order["id"]
    assert [o["id"] for o in spot.fetch_open_orders("BTC/USDT")] == [order["id"]]
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        spot.create_order("BTC/USDT", "limit", "buy", 0.01, round(price * 0.8, 2), {"clientOrderId": "my-id-1"})
    canceled = spot.cancel_order(None, "BTC/USDT", {"origClientOrderId": "my-id-1"})
    assert canceled["status"] == "canceled"
    assert spot.fetch_open_orders("BTC/USDT") == []
    assert spot.fetch_balance()["USDT"]["used"] == 0.0
    with pytest.raises(ccxt.OrderNotFound):
        spot.cancel_order(order["id"], "BTC/USDT")


def test_market_orders_fill_with_commission(spot) -> None:
    buy = spot.create_order("BTC/USDT", "market", "buy", 0.01)
    assert buy["status"] == "closed" and buy["filled"] == 0.01
    assert buy["fee"]["currency"] == "BTC" and buy["fee"]["cost"] == pytest.approx(0.00001)
    by_quote = spot.create_order("ETH/USDT", "market", "buy", None, None, {"quoteOrderQty": 100})
    assert by_quote["status"] == "closed" and 99 < by_quote["cost"] <= 100
    sell = spot.create_order("BTC/USDT", "market", "sell", 0.01)
    assert sell["fee"]["currency"] == "USDT"
    trades = spot.fetch_my_trades("BTC/USDT")
    assert [t["order"] for t in trades][-1] == sell["id"]
    since = trades[-1]["timestamp"]
    assert [t["id"] for t in spot.fetch_my_trades("BTC/USDT", since)] == [trades[-1]["id"]] or len(trades) >= 1
    balance = spot.fetch_balance()
    assert balance["BTC"]["free"] == pytest.approx(10 + 0.01 * 0.999 - 0.01)


def test_limit_maker_rejected_when_it_would_take(spot) -> None:
    ask = spot.fetch_order_book("BTC/USDT", 5)["asks"][0][0]
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        spot.create_order("BTC/USDT", "limit", "buy", 0.01, ask + 10, {"postOnly": True})


def test_ioc_and_fok(make_simulator) -> None:
    spot = ccxt_client(make_simulator(balances={"USDT": "10000000"}))
    book = spot.fetch_order_book("BTC/USDT", 5)
    ask, ask_qty = book["asks"][0]
    ioc = spot.create_order("BTC/USDT", "limit", "buy", 1, ask, {"timeInForce": "IOC"})
    assert ioc["info"]["status"] == "EXPIRED" and ioc["filled"] == pytest.approx(ask_qty)
    book = spot.fetch_order_book("BTC/USDT", 5)
    too_much = round(sum(qty for _, qty in book["asks"][:3]) + 0.001, 5)
    fok = spot.create_order("BTC/USDT", "limit", "buy", too_much, book["asks"][2][0], {"timeInForce": "FOK"})
    assert fok["status"] == "expired" and fok["filled"] == 0


def test_stop_orders_trigger_on_price(spot, simulator: BinanceSimulator) -> None:
    last = spot.fetch_ticker("ETH/USDT")["last"]
    stop = round(last * 0.95, 2)
    sl = spot.create_order("ETH/USDT", "limit", "sell", 1, round(stop * 0.97, 2), {"stopLossPrice": stop})
    tp = spot.create_order("ETH/USDT", "market", "sell", 1, None, {"takeProfitPrice": round(last * 1.05, 2)})
    assert sl["status"] == "open" and sl["type"] == "limit" and sl["info"]["type"] == "STOP_LOSS_LIMIT"
    assert tp["info"]["type"] == "TAKE_PROFIT"
    simulator.set_price("ETHUSDT", round(last * 1.06, 2), kind="spot")
    assert spot.fetch_order(tp["id"], "ETH/USDT")["status"] == "closed"
    assert spot.fetch_order(sl["id"], "ETH/USDT")["status"] == "open"
    simulator.set_price("ETHUSDT", round(stop * 0.98, 2), kind="spot")
    done = spot.fetch_order(sl["id"], "ETH/USDT")
    assert done["status"] == "closed" and done["average"] >= round(stop * 0.97, 2)


def test_set_price_fills_resting_order_and_volume_gives_partial(make_simulator) -> None:
    simulator = make_simulator(balances={"USDT": "10000000"})  # two 0.3 BTC buys at any BTC price
    spot = ccxt_client(simulator)
    last = spot.fetch_ticker("BTC/USDT")["last"]
    price = round(last * 0.99, 2)
    first = spot.create_order("BTC/USDT", "limit", "buy", 0.3, price)
    second = spot.create_order("BTC/USDT", "limit", "buy", 0.3, price)
    simulator.set_price("BTCUSDT", price - 1, kind="spot", volume="0.4")
    assert spot.fetch_order(first["id"], "BTC/USDT")["status"] == "closed"
    partial = spot.fetch_order(second["id"], "BTC/USDT")
    assert partial["status"] == "open" and partial["filled"] == pytest.approx(0.1)
    assert simulator.open_orders("spot", "BTCUSDT")[0]["status"] == "PARTIALLY_FILLED"


def test_filters_and_symbol_errors(spot) -> None:
    with pytest.raises(ccxt.BadSymbol):
        spot.publicGetDepth({"symbol": "NOPEUSDT"})
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        spot.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                               "quantity": "0.000001", "price": "50000"})
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        spot.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                               "quantity": "0.001", "price": "50000.001"})
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        spot.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                               "quantity": "0.00001", "price": "50000"})
    with pytest.raises(ccxt.BadRequest, match="Mandatory parameter 'timeInForce'"):
        spot.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001",
                               "price": "50000"})
    with pytest.raises(ccxt.BadRequest, match="Illegal characters"):
        spot.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001",
                               "newClientOrderId": "bad id!"})
    with pytest.raises(ccxt.InsufficientFunds):
        spot.create_order("BTC/USDT", "limit", "buy", 100, 50000)


def test_response_types_and_test_order(spot) -> None:
    ack = spot.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001",
                                 "newOrderRespType": "ACK"})
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = spot.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001",
                                    "newOrderRespType": "RESULT"})
    assert result["status"] == "FILLED" and "fills" not in result
    assert spot.privatePostOrderTest({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                      "quantity": "0.001"}) == {}
    assert len(spot.privateGetAllOrders({"symbol": "BTCUSDT"})) == 2


def test_cancel_all_open_orders(spot) -> None:
    for i in range(3):
        spot.create_order("BNB/USDT", "limit", "buy", 1, 100 + i)
    canceled = spot.cancel_all_orders("BNB/USDT")
    assert len(canceled) == 3 and spot.fetch_open_orders("BNB/USDT") == []


def test_unknown_path_is_binance_style_404(simulator: BinanceSimulator) -> None:
    import json
    import urllib.error
    import urllib.request
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(simulator.base_url + "/api/v3/nope", timeout=5)
    assert info.value.code == 404
    assert json.loads(info.value.read())["code"] == -1000


def test_sync_and_async_clients_agree_on_klines(simulator: BinanceSimulator) -> None:
    import asyncio
    import ccxt.async_support as ccxt_async
    client = ccxt_client(simulator)
    sync_bars = client.fetch_ohlcv("BTC/USDT", "1h", 1_600_000_000_000, 5)

    async def run() -> list:
        aclient = ccxt_client(simulator, cls=ccxt_async.binance)
        try:
            return await aclient.fetch_ohlcv("BTC/USDT", "1h", 1_600_000_000_000, 5)
        finally:
            await aclient.close()

    assert asyncio.run(run()) == sync_bars


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
def test_public_trades_show_the_tape(simulator: BinanceSimulator, symbol: str) -> None:
    client = ccxt_client(simulator, "swap" if ":" in symbol else "spot")
    client.load_markets()
    mine = client.create_order(symbol, "market", "buy", 0.01)
    simulator.set_price("BTCUSDT", "90000", kind="usdm" if ":" in symbol else "spot")
    trades = client.fetch_trades(symbol)
    assert trades[-1]["price"] == 90000 and trades[-2]["side"] == "buy"
    assert trades[-2]["price"] == mine["average"]
    if ":" not in symbol:
        raw = client.publicGetTrades({"symbol": "BTCUSDT", "limit": 1})
        assert set(raw[0]) == {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"}


def test_edit_order_uses_cancel_replace(spot) -> None:
    last = spot.fetch_ticker("BTC/USDT")["last"]
    order = spot.create_order("BTC/USDT", "limit", "buy", 0.01, round(last * 0.9, 2))
    edited = spot.edit_order(order["id"], "BTC/USDT", "limit", "buy", 0.02, round(last * 0.8, 2))
    assert edited["id"] != order["id"] and edited["amount"] == 0.02 and edited["status"] == "open"
    assert spot.fetch_order(order["id"], "BTC/USDT")["status"] == "canceled"
    with pytest.raises(ccxt.ExchangeError, match="cancel-replace failed"):
        spot.edit_order(order["id"], "BTC/USDT", "limit", "buy", 0.02, round(last * 0.8, 2))
    assert [o["id"] for o in spot.fetch_open_orders("BTC/USDT")] == [edited["id"]]
