"""Fills an order shows but no trade brought: noticed, and fetched from REST.

Every order update carries the order's cumulative filled quantity, and every fill also
arrives as a trade of its own. When an order's trades add up to less than its filled
quantity for longer than a moment, a fill was lost on the way: a frame lost in a stall, an
update dropped on an error. Reconciliation would find it after the next reconnect, or within
a minute while orders are working, but a completed order gets no further update and no
periodic reconciliation runs when nothing is active: the trader's position, built from
trades, would stay wrong. So the audit asks for that symbol's trades right away.

For the same reason the audit cannot leave a gap to "the next reconciliation": it reads one
symbol at a time, and after every read it looks at that symbol's orders again. A gap found
while a read was running (that read's snapshot may predate the fill) is read again as soon as
it ends; a gap a read did not close (the read failed, REST refused during a ban, the trade
was not there yet) is read again with a backoff capped at ``RETRY_MAX_S``, until it closes.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

FILL_GAP_GRACE_S = 2.0
"""How long a gap may last before REST is asked: a fill's trade can trail its order update
(a USDⓈ-M order answered FILLED by REST, with its trade still on the stream)."""

RETRY_BASE_S = 1.0
"""First wait before a read that did not close a gap is tried again; doubled each time."""

RETRY_MAX_S = 60.0
"""Cap of that wait: a gap that will not close costs one trades read a minute (weight 20 of
the 2,400 or 6,000 a minute allows), never a storm; during a ban the wait is the ban's end."""

EARLY_TRADES_KEPT = 1024
"""Orders whose trades are remembered before any update of the order itself. Most of them
are orders the audit ignores (filled before this session); the bound keeps a long session's
memory flat. Forgetting one costs at most a needless REST read, never a fill."""


