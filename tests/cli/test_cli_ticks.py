"""``foxtrot-binance ticks``: live ticks with depth from the adapter, plain when piped."""

from __future__ import annotations

import re

from cli_support import Cli
from foxtrot_binance.simulator import BinanceSimulator


def test_ticks_for_two_spellings_until_the_duration_ends(cli: Cli, sim: BinanceSimulator):
    result = cli.run("ticks", "BTC/USDT", "ethusdt", "--duration", "1.5", "--base-url", sim.base_url)
    assert result.returncode == 0, result.stderr
    for symbol in ("BTCUSDT.BINANCE", "ETHUSDT.BINANCE"):
        line = next(line for line in result.stdout.splitlines() if line.startswith(f"tick     {symbol} "))
        assert re.search(r"last \d[\d.]* +bid \d[\d.]* +ask \d[\d.]* .* depth bids \[.+\] asks \[.+\]", line)
    assert re.search(r"^ticks    \d+ ticks in \d+\.\d s$", result.stdout, re.M)
    assert not (cli.workdir / "xdg-cache").exists()  # ticks never open the history cache


def test_usdm_ticks_go_on_when_one_symbol_is_unknown(cli: Cli, sim: BinanceSimulator):
    result = cli.run("ticks", "BTCUSDT", "NOPEUSDT", "--usdm", "--duration", "1", "--base-url", sim.base_url)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^tick     BTCUSDT\.BINANCEUSDM +last \d", result.stdout, re.M)
    assert "log      BINANCE_USDM  Subscribe NOPEUSDT.BINANCEUSDM: unknown symbol" in result.stdout


def test_only_unknown_symbols_is_an_error(cli: Cli, sim: BinanceSimulator):
    result = cli.run("ticks", "NOPEUSDT", "--duration", "5", "--base-url", sim.base_url)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: no BINANCE symbol among NOPEUSDT is known")
