"""``foxtrot-binance history``: the adapter's paginated download to CSV, then the cache."""

from __future__ import annotations

import csv
from itertools import pairwise
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cli_support import Cli
from foxtrot_binance.simulator import BinanceSimulator

BARS = 1500  # two pages of 1000


def minutes_ago(days: int) -> tuple[datetime, datetime]:
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    return end - timedelta(minutes=BARS), end


def history(cli: Cli, sim: BinanceSimulator, start: datetime, end: datetime, out: Path, cache: Path):
    return cli.run("history", "BTC/USDT", "--interval", "1m", "--start", start.strftime("%Y-%m-%dT%H:%M"),
                   "--end", end.isoformat(), "--out", str(out), "--base-url", sim.base_url,
                   env={"FOXTROT_BINANCE_HISTORY_CACHE_DIR": str(cache)})


def test_two_pages_to_csv_then_the_same_range_from_the_cache(cli: Cli, sim: BinanceSimulator, tmp_path: Path):
    start, end = minutes_ago(days=2)
    cache = tmp_path / "bars"
    first = history(cli, sim, start, end, tmp_path / "out" / "btc.csv", cache)
    assert first.returncode == 0, first.stderr
    assert f"history  wrote {BARS} rows to {tmp_path / 'out' / 'btc.csv'}" in first.stdout
    assert f"bars {start:%Y-%m-%d %H:%M} to {end - timedelta(minutes=1):%Y-%m-%d %H:%M} UTC" in first.stdout
    assert f"downloaded {BARS} bars from Binance, 0 from the local cache {cache}" in first.stdout
    assert "progress 1000/1500 bars" in first.stdout and "progress 1500/1500 bars" in first.stdout

    with (tmp_path / "out" / "btc.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == BARS
    times = [datetime.fromisoformat(r["datetime"]) for r in rows]
    assert times[0] == start and all(b - a == timedelta(minutes=1) for a, b in pairwise(times))
    assert {(r["symbol"], r["exchange"], r["interval"]) for r in rows} == {("BTCUSDT", "BINANCE", "1m")}
    assert all(float(r["low"]) <= float(r["close"]) <= float(r["high"]) and float(r["turnover"]) > 0 for r in rows)

    again = history(cli, sim, start, end, tmp_path / "again.csv", cache)
    assert again.returncode == 0, again.stderr
    assert f"downloaded 0 bars from Binance, {BARS} from the local cache" in again.stdout
    assert (tmp_path / "again.csv").read_text() == (tmp_path / "out" / "btc.csv").read_text()


def test_usdm_hourly_bars(cli: Cli, sim: BinanceSimulator, tmp_path: Path):
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    start = end - timedelta(hours=48)
    result = cli.run("history", "ETHUSDT", "--usdm", "--interval", "1h", "--start", start.isoformat(),
                     "--end", end.isoformat(), "--out", str(tmp_path / "eth.csv"), "--base-url", sim.base_url,
                     env={"FOXTROT_BINANCE_HISTORY_CACHE_DIR": str(tmp_path / "bars")})
    assert result.returncode == 0, result.stderr
    with (tmp_path / "eth.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 48 and {(r["symbol"], r["exchange"], r["interval"]) for r in rows} == {("ETHUSDT", "BINANCEUSDM", "1h")}


def test_bad_requests_exit_non_zero_with_one_line(cli: Cli, sim: BinanceSimulator, tmp_path: Path):
    unknown = cli.run("history", "NOPEUSDT", "--start", "2026-01-01", "--out", str(tmp_path / "x.csv"),
                      "--base-url", sim.base_url, env={"FOXTROT_BINANCE_HISTORY_CACHE_DIR": str(tmp_path)})
    assert unknown.returncode == 1 and unknown.stderr.strip() == "error: unknown symbol NOPEUSDT for BINANCE"
    bad_date = cli.run("history", "BTCUSDT", "--start", "last tuesday", "--out", str(tmp_path / "x.csv"))
    assert bad_date.returncode == 2 and "--start 'last tuesday' is not a date" in bad_date.stderr
    assert not (tmp_path / "x.csv").exists()


def test_parquet_without_pyarrow_says_so_before_downloading(cli: Cli, tmp_path: Path):
    """pyarrow is optional (the ``parquet`` extra): hidden here by a package that fails to
    import, placed first on the command's path, whether or not the real one is installed."""
    shim = tmp_path / "no-pyarrow" / "pyarrow"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('pyarrow hidden by the test')\n")
    result = cli.run("history", "BTCUSDT", "--start", "2026-01-01", "--out", str(tmp_path / "x.parquet"),
                     env={"PYTHONPATH": str(shim.parent)})
    assert result.returncode == 2 and "writing Parquet needs pyarrow" in result.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_parquet_with_pyarrow(cli: Cli, sim: BinanceSimulator, tmp_path: Path):
    import pyarrow.parquet as pq

    start, end = minutes_ago(days=3)
    result = history(cli, sim, start, end, tmp_path / "btc.parquet", tmp_path / "bars")
    assert result.returncode == 0, result.stderr
    table = pq.read_table(tmp_path / "btc.parquet")
    assert table.num_rows == BARS and table.column_names[:2] == ["datetime", "symbol"]
