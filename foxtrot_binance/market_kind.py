"""The one parameter that separates the spot adapter from the USDⓈ-M one.

Every manager takes a MarketKind instead of being copied per market: spot and perpetual
``BTCUSDT`` share an id at Binance, so everything keyed by symbol must also be keyed by kind.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from foxtrot_hooks import Exchange, Product


class MarketKind(str, Enum):
    SPOT = "spot"
    USDM = "usdm"

    @property
    def exchange(self) -> Exchange:
        return Exchange.BINANCE if self is MarketKind.SPOT else Exchange.BINANCEUSDM

    @property
    def product(self) -> Product:
        return Product.SPOT if self is MarketKind.SPOT else Product.SWAP

    @property
    def ccxt_market_types(self) -> list[str]:
        """``options.fetchMarkets.types`` for ccxt: load only this kind's markets."""
        return ["spot"] if self is MarketKind.SPOT else ["linear"]

    @property
    def ccxt_default_type(self) -> str:
        return "spot" if self is MarketKind.SPOT else "swap"

    def owns(self, market: dict[str, Any]) -> bool:
        """True for the ccxt markets this kind trades: spot pairs, or linear perpetuals."""
        if self is MarketKind.SPOT:
            return bool(market.get("spot"))
        info = market.get("info") or {}
        return bool(market.get("swap") and market.get("linear")) and info.get("contractType", "PERPETUAL") == "PERPETUAL"
