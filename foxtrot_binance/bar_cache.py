"""A local sqlite3 store of closed klines, so a repeated or overlapping history query only
downloads what it has never seen.

Two tables per file:

* ``bars``: one row per (kind, symbol, interval, open_time). Only closed bars are stored; a
  closed bar never changes at Binance, so a stored row is final.
* ``coverage``: half-open ``[start, end)`` ranges of open times that were downloaded
  completely, per (kind, symbol, interval). A range is covered whether it produced bars or
  not, which is how bars Binance never had (before listing, trading halts) are remembered
  and not asked for again. Ranges are kept merged: no two rows of one key overlap or touch.

Binance's live, testnet and demo servers (and the simulator) have different candles, so each
gets its own file (the ``namespace``): a cache filled from a test server must never answer a
query against the real one.

One connection is shared by all threads behind a lock: the coordinator writes from its I/O
thread while a test or a CLI may read from another, and sqlite's own cross-thread rules are
stricter than ours need to be. WAL lets another process (a second adapter, the CLI) read
while this one writes. Every write is a single transaction, so a download cancelled between
pages leaves complete pages and their coverage, never a page without its coverage.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

SCHEMA_VERSION = 1
"""Stored in ``PRAGMA user_version``. A later release that changes the tables bumps it and
migrates from the versions it knows; a file from a newer release is refused, not guessed at."""

_NAMESPACE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bars (
    kind      TEXT    NOT NULL,
    symbol    TEXT    NOT NULL,
    interval  TEXT    NOT NULL,
    open_time INTEGER NOT NULL,
    open      REAL    NOT NULL,
    high      REAL    NOT NULL,
    low       REAL    NOT NULL,
    close     REAL    NOT NULL,
    volume    REAL    NOT NULL,
    turnover  REAL    NOT NULL,
    PRIMARY KEY (kind, symbol, interval, open_time)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS coverage (
    kind      TEXT    NOT NULL,
    symbol    TEXT    NOT NULL,
    interval  TEXT    NOT NULL,
    start     INTEGER NOT NULL,
    "end"     INTEGER NOT NULL,
    PRIMARY KEY (kind, symbol, interval, start)
) WITHOUT ROWID;
"""


BUSY_TIMEOUT_S = 10.0
"""How long sqlite waits for a lock another process or adapter holds on the cache file."""


class BarCacheError(RuntimeError):
    """The cache file cannot be used (unreadable, or written by a newer release)."""


class CachedBar(NamedTuple):
    """One stored candle; times in ms since the epoch (UTC). A tuple: a cached year of
    minutes is half a million of them, built straight from sqlite rows."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    turnover: float


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/foxtrot-binance``, else ``~/.cache/foxtrot-binance`` (on every OS:
    one predictable place a trader can find and delete; the setting overrides it)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "foxtrot-binance"


def namespace_for(server: str, base_url: str | None = None) -> str:
    """The cache namespace of one Binance server: its name (``live``, ``testnet``, ``demo``),
    or for a ``base_url`` (simulator, proxy) a stable digest of the URL, so candles from one
    source are never served as another's."""
    if base_url:
        digest = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:16]
        return f"url-{digest}"
    if not _NAMESPACE.match(server):
        raise ValueError(f"invalid server name for a cache namespace: {server!r}")
    return server


