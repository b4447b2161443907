"""The adapter facades the host instantiates: BINANCE (spot) and BINANCE_USDM (USDⓈ-M).

Both are thin: settings are validated here, everything else belongs to the coordinator and
its managers. Until those land (issues 4 and 5), every trading method raises
NotImplementedError saying so, because an adapter that pretends to trade is worse than one
that refuses.
"""

from __future__ import annotations

from typing import Any, ClassVar

from foxtrot_hooks import (
    BarData,
    BaseAdapter,
    CancelRequest,
    Exchange,
    HistoryRequest,
    OrderRequest,
    SubscribeRequest,
)

from foxtrot_binance.settings import BinanceSettings

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
    market_kind: ClassVar[str] = "spot"
    default_setting: ClassVar[dict[str, Any]] = _DEFAULT_SETTING

    def connect(self, setting: dict[str, Any]) -> None:
        """Validate ``setting`` (raises InvalidSettingsError naming the field), then connect."""
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

    def _not_yet(self, method: str) -> None:
        raise NotImplementedError(
            f"{self.default_name}.{method} is not implemented yet in foxtrot-binance "
            f"{_version()}: the {self.market_kind} adapter is under construction"
        )


class BinanceSpotAdapter(_BinanceAdapterBase):
    """Binance spot. Spot has no positions: query_position emits none."""

    default_name: ClassVar[str] = "BINANCE"
    exchanges: ClassVar[list[Exchange]] = [Exchange.BINANCE]
    market_kind: ClassVar[str] = "spot"


class BinanceUsdmAdapter(_BinanceAdapterBase):
    """Binance USDⓈ-M perpetual futures."""

    default_name: ClassVar[str] = "BINANCE_USDM"
    exchanges: ClassVar[list[Exchange]] = [Exchange.BINANCEUSDM]
    market_kind: ClassVar[str] = "usdm"


BinanceAdapter = BinanceSpotAdapter
"""The seed's name for the spot adapter."""


def _version() -> str:
    from foxtrot_binance._version import __version__

    return __version__
