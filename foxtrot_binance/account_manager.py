"""Balances (and, for USDⓈ-M, positions) as AccountData / PositionData events.

Spot: one AccountData per asset held, balance = free + locked, frozen = locked. Updates come
from the user stream (partial: only the assets that changed) and from REST refreshes (full);
an asset is emitted when its numbers change, and once with zero when it is gone, so the
host never keeps a stale balance. Spot has no positions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from foxtrot_hooks import AccountData, PositionData

from foxtrot_binance.binance_mappings import as_float
from foxtrot_binance.market_kind import MarketKind


class AccountManager:
    def __init__(
        self,
        kind: MarketKind,
        adapter_name: str,
        on_account: Callable[[AccountData], None],
        on_position: Callable[[PositionData], None],
        log: Any,
    ) -> None:
        self.kind = kind
        self.adapter_name = adapter_name
        self._on_account = on_account
        self._on_position = on_position
        self._log = log
        self._last: dict[str, tuple[float, float]] = {}  # asset -> (balance, frozen) last emitted
        self.rest: Any = None

    async def refresh(self) -> None:
        """Full balance snapshot from REST (weight 20 spot, 5 USDⓈ-M)."""
        balance = await self.rest.call("fetch_balance", weight=20 if self.kind is MarketKind.SPOT else 5)
        self.apply_balance(balance, full=True)

    def apply_balance(self, balance: dict[str, Any], *, full: bool) -> None:
        """Apply a ccxt balance structure. ``full``: assets absent from it are now zero."""
        totals = balance.get("total") or {}
        used = balance.get("used") or {}
        seen: set[str] = set()
        for asset, total in totals.items():
            if total is None:
                continue
            seen.add(asset)
            self._emit(asset, as_float(total), as_float(used.get(asset)))
        if full:
            for asset in [a for a in self._last if a not in seen]:
                self._emit(asset, 0.0, 0.0)

    def _emit(self, asset: str, balance: float, frozen: float) -> None:
        previous = self._last.get(asset)
        if previous == (balance, frozen) or (previous is None and balance == 0 and frozen == 0):
            return
        self._last[asset] = (balance, frozen)
        self._on_account(AccountData(adapter_name=self.adapter_name, accountid=asset, balance=balance, frozen=frozen))

    def balances(self) -> dict[str, tuple[float, float]]:
        return dict(self._last)

    async def refresh_positions(self) -> None:
        """Spot has no positions: nothing is emitted. USDⓈ-M positions arrive with issue 5."""
        return None
