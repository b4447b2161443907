"""Review of the ``foxtrot-binance`` command: bugs a user hits (xfail, strict) and subtle
behaviours verified by hand and pinned here. Every test runs the real command in a
subprocess against the simulator (or nothing at all)."""

from __future__ import annotations

import signal
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cli_support import Cli, read_until, stop
from foxtrot_binance.simulator import BinanceSimulator


def assert_one_error_line(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: "), result.stderr


def recent_minutes(minutes: int) -> tuple[str, str]:
    end = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(hours=1)
    return (end - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M"), end.strftime("%Y-%m-%dT%H:%M")


# -- simulator ----------------------------------------------------------------------------
def test_simulator_with_a_port_out_of_range_says_so(cli: Cli):
    result = cli.run("simulator", "--port", "99999")
    assert result.returncode == 2 and "Traceback" not in result.stderr  # a usage error, as argparse reports it
    assert "argument --port: must be a port number from 0 to 65535" in result.stderr.strip().splitlines()[-1]


def test_simulator_with_a_malformed_base_url_port_says_so(cli: Cli):
    result = cli.run("simulator", "--base-url", "http://127.0.0.1:abc")
    assert result.returncode == 2
    assert_one_error_line(result)


def test_simulator_on_a_port_in_use_is_one_error_line(cli: Cli, sim: BinanceSimulator):
    port = sim.base_url.rsplit(":", 1)[1]
    result = cli.run("simulator", "--port", port)
    assert result.returncode == 1
    assert_one_error_line(result)
    assert "address already in use" in result.stderr


# -- history ------------------------------------------------------------------------------
def test_history_out_naming_a_directory_is_one_error_line(cli: Cli, sim: BinanceSimulator, tmp_path: Path):
    start, end = recent_minutes(3)
    target = tmp_path / "a-directory"
    target.mkdir()
    result = cli.run("history", "BTCUSDT", "--start", start, "--end", end, "--out", str(target),
                     "--base-url", sim.base_url)
    assert result.returncode == 1
    assert_one_error_line(result)
    assert target.is_dir()


def test_history_out_in_an_unwritable_place_is_one_error_line(cli: Cli, sim: BinanceSimulator):
    # verified: clear and exit 1, but only after the download (the path is not probed first)
    start, end = recent_minutes(3)
    result = cli.run("history", "BTCUSDT", "--start", start, "--end", end, "--out", "/proc/no/such.csv",
                     "--base-url", sim.base_url)
    assert result.returncode == 1
    assert_one_error_line(result)
    assert "cannot write /proc/no/such.csv" in result.stderr


def test_history_without_a_cache_does_not_claim_bars_from_it(cli: Cli, sim: BinanceSimulator, tmp_path: Path):
    start, end = recent_minutes(3)
    result = cli.run("history", "BTCUSDT", "--start", start, "--end", end, "--out", str(tmp_path / "b.csv"),
                     "--base-url", sim.base_url, env={"FOXTROT_BINANCE_HISTORY_CACHE": "false"})
    assert result.returncode == 0, result.stderr
    assert "downloaded 3 bars from Binance" in result.stdout
    assert "from the no cache" not in result.stdout


def test_ctrl_c_mid_download_exits_130_at_once_and_writes_no_file(cli: Cli, sim: BinanceSimulator, tmp_path: Path):
    out = tmp_path / "big.csv"
    start = (datetime.now(timezone.utc) - timedelta(days=200)).strftime("%Y-%m-%d")
    proc = cli.start("history", "ETHUSDT", "--start", start, "--out", str(out), "--base-url", sim.base_url)
    try:
        read_until(proc, "progress 1000/")
        proc.send_signal(signal.SIGINT)
        _, err = stop(proc, timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".big.csv.*"))


# -- check --------------------------------------------------------------------------------
def test_check_never_prints_a_password_in_the_base_url(cli: Cli, sim: BinanceSimulator):
    url = sim.base_url.replace("http://", "http://trader:hunter2pass@")
    result = cli.run("check", "--base-url", url)
    assert result.returncode == 0, result.stderr
    assert "connected to" in result.stdout
    assert "hunter2pass" not in result.stdout + result.stderr


def test_check_vv_logs_never_show_the_key_or_the_secret(cli: Cli, sim: BinanceSimulator):
    env = {"FOXTROT_BINANCE_API_KEY": sim.api_key, "FOXTROT_BINANCE_SECRET": sim.api_secret}
    result = cli.run("check", "-vv", "--base-url", sim.base_url, env=env)
    assert result.returncode == 0, result.stderr
    assert "User data stream connected" in result.stderr  # the library's log really was on (signed calls made)
    for secret in (sim.api_key, sim.api_secret):
        assert secret not in result.stdout + result.stderr


def test_check_with_only_a_secret_is_a_usage_error(cli: Cli, sim: BinanceSimulator):
    result = cli.run("check", "--base-url", sim.base_url, env={"FOXTROT_BINANCE_SECRET": sim.api_secret})
    assert result.returncode == 2
    assert_one_error_line(result)
    assert "api_key is required when secret is set" in result.stderr
    assert sim.api_secret not in result.stdout + result.stderr


# -- ticks / numeric options --------------------------------------------------------------
def test_a_duration_that_is_not_a_number_is_a_usage_error(cli: Cli, sim: BinanceSimulator):
    result = cli.run("ticks", "BTCUSDT", "--duration", "nan", "--base-url", sim.base_url)
    assert result.returncode == 2, result.stdout


# -- demo ---------------------------------------------------------------------------------
def test_demo_accepts_the_symbol_spellings_ticks_accepts(cli: Cli):
    result = cli.run("demo", "--duration", "1", "--symbols", "BTC/USDT")
    assert result.returncode == 0, result.stderr
    assert "order    " in result.stdout


def test_demo_names_an_unknown_symbol(cli: Cli):
    result = cli.run("demo", "--duration", "1", "--symbols", "FOOBAR")
    assert result.returncode in (1, 2)
    assert_one_error_line(result)
    assert "unknown symbol" in result.stderr.strip().splitlines()[-1]


def test_demo_against_a_simulator_without_keys_fails_promptly(cli: Cli, sim: BinanceSimulator):
    try:
        result = cli.run("demo", "--duration", "1", "--base-url", sim.base_url, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("no answer within 10 s")
    assert result.returncode == 1
    assert "no API keys" in result.stderr


def test_ticks_interrupted_while_still_connecting_is_not_a_success(cli: Cli):
    import socket

    with socket.socket() as server:  # accepts the connection, never answers: the connect hangs
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(30)
        proc = cli.start("ticks", "BTCUSDT", "--base-url", f"http://127.0.0.1:{server.getsockname()[1]}")
        try:
            conn, _ = server.accept()  # the command is now waiting for Binance's answer
            with conn:
                proc.send_signal(signal.SIGINT)
                out, err = stop(proc, timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert "Traceback" not in err
    assert proc.returncode == 130, (proc.returncode, out, err)