class FillAudit:
    """Per-order sums of reported fills against filled quantities. Runs on the I/O loop."""

    def __init__(
        self,
        recover: Callable[[str], Awaitable[None]],
        log: Any,
        grace_s: float = FILL_GAP_GRACE_S,
        retry_base_s: float = RETRY_BASE_S,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self._recover = recover  # reads the trades of one symbol (its Binance id) from REST
        self._log = log
        self.grace_s = grace_s
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self._reported: dict[str, float] = {}  # audited client id -> volume of the trades emitted
        # trades of orders not (yet) audited: a trade may precede its order's first update
        self._early: OrderedDict[str, float] = OrderedDict()
        self._filled: dict[str, tuple[str, float]] = {}  # client id -> (symbol, filled per the order)
        self._checks: dict[str, asyncio.TimerHandle] = {}
        self._finished: set[str] = set()
        self._recovering: set[str] = set()  # symbols whose trades are being read
        self._reads: set[asyncio.Task[None]] = set()
        # all three keyed by symbol (bounded by the symbols traded), forgotten once its gaps close:
        self._again: set[str] = set()  # a gap was found while the symbol was being read
        self._retries: dict[str, asyncio.TimerHandle] = {}  # the next read of a gap not closed yet
        self._attempts: dict[str, int] = {}  # reads in a row that left a gap open (the backoff)
        self._closed = False
        self.recoveries = 0  # how often a gap made REST be asked (tests and diagnostics)

    def on_trade(self, client_id: str, volume: float) -> None:
        if client_id not in self._filled:
            early = self._early
            early[client_id] = early.pop(client_id, 0.0) + volume
            if len(early) > EARLY_TRADES_KEPT:
                early.popitem(last=False)
            return
        self._reported[client_id] = self._reported.get(client_id, 0.0) + volume
        if client_id in self._finished:
            self._drop_if_complete(client_id)

    def on_order(self, client_id: str, symbol_id: str, filled: float, *, finished: bool, whole_life: bool) -> None:
        """An order update: if its trades do not add up yet, look again after the grace time.

        ``whole_life``: every fill of the order belongs to this session (placed here, or first
        seen unfilled). Fills of an order filled before this session started are not replayed
        by design, so such an order is not audited."""
        if client_id not in self._filled:
            early = self._early.pop(client_id, 0.0)
            if filled > 0 and not whole_life:
                return
            if early:
                self._reported[client_id] = early
        self._filled[client_id] = (symbol_id, filled)
        if finished:
            self._finished.add(client_id)
            self._drop_if_complete(client_id)
        if not self._short(client_id) or client_id in self._checks:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # applied outside the loop (a unit test): nothing to schedule on
            return
        self._checks[client_id] = loop.call_later(self.grace_s, self._check, client_id)

    def _drop_if_complete(self, client_id: str) -> None:
        """A finished order whose fills are all reported needs no more bookkeeping."""
        if not self._short(client_id):
            self._reported.pop(client_id, None)
            self._filled.pop(client_id, None)
            self._finished.discard(client_id)

    def short_orders(self) -> list[str]:
        """Client ids whose reported trades fall short of their filled quantity right now."""
        return [client_id for client_id in self._filled if self._short(client_id)]

    def _gaps_of(self, symbol_id: str) -> list[str]:
        """Client ids of ``symbol_id`` whose reported trades fall short right now."""
        return [c for c in self.short_orders() if self._filled[c][0] == symbol_id]

    def close(self) -> None:
        self._closed = True
        for handle in [*self._checks.values(), *self._retries.values()]:
            handle.cancel()
        self._checks.clear()
        self._retries.clear()

    def _short(self, client_id: str) -> bool:
        symbol_filled = self._filled.get(client_id)
        if symbol_filled is None:
            return False
        filled = symbol_filled[1]
        return filled - self._reported.get(client_id, 0.0) > max(1e-12, filled * 1e-9)

    def _check(self, client_id: str) -> None:
        """An order's grace time is over: read its symbol if its trades still fall short."""
        self._checks.pop(client_id, None)
        if self._closed or not self._short(client_id):
            return
        symbol_id = self._filled[client_id][0]
        if symbol_id in self._recovering:
            # the running read may have taken its snapshot before this fill: read again after it
            self._again.add(symbol_id)
            return
        self._log.warning("order {}: fills missing from the stream; reading {} trades from REST", client_id, symbol_id)
        self._start_read(symbol_id)

    def _start_read(self, symbol_id: str) -> None:
        retry = self._retries.pop(symbol_id, None)
        if retry is not None:  # this read is the retry (or makes it needless); the backoff count stays
            retry.cancel()
        self._recovering.add(symbol_id)
        self.recoveries += 1
        read = asyncio.get_running_loop().create_task(self._recover_symbol(symbol_id))
        self._reads.add(read)  # the loop keeps only a weak reference to a task
        read.add_done_callback(self._reads.discard)

    async def _recover_symbol(self, symbol_id: str) -> None:
        failure: Exception | None = None
        try:
            await self._recover(symbol_id)
        except asyncio.CancelledError:
            self._recovering.discard(symbol_id)
            raise
        except Exception as exc:
            failure = exc
            self._log.warning("reading {} trades to recover missing fills failed: {}", symbol_id, exc)
        self._recovering.discard(symbol_id)
        self._after_read(symbol_id, failure)

    def _after_read(self, symbol_id: str, failure: Exception | None) -> None:
        """Re-check the symbol's orders: nothing else will (no reconciliation runs while no
        order is active, and a completed order gets no further update).

        Orders still inside their grace time are left to their own check. Any other gap is
        read again: at once if it was found during this (successful) read, whose snapshot may
        predate it; otherwise after a doubling wait capped at ``retry_max_s``, and never
        before a ban the weight gate reported is over."""
        found_during_read = symbol_id in self._again
        self._again.discard(symbol_id)
        if self._closed:
            return
        open_gaps = self._gaps_of(symbol_id)
        if not open_gaps:
            self._attempts.pop(symbol_id, None)
            return
        if not [c for c in open_gaps if c not in self._checks]:
            return  # every remaining gap is still within its grace time; its check will come
        if failure is None and found_during_read:
            delay = 0.0
        else:
            attempts = self._attempts.get(symbol_id, 0) + 1
            self._attempts[symbol_id] = attempts
            delay = min(self.retry_max_s, self.retry_base_s * 2 ** (attempts - 1))
            until_ms = getattr(failure, "until_ms", 0)  # RequestThrottled: refused until then
            if until_ms:
                delay = max(delay, until_ms / 1000 - time.time())
            self._log.warning(
                "{} fills still missing after reading {} trades; reading again in {:.1f}s",
                len(open_gaps), symbol_id, delay,
            )
        self._retries[symbol_id] = asyncio.get_running_loop().call_later(delay, self._retry, symbol_id)

    def _retry(self, symbol_id: str) -> None:
        self._retries.pop(symbol_id, None)
        if self._closed or symbol_id in self._recovering:
            return  # a read is running; it re-checks when it ends
        if not self._gaps_of(symbol_id):
            self._attempts.pop(symbol_id, None)  # closed meanwhile (a late trade, a reconciliation)
            return
        self._start_read(symbol_id)
