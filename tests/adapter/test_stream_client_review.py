"""Review of the market-data websocket path: MarketStreamClient and MarketDataManager.

Tests marked ``xfail(strict=True)`` reproduce a bug that is still open; the others pin a
subtle behaviour that was checked. Every wait is on an event with a timeout.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import msgspec
import pytest
from fake_stream_server import FakeStreamServer
from foxtrot_hooks import Exchange, TickData

from foxtrot_binance.market_data import MarketDataManager
from foxtrot_binance.stream_client import MarketStreamClient, StreamClientConfig, StreamEvent
from foxtrot_binance.stream_messages import BookTicker, DepthUpdate, MarkPrice, PartialDepth, Ticker24h

FAST = StreamClientConfig(
    messages_per_second=200,
    reconnect_delay=0.02,
    max_reconnect_delay=0.1,
    stale_after=5.0,
    connect_timeout=2.0,
    close_timeout=0.5,
)
BOOK = {"u": 400900217, "s": "BNBUSDT", "b": "25.35190000", "B": "31.21000000", "a": "25.36520000", "A": "40.66000000"}
E1 = 1_700_000_000_123
SPOT_TICKER = {"e": "24hrTicker", "E": E1, "s": "BNBBTC", "p": "0.0015", "P": "250.00", "w": "0.0018", "x": "0.0009",
               "c": "0.0025", "Q": "10", "b": "0.0024", "B": "10", "a": "0.0026", "A": "100", "o": "0.0010",
               "h": "0.0025", "l": "0.0010", "v": "10000", "q": "18", "O": 0, "C": 86400000, "F": 0, "L": 18150,
               "n": 18151}
SPOT_DEPTH5 = {"lastUpdateId": 400900218,
               "bids": [["0.0024", "10"], ["0.0023", "11"], ["0.0022", "12"], ["0.0021", "13"], ["0.0020", "14"]],
               "asks": [["0.0026", "100"], ["0.0027", "101"], ["0.0028", "102"], ["0.0029", "103"], ["0.0030", "104"]]}
USDM_TICKER = {"e": "24hrTicker", "E": E1, "s": "BTCUSDT", "p": "-150.5", "P": "-0.2", "w": "1", "c": "60000.1",
               "Q": "0.003", "o": "60150.6", "h": "61000", "l": "59000", "v": "1234.5", "q": "74000000.25", "O": 0,
               "C": 86400000, "F": 0, "L": 18150, "n": 18151}
USDM_DEPTH5 = {"e": "depthUpdate", "E": E1 + 10, "T": E1 + 9, "s": "BTCUSDT", "U": 890, "u": 899, "pu": 889,
               "b": [["59999.9", "0.5"], ["59999.8", "0.6"]], "a": [["60000.3", "0.7"]]}
MARK = {"e": "markPriceUpdate", "E": E1 + 20, "s": "BTCUSDT", "p": "60001.5", "i": "60000.9", "P": "60000.95",
        "r": "0.00038167", "T": 1_700_006_400_000}
SHUTDOWN = json.dumps({"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 1770123456789}})


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, Any]] = []
        self.states: list[StreamEvent] = []
        self.changed = asyncio.Event()

    def on_message(self, channel: str, symbol: str, payload: Any) -> None:
        self.messages.append((channel, symbol, payload))
        self.changed.set()

    def on_state(self, event: StreamEvent) -> None:
        self.states.append(event)
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)


@pytest.fixture
def server() -> Iterator[FakeStreamServer]:
    with FakeStreamServer() as srv:
        yield srv


def make_client(kind: str, server: FakeStreamServer, inbox: Inbox, **config: Any) -> MarketStreamClient:
    cfg = StreamClientConfig(**{**FAST.__dict__, **config})
    return MarketStreamClient(
        kind, inbox.on_message, adapter_name="TEST", base_url=server.base_url, config=cfg, on_state=inbox.on_state
    )


async def assert_clean(client: MarketStreamClient) -> None:
    await client.close()
    assert asyncio.all_tasks() - {asyncio.current_task()} == set()


class _NoClient:
    def subscribe(self, streams: Any) -> None:
        pass

    def unsubscribe(self, streams: Any) -> None:
        pass

    async def close(self) -> None:
        pass


def _offline(kind: str, sink: list[TickData]) -> MarketDataManager:
    exchange = Exchange.BINANCE if kind == "spot" else Exchange.BINANCEUSDM
    return MarketDataManager(kind, "TEST", exchange, sink.append, lambda on_message: _NoClient())


def _decode(cls: type[Any], payload: dict[str, Any]) -> Any:
    return msgspec.json.decode(msgspec.json.encode(payload), type=cls, strict=False)


# -- MarketDataManager: the same frame from both sockets of a make-before-break swap ----------
@pytest.mark.parametrize("kind", ["spot", "usdm"])
def test_the_same_depth_snapshot_twice_is_one_tick(kind: str) -> None:
    ticks: list[TickData] = []
    m = _offline(kind, ticks)
    symbol = "BNBBTC" if kind == "spot" else "BTCUSDT"
    m.subscribe(symbol)
    m.on_message("ticker", symbol, _decode(Ticker24h, SPOT_TICKER if kind == "spot" else USDM_TICKER))
    del ticks[:]
    cls, payload = (PartialDepth, SPOT_DEPTH5) if kind == "spot" else (DepthUpdate, USDM_DEPTH5)
    m.on_message("depth5", symbol, _decode(cls, payload))
    m.on_message("depth5", symbol, _decode(cls, payload))  # the same snapshot, from the other socket
    assert len(ticks) == 1


def test_a_mark_price_seen_again_or_older_is_no_tick() -> None:
    ticks: list[TickData] = []
    m = _offline("usdm", ticks)
    m.subscribe("BTCUSDT")
    m.on_message("ticker", "BTCUSDT", _decode(Ticker24h, USDM_TICKER))
    del ticks[:]
    newer = {**MARK, "E": E1 + 2000, "p": "60010.0"}
    older = {**MARK, "E": E1 + 1000, "p": "59990.0"}
    for payload in (newer, newer, older):  # old socket lags behind the new one during a swap
        m.on_message("markPrice", "BTCUSDT", _decode(MarkPrice, payload))
    assert [t.extra["mark_price"] for t in ticks] == [60010.0]
    assert m._states["BTCUSDT"].extra["mark_price"] == 60010.0  # type: ignore[index]


# -- MarketStreamClient ---------------------------------------------------------------------
async def _notice_then_close(server: FakeStreamServer, index: int) -> None:
    """Binance's maintenance notice immediately followed by the close (a zero grace)."""
    conn = server.conns[index]
    await conn.ws.send_str(SHUTDOWN)
    await conn.ws.close()


