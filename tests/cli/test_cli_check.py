"""``foxtrot-binance check``: settings shown masked, the verdict in one line, never a secret."""

from __future__ import annotations

import re
import socket

from cli_support import Cli
from foxtrot_binance.simulator import BinanceSimulator

BAD_KEY = "NotARealKey0123456789abcdefNotARealKey"
BAD_SECRET = "NotARealSecret9876543210zyxwvuNotARealSecret"


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_good_keys_from_a_dotenv_file_report_clock_permissions_and_balances(cli: Cli, sim: BinanceSimulator):
    (cli.workdir / ".env").write_text(
        f"FOXTROT_BINANCE_API_KEY={sim.api_key}\nFOXTROT_BINANCE_SECRET={sim.api_secret}\n", encoding="utf-8"
    )
    result = cli.run("check", "--base-url", sim.base_url)
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    assert f"set, ****{sim.api_key[-4:]} ({len(sim.api_key)} characters)" in out
    assert "set (HMAC secret, 64 characters)" in out
    assert ".env file" in out and str(cli.workdir / ".env") in out
    lines = {line.split("  ")[0].strip(): line for line in out.splitlines()}
    offset = re.fullmatch(r"clock offset\s+(-?\d+) ms \(.*\)", lines["clock offset"])
    assert offset and abs(int(offset.group(1))) < 5000
    assert lines["user data stream"].endswith("connected") and "NOT" not in lines["user data stream"]
    assert lines["account can trade"].endswith("yes") and "SPOT" in lines["account permissions"]
    assert lines["API key restrictions"].endswith("not published by this server (Binance live only)")
    assert lines["USDT"].split()[1] == "100000" and lines["BTC"].split()[1] == "10"
    assert_no_secret(out + result.stderr, sim.api_key, sim.api_secret)
    assert re.search(r"^history_cache \(FOXTROT_BINANCE_HISTORY_CACHE\) +True", out, re.M)  # as configured...
    assert not (cli.workdir / "xdg-cache").exists()  # ...but check never opens it


def test_an_unknown_key_exits_1_naming_the_problem_and_no_secret(cli: Cli, sim: BinanceSimulator):
    result = cli.run("check", "--base-url", sim.base_url,
                     env={"FOXTROT_BINANCE_API_KEY": BAD_KEY, "FOXTROT_BINANCE_SECRET": BAD_SECRET})
    assert result.returncode == 1
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert error.startswith("error: Binance refused the API key (code -2015: Invalid API-key")
    assert "FOXTROT_BINANCE_API_KEY / FOXTROT_BINANCE_SECRET" in error
    assert_no_secret(result.stdout + result.stderr, BAD_KEY, BAD_SECRET)


def test_a_secret_from_the_secrets_dir_that_does_not_match_the_key_names_the_secret(cli: Cli, sim: BinanceSimulator):
    secrets = cli.workdir / "secrets"
    secrets.mkdir()
    (secrets / "FOXTROT_BINANCE_API_KEY").write_text(sim.api_key)
    (secrets / "FOXTROT_BINANCE_SECRET").write_text(BAD_SECRET + "\n")
    result = cli.run("check", "--base-url", sim.base_url, env={"FOXTROT_BINANCE_SECRETS_DIR": str(secrets)})
    assert re.search(rf"^secrets directory +{re.escape(str(secrets))}$", result.stdout, re.M)
    assert result.returncode == 1
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "code -1022" in error and "FOXTROT_BINANCE_SECRET does not belong to FOXTROT_BINANCE_API_KEY" in error
    assert_no_secret(result.stdout + result.stderr, sim.api_key, BAD_SECRET)


def test_without_keys_public_access_is_checked_and_said(cli: Cli, sim: BinanceSimulator):
    result = cli.run("check", "--base-url", sim.base_url, "--usdm")
    assert result.returncode == 0, result.stderr
    assert "Settings for BINANCE_USDM" in result.stdout
    assert "not set: public market data and history only" in result.stdout


def test_an_unreachable_server_is_one_line_not_a_wait(cli: Cli):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = cli.run("check", "--base-url", f"http://127.0.0.1:{port}", "--timeout", "10")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot reach Binance at http://127.0.0.1:{port}")


def test_an_invalid_setting_exits_2_naming_the_variable(cli: Cli):
    result = cli.run("check", env={"FOXTROT_BINANCE_RECV_WINDOW": "soon", "FOXTROT_BINANCE_SECRET": BAD_SECRET})
    assert result.returncode == 2
    assert "FOXTROT_BINANCE_RECV_WINDOW" in result.stderr
    assert_no_secret(result.stdout + result.stderr, BAD_SECRET)
