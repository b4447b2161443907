"""User-data events as Binance sends them -> the calls the order and account managers get.

The managers are replaced at their seam by recorders; end-to-end behaviour over the
simulator is in test_spot_orders_e2e.py and test_usdm_e2e.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from loguru import logger

from foxtrot_binance.market_kind import MarketKind
from foxtrot_binance.user_events import UserEventRouter, order_structure

SPOT_TRADE = {
    "e": "executionReport", "E": 1700000000100, "s": "BTCUSDT", "c": "fx1", "S": "BUY", "o": "LIMIT", "f": "GTC",
    "q": "0.03000000", "p": "20000.00", "P": "0.00", "C": "", "x": "TRADE", "X": "PARTIALLY_FILLED", "r": "NONE",
    "i": 42, "l": "0.01000000", "z": "0.02000000", "L": "19999.00", "n": "0.00001", "N": "BNB", "T": 1700000000099,
    "t": 7, "m": True, "O": 1700000000000, "Z": "399.98", "Y": "199.99",
}
SPOT_CANCEL = {**SPOT_TRADE, "x": "CANCELED", "X": "CANCELED", "c": "cancel-req-9", "C": "fx1", "l": "0", "t": -1}
FUTURES_TRADE = {"e": "ORDER_TRADE_UPDATE", "E": 1700000000200, "T": 1700000000199, "o": {
    "s": "BTCUSDT", "c": "fx2", "S": "SELL", "o": "LIMIT", "f": "GTC", "q": "0.003", "p": "30000", "ap": "30001.5",
    "x": "TRADE", "X": "FILLED", "i": 99, "l": "0.003", "z": "0.003", "L": "30001.5", "N": "USDT", "n": "0.03",
    "T": 1700000000199, "t": 555, "m": False, "ps": "BOTH"}}
ALGO_NEW = {"e": "ALGO_UPDATE", "T": 1700000000300, "E": 1700000000301, "o": {
    "caid": "fx3", "aid": 12, "at": "CONDITIONAL", "o": "STOP_MARKET", "s": "BTCUSDT", "S": "BUY", "ps": "BOTH",
    "q": "0.010", "X": "NEW", "ai": "", "tp": "31000", "p": "0"}}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.keywords: list[dict[str, Any]] = []
        self.fail: set[str] | bool = False

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            if self.fail is True or (isinstance(self.fail, set) and name in self.fail):
                raise RuntimeError("manager failed")
            self.calls.append((name, args[0] if args else kwargs))
            self.keywords.append(kwargs)

        return record


@pytest.fixture
def router() -> tuple[UserEventRouter, Recorder, Recorder, list[str]]:
    orders, accounts, logs = Recorder(), Recorder(), []
    codes = {"BCC": "BCH"}
    r = UserEventRouter(MarketKind.SPOT, orders, accounts, lambda a: codes.get(a, a), logs.append, logger)  # type: ignore[arg-type]
    return r, orders, accounts, logs


def test_a_spot_fill_gives_the_order_then_the_trade(router):
    r, orders, _, _ = router
    assert r.apply(SPOT_TRADE) is None
    (k1, order), (k2, trade) = orders.calls
    assert (k1, k2) == ("apply_order", "apply_trade")
    assert order["id"] == 42 and order["clientOrderId"] == "fx1" and order["filled"] == "0.02000000"
    assert order["average"] == pytest.approx(399.98 / 0.02)
    assert order["timestamp"] == 1700000000000 and order["lastUpdateTimestamp"] == 1700000000099
    assert order["info"] is SPOT_TRADE and order["symbol"] is None
    assert trade == {
        "info": SPOT_TRADE, "id": 7, "order": 42, "side": "buy", "timestamp": 1700000000099, "price": "19999.00",
        "amount": "0.01000000", "fee": {"cost": "0.00001", "currency": "BNB"}, "takerOrMaker": "maker",
    }


def test_a_cancel_is_filed_under_the_original_client_id_and_gives_no_trade(router):
    r, orders, _, _ = router
    r.apply(SPOT_CANCEL)
    [(kind, order)] = orders.calls
    assert kind == "apply_order" and order["clientOrderId"] == "fx1"


def test_a_futures_fill_reads_the_nested_order_and_its_average():
    order = order_structure(FUTURES_TRADE["o"], FUTURES_TRADE)
    assert order["id"] == 99 and order["clientOrderId"] == "fx2" and order["average"] == "30001.5"
    assert order["side"] == "sell" and order["lastUpdateTimestamp"] == 1700000000199


def test_an_algo_update_is_keyed_by_its_algo_id_and_the_event_time():
    order = order_structure(ALGO_NEW["o"], ALGO_NEW)
    assert order["id"] == 12 and order["clientOrderId"] == "fx3"
    assert order["timestamp"] == order["lastUpdateTimestamp"] == 1700000000300


def test_spot_balances_are_exact_totals_under_ccxt_codes(router):
    r, _, accounts, _ = router
    r.apply({"e": "outboundAccountPosition", "E": 2, "u": 1, "B": [
        {"a": "USDT", "f": "0.1", "l": "0.2"}, {"a": "BCC", "f": "1", "l": "0"}]})
    [(kind, balance)] = accounts.calls
    assert kind == "apply_balance"
    assert balance == {"total": {"USDT": 0.3, "BCH": 1.0}, "used": {"USDT": 0.2, "BCH": 0.0}}
    assert accounts.keywords == [{"full": False, "as_of": 1}]  # Binance's account update time, not the event time


@pytest.mark.parametrize("name", ["eventStreamTerminated", "listenKeyExpired", "serverShutdown"])
def test_events_that_end_the_subscription_are_reported(router, name):
    r, orders, accounts, _ = router
    assert r.apply({"e": name, "E": 1})
    assert orders.calls == accounts.calls == []


def test_informational_events_change_nothing(router):
    r, orders, accounts, _ = router
    for name in ("TRADE_LITE", "balanceUpdate", "listStatus", "somethingNew"):
        assert r.apply({"e": name, "E": 1}) is None
    assert orders.calls == accounts.calls == []


def test_failures_are_counted_logged_at_most_once_a_second_and_the_next_update_applies(router, library_logs):
    r, orders, _, _ = router
    records = library_logs("ERROR", "{message}")
    assert r.apply({"e": "executionReport"}) is None  # no "x": the order part applies, then nothing
    orders.fail = True
    assert r.apply(SPOT_TRADE) is None
    orders.fail = False
    r.apply(SPOT_CANCEL)
    # the order update and the fill of the same event both failed: two failures, one log record
    assert r.failures == 2
    assert len(records) == 1
    assert records[0].startswith("applying the order update of a executionReport failed (1 failures so far)")
    assert "RuntimeError: manager failed" in records[0]  # with the traceback
    assert orders.calls[-1][1]["clientOrderId"] == "fx1"


def test_a_margin_call_is_said_and_refreshes_the_account():
    orders, accounts, logs = Recorder(), Recorder(), []
    r = UserEventRouter(MarketKind.USDM, orders, accounts, str, logs.append, logger)  # type: ignore[arg-type]
    r.apply({"e": "MARGIN_CALL", "E": 1, "cw": "3.1", "p": []})
    r.apply({"e": "ACCOUNT_UPDATE", "E": 2, "T": 2, "a": {"m": "ORDER", "B": [], "P": []}})
    assert "margin call" in logs[0]
    assert [k for k, _ in accounts.calls] == ["on_account_update", "on_account_update"]
    assert accounts.calls[1][1]["a"]["m"] == "ORDER"


def test_the_fill_of_an_event_whose_order_update_failed_still_applies(router):
    r, orders, _, _ = router
    orders.fail = {"apply_order"}
    r.apply(SPOT_TRADE)
    assert [k for k, _ in orders.calls] == ["apply_trade"]


def test_a_liquidation_execution_carries_a_fill(router):
    r, orders, _, _ = router
    liquidation = {**FUTURES_TRADE["o"], "x": "CALCULATED", "c": "autoclose-1", "o": "LIQUIDATION"}
    r.apply({**FUTURES_TRADE, "o": liquidation})
    assert [k for k, _ in orders.calls] == ["apply_order", "apply_trade"]
    assert orders.calls[1][1]["id"] == 555
