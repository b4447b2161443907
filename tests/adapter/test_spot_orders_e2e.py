"""The spot adapter's order path end to end: real adapter, real ccxt, real sockets, simulator."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import foxtrot_binance.order_manager as order_manager_module
from foxtrot_binance import BinanceSpotAdapter
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks import CancelRequest, Direction, Exchange, OrderRequest, OrderType, Status
from foxtrot_hooks.testing import RecordingEngine

from spot_support import Harness, connect_setting

PRICE = 30000.0  # far above the simulator's BTCUSDT book, so resting buys at lower prices rest


@pytest.fixture
def sim() -> Iterator[BinanceSimulator]:
    with BinanceSimulator(seed=7, tick_interval=None) as simulator:
        yield simulator


@pytest.fixture
def spot(sim: BinanceSimulator, clean_binance_env) -> Iterator[Harness]:
    engine = RecordingEngine()
    adapter = BinanceSpotAdapter(engine, "BINANCE")
    harness = Harness(sim, engine, adapter)
    adapter.connect(connect_setting(sim))
    harness.wait_log("User data stream connected")
    yield harness
    adapter.close()


def best_bid(sim: BinanceSimulator, symbol: str = "BTCUSDT") -> float:
    import ccxt

    client = ccxt.binance({"enableRateLimit": False})
    from foxtrot_binance.endpoints import point_ccxt_at

    point_ccxt_at(client, sim.base_url)
    return float(client.publicGetTickerBookTicker({"symbol": symbol})["bidPrice"])


def test_connect_pushes_contracts_balances_and_logs(spot: Harness):
    contracts = {c.symbol: c for c in spot.engine.of_type("eContract.")}
    assert {"BTCUSDT", "ETHBTC", "BNBUSDC"} <= set(contracts)
    assert all(c.exchange is Exchange.BINANCE and c.adapter_name == "BINANCE" for c in contracts.values())
    accounts = {a.accountid: a for a in spot.engine.of_type("eAccount.")}
    assert accounts["USDT"].balance > 0 and accounts["BTC"].balance > 0
    logs = spot.logs()
    assert any("contracts loaded" in m for m in logs) and any(m.startswith("Connected to Binance spot") for m in logs)


def test_limit_order_rests_fills_partially_then_fully_each_fill_once(spot: Harness):
    bid = best_bid(spot.sim)
    price = round(bid - 100, 2)
    vt = spot.send(0.01, price)
    submitting = spot.orders(vt)[0]
    assert submitting.status is Status.SUBMITTING and submitting.vt_orderid == vt
    resting = spot.wait_status(vt, Status.NOTTRADED)
    assert (resting.price, resting.volume, resting.traded) == (price, 0.01, 0)

    spot.sim.set_price("BTCUSDT", price, kind="spot", volume=0.004)
    partial = spot.wait_status(vt, Status.PARTTRADED)
    assert partial.traded == pytest.approx(0.004)
    spot.sim.set_price("BTCUSDT", price - 10, kind="spot")
    done = spot.wait_status(vt, Status.ALLTRADED)
    assert done.traded == pytest.approx(0.01)
    spot.wait(lambda e: e.type == "eTrade." and sum(t.volume for t in spot.trades(vt)) >= 0.01 - 1e-12)

    trades = spot.trades(vt)
    assert sum(t.volume for t in trades) == pytest.approx(0.01)
    assert len({t.tradeid for t in trades}) == len(trades)
    assert all(t.direction is Direction.LONG and t.price == price and "commission" in t.extra for t in trades)
    # the first event objects are untouched by later updates
    assert (submitting.status, resting.status, partial.traded) == (Status.SUBMITTING, Status.NOTTRADED, pytest.approx(0.004))
    statuses = [o.status for o in spot.orders(vt)]
    assert statuses == sorted(statuses, key=[Status.SUBMITTING, Status.NOTTRADED, Status.PARTTRADED, Status.ALLTRADED].index)


def test_cancel_by_client_order_id_and_cancelling_the_unknown_or_finished(spot: Harness):
    vt = spot.send(0.01, round(best_bid(spot.sim) - 500, 2))
    spot.wait_status(vt, Status.NOTTRADED)
    client_id = vt.split(".", 1)[1]
    spot.adapter.cancel_order(CancelRequest(client_id, "BTCUSDT", Exchange.BINANCE))
    spot.wait_status(vt, Status.CANCELLED)
    assert spot.sim_order(vt)["status"] == "CANCELED"

    spot.adapter.cancel_order(CancelRequest(client_id, "BTCUSDT", Exchange.BINANCE))
    spot.wait_log("already CANCELLED, nothing to cancel")
    spot.adapter.cancel_order(CancelRequest("no-such-order", "BTCUSDT", Exchange.BINANCE))
    spot.wait_log("no such order is known")


@pytest.mark.parametrize(
    ("order_type", "offset_from_bid", "binance_type", "time_in_force", "final"),
    [
        (OrderType.FAK, -1000, "LIMIT", "IOC", Status.CANCELLED),  # nothing to take below the bid: expires
        (OrderType.FOK, -1000, "LIMIT", "FOK", Status.CANCELLED),
        (OrderType.MARKET, None, "MARKET", None, Status.ALLTRADED),
        (OrderType.STOP, +1000, "STOP_LOSS", None, Status.NOTTRADED),  # buy stop above the market rests
    ],
)
def test_each_order_type_reaches_binance_as_itself(spot: Harness, order_type, offset_from_bid, binance_type, time_in_force, final):
    bid = best_bid(spot.sim)
    price = 0 if offset_from_bid is None else round(bid + offset_from_bid, 2)
    vt = spot.send(0.001, price, order_type)
    order = spot.wait_status(vt, final)
    seen = spot.sim_order(vt)
    assert seen["type"] == binance_type
    if time_in_force:
        assert seen["timeInForce"] == time_in_force
    if final is Status.CANCELLED:
        assert order.extra.get("expired") is True
    if order_type is OrderType.MARKET:
        spot.wait(lambda e: e.type == "eTrade." and e.data.vt_orderid == vt)


@pytest.mark.parametrize(
    ("request_args", "reason"),
    [
        (dict(symbol="NOPEUSDT", volume=1, price=1), "unknown symbol NOPEUSDT.BINANCE"),
        (dict(volume=0.0000001, price=20000), "below the minimum 0.00001"),
        (dict(volume=0.0001, price=20000), "below the minimum notional"),
        (dict(volume=0.01, price=0), "need a positive price"),
        (dict(volume=0.01, price=20000, order_type=OrderType.RFQ), "RFQ is not supported"),
    ],
)
def test_invalid_requests_are_rejected_locally_and_nothing_is_sent(spot: Harness, request_args, reason):
    before = len(spot.sim_orders())
    vt = spot.send(**request_args)
    [order] = spot.orders(vt)
    assert order.status is Status.REJECTED and reason in order.extra["reason"]
    assert any(reason in m and vt in m for m in spot.logs())
    assert len(spot.sim_orders()) == before


def test_wrong_exchange_is_rejected_locally(spot: Harness):
    vt = spot.adapter.send_order(OrderRequest("BTCUSDT", Exchange.BINANCEUSDM, Direction.LONG, OrderType.LIMIT, 1, 1))
    [order] = spot.orders(vt)
    assert order.status is Status.REJECTED and "trades BINANCE only" in order.extra["reason"]


def test_exchange_rejection_carries_binances_reason(spot: Harness):
    vt = spot.send(1000, round(best_bid(spot.sim) - 100, 2))  # far beyond the USDT balance
    rejected = spot.wait_status(vt, Status.REJECTED)
    assert "insufficient balance" in rejected.extra["reason"] and "-2010" in rejected.extra["reason"]
    spot.wait_log(f"Order {vt} rejected")


def test_lost_order_response_leaves_exactly_one_tracked_order(spot: Harness):
    price = round(best_bid(spot.sim) - 100, 2)
    spot.sim.faults.lose_next_order_response()
    vt = spot.send(0.01, price)
    spot.wait_log("submission outcome unknown")
    spot.wait_status(vt, Status.NOTTRADED)
    assert spot.sim_order(vt)["status"] == "NEW"  # exactly one order carries the id
    spot.sim.set_price("BTCUSDT", price - 1, kind="spot")
    spot.wait_status(vt, Status.ALLTRADED)
    assert sum(t.volume for t in spot.trades(vt)) == pytest.approx(0.01)


def test_failed_submission_that_never_reached_binance_is_rejected_after_checking(spot: Harness, monkeypatch):
    monkeypatch.setattr(order_manager_module, "UNKNOWN_OUTCOME_CHECKS", (0.05, 0.05))
    price = round(best_bid(spot.sim) - 100, 2)
    spot.sim.faults.fail_rest(1, "503")
    vt = spot.send(0.01, price)
    rejected = spot.wait_status(vt, Status.REJECTED)
    assert "Binance answered 2 times that it has no order with client id" in rejected.extra["reason"]
    assert not [o for o in spot.sim_orders() if o.get("clientOrderId") == vt.split(".", 1)[1]]


def test_fills_while_the_user_stream_is_down_arrive_exactly_once(spot: Harness):
    price = round(best_bid(spot.sim) - 100, 2)
    vt = spot.send(0.01, price)
    spot.wait_status(vt, Status.NOTTRADED)
    spot.sim.faults.drop_streams("user")
    spot.sim.set_price("BTCUSDT", price, kind="spot", volume=0.004)
    spot.sim.set_price("BTCUSDT", price - 1, kind="spot")
    spot.wait_log("User data stream reconnected")
    done = spot.wait_status(vt, Status.ALLTRADED)
    assert done.traded == pytest.approx(0.01)
    spot.wait(lambda e: e.type == "eTrade." and sum(t.volume for t in spot.trades(vt)) >= 0.01 - 1e-12)
    trades = spot.trades(vt)
    assert len(trades) == len({t.tradeid for t in trades})
    assert sum(t.volume for t in trades) == pytest.approx(0.01)
    assert any("User data stream disconnected" in m for m in spot.logs())


def test_a_subscription_binance_terminates_is_renewed_and_the_missed_fill_recovered(spot: Harness):
    """eventStreamTerminated: the fill behind it never reaches this socket; resubscribing and
    reconciling brings it, exactly once."""
    price = round(best_bid(spot.sim) - 100, 2)
    vt = spot.send(0.01, price)
    spot.wait_status(vt, Status.NOTTRADED)
    spot.sim.faults.terminate_user_subscriptions()
    spot.sim.set_price("BTCUSDT", price - 1, kind="spot")
    spot.wait_log("User data stream reconnected")
    spot.wait_status(vt, Status.ALLTRADED)
    spot.wait(lambda e: e.type == "eTrade." and sum(t.volume for t in spot.trades(vt)) >= 0.01 - 1e-12)
    trades = spot.trades(vt)
    assert len(trades) == len({t.tradeid for t in trades})
    assert sum(t.volume for t in trades) == pytest.approx(0.01)
    assert any("Binance terminated the user data subscription" in m for m in spot.logs())


def test_orders_succeed_when_the_server_clock_moves(spot: Harness):
    spot.sim.faults.shift_clock(-3000)  # server 3 s behind: our timestamps look "from the future"
    vt = spot.send(0.01, round(best_bid(spot.sim) - 100, 2))
    spot.wait_status(vt, Status.NOTTRADED)


def test_without_keys_public_only_and_trading_refused(sim: BinanceSimulator, clean_binance_env):
    engine = RecordingEngine()
    adapter = BinanceSpotAdapter(engine, "BINANCE")
    harness = Harness(sim, engine, adapter)
    try:
        adapter.connect({"Base URL": sim.base_url})
        harness.wait_log("No API keys configured")
        harness.wait_log("Connected to Binance spot")
        vt = harness.send(0.01, 20000)
        [order] = harness.orders(vt)
        assert order.status is Status.REJECTED and "no API keys" in order.extra["reason"]
    finally:
        adapter.close()


def test_close_is_idempotent_and_leaves_no_thread(sim: BinanceSimulator, clean_binance_env):
    engine = RecordingEngine()
    adapter = BinanceSpotAdapter(engine, "BINANCE")
    adapter.connect(connect_setting(sim))
    Harness(sim, engine, adapter).wait_log("User data stream connected")
    adapter.close()
    adapter.close()
    assert not [t for t in threading.enumerate() if t.name == "BINANCE-io"]
    vt = Harness(sim, engine, adapter).send(0.01, 20000)
    assert Harness(sim, engine, adapter).orders(vt)[0].status is Status.REJECTED


def test_a_malformed_user_stream_frame_is_skipped_and_the_stream_goes_on(sim: BinanceSimulator, clean_binance_env):
    """A frame that is not JSON is counted and skipped: the same socket delivers the fill
    behind it, with no reconnect and no reconciliation needed."""
    engine = RecordingEngine()
    adapter = BinanceSpotAdapter(engine, "BINANCE")
    h = Harness(sim, engine, adapter)
    adapter.connect(connect_setting(sim, **{"Reconnect Delay": 0.05}))
    try:
        h.wait_log("User data stream connected")
        price = round(best_bid(sim) - 100, 2)
        vt = h.send(0.01, price)
        h.wait_status(vt, Status.NOTTRADED)
        sim.faults.send_malformed_frame("user")
        sim.set_price("BTCUSDT", price - 1, kind="spot")
        h.wait_status(vt, Status.ALLTRADED)
        h.wait(lambda e: e.type == "eTrade." and sum(t.volume for t in h.trades(vt)) >= 0.01 - 1e-12)
        assert sum(t.volume for t in h.trades(vt)) == pytest.approx(0.01)
        stream = adapter.client.user_stream
        assert stream is not None and stream.socket.bad_frames == 1 and stream.connections == 1
        assert not any("User data stream disconnected" in m for m in h.logs())
    finally:
        adapter.close()


def test_a_market_order_below_min_notional_at_the_last_tick_price_is_rejected_locally(spot: Harness):
    """A market order has no price of its own: the last traded price of the subscribed tick
    stream values it, so a too-small one never reaches Binance."""
    from foxtrot_hooks import SubscribeRequest

    spot.adapter.subscribe(SubscribeRequest("BTCUSDT", Exchange.BINANCE))
    tick = spot.wait(lambda e: e.type == "eTick." and e.data.symbol == "BTCUSDT").data
    volume = 0.00002  # above the 0.00001 minimum quantity, far below 5 USDT at any BTC price here
    assert volume * tick.last_price < 5
    before = len(spot.sim_orders())
    vt = spot.send(volume, 0, OrderType.MARKET)
    [order] = spot.orders(vt)
    assert order.status is Status.REJECTED and "below the minimum notional" in order.extra["reason"]
    assert len(spot.sim_orders()) == before
