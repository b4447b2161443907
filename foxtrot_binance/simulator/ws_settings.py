"""Tunables of the simulator's websocket layer, shared by the market and user-data routes.

Binance's real values (20 s / 3 min server pings, 24 h connection life, 60 min listenKey
validity) are the defaults; tests shrink them so that a scheduled reconnect, a missed pong or
a listenKey expiry can be exercised in milliseconds. The one instance lives in
``ctx.extras["ws_settings"]`` so that whoever holds the context (the simulator, a test) can
change it while the server runs: every connection reads it when it needs a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SETTINGS_KEY = "ws_settings"


@dataclass
class WsSettings:
    ping_interval_spot: float | None = 20.0
    """Seconds between server PINGs on spot connections (None: never ping)."""
    ping_interval_usdm: float | None = 180.0
    """Seconds between server PINGs on USDⓈ-M connections (None: never ping)."""
    max_connection_age: float | None = None
    """Seconds after which a connection is closed (Binance: 86400). None: never."""
    max_queue: int = 50_000
    """Frames one connection may have waiting; a consumer that falls further behind is cut off."""
    enforce_message_rate: bool = True
    """Disconnect clients that send more text messages per second than Binance allows."""
    listen_key_ttl: float = 3600.0
    """Seconds a futures listenKey stays valid without a keep-alive (Binance: 60 min)."""
    housekeeping_interval: float = 0.05
    """How often listenKey expiry and the fault generation are checked (seconds)."""

    def ping_interval(self, kind: str) -> float | None:
        return self.ping_interval_spot if kind == "spot" else self.ping_interval_usdm


def settings_for(ctx: Any) -> WsSettings:
    """The context's websocket settings, created on first use (CORE's context has ``extras``)."""
    extras = getattr(ctx, "extras", None)
    if extras is None:
        extras = {}
        try:
            ctx.extras = extras
        except AttributeError:  # a frozen stand-in: settings stay per call site
            return WsSettings()
    settings = extras.get(SETTINGS_KEY)
    if not isinstance(settings, WsSettings):
        settings = WsSettings()
        extras[SETTINGS_KEY] = settings
    return settings
