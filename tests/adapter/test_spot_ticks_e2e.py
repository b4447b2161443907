"""Live ticks through the adapter over the simulator's market streams, and their failures."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from foxtrot_binance import BinanceSpotAdapter
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks import Exchange, SubscribeRequest
from foxtrot_hooks.testing import RecordingEngine

from spot_support import Harness


@pytest.fixture
def ticking(clean_binance_env):
    with BinanceSimulator(seed=11, tick_interval=0.02) as sim:
        engine = RecordingEngine()
        adapter = BinanceSpotAdapter(engine, "BINANCE")
        harness = Harness(sim, engine, adapter)
        adapter.subscribe(SubscribeRequest("BTC/USDT", Exchange.BINANCE))  # before connect: kept
        adapter.connect({"Base URL": sim.base_url, "Reconnect Delay": 0.05, "stale_after": 0.6})
        yield harness
        adapter.close()


def ticks_after(h: Harness, count: int, symbol: str = "BTCUSDT.BINANCE", timeout: float = 15):
    start = len(h.engine.events)

    def enough(_event) -> bool:
        return sum(1 for e in h.engine.events[start:] if e.type == "eTick." + symbol) >= count

    h.wait(enough, timeout)
    return [e.data for e in h.engine.events[start:] if e.type == "eTick." + symbol]


def test_subscribed_before_connect_ticks_carry_prices_depth_and_utc_times(ticking: Harness):
    ticks = ticks_after(ticking, 20)
    tick = ticks[-1]
    assert tick.vt_symbol == "BTCUSDT.BINANCE" and tick.adapter_name == "BINANCE"
    assert tick.last_price > 0 and tick.volume > 0 and tick.turnover > 0 and tick.high_price >= tick.low_price > 0
    assert 0 < tick.bid_price_1 < tick.ask_price_1
    for t in ticks:  # levels 2-5 stay behind level 1 (fewer of them until the next depth snapshot)
        bids = [getattr(t, f"bid_price_{i}") for i in range(1, 6) if getattr(t, f"bid_volume_{i}") > 0]
        asks = [getattr(t, f"ask_price_{i}") for i in range(1, 6) if getattr(t, f"ask_volume_{i}") > 0]
        assert bids == sorted(set(bids), reverse=True) and asks == sorted(set(asks)) and bids[0] < asks[0]
    full = [t for t in ticks if all(getattr(t, f"{side}_volume_{i}") > 0 for side in ("bid", "ask") for i in range(1, 6))]
    assert full  # depth snapshots show all five levels of both sides
    assert tick.datetime.tzinfo is not None and tick.localtime.tzinfo is not None
    assert abs((tick.localtime - datetime.now(timezone.utc)).total_seconds()) < 10
    general = [e for e in ticking.engine.events if e.type == "eTick."]
    assert general and all(e.data.vt_symbol == "BTCUSDT.BINANCE" for e in general)
    first = ticks[0]
    snapshot = dict(first.__dict__)
    ticks_after(ticking, 5)
    assert first.__dict__ == snapshot  # emitted ticks are never changed afterwards


def test_unknown_symbol_is_logged_not_raised(ticking: Harness):
    ticking.wait_log("Connected to Binance spot")
    ticking.adapter.subscribe(SubscribeRequest("NOPEUSDT", Exchange.BINANCE))
    ticking.wait_log("Subscribe NOPEUSDT.BINANCE: unknown symbol")


def test_dropped_market_streams_reconnect_and_ticks_resume(ticking: Harness):
    ticks_after(ticking, 5)
    ticking.sim.faults.drop_streams("market")
    ticking.wait_log("Market data spot#1 reconnecting")
    assert ticks_after(ticking, 10)


def test_a_stalled_stream_is_replaced_by_the_watchdog(ticking: Harness):
    ticks_after(ticking, 5)
    ticking.sim.faults.stall_streams(30, "market")  # open but silent far longer than stale_after
    ticking.wait_log("reconnecting")
    ticking.sim.faults.clear()
    assert ticks_after(ticking, 10)


def test_a_malformed_frame_is_skipped_and_the_stream_continues(ticking: Harness):
    ticks_after(ticking, 5)
    ticking.sim.faults.send_malformed_frame("market")
    assert ticks_after(ticking, 20)
    assert not [m for m in ticking.logs() if "reconnecting" in m]
