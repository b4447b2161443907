"""Contracts of one market kind, and how any spelling of a symbol resolves to one of them.

Resolution goes through the markets ccxt loaded for this kind only, never through string
heuristics: ``BTCUSDT``, ``btcusdt``, ``BTCUSDT.BINANCE`` and ``BTC/USDT`` all find the spot
pair in the spot adapter, and the perpetual (``BTC/USDT:USDT``) in the USDⓈ-M adapter, so
the two never collide. Rounding and filter checks live here too, because they need the
contract's tick size, step size and notional limits and must run before anything is sent.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from foxtrot_hooks import ContractData

from foxtrot_binance.binance_mappings import as_float
from foxtrot_binance.market_kind import MarketKind

VOLUME_NOISE_STEPS = Decimal("1e-9")
"""How far below a step boundary (in steps) a volume still counts as the boundary: float
arithmetic errs by ~1e-16 relative, a real intent to trade less is at least a whole step."""


@dataclass(frozen=True)
class Instrument:
    """What the managers need of one market: the ccxt market and the foxtrot contract."""

    id: str  # Binance id, e.g. BTCUSDT
    ccxt_symbol: str  # BTC/USDT or BTC/USDT:USDT
    contract: ContractData
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal | None
    min_notional: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal | None
    order_types: frozenset[str]


class InvalidOrderRequest(ValueError):
    """A request that must be rejected locally: the message is the trader-facing reason."""


class ContractManager:
    """Holds this kind's instruments; safe to read from any thread once loaded."""

    def __init__(self, kind: MarketKind, adapter_name: str) -> None:
        self.kind = kind
        self.adapter_name = adapter_name
        self._by_id: dict[str, Instrument] = {}
        self._aliases: dict[str, Instrument] = {}
        self._lock = threading.Lock()

    # -- loading ----------------------------------------------------------------------
    def load(self, markets: dict[str, dict[str, Any]]) -> list[ContractData]:
        """Build instruments from ccxt's ``exchange.markets``; returns the new contracts."""
        by_id: dict[str, Instrument] = {}
        aliases: dict[str, Instrument] = {}
        for market in markets.values():
            if not self.kind.owns(market) or not market.get("active", True):
                continue
            instrument = self._instrument(market)
            by_id[instrument.id] = instrument
            for alias in self._spellings(market):
                aliases.setdefault(alias, instrument)
        with self._lock:
            self._by_id, self._aliases = by_id, aliases
        return [i.contract for i in by_id.values()]

    def _spellings(self, market: dict[str, Any]) -> list[str]:
        market_id = market["id"].upper()
        symbol = market["symbol"].upper()
        spellings = [market_id, f"{market_id}.{self.kind.exchange.value}", symbol]
        if self.kind is MarketKind.USDM and ":" in symbol:
            spellings.append(symbol.split(":", 1)[0])  # BTC/USDT means the perpetual here
        return spellings

    def _instrument(self, market: dict[str, Any]) -> Instrument:
        filters = {f.get("filterType"): f for f in (market.get("info") or {}).get("filters", [])}
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        tick = _dec(filters.get("PRICE_FILTER", {}).get("tickSize") or precision.get("price"))
        step = _dec(filters.get("LOT_SIZE", {}).get("stepSize") or precision.get("amount"))
        min_qty = _dec((limits.get("amount") or {}).get("min")) or step
        max_qty = _dec_or_none((limits.get("amount") or {}).get("max"))
        notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
        min_notional = _dec(notional.get("minNotional") or notional.get("notional") or (limits.get("cost") or {}).get("min"))
        market_lot = filters.get("MARKET_LOT_SIZE", {})
        market_min = _dec(market_lot.get("minQty")) or min_qty
        market_max = _dec_or_none(market_lot.get("maxQty")) or max_qty
        if market_max is not None and market_max == 0:
            market_max = max_qty
        info = market.get("info") or {}
        order_types = frozenset(info.get("orderTypes") or [])
        contract = ContractData(
            adapter_name=self.adapter_name,
            symbol=market["id"],
            exchange=self.kind.exchange,
            name=market["symbol"],
            product=self.kind.product,
            size=as_float(market.get("contractSize"), 1.0) or 1.0,
            pricetick=float(tick),
            min_volume=float(min_qty),
            max_volume=float(max_qty) if max_qty is not None else None,
            stop_supported=bool(order_types & {"STOP_LOSS", "STOP_LOSS_LIMIT", "STOP_MARKET", "STOP"}),
            net_position=True,
            history_data=True,
        )
        contract.extra = {
            "base": market.get("base"),
            "quote": market.get("quote"),
            "settle": market.get("settle"),
            "step_size": float(step),
            "min_notional": float(min_notional),
            "market_min_volume": float(market_min),
            "order_types": sorted(order_types),
            "ccxt_symbol": market["symbol"],
        }
        return Instrument(
            id=market["id"], ccxt_symbol=market["symbol"], contract=contract, tick_size=tick, step_size=step,
            min_qty=min_qty, max_qty=max_qty, min_notional=min_notional, market_min_qty=market_min,
            market_max_qty=market_max, order_types=order_types,
        )

    # -- lookup -----------------------------------------------------------------------
    def resolve(self, symbol: str) -> Instrument | None:
        """The instrument for any accepted spelling, or None (unknown, or another kind's)."""
        key = symbol.strip().upper()
        with self._lock:
            found = self._aliases.get(key)
            if found is None and "." in key:
                base, _, exchange = key.rpartition(".")
                if exchange == self.kind.exchange.value:
                    found = self._aliases.get(base)
        return found

    def by_id(self, binance_id: str) -> Instrument | None:
        with self._lock:
            return self._by_id.get(binance_id.upper())

    def contracts(self) -> list[ContractData]:
        with self._lock:
            return [i.contract for i in self._by_id.values()]

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_id)

    # -- rounding and filters ---------------------------------------------------------
    @staticmethod
    def round_price(instrument: Instrument, price: float) -> Decimal:
        """Nearest tick: a limit price is what the trader meant, rounding both ways is fair."""
        return _quantize(Decimal(str(price)), instrument.tick_size, ROUND_HALF_UP)

    @staticmethod
    def round_volume(instrument: Instrument, volume: float) -> Decimal:
        """Down to the step: never trade more than asked for.

        Except float noise: ``0.3 - 0.1`` is 0.19999999999999998, and a strategy closing
        "position minus what is closed" means 0.2. A value within a billionth of a step below
        a step boundary counts as that boundary; rounding it down would leave a whole step of
        the position open."""
        step = instrument.step_size
        value = Decimal(str(volume))
        if step <= 0:
            return value
        steps = value / step
        whole = steps.to_integral_value(rounding=ROUND_CEILING)
        if whole - steps >= VOLUME_NOISE_STEPS:
            whole = steps.to_integral_value(rounding=ROUND_DOWN)
        return (whole * step).normalize()

    def check_order(
        self,
        instrument: Instrument,
        volume: float,
        price: float | None,
        *,
        market: bool,
        reference_price: float | None,
        check_notional: bool = True,
    ) -> tuple[Decimal, Decimal | None]:
        """Rounded (volume, price) or InvalidOrderRequest with the reason. ``reference_price``
        (last or best price) is used for the notional of market orders. ``check_notional``
        is off for USDⓈ-M reduce-only orders, which Binance exempts from MIN_NOTIONAL."""
        if not (volume > 0) or not math.isfinite(volume):
            raise InvalidOrderRequest(f"volume must be a positive number, got {volume}")
        qty = self.round_volume(instrument, volume)
        min_qty = instrument.market_min_qty if market else instrument.min_qty
        max_qty = instrument.market_max_qty if market else instrument.max_qty
        if qty <= 0 or qty < min_qty:
            raise InvalidOrderRequest(
                f"volume {volume} is below the minimum {min_qty} of {instrument.id} after rounding to step {instrument.step_size}"
            )
        if max_qty is not None and qty > max_qty:
            raise InvalidOrderRequest(f"volume {volume} is above the maximum {max_qty} of {instrument.id}")
        rounded_price: Decimal | None = None
        if price is not None:
            if not (price > 0) or not math.isfinite(price):
                raise InvalidOrderRequest(f"price must be a positive number, got {price}")
            rounded_price = self.round_price(instrument, price)
            if rounded_price <= 0:
                raise InvalidOrderRequest(f"price {price} rounds to zero with tick {instrument.tick_size}")
        notional_price = rounded_price if rounded_price is not None else _dec_or_none(reference_price)
        if (
            check_notional
            and notional_price is not None
            and instrument.min_notional > 0
            and qty * notional_price < instrument.min_notional
        ):
            raise InvalidOrderRequest(
                f"order value {qty * notional_price:f} is below the minimum notional {instrument.min_notional:f} of {instrument.id}"
            )
        return qty, rounded_price


def _dec(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    return Decimal(str(value)).normalize()


def _dec_or_none(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value)).normalize()


def _quantize(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    if step <= 0:
        return value
    return ((value / step).to_integral_value(rounding=rounding) * step).normalize()
