"""FillAudit on its own loop: which orders make it read trades from REST, and when.

End to end (a fill lost in a stall, recovered after the order completed) is in
test_user_stream_review.py::test_a_partial_fill_the_stream_lost_is_recovered_when_the_order_completes.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from foxtrot_binance.fill_audit import FillAudit


class Recovery:
    def __init__(self) -> None:
        self.symbols: list[str] = []
        self.called = asyncio.Event()

    async def __call__(self, symbol_id: str) -> None:
        self.symbols.append(symbol_id)
        self.called.set()


def audit_with(recovery: Recovery) -> FillAudit:
    return FillAudit(recovery, logger, grace_s=0.01)


def test_an_order_whose_trades_fall_short_makes_its_symbol_be_read():
    async def run() -> tuple[list[str], int]:
        recovery = Recovery()
        audit = audit_with(recovery)
        audit.on_order("a", "BTCUSDT", 0.0, finished=False, whole_life=True)
        audit.on_trade("a", 0.006)
        audit.on_order("a", "BTCUSDT", 0.01, finished=True, whole_life=True)  # 0.004 never arrived
        async with asyncio.timeout(5):
            await recovery.called.wait()
        return recovery.symbols, audit.recoveries

    assert asyncio.run(run()) == (["BTCUSDT"], 1)


def test_a_trade_that_trails_its_order_update_within_the_grace_time_is_no_gap():
    async def run() -> tuple[list[str], int]:
        recovery = Recovery()
        audit = FillAudit(recovery, logger, grace_s=0.05)
        audit.on_order("b", "ETHUSDT", 0.5, finished=True, whole_life=True)  # REST said FILLED first
        audit.on_trade("b", 0.5)  # the stream's trade, a moment later
        # a third order's gap proves the clock ran past b's grace time
        audit.on_order("c", "BNBUSDT", 1.0, finished=True, whole_life=True)
        async with asyncio.timeout(5):
            await recovery.called.wait()
        return recovery.symbols, len(audit._filled)

    symbols, tracked = asyncio.run(run())
    assert symbols == ["BNBUSDT"]
    assert tracked == 1  # b is complete and forgotten; c waits for its trades


def test_an_order_filled_before_this_session_is_not_audited():
    async def run() -> list[str]:
        recovery = Recovery()
        audit = audit_with(recovery)
        audit.on_order("old", "BTCUSDT", 2.0, finished=True, whole_life=False)  # its fills are not replayed
        audit.on_order("new", "ETHUSDT", 1.0, finished=True, whole_life=True)
        async with asyncio.timeout(5):
            await recovery.called.wait()
        return recovery.symbols

    assert asyncio.run(run()) == ["ETHUSDT"]


def test_several_short_orders_of_one_symbol_read_it_once_at_a_time():
    async def run() -> list[str]:
        release = asyncio.Event()
        symbols: list[str] = []

        async def slow(symbol_id: str) -> None:
            symbols.append(symbol_id)
            await release.wait()

        audit = FillAudit(slow, logger, grace_s=0.0)
        for client_id in ("x", "y", "z"):
            audit.on_order(client_id, "BTCUSDT", 1.0, finished=True, whole_life=True)
        async with asyncio.timeout(5):
            while len(audit._checks):  # every check ran
                await asyncio.sleep(0)
        release.set()
        return symbols

    assert asyncio.run(run()) == ["BTCUSDT"]


def test_a_trade_that_precedes_its_orders_first_update_still_counts():
    async def run() -> tuple[list[str], int]:
        recovery = Recovery()
        audit = audit_with(recovery)
        audit.on_trade("early", 0.3)  # the stream's trade before any update of its order
        audit.on_order("early", "BTCUSDT", 0.3, finished=True, whole_life=True)
        audit.on_order("gap", "ETHUSDT", 1.0, finished=True, whole_life=True)  # proves the clock ran
        async with asyncio.timeout(5):
            await recovery.called.wait()
        return recovery.symbols, audit.recoveries

    assert asyncio.run(run()) == (["ETHUSDT"], 1)


def test_trades_of_orders_it_does_not_audit_take_bounded_memory():
    """A long session keeps receiving fills of orders placed before it (never audited):
    remembering each one's trades for ever would grow without end."""
    from foxtrot_binance.fill_audit import EARLY_TRADES_KEPT

    audit = audit_with(Recovery())
    for n in range(EARLY_TRADES_KEPT * 3):
        audit.on_order(f"old{n}", "BTCUSDT", 1.0, finished=False, whole_life=False)
        audit.on_trade(f"old{n}", 0.5)
        audit.on_trade(f"old{n}", 0.5)
    assert audit._reported == {} and audit._filled == {}
    assert len(audit._early) == EARLY_TRADES_KEPT
