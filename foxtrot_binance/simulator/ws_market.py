"""Market websocket streams of the simulator (raw, combined, SUBSCRIBE protocol)."""

from __future__ import annotations

from typing import Any


def add_market_routes(app: Any, ctx: Any) -> None:
    """Register the market-stream websocket routes on the simulator's aiohttp app."""
