"""The embedded Binance-compatible simulator (REST + WebSocket) on 127.0.0.1."""

from .server import BinanceSimulator

__all__ = ["BinanceSimulator"]
