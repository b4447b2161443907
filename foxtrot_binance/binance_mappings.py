"""Translations between Binance/ccxt and foxtrot, and what an error means for the caller.

Kept as data and small pure functions so the order, account and market managers share one
definition of every status, order type and error class.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from foxtrot_hooks import Direction, OrderType, Status

# -- statuses ------------------------------------------------------------------------------
BINANCE_STATUS: dict[str, Status] = {
    "NEW": Status.NOTTRADED,
    "PENDING_NEW": Status.NOTTRADED,
    "PARTIALLY_FILLED": Status.PARTTRADED,
    "FILLED": Status.ALLTRADED,
    "CANCELED": Status.CANCELLED,
    "PENDING_CANCEL": Status.NOTTRADED,  # still live until Binance confirms
    "REJECTED": Status.REJECTED,
    "EXPIRED": Status.CANCELLED,
    "EXPIRED_IN_MATCH": Status.CANCELLED,
    # USDⓈ-M algo (conditional) order states
    "WORKING": Status.NOTTRADED,
    "TRIGGERING": Status.NOTTRADED,
    "TRIGGERED": Status.NOTTRADED,
    "FINISHED": Status.ALLTRADED,
}

_RANK = {
    Status.SUBMITTING: 0,
    Status.NOTTRADED: 1,
    Status.PARTTRADED: 2,
    Status.ALLTRADED: 3,
    Status.CANCELLED: 3,
    Status.REJECTED: 3,
}
TERMINAL_STATUSES = frozenset({Status.ALLTRADED, Status.CANCELLED, Status.REJECTED})


def status_from_binance(raw_status: str, filled: float = 0.0) -> Status:
    """Binance's order status, with a cancel after partial fills still shown as CANCELLED."""
    status = BINANCE_STATUS.get(raw_status.upper())
    if status is None:
        raise ValueError(f"unknown Binance order status {raw_status!r}")
    if status is Status.NOTTRADED and filled > 0:
        return Status.PARTTRADED
    return status


def is_progress(current: Status, current_traded: float, new: Status, new_traded: float) -> bool:
    """Whether an update moves an order forward. Orders never go back to an earlier state:
    updates that arrive late (a REST snapshot after a stream event, a replay after a
    reconnect) are ignored, and a terminal state is final."""
    if current in TERMINAL_STATUSES:
        return False
    if new_traded < current_traded:
        return False
    if _RANK[new] < _RANK[current]:
        return False
    return _RANK[new] > _RANK[current] or new_traded > current_traded


# -- sides and order types ------------------------------------------------------------------
SIDE_TO_BINANCE = {Direction.LONG: "buy", Direction.SHORT: "sell"}
BINANCE_TO_DIRECTION = {"BUY": Direction.LONG, "SELL": Direction.SHORT, "buy": Direction.LONG, "sell": Direction.SHORT}


@dataclass(frozen=True)
class CcxtOrderShape:
    """How one foxtrot order type is expressed to ccxt's create_order."""

    ccxt_type: str  # "limit" | "market"
    time_in_force: str | None  # GTC / IOC / FOK, or None
    needs_price: bool
    stop: bool = False


ORDER_TYPE_SHAPES: dict[OrderType, CcxtOrderShape] = {
    OrderType.LIMIT: CcxtOrderShape("limit", "GTC", needs_price=True),
    OrderType.MARKET: CcxtOrderShape("market", None, needs_price=False),
    OrderType.FAK: CcxtOrderShape("limit", "IOC", needs_price=True),
    OrderType.FOK: CcxtOrderShape("limit", "FOK", needs_price=True),
    OrderType.STOP: CcxtOrderShape("market", None, needs_price=True, stop=True),
}
"""STOP is a stop-market order triggered at the request price (spot STOP_LOSS, USDⓈ-M
STOP_MARKET on the algo endpoint). RFQ and ETF do not exist at Binance and are rejected."""

BINANCE_TYPE_TO_ORDER_TYPE: dict[tuple[str, str | None], OrderType] = {
    ("LIMIT", "GTC"): OrderType.LIMIT,
    ("LIMIT", "GTX"): OrderType.LIMIT,
    ("LIMIT", "GTD"): OrderType.LIMIT,
    ("LIMIT", "IOC"): OrderType.FAK,
    ("LIMIT", "FOK"): OrderType.FOK,
    ("LIMIT_MAKER", None): OrderType.LIMIT,
    ("MARKET", None): OrderType.MARKET,
    ("STOP_LOSS", None): OrderType.STOP,
    ("STOP_MARKET", None): OrderType.STOP,
    ("STOP", None): OrderType.STOP,
}


def order_type_from_binance(binance_type: str, time_in_force: str | None) -> OrderType:
    """The foxtrot type of an order seen at Binance (e.g. one placed outside this adapter)."""
    key = binance_type.upper()
    if key == "LIMIT":
        return BINANCE_TYPE_TO_ORDER_TYPE.get((key, (time_in_force or "GTC").upper()), OrderType.LIMIT)
    return BINANCE_TYPE_TO_ORDER_TYPE.get((key, None), OrderType.STOP if "STOP" in key or "TAKE" in key else OrderType.LIMIT)


