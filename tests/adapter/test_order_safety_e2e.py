"""Regressions from the order-path review: each test is a way real money could be lost.

Every scenario runs the real adapter over the simulator. Faults that must strike at an exact
moment are set from an event hook, synchronously, in the thread that emits the event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import foxtrot_binance.order_manager as order_manager_module
from foxtrot_binance import BinanceSpotAdapter
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks import CancelRequest, Event, Exchange, Status
from foxtrot_hooks.testing import RecordingEngine

from spot_support import Harness, connect_setting
from test_spot_orders_e2e import best_bid


class HookedEngine(RecordingEngine):
    """Runs hooks synchronously when an event is put, in the emitting thread."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[Callable[[Event], None]] = []

    def put(self, event: Event) -> None:
        super().put(event)
        for hook in list(self.hooks):
            hook(event)


@pytest.fixture
def sim() -> Iterator[BinanceSimulator]:
    with BinanceSimulator(seed=7, tick_interval=None) as simulator:
        yield simulator


def connect(sim: BinanceSimulator, **extra: Any) -> tuple[Harness, HookedEngine]:
    engine = HookedEngine()
    adapter = BinanceSpotAdapter(engine, "BINANCE")
    harness = Harness(sim, engine, adapter)
    adapter.connect(connect_setting(sim, **extra))
    harness.wait_log("User data stream connected")
    return harness, engine


@pytest.fixture
def spot(sim: BinanceSimulator, clean_binance_env) -> Iterator[tuple[Harness, HookedEngine]]:
    harness, engine = connect(sim)
    yield harness, engine
    harness.adapter.close()


def reconcile(h: Harness) -> None:
    h.adapter.client.schedule(h.adapter.client.orders.reconcile()).result(60)


def client_id(vt: str) -> str:
    return vt.split(".", 1)[1]


def send_with_outcome_unknown(h: Harness, engine: HookedEngine, monkeypatch: Any) -> str:
    """A resting buy whose answer is lost while the stream is deaf, and Binance then cannot be
    asked about it: the adapter logs that its outcome is still unknown. Returns its vt_orderid."""
    monkeypatch.setattr(order_manager_module, "UNKNOWN_OUTCOME_CHECKS", (0.02,) * 2)
    price = round(best_bid(h.sim) - 100, 2)
    h.sim.faults.stall_streams(60, "user")
    h.sim.faults.lose_next_order_response()

    def unreachable_while_checking(event: Event) -> None:
        if event.type == "eLog" and "submission outcome unknown" in event.data.msg:
            h.sim.faults.fail_rest(100, "503")  # every check (and its idempotent retries) goes unanswered

    engine.hooks.append(unreachable_while_checking)
    vt = h.send(0.01, price)
    h.wait_log("outcome still unknown")
    return vt


def test_an_order_binance_could_not_be_asked_about_is_never_called_rejected(spot, monkeypatch):
    h, engine = spot
    vt = send_with_outcome_unknown(h, engine, monkeypatch)
    assert [o.status for o in h.orders(vt)] == [Status.SUBMITTING]  # not REJECTED: nothing was established
    h.sim.faults.clear()
    reconcile(h)
    h.wait_status(vt, Status.NOTTRADED)
    assert h.sim_order(vt)["status"] == "NEW"


def test_a_cancel_during_an_unknown_outcome_cancels_the_real_order_and_invents_none(spot):
    h, engine = spot
    price = round(best_bid(h.sim) - 100, 2)
    h.sim.faults.stall_streams(60, "user")
    h.sim.faults.lose_next_order_response()

    def cancel_now(event: Event) -> None:
        if event.type == "eLog" and "submission outcome unknown" in event.data.msg:
            h.sim.faults.fail_rest(1, "503")
            h.adapter.cancel_order(CancelRequest(event.data.msg.split("Order BINANCE.", 1)[1].split(":", 1)[0],
                                                 "BTCUSDT", Exchange.BINANCE))

    engine.hooks.append(cancel_now)
    vt = h.send(0.01, price)
    h.wait_status(vt, Status.CANCELLED)
    assert h.sim_order(vt)["status"] == "CANCELED"
    assert {o.orderid for o in h.engine.of_type("eOrder.")} == {client_id(vt)}  # no phantom order
    assert not h.adapter.client.orders.active_orders()