def test_server_shutdown_then_close_reconnects_once(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, ack_timeout=0.4)  # the watch loop checks every 0.1 s
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: len(server.holding("bnbusdt@bookTicker")) == 1)
        try:
            await server.call(_notice_then_close(server, 0))
            await server.until(lambda: len(server.holding("bnbusdt@bookTicker")) == 1 and len(server.conns) >= 2)
            # the replacement socket is healthy and got no notice: nothing should replace it again
            with pytest.raises(TimeoutError):
                await server.until(lambda: len(server.conns) >= 3, timeout=1.0)
        finally:
            await assert_clean(client)

    run(main)


def test_an_older_depth_snapshot_does_not_replace_newer_levels() -> None:
    ticks: list[TickData] = []
    m = _offline("spot", ticks)
    m.subscribe("BNBBTC")
    m.on_message("ticker", "BNBBTC", _decode(Ticker24h, SPOT_TICKER))
    newer = {**SPOT_DEPTH5, "lastUpdateId": 500,
             "bids": [["0.0024", "10"], ["0.0023", "99"], ["0.0022", "12"], ["0.0021", "13"], ["0.0020", "14"]]}
    older = {**SPOT_DEPTH5, "lastUpdateId": 499,
             "bids": [["0.0024", "10"], ["0.0023", "11"], ["0.0022", "12"], ["0.0021", "13"], ["0.0020", "14"]]}
    m.on_message("depth5", "BNBBTC", _decode(PartialDepth, newer))
    m.on_message("depth5", "BNBBTC", _decode(PartialDepth, older))
    assert ticks[-1].bid_volume_2 == 99.0


# -- verified behaviours (not bugs) -------------------------------------------------------------
def test_subscription_changes_during_backoff_reach_the_next_socket_exactly(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, reconnect_delay=0.3, max_reconnect_delay=0.3)
        client.subscribe(["bnbusdt@bookTicker", "ethusdt@bookTicker"])
        await server.until(lambda: len(server.holding("ethusdt@bookTicker")) == 1)
        await server.drop_all()
        await inbox.until(lambda: any(e.state == "reconnecting" for e in inbox.states))
        client.unsubscribe(["bnbusdt@bookTicker"])
        client.subscribe(["bnbusdt@bookTicker", "xrpusdt@bookTicker"])
        client.unsubscribe(["ethusdt@bookTicker"])
        await server.until(lambda: len(server.conns) == 2 and len(server.holding("xrpusdt@bookTicker")) == 1)
        assert server.conns[1].streams == {"bnbusdt@bookTicker", "xrpusdt@bookTicker"}
        assert [r["method"] for r in server.conns[1].requests] == ["SUBSCRIBE"]
        await assert_clean(client)

    run(main)


