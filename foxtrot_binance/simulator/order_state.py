"""What every simulated order has, spot or futures: a side, a quantity, how much is filled.

Each market's order dataclass inherits these properties and names its own open statuses
(spot has PENDING_NEW for order-list legs; futures orders have none).
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar


class OrderState:
    open_statuses: ClassVar[tuple[str, ...]]
    side: str
    qty: Decimal
    executed: Decimal
    status: str

    @property
    def buy(self) -> bool:
        return self.side == "BUY"

    @property
    def is_open(self) -> bool:
        return self.status in self.open_statuses

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed
