"""USDⓈ-M default leverage and margin type, end to end over the simulator with real ccxt.

A symbol's defaults are applied once, before its first order, and an order never goes out
while they are not in force: it would open at a leverage or margin type nobody chose. The
ban and the concurrent-order cases are in test_order_review.py
(test_the_default_leverage_is_applied_even_when_the_first_order_met_a_ban,
test_a_second_order_waits_for_the_default_leverage_the_first_order_is_setting).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from foxtrot_binance.endpoints import point_ccxt_at
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks import Direction, Offset, Status

from test_usdm_e2e import connect_usdm


@pytest.fixture
def sim() -> Iterator[BinanceSimulator]:
    with BinanceSimulator(seed=21, tick_interval=None) as simulator:
        yield simulator


def outside_usdm(sim: BinanceSimulator) -> Any:
    """Another client of the same account (the web UI), over ccxt's raw USDⓈ-M endpoints."""
    import ccxt

    client = ccxt.binance({"apiKey": sim.api_key, "secret": sim.api_secret, "enableRateLimit": False})
    point_ccxt_at(client, sim.base_url)
    return client


def market(client: Any, side: str, quantity: str, **extra: str) -> None:
    client.fapiPrivatePostOrder({"symbol": "BTCUSDT", "side": side, "type": "MARKET", "quantity": quantity, **extra})


def test_an_order_whose_margin_type_binance_refuses_is_rejected_unsent_and_the_next_order_tries_again(
    sim: BinanceSimulator, clean_binance_env
):
    """A cross position exists (opened from the web UI), so Binance refuses isolated (-4048):
    the order is not sent at the wrong margin type and leverage. Once the position is gone the
    next order applies both defaults and goes out."""
    outside = outside_usdm(sim)
    market(outside, "BUY", "0.01")
    h = connect_usdm(sim, leverage=9, margin_type="isolated")
    try:
        first = h.order(Direction.LONG, 0.01)
        reason = h.wait_status(first, Status.REJECTED).extra["reason"]
        assert "not sent" in reason and "margin type isolated on BTCUSDT could not be set" in reason and "-4048" in reason
        assert not h.sim_usdm_order(first)
        assert sim.call(sim.exchange.usdm.leverage, sim.account, "BTCUSDT") != 9

        market(outside, "SELL", "0.01", reduceOnly="true")
        second = h.filled(Direction.LONG, 0.01)
        assert h.sim_usdm_order(second)
        assert sim.call(sim.exchange.usdm.leverage, sim.account, "BTCUSDT") == 9
        assert sim.account.margin_type["BTCUSDT"] == "ISOLATED"
        h.wait_log("Leverage on BTCUSDT set to 9x")
    finally:
        h.adapter.close()


def test_an_order_whose_leverage_binance_refuses_is_rejected_unsent(sim: BinanceSimulator, clean_binance_env):
    """Binance refuses the leverage (here: its REST is down for every retry of set_leverage)."""
    h = connect_usdm(sim, leverage=9)
    try:
        sim.faults.fail_rest(20, "503")
        first = h.order(Direction.LONG, 0.01)
        reason = h.wait_status(first, Status.REJECTED).extra["reason"]
        assert "not sent" in reason and "leverage 9x on BTCUSDT could not be set" in reason
        sim.faults.clear()
        assert not h.sim_usdm_order(first)
        second = h.filled(Direction.LONG, 0.01)  # the setup is retried, not remembered as done
        assert sim.call(sim.exchange.usdm.leverage, sim.account, "BTCUSDT") == 9
        assert h.sim_usdm_order(second)
    finally:
        h.adapter.close()


def test_the_defaults_are_applied_once_per_symbol(sim: BinanceSimulator, clean_binance_env):
    h = connect_usdm(sim, leverage=9, margin_type="isolated")
    try:
        h.filled(Direction.LONG, 0.01)
        h.filled(Direction.LONG, 0.01)
        h.filled(Direction.SHORT, 0.02)
        assert sum("Leverage on BTCUSDT set to 9x" in m for m in h.logs()) == 1
        assert sum("Margin type of BTCUSDT set to isolated" in m for m in h.logs()) == 1
    finally:
        h.adapter.close()


def test_a_close_is_never_held_back_by_a_margin_type_binance_refuses(sim: BinanceSimulator, clean_binance_env):
    """The defaults guard what an order opens; a close opens nothing. With a cross position
    Binance refuses isolated (-4048): opening is refused unsent, closing still goes out."""
    outside = outside_usdm(sim)
    market(outside, "BUY", "0.01")
    h = connect_usdm(sim, leverage=9, margin_type="isolated")
    try:
        opening = h.order(Direction.LONG, 0.01)
        assert "could not be set" in h.wait_status(opening, Status.REJECTED).extra["reason"]
        h.filled(Direction.SHORT, 0.01, offset=Offset.CLOSE)
        h.position(Direction.NET, 0.0)
    finally:
        h.adapter.close()


def test_an_order_whose_setup_would_wait_for_weight_is_rejected_unsent_not_sent_late(
    sim: BinanceSimulator, clean_binance_env
):
    """Binance answered 429: the weight gate pauses for the rest of the minute. An order may
    wait 2 s for budget, never longer; its symbol setup must not make it wait a minute and then
    go out at a price the trader no longer wants."""
    h = connect_usdm(sim, leverage=9)
    try:
        client = h.adapter.client
        # what a 429 with Retry-After: 30 does (a pause tied to the minute could end any moment)
        client.schedule(_hold(client.gate, 30.0)).result(timeout=10)
        vt = h.order(Direction.LONG, 0.01)
        reason = h.wait_status(vt, Status.REJECTED, timeout=10).extra["reason"]
        assert "not sent" in reason
        assert not h.sim_usdm_order(vt)
    finally:
        h.adapter.close()


async def _hold(gate: Any, seconds: float) -> None:
    gate.hold(429, retry_after_s=seconds)  # on the I/O loop, like every other use of the gate
