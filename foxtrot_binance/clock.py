"""The offset between our clock and Binance's, so signed requests land inside recvWindow.

Binance rejects a signed request whose timestamp is more than recvWindow behind its clock
or 1 s ahead of it (-1021). Local clocks drift and VMs jump, so the offset is measured at
connect, re-measured whenever -1021 comes back, and fed to ccxt (``timeDifference``).
"""

from __future__ import annotations

import time
from typing import Any


class ClockSync:
    def __init__(self, exchange: Any) -> None:
        self._exchange = exchange
        self.offset_ms: int = 0  # server minus local
        self.round_trip_ms: int = 0

    async def sync(self) -> int:
        """Measure the offset (midpoint of the round trip) and apply it; returns the offset."""
        sent = _local_ms()
        server = int(await self._exchange.fetch_time())
        received = _local_ms()
        self.round_trip_ms = received - sent
        self.offset_ms = server - (sent + received) // 2
        # ccxt signs with nonce() = milliseconds() - options["timeDifference"]
        self._exchange.options["timeDifference"] = -self.offset_ms
        return self.offset_ms

    def now_ms(self) -> int:
        """Binance's clock as best we know it."""
        return _local_ms() + self.offset_ms


def _local_ms() -> int:
    return time.time_ns() // 1_000_000
