"""The adapter facades the host instantiates: BINANCE (spot) and BINANCE_USDM (USDⓈ-M).

Thin by design: each public method hands its work to the coordinator (api_client.py) and
returns at once; results arrive as events. Methods that are not built yet raise
NotImplementedError saying so, because an adapter that pretends to trade is worse than one
that refuses.
"""

from __future__ import annotations

from logging import INFO
from typing import Any, ClassVar

from foxtrot_hooks import (
    BarData,
    BaseAdapter,
    CancelRequest,
    EventSink,
    Exchange,
    HistoryRequest,
    OrderRequest,
    SubscribeRequest,
)

from foxtrot_binance.logs import get_logger
from foxtrot_binance.market_kind import MarketKind
from foxtrot_binance.settings import BinanceSettings

_LEVEL_NAMES = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}

_DEFAULT_SETTING: dict[str, Any] = {
    "API Key": "",
    "Secret": "",
    "Sandbox": False,
    "Proxy Host": "",
    "Proxy Port": 0,
    "Rate Limit Buffer": 0.2,
    "Reconnect Delay": 1.0,
    "Max Retry Attempts": 3,
}


class _BinanceAdapterBase(BaseAdapter):
    market_kind: ClassVar[MarketKind] = MarketKind.SPOT
    default_setting: ClassVar[dict[str, Any]] = _DEFAULT_SETTING

    def write_log(self, msg: str, level: int = INFO) -> None:
        """What the trader sees (EVENT_LOG) also goes to loguru, bound and redacted."""
        get_logger(self.adapter_name).opt(depth=1).log(_LEVEL_NAMES.get(level, "INFO"), "{}", msg)
        super().write_log(msg, level)

    def _not_yet(self, method: str) -> None:
        raise NotImplementedError(
            f"{self.default_name}.{method} is not implemented yet in foxtrot-binance "
            f"{_version()}: the {self.market_kind.value} adapter is under construction"
        )


class BinanceSpotAdapter(_BinanceAdapterBase):
    """Binance spot. Thread-safe and non-blocking except ``query_history``."""

    default_name: ClassVar[str] = "BINANCE"
    exchanges: ClassVar[list[Exchange]] = [Exchange.BINANCE]
    market_kind: ClassVar[MarketKind] = MarketKind.SPOT

    def __init__(self, event_engine: EventSink, adapter_name: str) -> None:
        super().__init__(event_engine, adapter_name)
        from foxtrot_binance.api_client import BinanceApiClient

        self.client = BinanceApiClient(self, self.market_kind)

    def connect(self, setting: dict[str, Any]) -> None:
        """Validate ``setting`` (InvalidSettingsError names the bad field), then connect in the
        background: contracts, balances, open orders and recent fills arrive as events."""
        self.client.connect(setting)

    def close(self) -> None:
        self.client.close()

    def subscribe(self, req: SubscribeRequest) -> None:
        """Live TickData (best prices, 24 h statistics, five depth levels) for one symbol,
        accepted as BTCUSDT, BTCUSDT.BINANCE or BTC/USDT; kept across reconnects."""
        self.client.subscribe(req)

    def send_order(self, req: OrderRequest) -> str:
        """Returns the vt_orderid at once; SUBMITTING (or REJECTED with the reason) is pushed."""
        return self.client.orders.send_order(req)

    def cancel_order(self, req: CancelRequest) -> None:
        self.client.orders.cancel_order(req)

    def query_account(self) -> None:
        self.client.query_account()

    def query_position(self) -> None:
        """Spot has no positions: balances are reported as AccountData. Emits nothing."""

    def query_history(self, req: HistoryRequest) -> list[BarData]:
        """Closed bars of any range and interval (1m, 1h, d, w), paginated and cached locally.

        Blocks up to ``history_timeout`` seconds; naive datetimes are UTC, ``end=None`` is now,
        ``interval=None`` is 1m. Raises ValueError for an unknown symbol or tick interval."""
        return self.client.query_history(req)


class BinanceUsdmAdapter(_BinanceAdapterBase):
    """Binance USDⓈ-M perpetual futures (under construction: every method refuses)."""

    default_name: ClassVar[str] = "BINANCE_USDM"
    exchanges: ClassVar[list[Exchange]] = [Exchange.BINANCEUSDM]
    market_kind: ClassVar[MarketKind] = MarketKind.USDM

    def connect(self, setting: dict[str, Any]) -> None:
        """Validate ``setting`` (InvalidSettingsError names the bad field), then refuse."""
        BinanceSettings.from_setting(setting)
        self._not_yet("connect")

    def close(self) -> None:
        """Nothing is opened yet, so there is nothing to release; safe to call any time."""

    def subscribe(self, req: SubscribeRequest) -> None:
        self._not_yet("subscribe")

    def send_order(self, req: OrderRequest) -> str:
        self._not_yet("send_order")
        return ""

    def cancel_order(self, req: CancelRequest) -> None:
        self._not_yet("cancel_order")

    def query_account(self) -> None:
        self._not_yet("query_account")

    def query_position(self) -> None:
        self._not_yet("query_position")

    def query_history(self, req: HistoryRequest) -> list[BarData]:
        self._not_yet("query_history")
        return []


BinanceAdapter = BinanceSpotAdapter
"""The seed's name for the spot adapter."""


def _version() -> str:
    from foxtrot_binance._version import __version__

    return __version__
