"""The tradable symbols, taken verbatim from real exchangeInfo captures (shipped in data/).

Real entries (filters, precisions, orderTypes, permissions) keep ccxt's market parsing on the
production path: precision and limits come out exactly as they would against Binance.
Spot ``orderTypes`` were widened with STOP_LOSS / TAKE_PROFIT (valid Binance types that the
captured symbols happened not to list) because ccxt refuses types a market does not list.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from .errors import BinanceError, bad_precision, filter_failure

Kind = Literal["spot", "usdm"]
KINDS: tuple[Kind, ...] = ("spot", "usdm")
ZERO = Decimal(0)


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("data/instruments.json").read_text()
    return json.loads(text)


def exchange_meta(kind: Kind) -> dict[str, Any]:
    """rateLimits, timezone, exchangeFilters (and futures assets) of the captured exchangeInfo."""
    return copy.deepcopy({k: v for k, v in _data()[kind].items() if k != "symbols"})


def fmt(value: Decimal, places: int = 8) -> str:
    """Binance prints decimals as fixed-point strings (spot: 8 places)."""
    return f"{value:.{places}f}"


@dataclass(frozen=True)
class Instrument:
    kind: Kind
    symbol: str
    base: str
    quote: str
    margin_asset: str
    tick: Decimal
    min_price: Decimal
    max_price: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    start_price: Decimal
    order_types: tuple[str, ...]
    info: dict[str, Any] = field(repr=False, compare=False, hash=False)

    @property
    def price_places(self) -> int:
        return max(0, -self.tick.normalize().as_tuple().exponent)  # type: ignore[operator]

    @property
    def qty_places(self) -> int:
        return max(0, -self.step.normalize().as_tuple().exponent)  # type: ignore[operator]

    def round_price(self, price: Decimal) -> Decimal:
        ticks = (price / self.tick).to_integral_value(rounding=ROUND_DOWN)
        return max(self.tick, ticks * self.tick)

    def fp(self, price: Decimal) -> str:
        """Price as Binance prints it for this kind (spot 8 places, futures the tick's places)."""
        return fmt(price, 8 if self.kind == "spot" else self.price_places)

    def fq(self, qty: Decimal) -> str:
        return fmt(qty, 8 if self.kind == "spot" else self.qty_places)

    # -- filters (filters.md): the error strings are the ones ccxt pattern-matches ---------
    def _precision(self, value: Decimal, places: int) -> None:
        """More decimals than the asset allows is -1111 on both markets (before any filter)."""
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise bad_precision()

    def check_price(self, price: Decimal, name: str = "price") -> None:
        self._precision(price, 8 if self.kind == "spot" else int(self.info.get("pricePrecision", 8)) + 2)
        if price <= ZERO:
            raise filter_failure("PRICE_FILTER")
        if (self.min_price > ZERO and price < self.min_price) or (self.max_price > ZERO and price > self.max_price):
            raise filter_failure("PRICE_FILTER")
        if price % self.tick != ZERO:
            if self.kind == "usdm":
                raise BinanceError(400, -4014, "Price not increased by tick size.")
            raise filter_failure("PRICE_FILTER")

    def check_qty(self, qty: Decimal, market: bool = False) -> None:
        self._precision(qty, 8 if self.kind == "spot" else int(self.info.get("quantityPrecision", 8)))
        step = self.market_step if market and self.market_step > ZERO else self.step
        lo = self.market_min_qty if market and self.market_min_qty > ZERO else self.min_qty
        hi = self.market_max_qty if market and self.market_max_qty > ZERO else self.max_qty
        if qty <= ZERO or qty < lo or (hi > ZERO and qty > hi):
            raise filter_failure("MARKET_LOT_SIZE" if market and self.kind == "spot" and qty > ZERO else "LOT_SIZE")
        if step > ZERO and qty % step != ZERO:
            raise filter_failure("LOT_SIZE")


def _filters(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["filterType"]: f for f in entry.get("filters", [])}


def _dec(d: dict[str, Any], key: str, default: str = "0") -> Decimal:
    return Decimal(str(d.get(key, default)))


def _instrument(kind: Kind, entry: dict[str, Any], price: str) -> Instrument:
    f = _filters(entry)
    pf, lot = f.get("PRICE_FILTER", {}), f.get("LOT_SIZE", {})
    mlot = f.get("MARKET_LOT_SIZE", {})
    notional = f.get("NOTIONAL") or f.get("MIN_NOTIONAL") or {}
    min_notional = _dec(notional, "minNotional") if "minNotional" in notional else _dec(notional, "notional")
    inst = Instrument(
        kind=kind,
        symbol=entry["symbol"],
        base=entry["baseAsset"],
        quote=entry["quoteAsset"],
        margin_asset=entry.get("marginAsset", entry["quoteAsset"]),
        tick=_dec(pf, "tickSize", "0.01").normalize(),
        min_price=_dec(pf, "minPrice"),
        max_price=_dec(pf, "maxPrice"),
        step=_dec(lot, "stepSize", "0.001").normalize(),
        min_qty=_dec(lot, "minQty"),
        max_qty=_dec(lot, "maxQty"),
        market_step=_dec(mlot, "stepSize"),
        market_min_qty=_dec(mlot, "minQty"),
        market_max_qty=_dec(mlot, "maxQty"),
        min_notional=min_notional,
        start_price=Decimal(price),
        order_types=tuple(entry.get("orderTypes", ())),
        info=entry,
    )
    return inst


class Instruments:
    """The symbol set of one simulator, per kind; ``symbols`` restricts it (both kinds)."""

    def __init__(self, symbols: list[str] | None = None) -> None:
        data = _data()
        wanted = {s.upper() for s in symbols} if symbols else None
        self._by_kind: dict[Kind, dict[str, Instrument]] = {}
        for kind in KINDS:
            table: dict[str, Instrument] = {}
            for entry in data[kind]["symbols"]:
                if wanted is not None and entry["symbol"] not in wanted:
                    continue
                price = data["prices"].get(entry["symbol"], "100")
                table[entry["symbol"]] = _instrument(kind, entry, price)
            self._by_kind[kind] = table
        if wanted is not None:
            unknown = wanted - set(self._by_kind["spot"]) - set(self._by_kind["usdm"])
            if unknown:
                raise ValueError(f"unknown symbols: {sorted(unknown)}")

    def get(self, kind: Kind, symbol: str) -> Instrument | None:
        return self._by_kind[kind].get(symbol)

    def all(self, kind: Kind) -> list[Instrument]:
        return list(self._by_kind[kind].values())

    def symbols(self, kind: Kind) -> list[str]:
        return list(self._by_kind[kind])

    def assets(self) -> set[str]:
        return {a for k in KINDS for i in self.all(k) for a in (i.base, i.quote)}
