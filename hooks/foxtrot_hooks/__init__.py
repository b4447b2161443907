"""foxtrot-hooks: the adapter contract shared by the foxtrot host and adapter plugins.

A plugin implements ``foxtrot_register_adapters`` with ``@hookimpl`` and is found by a host
through the ``foxtrot.adapters`` entry-point group (``load_adapters()``).
"""

from foxtrot_hooks._version import __version__
from foxtrot_hooks.adapter import BaseAdapter, EventSink
from foxtrot_hooks.constants import (
    Currency,
    Direction,
    Exchange,
    Interval,
    Offset,
    OptionType,
    OrderType,
    Product,
    Status,
)
from foxtrot_hooks.events import (
    EVENT_ACCOUNT,
    EVENT_ACCOUNT_REQUEST,
    EVENT_CONTRACT,
    EVENT_LOG,
    EVENT_ORDER,
    EVENT_ORDER_CANCEL,
    EVENT_ORDER_CANCEL_ALL,
    EVENT_POSITION,
    EVENT_POSITION_REQUEST,
    EVENT_QUOTE,
    EVENT_TICK,
    EVENT_TIMER,
    EVENT_TRADE,
    Event,
    EventEngine,
)
from foxtrot_hooks.host import (
    ENTRY_POINT_GROUP,
    Discovery,
    DuplicateAdapterError,
    PluginFailure,
    PluginLoadWarning,
    PluginRecord,
    create_plugin_manager,
    discover_adapters,
    load_adapters,
)
from foxtrot_hooks.markers import hookimpl, hookspec
from foxtrot_hooks.objects import (
    AccountData,
    BarData,
    BaseData,
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
from foxtrot_hooks.types import AdapterInfo

__all__ = [
    "ENTRY_POINT_GROUP", "EVENT_ACCOUNT", "EVENT_ACCOUNT_REQUEST", "EVENT_CONTRACT", "EVENT_LOG",
    "EVENT_ORDER", "EVENT_ORDER_CANCEL", "EVENT_ORDER_CANCEL_ALL", "EVENT_POSITION",
    "EVENT_POSITION_REQUEST", "EVENT_QUOTE", "EVENT_TICK", "EVENT_TIMER", "EVENT_TRADE",
    "AccountData", "AdapterInfo", "BarData", "BaseAdapter", "BaseData", "CancelRequest",
    "ContractData", "Currency", "Direction", "Discovery", "DuplicateAdapterError", "Event",
    "EventEngine", "EventSink", "Exchange", "HistoryRequest", "Interval", "LogData", "Offset",
    "OptionType", "OrderData", "OrderRequest", "OrderType", "PluginFailure", "PluginLoadWarning",
    "PluginRecord", "PositionData", "Product", "QuoteData", "QuoteRequest", "Status",
    "SubscribeRequest", "TickData", "TradeData", "__version__", "create_plugin_manager",
    "discover_adapters", "hookimpl", "hookspec", "load_adapters",
]
