"""History queries: klines from Binance, page by page, into BarData, through a local cache.

The rules a trader relies on:

* Bars are those whose open time lies in ``[start, end)``; ``end=None`` means now. Naive
  datetimes are UTC (the platform's convention); aware ones are converted. ``interval=None``
  means 1-minute bars, as on the foxtrot platform. Ticks are not klines and are refused.
* Only closed bars are returned, judged on the exchange clock (``now_ms``, server time), so
  a bar still moving never reaches a backtest or the cache. A bar that closed only seconds
  ago is returned but not cached (``SETTLE_MS``); the next query asks for it again.
* Pages are requested one at a time (limit 1000, see ``PAGE_LIMIT``), so a long download
  never bursts the weight budget; the caller's ``fetch_klines`` does the weight gating and
  retries.
* With a cache, only ranges never downloaded are requested. A range is remembered as
  downloaded even when Binance has no bars in it (before listing, trading halts), so those
  holes are not asked for again; a range reaching past the last closed bar is never
  remembered, because bars may still appear there.
* Each page is stored with its coverage in one transaction right after it arrives: a
  timeout or an error mid-download keeps every completed page and the next query resumes
  from there. Cache reads and writes run on a worker thread, never on the adapter's I/O
  loop: a cache file another process holds locked must not stall ticks and orders while
  sqlite waits for it.
* A cache that fails during a query (locked past sqlite's timeout, disk full, I/O error)
  costs that query its cache, not its bars: it is said in the log and the range is
  downloaded without it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from foxtrot_hooks import BarData, HistoryRequest, Interval

from .bar_cache import BarCache, BarCacheError, CachedBar
from .logs import get_logger
from .market_kind import MarketKind

PAGE_LIMIT = 1000
"""Bars per request. Spot: its maximum, at a flat weight 2. USDⓈ-M: weight 5 (1500 would
cost 10; 499 costs 2, a quarter less weight per bar for twice the round trips). Pages go
one at a time, so a download is bound by latency, not weight: at 5 pages a second USDⓈ-M
uses about 1,500 of its 2,400 weight a minute, spot 600 of 6,000."""

SETTLE_MS = 5_000
"""A bar that closed less than this long ago is returned but not cached. Binance builds
klines from its trade feed a little after the matching engine; a bar read the instant it
closed could still lack its last trades, and a cached bar is never downloaded again."""

INTERVAL_TO_BINANCE: dict[Interval, str] = {
    Interval.MINUTE: "1m",
    Interval.HOUR: "1h",
    Interval.DAILY: "1d",
    Interval.WEEKLY: "1w",
}

INTERVAL_MS: dict[str, int] = {"1m": 60_000, "1h": 3_600_000, "1d": 86_400_000, "1w": 604_800_000}

WEEK_ANCHOR_MS = 4 * 86_400_000
"""1970-01-05, a Monday: Binance's weekly bars open on Monday 00:00 UTC, the epoch was a Thursday."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

KlineRow = Sequence[Any]
"""``[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, takerBase,
takerQuote, ignore]`` as Binance sends it (prices and volumes as strings)."""


class FetchKlines(Protocol):
    """The seam to the coordinator: one klines request, weight-gated and retried there.

    ``start_ms`` and ``end_ms`` are Binance's ``startTime`` and ``endTime``: both inclusive
    bounds on the open time. Errors propagate to the caller of ``query``.
    """

    def __call__(
        self, symbol_id: str, interval: str, start_ms: int, end_ms: int, limit: int
    ) -> Awaitable[list[KlineRow]]: ...


ProgressCallback = Callable[[int, int], None]
"""``on_progress(done_bars, total_bars_estimate)``: bar slots downloaded so far out of the
slots that had to be downloaded (a slot with no bar at Binance still counts as done)."""


def binance_interval(interval: Interval | None) -> str:
    """The Binance interval code for a platform interval; None means one minute."""
    if interval is None:
        return "1m"
    if interval is Interval.TICK:
        raise ValueError("tick history is not available from Binance klines; request a bar interval (1m, 1h, d, w)")
    try:
        return INTERVAL_TO_BINANCE[interval]
    except KeyError:
        raise ValueError(f"unsupported history interval {interval!r}") from None


