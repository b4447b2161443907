"""Review of the review fixes (99b7c48..): each test is a scenario over the real adapter and
the embedded simulator. Tests marked xfail(strict) reproduce a bug that is still open.

Reconciliation finds fills of orders placed elsewhere on symbols nothing here tracks by
comparing balances/positions with the snapshot of the previous reconciliation. It first
compared them with the adapter's last shown holdings, so anything else that refreshed them
first (the host's query_account, the refresh after an order of ours ends), or a trade read
that failed, consumed the only signal pointing at that symbol: those tests now pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from foxtrot_hooks import CancelRequest, Direction, OrderType, Status

from spot_support import Harness
from test_order_safety_e2e import client_id, reconcile
from test_usdm_e2e import USDM, mark
from test_order_review import outside_spot, sim, spot, usdm  # noqa: F401 - fixtures
from test_symbol_defaults import outside_usdm


def count(h: Harness, predicate: Callable[[Any], bool], event_type: str) -> int:
    return sum(1 for data in h.engine.of_type(event_type) if predicate(data))


# -- fills of outside orders on untracked symbols ------------------------------------------------
def test_spot_outside_fill_is_found_even_if_the_host_queried_the_account_meanwhile(spot):
    """While the user stream is deaf, a web-UI order on ETHBTC fills. The host asks for the
    account (a UI refresh, a periodic poll) before the stream comes back: ETH and BTC are now
    shown at their new totals, so the reconciliation's before/after comparison sees nothing."""
    h, _ = spot
    h.sim.faults.stall_streams(600, "user")
    outside_spot(h.sim).create_order("ETH/BTC", "market", "sell", 0.1, None, {"clientOrderId": "web-eth-q"})
    eth_before = count(h, lambda a: a.accountid == "ETH", "eAccount.")
    h.adapter.query_account()
    h.wait(lambda e: e.type == "eAccount." and e.data.accountid == "ETH"
           and count(h, lambda a: a.accountid == "ETH", "eAccount.") > eth_before)
    reconcile(h)
    assert h.trades("BINANCE.web-eth-q"), "the outside ETHBTC fill was never reported"


def test_spot_outside_fill_survives_one_failed_trades_read(spot, monkeypatch):
    """The trades read of the symbol the balances pointed at fails once (a timeout after the
    gateway's retries; forced at the gateway seam). reconcile logs it and returns; the next
    reconciliation compares against the already refreshed balances and reads nothing."""
    import ccxt

    h, _ = spot
    rest = h.adapter.client.orders.rest
    real_call = rest.call
    failed: list[str] = []

    async def call(method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "fetch_my_trades" and args and args[0] == "ETH/BTC" and not failed:
            failed.append(method)
            raise ccxt.RequestTimeout("binance GET /api/v3/myTrades timed out")
        return await real_call(method, *args, **kwargs)

    monkeypatch.setattr(rest, "call", call)
    h.sim.faults.stall_streams(600, "user")
    outside_spot(h.sim).create_order("ETH/BTC", "market", "sell", 0.1, None, {"clientOrderId": "web-eth-f"})
    reconcile(h)
    assert failed, "the balances did point at ETHBTC"
    reconcile(h)
    reconcile(h)
    assert h.trades("BINANCE.web-eth-f"), "the outside ETHBTC fill was never reported"


def test_usdm_outside_fill_is_found_after_our_own_cancel_refreshed_positions(usdm):
    """USDⓈ-M, stream deaf: a web-UI market order fills on ETHUSDT; the trader cancels a resting
    order of ours on BTCUSDT (REST answers CANCELLED, on_finished refreshes balances and
    positions, which now show the ETHUSDT position). The reconciliation after the stream comes
    back compares against that and never reads ETHUSDT's trades."""
    price = round(mark(usdm.sim) * 0.8, 1)
    ours = usdm.order(Direction.LONG, 0.01, OrderType.LIMIT, price)
    usdm.wait_status(ours, Status.NOTTRADED)
    usdm.sim.faults.stall_streams(600, "user")
    outside_usdm(usdm.sim).fapiPrivatePostOrder({"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET",
                                                 "quantity": "0.1", "newClientOrderId": "web-eth-c"})
    usdm.adapter.cancel_order(CancelRequest(client_id(ours), "BTCUSDT", USDM))
    usdm.wait_status(ours, Status.CANCELLED)
    usdm.wait(lambda e: e.type == "ePosition." and e.data.symbol == "ETHUSDT" and e.data.volume != 0)
    reconcile(usdm)
    assert usdm.trades("BINANCE_USDM.web-eth-c"), "the outside ETHUSDT fill was never reported"


def test_usdm_outside_round_trip_missed_by_the_stream_is_found(usdm):
    """The heuristic only sees net position changes. Another bot opens and closes 0.1 ETHUSDT
    while the stream is deaf: realised PnL and commissions moved the margin balance, but the
    position is flat again, so reconciliation reads no ETHUSDT trades (Binance's income history
    names the symbol of every commission and realised PnL)."""
    usdm.sim.faults.stall_streams(600, "user")
    outside = outside_usdm(usdm.sim)
    outside.fapiPrivatePostOrder({"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1",
                                  "newClientOrderId": "web-eth-open"})
    outside.fapiPrivatePostOrder({"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.1",
                                  "reduceOnly": "true", "newClientOrderId": "web-eth-close"})
    reconcile(usdm)
    assert usdm.trades("BINANCE_USDM.web-eth-open") and usdm.trades("BINANCE_USDM.web-eth-close")


# -- logs: tracebacks rendered into the message ---------------------------------------------------
def test_the_traceback_redaction_never_loses_a_record_on_odd_exceptions():
    """The patch renders tracebacks itself; an exception whose str() raises, a bogus __notes__,
    a deep recursion or opt(exception=True) with no active exception must still be logged
    (a patcher that raised would propagate into the caller, e.g. the submission crash path)."""
    from loguru import logger

    from foxtrot_binance.logs import get_logger

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("str failed")

    class BadNotes(Exception):
        __notes__ = 5

    def recurse(n: int) -> int:
        return recurse(n + 1)

    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}", level="DEBUG")
    logger.enable("foxtrot_binance")
    try:
        log = get_logger("REVIEW")
        for exc_type in (Unprintable, BadNotes):
            try:
                raise exc_type("signature=abcdef0123456789")
            except exc_type:
                log.exception("odd {}", exc_type.__name__)
        try:
            recurse(0)
        except RecursionError:
            log.exception("deep")
        log.opt(exception=True).error("no active exception")
    finally:
        logger.disable("foxtrot_binance")
        logger.remove(sink)
    assert [line.split("\n", 1)[0] for line in lines] == [
        "odd Unprintable", "odd BadNotes", "deep", "no active exception"]
    assert all("abcdef0123456789" not in line for line in lines)
