"""FillAudit on its own loop: which orders make it read trades from REST, and when.

End to end (a fill lost in a stall, recovered after the order completed) is in
test_user_stream_review.py::test_a_partial_fill_the_stream_lost_is_recovered_when_the_order_completes.
"""

from __future__ import annotations

import asyncio
import time

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


class Log:
    """Records the audit's warnings (message template and arguments), as loguru would get them."""

    def __init__(self) -> None:
        self.warnings: list[tuple[str, tuple[object, ...]]] = []

    def warning(self, message: str, *args: object) -> None:
        self.warnings.append((message, args))

    def retry_delays(self) -> list[float]:
        return [float(args[-1]) for message, args in self.warnings if "reading again in" in message]  # type: ignore[arg-type]


def test_a_gap_found_while_its_symbol_is_being_read_is_read_again_when_that_read_ends():
    """The running read's snapshot may predate the second order's fill: one more read follows."""

    async def run() -> list[str]:
        audit: FillAudit
        first_read_running = asyncio.Event()
        release = asyncio.Event()
        reads: list[str] = []

        async def recover(symbol_id: str) -> None:
            reads.append(symbol_id)
            if len(reads) == 1:
                first_read_running.set()
                await release.wait()
                audit.on_trade("a", 1.0)  # the first read brings a's fill only
            else:
                audit.on_trade("b", 1.0)

        audit = FillAudit(recover, logger, grace_s=0.0)
        audit.on_order("a", "BTCUSDT", 1.0, finished=True, whole_life=True)
        async with asyncio.timeout(5):
            await first_read_running.wait()
            audit.on_order("b", "BTCUSDT", 1.0, finished=True, whole_life=True)  # filled after that read
            while "b" in audit._checks:  # b's check ran (and met the running read)
                await asyncio.sleep(0)
            release.set()
            while audit.short_orders() or audit._recovering:
                await asyncio.sleep(0)
        assert not audit._retries and not audit._attempts and not audit._again
        return reads

    assert asyncio.run(run()) == ["BTCUSDT", "BTCUSDT"]


def test_a_failed_read_is_retried_with_a_doubling_capped_wait_until_the_gap_closes():
    async def run() -> tuple[int, list[float], FillAudit]:
        log = Log()
        done = asyncio.Event()
        audit: FillAudit
        calls = 0

        async def recover(symbol_id: str) -> None:
            nonlocal calls
            calls += 1
            if calls <= 5:
                raise ConnectionError("connection reset (after 3 attempts)")
            audit.on_trade("a", 1.0)
            done.set()

        audit = FillAudit(recover, log, grace_s=0.0, retry_base_s=0.001, retry_max_s=0.004)
        audit.on_order("a", "ETHUSDT", 1.0, finished=True, whole_life=True)
        async with asyncio.timeout(5):
            await done.wait()
            while audit._recovering:
                await asyncio.sleep(0)
        return calls, log.retry_delays(), audit

    calls, delays, audit = asyncio.run(run())
    assert calls == 6
    assert delays == [0.001, 0.002, 0.004, 0.004, 0.004]
    assert not audit._retries and not audit._attempts and not audit._filled  # nothing kept once closed


def test_a_read_refused_during_a_ban_is_retried_no_sooner_than_the_ban_ends():
    from foxtrot_binance.rate_limit import RequestThrottled

    async def run() -> float:
        log = Log()
        refused = asyncio.Event()

        async def recover(symbol_id: str) -> None:
            refused.set()
            raise RequestThrottled("IP banned by Binance (418)", int(time.time() * 1000) + 30_000)

        audit = FillAudit(recover, log, grace_s=0.0, retry_base_s=0.001, retry_max_s=0.004)
        audit.on_order("a", "BTCUSDT", 1.0, finished=True, whole_life=True)
        async with asyncio.timeout(5):
            await refused.wait()
            while "BTCUSDT" not in audit._retries:
                await asyncio.sleep(0)
        wait = audit._retries["BTCUSDT"].when() - asyncio.get_running_loop().time()
        audit.close()
        return wait

    assert 25 < asyncio.run(run()) <= 30


def test_a_read_that_leaves_a_gap_open_is_tried_again_but_close_stops_it():
    """The read succeeded but the trade was not there (yet): another read follows, bounded by
    the backoff; close() cancels what is scheduled."""

    async def run() -> tuple[int, FillAudit]:
        reads = 0
        third = asyncio.Event()

        async def recover(symbol_id: str) -> None:
            nonlocal reads
            reads += 1
            if reads == 3:
                third.set()

        audit = FillAudit(recover, logger, grace_s=0.0, retry_base_s=0.001, retry_max_s=0.001)
        audit.on_order("a", "BTCUSDT", 1.0, finished=True, whole_life=True)
        async with asyncio.timeout(5):
            await third.wait()
            while "BTCUSDT" not in audit._retries:
                await asyncio.sleep(0)
        audit.close()
        return reads, audit

    reads, audit = asyncio.run(run())
    assert reads == 3 and not audit._retries