def test_unsubscribe_then_resubscribe_on_one_socket_keeps_the_stream(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, messages_per_second=5)
        client.subscribe(["bnbusdt@bookTicker", "ethusdt@bookTicker"])
        await server.until(lambda: len(server.holding("ethusdt@bookTicker")) == 1)
        client.unsubscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: not server.holding("bnbusdt@bookTicker"))
        client.subscribe(["bnbusdt@bookTicker"])
        client.unsubscribe(["bnbusdt@bookTicker"])
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: len(server.holding("bnbusdt@bookTicker")) == 1)
        assert [r["method"] for r in server.conns[0].requests] == ["SUBSCRIBE", "UNSUBSCRIBE", "SUBSCRIBE"]
        await server.push("bnbusdt@bookTicker", BOOK)
        await inbox.until(lambda: len(inbox.messages) == 1)
        await assert_clean(client)

    run(main)


def test_more_streams_than_a_socket_allows_all_return_after_a_drop_within_the_limit(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, max_streams_per_connection=3, max_batch=2)
        names = [f"s{i}usdt@bookTicker" for i in range(8)]
        client.subscribe(names)
        await server.until(lambda: all(len(server.holding(n)) == 1 for n in names))
        added = ["a1usdt@bookTicker", "a2usdt@bookTicker", "a3usdt@bookTicker"]
        client.unsubscribe(names[:2])  # holes in the first socket are filled first
        client.subscribe(added)
        wanted = names[2:] + added
        await server.drop_all()
        await server.until(lambda: all(len(server.holding(n)) == 1 for n in wanted) and len(server.open_conns()) == 3)
        assert all(len(c.streams) <= 3 for c in server.open_conns())
        assert not any(server.holding(n) for n in names[:2])
        await assert_clean(client)

    run(main)


def test_close_during_a_rotation_leaves_no_task_socket_or_session(server: FakeStreamServer) -> None:
    server.hold_replies_from = 1  # the replacement never becomes ready

    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, max_connection_age=0.1)
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: len(server.conns) == 2 and bool(server.conns[1].requests))
        await assert_clean(client)
        assert client._http is None
        await server.until(lambda: not server.open_conns())

    run(main)


def test_unsubscribing_everything_mid_rotation_closes_both_sockets_and_a_new_subscribe_works(
    server: FakeStreamServer,
) -> None:
    server.hold_replies_from = 1

    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, max_connection_age=0.1)
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: len(server.conns) == 2 and bool(server.conns[1].requests))
        client.unsubscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: not server.open_conns())
        assert client.connections == []
        server.hold_replies_from = None
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: len(server.holding("bnbusdt@bookTicker")) == 1)
        await server.push("bnbusdt@bookTicker", BOOK)
        await inbox.until(lambda: len(inbox.messages) == 1)
        await assert_clean(client)

    run(main)


def test_backoff_resets_after_a_proved_connection_even_if_it_was_rotated(
    server: FakeStreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import foxtrot_binance.stream_client as sc

    attempts: list[int] = []

    def recording_backoff(attempt: int, base: float, cap: float) -> float:
        attempts.append(attempt)
        return 0.01

    monkeypatch.setattr(sc, "_backoff", recording_backoff)

    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, stable_after=0.3, max_connection_age=1.0)
        try:
            client.subscribe(["bnbusdt@bookTicker"])
            for n in range(3):  # three sockets dropped at once: not proved, the backoff grows
                await server.until(lambda: len(server.conns) == n + 1 and len(server.holding("bnbusdt@bookTicker")) == 1)
                await server.drop_all()
            await server.until(lambda: len(server.conns) == 4 and len(server.holding("bnbusdt@bookTicker")) == 1)
            assert attempts == [0, 1, 2]
            await server.push("bnbusdt@bookTicker", BOOK)  # the fourth socket delivers data ...
            # ... and lives past stable_after until the scheduled make-before-break replaces it
            await server.until(lambda: ("closed", 3) in server.events and len(server.holding("bnbusdt@bookTicker")) == 1)
            await server.drop_all()  # the young replacement drops
            await inbox.until(lambda: len(attempts) == 4)
            assert attempts[-1] == 0  # the connection had proved itself for ~1 s: first-step backoff
        finally:
            await assert_clean(client)

    run(main)
