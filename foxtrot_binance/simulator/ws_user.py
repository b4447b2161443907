"""User-data streams of the simulator: the spot WebSocket API and the USD-M listenKey stream."""

from __future__ import annotations

from typing import Any


def add_user_routes(app: Any, ctx: Any) -> None:
    """Register the user-data websocket routes (and the listenKey REST endpoints)."""
