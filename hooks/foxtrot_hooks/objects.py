"""The foxtrot data model: what adapters emit and what the host sends them.

Field-for-field the platform's dataclasses (same names, order and defaults), so a host
consumes these objects unchanged. Two deliberate strengths over a naive copy: every datetime
an adapter produces is timezone-aware UTC, and ``LogData.time`` is UTC too.

The ``vt_*`` identifiers are computed once at construction, as on the platform: build a new
object rather than mutating ``symbol`` or ``orderid`` afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from logging import INFO
from typing import Any

from foxtrot_hooks.constants import (
    Direction,
    Exchange,
    Interval,
    Offset,
    OptionType,
    OrderType,
    Product,
    Status,
)

ACTIVE_STATUSES = frozenset({Status.SUBMITTING, Status.NOTTRADED, Status.PARTTRADED})


@dataclass
class BaseData:
    """Every emitted object names the adapter it came from; ``extra`` carries venue details."""

    adapter_name: str
    extra: dict[str, Any] | None = field(default=None, init=False)


@dataclass
class TickData(BaseData):
    """Best prices, 24 h statistics and five levels of depth at one moment."""

    symbol: str
    exchange: Exchange
    datetime: datetime

    name: str = ""
    volume: float = 0
    turnover: float = 0
    open_interest: float = 0
    last_price: float = 0
    last_volume: float = 0
    limit_up: float = 0
    limit_down: float = 0

    open_price: float = 0
    high_price: float = 0
    low_price: float = 0
    pre_close: float = 0

    bid_price_1: float = 0
    bid_price_2: float = 0
    bid_price_3: float = 0
    bid_price_4: float = 0
    bid_price_5: float = 0

    ask_price_1: float = 0
    ask_price_2: float = 0
    ask_price_3: float = 0
    ask_price_4: float = 0
    ask_price_5: float = 0

    bid_volume_1: float = 0
    bid_volume_2: float = 0
    bid_volume_3: float = 0
    bid_volume_4: float = 0
    bid_volume_5: float = 0

    ask_volume_1: float = 0
    ask_volume_2: float = 0
    ask_volume_3: float = 0
    ask_volume_4: float = 0
    ask_volume_5: float = 0

    localtime: datetime | None = None

    def __post_init__(self) -> None:
        self.vt_symbol: str = f"{self.symbol}.{self.exchange.value}"


@dataclass
class BarData(BaseData):
    """One candle; ``datetime`` is the bar's open time."""

    symbol: str
    exchange: Exchange
    datetime: datetime

    interval: Interval | None = None
    volume: float = 0
    turnover: float = 0
    open_interest: float = 0
    open_price: float = 0
    high_price: float = 0
    low_price: float = 0
    close_price: float = 0

    def __post_init__(self) -> None:
        self.vt_symbol: str = f"{self.symbol}.{self.exchange.value}"


@dataclass
class OrderData(BaseData):
    """The latest known state of one order."""

    symbol: str
    exchange: Exchange
    orderid: str

    type: OrderType = OrderType.LIMIT
    direction: Direction | None = None
    offset: Offset = Offset.NONE
    price: float = 0
    volume: float = 0
    traded: float = 0
    status: Status = Status.SUBMITTING
    datetime: datetime | None = None
    reference: str = ""

    def __post_init__(self) -> None:
        self.vt_symbol: str = f"{self.symbol}.{self.exchange.value}"
        self.vt_orderid: str = f"{self.adapter_name}.{self.orderid}"

    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def create_cancel_request(self) -> CancelRequest:
        return CancelRequest(orderid=self.orderid, symbol=self.symbol, exchange=self.exchange)


@dataclass
class TradeData(BaseData):
    """One fill. The platform has no fee field: adapters put commission in ``extra``."""

    symbol: str
    exchange: Exchange
    orderid: str
    tradeid: str
    direction: Direction | None = None

    offset: Offset = Offset.NONE
    price: float = 0
    volume: float = 0
    datetime: datetime | None = None

    def __post_init__(self) -> None:
        self.vt_symbol: str = f"{self.symbol}.{self.exchange.value}"
        self.vt_orderid: str = f"{self.adapter_name}.{self.orderid}"
        self.vt_tradeid: str = f"{self.adapter_name}.{self.tradeid}"


@dataclass
class PositionData(BaseData):
    """A position; leverage, mark and liquidation prices go in ``extra``."""

    symbol: str
    exchange: Exchange
    direction: Direction

    volume: float = 0
    frozen: float = 0
    price: float = 0
    pnl: float = 0
    yd_volume: float = 0

    def __post_init__(self) -> None:
        self.vt_symbol: str = f"{self.symbol}.{self.exchange.value}"
        self.vt_positionid: str = f"{self.adapter_name}.{self.vt_symbol}.{self.direction.value}"