def to_utc_ms(moment: datetime) -> int:
    """Milliseconds since the epoch; naive datetimes are UTC. Integer arithmetic, no float
    rounding."""
    aware = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
    return (aware - _EPOCH) // timedelta(milliseconds=1)


def bar_floor(code: str, t_ms: int) -> int:
    """Open time of the bar of ``code`` that contains ``t_ms``."""
    step = INTERVAL_MS[code]
    anchor = WEEK_ANCHOR_MS if code == "1w" else 0
    return (t_ms - anchor) // step * step + anchor


def bar_ceil(code: str, t_ms: int) -> int:
    """Open time of the first bar of ``code`` that opens at or after ``t_ms``."""
    floor = bar_floor(code, t_ms)
    return floor if floor == t_ms else floor + INTERVAL_MS[code]


def parse_row(row: KlineRow) -> CachedBar:
    """A Binance kline row as stored: volume is the base volume, turnover the quote volume."""
    return CachedBar(
        open_time=int(row[0]),
        open=float(row[1]),
        high=float(row[2]),
        low=float(row[3]),
        close=float(row[4]),
        volume=float(row[5]),
        turnover=float(row[7]),
    )


class HistoricalDataManager:
    """Answers HistoryRequests for one adapter (one market kind) from the cache and Binance.

    ``now_ms`` is the exchange clock (local time plus the measured server offset), because
    "closed" is Binance's judgement, not the local machine's. ``cache=None`` downloads every
    time. ``on_progress`` is called on the thread running ``query`` (the adapter's I/O
    thread): a UI must hand the figures over to its own thread.
    """

    def __init__(
        self,
        kind: MarketKind,
        adapter_name: str,
        fetch_klines: FetchKlines | Callable[[str, str, int, int, int], Awaitable[list[Any]]],
        cache: BarCache | None,
        now_ms: Callable[[], int],
        *,
        settle_ms: int = SETTLE_MS,
    ) -> None:
        self.kind = kind
        self.settle_ms = settle_ms
        self.adapter_name = adapter_name
        self._fetch = fetch_klines
        self._cache = cache
        self._now_ms = now_ms
        self._log = get_logger(adapter_name)

    async def query(
        self, req: HistoryRequest, symbol_id: str, *, on_progress: ProgressCallback | None = None
    ) -> list[BarData]:
        """Closed bars of ``symbol_id`` (a resolved Binance id) for ``req``, oldest first,
        without duplicates. Raises ValueError for tick history; fetch errors propagate."""
        code = binance_interval(req.interval)
        interval = req.interval or Interval.MINUTE
        now = int(self._now_ms())
        start = bar_ceil(code, to_utc_ms(req.start))
        # bars opening at or after the current bar's open are unfinished on the exchange clock
        end = bar_floor(code, now)
        if req.end is not None:
            end = min(end, bar_ceil(code, to_utc_ms(req.end)))
        if start >= end:
            return []

        if self._cache is not None:
            try:
                return await self._query_cached(self._cache, symbol_id, code, interval, start, end, now, on_progress)
            except (sqlite3.Error, BarCacheError) as exc:
                self._log.warning("history cache {} failed ({}); {} {} bars are downloaded without it",
                                  self._cache.path, exc, symbol_id, code)
        progress = _Progress((end - start) // INTERVAL_MS[code], on_progress, self._log)
        fresh: dict[int, CachedBar] = {}
        await self._download(symbol_id, code, start, end, now, progress, cache=None, sink=fresh)
        progress.finish()
        return self._to_bars([fresh[t] for t in sorted(fresh)], symbol_id, interval)

    async def _query_cached(
        self, cache: BarCache, symbol_id: str, code: str, interval: Interval, start: int, end: int, now: int,
        on_progress: ProgressCallback | None,
    ) -> list[BarData]:
        key = (self.kind.value, symbol_id, code)
        # bars that closed moments ago are returned but not cached: see settle_ms
        cache_end = max(start, min(end, bar_floor(code, now - self.settle_ms)))
        gaps = await asyncio.to_thread(cache.missing, *key, start, cache_end) if cache_end > start else []
        step = INTERVAL_MS[code]
        progress = _Progress(sum((b - a) // step for a, b in gaps) + (end - cache_end) // step, on_progress, self._log)
        fresh: dict[int, CachedBar] = {}
        for gap_start, gap_end in gaps:
            await self._download(symbol_id, code, gap_start, gap_end, now, progress, cache=cache, sink=fresh)
        if cache_end < end:
            await self._download(symbol_id, code, cache_end, end, now, progress, cache=None, sink=fresh)
        progress.finish()
        if progress.total:
            self._log.debug("history {} {}: downloaded {} bar slots in {} missing range(s)",
                            symbol_id, code, progress.total, len(gaps) + (cache_end < end))
        # a long history is thousands of rows and objects: build it off the event loop's thread
        return await asyncio.to_thread(self._read_cached, cache, key, start, cache_end, interval, fresh)

    async def _download(
        self,
        symbol_id: str,
        code: str,
        start: int,
        end: int,
        now: int,
        progress: _Progress,
        *,
        cache: BarCache | None,
        sink: dict[int, CachedBar],
    ) -> None:
        """Fetch ``[start, end)`` page by page; with a ``cache`` each page is stored with its
        coverage before the next request, otherwise it is collected in ``sink``."""
        step = INTERVAL_MS[code]
        cursor = start
        while cursor < end:
            rows = await self._fetch(symbol_id, code, cursor, end - 1, PAGE_LIMIT)
            page: dict[int, CachedBar] = {}
            for row in rows:
                if len(row) < 8:
                    raise ValueError(f"fetch_klines must return raw Binance kline rows, got {row!r}")
                open_time, close_time = int(row[0]), int(row[6])
                if cursor <= open_time < end and close_time < now:
                    page[open_time] = parse_row(row)
            if not rows or (page and len(rows) < PAGE_LIMIT):
                # Binance returned everything it has up to endTime: the rest of the range is done
                next_cursor = end
            elif page:
                next_cursor = max(page) + step
            else:
                # rows, but none in the requested range: a server ignoring startTime/endTime or
                # replaying a page. Stop rather than loop or claim the range is empty.
                self._log.warning(
                    "klines {} {} from {}: {} rows outside the requested range; stopping this download",
                    symbol_id, code, cursor, len(rows),
                )
                return
            if cache is not None:
                bars = [page[t] for t in sorted(page)]
                # on a worker thread: if this task is cancelled meanwhile, the store still completes
                await asyncio.to_thread(cache.store, self.kind.value, symbol_id, code, bars, (cursor, next_cursor))
            else:
                sink.update(page)
            progress.advance((next_cursor - cursor) // step)
            cursor = next_cursor

    def _read_cached(
        self, cache: BarCache, key: tuple[str, str, str], start: int, end: int, interval: Interval,
        fresh: dict[int, CachedBar],
    ) -> list[BarData]:
        """Cached bars of ``[start, end)`` followed by the not-yet-cacheable ones."""
        stored = cache.bars(*key, start, end) if end > start else []
        stored.extend(fresh[t] for t in sorted(fresh) if t >= end)
        return self._to_bars(stored, key[1], interval)

    def _to_bars(self, stored: list[CachedBar], symbol_id: str, interval: Interval) -> list[BarData]:
        exchange = self.kind.exchange
        name = self.adapter_name
        return [
            BarData(
                adapter_name=name,
                symbol=symbol_id,
                exchange=exchange,
                datetime=_EPOCH + timedelta(milliseconds=b.open_time),
                interval=interval,
                volume=b.volume,
                turnover=b.turnover,
                open_interest=0,
                open_price=b.open,
                high_price=b.high,
                low_price=b.low,
                close_price=b.close,
            )
            for b in stored
        ]


class _Progress:
    """Reports bar slots done; never raises into the download (a broken progress bar must
    not lose a page)."""

    def __init__(self, total: int, callback: ProgressCallback | None, log: Any) -> None:
        self.total = total
        self.done = 0
        self._callback = callback
        self._log = log  # the manager's, bound with its adapter name
        self._report()

    def advance(self, slots: int) -> None:
        self.done = min(self.total, self.done + slots)
        self._report()

    def finish(self) -> None:
        if self.done < self.total:  # slots left when a download stopped early
            self.done = self.total
            self._report()

    def _report(self) -> None:
        if self._callback is None:
            return
        try:
            self._callback(self.done, self.total)
        except Exception:  # noqa: BLE001 - a UI callback's bug is not a download failure
            self._log.opt(exception=True).warning("history progress callback failed")
