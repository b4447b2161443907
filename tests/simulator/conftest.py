"""Fixtures for simulator tests: a running simulator and real ccxt 4.5.90 clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import ccxt
import pytest

from foxtrot_binance.endpoints import point_ccxt_at
from foxtrot_binance.simulator import BinanceSimulator


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., BinanceSimulator]]:
    """Factory: ``make_simulator(**kwargs)`` starts one; all are stopped after the test."""
    started: list[BinanceSimulator] = []

    def make(**kwargs: Any) -> BinanceSimulator:
        kwargs.setdefault("tick_interval", None)
        sim = BinanceSimulator(**kwargs)
        started.append(sim)
        return sim.start()

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def simulator(make_simulator: Callable[..., BinanceSimulator]) -> BinanceSimulator:
    """A running simulator without the background random walk (moves only on set_price/orders)."""
    return make_simulator()


def ccxt_client(sim: BinanceSimulator, kind: str = "spot", cls: type = ccxt.binance, keys: bool = True,
                **options: Any) -> Any:
    """A ccxt binance instance on the simulator; ``kind='swap'`` makes USD-M the default type."""
    config: dict[str, Any] = {"enableRateLimit": False, "timeout": 10_000,
                              "options": {"fetchMarkets": {"types": ["spot", "linear"]},
                                          "defaultType": "swap" if kind == "swap" else "spot", **options}}
    if keys:
        config.update(apiKey=sim.api_key, secret=sim.api_secret)
    exchange = cls(config)
    point_ccxt_at(exchange, sim.base_url)
    return exchange


@pytest.fixture
def spot(simulator: BinanceSimulator) -> Any:
    client = ccxt_client(simulator)
    client.load_markets()
    return client


@pytest.fixture
def swap(simulator: BinanceSimulator) -> Any:
    client = ccxt_client(simulator, "swap")
    client.load_markets()
    return client
