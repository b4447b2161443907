"""Unmodified ccxt.pro 4.5.90 against the simulator's websockets, end to end.

One simulator serves the whole module (no background random walk: the market moves only
when a test calls ``set_price``), each test opens and closes its own ccxt client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from foxtrot_binance.simulator import BinanceSimulator
from ws_support import (
    WAIT,
    account_update,
    fed,
    in_thread,
    market_kind,
    move,
    order_trade_update,
    price_of,
    pro_client,
    settled,
    user_fed,
)



@pytest.fixture(scope="module")
def sim() -> Iterator[BinanceSimulator]:
    with BinanceSimulator(tick_interval=None, balances={"spot": {"USDT": "100000", "BTC": "10"}, "usdm": {"USDT": "100000"}}) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def healthy(sim: BinanceSimulator) -> Iterator[None]:
    yield
    sim.faults.clear()


def run(sim: BinanceSimulator, scenario: Any, kind: str = "spot", timeout: float = 30, **options: Any) -> Any:
    async def main() -> Any:
        exchange = pro_client(sim, kind, **options)
        try:
            await exchange.load_markets()
            return await asyncio.wait_for(scenario(exchange), timeout)
        finally:
            await exchange.close()

    return asyncio.run(main())


# -- market data ----------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
def test_watch_order_book_stays_in_sync_over_1000_diffs(sim: BinanceSimulator, symbol: str) -> None:
    kind = market_kind(symbol)
    market = sim.exchange.markets[kind]["BTCUSDT"]  # type: ignore[index]
    diffs: list[int] = []

    def count(_stream: str, payload: Any) -> None:
        diffs.append(payload["u"])

    def burst(n: int, base: Decimal) -> None:
        for i in range(n):
            sim.exchange.set_price("BTCUSDT", (base * (1 + Decimal(i % 9 - 4) / 10_000)).quantize(Decimal("0.01")), kind, None)  # type: ignore[arg-type]

    async def scenario(exchange: Any) -> None:
        pending = asyncio.ensure_future(exchange.watch_order_book(symbol))
        await fed(sim, kind, "btcusdt@depth@100ms")
        sim.call(sim.bus.subscribe, kind, "btcusdt@depth@100ms", count)
        try:
            base = price_of(sim, kind)
            await in_thread(sim.call, burst, 5, base)
            book = await pending  # snapshot fetched after the ack, buffered diffs replayed
            for _ in range(10):
                # a watcher resolves only on updates after the call: register it, then move
                pending = asyncio.ensure_future(exchange.watch_order_book(symbol))
                await asyncio.sleep(0)
                await in_thread(sim.call, burst, 105, base)
                book = await pending  # a ChecksumError here would mean a broken id chain
            final = sim.call(lambda: diffs[-1])  # the last diff published
            deadline = asyncio.get_running_loop().time() + WAIT
            while exchange.orderbooks[symbol]["nonce"] != final:  # ccxt drops the book on a gap
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.005)
            book = exchange.orderbooks[symbol]
        finally:
            sim.call(sim.bus.unsubscribe, kind, "btcusdt@depth@100ms", count)
        assert len(diffs) >= 1000
        _, bids, asks = sim.call(market.depth, 5)
        assert book["bids"][0] == [float(bids[0][0]), float(bids[0][1])]
        assert book["asks"][0] == [float(asks[0][0]), float(asks[0][1])]

    run(sim, scenario, timeout=60)


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
def test_watch_bids_asks(sim: BinanceSimulator, symbol: str) -> None:
    kind = market_kind(symbol)

    async def scenario(exchange: Any) -> None:
        pending = asyncio.ensure_future(exchange.watch_bids_asks([symbol]))
        await fed(sim, kind, "btcusdt@bookTicker")
        price = await move(sim, kind, "1.001")
        quote = (await pending)[symbol]
        assert quote["bid"] < quote["ask"]
        assert ("e" in quote["info"]) == (kind == "usdm")  # spot bookTicker has no event type
        await settled(lambda: exchange.bidsasks[symbol]["bid"] <= float(price) <= exchange.bidsasks[symbol]["ask"])

    run(sim, scenario)


@pytest.mark.parametrize(("symbol", "params"), [("BTC/USDT", {}), ("BTC/USDT", {"name": "ticker"}), ("BTC/USDT:USDT", {})])
def test_watch_ticker_mini_and_full(sim: BinanceSimulator, symbol: str, params: dict[str, Any]) -> None:
    kind = market_kind(symbol)

    stream = "btcusdt@" + params.get("name", "miniTicker")

    async def scenario(exchange: Any) -> None:
        pending = asyncio.ensure_future(exchange.watch_ticker(symbol, params))
        await fed(sim, kind, stream)
        price = await move(sim, kind, "0.999")
        ticker = await pending
        assert ticker["symbol"] == symbol
        assert (ticker["bid"] is not None) == (params.get("name") == "ticker")
        await settled(lambda: exchange.tickers[symbol]["last"] == float(price))

    run(sim, scenario)


@pytest.mark.parametrize("kind", ["spot", "swap"])
def test_watch_all_tickers_from_the_array_stream(sim: BinanceSimulator, kind: str) -> None:
    symbol = "BTC/USDT" if kind == "spot" else "BTC/USDT:USDT"
    core_kind = market_kind(symbol)

    async def scenario(exchange: Any) -> None:
        pending = asyncio.ensure_future(exchange.watch_tickers())
        await fed(sim, core_kind, "!miniTicker@arr")
        price = await move(sim, core_kind, "1.0005")
        tickers = await pending
        assert len(tickers) >= 1 and all((":" in s) == (kind == "swap") for s in tickers)
        await settled(lambda: exchange.tickers.get(symbol, {}).get("last") == float(price))

    run(sim, scenario, kind=kind)


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
def test_watch_trades_and_ohlcv(sim: BinanceSimulator, symbol: str) -> None:
    kind = market_kind(symbol)

    async def scenario(exchange: Any) -> None:
        trades = asyncio.ensure_future(exchange.watch_trades(symbol))
        candles = asyncio.ensure_future(exchange.watch_ohlcv(symbol, "1m"))
        await fed(sim, kind, "btcusdt@trade")
        await fed(sim, kind, "btcusdt@kline_1m")
        price = await move(sim, kind, "1.002")
        assert (await trades)[-1]["symbol"] == symbol
        await settled(lambda: float(price) in [t["price"] for t in exchange.trades[symbol]])
        assert (await candles)[-1][0] % 60_000 == 0
        await settled(lambda: exchange.ohlcvs[symbol]["1m"][-1][4] == float(price))

    run(sim, scenario)


# -- user data ------------------------------------------------------------------------------


def test_spot_orders_trades_and_balance_over_ws_api(sim: BinanceSimulator) -> None:
    async def scenario(exchange: Any) -> None:
        await exchange.authenticate()  # userDataStream.subscribe.signature, answered
        orders = asyncio.ensure_future(exchange.watch_orders("BTC/USDT"))
        trades = asyncio.ensure_future(exchange.watch_my_trades("BTC/USDT"))
        balance = asyncio.ensure_future(exchange.watch_balance())
        await asyncio.sleep(0)  # let the watchers register their futures on the shared client
        price = price_of(sim, "spot")
        limit = float((price * Decimal("0.99")).quantize(Decimal("0.01")))
        created = await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, limit)
        seen = await orders
        assert any(o["id"] == created["id"] and o["status"] == "open" for o in seen)
        await in_thread(lambda: sim.set_price("BTCUSDT", Decimal(str(limit)) - Decimal("1"), kind="spot"))
        fills = await trades
        assert fills[-1]["order"] == created["id"] and fills[-1]["symbol"] == "BTC/USDT"
        # the fill's executionReport (x=TRADE, X=FILLED) also closed the cached order
        assert any(o["id"] == created["id"] and o["status"] == "closed" for o in exchange.orders)
        snapshot = await balance
        assert "BTC" in snapshot or "USDT" in snapshot

    run(sim, scenario)


async def watch_futures_account(sim: BinanceSimulator, exchange: Any, symbol: str) -> tuple[Any, Any, Any, Any]:
    """Pending watch_orders, watch_my_trades, watch_balance and watch_positions, returned once
    the simulator feeds the listenKey stream they share."""
    watchers = (
        asyncio.ensure_future(exchange.watch_orders(symbol)),
        asyncio.ensure_future(exchange.watch_my_trades(symbol)),
        asyncio.ensure_future(exchange.watch_balance()),
        asyncio.ensure_future(exchange.watch_positions([symbol])),
    )
    await user_fed(sim, "usdm")
    return watchers


def test_futures_user_data_over_listen_key(sim: BinanceSimulator) -> None:
    """POST listenKey, /fstream/private/ws?listenKey=, raw events: orders, trades, balance, positions."""

    async def scenario(exchange: Any) -> None:
        symbol = "BTC/USDT:USDT"
        orders, trades, balance, positions = await watch_futures_account(sim, exchange, symbol)
        now = sim.ctx.now_ms()
        sim.call(sim.bus.publish_user, "usdm", sim.api_key, order_trade_update(now, "NEW", "NEW", 0))
        opened = await orders
        assert opened[-1]["symbol"] == symbol and opened[-1]["status"] == "open" and opened[-1]["id"] == "424242"
        sim.call(sim.bus.publish_user, "usdm", sim.api_key, order_trade_update(now + 1, "FILLED", "TRADE", 777))
        fills = await trades
        assert fills[-1]["id"] == "777" and fills[-1]["symbol"] == symbol
        sim.call(sim.bus.publish_user, "usdm", sim.api_key, account_update(now + 2))
        assert (await balance)["USDT"]["total"] == pytest.approx(99999.76)
        held = await positions
        assert held[-1]["symbol"] == symbol and held[-1]["contracts"] == pytest.approx(0.01)

    run(sim, scenario, kind="swap", watchPositions={"fetchPositionsSnapshot": False})


def test_futures_order_fill_and_position_from_the_engine(sim: BinanceSimulator) -> None:
    """A real USDⓈ-M order: REST create, then the engine's events over the listenKey stream."""

    async def scenario(exchange: Any) -> None:
        symbol = "BTC/USDT:USDT"
        orders, trades, balance, positions = await watch_futures_account(sim, exchange, symbol)
        limit = (price_of(sim, "usdm") * Decimal("0.99")).quantize(Decimal("0.1"))
        created = await exchange.create_order(symbol, "limit", "buy", 0.01, float(limit))
        assert any(o["id"] == created["id"] and o["status"] == "open" for o in await orders)
        await in_thread(lambda: sim.set_price("BTCUSDT", limit - 10, kind="usdm"))
        fills = await trades
        assert fills[-1]["order"] == created["id"] and fills[-1]["price"] == float(limit)
        assert (await balance)["USDT"]["total"] > 0
        await positions  # the REST snapshot (fetchPositionsSnapshot) or the first ACCOUNT_UPDATE
        # ccxt keeps positions per market type: {"future": ArrayCacheBySymbolBySide}
        await settled(lambda: any(p["symbol"] == symbol and p["side"] == "long" and p["contracts"] == pytest.approx(0.01)
                                  for cache in (exchange.positions or {}).values() for p in cache))
        await settled(lambda: any(o["id"] == created["id"] and o["status"] == "closed" for o in exchange.orders))

    run(sim, scenario, kind="swap")
