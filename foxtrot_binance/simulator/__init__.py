"""The embedded Binance-compatible simulator (REST + WebSocket) on 127.0.0.1."""
