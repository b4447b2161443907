"""``foxtrot-binance history``: closed bars to a file, through the adapter and its cache.

The download is the adapter's own (``HistoricalDataManager`` on the adapter's I/O loop, with
its weight gate, retries and sqlite cache), so a file written here holds exactly the bars a
strategy would get from ``query_history``, and a second run of an overlapping range costs
no request. The adapter's public ``query_history`` takes no progress callback, so the
command calls the coordinator's history manager directly to drive a progress bar, and falls
back to ``query_history`` (no bar) for an adapter without one.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from foxtrot_hooks import BarData, HistoryRequest, Interval

from foxtrot_binance.bar_cache import default_cache_dir
from foxtrot_binance.cli_session import CliError, OpenAdapter, Session, connect_setting, find_adapter, require_connected
from foxtrot_binance.settings import BinanceSettings

CONNECT_TIMEOUT_S = 30.0
INTERVALS = {"1m": Interval.MINUTE, "1h": Interval.HOUR, "1d": Interval.DAILY, "1w": Interval.WEEKLY}
COLUMNS = ("datetime", "symbol", "exchange", "interval", "open", "high", "low", "close", "volume", "turnover")

Progressed = Callable[[int, int], None]


@dataclass
class HistoryOptions:
    symbol: str
    interval: str
    start: str
    out: str
    end: str | None = None
    usdm: bool = False
    base_url: str | None = None
    server: str | None = None
    plain: bool = False


def run_history(options: HistoryOptions, console: Console) -> int:
    start = parse_when(options.start, "--start")
    end = parse_when(options.end, "--end") if options.end else None
    if end is not None and end <= start:
        raise CliError(f"--end {options.end} is not after --start {options.start}", exit_code=2)
    out = Path(options.out)
    writer = _writer_for(out)  # before downloading: a missing pyarrow must not cost a download
    _check_writable(out)  # nor an output path that cannot be written
    info = find_adapter(options.usdm)
    setting = connect_setting(options.base_url, options.server)
    settings = BinanceSettings.from_setting(setting)

    with Session() as session:
        opened = session.open(info, setting)
        require_connected(session, opened, CONNECT_TIMEOUT_S, settings.base_url, settings.server)
        req = HistoryRequest(options.symbol, opened.exchange, start, end, INTERVALS[options.interval])
        with _ProgressView(console, plain=options.plain or not console.is_terminal, label=options.symbol) as view:
            bars = _download(opened, req, settings.history_timeout, view.update)
        downloaded = view.total

    rows = writer(out, bars)
    if not bars:
        print(f"history  no closed {options.interval} bars of {options.symbol} in that range; wrote the header to {out}",
              flush=True)
        return 0
    first, last = bars[0].datetime, bars[-1].datetime
    from_binance = min(downloaded or 0, rows)
    print(f"history  wrote {rows} rows to {out}", flush=True)
    print(f"history  bars {_fmt(first)} to {_fmt(last)} UTC (open times, {options.interval})", flush=True)
    if settings.history_cache:
        cache = settings.history_cache_dir or default_cache_dir()
        print(f"history  downloaded {from_binance} bars from Binance, {rows - from_binance} from the local cache {cache}",
              flush=True)
    else:
        print(f"history  downloaded {from_binance} bars from Binance (cache disabled: FOXTROT_BINANCE_HISTORY_CACHE=false)",
              flush=True)
    return 0


def parse_when(text: str, flag: str) -> datetime:
    """``2026-01-31``, ``2026-01-31T12:00``, ``2026-01-31 12:00:00``, with an optional offset;
    without one it is UTC, as on the foxtrot platform."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{flag} {text!r} is not a date: use 2026-01-31 or 2026-01-31T12:00 (UTC)", exit_code=2) from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _download(opened: OpenAdapter, req: HistoryRequest, timeout: float, on_progress: Progressed) -> list[BarData]:
    adapter: Any = opened.adapter
    client = getattr(adapter, "client", None)
    try:
        if client is None:
            return list(adapter.query_history(req))
        if client.contracts.resolve(req.symbol) is None:
            raise CliError(f"unknown symbol {req.symbol} for {opened.name}")
        return list(client.query_history(req, on_progress=on_progress))
    except CliError:
        raise
    except TimeoutError:
        raise CliError(f"the download took longer than history_timeout ({timeout:g} s); every completed page is "
                       f"cached, so run the command again to resume (or raise FOXTROT_BINANCE_HISTORY_TIMEOUT)") from None
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from None
    except Exception as exc:  # noqa: BLE001 - ccxt and network errors: say it in one line
        raise CliError(f"history download failed: {type(exc).__name__}: {exc}") from None


