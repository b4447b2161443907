from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from foxtrot_binance.bar_cache import (
    SCHEMA_VERSION,
    BarCache,
    BarCacheError,
    CachedBar,
    default_cache_dir,
    namespace_for,
)

KEY = ("spot", "BTCUSDT", "1m")


def bar(t: int, price: float = 100.0) -> CachedBar:
    return CachedBar(t, price, price + 1, price - 1, price, 2.0, 2.0 * price)


@pytest.fixture
def cache(tmp_path: Path):
    c = BarCache(tmp_path / "nested" / "dir")
    yield c
    c.close()


def test_creates_directory_wal_file_and_versioned_schema(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b"
    with BarCache(directory, namespace="testnet") as c:
        assert c.path == directory / "testnet.sqlite3" and c.path.exists()
    db = sqlite3.connect(directory / "testnet.sqlite3")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"bars", "coverage"} <= tables
    finally:
        db.close()


def test_store_and_read_bars_in_order_within_half_open_range(cache: BarCache) -> None:
    cache.store(*KEY, [bar(180_000), bar(0), bar(60_000), bar(120_000)], None)
    assert [b.open_time for b in cache.bars(*KEY, 60_000, 180_000)] == [60_000, 120_000]
    # replacing a bar keeps one row per open time
    cache.store(*KEY, [bar(60_000, 7.0)], None)
    got = cache.bars(*KEY, 0, 240_000)
    assert [b.open_time for b in got] == [0, 60_000, 120_000, 180_000]
    assert got[1] == bar(60_000, 7.0)


def test_keys_do_not_mix_kind_symbol_or_interval(cache: BarCache) -> None:
    cache.store("spot", "BTCUSDT", "1m", [bar(0, 1.0)], (0, 60_000))
    cache.store("usdm", "BTCUSDT", "1m", [bar(0, 2.0)], (0, 60_000))
    cache.store("spot", "BTCUSDT", "1h", [bar(0, 3.0)], None)
    assert cache.bars("spot", "BTCUSDT", "1m", 0, 60_000)[0].open == 1.0
    assert cache.bars("usdm", "BTCUSDT", "1m", 0, 60_000)[0].open == 2.0
    assert cache.missing("spot", "ETHUSDT", "1m", 0, 60_000) == [(0, 60_000)]
    assert cache.missing("spot", "BTCUSDT", "1h", 0, 60_000) == [(0, 60_000)]


def test_coverage_merges_overlapping_and_adjacent_ranges(cache: BarCache) -> None:
    cache.store(*KEY, [], (100, 200))
    cache.store(*KEY, [], (300, 400))
    assert cache.coverage(*KEY, 0, 1000) == [(100, 200), (300, 400)]
    cache.store(*KEY, [], (200, 300))  # touches both: one range
    assert cache.coverage(*KEY, 0, 1000) == [(100, 400)]
    cache.store(*KEY, [], (50, 120))
    cache.store(*KEY, [], (390, 500))
    cache.store(*KEY, [], (150, 160))  # inside: nothing changes
    assert cache.coverage(*KEY, 0, 1000) == [(50, 500)]


def test_missing_is_the_complement_of_coverage(cache: BarCache) -> None:
    cache.store(*KEY, [], (100, 200))
    cache.store(*KEY, [], (300, 400))
    assert cache.missing(*KEY, 0, 500) == [(0, 100), (200, 300), (400, 500)]
    assert cache.missing(*KEY, 150, 350) == [(200, 300)]
    assert cache.missing(*KEY, 100, 200) == []
    assert cache.missing(*KEY, 120, 180) == []
    assert cache.missing(*KEY, 500, 600) == [(500, 600)]


def test_a_failed_store_changes_nothing(cache: BarCache) -> None:
    broken = [bar(0), CachedBar(60_000, None, 1, 1, 1, 1, 1)]  # type: ignore[arg-type]  # NOT NULL
    with pytest.raises(sqlite3.IntegrityError):
        cache.store(*KEY, broken, (0, 120_000))
    assert cache.bars(*KEY, 0, 120_000) == []
    assert cache.missing(*KEY, 0, 120_000) == [(0, 120_000)]


