"""What the HTTP and websocket layers share: the one object every route handler receives.

The websocket layer (ws_market.py, ws_user.py) is written against exactly these attributes:
``bus``, ``faults``, ``now_ms()``, ``auth.account_for_key()`` and ``auth.verify_ws_api()``.
Everything else here is for the REST layer and may grow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .auth import Auth
from .bus import StreamBus
from .faults import Faults

if TYPE_CHECKING:  # pragma: no cover
    from .exchange import Exchange
    from .ratelimit import RateLimiter


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class SimContext:
    bus: StreamBus
    faults: Faults
    auth: Auth = field(init=False)
    exchange: "Exchange | None" = None
    limits: "RateLimiter | None" = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.auth = Auth(self.now_ms, self._new_account)

    def now_ms(self) -> int:
        """The server clock in ms, shifted by ``faults.shift_clock()`` like a drifting exchange."""
        return wall_ms() + self.faults.clock_offset_ms()

    def _new_account(self, api_key: str) -> Any:
        if self.exchange is None:
            raise RuntimeError("the exchange core is not attached yet")
        return self.exchange.new_account(api_key)