def test_a_cancel_sent_right_after_the_order_is_not_lost(spot):
    h, _ = spot
    price = round(best_bid(h.sim) - 100, 2)
    h.sim.faults.delay_rest(0.3, count=1)  # the order request is slow to reach the matching engine
    vt = h.send(0.01, price)
    h.adapter.cancel_order(CancelRequest(client_id(vt), "BTCUSDT", Exchange.BINANCE))
    h.wait_status(vt, Status.CANCELLED)
    assert h.sim_order(vt)["status"] == "CANCELED"


def test_fills_of_a_previous_session_are_not_replayed_as_new(sim, clean_binance_env):
    first, _ = connect(sim)
    price = round(best_bid(sim) - 100, 2)
    filled = first.send(0.01, price)
    first.wait_status(filled, Status.NOTTRADED)
    sim.set_price("BTCUSDT", price - 1, kind="spot")
    first.wait_status(filled, Status.ALLTRADED)
    resting = first.send(0.01, round(price - 500, 2))
    first.wait_status(resting, Status.NOTTRADED)
    first.adapter.close()

    second, _ = connect(sim)
    try:
        second.wait_status(resting, Status.NOTTRADED)  # the open order is adopted
        reconcile(second)
        assert second.trades() == []
        assert not second.orders(filled)
    finally:
        second.adapter.close()


def test_more_than_a_page_of_fills_while_the_stream_is_silent_are_all_recovered(spot):
    h, _ = spot
    price = round(best_bid(h.sim) - 100, 2)
    vt = h.send(0.2, price)
    h.wait_status(vt, Status.NOTTRADED)
    h.sim.set_price("BTCUSDT", price, kind="spot", volume=0.0001)
    h.wait(lambda e: e.type == "eTrade.")
    h.sim.faults.stall_streams(600, "user")
    for _ in range(1100):  # more than one myTrades page while nothing is delivered
        h.sim.set_price("BTCUSDT", price, kind="spot", volume=0.0001)
    reconcile(h)
    executed = float(h.sim_order(vt)["executedQty"])
    trades = h.trades(vt)
    assert len(trades) == 1101 == len({t.tradeid for t in trades})
    assert sum(t.volume for t in trades) == pytest.approx(executed)
    assert h.orders(vt)[-1].traded == pytest.approx(executed)


def test_order_ids_of_other_symbols_never_touch_our_order(spot):
    h, _ = spot
    vt = h.send(0.01, round(best_bid(h.sim) - 100, 2))
    h.wait_status(vt, Status.NOTTRADED)
    client = h.adapter.client
    order_id = h.sim_order(vt)["orderId"]
    # Binance numbers orders per symbol: an ETHBTC order (from the web UI) can share the id
    raw = {"e": "executionReport", "E": 1, "s": "ETHBTC", "c": "web_abc", "S": "SELL", "o": "LIMIT", "f": "GTC",
           "q": "1.0", "p": "0.05", "P": "0", "F": "0", "g": -1, "C": "", "x": "TRADE", "X": "FILLED", "r": "NONE",
           "i": order_id, "l": "1.0", "z": "1.0", "L": "0.05", "n": "0", "N": "BTC", "T": 2, "t": 77, "I": 1,
           "w": False, "m": False, "M": True, "O": 1, "Z": "0.05", "Y": "0.05", "Q": "0", "W": 1, "V": "NONE"}

    async def inject() -> None:
        client.orders.apply_orders([client.exchange.parse_ws_order(raw)])
        client.orders.apply_trades([client.exchange.parse_ws_trade(raw)])

    client.schedule(inject()).result(5)
    assert h.orders(vt)[-1].status is Status.NOTTRADED and h.orders(vt)[-1].traded == 0
    assert [(t.orderid, t.symbol) for t in h.trades()] == [("web_abc", "ETHBTC")]


