"""The CLI's pure pieces, in process: masking, key restrictions, dates, order sizing, refusals,
and the path a not-yet-built adapter takes."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr

from foxtrot_binance.cli_check import _key_cannot_trade, clock_text, key_rows, mask
from foxtrot_binance.cli_demo import order_volume
from foxtrot_binance.cli_history import parse_when
from foxtrot_binance.cli_session import AdapterUnavailable, CliError, Session, explain_refusal
from foxtrot_binance.cli_views import num
from foxtrot_hooks import AdapterInfo, BaseAdapter, ContractData, Exchange, Product


def test_mask_shows_no_secret_and_only_the_tail_of_a_key():
    key = "A" * 60 + "wxyz"
    assert mask("api_key", SecretStr(key)) == "set, ****wxyz (64 characters)"
    assert mask("api_key", SecretStr("short-key")) == "set (9 characters)"
    assert mask("secret", SecretStr("s3cr3t" * 8)) == "set (HMAC secret, 48 characters)"
    pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA\n-----END PRIVATE KEY-----"
    assert "MC4C" not in mask("secret", SecretStr(pem)) and "PEM private key" in mask("secret", SecretStr(pem))
    assert mask("proxy_host", None) == "(not set)"


def test_key_restrictions_warn_about_withdrawals_and_refuse_a_key_that_cannot_trade():
    live = {"enableReading": True, "enableSpotAndMarginTrading": False, "enableFutures": True,
            "enableWithdrawals": True, "ipRestrict": False}
    rows = dict(key_rows(live))
    assert rows["key: withdrawals"].startswith("yes  (warning") and rows["key: IP restricted"].startswith("no  (warning")
    assert _key_cannot_trade(live, usdm=False) and not _key_cannot_trade(live, usdm=True)
    assert not _key_cannot_trade(None, usdm=False) and not _key_cannot_trade({"_error": "x"}, usdm=False)
    assert dict(key_rows(None))["API key restrictions"].startswith("not published")


def test_a_clock_a_second_off_is_flagged():
    assert "warning" not in clock_text(-120, 5000) and clock_text(-120, 5000).startswith("-120 ms")
    assert "sync it with NTP" in clock_text(2500, 5000)
    assert clock_text(None, 5000) == "unknown"


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-31", datetime(2026, 1, 31, tzinfo=timezone.utc)),
    ("2026-01-31T12:30", datetime(2026, 1, 31, 12, 30, tzinfo=timezone.utc)),
    ("2026-01-31 12:30:00Z", datetime(2026, 1, 31, 12, 30, tzinfo=timezone.utc)),
    ("2026-01-31T14:30+02:00", datetime(2026, 1, 31, 12, 30, tzinfo=timezone.utc)),
])
def test_dates_are_utc_unless_they_say_otherwise(text, expected):
    assert parse_when(text, "--start") == expected


def test_a_bad_date_is_a_usage_error():
    with pytest.raises(CliError, match="--end '31/01/2026' is not a date") as caught:
        parse_when("31/01/2026", "--end")
    assert caught.value.exit_code == 2


def test_demo_orders_are_valid_minimum_sized():
    contract = ContractData(adapter_name="BINANCE", symbol="BTCUSDT", exchange=Exchange.BINANCE, name="BTC/USDT",
                            product=Product.SPOT, size=1, pricetick=0.01, min_volume=0.00001)
    contract.extra = {"step_size": 0.00001, "min_notional": 5.0}
    volume = order_volume(contract, Decimal("95000"))
    assert volume == Decimal("0.00016") and volume * 95000 >= 15  # 3x the minimum notional, on the step


def test_refusals_name_what_to_fix():
    line = explain_refusal("Invalid API-key, IP, or permissions for action. (Binance code -2015)", "live server")
    assert line.startswith("Binance refused the API key (code -2015: Invalid API-key, IP, or permissions for action)")
    assert "FOXTROT_BINANCE_API_KEY / FOXTROT_BINANCE_SECRET" in line
    assert "FOXTROT_BINANCE_SECRET does not belong" in explain_refusal("Signature bad (Binance code -1022)", "x")


def test_numbers_read_like_prices():
    assert [num(v) for v in (95012.31, 99969.30175299999, 1e-05, 100000.0, -0.0)] == \
        ["95012.31", "99969.301753", "0.00001", "100000", "0"]


class _UnderConstruction(BaseAdapter):
    default_name: ClassVar[str] = "LATER"
    exchanges: ClassVar[list[Exchange]] = [Exchange.BINANCEUSDM]

    def connect(self, setting: dict[str, Any]) -> None:
        raise NotImplementedError("LATER.connect is not implemented yet")

    def close(self) -> None: ...
    def subscribe(self, req: Any) -> None: ...
    def send_order(self, req: Any) -> str: return ""
    def cancel_order(self, req: Any) -> None: ...
    def query_account(self) -> None: ...
    def query_position(self) -> None: ...


def test_an_adapter_still_under_construction_is_unavailable_not_a_crash():
    info = AdapterInfo(name="LATER", adapter_class=_UnderConstruction, settings_class=None,
                       exchanges=(Exchange.BINANCEUSDM,))
    with Session() as session, pytest.raises(AdapterUnavailable, match="LATER is not available yet"):
        session.open(info, {})