# -- errors -------------------------------------------------------------------------------
class Outcome(Enum):
    """What a failed call means for the caller."""

    REJECTED = "rejected"  # Binance definitely refused; nothing happened
    UNKNOWN = "unknown"  # the request may or may not have been executed
    RATE_LIMITED = "rate_limited"  # 429: refused, slow down
    BANNED = "banned"  # 418: refused, stop until the ban ends
    CLOCK = "clock"  # -1021: refused, resync the clock and try once more
    AUTH = "auth"  # bad key/signature/permissions: refused, a human must act


@dataclass(frozen=True)
class BinanceFailure:
    outcome: Outcome
    code: int | None
    message: str

    @property
    def reason(self) -> str:
        """What a trader should read: Binance's words and code."""
        return f"{self.message} (Binance code {self.code})" if self.code is not None else self.message


_JSON_IN_MESSAGE = re.compile(r"\{.*\}", re.S)
_UNKNOWN_OUTCOME_CODES = {-1000, -1001, -1006, -1007, -1008}
"""Binance: 'Timeout waiting for response from backend server. Send status unknown;
execution status unknown.' and friends - the order may exist."""


def binance_error_body(exc: BaseException) -> tuple[int | None, str | None]:
    """Binance's ``code`` and ``msg``: attached by our ccxt subclass, or embedded in the text."""
    attached = getattr(exc, "binance_code", None)
    if attached is not None:
        try:
            return int(attached), getattr(exc, "binance_msg", None)
        except (TypeError, ValueError):
            pass
    match = _JSON_IN_MESSAGE.search(str(exc))
    if not match:
        return None, None
    try:
        body = json.loads(match.group(0))
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("code")
    return (int(code) if isinstance(code, (int, str)) and str(code).lstrip("-").isdigit() else None), body.get("msg")


def classify_error(exc: BaseException) -> BinanceFailure:
    """Map a ccxt exception to what it means. Order matters: subclasses before bases."""
    import ccxt  # deferred: keeps the plugin import cheap

    code, msg = binance_error_body(exc)
    text = msg or _short(exc)
    if isinstance(exc, ccxt.DDoSProtection) or code == -1003:
        banned = getattr(exc, "http_status", None) == 418 or " 418 " in f" {exc} " or "banned" in (msg or "").lower()
        return BinanceFailure(Outcome.BANNED if banned else Outcome.RATE_LIMITED, code, text)
    if isinstance(exc, ccxt.RateLimitExceeded) or code == -1015:
        return BinanceFailure(Outcome.RATE_LIMITED, code, text)
    if isinstance(exc, ccxt.InvalidNonce) and not isinstance(exc, ccxt.ChecksumError) or code == -1021:
        return BinanceFailure(Outcome.CLOCK, code, text)
    if code in _UNKNOWN_OUTCOME_CODES:
        return BinanceFailure(Outcome.UNKNOWN, code, text)
    if isinstance(exc, (ccxt.RequestTimeout, ccxt.NetworkError)):  # incl. ExchangeNotAvailable
        return BinanceFailure(Outcome.UNKNOWN, code, text)
    if isinstance(exc, (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended)):
        return BinanceFailure(Outcome.AUTH, code, text)
    if isinstance(exc, ccxt.OperationFailed) and not isinstance(exc, ccxt.ExchangeError):
        return BinanceFailure(Outcome.UNKNOWN, code, text)
    if isinstance(exc, ccxt.ExchangeError) or code is not None:
        return BinanceFailure(Outcome.REJECTED, code, text)
    return BinanceFailure(Outcome.UNKNOWN, code, text)


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause).strip():  # "connection refused" is what the trader needs
        text = f"{text}: {type(cause).__name__}: {str(cause).strip()}"
    from foxtrot_binance.logs import redact  # network errors quote the signed URL

    text = redact(text)
    return text if len(text) <= 300 else text[:297] + "..."


# -- retry policy -------------------------------------------------------------------------
def backoff_delay(attempt: int, base_delay: float, max_delay: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform(0, min(max, base * 2**attempt)).

    Full jitter spreads reconnects of many clients (or many streams of one client) so they
    do not hammer Binance in lock-step after an outage.
    """
    ceiling = min(max_delay, base_delay * (2 ** max(0, attempt)))
    return (rng or random).uniform(0, ceiling)


def is_retryable(failure: BinanceFailure) -> bool:
    """Whether an *idempotent* call may be retried with backoff. Order submission never uses
    this; -1021 (CLOCK) is not retried with backoff but after one clock resync."""
    return failure.outcome is Outcome.UNKNOWN


def as_float(value: Any, default: float = 0.0) -> float:
    try:
        return float(value) if value is not None and value != "" else default
    except (TypeError, ValueError):
        return default
