"""Order-path review: each test is a scenario that could lose a fill, duplicate an order or
leave an order untracked. Tests marked xfail(strict) reproduce a bug that is still open.

Every scenario runs the real adapter and real ccxt over real sockets against the simulator,
except where a race can only be forced at a seam (said in the test).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import foxtrot_binance.order_manager as order_manager_module
from foxtrot_binance import BinanceUsdmAdapter
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks import CancelRequest, Direction, Event, Exchange, Offset, OrderType, Status

from spot_support import Harness, connect_setting
from test_order_safety_e2e import HookedEngine, client_id, connect, reconcile, send_with_outcome_unknown
from test_spot_orders_e2e import best_bid
from test_usdm_e2e import USDM, UsdmHarness, connect_usdm, mark


@pytest.fixture
def sim() -> Iterator[BinanceSimulator]:
    with BinanceSimulator(seed=7, tick_interval=None) as simulator:
        yield simulator


@pytest.fixture
def spot(sim: BinanceSimulator, clean_binance_env) -> Iterator[tuple[Harness, HookedEngine]]:
    harness, engine = connect(sim)
    yield harness, engine
    harness.adapter.close()


@pytest.fixture
def usdm(sim: BinanceSimulator, clean_binance_env) -> Iterator[UsdmHarness]:
    harness = connect_usdm(sim)
    yield harness
    harness.adapter.close()


def until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``predicate`` (a state outside the event stream, e.g. the simulator's book)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)


def outside_spot(sim: BinanceSimulator) -> Any:
    """Another client of the same account (the web UI, another bot), over ccxt."""
    import ccxt

    from foxtrot_binance.endpoints import point_ccxt_at

    client = ccxt.binance({"apiKey": sim.api_key, "secret": sim.api_secret, "enableRateLimit": False,
                           "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                                       "fetchMargins": False}})
    point_ccxt_at(client, sim.base_url)
    client.load_markets()
    return client


def vt_in(log_line: str) -> str:
    """The vt_orderid an 'Order BINANCE.<id>: ...' log line names."""
    return "BINANCE." + log_line.split("Order BINANCE.", 1)[1].split(":", 1)[0]


def cancel(h: Harness, vt: str, exchange: Exchange = Exchange.BINANCE) -> None:
    h.adapter.cancel_order(CancelRequest(client_id(vt), "BTCUSDT", exchange))


# -- cancel of an order whose submission outcome is unknown ----------------------------------
def cancel_once_outcome_unknown(h: Harness, engine: Any) -> None:
    """The trader cancels the moment the adapter says the submission's outcome is unknown."""

    def cancel_now(event: Event) -> None:
        if event.type == "eLog" and "submission outcome unknown" in event.data.msg:
            cancel(h, vt_in(event.data.msg))  # send_order may not have returned yet

    engine.hooks.append(cancel_now)


def test_a_cancel_deferred_during_an_unknown_outcome_is_sent_once_reconciliation_finds_the_order(spot, monkeypatch):
    h, engine = spot
    vt = send_with_outcome_unknown(h, engine, monkeypatch)
    cancel(h, vt)  # the trader wants it gone: deferred until Binance has been asked
    h.wait_log("will be sent as soon as the submission is answered")
    h.sim.faults.clear()
    reconcile(h)  # finds the order among the open orders: NOTTRADED
    h.wait_status(vt, Status.NOTTRADED)
    h.wait_status(vt, Status.CANCELLED, timeout=5)
    assert h.sim_order(vt)["status"] == "CANCELED"


