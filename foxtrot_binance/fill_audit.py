"""Fills an order shows but no trade brought: noticed, and fetched from REST.

Every order update carries the order's cumulative filled quantity, and every fill also
arrives as a trade of its own. When an order's trades add up to less than its filled
quantity for longer than a moment, a fill was lost on the way: a frame lost in a stall, an
update dropped on an error. Reconciliation would find it after the next reconnect, or within
a minute while orders are working, but a completed order gets no further update and no
periodic reconciliation runs when nothing is active: the trader's position, built from
trades, would stay wrong. So the audit asks for that symbol's trades right away.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

FILL_GAP_GRACE_S = 2.0
"""How long a gap may last before REST is asked: a fill's trade can trail its order update
(a USDⓈ-M order answered FILLED by REST, with its trade still on the stream)."""

EARLY_TRADES_KEPT = 1024
"""Orders whose trades are remembered before any update of the order itself. Most of them
are orders the audit ignores (filled before this session); the bound keeps a long session's
memory flat. Forgetting one costs at most a needless REST read, never a fill."""


class FillAudit:
    """Per-order sums of reported fills against filled quantities. Runs on the I/O loop."""

    def __init__(self, recover: Callable[[str], Awaitable[None]], log: Any, grace_s: float = FILL_GAP_GRACE_S) -> None:
        self._recover = recover  # reads the trades of one symbol (its Binance id) from REST
        self._log = log
        self.grace_s = grace_s
        self._reported: dict[str, float] = {}  # audited client id -> volume of the trades emitted
        # trades of orders not (yet) audited: a trade may precede its order's first update
        self._early: OrderedDict[str, float] = OrderedDict()
        self._filled: dict[str, tuple[str, float]] = {}  # client id -> (symbol, filled per the order)
        self._checks: dict[str, asyncio.TimerHandle] = {}
        self._finished: set[str] = set()
        self._recovering: set[str] = set()
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

    def close(self) -> None:
        for handle in self._checks.values():
            handle.cancel()
        self._checks.clear()

    def _short(self, client_id: str) -> bool:
        symbol_filled = self._filled.get(client_id)
        if symbol_filled is None:
            return False
        filled = symbol_filled[1]
        return filled - self._reported.get(client_id, 0.0) > max(1e-12, filled * 1e-9)

    def _check(self, client_id: str) -> None:
        self._checks.pop(client_id, None)
        if not self._short(client_id):
            return
        symbol_id = self._filled[client_id][0]
        if symbol_id in self._recovering:
            return  # a read of this symbol is under way; it brings every missing fill
        self._recovering.add(symbol_id)
        self.recoveries += 1
        self._log.warning("order {}: fills missing from the stream; reading {} trades from REST", client_id, symbol_id)
        asyncio.get_running_loop().create_task(self._recover_symbol(symbol_id))

    async def _recover_symbol(self, symbol_id: str) -> None:
        try:
            await self._recover(symbol_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next reconciliation tries again
            self._log.warning("reading {} trades to recover missing fills failed: {}", symbol_id, exc)
        finally:
            self._recovering.discard(symbol_id)
