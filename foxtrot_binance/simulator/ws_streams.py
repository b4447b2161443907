"""Binance market-stream names: which are valid, and which USDⓈ-M endpoint carries them.

A stream name that Binance would not serve must fail loudly here: an adapter that subscribes
to ``BTCUSDT@bookTicker`` (upper case) or ``btcusdt@depth@250ms`` on spot gets nothing from
the real exchange, and the simulator must not hide that bug by delivering data anyway.

Since 2026-04 Binance splits USDⓈ-M streams over ``/public`` (high-frequency book data and
raw trades) and ``/market`` (everything else). A stream subscribed on the wrong one is
acknowledged but never delivers (ccxt issue #28396: aggTrade on /public "hangs forever"),
so :func:`usdm_category` tells the connection whether to feed a stream at all.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["spot", "usdm"]
Category = Literal["public", "market"]

MAX_STREAMS = {"spot": 1024, "usdm": 200}
"""Streams one connection may hold (Binance: 1024 spot, 200 USDⓈ-M)."""
MAX_INCOMING_PER_S = {"spot": 5, "usdm": 10}
"""Text messages a client may send per second before Binance disconnects it."""

_SYMBOL = r"[a-z0-9]{2,30}"
_SPOT_INTERVALS = "1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M"
_USDM_INTERVALS = "1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M"

_SPOT = re.compile(
    rf"^(?:{_SYMBOL}@(?:trade|aggTrade|bookTicker|miniTicker|ticker|avgPrice"
    rf"|ticker_(?:1h|4h|1d)"
    rf"|kline_(?:{_SPOT_INTERVALS})(?:@\+08:00)?"
    rf"|depth(?:5|10|20)?(?:@(?:100|1000)ms)?)"
    rf"|!miniTicker@arr|!ticker@arr|!ticker_(?:1h|4h|1d)@arr)$"
)

_USDM_PUBLIC = re.compile(
    rf"^(?:{_SYMBOL}@(?:bookTicker|trade|depth(?:5|10|20)?(?:@(?:100|250|500)ms)?|rpiDepth@500ms)"
    rf"|!bookTicker)$"
)
_USDM_MARKET = re.compile(
    rf"^(?:{_SYMBOL}@(?:aggTrade|markPrice(?:@1s)?|miniTicker|ticker|forceOrder|compositeIndex"
    rf"|kline_(?:{_USDM_INTERVALS})"
    rf"|continuousKline_(?:{_USDM_INTERVALS}))"
    rf"|{_SYMBOL}_(?:perpetual|current_quarter|next_quarter)@continuousKline_(?:{_USDM_INTERVALS})"
    rf"|!markPrice@arr(?:@1s)?|!miniTicker@arr|!ticker@arr|!forceOrder@arr|!contractInfo|!assetIndex@arr)$"
)


def is_valid(kind: Kind, stream: str) -> bool:
    """True when Binance serves ``stream`` for this market kind (on any endpoint)."""
    if kind == "spot":
        return _SPOT.match(stream) is not None
    return usdm_category(stream) is not None


def usdm_category(stream: str) -> Category | None:
    """The USDⓈ-M endpoint that delivers ``stream``, or None for a name Binance does not know."""
    if _USDM_PUBLIC.match(stream):
        return "public"
    if _USDM_MARKET.match(stream):
        return "market"
    return None
