"""Where ccxt sends its requests: Binance's own hosts, or one ``base_url`` for everything.

A ``base_url`` (the embedded simulator, a recording proxy) must receive every REST and
websocket call ccxt makes, including ones the adapter never asks for, so nothing silently
leaks to the real exchange. ccxt 4.5.90 derives the market kind of a websocket event from
the URL (``/stream`` means spot) and rewrites a linear base ending in ``/ws`` into
``/public/ws``, ``/market/ws`` and ``/private/ws``; the layout below keeps both working.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

SPOT_WS_PATH = "/stream/ws"
"""Must contain ``/stream``: ccxt.pro's is_spot_url() keys on that substring."""
LINEAR_WS_PATH = "/fstream/ws"
"""Must end in ``/ws`` so ccxt.pro routes it to /fstream/{public,market,private}/ws."""
INVERSE_WS_PATH = "/dstream/ws"
WS_API_PATHS = {"spot": "/ws-api/v3", "linear": "/ws-fapi/v1", "inverse": "/ws-dapi/v1"}


def ws_base(base_url: str) -> str:
    """``http://h:p`` -> ``ws://h:p`` (``https`` -> ``wss``)."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path}"


def point_ccxt_at(exchange: Any, base_url: str) -> None:
    """Rewrite every URL of a ccxt binance instance (sync, async or pro) to ``base_url``.

    Every string entry keeps its path (``/api/v3``, ``/sapi/v1``, ``/fapi/v3`` ...), so one
    server answers all of them; keys are never removed because ccxt raises NotSupported for
    a missing one.
    """
    root = base_url.rstrip("/")
    api = exchange.urls["api"]
    for key, value in list(api.items()):
        if isinstance(value, str):
            api[key] = root + urlsplit(value).path
    ws = api.get("ws")
    if isinstance(ws, dict):
        wsroot = ws_base(root)
        for key, value in list(ws.items()):
            if isinstance(value, str):
                ws[key] = wsroot + urlsplit(value).path
        ws.update(
            {
                "spot": wsroot + SPOT_WS_PATH,
                "margin": wsroot + SPOT_WS_PATH,
                "linear": wsroot + LINEAR_WS_PATH,
                "inverse": wsroot + INVERSE_WS_PATH,
                "ws-api": {kind: wsroot + path for kind, path in WS_API_PATHS.items()},
            }
        )
