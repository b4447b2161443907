"""History download rate from the embedded simulator, and the time of the same query once cached.

Run:  python bench/history_download.py [--days 7] [--runs 5] [--kind spot|usdm]

Each run uses a fresh cache directory and a real ccxt async client pointed at the simulator
(127.0.0.1), with a ``fetch_klines`` built on ``publicGetKlines`` / ``fapiPublicGetKlines``
as the coordinator does (minus its weight gate and retries). It times the cold query (every
page fetched, parsed and stored), then the identical query again (no request: sqlite read
and BarData construction only). Prints every run and the medians. Figures include the
simulator generating its deterministic candles in the same process, so the cold rate is a
lower bound for the adapter's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import ccxt.async_support as ccxt_async

from foxtrot_binance.bar_cache import BarCache
from foxtrot_binance.endpoints import point_ccxt_at
from foxtrot_binance.historical_data import HistoricalDataManager
from foxtrot_binance.market_kind import MarketKind
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks import HistoryRequest, Interval


async def one_run(base_url: str, kind: MarketKind, days: int, cache_dir: Path) -> tuple[int, float, float, int]:
    exchange = ccxt_async.binance({
        "enableRateLimit": False,
        "options": {"fetchMarkets": {"types": ["spot", "linear"]}, "fetchCurrencies": False, "fetchMargins": False},
    })
    point_ccxt_at(exchange, base_url)
    requests = 0
    get_klines = exchange.publicGetKlines if kind is MarketKind.SPOT else exchange.fapiPublicGetKlines

    async def fetch_klines(symbol_id: str, interval: str, start_ms: int, end_ms: int, limit: int) -> list[list]:
        nonlocal requests
        requests += 1
        return await get_klines(
            {"symbol": symbol_id, "interval": interval, "startTime": start_ms, "endTime": end_ms, "limit": limit})

    try:
        now = int((await exchange.publicGetTime())["serverTime"])
        end = datetime.fromtimestamp(now // 86_400_000 * 86_400, tz=timezone.utc) - timedelta(days=1)
        req = HistoryRequest("BTCUSDT", kind.exchange, end - timedelta(days=days), end, Interval.MINUTE)
        with BarCache(cache_dir) as cache:
            manager = HistoricalDataManager(kind, "BENCH", fetch_klines, cache, lambda: now)
            t0 = time.perf_counter()
            cold = await manager.query(req, "BTCUSDT")
            t1 = time.perf_counter()
            warm = await manager.query(req, "BTCUSDT")
            t2 = time.perf_counter()
        assert len(cold) == len(warm) == days * 1440, (len(cold), len(warm))
        return len(cold), t1 - t0, t2 - t1, requests
    finally:
        await exchange.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kind", choices=["spot", "usdm"], default="spot")
    args = parser.parse_args()
    kind = MarketKind(args.kind)
    rates, warm_times = [], []
    with BinanceSimulator(weight_limit=10**9) as sim, tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            bars, cold, warm, requests = asyncio.run(one_run(sim.base_url, kind, args.days, Path(tmp) / f"run{run}"))
            rates.append(bars / cold)
            warm_times.append(warm)
            print(f"run {run + 1}: {bars} bars in {requests} requests, cold {cold:.3f} s "
                  f"({bars / cold:,.0f} bars/s), cached {warm * 1000:.1f} ms")
    print(f"median: download {statistics.median(rates):,.0f} bars/s, "
          f"cache-hit query {statistics.median(warm_times) * 1000:.1f} ms for {args.days * 1440} bars ({args.kind}, 1m)")


if __name__ == "__main__":
    main()
