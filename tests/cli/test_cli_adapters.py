"""``foxtrot-binance adapters`` and ``simulator``: discovery as a host sees it, and the
standalone simulator's lifecycle."""

from __future__ import annotations

import json
import signal
import urllib.request

from cli_support import Cli, read_until, stop
from foxtrot_binance import __version__


def test_adapters_lists_both_with_distribution_version_and_exchanges(cli: Cli):
    result = cli.run("adapters")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("adapter ")}
    assert set(lines) == {"BINANCE", "BINANCE_USDM"}
    assert f"foxtrot-binance {__version__}" in lines["BINANCE"] and "exchanges BINANCE " in lines["BINANCE"]
    assert f"foxtrot-binance {__version__}" in lines["BINANCE_USDM"] and "exchanges BINANCEUSDM" in lines["BINANCE_USDM"]


def test_a_disabled_plugin_leaves_nothing_to_list_and_says_why(cli: Cli):
    result = cli.run("adapters", env={"FOXTROT_DISABLED_PLUGINS": "binance"}, module=True)
    assert result.returncode == 1
    assert "disabled binance" in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("error: no foxtrot adapters found")


def test_help_names_every_command(cli: Cli):
    result = cli.run("--help")
    assert result.returncode == 0
    for command in ("demo", "adapters", "check", "ticks", "history", "simulator"):
        assert command in result.stdout


def test_simulator_serves_until_ctrl_c_and_prints_its_keys(cli: Cli):
    proc = cli.start("simulator", "--seed", "4")
    try:
        lines = read_until(proc, "Ctrl-C to stop")
        exports = dict(line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export "))
        base_url = exports["FOXTROT_BINANCE_BASE_URL"]
        assert base_url.startswith("http://127.0.0.1:")
        assert len(exports["FOXTROT_BINANCE_API_KEY"]) >= 32 and len(exports["FOXTROT_BINANCE_SECRET"]) >= 32
        with urllib.request.urlopen(base_url + "/api/v3/time", timeout=10) as response:
            assert json.load(response)["serverTime"] > 0
        proc.send_signal(signal.SIGINT)
        out, err = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "simulator stopped" in out and "Traceback" not in err


def test_simulator_refuses_a_url_it_cannot_serve(cli: Cli):
    result = cli.run("simulator", "--base-url", "https://api.binance.com")
    assert result.returncode == 2
    assert "cannot be served here" in result.stderr
