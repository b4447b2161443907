"""MarketDataManager: streams -> merged TickData, over real sockets on 127.0.0.1.

Protocol-exact cases run against the small fake server (the test decides every frame);
the end-to-end cases run against the embedded simulator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime, timezone
from typing import Any

import msgspec
import pytest
from fake_stream_server import FakeStreamServer
from foxtrot_hooks import Exchange, TickData

from foxtrot_binance.market_data import MarketDataManager, streams_for
from foxtrot_binance.stream_client import MarketStreamClient, StreamClientConfig, StreamEvent
from foxtrot_binance.stream_messages import BookTicker, DepthUpdate, MarkPrice, PartialDepth, Ticker24h

UTC = timezone.utc
CFG = StreamClientConfig(messages_per_second=200, reconnect_delay=0.02, max_reconnect_delay=0.1, close_timeout=0.5)
E1 = 1_700_000_000_123  # an exchange event time (ms)

SPOT_TICKER = {"e": "24hrTicker", "E": E1, "s": "BNBBTC", "p": "0.0015", "P": "250.00", "w": "0.0018", "x": "0.0009",
               "c": "0.0025", "Q": "10", "b": "0.0024", "B": "10", "a": "0.0026", "A": "100", "o": "0.0010",
               "h": "0.0025", "l": "0.0010", "v": "10000", "q": "18", "O": 0, "C": 86400000, "F": 0, "L": 18150,
               "n": 18151}
SPOT_BOOK = {"u": 400900217, "s": "BNBBTC", "b": "0.00241", "B": "31.21", "a": "0.00259", "A": "40.66"}
SPOT_DEPTH5 = {"lastUpdateId": 400900218,
               "bids": [["0.0024", "10"], ["0.0023", "11"], ["0.0022", "12"], ["0.0021", "13"], ["0.0020", "14"]],
               "asks": [["0.0026", "100"], ["0.0027", "101"], ["0.0028", "102"], ["0.0029", "103"], ["0.0030", "104"]]}
USDM_TICKER = {"e": "24hrTicker", "E": E1, "s": "BTCUSDT", "p": "-150.5", "P": "-0.2", "w": "1", "c": "60000.1",
               "Q": "0.003", "o": "60150.6", "h": "61000", "l": "59000", "v": "1234.5", "q": "74000000.25", "O": 0,
               "C": 86400000, "F": 0, "L": 18150, "n": 18151}
USDM_BOOK = {"e": "bookTicker", "u": 900, "E": E1 + 5, "T": E1 + 4, "s": "BTCUSDT", "b": "60000.0", "B": "1.5",
             "a": "60000.2", "A": "2.5"}
USDM_DEPTH5 = {"e": "depthUpdate", "E": E1 + 10, "T": E1 + 9, "s": "BTCUSDT", "U": 890, "u": 899, "pu": 889,
               "b": [["59999.9", "0.5"], ["59999.8", "0.6"]], "a": [["60000.3", "0.7"]]}
MARK = {"e": "markPriceUpdate", "E": E1 + 20, "s": "BTCUSDT", "p": "60001.5", "i": "60000.9", "P": "60000.95",
        "r": "0.00038167", "T": 1_700_006_400_000}


def ms(dt: datetime) -> int:
    return round(dt.timestamp() * 1000)


class Ticks:
    """on_tick sink that remembers each tick and a snapshot of its fields at emission time."""

    def __init__(self) -> None:
        self.ticks: list[TickData] = []
        self.snapshots: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    def __call__(self, tick: TickData) -> None:
        self.ticks.append(tick)
        self.snapshots.append({k: (dict(v) if isinstance(v, dict) else v) for k, v in tick.__dict__.items()})
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


@pytest.fixture
def server() -> Iterator[FakeStreamServer]:
    with FakeStreamServer() as srv:
        yield srv


@pytest.fixture
def log_lines(library_logs: Callable[..., list[str]]) -> list[str]:
    return library_logs("WARNING", "{level} {message}")


def manager(kind: str, base_url: str, ticks: Ticks, **cfg: Any) -> MarketDataManager:
    config = StreamClientConfig(**{**CFG.__dict__, **cfg})
    exchange = Exchange.BINANCE if kind == "spot" else Exchange.BINANCEUSDM
    return MarketDataManager(
        kind, "TEST", exchange, ticks,
        lambda on_message: MarketStreamClient(kind, on_message, adapter_name="TEST", base_url=base_url, config=config),
    )


async def close_clean(m: MarketDataManager) -> None:
    await m.close()
    assert asyncio.all_tasks() - {asyncio.current_task()} == set()


def test_streams_per_symbol() -> None:
    assert streams_for("spot", "BTCUSDT") == ["btcusdt@bookTicker", "btcusdt@ticker", "btcusdt@depth5@100ms"]
    assert streams_for("usdm", "BTCUSDT")[-1] == "btcusdt@markPrice@1s"


def test_spot_merges_book_ticker_ticker_and_depth5(server: FakeStreamServer) -> None:
    async def main() -> None:
        ticks = Ticks()
        m = manager("spot", server.base_url, ticks)
        m.subscribe("BNBBTC")
        await server.until(lambda: sum(len(c.streams) for c in server.open_conns()) == 3)
        before = time.time()
        await server.push("bnbbtc@bookTicker", SPOT_BOOK)  # before the first 24 h ticker: held back
        await server.push("bnbbtc@ticker", SPOT_TICKER)
        await ticks.until(lambda: len(ticks.ticks) == 1)
        first = ticks.ticks[0]
        assert (first.symbol, first.exchange, first.vt_symbol, first.adapter_name) == (
            "BNBBTC", Exchange.BINANCE, "BNBBTC.BINANCE", "TEST")
        assert (first.last_price, first.volume, first.turnover, first.last_volume) == (0.0025, 10000, 18, 10)
        assert (first.open_price, first.high_price, first.low_price, first.pre_close) == (0.001, 0.0025, 0.001, 0.0009)
        assert (first.bid_price_1, first.bid_volume_1, first.ask_price_1, first.ask_volume_1) == (
            0.00241, 31.21, 0.00259, 40.66)
        assert first.datetime == datetime.fromtimestamp(E1 / 1000, UTC) and first.datetime.tzinfo is UTC
        assert first.localtime is not None and first.localtime.tzinfo is UTC
        assert before - 1 <= first.localtime.timestamp() <= time.time() + 1

        await server.push("bnbbtc@depth5@100ms", SPOT_DEPTH5)
        await ticks.until(lambda: len(ticks.ticks) == 2)
        t = ticks.ticks[1]
        assert [t.bid_price_1, t.bid_price_2, t.bid_price_3, t.bid_price_4, t.bid_price_5] == [
            0.0024, 0.0023, 0.0022, 0.0021, 0.0020]
        assert [t.ask_volume_1, t.ask_volume_2, t.ask_volume_3, t.ask_volume_4, t.ask_volume_5] == [
            100, 101, 102, 103, 104]
        assert t.last_price == 0.0025  # merged, not reset
        # spot depth has no event time: receive time, but never before the previous tick
        assert t.datetime >= first.datetime and t.datetime.tzinfo is UTC
        await close_clean(m)

    run(main)


def test_usdm_merges_mark_price_and_futures_depth_form(server: FakeStreamServer) -> None:
    async def main() -> None:
        ticks = Ticks()
        m = manager("usdm", server.base_url, ticks)
        m.subscribe("btcusdt")
        await server.until(lambda: sum(len(c.streams) for c in server.open_conns()) == 4)
        await server.push("btcusdt@ticker", USDM_TICKER)
        await ticks.until(lambda: len(ticks.ticks) == 1)
        assert ticks.ticks[0].pre_close == 60150.6  # last - price change
        assert ticks.ticks[0].extra is None
        await server.push("btcusdt@bookTicker", USDM_BOOK)
        await ticks.until(lambda: len(ticks.ticks) == 2)
        assert ms(ticks.ticks[1].datetime) == E1 + 5
        # depth with an older update id than the bookTicker: its levels behind the fresher best
        await server.push("btcusdt@depth5@100ms", USDM_DEPTH5)
        await ticks.until(lambda: len(ticks.ticks) == 3)
        t = ticks.ticks[2]
        assert (t.bid_price_1, t.ask_price_1) == (60000.0, 60000.2)
        assert (t.bid_price_2, t.bid_volume_2, t.bid_price_3, t.bid_price_4) == (59999.9, 0.5, 59999.8, 0.0)
        assert (t.ask_price_2, t.ask_volume_2, t.ask_price_3) == (60000.3, 0.7, 0.0)
        await server.push("btcusdt@markPrice@1s", MARK)
        await ticks.until(lambda: len(ticks.ticks) == 4)
        t = ticks.ticks[3]
        assert t.extra == {"mark_price": 60001.5, "index_price": 60000.9, "estimated_settle_price": 60000.95,
                           "funding_rate": 0.00038167,
                           "next_funding_time": datetime.fromtimestamp(1_700_006_400, UTC)}
        assert ms(t.datetime) == E1 + 20
        await close_clean(m)

    run(main)


def test_emitted_ticks_never_change(server: FakeStreamServer) -> None:
    async def main() -> None:
        ticks = Ticks()
        m = manager("usdm", server.base_url, ticks)
        m.subscribe("BTCUSDT")
        await server.until(lambda: sum(len(c.streams) for c in server.open_conns()) == 4)
        await server.push("btcusdt@ticker", USDM_TICKER)
        await server.push("btcusdt@markPrice@1s", MARK)
        await ticks.until(lambda: len(ticks.ticks) == 2)
        for i in range(5):
            book = {**USDM_BOOK, "u": 1000 + i, "b": str(60000 + i), "E": E1 + 100 + i}
            await server.push("btcusdt@bookTicker", book)
            await server.push("btcusdt@ticker", {**USDM_TICKER, "c": str(61000 + i), "E": E1 + 100 + i})
            await server.push("btcusdt@markPrice@1s", {**MARK, "p": str(62000 + i), "E": E1 + 100 + i})
        await ticks.until(lambda: len(ticks.ticks) == 17)
        assert len({id(t) for t in ticks.ticks}) == 17
        assert len({id(t.extra) for t in ticks.ticks}) == 17
        for tick, snapshot in zip(ticks.ticks, ticks.snapshots):
            assert tick.__dict__ == snapshot
        assert [t.bid_price_1 for t in ticks.ticks[2::3]] == [60000, 60001, 60002, 60003, 60004]
        await close_clean(m)

    run(main)


def test_datetime_never_goes_back_and_older_book_is_ignored(server: FakeStreamServer) -> None:
    async def main() -> None:
        ticks = Ticks()
        m = manager("spot", server.base_url, ticks)
        m.subscribe("BNBBTC")
        await server.until(lambda: sum(len(c.streams) for c in server.open_conns()) == 3)
        future = int(time.time() * 1000) + 60_000
        await server.push("bnbbtc@ticker", {**SPOT_TICKER, "E": future})
        await server.push("bnbbtc@depth5@100ms", {**SPOT_DEPTH5, "lastUpdateId": 500, "bids": [["0.0024", "1"]]})
        await server.push("bnbbtc@bookTicker", {**SPOT_BOOK, "u": 499})  # older than the depth: no tick
        await server.push("bnbbtc@bookTicker", {**SPOT_BOOK, "u": 501, "b": "0.00245"})
        await ticks.until(lambda: len(ticks.ticks) == 3)
        assert all(ms(t.datetime) == future for t in ticks.ticks)  # receive time would be a minute earlier
        assert ticks.ticks[1].bid_price_1 == 0.0024 and ticks.ticks[1].bid_price_2 == 0.0  # short book: rest zeroed
        assert ticks.ticks[2].bid_price_1 == 0.00245
        await close_clean(m)

    run(main)


def test_subscriptions_survive_a_drop_and_unsubscribe_stops_ticks(server: FakeStreamServer) -> None:
    async def main() -> None:
        ticks = Ticks()
        m = manager("spot", server.base_url, ticks)
        m.subscribe("BNBBTC")  # before any connection exists
        await server.until(lambda: sum(len(c.streams) for c in server.open_conns()) == 3)
        m.subscribe("ETHBTC")  # on the live connection
        await server.until(lambda: sum(len(c.streams) for c in server.open_conns()) == 6)
        assert len(server.conns) == 1
        await server.drop_all()
        await server.until(lambda: len(server.conns) == 2 and len(server.open_conns()[0].streams) == 6)
        await server.push("bnbbtc@ticker", SPOT_TICKER)
        await ticks.until(lambda: len(ticks.ticks) == 1)
        m.unsubscribe("BNBBTC")
        assert m.symbols == {"ETHBTC"}
        await server.until(lambda: server.open_conns()[0].streams == set(streams_for("spot", "ETHBTC")))
        await server.push("ethbtc@ticker", {**SPOT_TICKER, "s": "ETHBTC"})
        await ticks.until(lambda: len(ticks.ticks) == 2)
        assert ticks.ticks[1].symbol == "ETHBTC"
        await close_clean(m)

    run(main)


# -- end to end over the embedded simulator ---------------------------------------------
@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    simulator = pytest.importorskip("foxtrot_binance.simulator.server")
    with simulator.BinanceSimulator(seed=3, symbols=["BTCUSDT", "ETHUSDT"], tick_interval=0.05) as s:
        yield s


@pytest.mark.parametrize("kind", ["spot", "usdm"])
def test_simulator_ticks_and_recovery_after_a_drop(sim: Any, kind: str, log_lines: list[str]) -> None:
    async def main() -> None:
        ticks = Ticks()
        states: list[StreamEvent] = []
        exchange = Exchange.BINANCE if kind == "spot" else Exchange.BINANCEUSDM
        m = MarketDataManager(
            kind, "TEST", exchange, ticks,
            lambda on_message: MarketStreamClient(kind, on_message, base_url=sim.base_url, config=CFG,
                                                  on_state=states.append),
        )
        m.subscribe("BTCUSDT")

        def complete(t: TickData) -> bool:
            return t.bid_price_5 > 0 and t.ask_price_1 > t.bid_price_1 > 0 and t.last_price > 0 and (
                kind == "spot" or (t.extra is not None and t.extra["mark_price"] > 0))

        await ticks.until(lambda: any(complete(t) for t in ticks.ticks), timeout=5)
        t = ticks.ticks[-1]
        assert t.datetime.tzinfo is UTC and t.vt_symbol == f"BTCUSDT.{exchange.value}"
        sim.faults.send_malformed_frame("market", count=2)
        seen = len(ticks.ticks)
        await ticks.until(lambda: len(ticks.ticks) > seen + 10, timeout=5)
        assert [s.state for s in states].count("disconnected") == 0  # skipped, not fatal
        assert any("malformed frame" in line for line in log_lines)

        sim.faults.drop_streams("market")
        seen = len(ticks.ticks)
        connections = 1 if kind == "spot" else 2
        await ticks.until(
            lambda: [s.state for s in states].count("connected") == 2 * connections and len(ticks.ticks) > seen + 3,
            timeout=5,
        )
        assert [s.state for s in states].count("disconnected") == connections
        await close_clean(m)

    run(main)


def test_subscribe_pacing_stays_under_binance_message_limit(sim: Any) -> None:
    """The simulator disconnects (1008) a client sending more than 5 messages/s on spot, as Binance does."""

    async def main() -> None:
        states: list[StreamEvent] = []
        received: set[str] = set()
        changed = asyncio.Event()

        def on_message(channel: str, symbol: str, payload: Any) -> None:
            received.add(f"{symbol.lower()}@{channel}")
            changed.set()

        config = StreamClientConfig(**{**CFG.__dict__, "messages_per_second": None, "max_batch": 1})
        client = MarketStreamClient("spot", on_message, base_url=sim.base_url, config=config, on_state=states.append)
        wanted = {f"{s}@{c}" for s in ("btcusdt", "ethusdt") for c in ("bookTicker", "ticker", "trade")}
        client.subscribe(sorted(wanted))  # six SUBSCRIBE messages, one stream each

        async def all_delivering() -> None:
            while not wanted <= received:
                changed.clear()
                await changed.wait()

        await asyncio.wait_for(all_delivering(), 10)
        assert [s.state for s in states] == ["connected"]  # never cut off for flooding
        await client.close()
        assert asyncio.all_tasks() - {asyncio.current_task()} == set()

    run(main)


# -- the hot path without sockets: decoded payloads straight into on_message --------------------
class _NoClient:
    def subscribe(self, streams: Any) -> None: ...

    def unsubscribe(self, streams: Any) -> None: ...

    async def close(self) -> None: ...


def _offline(kind: str, sink: list[TickData]) -> MarketDataManager:
    exchange = Exchange.BINANCE if kind == "spot" else Exchange.BINANCEUSDM
    return MarketDataManager(kind, "TEST", exchange, sink.append, lambda on_message: _NoClient())


def _decode(cls: type[Any], payload: dict[str, Any]) -> Any:
    return msgspec.json.decode(msgspec.json.encode(payload), type=cls, strict=False)


def test_event_times_equal_fromtimestamp_across_millisecond_boundaries_and_symbols() -> None:
    """The manager reuses the last converted event time while the millisecond repeats; every
    value must still be exactly what ``datetime.fromtimestamp(E / 1000, UTC)`` gives."""
    ticks: list[TickData] = []
    m = _offline("usdm", ticks)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        m.subscribe(symbol)
        m.on_message("ticker", symbol, _decode(Ticker24h, {**USDM_TICKER, "s": symbol, "E": E1 - 1000}))
    del ticks[:]
    # the same ms several times, the next ms, then another symbol one ms *behind* the last
    # converted one (its own clock has not reached it yet), and whole-second boundaries
    plan = [("BTCUSDT", E1), ("BTCUSDT", E1), ("BTCUSDT", E1 + 1), ("ETHUSDT", E1), ("ETHUSDT", E1),
            ("ETHUSDT", E1 + 1), ("BTCUSDT", E1 + 876), ("BTCUSDT", E1 + 877), ("ETHUSDT", E1 + 877)]
    for u, (symbol, e) in enumerate(plan, start=1):
        m.on_message("bookTicker", symbol, _decode(BookTicker, {**USDM_BOOK, "s": symbol, "u": u, "E": e}))
    assert [(t.symbol, t.datetime) for t in ticks] == [(s, datetime.fromtimestamp(e / 1000, UTC)) for s, e in plan]
    assert all(t.datetime.tzinfo is UTC and t.localtime is not None and t.localtime.tzinfo is UTC for t in ticks)


def test_receive_time_never_goes_behind_an_earlier_event_time() -> None:
    ticks: list[TickData] = []
    m = _offline("spot", ticks)
    m.subscribe("BNBBTC")
    future = int(time.time() * 1000) + 60_000
    m.on_message("ticker", "BNBBTC", _decode(Ticker24h, {**SPOT_TICKER, "E": future}))
    before = datetime.now(UTC)
    m.on_message("bookTicker", "BNBBTC", _decode(BookTicker, SPOT_BOOK))  # spot: no event time
    m.on_message("depth5", "BNBBTC", _decode(PartialDepth, SPOT_DEPTH5))  # nor here
    after = datetime.now(UTC)
    assert [t.datetime for t in ticks] == [datetime.fromtimestamp(future / 1000, UTC)] * 3
    assert all(before <= t.localtime <= after for t in ticks[1:] if t.localtime is not None)
    m.unsubscribe("BNBBTC")
    m.subscribe("BNBBTC")  # a fresh state: receive time again
    m.on_message("ticker", "BNBBTC", _decode(Ticker24h, {**SPOT_TICKER, "E": 0}))
    assert ticks[-1].datetime == ticks[-1].localtime


def test_emitted_tick_equals_one_built_by_the_constructor() -> None:
    """Ticks skip ``__init__``; they must still be complete: every field, ``vt_symbol``, ``extra``."""
    ticks: list[TickData] = []
    m = _offline("usdm", ticks)
    m.subscribe("BTCUSDT")
    m.on_message("ticker", "BTCUSDT", _decode(Ticker24h, USDM_TICKER))
    m.on_message("markPrice", "BTCUSDT", _decode(MarkPrice, MARK))
    m.on_message("bookTicker", "BTCUSDT", _decode(BookTicker, USDM_BOOK))
    tick = ticks[-1]
    expected = TickData(
        adapter_name="TEST", symbol="BTCUSDT", exchange=Exchange.BINANCEUSDM, datetime=tick.datetime, name="BTCUSDT",
        volume=1234.5, turnover=74000000.25, last_price=60000.1, last_volume=0.003, open_price=60150.6,
        high_price=61000, low_price=59000, pre_close=60150.6, bid_price_1=60000.0, bid_volume_1=1.5,
        ask_price_1=60000.2, ask_volume_1=2.5, localtime=tick.localtime,
    )
    expected.extra = {"mark_price": 60001.5, "index_price": 60000.9, "estimated_settle_price": 60000.95,
                      "funding_rate": 0.00038167,
                      "next_funding_time": datetime.fromtimestamp(1_700_006_400_000 / 1000, UTC)}
    assert type(tick) is TickData
    assert tick == expected and vars(tick) == vars(expected)
    assert tick.vt_symbol == expected.vt_symbol == f"BTCUSDT.{Exchange.BINANCEUSDM.value}"
    assert tick.datetime == datetime.fromtimestamp((E1 + 20) / 1000, UTC)  # the mark price came later
    # and the state it was copied from is not shared with it
    m.on_message("bookTicker", "BTCUSDT", _decode(BookTicker, {**USDM_BOOK, "u": 901, "b": "1"}))
    assert tick.bid_price_1 == 60000.0 and ticks[-1].bid_price_1 == 1.0
    assert tick.__dict__ is not ticks[-1].__dict__ and tick.extra is not ticks[-1].extra


def test_the_same_book_update_twice_is_one_tick() -> None:
    """During a make-before-break swap both sockets may deliver the same bookTicker: the
    second copy adds nothing and is not emitted; the next update is."""
    ticks: list[TickData] = []
    m = _offline("usdm", ticks)
    m.subscribe("BTCUSDT")
    m.on_message("ticker", "BTCUSDT", _decode(Ticker24h, USDM_TICKER))
    del ticks[:]
    for u in (41, 41, 42):
        m.on_message("bookTicker", "BTCUSDT", _decode(BookTicker, {**USDM_BOOK, "u": u}))
    assert len(ticks) == 2


def test_a_24h_ticker_seen_again_or_older_is_no_tick() -> None:
    """Both sockets of a make-before-break swap deliver the same 24 h ticker, and the old one
    may lag: a repeat adds nothing and an older one would move last/volume back. A bookTicker
    whose own event time is older still ticks, at the symbol's latest time."""
    ticks: list[TickData] = []
    m = _offline("usdm", ticks)
    m.subscribe("BTCUSDT")
    ticker = {**USDM_TICKER, "E": E1 + 1000}
    for payload in (ticker, ticker, {**ticker, "E": E1, "c": "59000"}, {**ticker, "c": "60000.2"},
                    {**ticker, "E": E1 + 2000, "c": "60000.3"}):
        m.on_message("ticker", "BTCUSDT", _decode(Ticker24h, payload))
    assert [t.last_price for t in ticks] == [60000.1, 60000.2, 60000.3]  # same E, new values: a real update
    m.on_message("bookTicker", "BTCUSDT", _decode(BookTicker, {**USDM_BOOK, "E": E1 + 5}))
    assert ticks[-1].datetime == datetime.fromtimestamp((E1 + 2000) / 1000, UTC)
    assert ticks[-1].last_price == 60000.3 and ticks[-1].bid_price_1 == 60000.0


