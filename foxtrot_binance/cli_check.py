"""``foxtrot-binance check``: "is this machine ready to trade?" answered before real money moves.

It loads the settings exactly as the adapter will (connect dict from the command line, then
env, ``.env``, secrets directory), shows them with credentials masked, connects the real
adapter, and reports what a trader needs to trust the setup: the clock offset to Binance,
what the API key is allowed to do, the user data stream and the balances. Any problem ends
as one line saying what to fix and a non-zero status; no key or secret is ever printed.

Permissions are not part of the adapter's events, so they are read from Binance's account
endpoint through the adapter's own ccxt client, on its I/O loop and under its weight gate.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.console import Console

from foxtrot_hooks import EVENT_ACCOUNT, AccountData, Event

from foxtrot_binance.cli_session import (
    NO_HISTORY,
    CliError,
    Session,
    connect_setting,
    find_adapter,
    require_connected,
    where_of,
)
from foxtrot_binance.cli_views import key_value_table, num
from foxtrot_binance.logs import redact
from foxtrot_binance.settings import DEFAULT_SECRETS_DIR, SECRETS_DIR_ENV, BinanceSettings, field_env_name

Rows = list[tuple[str, str]]


def run_check(console: Console, *, base_url: str | None, server: str | None, usdm: bool, timeout: float) -> int:
    info = find_adapter(usdm)
    setting = connect_setting(base_url, server)
    settings = BinanceSettings.from_setting(setting)  # InvalidSettingsError names the field
    out = _Out(console)
    out.rows(f"Settings for {info.name} (effective, secrets masked)", settings_rows(settings))

    balances = _Balances(info.name)
    with Session() as session:
        session.listen(balances.handle)
        opened = session.open(info, {**setting, **NO_HISTORY})  # settings shown are those without it
        result = require_connected(session, opened, timeout, settings.base_url, settings.server)
        status: Rows = [
            ("connected to", redact(where_of(settings.base_url, settings.server))),
            ("clock offset", clock_text(result.clock_offset_ms, settings.recv_window)),
        ]
        if not settings.has_credentials:
            status.append(("API keys", "not set: public market data and history only, trading disabled"))
            out.rows("Connection", status)
            return 0
        stream = session.wait_user_stream(opened.name, timeout)
        status.append(("user data stream", "connected" if stream is None else f"NOT connected: {stream}"))
        account = _account(opened.adapter, usdm, timeout)
        restrictions = _key_restrictions(opened.adapter, settings, timeout)
        status.extend(permission_rows(account))
        status.extend(key_rows(restrictions))
        out.rows("Connection", status)
        out.rows(f"Balances ({opened.name}, non-zero)", balances.rows())
    if stream is not None:
        raise CliError(f"the user data stream did not connect ({stream}): order updates would not arrive")
    if account.get("canTrade") is False:
        raise CliError("this Binance account cannot trade (canTrade is false): see the account's status on Binance")
    if _key_cannot_trade(restrictions, usdm):
        raise CliError("this API key cannot trade: tick 'Enable "
                       f"{'Futures' if usdm else 'Spot & Margin Trading'}' for it in Binance's API management")
    return 0


CLOCK_WARN_MS = 1000


def clock_text(offset_ms: int | None, recv_window: int) -> str:
    """The offset, and a warning when it is large: the adapter corrects its signed requests
    for it, but a clock a second or more off also skews every local timestamp a trader reads."""
    if offset_ms is None:
        return "unknown"
    text = f"{offset_ms} ms (Binance minus this machine; signed requests allow {recv_window} ms)"
    if abs(offset_ms) >= CLOCK_WARN_MS:
        text += "  (warning: this machine's clock is off; the adapter compensates, but sync it with NTP)"
    return text


# -- settings ----------------------------------------------------------------------------
def settings_rows(settings: BinanceSettings) -> Rows:
    """Every field with its value (credentials masked), its variable, and whether it is the
    default; then where the files come from."""
    rows: Rows = []
    for name, value in settings:
        if name == "retry":
            for sub, sub_value in value:
                rows.append(_row((name, sub), sub_value, name in settings.model_fields_set))
            continue
        rows.append(_row((name,), value, name in settings.model_fields_set))
    env_file = Path(".env").resolve()
    rows.append((".env file", str(env_file) if env_file.is_file() else f"none in {env_file.parent}"))
    secrets = os.environ.get(SECRETS_DIR_ENV) or (str(DEFAULT_SECRETS_DIR) if DEFAULT_SECRETS_DIR.is_dir() else None)
    rows.append(("secrets directory", secrets or f"none ({SECRETS_DIR_ENV} unset, {DEFAULT_SECRETS_DIR} absent)"))
    return rows


def _row(path: tuple[str, ...], value: Any, explicit: bool) -> tuple[str, str]:
    label = f"{'.'.join(path)} ({field_env_name(path)})"
    shown = mask(path[-1], value)
    return label, shown if explicit else f"{shown}  [default]"


def mask(name: str, value: Any) -> str:
    """What may be shown of a value: never a secret, of an API key only its length and last
    four characters (enough to tell two keys apart, as Binance's own key list does)."""
    if value is None:
        return "(not set)"
    if isinstance(value, SecretStr):
        raw = value.get_secret_value()
        if name == "api_key":
            return f"set, ****{raw[-4:]} ({len(raw)} characters)" if len(raw) >= 16 else f"set ({len(raw)} characters)"
        if "BEGIN" in raw:
            kind = "RSA" if "RSA" in raw else "Ed25519 or RSA"
            return f"set ({kind} PEM private key)"
        return f"set (HMAC secret, {len(raw)} characters)"
    return redact(str(value))  # a proxy URL may carry a password


# -- account -----------------------------------------------------------------------------
def _call(adapter: Any, method: str, weight: int, timeout: float) -> dict[str, Any]:
    """One signed read through the adapter's own ccxt client (its loop, gate and retries);
    ``{"_error": ...}`` when it cannot be read: reported as a row, never fatal, because the
    connection itself already worked."""
    client = getattr(adapter, "client", None)
    if client is None or getattr(client, "rest", None) is None:
        return {"_error": "this adapter does not expose its REST client"}
    try:
        answer = client.run_blocking(client.rest.call(method, weight=weight), timeout)
    except Exception as exc:  # noqa: BLE001 - shown as a row; the check continues
        return {"_error": redact(f"{type(exc).__name__}: {exc}")}  # ccxt quotes the signed URL
    return answer if isinstance(answer, dict) else {"_error": "unexpected answer"}


def _account(adapter: Any, usdm: bool, timeout: float) -> dict[str, Any]:
    """Binance's account record: what the *account* may do (canTrade, permissions)."""
    method, weight = ("fapiPrivateV2GetAccount", 5) if usdm else ("privateGetAccount", 20)
    return _call(adapter, method, weight, timeout)


def _key_restrictions(adapter: Any, settings: BinanceSettings, timeout: float) -> dict[str, Any] | None:
    """What the *API key* may do (GET /sapi/v1/account/apiRestrictions). Only Binance's live
    server has it (not the testnets, demo trading or the simulator): None elsewhere."""
    if settings.base_url or settings.server != "live":
        return None
    return _call(adapter, "sapiGetAccountApiRestrictions", 1, timeout)


def _yes(value: Any) -> str:
    return "?" if value is None else "yes" if value in (True, "true") else "no"


def permission_rows(account: dict[str, Any]) -> Rows:
    if "_error" in account:
        return [("account", f"permissions could not be read ({account['_error']})")]
    rows: Rows = [("account can trade", _yes(account.get("canTrade"))),
                  ("account can deposit", _yes(account.get("canDeposit"))),
                  ("account can withdraw", _yes(account.get("canWithdraw")))]
    if account.get("permissions"):
        rows.append(("account permissions", ", ".join(str(p) for p in account["permissions"])))
    if account.get("accountType"):
        rows.append(("account type", str(account["accountType"])))
    return rows


def key_rows(restrictions: dict[str, Any] | None) -> Rows:
    if restrictions is None:
        return [("API key restrictions", "not published by this server (Binance live only)")]
    if "_error" in restrictions:
        return [("API key restrictions", f"could not be read ({restrictions['_error']})")]
    rows: Rows = [
        ("key: reading", _yes(restrictions.get("enableReading"))),
        ("key: spot & margin trading", _yes(restrictions.get("enableSpotAndMarginTrading"))),
        ("key: futures", _yes(restrictions.get("enableFutures"))),
        ("key: withdrawals", _yes(restrictions.get("enableWithdrawals"))
         + ("  (warning: a trading key should not withdraw; disable it)" if restrictions.get("enableWithdrawals") is True
            else "")),
        ("key: IP restricted", _yes(restrictions.get("ipRestrict"))
         + ("  (warning: restrict the key to your IP addresses)" if restrictions.get("ipRestrict") is False else "")),
    ]
    return rows


def _key_cannot_trade(restrictions: dict[str, Any] | None, usdm: bool) -> bool:
    if not restrictions or "_error" in restrictions:
        return False
    flag = "enableFutures" if usdm else "enableSpotAndMarginTrading"
    return restrictions.get(flag) is False


class _Balances:
    """The adapter's AccountData events for one adapter: the balances a host would see."""

    def __init__(self, adapter_name: str) -> None:
        self.adapter_name = adapter_name
        self._latest: dict[str, AccountData] = {}
        self._lock = threading.Lock()

    def handle(self, event: Event) -> None:
        if event.type == EVENT_ACCOUNT and event.data.adapter_name == self.adapter_name:
            with self._lock:
                self._latest[event.data.accountid] = event.data

    def rows(self) -> Rows:
        with self._lock:
            accounts = [a for _, a in sorted(self._latest.items()) if a.balance or a.frozen]
        if not accounts:
            return [("(none)", "no non-zero balance")]
        return [(a.accountid, f"{num(a.balance)}  (available {num(a.available)}, frozen {num(a.frozen)})")
                for a in accounts]


class _Out:
    """Tables on a terminal, ``key  value`` lines elsewhere (rich would wrap them at 80)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def rows(self, title: str, rows: Rows) -> None:
        if self.console.is_terminal:
            self.console.print(key_value_table(rows, title))
            return
        print(f"== {title}", flush=True)
        width = max((len(k) for k, _ in rows), default=0)
        for key, value in rows:
            print(f"{key:<{width}}  {value}", flush=True)
