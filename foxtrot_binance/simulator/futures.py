"""USD-M futures engine (placeholder while the spot path is brought up)."""

from __future__ import annotations

from typing import Any


class FuturesEngine:
    def __init__(self, instruments: Any, markets: Any, bus: Any, clock: Any) -> None:
        self._markets = markets

    def on_price(self, market: Any, volume_lots: int | None) -> None:
        return None

    def apply_funding(self, market: Any, accounts: Any) -> None:
        return None