def _levels(tick: TickData, side: str) -> list[tuple[float, float]]:
    return [(getattr(tick, f"{side}_price_{i}"), getattr(tick, f"{side}_volume_{i}")) for i in range(1, 6)]


def test_depth_levels_stay_behind_a_best_price_that_moved_past_them() -> None:
    """bookTicker is real time, depth5 a 100 ms snapshot: when the best price moves past the
    snapshot's levels, those levels must not show in front of it (a bid book going up)."""
    ticks: list[TickData] = []
    m = _offline("usdm", ticks)
    m.subscribe("BTCUSDT")
    m.on_message("ticker", "BTCUSDT", _decode(Ticker24h, USDM_TICKER))
    depth = {**USDM_DEPTH5, "u": 899, "b": [["100.5", "1"], ["100.4", "2"], ["100.3", "3"], ["100.2", "4"], ["100.1", "5"]],
             "a": [["100.6", "1"], ["100.7", "2"], ["100.8", "3"], ["100.9", "4"], ["101.0", "5"]]}
    m.on_message("depth5", "BTCUSDT", _decode(DepthUpdate, depth))
    assert _levels(ticks[-1], "bid")[:2] == [(100.5, 1.0), (100.4, 2.0)]
    # the market falls: best bid 100.35 and best ask 100.45 are fresher than the snapshot
    m.on_message("bookTicker", "BTCUSDT", _decode(BookTicker, {**USDM_BOOK, "u": 900, "b": "100.35", "B": "9",
                                                                 "a": "100.45", "A": "8"}))
    bids, asks = _levels(ticks[-1], "bid"), _levels(ticks[-1], "ask")
    assert bids == [(100.35, 9.0), (100.3, 3.0), (100.2, 4.0), (100.1, 5.0), (0.0, 0.0)]
    assert asks == [(100.45, 8.0), (100.7, 2.0), (100.8, 3.0), (100.9, 4.0), (101.0, 5.0)]  # a better ask: kept
    # it rises: the bids shown stay valid behind a better best bid; the asks it reached go
    m.on_message("bookTicker", "BTCUSDT", _decode(BookTicker, {**USDM_BOOK, "u": 901, "b": "100.55", "B": "7",
                                                                 "a": "100.65", "A": "6"}))
    bids, asks = _levels(ticks[-1], "bid"), _levels(ticks[-1], "ask")
    assert bids == [(100.55, 7.0), (100.3, 3.0), (100.2, 4.0), (100.1, 5.0), (0.0, 0.0)]
    assert asks == [(100.65, 6.0), (100.7, 2.0), (100.8, 3.0), (100.9, 4.0), (101.0, 5.0)]
    # the next snapshot (newer than the book) shows the whole book again
    m.on_message("depth5", "BTCUSDT", _decode(DepthUpdate, {**depth, "u": 903}))
    assert _levels(ticks[-1], "bid")[1] == (100.4, 2.0)
    bids = _levels(ticks[-1], "bid")
    # a quantity-only update keeps the levels; an older snapshot fills in behind the best
    m.on_message("bookTicker", "BTCUSDT", _decode(BookTicker, {**USDM_BOOK, "u": 904, "b": "100.5", "B": "3",
                                                                 "a": "100.6", "A": "6"}))
    assert _levels(ticks[-1], "bid")[1:] == bids[1:] and ticks[-1].bid_volume_1 == 3.0
    for tick in ticks:  # never a crossed or non-monotonic book
        b = [p for p, _ in _levels(tick, "bid") if p]
        a = [p for p, _ in _levels(tick, "ask") if p]
        assert b == sorted(b, reverse=True) and a == sorted(a) and len(set(b)) == len(b)
