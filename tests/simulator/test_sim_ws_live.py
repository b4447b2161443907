"""Raw websocket clients (the adapter's lean stream client speaks like this) against the full simulator.

The core's real payload builders feed combined and raw connections: what arrives must be the
Binance wire format with the combined wrapper, for every stream the adapter's market data
path subscribes (bookTicker, ticker, depth5, trades, klines, markPrice).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from foxtrot_binance.simulator import BinanceSimulator
from ws_support import receive_json


@pytest.fixture(scope="module")
def sim() -> Iterator[BinanceSimulator]:
    with BinanceSimulator(tick_interval=None) as simulator:
        yield simulator


async def collect(ws: aiohttp.ClientWebSocketResponse, wanted: set[str]) -> dict[str, Any]:
    """Read combined frames until one of every wanted stream arrived."""
    seen: dict[str, Any] = {}
    while not wanted <= set(seen):
        message = await receive_json(ws)
        assert set(message) == {"stream", "data"}
        seen.setdefault(message["stream"], message["data"])
    return seen


@pytest.mark.parametrize(
    ("path", "kind", "streams"),
    [
        ("/stream", "spot", ["btcusdt@bookTicker", "btcusdt@ticker", "btcusdt@depth5@100ms", "btcusdt@trade", "btcusdt@kline_1m"]),
        ("/fstream/public/stream", "usdm", ["btcusdt@bookTicker", "btcusdt@depth5@100ms", "btcusdt@trade"]),
        ("/fstream/market/stream", "usdm", ["btcusdt@ticker", "btcusdt@markPrice@1s", "btcusdt@kline_1m", "btcusdt@aggTrade"]),
    ],
)
def test_combined_connection_carries_the_core_payloads(sim: BinanceSimulator, path: str, kind: str, streams: list[str]) -> None:
    async def scenario() -> None:
        url = sim.base_url.replace("http", "ws") + path + "?streams=" + "/".join(streams)
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 1})
            assert await receive_json(ws) == {"result": streams, "id": 1}
            price = sim.call(lambda: sim.exchange.markets[kind]["BTCUSDT"].price)  # type: ignore[index]
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: sim.set_price("BTCUSDT", price * Decimal("1.001"), kind=kind)  # type: ignore[arg-type]
            )
            seen = await collect(ws, set(streams))
            book = seen.get("btcusdt@bookTicker")
            if book is not None:
                assert book["s"] == "BTCUSDT" and ("e" in book) == (kind == "usdm")
            depth = seen.get("btcusdt@depth5@100ms")
            if depth is not None:
                assert len(depth["bids" if kind == "spot" else "b"]) == 5
            if "btcusdt@kline_1m" in seen:
                assert seen["btcusdt@kline_1m"]["k"]["i"] == "1m"

    asyncio.run(asyncio.wait_for(scenario(), 20))