class _ProgressView:
    """A rich progress bar on a terminal, a line per page elsewhere. Called from the
    adapter's I/O thread; rich's Progress is thread-safe, print is line-atomic."""

    def __init__(self, console: Console, *, plain: bool, label: str) -> None:
        self.plain = plain
        self.total: int | None = None
        self._label = label
        self._progress = None if plain else Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, transient=False,
        )
        self._task: Any = None
        self._last_done = -1

    def __enter__(self) -> _ProgressView:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task(f"{self._label} bars", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, done: int, total: int) -> None:
        if self.total is None:
            self.total = total
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=max(total, 1))
            return
        if done != self._last_done and total:
            self._last_done = done
            print(f"progress {done}/{total} bars", flush=True)


# -- writers ------------------------------------------------------------------------------
Writer = Callable[[Path, Sequence[BarData]], int]


def _writer_for(out: Path) -> Writer:
    if out.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise CliError("writing Parquet needs pyarrow (pip install pyarrow), or give --out a .csv name",
                           exit_code=2) from None
        return write_parquet
    return write_csv


def _record(bar: BarData) -> tuple[Any, ...]:
    return (bar.datetime.isoformat(), bar.symbol, bar.exchange.value, bar.interval.value if bar.interval else "",
            bar.open_price, bar.high_price, bar.low_price, bar.close_price, bar.volume, bar.turnover)


def write_csv(out: Path, bars: Sequence[BarData]) -> int:
    """Write atomically (a temporary file renamed into place): an interrupted run never
    leaves a half file that looks complete."""

    def fill(handle: Any) -> None:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(_record(bar) for bar in bars)

    _atomic(out, fill, text=True)
    return len(bars)


def write_parquet(out: Path, bars: Sequence[BarData]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(zip(*(_record(b) for b in bars))) if bars else [()] * len(COLUMNS)
    table = pa.table({
        "datetime": pa.array([b.datetime for b in bars], type=pa.timestamp("ms", tz="UTC")),
        **{name: list(values) for name, values in zip(COLUMNS[1:], columns[1:])},
    })
    _atomic(out, lambda handle: pq.write_table(table, handle), text=False)
    return len(bars)


def _check_writable(out: Path) -> None:
    """Before anything is downloaded: the file can be created where --out says."""
    if out.is_dir():
        raise CliError(f"cannot write {out}: it is a directory; give a file name such as {out / 'bars.csv'}")
    fd, probe = _temp_beside(out)
    os.close(fd)
    Path(probe).unlink(missing_ok=True)


def _temp_beside(out: Path) -> tuple[int, str]:
    """A new hidden file in ``out``'s directory (created if needed), or one error line."""
    directory = out.parent if str(out.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{out.name}.", dir=directory)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None


def _atomic(out: Path, fill: Callable[[Any], None], *, text: bool) -> None:
    fd, tmp = _temp_beside(out)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") if text else os.fdopen(fd, "wb") as handle:
            fill(handle)
        os.replace(tmp, out)
    except OSError as exc:  # a full disk, a directory created meanwhile ...
        Path(tmp).unlink(missing_ok=True)
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fmt(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")
