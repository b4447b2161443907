"""Balances and (USDⓈ-M) positions as AccountData / PositionData events.

Spot: one AccountData per asset held, balance = free + locked, frozen = locked, updated from
the user stream (only assets that changed) and from REST (full).

USDⓈ-M: one AccountData per margin asset, balance = margin balance, frozen = balance -
available, wallet balance and unrealised PnL in ``extra``; positions one per symbol (one-way
mode, Direction.NET, signed volume) or per side (hedge mode, LONG and SHORT). Binance's
ACCOUNT_UPDATE carries only part of what a trader needs (no mark or liquidation price), so a
stream update triggers a REST refresh of the account and positions; refreshes are coalesced
so a burst of fills costs two calls, not one per fill. A position that closes is pushed once
with volume 0 so the host clears it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from foxtrot_hooks import AccountData, Direction, PositionData

from foxtrot_binance.binance_mappings import as_float
from foxtrot_binance.market_kind import MarketKind

_SIDES = {"long": Direction.LONG, "short": Direction.SHORT}


class _Freshness:
    """Numbers REST snapshots when they are asked for, so an answer that arrives after a newer
    one was applied is recognised. Two refreshes can be in flight at once (the host's query, a
    reconcile, the refresh after a stream update); the older answer arriving last would show
    a position or margin balance that no longer exists. Used on the I/O loop only."""

    def __init__(self) -> None:
        self._asked = 0
        self._applied = 0

    def ticket(self) -> int:
        self._asked += 1
        return self._asked

    def outdated(self, ticket: int) -> bool:
        """True when a snapshot asked for later was already applied; otherwise records this one."""
        if ticket < self._applied:
            return True
        self._applied = ticket
        return False


class AccountManager:
    def __init__(
        self,
        kind: MarketKind,
        adapter_name: str,
        on_account: Callable[[AccountData], None],
        on_position: Callable[[PositionData], None],
        log: Any,
        write_log: Callable[[str], None] | None = None,
    ) -> None:
        self.kind = kind
        self.adapter_name = adapter_name
        self._on_account = on_account
        self._on_position = on_position
        self._log = log
        self._write_log = write_log or (lambda msg: None)
        self._last: dict[str, tuple[float, float, float, float]] = {}  # asset -> emitted numbers
        self._as_of: dict[str, int] = {}  # asset -> Binance's account update time behind _last (spot)
        self._positions: dict[tuple[str, Direction], tuple[float, float, float]] = {}
        self.hedge_mode = False
        self.leverages: dict[str, int] = {}  # set through this adapter (positionRisk v3 omits it)
        self.rest: Any = None
        self.contracts: Any = None  # ContractManager, to map ccxt symbols back to Binance ids
        self._refresh_task: asyncio.Task[None] | None = None
        self._dirty = False
        self._margin_freshness = _Freshness()  # USDⓈ-M balances (spot ones carry updateTime)
        self._position_freshness = _Freshness()

    # -- balances -----------------------------------------------------------------------
    async def refresh(self) -> None:
        """Full balance snapshot from REST (weight 20 spot, 5 USDⓈ-M)."""
        ticket = self._margin_freshness.ticket()
        balance = await self.rest.call("fetch_balance", weight=20 if self.kind is MarketKind.SPOT else 5)
        if self.kind is MarketKind.SPOT:
            info = balance.get("info") if isinstance(balance.get("info"), dict) else {}
            self.apply_balance(balance, full=True, as_of=_int_or_none(info.get("updateTime")))
        elif self._margin_freshness.outdated(ticket):
            self._log.debug("an older margin balance snapshot arrived after a newer one; dropped")
        else:
            self._apply_margin_account(balance)

    def apply_balance(self, balance: dict[str, Any], *, full: bool, as_of: int | None = None) -> None:
        """Apply a ccxt spot balance structure. ``full``: assets absent from it are now zero.

        ``as_of`` is Binance's account update time the figures reflect (the stream event's
        ``u``, the REST snapshot's ``updateTime``). A REST answer can arrive after a stream
        event that is newer than it; an asset already shown as of a later time keeps its
        newer figures instead of flickering back.
        """
        totals = balance.get("total") or {}
        used = balance.get("used") or {}
        seen: set[str] = set()
        for asset, total in totals.items():
            if total is None:
                continue
            seen.add(asset)
            if self._is_older(asset, as_of):
                continue
            self._emit(asset, as_float(total), as_float(used.get(asset)))
        if full:
            for asset in [a for a in self._last if a not in seen and not self._is_older(a, as_of)]:
                self._emit(asset, 0.0, 0.0)

    def _is_older(self, asset: str, as_of: int | None) -> bool:
        """True when ``asset`` is already shown as of a later time; otherwise records ``as_of``."""
        if as_of is None:
            return False
        if self._as_of.get(asset, -1) > as_of:
            return True
        self._as_of[asset] = as_of
        return False

    def _apply_margin_account(self, balance: dict[str, Any]) -> None:
        assets = {a.get("asset"): a for a in (balance.get("info") or {}).get("assets", []) if isinstance(a, dict)}
        totals = balance.get("total") or {}
        free = balance.get("free") or {}
        for asset, total in totals.items():
            if total is None:
                continue
            raw = assets.get(asset, {})
            margin = as_float(raw.get("marginBalance"), as_float(total))
            available = as_float(raw.get("availableBalance"), as_float(free.get(asset)))
            self._emit(
                asset, margin, max(0.0, margin - available),
                wallet=as_float(raw.get("walletBalance"), margin), upnl=as_float(raw.get("unrealizedProfit")),
            )

    def _emit(self, asset: str, balance: float, frozen: float, *, wallet: float = 0.0, upnl: float = 0.0) -> None:
        numbers = (balance, frozen, wallet, upnl)
        previous = self._last.get(asset)
        if previous == numbers or (previous is None and balance == 0 and frozen == 0):
            return
        self._last[asset] = numbers
        account = AccountData(adapter_name=self.adapter_name, accountid=asset, balance=balance, frozen=frozen)
        if self.kind is MarketKind.USDM:
            account.extra = {"wallet_balance": wallet, "unrealized_pnl": upnl}
        self._on_account(account)

    def balances(self) -> dict[str, tuple[float, float]]:
        return {asset: numbers[:2] for asset, numbers in self._last.items()}

    def holdings(self) -> dict[str, float]:
        """What a fill changes: spot totals per asset, USDⓈ-M signed volume per position."""
        if self.kind is MarketKind.SPOT:
            return {asset: numbers[0] for asset, numbers in self._last.items()}
        return {f"{symbol}:{direction.value}": numbers[0] for (symbol, direction), numbers in self._positions.items()}

    # -- USDⓈ-M positions ---------------------------------------------------------------
    async def refresh_positions(self) -> None:
        """Spot has no positions: nothing is emitted. USDⓈ-M: every position from REST."""
        if self.kind is MarketKind.SPOT:
            return
        ticket = self._position_freshness.ticket()
        positions = await self.rest.call("fetch_positions", weight=5)
        if self._position_freshness.outdated(ticket):
            self._log.debug("an older position snapshot arrived after a newer one; dropped")
            return
        self.apply_positions(positions)

    def apply_positions(self, positions: list[dict[str, Any]]) -> None:
        """Emit what changed; positions that disappeared are pushed once with volume 0."""
        seen: set[tuple[str, Direction]] = set()
        for position in positions:
            made = self._position(position)
            if made is None:
                continue
            seen.add((made.symbol, made.direction))
            self._emit_position(made)
        for symbol, direction in [key for key in self._positions if key not in seen]:
            self._emit_position(
                PositionData(adapter_name=self.adapter_name, symbol=symbol, exchange=self.kind.exchange, direction=direction)
            )

    def _position(self, data: dict[str, Any]) -> PositionData | None:
        info = data.get("info") or {}
        symbol_id = info.get("symbol")
        if not symbol_id and self.contracts is not None:
            instrument = self.contracts.resolve(data.get("symbol") or "")
            symbol_id = instrument.id if instrument else None
        if not symbol_id:
            return None
        contracts = as_float(data.get("contracts"))
        side = _SIDES.get((data.get("side") or "").lower())
        position_side = (info.get("positionSide") or "BOTH").upper()
        if position_side == "BOTH" and not self.hedge_mode:
            direction = Direction.NET
            volume = contracts if side is not Direction.SHORT else -contracts
        else:
            direction = Direction.LONG if position_side == "LONG" else Direction.SHORT if position_side == "SHORT" else (side or Direction.NET)
            volume = contracts
        position = PositionData(
            adapter_name=self.adapter_name,
            symbol=symbol_id,
            exchange=self.kind.exchange,
            direction=direction,
            volume=volume,
            price=as_float(data.get("entryPrice")),
            pnl=as_float(data.get("unrealizedPnl")),
        )
        position.extra = {
            "mark_price": as_float(data.get("markPrice")),
            "liquidation_price": as_float(data.get("liquidationPrice")),
            "leverage": self.leverages.get(symbol_id) or as_float(data.get("leverage") or info.get("leverage")) or None,
            "margin_type": data.get("marginMode") or info.get("marginType"),
            "position_side": position_side,
        }
        return position

    def _emit_position(self, position: PositionData) -> None:
        key = (position.symbol, position.direction)
        numbers = (position.volume, position.price, position.pnl)
        previous = self._positions.get(key)
        if previous == numbers:
            return
        if position.volume == 0:
            self._positions.pop(key, None)
            if previous is None:
                return
        else:
            self._positions[key] = numbers
        self._on_position(position)

    def positions(self) -> dict[tuple[str, Direction], tuple[float, float, float]]:
        return dict(self._positions)

    # -- stream-driven refresh (USDⓈ-M) ------------------------------------------------------
    def on_account_update(self, info: dict[str, Any] | None = None) -> None:
        """An ACCOUNT_UPDATE arrived: refresh balances and positions, coalescing bursts."""
        reason = ((info or {}).get("a") or {}).get("m")
        if reason == "FUNDING_FEE":
            changes = ", ".join(f"{b.get('a')} {b.get('bc')}" for b in (info or {}).get("a", {}).get("B", []) if b.get("bc"))
            self._write_log(f"Funding fee applied{': ' + changes if changes else ''}")
        self._dirty = True
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.get_running_loop().create_task(self._refresh_while_dirty())

    async def _refresh_while_dirty(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self.refresh()
                await self.refresh_positions()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log.warning("account refresh after a stream update failed: {}", exc)

    async def close(self) -> None:
        if self._refresh_task is not None and not self._refresh_task.done():
            self._refresh_task.cancel()
            await asyncio.gather(self._refresh_task, return_exceptions=True)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
