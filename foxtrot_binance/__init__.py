"""foxtrot-binance: the Binance adapter plugin for foxtrot (work in progress)."""

from loguru import logger

from foxtrot_binance._version import __version__

logger.disable("foxtrot_binance")

__all__ = ["__version__"]
