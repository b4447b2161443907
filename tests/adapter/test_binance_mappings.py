from __future__ import annotations

import random

import ccxt
import pytest

from foxtrot_binance.binance_mappings import (
    Outcome,
    backoff_delay,
    binance_error_body,
    classify_error,
    is_progress,
    is_retryable,
    order_type_from_binance,
    status_from_binance,
)
from foxtrot_hooks import OrderType, Status


@pytest.mark.parametrize(
    ("raw", "filled", "expected"),
    [
        ("NEW", 0, Status.NOTTRADED),
        ("NEW", 0.5, Status.PARTTRADED),
        ("PARTIALLY_FILLED", 0.5, Status.PARTTRADED),
        ("FILLED", 1, Status.ALLTRADED),
        ("CANCELED", 0.3, Status.CANCELLED),
        ("EXPIRED", 0, Status.CANCELLED),
        ("EXPIRED_IN_MATCH", 0, Status.CANCELLED),
        ("REJECTED", 0, Status.REJECTED),
    ],
)
def test_status_mapping(raw, filled, expected):
    assert status_from_binance(raw, filled) is expected


def test_unknown_status_is_an_error_not_a_guess():
    with pytest.raises(ValueError, match="unknown Binance order status"):
        status_from_binance("HALF_BAKED")


def test_orders_never_go_backwards():
    assert is_progress(Status.SUBMITTING, 0, Status.NOTTRADED, 0)
    assert is_progress(Status.NOTTRADED, 0, Status.PARTTRADED, 1)
    assert is_progress(Status.PARTTRADED, 1, Status.PARTTRADED, 2)
    assert is_progress(Status.PARTTRADED, 2, Status.ALLTRADED, 3)
    assert not is_progress(Status.PARTTRADED, 2, Status.NOTTRADED, 0)  # stale snapshot
    assert not is_progress(Status.PARTTRADED, 2, Status.PARTTRADED, 1)  # stale fill count
    assert not is_progress(Status.ALLTRADED, 3, Status.CANCELLED, 3)  # terminal is final
    assert not is_progress(Status.NOTTRADED, 0, Status.NOTTRADED, 0)  # nothing new


def test_order_types_from_binance():
    assert order_type_from_binance("LIMIT", "IOC") is OrderType.FAK
    assert order_type_from_binance("LIMIT", "FOK") is OrderType.FOK
    assert order_type_from_binance("LIMIT", "GTC") is OrderType.LIMIT
    assert order_type_from_binance("MARKET", None) is OrderType.MARKET
    assert order_type_from_binance("STOP_LOSS", None) is OrderType.STOP
    assert order_type_from_binance("TAKE_PROFIT_MARKET", None) is OrderType.STOP


@pytest.mark.parametrize(
    ("exc", "outcome", "code"),
    [
        (ccxt.InsufficientFunds('binance {"code":-2010,"msg":"Account has insufficient balance for requested action."}'), Outcome.REJECTED, -2010),
        (ccxt.InvalidOrder('binance {"code":-1013,"msg":"Filter failure: LOT_SIZE"}'), Outcome.REJECTED, -1013),
        (ccxt.ExchangeError('binance {"code":-4164,"msg":"Order\'s notional must be no smaller than 100"}'), Outcome.REJECTED, -4164),
        (ccxt.OperationFailed('binance {"code":-1007,"msg":"Timeout waiting for response from backend server."}'), Outcome.UNKNOWN, -1007),
        (ccxt.RequestTimeout("binance POST http://127.0.0.1/api/v3/order timed out"), Outcome.UNKNOWN, None),
        (ccxt.ExchangeNotAvailable("binance 503 Service Unavailable"), Outcome.UNKNOWN, None),
        (ccxt.NetworkError("Connection reset by peer"), Outcome.UNKNOWN, None),
        (ccxt.DDoSProtection('binance 429 Too Many Requests {"code":-1003,"msg":"Too much request weight used"}'), Outcome.RATE_LIMITED, -1003),
        (ccxt.DDoSProtection('binance 418 I\'m a teapot {"code":-1003,"msg":"Way too much request weight used; IP banned until 1."}'), Outcome.BANNED, -1003),
        (ccxt.InvalidNonce('binance {"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}'), Outcome.CLOCK, -1021),
        (ccxt.AuthenticationError('binance {"code":-1022,"msg":"Signature for this request is not valid."}'), Outcome.AUTH, -1022),
    ],
)
def test_error_classification(exc, outcome, code):
    failure = classify_error(exc)
    assert (failure.outcome, failure.code) == (outcome, code)
    if code is not None:
        assert f"(Binance code {code})" in failure.reason


def test_error_body_parsing_tolerates_garbage():
    assert binance_error_body(Exception("no json here")) == (None, None)
    assert binance_error_body(Exception("binance {not json}")) == (None, None)
    assert binance_error_body(Exception('binance {"code":-2011,"msg":"Unknown order sent."}')) == (-2011, "Unknown order sent.")


def test_only_unknown_outcomes_are_retried_with_backoff():
    assert is_retryable(classify_error(ccxt.RequestTimeout("t")))
    assert not is_retryable(classify_error(ccxt.InvalidNonce('binance {"code":-1021,"msg":"x"}')))  # resync instead
    assert not is_retryable(classify_error(ccxt.InvalidOrder('binance {"code":-1013,"msg":"x"}')))
    assert not is_retryable(classify_error(ccxt.DDoSProtection("binance 418 banned")))


def test_backoff_is_bounded_full_jitter():
    rng = random.Random(1)
    delays = [backoff_delay(n, 0.5, 4.0, rng) for n in range(10) for _ in range(50)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert max(backoff_delay(0, 0.5, 4.0, rng) for _ in range(100)) <= 0.5
    assert max(delays) > 2.0  # later attempts really do wait longer