@dataclass
class AccountData(BaseData):
    """One balance (per asset on crypto venues); ``available`` is derived at construction."""

    accountid: str

    balance: float = 0
    frozen: float = 0

    def __post_init__(self) -> None:
        self.available: float = self.balance - self.frozen
        self.vt_accountid: str = f"{self.adapter_name}.{self.accountid}"


@dataclass
class LogData(BaseData):
    """A message for the trader (EVENT_LOG); ``level`` uses the logging module's numbers."""

    msg: str
    level: int = INFO

    def __post_init__(self) -> None:
        self.time: datetime = datetime.now(timezone.utc)


@dataclass
class ContractData(BaseData):
    """A tradable instrument; venue filters (step size, min notional ...) go in ``extra``."""

    symbol: str
    exchange: Exchange
    name: str
    product: Product
    size: float
    pricetick: float

    min_volume: float = 1
    max_volume: float | None = None
    stop_supported: bool = False
    net_position: bool = False
    history_data: bool = False

    option_strike: float | None = None
    option_underlying: str | None = None
    option_type: OptionType | None = None
    option_listed: datetime | None = None
    option_expiry: datetime | None = None
    option_portfolio: str | None = None
    option_index: str | None = None

    def __post_init__(self) -> None:
        self.vt_symbol: str = f"{self.symbol}.{self.exchange.value}"


@dataclass
class QuoteData(BaseData):
    """A two-sided quote (market-making venues)."""

    symbol: str
    exchange: Exchange
    quoteid: str

    bid_price: float = 0.0
    bid_volume: int = 0
    ask_price: float = 0.0
    ask_volume: int = 0
    bid_offset: Offset = Offset.NONE
    ask_offset: Offset = Offset.NONE
    status: Status = Status.SUBMITTING
    datetime: datetime | None = None
    reference: str = ""

    def __post_init__(self) -> None:
        self.vt_symbol: str = f"{self.symbol}.{self.exchange.value}"
        self.vt_quoteid: str = f"{self.adapter_name}.{self.quoteid}"

    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def create_cancel_request(self) -> CancelRequest:
        return CancelRequest(orderid=self.quoteid, symbol=self.symbol, exchange=self.exchange)


@dataclass
class SubscribeRequest:
    symbol: str
    exchange: Exchange

    def __post_init__(self) -> None:
        self.vt_symbol: str = f"{self.symbol}.{self.exchange.value}"


@dataclass
class OrderRequest:
    symbol: str
    exchange: Exchange
    direction: Direction
    type: OrderType
    volume: float
    price: float = 0
    offset: Offset = Offset.NONE
    reference: str = ""

    def __post_init__(self) -> None:
        self.vt_symbol: str = f"{self.symbol}.{self.exchange.value}"

    def create_order_data(self, orderid: str, adapter_name: str) -> OrderData:
        """The SUBMITTING order an adapter pushes the moment it accepts this request."""
        return OrderData(
            symbol=self.symbol,
            exchange=self.exchange,
            orderid=orderid,
            type=self.type,
            direction=self.direction,
            offset=self.offset,
            price=self.price,
            volume=self.volume,
            reference=self.reference,
            adapter_name=adapter_name,
        )


@dataclass
class CancelRequest:
    orderid: str
    symbol: str
    exchange: Exchange

    def __post_init__(self) -> None:
        self.vt_symbol: str = f"{self.symbol}.{self.exchange.value}"


@dataclass
class HistoryRequest:
    """Bars from ``start`` to ``end`` (now when None). Naive datetimes are taken as UTC."""

    symbol: str
    exchange: Exchange
    start: datetime
    end: datetime | None = None
    interval: Interval | None = None

    def __post_init__(self) -> None:
        self.vt_symbol: str = f"{self.symbol}.{self.exchange.value}"


@dataclass
class QuoteRequest:
    symbol: str
    exchange: Exchange
    bid_price: float
    bid_volume: int
    ask_price: float
    ask_volume: int
    bid_offset: Offset = Offset.NONE
    ask_offset: Offset = Offset.NONE
    reference: str = ""

    def __post_init__(self) -> None:
        self.vt_symbol: str = f"{self.symbol}.{self.exchange.value}"

    def create_quote_data(self, quoteid: str, adapter_name: str) -> QuoteData:
        return QuoteData(
            symbol=self.symbol,
            exchange=self.exchange,
            quoteid=quoteid,
            bid_price=self.bid_price,
            bid_volume=self.bid_volume,
            ask_price=self.ask_price,
            ask_volume=self.ask_volume,
            bid_offset=self.bid_offset,
            ask_offset=self.ask_offset,
            reference=self.reference,
            adapter_name=adapter_name,
        )
