"""query_history through the adapter: paginated, closed bars only, served from the cache."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from foxtrot_binance import BinanceSpotAdapter
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks import Exchange, HistoryRequest, Interval
from foxtrot_hooks.testing import RecordingEngine

from spot_support import Harness


@pytest.fixture
def connected(tmp_path, clean_binance_env):
    with BinanceSimulator(seed=5, tick_interval=None) as sim:
        engine = RecordingEngine()
        adapter = BinanceSpotAdapter(engine, "BINANCE")
        adapter.connect({"Base URL": sim.base_url, "history_cache_dir": str(tmp_path / "cache")})
        Harness(sim, engine, adapter).wait_log("Connected to Binance spot")
        yield adapter
        adapter.close()


def count_fetches(adapter: BinanceSpotAdapter) -> list[tuple]:
    """Count kline page requests; must run before the first query builds the history manager."""
    client = adapter.client
    calls: list[tuple] = []
    original = client._fetch_klines

    async def counting(*args):
        calls.append(args)
        return await original(*args)

    client._fetch_klines = counting
    return calls


def test_three_days_of_minutes_then_an_overlapping_query_from_the_cache(connected):
    calls = count_fetches(connected)
    end = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=3)
    bars = connected.query_history(HistoryRequest("BTCUSDT", Exchange.BINANCE, start, end, Interval.MINUTE))
    assert len(bars) == 4320 and len(calls) == 5
    times = [b.datetime for b in bars]
    assert times[0] == start and times[-1] == end - timedelta(minutes=1)
    assert all(b - a == timedelta(minutes=1) for a, b in zip(times, times[1:]))
    assert all(b.datetime.tzinfo is not None and b.turnover > 0 and b.vt_symbol == "BTCUSDT.BINANCE" for b in bars)

    calls.clear()
    again = connected.query_history(HistoryRequest("BTC/USDT", Exchange.BINANCE, start + timedelta(days=1), end))
    assert len(again) == 2880 and calls == []  # interval None means 1m; all from the cache
    assert [b.close_price for b in again] == [b.close_price for b in bars[1440:]]


def test_the_unfinished_bar_is_never_returned(connected):
    now = datetime.now(timezone.utc)
    bars = connected.query_history(HistoryRequest("ETHUSDT", Exchange.BINANCE, now - timedelta(hours=3), None, Interval.HOUR))
    assert bars and bars[-1].datetime + timedelta(hours=1) <= now + timedelta(seconds=1)


def test_bad_history_requests_are_clear_errors(connected):
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="unknown symbol NOPE.BINANCE"):
        connected.query_history(HistoryRequest("NOPE", Exchange.BINANCE, start))
    with pytest.raises(ValueError, match="tick history is not available"):
        connected.query_history(HistoryRequest("BTCUSDT", Exchange.BINANCE, start, interval=Interval.TICK))


def test_history_before_connect_is_refused(clean_binance_env):
    adapter = BinanceSpotAdapter(RecordingEngine(), "BINANCE")
    with pytest.raises(RuntimeError, match="needs a connected adapter"):
        adapter.query_history(HistoryRequest("BTCUSDT", Exchange.BINANCE, datetime(2026, 1, 1, tzinfo=timezone.utc)))
