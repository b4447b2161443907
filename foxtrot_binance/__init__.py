"""foxtrot-binance: Binance spot and USDⓈ-M futures adapters for the foxtrot platform.

Logging is silent by default (loguru library style): ``logger.enable("foxtrot_binance")``
in the application to see it.
"""

from loguru import logger

logger.disable("foxtrot_binance")

from foxtrot_binance._version import __version__  # noqa: E402
from foxtrot_binance.binance import BinanceAdapter, BinanceSpotAdapter, BinanceUsdmAdapter  # noqa: E402
from foxtrot_binance.settings import BinanceSettings, InvalidSettingsError, RetrySettings  # noqa: E402

__all__ = [
    "BinanceAdapter",
    "BinanceSettings",
    "BinanceSpotAdapter",
    "BinanceUsdmAdapter",
    "InvalidSettingsError",
    "RetrySettings",
    "__version__",
]
