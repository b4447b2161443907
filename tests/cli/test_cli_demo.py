"""``foxtrot-binance demo`` as a first-time user runs it: a subprocess, no keys, no terminal."""

from __future__ import annotations

import re
import signal

from cli_support import Cli, read_until, stop


def test_demo_shows_ticks_a_fill_and_a_cancel_then_exits_0(cli: Cli):
    result = cli.run("demo", "--duration", "6", module=True)
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    assert "load_adapters(): BINANCE, BINANCE_USDM" in out
    ticks = [line for line in out.splitlines() if line.startswith("tick     BTCUSDT.BINANCE ")]
    assert ticks and re.search(r"bid \d", ticks[-1]) and re.search(r"depth bids \[(\S+x\S+ ){4}\S+x\S+\] asks", ticks[-1])
    resting = re.search(r"^order    (BINANCE\.\S+)  BTCUSDT\.BINANCE  LONG LIMIT \S+ @ \S+  NOTTRADED", out, re.M)
    filled = re.search(r"^order    (BINANCE\.\S+)  BTCUSDT\.BINANCE  LONG MARKET \S+ market  ALLTRADED", out, re.M)
    assert resting and filled
    assert re.search(rf"^trade    BINANCE\.\S+  BTCUSDT\.BINANCE  LONG \S+ @ \S+  order {re.escape(filled.group(1))}", out, re.M)
    assert re.search(rf"^order    {re.escape(resting.group(1))} .* CANCELLED", out, re.M)
    assert re.search(r"^balance  BINANCE USDT .*\(was 100000, -", out, re.M)  # the fill moved the balance
    assert re.search(r"^demo     done after \d+\.\d s: \d+ ticks, \d+ orders, \d+ trades; balances ", out, re.M)
    assert "Traceback" not in result.stderr
    assert not (cli.workdir / "xdg-cache").exists()  # no history cache file for a throwaway simulator


def test_ctrl_c_mid_demo_closes_everything_and_exits_at_once(cli: Cli):
    proc = cli.start("demo", "--duration", "60")
    try:
        read_until(proc, "tick     ")
        proc.send_signal(signal.SIGINT)
        _, err = stop(proc, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err


def test_a_reader_that_goes_away_ends_the_demo_quietly(cli: Cli):
    proc = cli.start("demo", "--duration", "60")  # as in: foxtrot-binance demo | head
    try:
        read_until(proc, "tick     ")
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        code = proc.wait(timeout=15)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code == 141 and "Traceback" not in err and "Broken pipe" not in err


def test_demo_refuses_to_trade_anywhere_but_this_machine(cli: Cli):
    result = cli.run("demo", "--base-url", "https://api.binance.com")
    assert result.returncode == 2
    assert "only runs against a simulator on this machine" in result.stderr
