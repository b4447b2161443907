"""Review of history, settings and secrets: end to end over the simulator where the network
matters. Tests marked xfail(strict=True) reproduce a bug; the others pin a verified behaviour."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import re
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from loguru import logger
from rich.console import Console

from foxtrot_binance import BinanceSpotAdapter, BinanceUsdmAdapter
from foxtrot_binance.bar_cache import namespace_for
from foxtrot_binance.historical_data import HistoricalDataManager
from foxtrot_binance.market_kind import MarketKind
from foxtrot_binance.settings import BinanceSettings, InvalidSettingsError
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks import Exchange, HistoryRequest, Interval
from foxtrot_hooks.testing import RecordingEngine

from spot_support import Harness, connect_setting

UTC = timezone.utc
SIGNED = re.compile(r"signature=[0-9a-fA-F]{16,}")
DAY = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def keyed(tmp_path, clean_binance_env):
    """A spot adapter with keys on the simulator; one attempt per REST call, so one injected
    5xx is a failed call."""
    with BinanceSimulator(seed=2, tick_interval=None) as sim:
        engine = RecordingEngine()
        adapter = BinanceSpotAdapter(engine, "BINANCE")
        h = Harness(sim, engine, adapter)
        adapter.connect(connect_setting(sim, **{"Max Retry Attempts": 1, "history_cache_dir": str(tmp_path / "c")}))
        h.wait_log("Connected to Binance spot")
        try:
            yield h
        finally:
            adapter.close()


@pytest.fixture
def public(tmp_path, clean_binance_env):
    """A keyless spot adapter on the simulator with its cache in tmp_path/cache."""
    with BinanceSimulator(seed=5, tick_interval=None) as sim:
        engine = RecordingEngine()
        adapter = BinanceSpotAdapter(engine, "BINANCE")
        h = Harness(sim, engine, adapter)
        yield h, tmp_path / "cache"
        adapter.close()


def hours(adapter, start: datetime, days: int = 1) -> list:
    return adapter.query_history(HistoryRequest("BTCUSDT", Exchange.BINANCE, start, start + timedelta(days=days), Interval.HOUR))


# -- secrets -------------------------------------------------------------------------------
def test_failed_query_account_never_logs_the_request_signature(keyed, library_logs):
    lines = library_logs("DEBUG", "{message}", diagnose=False)  # loguru appends the traceback to string formats
    failed = threading.Event()
    sink = logger.add(lambda m: failed.set() if "background task failed" in m else None, level="DEBUG", format="{message}")
    try:
        keyed.sim.faults.fail_rest(50, "503")  # every REST call fails with Binance's HTML 503 page
        keyed.adapter.query_account()  # GET /api/v3/account?timestamp=..&signature=..
        assert failed.wait(15), "the failed balance refresh was never logged"
    finally:
        logger.remove(sink)
        keyed.sim.faults.clear()
    logged = "\n".join(lines)
    assert "503" in logged  # the failure itself is reported
    assert not SIGNED.search(logged), SIGNED.search(logged)


def test_check_command_never_prints_the_signature_of_a_failed_account_read(keyed, capsys):
    from foxtrot_binance.cli_check import _account, _Out, permission_rows

    keyed.sim.faults.fail_rest(50, "503")
    try:
        account = _account(keyed.adapter, False, 10)  # exactly what `foxtrot-binance check` calls
    finally:
        keyed.sim.faults.clear()
    _Out(Console(file=io.StringIO(), force_terminal=False)).rows("Connection", permission_rows(account))
    out = capsys.readouterr().out
    assert "permissions could not be read" in out
    assert not SIGNED.search(out), SIGNED.search(out)


# -- settings ------------------------------------------------------------------------------
def test_a_non_utf8_dotenv_fails_connect_naming_the_file_without_the_secret(clean_binance_env):
    secret = "Zq8XvT3pLm9RwK2sNd7Y"
    Path(".env").write_bytes(
        f"# clé de l'API\nFOXTROT_BINANCE_API_KEY=abcdefghijklmnop\nFOXTROT_BINANCE_SECRET={secret}\n".encode("latin-1")
    )
    adapter = BinanceSpotAdapter(RecordingEngine(), "BINANCE")
    try:
        with pytest.raises(InvalidSettingsError) as info:
            adapter.connect({})
    finally:
        adapter.close()
    assert ".env" in str(info.value)
    assert secret not in repr(info.value) and secret not in str(info.value)


def test_sandbox_and_server_resolve_the_same_whatever_the_key_order(clean_binance_env):
    """A ticked Sandbox with another Server is a contradiction: refused in either order,
    naming both keys, rather than settled by whichever key came last."""
    for setting in ({"Server": "demo", "Sandbox": True}, {"Sandbox": True, "Server": "demo"}):
        with pytest.raises(InvalidSettingsError, match='"Sandbox" and "Server" disagree'):
            BinanceSettings.from_setting(setting)
    for setting in ({"Server": "testnet", "Sandbox": True}, {"Sandbox": True, "Server": "testnet"},
                    {"Sandbox": True}):
        assert BinanceSettings.from_setting(setting).server == "testnet"
    assert BinanceSettings.from_setting({"Sandbox": False, "Server": "demo"}).server == "demo"


def test_connect_dialog_retry_merges_with_env_retry_fields(clean_binance_env, monkeypatch):
    """Nested sources deep-merge: the dialog's attempts do not reset the env's delays."""
    monkeypatch.setenv("FOXTROT_BINANCE_RETRY__BASE_DELAY", "2")
    monkeypatch.setenv("FOXTROT_BINANCE_RETRY__MAX_DELAY", "20")
    retry = BinanceSettings.from_setting({"Max Retry Attempts": 5}).retry
    assert (retry.max_attempts, retry.base_delay, retry.max_delay) == (5, 2.0, 20.0)


# -- history cache -------------------------------------------------------------------------
def test_history_still_answers_while_another_process_holds_the_cache_write_lock(public, monkeypatch):
    import foxtrot_binance.bar_cache as bar_cache_module

    monkeypatch.setattr(bar_cache_module, "BUSY_TIMEOUT_S", 0.5)  # sqlite's wait, shortened for the test
    h, cache_dir = public
    h.adapter.connect({"Base URL": h.sim.base_url, "history_cache_dir": str(cache_dir)})
    h.wait_log("Connected to Binance spot")
    assert len(hours(h.adapter, DAY)) == 24  # the cache file exists and is in use
    other = sqlite3.connect(next(cache_dir.glob("*.sqlite3")), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. the CLI or a second adapter writing a long page
    try:
        bars = hours(h.adapter, DAY + timedelta(days=2))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert len(bars) == 24


def test_a_corrupt_cache_file_falls_back_to_downloading_and_says_so(public):
    h, cache_dir = public
    cache_dir.mkdir()
    path = cache_dir / f"{namespace_for('live', h.sim.base_url)}.sqlite3"
    path.write_bytes(b"not a database at all " * 200)
    h.adapter.connect({"Base URL": h.sim.base_url, "history_cache_dir": str(cache_dir)})
    h.wait_log("Connected to Binance spot")
    first = hours(h.adapter, DAY)
    assert len(first) == 24 and [b.datetime for b in first][0] == DAY
    assert any("History cache unavailable" in m and "delete it" in m for m in h.logs())
    assert [b.close_price for b in hours(h.adapter, DAY)] == [b.close_price for b in first]  # downloaded again
    assert path.read_bytes().startswith(b"not a database")  # the trader's file is left alone


def test_spot_and_usdm_adapters_fill_one_cache_dir_concurrently_without_mixing(tmp_path, clean_binance_env):
    cache_dir = str(tmp_path / "shared")
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    start = end - timedelta(days=3)
    with BinanceSimulator(seed=7, tick_interval=None) as sim:
        spot = BinanceSpotAdapter(RecordingEngine(), "BINANCE")
        usdm = BinanceUsdmAdapter(RecordingEngine(), "BINANCE_USDM")
        try:
            for adapter in (spot, usdm):
                adapter.connect({"Base URL": sim.base_url, "history_cache_dir": cache_dir})
            for adapter in (spot, usdm):
                assert adapter.client.ready.wait(15)
            reqs = {
                spot: HistoryRequest("BTCUSDT", Exchange.BINANCE, start, end, Interval.MINUTE),
                usdm: HistoryRequest("BTCUSDT", Exchange.BINANCEUSDM, start, end, Interval.MINUTE),
            }
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                first = dict(zip(reqs, pool.map(lambda a: a.query_history(reqs[a]), reqs)))
            again = {a: a.query_history(reqs[a]) for a in reqs}  # from the cache
        finally:
            spot.close()
            usdm.close()
    for adapter, bars in first.items():
        assert len(bars) == 4320 and bars[0].datetime == start and bars[-1].datetime == end - timedelta(minutes=1)
        assert [(b.datetime, b.close_price, b.exchange) for b in again[adapter]] == [
            (b.datetime, b.close_price, b.exchange) for b in bars
        ]
    assert {b.exchange for b in first[spot]} == {Exchange.BINANCE}
    assert {b.exchange for b in first[usdm]} == {Exchange.BINANCEUSDM}
    assert [b.close_price for b in first[spot]] != [b.close_price for b in first[usdm]]


def test_a_failing_progress_callback_is_logged_under_its_own_adapter(library_logs):
    lines = library_logs("DEBUG", "{extra[adapter]}|{message}")

    async def no_bars(symbol: str, interval: str, start_ms: int, end_ms: int, limit: int) -> list:
        return []

    def broken(done: int, total: int) -> None:
        raise RuntimeError("progress bar bug")

    now = int(datetime(2026, 11, 20, 12, 0, 30, tzinfo=UTC).timestamp() * 1000)
    manager = HistoricalDataManager(MarketKind.USDM, "BINANCE_USDM", no_bars, None, lambda: now)
    req = HistoryRequest("BTCUSDT", Exchange.BINANCEUSDM, datetime(2026, 11, 20, 11, tzinfo=UTC), None, Interval.MINUTE)
    assert asyncio.run(manager.query(req, "BTCUSDT", on_progress=broken)) == []
    failures = [line for line in lines if "progress callback failed" in line]
    assert failures and all(line.startswith("BINANCE_USDM|") for line in failures), failures


def test_history_timeout_keeps_completed_pages_and_the_next_query_resumes(public):
    h, cache_dir = public
    h.adapter.connect({"Base URL": h.sim.base_url, "history_cache_dir": str(cache_dir), "history_timeout": 1.5})
    h.wait_log("Connected to Binance spot")
    client = h.adapter.client
    pages: list[tuple] = []
    original = client._fetch_klines

    async def counting(*args):
        pages.append(args)
        return await original(*args)

    client._fetch_klines = counting  # before the first query builds the history manager
    start = DAY
    req = HistoryRequest("BTCUSDT", Exchange.BINANCE, start, start + timedelta(days=5), Interval.MINUTE)  # 8 pages
    h.sim.faults.delay_rest(0.4)  # every page takes 0.4 s: the download outlives history_timeout
    try:
        with pytest.raises(TimeoutError):
            h.adapter.query_history(req)
    finally:
        h.sim.faults.clear()
    done_before = len(pages)
    assert 1 <= done_before < 8
    pages.clear()
    bars = h.adapter.query_history(req)
    assert len(bars) == 5 * 1440 and bars[0].datetime == start
    assert all(b.datetime - a.datetime == timedelta(minutes=1) for a, b in zip(bars, bars[1:]))
    # only what the timed-out download had not stored is asked for again (the cancelled page included)
    assert pages and pages[0][2] >= int((start + timedelta(minutes=1000 * (done_before - 1))).timestamp() * 1000)
    assert len(pages) <= 8 - (done_before - 1)


def test_a_pem_secret_with_escaped_newlines_connects_or_is_refused_naming_the_field(clean_binance_env):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    escaped = pem.strip().replace("\n", "\\n")  # FOXTROT_BINANCE_SECRET="-----BEGIN PRIVATE KEY-----\nMC4C...\n-----END..."
    with BinanceSimulator(seed=2, tick_interval=None) as sim:
        api_key = sim.register_ed25519_key(public)
        engine = RecordingEngine()
        adapter = BinanceSpotAdapter(engine, "BINANCE")
        h = Harness(sim, engine, adapter)
        try:
            try:
                adapter.connect({"API Key": api_key, "Secret": escaped, "Base URL": sim.base_url})
            except InvalidSettingsError as exc:  # refusing it up front, naming the field, is fine too
                assert "secret" in str(exc) and escaped not in str(exc)
                return
            outcome = h.wait(lambda e: e.type == "eLog" and ("Connected to Binance" in e.data.msg
                                                             or "Connection failed" in e.data.msg)).data.msg
        finally:
            adapter.close()
    assert "Connected to Binance spot" in outcome, outcome


def test_check_settings_table_masks_proxy_credentials(clean_binance_env):
    from foxtrot_binance.cli_check import settings_rows

    settings = BinanceSettings.from_setting({"Proxy Host": "http://trader:Pr0xyPa55word@proxy.example", "Proxy Port": 3128})
    assert settings.proxy_url == "http://trader:Pr0xyPa55word@proxy.example:3128"  # accepted and used as given
    shown = "\n".join(f"{k} {v}" for k, v in settings_rows(settings))
    assert "proxy.example" in shown and "Pr0xyPa55word" not in shown


def test_history_cache_dir_with_a_tilde_lands_in_the_home_directory(public, tmp_path, monkeypatch):
    h, _ = public
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    Path(".env").write_text("FOXTROT_BINANCE_HISTORY_CACHE_DIR=~/binance-bars\n")  # no shell to expand it
    h.adapter.connect({"Base URL": h.sim.base_url})
    h.wait_log("Connected to Binance spot")
    assert len(hours(h.adapter, DAY)) == 24
    assert not Path("~").exists(), "a directory named '~' was created in the working directory"
    assert list((home / "binance-bars").glob("*.sqlite3"))


def test_a_locked_cache_never_stalls_the_adapters_loop(public):
    """sqlite waits up to its timeout for a lock another process holds; that wait happens on
    a worker thread, while the I/O loop (ticks, orders) keeps running."""
    h, cache_dir = public
    h.adapter.connect({"Base URL": h.sim.base_url, "history_cache_dir": str(cache_dir)})
    h.wait_log("Connected to Binance spot")
    assert len(hours(h.adapter, DAY)) == 24  # opens the cache
    cache = h.adapter.client._bar_cache
    storing = threading.Event()
    original = cache.store

    def store(*args, **kwargs):
        storing.set()
        return original(*args, **kwargs)

    cache.store = store
    other = sqlite3.connect(cache.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            query = pool.submit(hours, h.adapter, DAY + timedelta(days=2))
            assert storing.wait(15), "the query never reached the cache"

            async def loop_alive() -> str:
                return "alive"

            assert h.adapter.client.io.submit(loop_alive()).result(timeout=1) == "alive"
            assert not query.done()  # still waiting for the lock
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert len(query.result(timeout=30)) == 24
