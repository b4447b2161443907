"""The foxtrot plugin entry point (``foxtrot.adapters: binance``).

A host imports every plugin module eagerly, so this one stays cheap: ccxt and the adapter
machinery load only when an adapter connects.
"""

from __future__ import annotations

from collections.abc import Callable

from foxtrot_hooks import AdapterInfo, hookimpl


@hookimpl
def foxtrot_register_adapters(register: Callable[[AdapterInfo], None]) -> None:
    """Register the spot adapter BINANCE and the USDⓈ-M futures adapter BINANCE_USDM."""
    from foxtrot_binance.binance import BinanceSpotAdapter, BinanceUsdmAdapter
    from foxtrot_binance.settings import BinanceSettings

    for adapter_class, description in (
        (BinanceSpotAdapter, "Binance spot through ccxt, with live ticks, orders and history"),
        (BinanceUsdmAdapter, "Binance USDⓈ-M perpetual futures through ccxt"),
    ):
        register(
            AdapterInfo(
                name=adapter_class.default_name,
                adapter_class=adapter_class,
                settings_class=BinanceSettings,
                exchanges=tuple(adapter_class.exchanges),
                description=description,
            )
        )
