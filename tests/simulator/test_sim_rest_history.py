"""Candle history: deterministic per seed, contiguous across pages, joined to the live bar."""

from __future__ import annotations

from foxtrot_binance.simulator import BinanceSimulator

from conftest import ccxt_client

MINUTE = 60_000


def _contiguous(bars: list[list[float]], step: int) -> None:
    for prev, cur in zip(bars, bars[1:]):
        assert cur[0] - prev[0] == step
        assert cur[1] == prev[4]  # each bar opens where the previous one closed
        assert cur[3] <= min(cur[1], cur[4]) <= max(cur[1], cur[4]) <= cur[2]


def test_since_loop_pages_are_contiguous_up_to_the_live_bar(simulator: BinanceSimulator) -> None:
    client = ccxt_client(simulator)
    now = simulator.ctx.now_ms()
    since = now - 2_500 * MINUTE
    bars: list[list[float]] = []
    while True:
        page = client.fetch_ohlcv("BTC/USDT", "1m", since, 1000)
        bars += page
        if len(page) < 1000:
            break
        since = page[-1][0] + MINUTE
    assert len(bars) in (2500, 2501)
    _contiguous(bars, MINUTE)
    assert bars[-1][0] == now // MINUTE * MINUTE
    assert bars[-1][4] == client.fetch_ticker("BTC/USDT")["last"]


def test_paginate_years_back_on_usdm(simulator: BinanceSimulator) -> None:
    client = ccxt_client(simulator, "swap")
    since = 1_500_000_000_000  # 2017
    bars = client.fetch_ohlcv("BTC/USDT:USDT", "1d", since, None, {"paginate": True, "paginationCalls": 3})
    assert bars[0][0] >= since and len(bars) > 1500
    _contiguous(bars, 86_400_000)


def test_same_seed_same_prices_other_seed_other_prices(make_simulator) -> None:
    a, b, c = make_simulator(seed=7), make_simulator(seed=7), make_simulator(seed=8)

    def fingerprint(sim: BinanceSimulator) -> tuple:
        client = ccxt_client(sim, keys=False)
        book = client.fetch_order_book("ETH/USDT", 5)
        return (book["bids"], book["asks"],
                client.fetch_ohlcv("ETH/USDT", "1h", 1_700_000_000_000, 50),
                client.fetch_ohlcv("BTC/USDT:USDT", "15m", 1_650_000_000_000, 50))

    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)
    for sim in (a, b):
        sim.call(sim.exchange.walk_all)
    assert fingerprint(a)[:2] == fingerprint(b)[:2]


def test_live_bar_follows_trades(simulator: BinanceSimulator) -> None:
    client = ccxt_client(simulator)
    client.load_markets()
    simulator.set_price("SOLUSDT", "250", kind="spot")
    simulator.set_price("SOLUSDT", "190", kind="spot")
    simulator.set_price("SOLUSDT", "210", kind="spot")
    bar = client.fetch_ohlcv("SOL/USDT", "1m", limit=1)[-1]
    assert bar[2] >= 250 and bar[3] <= 190 and bar[4] == 210


def test_background_walk_moves_streams_and_rest(make_simulator) -> None:
    import threading
    sim = make_simulator(tick_interval=0.02, symbols=["BTCUSDT", "ETHUSDT"])
    client = ccxt_client(sim, keys=False)
    start = client.fetch_order_book("BTC/USDT", 5)["nonce"]
    updates: list[dict] = []
    enough = threading.Event()

    def sink(_stream: str, payload: dict) -> None:
        updates.append(payload)
        if len(updates) >= 20:
            enough.set()

    sim.call(sim.bus.subscribe, "spot", "btcusdt@bookTicker", sink)
    assert enough.wait(10)
    book = client.fetch_order_book("BTC/USDT", 5)
    assert book["nonce"] > start and sim.call(len, updates) >= 20
    assert client.fetch_trades("BTC/USDT")  # background trades reach the tape
    assert [s for s in client.load_markets()] == ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"]
