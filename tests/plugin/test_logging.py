"""Library-style loguru: silent by default, bound with the adapter name, secrets masked."""

from __future__ import annotations

import pytest
from loguru import logger

import foxtrot_binance
from foxtrot_binance.logs import get_logger, redact, register_secret
from foxtrot_binance.settings import BinanceSettings

KEY = "Zk3QpL0x9VbN2cR7tY6uI1oP4aS8dF5gH0jK3lM6nB9vC2xZ7qW4eR1tY8uI5oP3"
SECRET = "Qw9Er8Ty7Ui6Op5As4Df3Gh2Jk1Lz0Xc9Vb8Nm7Qw6Er5Ty4Ui3Op2As1Df0Gh9J"


def log_as_library(message: str) -> None:
    """Log from code whose module is inside foxtrot_binance: loguru filters by the caller's module."""
    code = compile(f"get_logger('BINANCE').info({message!r})", "<foxtrot_binance>", "exec")
    exec(code, {"__name__": "foxtrot_binance.under_test", "get_logger": get_logger})


@pytest.fixture
def captured(library_logs):
    return library_logs("DEBUG", "{extra[adapter]}|{message}|{extra}")


def test_library_is_silent_until_enabled():
    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(str(m)), level="DEBUG")
    try:
        log_as_library("should not appear")
        assert lines == []
        logger.enable("foxtrot_binance")
        log_as_library("appears once enabled")
        assert len(lines) == 1 and "appears once enabled" in lines[0]
    finally:
        logger.remove(handler)
        logger.disable("foxtrot_binance")
    assert foxtrot_binance.__name__ == "foxtrot_binance"  # importing the package disabled it


def test_records_carry_the_adapter_name(captured):
    get_logger("BINANCE_USDM").info("connected")
    assert captured and captured[0].startswith("BINANCE_USDM|connected|")


def test_credentials_never_reach_a_handler(captured):
    settings = BinanceSettings.from_setting({"API Key": KEY, "Secret": SECRET}, env_file=None)
    register_secret(settings.api_key.get_secret_value())
    register_secret(settings.secret.get_secret_value())
    log = get_logger("BINANCE").bind(request=f"GET /api/v3/account?timestamp=1&signature=deadbeef{KEY[:8]}")
    log.info("request headers {}", {"X-MBX-APIKEY": KEY})
    log.info(f"POST /api/v3/order body=symbol=BTCUSDT&signature=0123456789abcdef{SECRET[:10]}")
    log.warning("listen key rotated: /fstream/private/ws?listenKey=LK0123456789abcdefLK")
    log.error("ws-api params {}", {"apiKey": KEY, "signature": "c0ffee", "timestamp": 1})
    log.info(f"oops the raw secret {SECRET} and key {KEY} slipped into a message")
    log.info("settings {!r}", settings)
    text = "\n".join(captured)
    assert len(captured) == 6
    for leaked in (KEY, SECRET, "deadbeef", "0123456789abcdef", "LK0123456789abcdefLK", "c0ffee"):
        assert leaked not in text
    assert "***" in text and "symbol=BTCUSDT" in text


def test_a_logged_traceback_is_masked_and_shows_no_variables(library_logs):
    """Loguru formats an exception in the host's handler, after every patch, and its default
    diagnose mode prints the frames' variables: the patch renders it into the message first."""
    lines = library_logs("DEBUG", "{message}", diagnose=True, backtrace=True)  # loguru's defaults for add()

    def fetch(url: str, headers: dict[str, str]) -> None:
        raise ConnectionError(f"GET {url} failed")

    try:
        try:
            fetch(f"/api/v3/account?timestamp=1&signature=feedface{SECRET[:8]}", {"X-MBX-APIKEY": KEY})
        except ConnectionError as exc:
            raise RuntimeError("request failed") from exc
    except RuntimeError as exc:
        get_logger("BINANCE").opt(exception=exc).error("background task failed")
    text = "\n".join(lines)
    assert "background task failed" in text and "ConnectionError" in text and "RuntimeError" in text
    assert 'raise ConnectionError(f"GET {url} failed")' in text  # the source line, not its values
    assert "feedface" not in text and KEY not in text and "signature=***" in text


def test_a_password_in_a_url_is_masked():
    assert redact("proxy http://trader:Pr0xyPa55@proxy.example:3128 used") == "proxy http://trader:***@proxy.example:3128 used"
    assert redact("base URL http://127.0.0.1:8080/api") == "base URL http://127.0.0.1:8080/api"


def test_redact_leaves_ordinary_text_alone():
    text = "order x-TKT5PX2F1 filled 0.5 BTCUSDT at 30000; timestamp=1700000000000"
    assert redact(text) == text


def test_an_occasional_log_counts_everything_and_is_due_once_per_interval(monkeypatch):
    from foxtrot_binance import logs

    now = [100.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: now[0])
    occasional = logs.OccasionalLog(interval_s=1.0)
    due = [occasional.due() for _ in range(3)]
    now[0] += 1.0
    due.append(occasional.due())
    assert due == [True, False, False, True] and occasional.count == 4
