"""HistoricalDataManager over a fake klines seam, and end to end over the simulator with ccxt."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from foxtrot_binance.bar_cache import BarCache
from foxtrot_binance.historical_data import INTERVAL_MS, HistoricalDataManager, bar_ceil, to_utc_ms
from foxtrot_binance.market_kind import MarketKind
from foxtrot_hooks import Exchange, HistoryRequest, Interval

T = TypeVar("T")
UTC = timezone.utc
MIN = 60_000
DAY0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, 34, 56, 789_000, tzinfo=UTC)  # in the middle of every bar


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 20))


def ms(moment: datetime) -> int:
    return to_utc_ms(moment)


class FakeKlines:
    """Binance's klines for any range: bars open at every slot from ``listing`` on, except
    in ``gaps``; at most ``limit``; both bounds inclusive on the open time. Excludes nothing
    else (the unfinished bar comes back when asked for). Records every request."""

    def __init__(self, listing: int = 0, gaps: tuple[tuple[int, int], ...] = (), *,
                 ignore_start: bool = False, ignore_end: bool = False) -> None:
        self.listing = listing
        self.gaps = gaps
        self.ignore_start = ignore_start
        self.ignore_end = ignore_end
        self.calls: list[tuple[str, str, int, int, int]] = []

    async def __call__(self, symbol: str, interval: str, start_ms: int, end_ms: int, limit: int) -> list[list]:
        self.calls.append((symbol, interval, start_ms, end_ms, limit))
        step = INTERVAL_MS[interval]
        t = bar_ceil(interval, max(0 if self.ignore_start else start_ms, self.listing))
        stop = end_ms if not self.ignore_end else end_ms + 10 * step
        rows: list[list] = []
        while t <= stop and len(rows) < limit:
            if not any(a <= t < b for a, b in self.gaps):
                rows.append(kline_row(t, step))
            t += step
        return rows


def kline_row(t: int, step: int) -> list:
    price = 100 + (t // step) % 50
    volume = 1 + (t // step) % 7
    return [t, f"{price}", f"{price + 2}", f"{price - 1}", f"{price + 1}", f"{volume}", t + step - 1,
            f"{volume * price + 0.5}", 10, "0.5", "50.0", "0"]


def manager(fetch: Any, cache: BarCache | None, now: datetime = NOW, kind: MarketKind = MarketKind.SPOT
            ) -> HistoricalDataManager:
    return HistoricalDataManager(kind, "BINANCE", fetch, cache, lambda: ms(now))


def request(start: datetime, end: datetime | None, interval: Interval | None = Interval.MINUTE) -> HistoryRequest:
    return HistoryRequest(symbol="BTCUSDT", exchange=Exchange.BINANCE, start=start, end=end, interval=interval)


@pytest.fixture
def cache(tmp_path: Path):
    c = BarCache(tmp_path / "cache")
    yield c
    c.close()


def assert_contiguous(bars: list, step_ms: int) -> None:
    opens = [ms(b.datetime) for b in bars]
    assert opens == list(range(opens[0], opens[0] + step_ms * len(opens), step_ms))


def test_three_days_of_minutes_is_4320_contiguous_bars_in_five_pages_then_served_from_cache(cache) -> None:
    fetch = FakeKlines()
    hdm = manager(fetch, cache)
    req = request(DAY0, DAY0 + timedelta(days=3))
    bars = run(hdm.query(req, "BTCUSDT"))
    assert len(bars) == 4320
    assert_contiguous(bars, MIN)
    assert bars[0].datetime == DAY0 and bars[-1].datetime == DAY0 + timedelta(days=3, minutes=-1)
    start = ms(DAY0)
    assert [c[2] for c in fetch.calls] == [start + i * 1000 * MIN for i in range(5)]
    assert {(c[0], c[1], c[3], c[4]) for c in fetch.calls} == {("BTCUSDT", "1m", start + 4320 * MIN - 1, 1000)}
    first = bars[0]
    row = kline_row(start, MIN)
    assert first.datetime.tzinfo is not None and first.datetime.utcoffset() == timedelta(0)
    assert (first.open_price, first.high_price, first.low_price, first.close_price) == tuple(float(x) for x in row[1:5])
    assert first.volume == float(row[5]) and first.turnover == float(row[7]) and first.open_interest == 0
    assert (first.symbol, first.exchange, first.vt_symbol, first.interval, first.adapter_name) == (
        "BTCUSDT", Exchange.BINANCE, "BTCUSDT.BINANCE", Interval.MINUTE, "BINANCE")

    again = run(hdm.query(req, "BTCUSDT"))
    assert len(fetch.calls) == 5  # nothing fetched
    assert again == bars


def test_overlapping_query_fetches_only_the_missing_day(cache) -> None:
    fetch = FakeKlines()
    hdm = manager(fetch, cache)
    run(hdm.query(request(DAY0, DAY0 + timedelta(days=3)), "BTCUSDT"))
    fetch.calls.clear()
    shifted = run(hdm.query(request(DAY0 + timedelta(days=1), DAY0 + timedelta(days=4)), "BTCUSDT"))
    assert len(shifted) == 4320
    assert_contiguous(shifted, MIN)
    day3, day4 = ms(DAY0 + timedelta(days=3)), ms(DAY0 + timedelta(days=4))
    assert [(c[2], c[3]) for c in fetch.calls] == [(day3, day4 - 1), (day3 + 1000 * MIN, day4 - 1)]
    # and a query covering both sides of the cached block fetches the two ends only
    fetch.calls.clear()
    wide = run(hdm.query(request(DAY0 - timedelta(hours=1), DAY0 + timedelta(days=4, hours=1)), "BTCUSDT"))
    assert len(wide) == 4 * 1440 + 120
    assert_contiguous(wide, MIN)
    assert [(c[2], c[3]) for c in fetch.calls] == [
        (ms(DAY0) - 60 * MIN, ms(DAY0) - 1), (day4, day4 + 60 * MIN - 1)]


def test_unfinished_bar_is_excluded_and_the_open_end_is_not_cached(cache) -> None:
    fetch = FakeKlines(ignore_end=True)  # even a server that sends the live bar
    bars = run(manager(fetch, cache).query(request(NOW - timedelta(hours=2), None), "BTCUSDT"))
    current_open = ms(NOW) // MIN * MIN
    assert ms(bars[-1].datetime) == current_open - MIN
    assert all(ms(b.datetime) + MIN - 1 < ms(NOW) for b in bars)
    assert len(bars) == 119  # 10:35 (the first to open after start) to 12:33
    assert cache.missing("spot", "BTCUSDT", "1m", current_open - MIN, current_open + MIN) == [
        (current_open, current_open + MIN)]
    # an explicit end after now is clamped the same way
    later = run(manager(FakeKlines(), cache).query(request(NOW - timedelta(hours=2), NOW + timedelta(days=1)), "BTCUSDT"))
    assert later == bars
    # three minutes later, exactly the bars that closed since are fetched
    fetch2 = FakeKlines()
    newer = run(manager(fetch2, cache, now=NOW + timedelta(minutes=3)).query(request(NOW - timedelta(hours=2), None), "BTCUSDT"))
    assert ms(newer[-1].datetime) == current_open + 2 * MIN
    assert [(c[2], c[3]) for c in fetch2.calls] == [(current_open, current_open + 3 * MIN - 1)]


def test_now_exactly_on_a_boundary_includes_the_bar_that_just_closed(cache) -> None:
    boundary = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    bars = run(manager(FakeKlines(), cache, now=boundary).query(request(boundary - timedelta(minutes=5), None), "BTCUSDT"))
    assert [b.datetime for b in bars][-1] == boundary - timedelta(minutes=1) and len(bars) == 5


def test_a_bar_closed_seconds_ago_is_returned_but_only_cached_once_settled(cache) -> None:
    boundary = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    req = request(boundary - timedelta(minutes=5), None)
    fetch = FakeKlines()
    just_after = boundary + timedelta(seconds=1)
    bars = run(manager(fetch, cache, now=just_after).query(req, "BTCUSDT"))
    assert bars[-1].datetime == boundary - timedelta(minutes=1) and len(bars) == 5
    last = ms(boundary) - MIN
    assert cache.missing("spot", "BTCUSDT", "1m", ms(req.start), ms(boundary)) == [(last, ms(boundary))]
    fetch.calls.clear()
    assert run(manager(fetch, cache, now=just_after).query(req, "BTCUSDT")) == bars
    assert [(c[2], c[3]) for c in fetch.calls] == [(last, ms(boundary) - 1)]  # only the unsettled bar
    fetch.calls.clear()
    settled = boundary + timedelta(seconds=10)
    assert run(manager(fetch, cache, now=settled).query(req, "BTCUSDT")) == bars
    assert run(manager(fetch, cache, now=settled).query(req, "BTCUSDT")) == bars
    assert len(fetch.calls) == 1 and cache.missing("spot", "BTCUSDT", "1m", ms(req.start), ms(boundary)) == []


def test_rows_that_are_not_raw_klines_are_refused() -> None:
    async def ohlcv_only(*args: Any) -> list[list]:
        return [[ms(DAY0), 1.0, 2.0, 0.5, 1.5, 10.0]]

    with pytest.raises(ValueError, match="raw Binance kline rows"):
        run(manager(ohlcv_only, None).query(request(DAY0, DAY0 + timedelta(minutes=1)), "BTCUSDT"))


@pytest.mark.parametrize(
    ("interval", "code", "start", "end", "first", "count"),
    [
        (Interval.HOUR, "1h", datetime(2026, 11, 1, 0, 30), datetime(2026, 11, 2, 0, 0), datetime(2026, 11, 1, 1), 23),
        (Interval.HOUR, "1h", datetime(2026, 11, 1, 0, 0), datetime(2026, 11, 1, 5, 1), datetime(2026, 11, 1, 0), 6),
        (Interval.DAILY, "1d", datetime(2026, 10, 1, 12), datetime(2026, 11, 1), datetime(2026, 10, 2), 30),
        # 2026-10-05 and 2026-11-02 are Mondays: Binance weeks open on Monday 00:00 UTC
        (Interval.WEEKLY, "1w", datetime(2026, 10, 1), datetime(2026, 11, 3), datetime(2026, 10, 5), 5),
    ],
)
def test_hourly_daily_weekly_alignment(cache, interval, code, start, end, first, count) -> None:
    fetch = FakeKlines()
    bars = run(manager(fetch, cache).query(request(start, end, interval), "BTCUSDT"))
    assert bars[0].datetime == first.replace(tzinfo=UTC) and len(bars) == count
    assert_contiguous(bars, INTERVAL_MS[code])
    assert {b.interval for b in bars} == {interval} and {c[1] for c in fetch.calls} == {code}
    if interval is Interval.WEEKLY:
        assert {b.datetime.weekday() for b in bars} == {0}
    run(manager(fetch, cache).query(request(start, end, interval), "BTCUSDT"))
    assert len(fetch.calls) == 1


def test_naive_datetimes_are_utc_and_aware_ones_are_converted(cache) -> None:
    fetch = FakeKlines()
    naive = run(manager(fetch, None).query(request(datetime(2026, 11, 1, 8), datetime(2026, 11, 1, 9)), "BTCUSDT"))
    tokyo = timezone(timedelta(hours=9))
    aware = run(manager(fetch, None).query(
        request(datetime(2026, 11, 1, 17, tzinfo=tokyo), datetime(2026, 11, 1, 18, tzinfo=tokyo)), "BTCUSDT"))
    assert naive == aware and len(naive) == 60
    assert naive[0].datetime == datetime(2026, 11, 1, 8, tzinfo=UTC)


def test_interval_none_means_one_minute_and_tick_is_refused(cache) -> None:
    fetch = FakeKlines()
    bars = run(manager(fetch, cache).query(request(DAY0, DAY0 + timedelta(minutes=10), None), "BTCUSDT"))
    assert len(bars) == 10 and bars[0].interval is Interval.MINUTE and fetch.calls[0][1] == "1m"
    with pytest.raises(ValueError, match="tick"):
        run(manager(fetch, cache).query(request(DAY0, DAY0 + timedelta(minutes=10), Interval.TICK), "BTCUSDT"))


def test_empty_or_inverted_range_returns_nothing_without_fetching(cache) -> None:
    fetch = FakeKlines()
    hdm = manager(fetch, cache)
    assert run(hdm.query(request(DAY0, DAY0), "BTCUSDT")) == []
    assert run(hdm.query(request(DAY0 + timedelta(days=1), DAY0), "BTCUSDT")) == []
    assert run(hdm.query(request(NOW + timedelta(days=1), None), "BTCUSDT")) == []
    assert fetch.calls == []


def test_ranges_before_listing_and_trading_gaps_are_not_refetched(cache) -> None:
    listing = ms(DAY0 + timedelta(days=1, hours=6))
    halt = (ms(DAY0 + timedelta(days=2)), ms(DAY0 + timedelta(days=2, hours=3)))
    fetch = FakeKlines(listing=listing, gaps=(halt,))
    hdm = manager(fetch, cache)
    before = run(hdm.query(request(DAY0 - timedelta(days=30), DAY0), "BTCUSDT"))
    assert before == [] and len(fetch.calls) == 1
    bars = run(hdm.query(request(DAY0, DAY0 + timedelta(days=3)), "BTCUSDT"))
    assert ms(bars[0].datetime) == listing
    assert len(bars) == (3 * 1440 - 30 * 60) - 180
    assert not any(halt[0] <= ms(b.datetime) < halt[1] for b in bars)
    calls = len(fetch.calls)
    assert run(hdm.query(request(DAY0 - timedelta(days=30), DAY0 + timedelta(days=3)), "BTCUSDT")) == bars
    assert len(fetch.calls) == calls


def test_cache_survives_reopen(tmp_path: Path) -> None:
    fetch = FakeKlines()
    req = request(DAY0, DAY0 + timedelta(days=1))
    with BarCache(tmp_path) as first:
        bars = run(manager(fetch, first).query(req, "BTCUSDT"))
    with BarCache(tmp_path) as second:
        assert run(manager(fetch, second).query(req, "BTCUSDT")) == bars
    assert len(fetch.calls) == 2


def test_spot_and_usdm_are_cached_apart(cache) -> None:
    fetch = FakeKlines()
    req = request(DAY0, DAY0 + timedelta(hours=1))
    spot = run(manager(fetch, cache).query(req, "BTCUSDT"))
    usdm = run(manager(fetch, cache, kind=MarketKind.USDM).query(req, "BTCUSDT"))
    assert len(fetch.calls) == 2
    assert {b.exchange for b in spot} == {Exchange.BINANCE} and {b.exchange for b in usdm} == {Exchange.BINANCEUSDM}


def test_cancellation_mid_download_keeps_stored_pages_and_the_next_query_resumes(cache) -> None:
    entered_third = asyncio.Event()

    class Stalling(FakeKlines):
        async def __call__(self, *args: Any) -> list[list]:
            rows = await super().__call__(*args)
            if len(self.calls) == 3:
                entered_third.set()
                await asyncio.Event().wait()  # stalls until cancelled
            return rows

    req = request(DAY0, DAY0 + timedelta(days=3))

    async def cancel_mid_download() -> None:
        task = asyncio.create_task(manager(Stalling(), cache).query(req, "BTCUSDT"))
        await entered_third.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(cancel_mid_download())
    start = ms(DAY0)
    assert len(cache.bars("spot", "BTCUSDT", "1m", start, start + 4320 * MIN)) == 2000
    assert cache.missing("spot", "BTCUSDT", "1m", start, start + 4320 * MIN) == [(start + 2000 * MIN, start + 4320 * MIN)]

    fetch = FakeKlines()
    bars = run(manager(fetch, cache).query(req, "BTCUSDT"))
    assert len(bars) == 4320
    assert_contiguous(bars, MIN)
    assert [c[2] for c in fetch.calls] == [start + 2000 * MIN, start + 3000 * MIN, start + 4000 * MIN]


def test_a_fetch_error_propagates_and_completed_pages_are_kept(cache) -> None:
    class Failing(FakeKlines):
        async def __call__(self, *args: Any) -> list[list]:
            if len(self.calls) == 1:
                raise ConnectionError("boom")
            return await super().__call__(*args)

    req = request(DAY0, DAY0 + timedelta(days=1))
    with pytest.raises(ConnectionError):
        run(manager(Failing(), cache).query(req, "BTCUSDT"))
    start = ms(DAY0)
    assert cache.missing("spot", "BTCUSDT", "1m", start, start + 1440 * MIN) == [(start + 1000 * MIN, start + 1440 * MIN)]


def test_a_server_replaying_the_same_page_cannot_loop_forever(cache) -> None:
    fetch = FakeKlines(listing=ms(DAY0), ignore_start=True)  # always answers with the first page
    bars = run(manager(fetch, cache).query(request(DAY0, DAY0 + timedelta(days=3)), "BTCUSDT"))
    assert len(fetch.calls) == 2
    assert len(bars) == 1000
    assert_contiguous(bars, MIN)
    start = ms(DAY0)
    # only what was really received is marked as downloaded
    assert cache.missing("spot", "BTCUSDT", "1m", start, start + 4320 * MIN) == [(start + 1000 * MIN, start + 4320 * MIN)]


def test_duplicate_rows_in_a_page_are_merged() -> None:
    class Duplicating(FakeKlines):
        async def __call__(self, *args: Any) -> list[list]:
            rows = await super().__call__(*args)
            return rows[:3] + rows[:3] + rows[3:]

    bars = run(manager(Duplicating(), None).query(request(DAY0, DAY0 + timedelta(minutes=30)), "BTCUSDT"))
    assert len(bars) == 30
    assert_contiguous(bars, MIN)


def test_pages_are_requested_one_at_a_time(cache) -> None:
    in_flight, peak = 0, 0

    class Counting(FakeKlines):
        async def __call__(self, *args: Any) -> list[list]:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0)  # yield to anything else the manager might have started
            try:
                return await super().__call__(*args)
            finally:
                in_flight -= 1

    fetch = Counting(gaps=((ms(DAY0 + timedelta(hours=1)), ms(DAY0 + timedelta(hours=2))),))
    hdm = manager(fetch, cache)
    run(hdm.query(request(DAY0 + timedelta(hours=1), DAY0 + timedelta(hours=2)), "BTCUSDT"))
    # two missing ranges around the cached hour: still sequential
    run(hdm.query(request(DAY0, DAY0 + timedelta(days=2)), "BTCUSDT"))
    assert peak == 1 and len(fetch.calls) > 3


def test_progress_is_reported_monotonically_up_to_the_total(cache) -> None:
    seen: list[tuple[int, int]] = []
    run(manager(FakeKlines(), cache).query(request(DAY0, DAY0 + timedelta(days=3)), "BTCUSDT", on_progress=lambda d, t: seen.append((d, t))))
    assert seen[0] == (0, 4320) and seen[-1] == (4320, 4320)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and {t for _, t in seen} == {4320}

    def broken(done: int, total: int) -> None:
        raise RuntimeError("ui bug")

    bars = run(manager(FakeKlines(), cache).query(request(DAY0, DAY0 + timedelta(days=4)), "BTCUSDT", on_progress=broken))
    assert len(bars) == 4 * 1440


def test_without_a_cache_every_query_downloads() -> None:
    fetch = FakeKlines()
    hdm = manager(fetch, None)
    req = request(DAY0, DAY0 + timedelta(days=3))
    first = run(hdm.query(req, "BTCUSDT"))
    assert len(first) == 4320 and len(fetch.calls) == 5
    assert run(hdm.query(req, "BTCUSDT")) == first and len(fetch.calls) == 10


# -- end to end: the simulator's klines through a real ccxt async client ----------------------
@pytest.mark.parametrize("kind", [MarketKind.SPOT, MarketKind.USDM])
def test_end_to_end_over_the_simulator_with_ccxt(tmp_path: Path, kind: MarketKind) -> None:
    import ccxt.async_support as ccxt_async

    from foxtrot_binance.endpoints import point_ccxt_at
    from foxtrot_binance.simulator import BinanceSimulator

    async def scenario(sim: BinanceSimulator) -> None:
        exchange = ccxt_async.binance({
            "enableRateLimit": False,
            "options": {"fetchMarkets": {"types": ["spot", "linear"]}, "fetchCurrencies": False, "fetchMargins": False},
        })
        point_ccxt_at(exchange, sim.base_url)
        requests: list[dict] = []

        async def fetch_klines(symbol_id: str, interval: str, start_ms: int, end_ms: int, limit: int) -> list[list]:
            params = {"symbol": symbol_id, "interval": interval, "startTime": start_ms, "endTime": end_ms, "limit": limit}
            requests.append(params)
            if kind is MarketKind.SPOT:
                return await exchange.publicGetKlines(params)
            return await exchange.fapiPublicGetKlines(params)

        async def server_now() -> int:
            return int((await exchange.publicGetTime())["serverTime"])

        try:
            now = await server_now()
            end = datetime.fromtimestamp(now // 86_400_000 * 86_400, tz=UTC) - timedelta(days=1)
            req = request(end - timedelta(days=3), end)
            with BarCache(tmp_path / "sim") as cache:
                hdm = HistoricalDataManager(kind, "BINANCE", fetch_klines, cache, lambda: now)
                bars = await hdm.query(req, "BTCUSDT")
                assert len(bars) == 4320
                assert_contiguous(bars, MIN)
                assert bars[0].datetime == end - timedelta(days=3)
                assert all(b.low_price <= min(b.open_price, b.close_price) <= b.high_price for b in bars)
                assert all(b.turnover > 0 for b in bars)
                assert len(requests) == 5 and {b.exchange for b in bars} == {kind.exchange}
                cached = await hdm.query(req, "BTCUSDT")
                assert cached == bars and len(requests) == 5
                raw = await fetch_klines("BTCUSDT", "1m", ms(req.start), ms(req.start), 1)
                assert bars[0].turnover == float(raw[0][7]) and bars[0].volume == float(raw[0][5])
        finally:
            await exchange.close()

    with BinanceSimulator() as sim:
        run(scenario(sim))
