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

from foxtrot_binance.logs import get_logger, redact
from foxtrot_binance.market_kind import MarketKind

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
        msg = redact(msg)  # ccxt error texts can carry a signed URL
        get_logger(self.adapter_name).opt(depth=1).log(_LEVEL_NAMES.get(level, "INFO"), "{}", msg)
        super().write_log(msg, level)


class _ConnectedAdapter(_BinanceAdapterBase):
    """Everything spot and USDⓈ-M share; the market kind is a parameter of the managers."""

    def __init__(self, event_engine: EventSink, adapter_name: str) -> None:
        super().__init__(event_engine, adapter_name)
        from foxtrot_binance.api_client import BinanceApiClient

        self.client = BinanceApiClient(self, self.market_kind)

    def connect(self, setting: dict[str, Any]) -> None:
        """Validate ``setting`` (InvalidSettingsError names the bad field), then connect in the
        background: contracts, balances, positions, open orders and recent fills arrive as events."""
        self.client.connect(setting)

    def close(self) -> None:
        self.client.close()

    def subscribe(self, req: SubscribeRequest) -> None:
        """Live TickData (best prices, 24 h statistics, five depth levels) for one symbol,
        accepted as BTCUSDT, BTCUSDT.<EXCHANGE> or BTC/USDT; kept across reconnects."""
        self.client.subscribe(req)

    def send_order(self, req: OrderRequest) -> str:
        """Returns the vt_orderid at once; SUBMITTING (or REJECTED with the reason) is pushed."""
        return self.client.orders.send_order(req)

    def cancel_order(self, req: CancelRequest) -> None:
        self.client.orders.cancel_order(req)

    def query_account(self) -> None:
        self.client.query_account()

    def query_history(self, req: HistoryRequest) -> list[BarData]:
        """Closed bars of any range and interval (1m, 1h, d, w), paginated and cached locally.

        Blocks up to ``history_timeout`` seconds; naive datetimes are UTC, ``end=None`` is now,
        ``interval=None`` is 1m. Raises ValueError for an unknown symbol or tick interval."""
        return self.client.query_history(req)


class BinanceSpotAdapter(_ConnectedAdapter):
    """Binance spot. Thread-safe and non-blocking except ``query_history``."""

    default_name: ClassVar[str] = "BINANCE"
    exchanges: ClassVar[list[Exchange]] = [Exchange.BINANCE]
    market_kind: ClassVar[MarketKind] = MarketKind.SPOT

    def query_position(self) -> None:
        """Spot has no positions: balances are reported as AccountData. Emits nothing."""


class BinanceUsdmAdapter(_ConnectedAdapter):
    """Binance USDⓈ-M perpetual futures: one-way or hedge mode, leverage, margin type.

    Offsets: in one-way mode CLOSE means reduce-only; in hedge mode OPEN/NONE opens on the
    order's side and CLOSE closes the opposite side. STOP is a stop-market conditional order.
    """

    default_name: ClassVar[str] = "BINANCE_USDM"
    exchanges: ClassVar[list[Exchange]] = [Exchange.BINANCEUSDM]
    market_kind: ClassVar[MarketKind] = MarketKind.USDM

    def query_position(self) -> None:
        """Refresh every position; changes (and closed positions, with volume 0) are pushed."""
        self.client.query_position()

    def set_leverage(self, symbol: str, leverage: int) -> None:
        """Non-blocking; the outcome is written to the log and positions are refreshed."""
        self.client.control(self.client.set_leverage(symbol, int(leverage)), "set_leverage")

    def set_margin_type(self, symbol: str, margin_type: str) -> None:
        """``"isolated"`` or ``"cross"``; non-blocking, outcome in the log."""
        if margin_type not in ("isolated", "cross"):
            raise ValueError(f"margin_type must be 'isolated' or 'cross', got {margin_type!r}")
        self.client.control(self.client.set_margin_type(symbol, margin_type), "set_margin_type")

    def set_position_mode(self, hedge: bool) -> None:
        """Hedge (True) or one-way (False); non-blocking, outcome in the log."""
        self.client.control(self.client.set_position_mode(bool(hedge)), "set_position_mode")


BinanceAdapter = BinanceSpotAdapter
"""The seed's name for the spot adapter."""