def test_a_cancel_deferred_during_the_checks_is_sent_when_the_stream_brings_the_order_in_the_last_wait(spot, monkeypatch):
    """The submission fails; the last by-client-id check says 'no such order'; while the
    manager waits after it, the order appears at Binance (placed with that client id from
    outside, timed by a wrapper around the real REST gateway) and the stream reports it."""
    import ccxt

    h, engine = spot
    monkeypatch.setattr(order_manager_module, "UNKNOWN_OUTCOME_CHECKS", (0.02, 2.0))
    price = round(best_bid(h.sim) - 100, 2)
    outside = outside_spot(h.sim)
    rest = h.adapter.client.orders.rest
    real_call = rest.call
    checks = []

    async def call(method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await real_call(method, *args, **kwargs)
        except ccxt.OrderNotFound:
            checks.append(method)
            if len(checks) == 2:  # the last check: Binance has no such order (yet)
                [ours] = h.adapter.client.orders.active_orders()
                outside.create_order("BTC/USDT", "limit", "buy", 0.01, price, {"clientOrderId": ours.orderid})
            raise

    monkeypatch.setattr(rest, "call", call)
    h.sim.faults.fail_rest(1, "503")

    cancel_once_outcome_unknown(h, engine)
    vt = h.send(0.01, price)
    h.wait_log("will be sent as soon as the submission is answered")
    h.wait_status(vt, Status.NOTTRADED)
    h.wait_status(vt, Status.CANCELLED, timeout=5)
    assert h.sim_order(vt)["status"] == "CANCELED"


def test_a_cancel_asked_before_a_provisional_reject_is_sent_when_the_order_surfaces_after_all(spot, monkeypatch):
    """The submission fails (503), Binance twice has no such client id: REJECTED, provisionally.
    Then the order appears at Binance after all (a backend that queued it; modelled by placing
    it with that client id from outside). The cancel the trader asked meanwhile must follow it."""
    h, engine = spot
    monkeypatch.setattr(order_manager_module, "UNKNOWN_OUTCOME_CHECKS", (0.02,) * 2)
    price = round(best_bid(h.sim) - 100, 2)
    h.sim.faults.fail_rest(1, "503")

    cancel_once_outcome_unknown(h, engine)
    vt = h.send(0.01, price)
    h.wait_log("will be sent as soon as the submission is answered")
    h.wait_status(vt, Status.REJECTED)
    outside_spot(h.sim).create_order("BTC/USDT", "limit", "buy", 0.01, price, {"clientOrderId": client_id(vt)})
    h.wait_log("exists at Binance after all")  # the user stream brings the late order: tracked again
    h.wait_status(vt, Status.NOTTRADED)
    h.wait_status(vt, Status.CANCELLED, timeout=5)
    assert h.sim_order(vt)["status"] == "CANCELED"


def test_a_cancel_during_a_conditional_orders_unknown_outcome_cancels_it_on_the_algo_endpoint(sim, clean_binance_env):
    engine = HookedEngine()
    h = UsdmHarness(sim, engine, BinanceUsdmAdapter(engine, "BINANCE_USDM"))
    h.adapter.connect(connect_setting(sim))
    h.wait_log("User data stream connected")
    try:
        price = mark(sim)
        h.filled(Direction.LONG, 0.02)

        def cancel_now(event: Event) -> None:
            if event.type == "eLog" and "submission outcome unknown" in event.data.msg:
                orderid = event.data.msg.split("Order BINANCE_USDM.", 1)[1].split(":", 1)[0]
                h.adapter.cancel_order(CancelRequest(orderid, "BTCUSDT", USDM))

        engine.hooks.append(cancel_now)
        sim.faults.lose_next_order_response()
        stop = h.order(Direction.SHORT, 0.02, OrderType.STOP, round(price - 1000, 1), Offset.CLOSE)
        h.wait_status(stop, Status.CANCELLED)
        [algo] = [a for a in sim.call(sim.exchange.usdm.algos, sim.account) if a.client_id == client_id(stop)]
        assert algo.status == "CANCELED"
    finally:
        h.adapter.close()



def test_a_cancel_of_a_provisionally_rejected_order_holds_when_the_order_surfaces_after_all(spot, monkeypatch):
    """The adapter accepts a cancel of a provisionally REJECTED order (it may exist after all);
    Binance has no such order yet, so the cancel meets 'unknown order'. The order then appears
    (placed with that client id from outside, standing for Binance's late creation)."""
    h, _ = spot
    monkeypatch.setattr(order_manager_module, "UNKNOWN_OUTCOME_CHECKS", (0.02,) * 2)
    price = round(best_bid(h.sim) - 100, 2)
    h.sim.faults.fail_rest(1, "503")
    vt = h.send(0.01, price)
    h.wait_status(vt, Status.REJECTED)
    cancel(h, vt)
    h.wait_log(f"Cancel {vt} failed")
    outside_spot(h.sim).create_order("BTC/USDT", "limit", "buy", 0.01, price, {"clientOrderId": client_id(vt)})
    h.wait_status(vt, Status.NOTTRADED)  # tracked again
    h.wait_status(vt, Status.CANCELLED, timeout=5)
    assert h.sim_order(vt)["status"] == "CANCELED"


# -- closing with orders in flight ------------------------------------------------------------
def test_an_order_racing_close_is_not_left_submitting_forever(spot):
    h, _ = spot
    orders = h.adapter.client.orders
    checked = orders.trading_enabled

    def close_meanwhile() -> str | None:
        reason = checked()  # the order passes the check ...
        h.adapter.close()  # ... and another thread closes the adapter before it is scheduled
        return reason

    orders.trading_enabled = close_meanwhile
    vt = h.send(0.01, round(best_bid(h.sim) - 100, 2))
    assert not [o for o in h.sim_orders() if o.get("clientOrderId") == client_id(vt)]  # nothing was sent
    assert h.orders(vt)[-1].status is Status.REJECTED  # the host must not wait forever on SUBMITTING


def test_closing_with_a_submission_in_flight_does_not_leave_the_order_unreported(spot):
    """Binance has taken the request when the trader closes; its answer is pending. (The
    simulator drops a request whose client went away; Binance does not.)"""
    h, _ = spot
    price = round(best_bid(h.sim) - 100, 2)
    h.sim.faults.delay_rest(1.0, count=1)  # the order request is on the wire when the trader closes
    vt = h.send(0.01, price)
    faults = h.sim.faults
    assert until(lambda: faults._s.rest_delay_s == 0)  # the simulator has taken the request
    assert h.orders(vt)[-1].status is Status.SUBMITTING  # Binance has the request; its answer is pending
    h.adapter.close()
    told = h.orders(vt)[-1].status is not Status.SUBMITTING or any(vt in m for m in h.logs())
    assert told, "the host holds SUBMITTING for an order Binance may have and was never told"


# -- USDⓈ-M: the default leverage before the first order ----------------------------------------
def test_the_default_leverage_is_applied_even_when_the_first_order_met_a_ban(sim, clean_binance_env):
    h = connect_usdm(sim, leverage=9)
    try:
        gate = h.adapter.client.gate
        gate.banned_until_ms = gate._now_ms() + 60_000  # as after a 418 on any REST call
        first = h.order(Direction.LONG, 0.01)
        assert "not sent" in h.wait_status(first, Status.REJECTED).extra["reason"]  # right: nothing may go out
        gate.banned_until_ms = 0
        h.filled(Direction.LONG, 0.01)  # the ban is over: this order opens the position
        assert sim.call(sim.exchange.usdm.leverage, sim.account, "BTCUSDT") == 9, "position opened at the default leverage"
    finally:
        h.adapter.close()


def test_a_second_order_waits_for_the_default_leverage_the_first_order_is_setting(sim, clean_binance_env):
    h = connect_usdm(sim, leverage=9)
    try:
        h.sim.faults.delay_rest(1.0, count=1)  # the next REST call, the first order's set_leverage, is slow
        first = h.order(Direction.LONG, 0.01)
        second = h.order(Direction.LONG, 0.01)
        h.wait_status(first, Status.ALLTRADED)
        h.wait_status(second, Status.ALLTRADED)
        kinds = [
            "leverage" if e.type == "eLog" and "Leverage on BTCUSDT set to 9x" in e.data.msg else e.data.orderid
            for e in h.engine.events
            if (e.type == "eLog" and "Leverage on BTCUSDT" in e.data.msg)
            or (e.type == "eOrder." and e.data.status is Status.ALLTRADED)
        ]
        assert kinds[0] == "leverage", f"{kinds}: an order filled at the default leverage before 9x was set"
    finally:
        h.adapter.close()


# -- reconciliation: orders and fills of other sessions ----------------------------------------
def test_a_fill_of_another_sessions_order_on_a_traded_symbol_is_recovered_once_with_its_client_id(spot):
    """While the stream is deaf, a web-UI order on a symbol this session trades fills: the
    REST trades carry only Binance's order id; reconciliation maps it to the client id first."""
    h, _ = spot
    ours = h.send(0.01, round(best_bid(h.sim) - 100, 2))
    h.wait_status(ours, Status.NOTTRADED)
    h.sim.faults.stall_streams(600, "user")
    outside_spot(h.sim).create_order("BTC/USDT", "market", "buy", 0.002, None, {"clientOrderId": "web-btc-1"})
    reconcile(h)
    reconcile(h)
    trades = h.trades("BINANCE.web-btc-1")
    assert trades and sum(t.volume for t in trades) == pytest.approx(0.002)
    assert len(trades) == len({t.tradeid for t in trades})
    assert h.orders("BINANCE.web-btc-1")[-1].status is Status.ALLTRADED


def test_a_fill_of_another_sessions_order_is_reported_whether_or_not_the_stream_was_up(spot):
    """With the stream up, a web-UI fill on any symbol reaches the host (user_events applies
    every execution). The same fill while the stream is deaf must not vanish."""
    h, _ = spot
    outside = outside_spot(h.sim)
    outside.create_order("BNB/USDC", "market", "sell", 1, None, {"clientOrderId": "web-bnb-0"})
    h.wait(lambda e: e.type == "eTrade." and e.data.orderid == "web-bnb-0")  # stream up: reported
    h.sim.faults.stall_streams(600, "user")
    outside.create_order("ETH/BTC", "market", "sell", 0.1, None, {"clientOrderId": "web-eth-1"})
    reconcile(h)
    assert h.trades("BINANCE.web-eth-1"), "the fill is lost for good: no later reconciliation reads ETHBTC"


def test_a_usdm_fill_of_another_sessions_order_missed_by_the_stream_is_found_by_its_position(usdm):
    """USDⓈ-M: the position the outside fill moved names the symbol whose trades are read."""
    import ccxt

    from foxtrot_binance.endpoints import point_ccxt_at

    outside = ccxt.binance({"apiKey": usdm.sim.api_key, "secret": usdm.sim.api_secret, "enableRateLimit": False})
    point_ccxt_at(outside, usdm.sim.base_url)
    usdm.sim.faults.stall_streams(600, "user")
    outside.fapiPrivatePostOrder({"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1",
                                  "newClientOrderId": "web-eth-usdm-1"})
    reconcile(usdm)
    trades = usdm.trades("BINANCE_USDM.web-eth-usdm-1")
    assert trades and sum(t.volume for t in trades) == pytest.approx(0.1)
    reconcile(usdm)  # and only once
    assert len(usdm.trades("BINANCE_USDM.web-eth-usdm-1")) == len(trades)


def test_a_fill_gap_found_while_an_earlier_recovery_is_still_running_is_recovered_too(usdm, monkeypatch):
    """USDⓈ-M REST answers market orders FILLED without trades; with the stream deaf the trades
    never come, and the fill audit reads them from REST. Order A's recovery has read its page
    but is still busy (weight wait, client-id lookups; stretched here by a wrapper around the
    real gateway) when order B, filled after that read, reaches its own check."""
    import asyncio
    import threading

    rest = usdm.adapter.client.orders.rest
    audit = usdm.adapter.client.orders.fill_audit
    real_call = rest.call
    first_read = threading.Event()

    async def call(method: str, *args: Any, **kwargs: Any) -> Any:
        result = await real_call(method, *args, **kwargs)
        if method == "fetch_my_trades" and not first_read.is_set():
            first_read.set()
            async with asyncio.timeout(10):  # the rest of A's recovery: until B's check came during it
                while "BTCUSDT" not in audit._again:
                    await asyncio.sleep(0.01)
        return result

    usdm.sim.faults.stall_streams(600, "user")
    monkeypatch.setattr(rest, "call", call)
    a = usdm.filled(Direction.LONG, 0.01)
    assert first_read.wait(10)  # A's gap is being recovered
    b = usdm.filled(Direction.LONG, 0.01)
    usdm.wait(lambda e: e.type == "eTrade." and e.data.vt_orderid == a)
    usdm.wait(lambda e: e.type == "eTrade." and e.data.vt_orderid == b, timeout=8)


def test_a_fill_gap_whose_recovery_read_failed_is_recovered_later(usdm, monkeypatch):
    """The audit's REST read fails (every retry spent: REST briefly unavailable, simulated by a
    wrapper around the real gateway). No order is active, so no periodic reconciliation runs
    and the stream stays up: nothing but the audit can bring the fill back."""
    import ccxt

    rest = usdm.adapter.client.orders.rest
    real_call = rest.call
    failed = []

    async def call(method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "fetch_my_trades" and not failed:
            failed.append(method)
            raise ccxt.NetworkError("binance GET /fapi/v1/userTrades: connection reset (after 3 attempts)")
        return await real_call(method, *args, **kwargs)

    usdm.sim.faults.stall_streams(600, "user")
    monkeypatch.setattr(rest, "call", call)
    a = usdm.filled(Direction.LONG, 0.01)  # REST: FILLED, no trades; the stream's trade is lost
    usdm.wait(lambda e: e.type == "eTrade." and e.data.vt_orderid == a, timeout=10)


# -- exactly-once trades ----------------------------------------------------------------------
def test_both_sides_of_a_self_trade_are_reported(spot):
    """With self-trade prevention NONE, an account trading with itself gets two executions
    (and two myTrades rows) that share one trade id, one per order. Fed through the real
    user-event router, as the socket would."""
    h, _ = spot
    price = round(best_bid(h.sim) - 100, 2)
    vt = h.send(0.01, price)
    h.wait_status(vt, Status.NOTTRADED)
    order_id = h.sim_order(vt)["orderId"]
    now = int(time.time() * 1000)

    def report(order: int, client: str, side: str) -> dict[str, Any]:
        return {"e": "executionReport", "E": now, "s": "BTCUSDT", "c": client, "S": side, "o": "LIMIT", "f": "GTC",
                "q": "0.01000000", "p": f"{price:.2f}", "P": "0", "F": "0", "g": -1, "C": "", "x": "TRADE",
                "X": "FILLED", "r": "NONE", "i": order, "l": "0.01000000", "z": "0.01000000", "L": f"{price:.2f}",
                "n": "0", "N": "BNB", "T": now, "t": 987654, "I": 1, "w": False, "m": side == "BUY", "M": True,
                "O": now, "Z": f"{price * 0.01:.8f}", "Y": f"{price * 0.01:.8f}", "Q": "0", "W": now, "V": "NONE"}

    router = h.adapter.client.user_stream.router

    async def self_trade() -> None:
        router.apply(report(order_id + 1, "web-self-1", "SELL"))  # the other session's taker order
        router.apply(report(order_id, client_id(vt), "BUY"))  # our resting order, same trade id

    h.adapter.client.schedule(self_trade()).result(5)
    assert h.orders(vt)[-1].status is Status.ALLTRADED
    assert [t.volume for t in h.trades(vt)] == [pytest.approx(0.01)], "our fill was dropped as a duplicate"


# -- invalid input -----------------------------------------------------------------------------
def test_an_infinite_price_is_rejected_locally_at_once(spot):
    h, _ = spot
    vt = h.send(0.01, float("inf"))
    assert [o.status for o in h.orders(vt)] == [Status.REJECTED]


# -- pinned: races and refusals the adapter handles right -----------------------------------------
def test_a_cancel_that_loses_to_a_fill_while_the_stream_is_deaf_ends_alltraded_with_its_fill(spot):
    """Binance answers the cancel 'unknown order' (-2011): the order is re-read (FILLED) and
    the fill audit fetches the trade no stream event brought."""
    h, _ = spot
    price = round(best_bid(h.sim) - 100, 2)
    vt = h.send(0.01, price)
    h.wait_status(vt, Status.NOTTRADED)
    h.sim.faults.stall_streams(600, "user")
    h.sim.set_price("BTCUSDT", price - 1, kind="spot")  # filled at Binance, unheard
    cancel(h, vt)
    h.wait_log(f"Cancel {vt} failed")
    done = h.wait_status(vt, Status.ALLTRADED)
    assert done.traded == pytest.approx(0.01)
    h.wait(lambda e: e.type == "eTrade." and e.data.vt_orderid == vt)
    assert not [o for o in h.orders(vt) if o.status is Status.CANCELLED]
    assert h.sim_order(vt)["status"] == "FILLED"


def test_a_market_order_whose_answer_is_lost_while_the_stream_is_deaf_still_reports_its_fill(spot):
    h, _ = spot
    h.sim.faults.stall_streams(600, "user")
    h.sim.faults.lose_next_order_response()
    vt = h.send(0.01, order_type=OrderType.MARKET)
    done = h.wait_status(vt, Status.ALLTRADED)  # settled by client id
    h.wait(lambda e: e.type == "eTrade." and e.data.vt_orderid == vt)  # brought by the fill audit
    trades = h.trades(vt)
    assert sum(t.volume for t in trades) == pytest.approx(done.traded) == pytest.approx(0.01)
    assert len(h.sim_orders()) == 1


def test_a_429_answered_to_the_order_is_a_definite_rejection_never_a_resend(spot):
    """Binance refused the request (weight limit): REJECTED with its reason at once, no
    by-client-id settling, no second attempt, and the gate now holds REST back."""
    h, _ = spot
    price = round(best_bid(h.sim) - 100, 2)
    h.sim.faults.exhaust_weight()
    vt = h.send(0.01, price)
    rejected = h.wait_status(vt, Status.REJECTED)
    assert "-1003" in rejected.extra["reason"]
    assert not any("submission outcome unknown" in m for m in h.logs())
    assert not [o for o in h.sim_orders() if o.get("clientOrderId") == client_id(vt)]
    gate = h.adapter.client.gate
    assert gate.wait_ms(1)[0] > 0


def test_an_execution_status_unknown_error_after_binance_took_the_order_is_settled_not_rejected(spot, monkeypatch):
    """-1007 'execution status unknown' arriving as a plain ExchangeError (as ccxt maps some
    markets' codes): by its code it is an unknown outcome, never a rejection or a resend.
    The order really reaches Binance; only the answer is replaced (at the ccxt seam)."""
    import ccxt

    h, _ = spot
    exchange = h.adapter.client.exchange
    real_create = exchange.create_order

    async def create_order(*args: Any, **kwargs: Any) -> Any:
        await real_create(*args, **kwargs)
        raise ccxt.ExchangeError('binance {"code":-1007,"msg":"Timeout waiting for response from backend server. '
                                 'Send status unknown; execution status unknown."}')

    monkeypatch.setattr(exchange, "create_order", create_order)
    vt = h.send(0.01, round(best_bid(h.sim) - 100, 2))
    h.wait_log("submission outcome unknown")
    h.wait_status(vt, Status.NOTTRADED)
    assert h.sim_order(vt)["status"] == "NEW"  # exactly one order carries the id
    assert not [o for o in h.orders(vt) if o.status is Status.REJECTED]


# -- pinned: USDⓈ-M conditional orders and hedge mode ----------------------------------------------
def test_a_lost_conditional_order_response_is_settled_by_client_algo_id_without_a_second_order(usdm, monkeypatch):
    """USDⓈ-M STOP orders live on the algo endpoint: the unknown outcome is settled by
    clientAlgoId there (not on /fapi/v1/order, where it would look missing and be re-sent or
    called rejected)."""
    price = mark(usdm.sim)
    usdm.filled(Direction.LONG, 0.02)
    usdm.sim.faults.lose_next_order_response()
    stop = usdm.order(Direction.SHORT, 0.02, OrderType.STOP, round(price - 1000, 1), Offset.CLOSE)
    usdm.wait_log("submission outcome unknown")
    usdm.wait_status(stop, Status.NOTTRADED)
    algos = usdm.sim.call(usdm.sim.exchange.usdm.algos, usdm.sim.account)
    assert [a.client_id for a in algos].count(client_id(stop)) == 1
    usdm.adapter.cancel_order(CancelRequest(client_id(stop), "BTCUSDT", USDM))
    usdm.wait_status(stop, Status.CANCELLED)


def test_a_stop_that_triggers_and_fills_while_the_stream_is_deaf_is_reconciled_with_its_fill_once(usdm):
    """The algo order's FINISHED state names the order it became; reconciliation follows it,
    and the fill (REST: Binance's order id of the triggered order) is booked to our stop."""
    price = mark(usdm.sim)
    usdm.filled(Direction.LONG, 0.02)
    usdm.position(Direction.NET, 0.02)
    stop = usdm.order(Direction.SHORT, 0.02, OrderType.STOP, round(price - 1000, 1), Offset.CLOSE)
    usdm.wait_status(stop, Status.NOTTRADED)
    usdm.sim.faults.stall_streams(600, "user")
    usdm.sim.set_price("BTCUSDT", round(price - 1500, 1), kind="usdm")
    reconcile(usdm)
    done = usdm.wait_status(stop, Status.ALLTRADED)
    assert done.traded == pytest.approx(0.02)
    usdm.wait(lambda e: e.type == "eTrade." and e.data.vt_orderid == stop)
    reconcile(usdm)
    trades = usdm.trades(stop)
    assert len(trades) == len({t.tradeid for t in trades}) and sum(t.volume for t in trades) == pytest.approx(0.02)


def test_a_hedge_mode_stop_close_names_the_position_it_closes_and_sends_no_reduce_only(usdm):
    """Hedge mode: Binance refuses reduceOnly and needs positionSide; a sell STOP CLOSE acts
    on the LONG position (on the algo endpoint too)."""
    price = mark(usdm.sim)
    usdm.adapter.set_position_mode(True)
    usdm.wait_log("Position mode set to hedge")
    usdm.filled(Direction.LONG, 0.02, offset=Offset.OPEN)
    usdm.position(Direction.LONG, 0.02)
    stop = usdm.order(Direction.SHORT, 0.02, OrderType.STOP, round(price - 1000, 1), Offset.CLOSE)
    usdm.wait_status(stop, Status.NOTTRADED)
    [algo] = [a for a in usdm.sim.call(usdm.sim.exchange.usdm.algos, usdm.sim.account) if a.client_id == client_id(stop)]
    assert algo.position_side == "LONG" and not algo.reduce_only
    usdm.sim.set_price("BTCUSDT", round(price - 1500, 1), kind="usdm")
    usdm.wait_status(stop, Status.ALLTRADED)
    usdm.position(Direction.LONG, 0)


def test_a_refresh_refused_by_the_paused_gate_is_logged_and_the_reconciliation_goes_on(spot, monkeypatch):
    """A refused status query (the gate holds during a 429 pause) must not abort the rest of
    a reconciliation: the next one asks again."""
    from foxtrot_binance.rate_limit import RequestThrottled

    h, _ = spot
    vt = h.send(0.01, round(best_bid(h.sim) - 100, 2))
    h.wait_status(vt, Status.NOTTRADED)
    orders = h.adapter.client.orders
    real_call = orders.rest.call

    async def refusing(method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "fetch_order":
            raise RequestThrottled("rate limited by Binance (429)", 4_102_444_800_000)
        return await real_call(method, *args, **kwargs)

    monkeypatch.setattr(orders.rest, "call", refusing)
    h.adapter.client.schedule(orders.refresh_order(client_id(vt))).result(10)  # returns, does not raise
    assert h.orders(vt)[-1].status is Status.NOTTRADED
