"""Pure pieces of the websocket layer: stream grammar, USDⓈ-M categories, listenKey store."""

from __future__ import annotations

import pytest

from foxtrot_binance.simulator.errors import BinanceError
from foxtrot_binance.simulator.listen_keys import ListenKeyStore
from foxtrot_binance.simulator.ws_conn import IncomingLimiter, text_frame
from foxtrot_binance.simulator.ws_streams import is_valid, usdm_category


@pytest.mark.parametrize(
    "name",
    ["btcusdt@bookTicker", "btcusdt@depth@100ms", "btcusdt@depth", "btcusdt@depth5@100ms", "btcusdt@depth20",
     "btcusdt@kline_1s", "btcusdt@kline_1M", "btcusdt@miniTicker", "btcusdt@ticker", "btcusdt@trade",
     "btcusdt@aggTrade", "btcusdt@avgPrice", "!miniTicker@arr", "!ticker_1h@arr"],
)
def test_spot_streams_binance_serves(name: str) -> None:
    assert is_valid("spot", name)


@pytest.mark.parametrize(
    "name",
    ["BTCUSDT@bookTicker", "btcusdt@depth@250ms", "btcusdt@markPrice", "btcusdt@kline_2m", "btcusdt", "@trade",
     "btcusdt@bookticker", "!bookTicker"],
)
def test_spot_streams_binance_rejects(name: str) -> None:
    assert not is_valid("spot", name)


@pytest.mark.parametrize(
    ("name", "category"),
    [("btcusdt@depth@100ms", "public"), ("btcusdt@depth5@500ms", "public"), ("btcusdt@bookTicker", "public"),
     ("btcusdt@trade", "public"), ("!bookTicker", "public"), ("btcusdt@rpiDepth@500ms", "public"),
     ("btcusdt@aggTrade", "market"), ("btcusdt@markPrice@1s", "market"), ("btcusdt@kline_1m", "market"),
     ("btcusdt@ticker", "market"), ("btcusdt@miniTicker", "market"), ("!markPrice@arr", "market"),
     ("btcusdt_perpetual@continuousKline_1m", "market"), ("btcusdt@kline_1s", None), ("btcusdt@depth@1000ms", None)],
)
def test_usdm_categories(name: str, category: str | None) -> None:
    assert usdm_category(name) == category


def test_text_frame_lengths() -> None:
    assert text_frame(b"ab") == b"\x81\x02ab"
    assert text_frame(b"x" * 200)[:4] == b"\x81\x7e\x00\xc8"
    assert text_frame(b"x" * 70000)[:2] == b"\x81\x7f"


def test_incoming_limiter_window() -> None:
    limiter = IncomingLimiter(5)
    assert all(limiter.allow() for _ in range(5))
    assert not limiter.allow()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_listen_key_store_follows_binance() -> None:
    clock = Clock()
    store = ListenKeyStore(lambda: 60.0, clock)
    key = store.create("k1").key
    clock.now += 50
    assert store.create("k1").key == key  # same key while valid, extended
    clock.now += 50
    assert store.keep_alive("k1").key == key
    assert store.lookup(key) is not None
    clock.now += 61
    assert store.lookup(key) is None
    with pytest.raises(BinanceError) as info:
        store.keep_alive("k1")
    assert info.value.code == -1125
    assert [e.key for e in store.expire_due()] == [key]
    assert store.create("k1").key != key
    assert store.create("k2").key != store.create("k1").key