def test_survives_reopen(tmp_path: Path) -> None:
    with BarCache(tmp_path) as c:
        c.store(*KEY, [bar(0), bar(60_000)], (0, 120_000))
    with BarCache(tmp_path) as c:
        assert [b.open_time for b in c.bars(*KEY, 0, 120_000)] == [0, 60_000]
        assert c.missing(*KEY, 0, 120_000) == []


def test_namespaces_are_separate_files(tmp_path: Path) -> None:
    with BarCache(tmp_path, "live") as live, BarCache(tmp_path, "testnet") as testnet:
        testnet.store(*KEY, [bar(0)], (0, 60_000))
        assert live.bars(*KEY, 0, 60_000) == [] and live.missing(*KEY, 0, 60_000) == [(0, 60_000)]


def test_clear(cache: BarCache) -> None:
    cache.store("spot", "BTCUSDT", "1m", [bar(0)], (0, 60_000))
    cache.store("spot", "ETHUSDT", "1m", [bar(0)], (0, 60_000))
    cache.clear(symbol="BTCUSDT")
    assert cache.bars("spot", "BTCUSDT", "1m", 0, 60_000) == []
    assert cache.missing("spot", "BTCUSDT", "1m", 0, 60_000) == [(0, 60_000)]
    assert len(cache.bars("spot", "ETHUSDT", "1m", 0, 60_000)) == 1
    cache.clear()
    assert cache.bars("spot", "ETHUSDT", "1m", 0, 60_000) == []


def test_concurrent_writers_and_readers_from_threads(cache: BarCache) -> None:
    errors: list[BaseException] = []

    def writer(symbol: str) -> None:
        try:
            for page in range(20):
                start = page * 10 * 60_000
                bars = [bar(start + i * 60_000) for i in range(10)]
                cache.store("spot", symbol, "1m", bars, (start, start + 600_000))
                cache.bars("spot", symbol, "1m", 0, start + 600_000)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"S{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(4):
        assert len(cache.bars("spot", f"S{i}", "1m", 0, 12_000_000)) == 200
        assert cache.coverage("spot", f"S{i}", "1m", 0, 12_000_000) == [(0, 12_000_000)]


def test_file_from_a_newer_release_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "live.sqlite3")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(BarCacheError, match="newer foxtrot-binance"):
        BarCache(tmp_path)


def test_garbage_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "live.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(BarCacheError, match="unusable"):
        BarCache(tmp_path)


def test_close_is_idempotent_and_use_after_close_is_an_error(tmp_path: Path) -> None:
    c = BarCache(tmp_path)
    c.close()
    c.close()
    with pytest.raises(BarCacheError, match="closed"):
        c.bars(*KEY, 0, 1)


def test_invalid_namespace_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        BarCache(tmp_path, namespace="../escape")


def test_default_cache_dir_honours_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "foxtrot-binance"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "foxtrot-binance"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the XDG spec says ignore it
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "foxtrot-binance"


def test_namespace_for_servers_and_urls() -> None:
    assert namespace_for("live") == "live" and namespace_for("testnet") == "testnet"
    a = namespace_for("live", "http://127.0.0.1:8080")
    assert a.startswith("url-") and a == namespace_for("testnet", "http://127.0.0.1:8080/")
    assert a != namespace_for("live", "http://127.0.0.1:8081")


def test_two_instances_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    """The spot and USD-M adapters (or the CLI) may each open the same namespace."""
    with BarCache(tmp_path) as a, BarCache(tmp_path) as b:
        a.store("spot", "BTCUSDT", "1m", [bar(0)], (0, 60_000))
        b.store("usdm", "BTCUSDT", "1m", [bar(0)], (0, 60_000))
        b.store("spot", "BTCUSDT", "1m", [bar(60_000)], (60_000, 120_000))
        assert [x.open_time for x in a.bars("spot", "BTCUSDT", "1m", 0, 120_000)] == [0, 60_000]
        assert a.coverage("spot", "BTCUSDT", "1m", 0, 120_000) == [(0, 120_000)]
        assert len(a.bars("usdm", "BTCUSDT", "1m", 0, 60_000)) == 1
