"""BaseAdapter: the interface every foxtrot adapter implements.

The host calls these methods from its own threads (UI, strategies). Implementations must be
thread-safe and must not block: schedule the work and report results as events through the
``on_*`` helpers. ``query_history`` is the one call allowed to block, because its caller
wants the bars back. Objects handed to ``on_*`` belong to the host from then on: an adapter
never mutates them afterwards (emit a copy of anything it keeps caching).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from logging import INFO
from typing import Any, ClassVar, Protocol

from foxtrot_hooks.constants import Exchange
from foxtrot_hooks.events import (
    EVENT_ACCOUNT,
    EVENT_CONTRACT,
    EVENT_LOG,
    EVENT_ORDER,
    EVENT_POSITION,
    EVENT_QUOTE,
    EVENT_TICK,
    EVENT_TRADE,
    Event,
)
from foxtrot_hooks.objects import (
    AccountData,
    BarData,
    CancelRequest,
    ContractData,
    HistoryRequest,
    LogData,
    OrderData,
    OrderRequest,
    PositionData,
    QuoteData,
    QuoteRequest,
    SubscribeRequest,
    TickData,
    TradeData,
)


class EventSink(Protocol):
    """All an adapter needs of the host's event engine."""

    def put(self, event: Event) -> None: ...


class BaseAdapter(ABC):
    """Abstract adapter. Subclasses set ``default_name``, ``default_setting`` and ``exchanges``.

    ``default_setting`` is the dict the host's connect dialog shows and passes back to
    ``connect``; its keys are the adapter's public configuration names.
    """

    default_name: ClassVar[str] = ""
    default_setting: ClassVar[dict[str, Any]] = {}
    exchanges: ClassVar[list[Exchange]] = []

    def __init__(self, event_engine: EventSink, adapter_name: str) -> None:
        self.event_engine = event_engine
        self.adapter_name = adapter_name

    # -- event helpers ----------------------------------------------------------------
    def on_event(self, type: str, data: Any = None) -> None:
        self.event_engine.put(Event(type, data))

    def on_tick(self, tick: TickData) -> None:
        self.on_event(EVENT_TICK, tick)
        self.on_event(EVENT_TICK + tick.vt_symbol, tick)

    def on_trade(self, trade: TradeData) -> None:
        self.on_event(EVENT_TRADE, trade)
        self.on_event(EVENT_TRADE + trade.vt_symbol, trade)

    def on_order(self, order: OrderData) -> None:
        self.on_event(EVENT_ORDER, order)
        self.on_event(EVENT_ORDER + order.vt_orderid, order)

    def on_position(self, position: PositionData) -> None:
        self.on_event(EVENT_POSITION, position)
        self.on_event(EVENT_POSITION + position.vt_symbol, position)

    def on_account(self, account: AccountData) -> None:
        self.on_event(EVENT_ACCOUNT, account)
        self.on_event(EVENT_ACCOUNT + account.vt_accountid, account)

    def on_quote(self, quote: QuoteData) -> None:
        self.on_event(EVENT_QUOTE, quote)
        self.on_event(EVENT_QUOTE + quote.vt_symbol, quote)

    def on_log(self, log: LogData) -> None:
        self.on_event(EVENT_LOG, log)

    def on_contract(self, contract: ContractData) -> None:
        self.on_event(EVENT_CONTRACT, contract)

    def write_log(self, msg: str, level: int = INFO) -> None:
        """Tell the trader something (connected, rejected and why ...) through EVENT_LOG."""
        self.on_log(LogData(msg=msg, level=level, adapter_name=self.adapter_name))

    # -- the contract -----------------------------------------------------------------
    @abstractmethod
    def connect(self, setting: dict[str, Any]) -> None:
        """Start connecting with the connect-dialog ``setting``; report progress as events.

        On success an adapter pushes contracts, accounts, positions, open orders and recent
        trades. A bad setting raises at once with a message naming the setting.
        """

    @abstractmethod
    def close(self) -> None:
        """Disconnect and release every thread, task and session. Idempotent."""

    @abstractmethod
    def subscribe(self, req: SubscribeRequest) -> None:
        """Start streaming ticks of one symbol (kept across reconnects)."""

    @abstractmethod
    def send_order(self, req: OrderRequest) -> str:
        """Accept an order request and return its vt_orderid at once (SUBMITTING is pushed)."""

    @abstractmethod
    def cancel_order(self, req: CancelRequest) -> None:
        """Request cancellation; the outcome arrives as an order event."""

    @abstractmethod
    def query_account(self) -> None:
        """Refresh balances and push them as AccountData events."""

    @abstractmethod
    def query_position(self) -> None:
        """Refresh positions and push them as PositionData events."""

    # -- optional ---------------------------------------------------------------------
    def query_history(self, req: HistoryRequest) -> list[BarData]:
        """Return bars for ``req`` (the one blocking call). Adapters without history raise."""
        raise NotImplementedError(f"adapter {self.adapter_name} does not provide history")

    def send_quote(self, req: QuoteRequest) -> str:
        raise NotImplementedError(f"adapter {self.adapter_name} does not support quotes")

    def cancel_quote(self, req: CancelRequest) -> None:
        raise NotImplementedError(f"adapter {self.adapter_name} does not support quotes")

    @classmethod
    def get_default_setting(cls) -> dict[str, Any]:
        """A copy, so the host's dialog can edit it without changing the class default."""
        return copy.deepcopy(cls.default_setting)
