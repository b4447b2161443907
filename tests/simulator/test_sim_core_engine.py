"""The exchange core without sockets: matching, balances, positions, events and stream payloads."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from foxtrot_binance.simulator.bus import StreamBus
from foxtrot_binance.simulator.context import SimContext
from foxtrot_binance.simulator.errors import BinanceError
from foxtrot_binance.simulator.exchange import Exchange
from foxtrot_binance.simulator.faults import Faults
from foxtrot_binance.simulator.params import Params

EXAMPLES = Path("/work/shared/reference/binance_examples")
KEY = "core-test-key"


def example(name: str) -> Any:
    payload = json.loads((EXAMPLES / f"{name}.json").read_text())["payload"]
    if isinstance(payload, dict) and "event" in payload and "subscriptionId" in payload:
        return payload["event"]
    return payload


def keys_of(payload: Any) -> set[str]:
    return set((payload[0] if isinstance(payload, list) else payload).keys())


class Core:
    def __init__(self, **balances: Any) -> None:
        self.ctx = SimContext(StreamBus(), Faults())
        self.ex = Exchange(self.ctx, 0, None, balances or None, None)
        self.ctx.exchange = self.ex
        self.acct = self.ex.new_account(KEY)
        self.ctx.auth.add_hmac_key(KEY, "secret", self.acct)
        self.events: dict[str, list[dict[str, Any]]] = {"spot": [], "usdm": []}
        self.streams: list[tuple[str, Any]] = []
        for kind in ("spot", "usdm"):
            self.ctx.bus.subscribe_user(kind, KEY, lambda _s, p, k=kind: self.events[k].append(p))

    def listen(self, kind: str, *names: str) -> None:
        for name in names:
            self.ctx.bus.subscribe(kind, name, lambda s, p: self.streams.append((s, p)))  # type: ignore[arg-type]

    def spot_order(self, **params: str) -> Any:
        return self.ex.spot.new_order(self.acct, Params(params))

    def fut_order(self, **params: str) -> Any:
        return self.ex.usdm.new_order(self.acct, Params(params))

    def price(self, kind: str, symbol: str = "BTCUSDT") -> Decimal:
        return self.ex.markets[kind][symbol].price  # type: ignore[index]


@pytest.fixture
def core() -> Core:
    return Core()


def test_spot_limit_order_events_balances_and_fill(core: Core) -> None:
    price = (core.price("spot") * Decimal("0.99")).quantize(Decimal("0.01"))
    order, trades = core.spot_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                    quantity="0.1", price=str(price), newClientOrderId="c1")
    assert trades == [] and order.status == "NEW"
    new, position = core.events["spot"]
    assert new["e"] == "executionReport" and new["x"] == "NEW" and new["c"] == "c1"
    assert keys_of(example("spot_ws_executionReport")) - {"v"} <= set(new) and "ps" not in new
    assert position["e"] == "outboundAccountPosition"
    assert keys_of(example("spot_ws_outboundAccountPosition")) <= set(position)
    assert core.acct.balance("USDT").locked == price * Decimal("0.1")
    core.events["spot"].clear()
    core.ex.set_price("BTCUSDT", price - 5, "spot", None)
    report = core.events["spot"][0]
    assert (report["x"], report["X"], report["L"]) == ("TRADE", "FILLED", f"{price:.8f}")
    assert report["m"] is True and report["N"] == "BTC"
    assert core.acct.balance("USDT").locked == 0
    assert core.acct.balance("USDT").free == Decimal(100000) - price * Decimal("0.1")
    assert core.acct.balance("BTC").free == Decimal(10) + Decimal("0.1") * Decimal("0.999")


def test_spot_cancel_report_carries_both_client_ids(core: Core) -> None:
    price = (core.price("spot") * Decimal("0.9")).quantize(Decimal("0.01"))
    core.spot_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1",
                    price=str(price), newClientOrderId="orig")
    order, cancel_id = core.ex.spot.cancel(core.acct, Params({"symbol": "BTCUSDT", "origClientOrderId": "orig"}))
    canceled = [e for e in core.events["spot"] if e["e"] == "executionReport"][-1]
    assert (canceled["x"], canceled["C"], canceled["c"]) == ("CANCELED", "orig", cancel_id)
    with pytest.raises(BinanceError) as info:
        core.ex.spot.cancel(core.acct, Params({"symbol": "BTCUSDT", "orderId": str(order.order_id)}))
    assert info.value.code == -2011


def test_spot_rejections(core: Core) -> None:
    with pytest.raises(BinanceError) as info:
        core.spot_order(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="1", price="1")
    assert (info.value.code, info.value.msg) == (-1102, "Mandatory parameter 'timeInForce' was not sent, was "
                                                        "empty/null, or malformed.")
    with pytest.raises(BinanceError) as info:
        core.spot_order(symbol="NOPE", side="BUY", type="MARKET", quantity="1")
    assert info.value.code == -1121
    with pytest.raises(BinanceError) as info:
        core.spot_order(symbol="BTCUSDT", side="BUY", type="MARKET")
    assert info.value.code == -1102
    with pytest.raises(BinanceError) as info:
        core.spot_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1", price="1e3")
    assert info.value.code == -1100


def test_market_buy_walks_the_book_and_moves_depth() -> None:
    core = Core(USDT=10**9)  # the book's depth follows the simulated hour: fund any sweep
    market = core.ex.markets["spot"]["ETHUSDT"]
    core.listen("spot", "ethusdt@depth@100ms", "ethusdt@bookTicker", "ethusdt@trade", "ethusdt@aggTrade")
    asks = sorted(market.asks.items())[:3]
    qty = market.q(asks[0][1] + asks[1][1] + 1)
    order, trades = core.spot_order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity=str(qty))
    assert order.status == "FILLED" and [t.price for t in trades] == [market.p(t) for t, _ in asks]
    names = [name for name, _ in core.streams]
    assert names.count("ethusdt@trade") == 3 and "ethusdt@bookTicker" in names
    trade = next(p for n, p in core.streams if n == "ethusdt@trade")
    assert set(trade) == keys_of(example("spot_ws_trade")) and trade["m"] is False
    assert set(next(p for n, p in core.streams if n == "ethusdt@aggTrade")) == keys_of(example("spot_ws_aggTrade"))
    assert set(next(p for n, p in core.streams if n == "ethusdt@bookTicker")) == keys_of(example("spot_ws_bookTicker"))
    core.ex.flush_all(force=True)
    diff = next(p for n, p in core.streams if n == "ethusdt@depth@100ms")
    assert set(diff) == keys_of(example("spot_ws_depthUpdate"))


@pytest.mark.parametrize("kind", ["spot", "usdm"])
def test_depth_diffs_chain_and_skip_fault_makes_a_gap(core: Core, kind: str) -> None:
    stream = "btcusdt@depth@100ms"
    core.listen(kind, stream)
    base = core.price(kind)
    for i in range(30):
        if i == 20:
            core.ctx.faults.skip_depth_update("BTCUSDT")
        core.ex.set_price("BTCUSDT", base * (1 + Decimal(i % 7 - 3) / 10_000), kind, None)
    diffs = [p for n, p in core.streams if n == stream]
    gaps = [i for i, (a, b) in enumerate(zip(diffs, diffs[1:])) if b["U"] != a["u"] + 1]
    assert len(diffs) == 29 and len(gaps) == 1
    if kind == "usdm":
        assert all(b["pu"] == a["u"] for a, b in zip(diffs, diffs[1:]) if b["U"] == a["u"] + 1)
        assert set(diffs[0]) == keys_of(example("usdm_ws_depthUpdate"))


def test_periodic_streams_payload_shapes(core: Core) -> None:
    core.listen("spot", "btcusdt@ticker", "btcusdt@miniTicker", "btcusdt@kline_1m", "btcusdt@depth5", "!miniTicker@arr")
    core.listen("usdm", "btcusdt@ticker", "btcusdt@markPrice@1s", "btcusdt@depth10@100ms", "btcusdt@bookTicker")
    core.ex.set_price("BTCUSDT", core.price("spot") + 10, None, None)
    by_name: dict[str, list[Any]] = {}
    for name, payload in core.streams:
        by_name.setdefault(name, []).append(payload)
    spot_ticker, fut_ticker = by_name["btcusdt@ticker"]
    assert set(spot_ticker) == keys_of(example("spot_ws_24hrTicker"))
    assert set(fut_ticker) == keys_of(example("usdm_ws_24hrTicker"))
    assert set(by_name["btcusdt@miniTicker"][0]) == keys_of(example("spot_ws_24hrMiniTicker"))
    kline = by_name["btcusdt@kline_1m"][0]
    assert set(kline["k"]) == set(example("spot_ws_kline")["k"])
    assert set(by_name["btcusdt@depth5"][0]) == keys_of(example("spot_ws_depth5_partial"))
    assert len(by_name["btcusdt@depth5"][0]["bids"]) == 5
    assert set(by_name["btcusdt@depth10@100ms"][0]) == keys_of(example("usdm_ws_depth_partial"))
    assert set(by_name["btcusdt@markPrice@1s"][0]) == keys_of(example("usdm_ws_markPriceUpdate"))
    assert set(by_name["btcusdt@bookTicker"][0]) == keys_of(example("usdm_ws_bookTicker"))
    assert isinstance(by_name["!miniTicker@arr"][0], list) and len(by_name["!miniTicker@arr"][0]) == 9


def test_futures_position_entry_realised_and_events(core: Core) -> None:
    core.fut_order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity="1")
    core.fut_order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity="1")
    pos = core.acct.position("ETHUSDT", "BOTH")
    trades = core.ex.usdm.trades(core.acct, "ETHUSDT")  # an order may walk more than one level of the book
    assert pos.amount == 2 and pos.entry == sum(t.price * t.qty for t in trades) / sum(t.qty for t in trades)
    lite = next(e for e in core.events["usdm"] if e["e"] == "TRADE_LITE")
    assert set(lite) == keys_of(example("usdm_ws_TRADE_LITE"))
    update = next(e for e in core.events["usdm"] if e["e"] == "ORDER_TRADE_UPDATE")
    assert keys_of(example("usdm_ws_ORDER_TRADE_UPDATE")["o"]) - {"AP", "cr"} <= set(update["o"])
    account = next(e for e in core.events["usdm"] if e["e"] == "ACCOUNT_UPDATE")
    assert account["a"]["m"] == "ORDER"
    assert keys_of(example("usdm_ws_ACCOUNT_UPDATE")["a"]["P"]) <= set(account["a"]["P"][0])
    wallet = core.acct.wallet("USDT").balance
    order = core.fut_order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="3")
    assert order.status == "FILLED" and pos.amount == -1
    sell_trades = core.ex.usdm.trades(core.acct)[len(trades):]
    fills = [t.price for t in sell_trades]
    assert min(fills) <= pos.entry <= max(fills)  # the flipped remainder opened at this order's prices
    realized = sum(t.realized for t in sell_trades)
    fees = sum(t.commission for t in sell_trades)
    assert core.acct.wallet("USDT").balance == wallet + realized - fees


def test_algo_order_trigger_publishes_algo_update(core: Core) -> None:
    core.fut_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    trigger = (core.price("usdm") * Decimal("1.05")).quantize(Decimal("0.1"))
    algo = core.ex.usdm.new_algo(core.acct, Params({"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL",
                                                    "type": "TAKE_PROFIT_MARKET", "triggerPrice": str(trigger),
                                                    "closePosition": "true"}))
    core.ex.set_price("BTCUSDT", trigger + 10, "usdm", None)
    statuses = [e["o"]["X"] for e in core.events["usdm"] if e["e"] == "ALGO_UPDATE"]
    assert statuses == ["NEW", "TRIGGERED", "FINISHED"] and algo.status == "FINISHED"
    first = next(e for e in core.events["usdm"] if e["e"] == "ALGO_UPDATE")
    assert keys_of(example("usdm_ws_ALGO_UPDATE")["o"]) - {"rm"} <= set(first["o"])
    assert core.acct.position("BTCUSDT", "BOTH").amount == 0


def test_futures_settings_rules(core: Core) -> None:
    eng = core.ex.usdm
    with pytest.raises(BinanceError) as info:
        eng.set_dual_side(core.acct, False)
    assert info.value.code == -4059
    price = (core.price("usdm") * Decimal("0.9")).quantize(Decimal("0.1"))
    core.fut_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price=str(price))
    with pytest.raises(BinanceError) as info:
        eng.set_dual_side(core.acct, True)
    assert info.value.code == -4067
    with pytest.raises(BinanceError) as info:
        eng.set_margin_type(core.acct, "BTCUSDT", "ISOLATED")
    assert info.value.code == -4047
    with pytest.raises(BinanceError) as info:
        eng.set_leverage(core.acct, "BTCUSDT", 126)
    assert info.value.code == -4028


def test_funding_fee_event(core: Core) -> None:
    core.fut_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.01")
    before = core.acct.wallet("USDT").balance
    mark = core.ex.markets["usdm"]["BTCUSDT"].mark_price
    core.ex.apply_funding("BTCUSDT", Decimal("0.0005"))
    assert core.acct.wallet("USDT").balance == before + (Decimal("0.01") * mark * Decimal("0.0005")).quantize(
        Decimal("0.00000001"))
    assert core.events["usdm"][-1]["a"]["m"] == "FUNDING_FEE"


def test_walk_is_deterministic_per_seed() -> None:
    a, b = Core(), Core()
    for _ in range(50):
        a.ex.walk_all()
        b.ex.walk_all()
    assert [m.price for m in a.ex.markets["spot"].values()] == [m.price for m in b.ex.markets["spot"].values()]


def test_deposit_events(core: Core) -> None:
    core.ex.deposit(core.acct, "USDT", Decimal("25"), "spot")
    update, position = core.events["spot"]
    assert set(update) == keys_of(example("spot_ws_balanceUpdate")) and update["d"] == "25.00000000"
    assert position["B"][0]["f"] == "100025.00000000"
    core.ex.deposit(core.acct, "USDT", Decimal("-5"), "usdm")
    assert core.events["usdm"][0]["a"]["m"] == "WITHDRAW" and core.acct.wallet("USDT").balance == 99995


def test_depth_chain_restarts_for_a_new_subscriber(core: Core) -> None:
    stream, seen = "btcusdt@depth@100ms", []
    sink = lambda _s, p: seen.append(p)  # noqa: E731
    core.ctx.bus.subscribe("usdm", stream, sink)
    core.ex.set_price("BTCUSDT", core.price("usdm") + 5, "usdm", None)
    core.ctx.bus.unsubscribe("usdm", stream, sink)
    core.ex.set_price("BTCUSDT", core.price("usdm") + 5, "usdm", None)
    core.ctx.bus.subscribe("usdm", stream, sink)
    snapshot_id = core.ex.markets["usdm"]["BTCUSDT"].update_id
    core.ex.set_price("BTCUSDT", core.price("usdm") + 5, "usdm", None)
    assert seen[-1]["pu"] == snapshot_id == seen[-1]["U"] - 1


def test_precision_and_tick_errors(core: Core) -> None:
    cases = [
        (core.spot_order, dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1",
                               price="50000.000000001"), -1111),
        (core.spot_order, dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1",
                               price="50000.001"), -1013),
        (core.fut_order, dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.0101",
                              price="50000"), -1111),
        (core.fut_order, dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
                              price="50000.05"), -4014),
    ]
    for place, params, code in cases:
        with pytest.raises(BinanceError) as info:
            place(**params)
        assert info.value.code == code, params


def test_a_taker_sweep_triggers_stops_and_fills_crossed_resting_orders() -> None:
    # funded for any book: the depth (and so the sweep's cost) varies with the start time
    core = Core(USDT="100000000", BNB="1000")
    market = core.ex.markets["spot"]["BNBUSDT"]
    asks = sorted(market.asks.items())
    sweep_to = market.p(asks[3][0])
    resting, _ = core.spot_order(symbol="BNBUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="1",
                                 price=str(market.p(asks[1][0])))
    stop, _ = core.spot_order(symbol="BNBUSDT", side="BUY", type="STOP_LOSS_LIMIT", timeInForce="GTC", quantity="1",
                              price=str(sweep_to * 2), stopPrice=str(market.p(asks[2][0])))
    qty = market.q(sum(n for _, n in asks[:4]))
    core.spot_order(symbol="BNBUSDT", side="BUY", type="MARKET", quantity=str(qty))
    assert resting.status == "FILLED" and stop.triggered and stop.executed == 1


def test_random_spot_activity_keeps_balances_consistent() -> None:
    import random
    core = Core()
    rng = random.Random(42)
    market = core.ex.markets["spot"]["ETHUSDT"]
    for _ in range(300):
        last = market.price
        action = rng.random()
        try:
            if action < 0.4:
                price = (last * Decimal(str(rng.uniform(0.97, 1.03)))).quantize(Decimal("0.01"))
                core.spot_order(symbol="ETHUSDT", side=rng.choice(["BUY", "SELL"]), type="LIMIT",
                                timeInForce=rng.choice(["GTC", "GTC", "IOC", "FOK"]),
                                quantity=str(Decimal(rng.randint(1, 50)) / 10), price=str(price))
            elif action < 0.55:
                core.spot_order(symbol="ETHUSDT", side=rng.choice(["BUY", "SELL"]), type="MARKET",
                                quantity=str(Decimal(rng.randint(1, 30)) / 10))
            elif action < 0.7:
                open_ = core.ex.spot.open_orders(core.acct, "ETHUSDT")
                if open_:
                    core.ex.spot.cancel(core.acct, Params({"symbol": "ETHUSDT",
                                                           "orderId": str(rng.choice(open_).order_id)}))
            else:
                core.ex.set_price("ETHUSDT", (last * Decimal(str(rng.uniform(0.98, 1.02)))).quantize(Decimal("0.01")),
                                  "spot", None if rng.random() < 0.5 else Decimal("0.5"))
        except BinanceError as err:
            assert err.code in (-2010, -1013)
        for asset in ("ETH", "USDT"):
            bal = core.acct.balance(asset)
            assert bal.free >= 0 and bal.locked >= 0
        open_ = core.ex.spot.open_orders(core.acct, "ETHUSDT")
        assert core.acct.balance("ETH").locked == sum((o.locked for o in open_ if not o.buy), Decimal(0))
        assert core.acct.balance("USDT").locked == sum((o.locked for o in open_ if o.buy), Decimal(0))
        for o in open_:
            assert o.locked == (o.remaining * o.price if o.buy else o.remaining)


def test_random_futures_activity_keeps_position_consistent() -> None:
    import random
    core = Core()
    rng = random.Random(7)
    market = core.ex.markets["usdm"]["ETHUSDT"]
    for _ in range(200):
        try:
            core.fut_order(symbol="ETHUSDT", side=rng.choice(["BUY", "SELL"]), type="MARKET",
                           quantity=str(Decimal(rng.randint(1, 30)) / 10), reduceOnly=rng.choice(["false", "true"]))
        except BinanceError as err:
            assert err.code in (-2022, -2019, -4164)
        if rng.random() < 0.3:
            core.ex.set_price("ETHUSDT", (market.price * Decimal(str(rng.uniform(0.99, 1.01)))).quantize(
                Decimal("0.01")), "usdm", None)
    trades = core.ex.usdm.trades(core.acct, "ETHUSDT")
    net = sum((t.qty if t.order.buy else -t.qty for t in trades), Decimal(0))
    assert core.acct.position("ETHUSDT", "BOTH").amount == net
    wallet = Decimal(100000) + sum((t.realized - t.commission for t in trades), Decimal(0))
    assert core.acct.wallet("USDT").balance == wallet


def test_24h_statistics_roll_so_a_long_demo_shows_one_days_volume():
    core = Core()
    market = core.ex.markets["spot"]["BTCUSDT"]
    start = market.stats["close_time"]
    now = [start + 1_000]
    market._clock = lambda: now[0]
    before = Decimal(market.ticker_24h(now[0])["volume"])
    ticks = int(market.price / market.tick)
    market.record_trade(ticks, 10**6, False)  # one large trade
    qty = market.q(10**6)
    assert Decimal(market.ticker_24h(now[0])["volume"]) == before + qty
    now[0] = start + 3 * 3_600_000  # hours later the trade is still inside the day
    assert Decimal(market.ticker_24h(now[0])["volume"]) >= qty
    now[0] = start + 26 * 3_600_000  # a quiet day later it has left the window
    later = market.ticker_24h(now[0])
    assert Decimal(later["volume"]) == 0 and later["count"] == 0
    assert later["openPrice"] == later["highPrice"] == later["lowPrice"] == later["lastPrice"]
    market.record_trade(ticks, 10, False)  # and trades count again from there
    assert Decimal(market.ticker_24h(now[0])["volume"]) == market.q(10)