def test_fills_during_a_rest_ban_still_arrive_over_the_stream(spot):
    h, _ = spot
    price = round(best_bid(h.sim) - 100, 2)
    vt = h.send(0.01, price)
    h.wait_status(vt, Status.NOTTRADED)
    gate = h.adapter.client.gate
    gate.banned_until_ms = gate._now_ms() + 60_000  # as after a 418 on any REST call
    h.sim.faults.drop_streams("user")  # the reconnect's REST reconciliation is refused
    deferred = h.wait_log("but reconciliation failed")  # subscribed again; only the REST part waits
    assert "IP banned" in deferred
    h.sim.set_price("BTCUSDT", price - 1, kind="spot")
    h.wait_status(vt, Status.ALLTRADED)
    h.wait(lambda e: e.type == "eTrade." and e.data.vt_orderid == vt)
    gate.banned_until_ms = 0


def test_close_from_an_event_handler_on_the_io_thread_closes_everything(spot):
    h, engine = spot
    done = threading.Event()

    def kill_switch(event: Event) -> None:
        if event.type == "eOrder." and event.data.status is Status.NOTTRADED:
            h.adapter.close()  # a synchronous host engine runs handlers on the adapter's thread
            done.set()

    engine.hooks.append(kill_switch)
    h.send(0.01, round(best_bid(h.sim) - 100, 2))
    assert done.wait(10)
    h.wait_log("Disconnected")
    h.adapter.close()  # idempotent from any thread
    assert not [t for t in threading.enumerate() if t.name == "BINANCE-io" and t.is_alive()]


def test_signed_urls_in_error_texts_are_masked_before_the_host_sees_them(spot):
    h, _ = spot
    vt = h.send(0.01, round(best_bid(h.sim) - 100, 2))
    h.wait_status(vt, Status.NOTTRADED)
    h.sim.faults.fail_rest(2, "reset")  # the cancel's connection dies (aiohttp retries a DELETE once)
    h.adapter.cancel_order(CancelRequest(client_id(vt), "BTCUSDT", Exchange.BINANCE))
    failure = h.wait_log("Cancel")
    assert "signature=***" in failure or "signature" not in failure
    assert h.sim.api_key not in failure


def test_a_ban_the_websocket_api_shares_is_waited_out_without_knocking_again(sim, clean_binance_env):
    """Binance bans an IP for REST and the WebSocket API together. After a drop, the spot
    subscription is tried once; its 418 names the ban's end (``data.retryAfter``), the
    adapter holds REST too and does not ask again before then."""
    import re
    import time
    import urllib.error
    import urllib.request

    h, _ = connect(sim, **{"Reconnect Delay": 0.05})
    try:
        sim.faults.exhaust_weight()  # another client on this IP overdoes it: a 429, then a 418
        statuses = []
        for _ in range(2):
            try:
                urllib.request.urlopen(f"{sim.base_url}/api/v3/ping", timeout=5).close()
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        assert statuses == [429, 418]
        sim.faults.drop_streams("user")
        said = h.wait_log("User data stream disconnected (IP banned by Binance (418)")
        delay = float(re.search(r"reconnecting in ([0-9.]+)s", said).group(1))
        assert delay > 60  # the simulator bans for 120 s: no second knock before that
        gate = h.adapter.client.gate
        assert gate.banned_until_ms - gate._now_ms() > 60_000  # REST waits as well
        assert sum("User data stream disconnected" in m for m in h.logs()) == 2  # the drop, the refusal
    finally:
        h.adapter.close()