class BarCache:
    """Closed bars and download coverage in ``directory/<namespace>.sqlite3``."""

    def __init__(self, directory: Path, namespace: str = "live") -> None:
        if not _NAMESPACE.match(namespace):
            raise ValueError(f"invalid cache namespace {namespace!r}: use letters, digits, '_', '.', '-'")
        self.path = Path(directory) / f"{namespace}.sqlite3"
        self._lock = threading.Lock()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise BarCacheError(f"cannot open the history cache {self.path}: {exc}") from exc
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise BarCacheError(
                f"the history cache {self.path} is unusable ({exc}); delete it or choose another directory"
            ) from exc
        except BarCacheError:
            self._db.close()
            raise

    def _prepare(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise BarCacheError(
                    f"the history cache {self.path} was written by a newer foxtrot-binance "
                    f"(schema {version} > {SCHEMA_VERSION}); delete it or choose another directory"
                )
            if version < SCHEMA_VERSION:
                for statement in _SCHEMA.split(";"):  # not executescript(): it would commit first
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    # -- reads ----------------------------------------------------------------------------
    def bars(self, kind: str, symbol: str, interval: str, start: int, end: int) -> list[CachedBar]:
        """Stored bars with ``start <= open_time < end``, oldest first."""
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                "SELECT open_time, open, high, low, close, volume, turnover FROM bars "
                "WHERE kind=? AND symbol=? AND interval=? AND open_time>=? AND open_time<? ORDER BY open_time",
                (kind, symbol, interval, start, end),
            ).fetchall()
        return list(map(CachedBar._make, rows))

    def coverage(self, kind: str, symbol: str, interval: str, start: int, end: int) -> list[tuple[int, int]]:
        """Covered ranges that overlap ``[start, end)``, oldest first (not clipped)."""
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                'SELECT start, "end" FROM coverage WHERE kind=? AND symbol=? AND interval=? '
                'AND start<? AND "end">? ORDER BY start',
                (kind, symbol, interval, end, start),
            ).fetchall()
        return [(int(a), int(b)) for a, b in rows]

    def missing(self, kind: str, symbol: str, interval: str, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of ``[start, end)`` no covered range contains, oldest first."""
        gaps: list[tuple[int, int]] = []
        cursor = start
        for a, b in self.coverage(kind, symbol, interval, start, end):
            if a > cursor:
                gaps.append((cursor, min(a, end)))
            cursor = max(cursor, b)
            if cursor >= end:
                break
        if cursor < end:
            gaps.append((cursor, end))
        return gaps

    # -- writes ---------------------------------------------------------------------------
    def store(
        self,
        kind: str,
        symbol: str,
        interval: str,
        bars: Iterable[CachedBar],
        covered: tuple[int, int] | None,
    ) -> None:
        """Store ``bars`` and mark ``covered`` (``[start, end)``) as complete, atomically.

        The caller vouches that every bar Binance has in ``covered`` is in ``bars`` (or was
        stored before) and that each bar is closed.
        """
        rows = [
            (kind, symbol, interval, b.open_time, b.open, b.high, b.low, b.close, b.volume, b.turnover) for b in bars
        ]
        with self._lock:
            self._check_open()
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                if rows:
                    db.executemany("INSERT OR REPLACE INTO bars VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
                if covered is not None and covered[0] < covered[1]:
                    self._add_coverage(kind, symbol, interval, *covered)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _add_coverage(self, kind: str, symbol: str, interval: str, start: int, end: int) -> None:
        """Merge ``[start, end)`` with every range it overlaps or touches (inside a transaction)."""
        db = self._db
        key = (kind, symbol, interval)
        touching: Sequence[tuple[int, int]] = db.execute(
            'SELECT start, "end" FROM coverage WHERE kind=? AND symbol=? AND interval=? AND start<=? AND "end">=?',
            (*key, end, start),
        ).fetchall()
        if touching:
            start = min(start, *(a for a, _ in touching))
            end = max(end, *(b for _, b in touching))
            db.executemany(
                "DELETE FROM coverage WHERE kind=? AND symbol=? AND interval=? AND start=?",
                [(*key, a) for a, _ in touching],
            )
        db.execute("INSERT INTO coverage VALUES (?,?,?,?,?)", (*key, start, end))

    def clear(self, kind: str | None = None, symbol: str | None = None, interval: str | None = None) -> None:
        """Forget stored bars and coverage (all, or those matching the given key parts)."""
        clauses, params = [], []
        for column, value in (("kind", kind), ("symbol", symbol), ("interval", interval)):
            if value is not None:
                clauses.append(f"{column}=?")
                params.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._lock:
            self._check_open()
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM bars" + where, params)
                db.execute("DELETE FROM coverage" + where, params)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    # -- lifecycle ------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise BarCacheError(f"the history cache {self.path} is closed")

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> BarCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
