"""Review of the tick hot path: cf9cc93 (MarketDataManager) and 1c779bb/4344592 (one-pass
combined-stream decoding with a union tagged by stream name, rebuilt after subscription changes).

The socket cases run the real client against the fake stream server on 127.0.0.1; every wait is
on an event (server state, callbacks) with a timeout.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import threading
from datetime import datetime, timezone
from typing import Any

import msgspec
import pytest
from fake_stream_server import FakeStreamServer
from foxtrot_hooks import EVENT_TICK, Event, EventEngine, Exchange, TickData

from foxtrot_binance.market_data import MarketDataManager
from foxtrot_binance.stream_client import MarketStreamClient, StreamClientConfig
from foxtrot_binance.stream_messages import (
    BookTicker,
    DepthUpdate,
    MarkPrice,
    PartialDepth,
    Ticker24h,
    data_frame_decoder,
    data_frame_type,
    decoder_for,
    frame_decoder,
    payload_type,
)

from test_market_data import _decode, _NoClient
from test_stream_client import Inbox, run, server  # noqa: F401 - server is a fixture

UTC = timezone.utc
FAST = StreamClientConfig(
    messages_per_second=200, reconnect_delay=0.02, max_reconnect_delay=0.1, stale_after=5.0,
    connect_timeout=2.0, close_timeout=0.5,
)
E1 = 1_700_000_000_123

SPOT = {
    "bnbusdt@bookTicker": {"u": 400900217, "s": "BNBUSDT", "b": "25.3519", "B": "31.21", "a": "25.3652", "A": "40.66"},
    "bnbusdt@ticker": {"e": "24hrTicker", "E": E1, "s": "BNBUSDT", "p": "0.5", "c": "25.5", "Q": "1", "o": "25",
                       "h": "26", "l": "24", "v": "1000", "q": "25000", "x": "24.9"},
    "bnbusdt@depth5@100ms": {"lastUpdateId": 7, "bids": [["25.3", "1"], ["25.2", "2"]], "asks": [["25.4", "3"]]},
}
USDM = {
    "btcusdt@bookTicker": {"e": "bookTicker", "u": 9, "E": E1 + 5, "T": E1 + 4, "s": "BTCUSDT", "b": "1", "B": "2",
                           "a": "3", "A": "4"},
    "btcusdt@ticker": {"e": "24hrTicker", "E": E1, "s": "BTCUSDT", "p": "-1", "c": "60000.1", "Q": "0.003",
                       "o": "60001.1", "h": "61000", "l": "59000", "v": "1234.5", "q": "7400"},
    "btcusdt@depth5@100ms": {"e": "depthUpdate", "E": E1 + 6, "T": E1 + 5, "s": "BTCUSDT", "U": 1, "u": 10, "pu": 0,
                             "b": [["1", "2"]], "a": [["3", "4"]]},
    "btcusdt@markPrice@1s": {"e": "markPriceUpdate", "E": E1 + 7, "s": "BTCUSDT", "p": "1.5", "i": "1.4",
                             "P": "1.45", "r": "0.0001", "T": 1_700_006_400_000},
}


def make_client(kind: str, server: FakeStreamServer, inbox: Inbox) -> MarketStreamClient:
    return MarketStreamClient(
        kind, inbox.on_message, adapter_name="TEST", base_url=server.base_url, config=FAST, on_state=inbox.on_state
    )


class Rebuilds:
    """Fires an asyncio.Event after each rebuild of the client's one-pass decoder (the rebuild
    is a loop timer the test cannot await directly); install before the first subscribe."""

    def __init__(self, client: MarketStreamClient) -> None:
        self.client = client
        self.changed = asyncio.Event()
        original = client._rebuild_decoder

        def rebuild() -> None:
            original()
            self.changed.set()

        client._rebuild_decoder = rebuild  # type: ignore[method-assign]

    def covers(self, streams: set[str]) -> bool:
        client = self.client
        return client._frame_decoder is not None and {r.stream for r in client._frame_routes.values()} == streams

    async def until(self, streams: set[str], timeout: float = 3.0) -> None:
        async def loop() -> None:
            while not self.covers(streams):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)


def frame(stream: str, data: Any) -> str:
    return json.dumps({"stream": stream, "data": data})


# -- offline: the one-pass union against the two-pass path ---------------------------------------
_BAD = (msgspec.DecodeError, msgspec.ValidationError)
_VALUES: list[Any] = [None, True, 0, -1, 1.5, "1", "x", "", [], {}, [["1", "2"]], 2**70, "1e400", 1e300, "NaN"]


@pytest.mark.parametrize(("kind", "payloads"), [("spot", SPOT), ("usdm", USDM)])
def test_one_pass_never_accepts_a_payload_the_two_pass_path_would_decode_differently(
    kind: str, payloads: dict[str, dict[str, Any]]
) -> None:
    """Field values of every type, missing fields, foreign streams and wrong envelopes: whatever
    the union accepts must equal the envelope-then-payload result; what it rejects falls back."""
    rng = random.Random(20261124)
    kind_ = "spot" if kind == "spot" else "usdm"
    decoders = {s: decoder_for(kind_, s) for s in payloads}
    union = data_frame_decoder(data_frame_type(s, payload_type(kind_, s)) for s in payloads)
    assert union is not None
    accepted = 0
    for _ in range(6000):
        stream = rng.choice(list(payloads))
        data = copy.deepcopy(payloads[stream])
        env: dict[str, Any] = {"stream": stream, "data": data}
        r = rng.random()
        if r < 0.45:
            data[rng.choice(list(data))] = rng.choice(_VALUES)
        elif r < 0.55:
            del data[rng.choice(list(data))]
        elif r < 0.65:  # another stream's payload under this stream's name
            env["data"] = copy.deepcopy(payloads[rng.choice(list(payloads))])
        elif r < 0.75:
            env["stream"] = rng.choice([*_VALUES, stream.upper(), stream + "x", "!serverShutdown"])
        elif r < 0.8:
            env["data"] = rng.choice(_VALUES)
        raw = json.dumps(env).encode()
        try:
            fast = union.decode(raw).data
        except _BAD:
            continue
        accepted += 1
        envelope = frame_decoder.decode(raw)
        assert envelope.stream in decoders
        assert repr(fast) == repr(decoders[envelope.stream].decode(envelope.data))  # repr: NaN == NaN
        assert type(fast) is payload_type(kind_, envelope.stream)
    assert accepted > 1000


def test_one_pass_ignores_envelope_members_the_strict_envelope_checked() -> None:
    """Pins a behaviour change (informational, not a failure): a data frame with a wrong-typed
    ``id``/``error`` was a malformed frame for the strict two-pass envelope (skipped, counted);
    the one-pass union reads only ``stream`` and ``data`` and applies its payload. Binance does not
    send such frames, so no tick changes in practice."""
    stream = "bnbusdt@bookTicker"
    union = data_frame_decoder([data_frame_type(stream, BookTicker)])
    assert union is not None
    for extra in ('"id":1.5', '"error":1', '"id":[1]'):
        raw = ('{"stream":"%s","data":%s,%s}' % (stream, json.dumps(SPOT[stream]), extra)).encode()
        with pytest.raises(msgspec.ValidationError):
            frame_decoder.decode(raw)
        assert union.decode(raw).data.update_id == SPOT[stream]["u"]


# -- socket: frames around the decoder rebuild ------------------------------------------------------
def test_usdm_frames_around_rebuilds_are_delivered_once_with_their_own_types(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("usdm", server, inbox)
        rebuilds = Rebuilds(client)
        book = "btcusdt@bookTicker"
        client.subscribe([book])
        await server.until(lambda: len(server.holding(book)) == 1)
        await rebuilds.until({book})
        # new streams of two endpoints: frames before the rebuild (two-pass) and after (one-pass)
        eth = ["ethusdt@bookTicker", "ethusdt@depth5@100ms", "ethusdt@markPrice@1s", "ethusdt@ticker"]
        client.subscribe(eth)
        await server.until(lambda: all(len(server.holding(s)) == 1 for s in eth))
        sent: list[tuple[str, str, Any]] = []

        async def push(stream: str, data: dict[str, Any]) -> None:
            assert await server.push(stream, data) == 1
            sent.append((stream.split("@")[1], stream.split("@")[0].upper(), data))

        for stream in eth:
            await push(stream, {**USDM[f"btcusdt@{stream.split('@', 1)[1]}"], "s": "ETHUSDT"})
        await rebuilds.until({book, *eth})
        for stream in eth:
            await push(stream, {**USDM[f"btcusdt@{stream.split('@', 1)[1]}"], "s": "ETHUSDT", "E": E1 + 100})
        await inbox.until(lambda: len(inbox.messages) == len(sent))
        expected_types = {"bookTicker": BookTicker, "depth5": DepthUpdate, "markPrice": MarkPrice, "ticker": Ticker24h}
        for (channel, symbol, payload), (ch, sym, data) in zip(inbox.messages, sent):
            assert (channel, symbol) == (ch, sym)
            assert type(payload) is expected_types[channel]
            assert payload.event_time == data["E"]  # USDⓈ-M: E kept on bookTicker and depth
        # unsubscribed after the rebuild: its frames (still in flight) are dropped, before and
        # after the next rebuild; subscribed again: delivered to the new route, once
        client.unsubscribe(["ethusdt@bookTicker"])
        stray = frame("ethusdt@bookTicker", {**USDM[book], "s": "ETHUSDT", "u": 77})
        await server.push_raw(book, stray)
        await server.push(book, {**USDM[book], "u": 78})
        await inbox.until(lambda: len(inbox.messages) >= len(sent) + 1)
        assert [m[2].update_id for m in inbox.messages[len(sent):]] == [78]  # not the stray 77
        client.subscribe(["ethusdt@bookTicker"])
        await server.until(lambda: len(server.holding("ethusdt@bookTicker")) == 1)
        await server.push("ethusdt@bookTicker", {**USDM[book], "s": "ETHUSDT", "u": 79})  # old type in the union
        await inbox.until(lambda: len(inbox.messages) == len(sent) + 2)
        await rebuilds.until({book, *eth})
        await server.push("ethusdt@bookTicker", {**USDM[book], "s": "ETHUSDT", "u": 80})
        await inbox.until(lambda: len(inbox.messages) == len(sent) + 3)
        assert [(m[1], m[2].update_id) for m in inbox.messages[-3:]] == [
            ("BTCUSDT", 78), ("ETHUSDT", 79), ("ETHUSDT", 80)]
        assert [e.state for e in inbox.states].count("disconnected") == 0
        await client.close()

    run(main)


def test_spot_kinds_keep_spot_shapes_and_ignore_streams_they_do_not_decode(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox)
        rebuilds = Rebuilds(client)
        streams = [*SPOT, "bnbusdt@markPrice@1s"]  # not a spot stream: routed, never decoded
        client.subscribe(streams)
        await server.until(lambda: all(len(server.holding(s)) == 1 for s in streams))
        await rebuilds.until(set(SPOT))
        await server.push("bnbusdt@markPrice@1s", USDM["btcusdt@markPrice@1s"])
        for stream, data in SPOT.items():
            await server.push(stream, data)
        await inbox.until(lambda: len(inbox.messages) == len(SPOT))
        types = [type(m[2]) for m in inbox.messages]
        assert types == [BookTicker, Ticker24h, PartialDepth]
        assert inbox.messages[0][2].event_time == 0  # spot bookTicker: no E
        await client.close()

    run(main)


def test_unexpected_frames_on_the_one_pass_path_neither_kill_the_reader_nor_reach_on_message(
    server: FakeStreamServer,
) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox)
        rebuilds = Rebuilds(client)
        book = "bnbusdt@bookTicker"
        client.subscribe([book])
        await server.until(lambda: len(server.holding(book)) == 1)
        await rebuilds.until({book})
        session = client._pools["spot"][0].session
        weird = [
            "[]", "1", '"x"', "null", "{}", "{",
            '{"result":null,"id":"abc"}', '{"result":null,"id":999}', '{"error":{"code":1,"msg":"x"},"id":12345}',
            '{"error":"boom"}', f'{{"stream":"{book}"}}', f'{{"stream":"{book}","data":null}}',
            f'{{"stream":"{book}","data":[]}}', '{"stream":null,"data":{}}', '{"stream":5,"data":{}}',
            f'{{"stream":"{book.upper()}","data":{json.dumps(SPOT[book])}}}',
            frame(book, {**SPOT[book], "u": "x"}), frame(book, {**SPOT[book], "b": None}),
            frame(book, SPOT["bnbusdt@depth5@100ms"]), frame("ethusdt@bookTicker", SPOT[book]),
            frame("other@trade", {}),
        ]
        for text in weird:
            await server.push_raw(book, text)
        await server.push(book, {**SPOT[book], "u": 5})
        await inbox.until(lambda: len(inbox.messages) == 1)
        assert inbox.messages[0][2].update_id == 5
        assert client._pools["spot"][0].session is session
        assert [e.state for e in inbox.states] == ["connected"]
        await client.close()

    run(main)


def test_a_raising_on_message_is_logged_and_the_next_frame_still_arrives_on_both_paths(
    server: FakeStreamServer,
) -> None:
    async def main() -> None:
        got: list[int] = []
        changed = asyncio.Event()

        def on_message(channel: str, symbol: str, payload: Any) -> None:
            got.append(payload.update_id)
            changed.set()
            if payload.update_id % 2:
                raise RuntimeError("strategy bug")

        client = MarketStreamClient("spot", on_message, adapter_name="TEST", base_url=server.base_url, config=FAST)
        rebuilds = Rebuilds(client)
        book = "bnbusdt@bookTicker"
        client.subscribe([book])
        await server.until(lambda: len(server.holding(book)) == 1)

        async def until(n: int) -> None:
            async def loop() -> None:
                while len(got) < n:
                    changed.clear()
                    await changed.wait()

            await asyncio.wait_for(loop(), 3.0)

        for u in (1, 2):  # whichever path: before or after the first rebuild
            await server.push(book, {**SPOT[book], "u": u})
        await until(2)
        await rebuilds.until({book})
        for u in (3, 4):  # one-pass path
            await server.push(book, {**SPOT[book], "u": u})
        await until(4)
        assert got == [1, 2, 3, 4]
        await client.close()

    run(main)


# -- MarketDataManager offline: datetimes, isolation -------------------------------------------------
def test_datetimes_follow_a_per_symbol_model_under_an_interleaved_random_feed() -> None:
    """A reference model of the docstring's promise: datetime = exchange E (receive time when
    the payload has none), never before the symbol's previous tick; UTC-aware; localtime is the
    receive time. Interleaving symbols whose clocks differ exercises the shared E cache."""
    rng = random.Random(7)
    ticks: list[TickData] = []
    m = MarketDataManager("usdm", "TEST", Exchange.BINANCEUSDM, ticks.append, lambda on_message: _NoClient())
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    last: dict[str, datetime] = {}
    base = {s: E1 + 1000 * i for i, s in enumerate(symbols)}
    for s in symbols:
        m.subscribe(s)
        m.on_message("ticker", s, _decode(Ticker24h, {**USDM["btcusdt@ticker"], "s": s, "E": base[s]}))
        last[s] = datetime.fromtimestamp(base[s] / 1000, UTC)
    del ticks[:]
    expected: list[tuple[str, datetime]] = []
    for u in range(1, 3000):
        s = rng.choice(symbols)
        e = rng.choice([base[s] + rng.randint(-3, 3), rng.choice(list(base.values())), E1 + rng.randint(-5, 3000)])
        base[s] = max(base[s], e) if rng.random() < 0.7 else base[s]
        if rng.random() < 0.5:
            m.on_message("bookTicker", s, _decode(BookTicker, {**USDM["btcusdt@bookTicker"], "s": s, "u": u, "E": e}))
        else:
            m.on_message("depth5", s, _decode(DepthUpdate, {**USDM["btcusdt@depth5@100ms"], "s": s, "u": u, "E": e}))
        when = max(datetime.fromtimestamp(e / 1000, UTC), last[s])
        last[s] = when
        expected.append((s, when))
    assert [(t.symbol, t.datetime) for t in ticks] == expected
    assert all(t.datetime.tzinfo is UTC and t.localtime is not None and t.localtime.tzinfo is UTC for t in ticks)


def test_spot_receive_time_ticks_stay_monotonic_per_symbol_and_equal_localtime_when_not_clamped() -> None:
    ticks: list[TickData] = []
    m = MarketDataManager("spot", "TEST", Exchange.BINANCE, ticks.append, lambda on_message: _NoClient())
    m.subscribe("BNBUSDT")
    m.on_message("ticker", "BNBUSDT", _decode(Ticker24h, {**SPOT["bnbusdt@ticker"], "E": E1}))  # long ago
    for u in range(1, 200):
        m.on_message("bookTicker", "BNBUSDT", _decode(BookTicker, {**SPOT["bnbusdt@bookTicker"], "u": u}))
        m.on_message("depth5", "BNBUSDT", _decode(PartialDepth, {**SPOT["bnbusdt@depth5@100ms"], "lastUpdateId": u}))
    rest = ticks[1:]
    assert len(rest) == 398
    assert all(t.datetime == t.localtime for t in rest)  # no E on spot book data: receive time
    assert all(a.datetime <= b.datetime for a, b in zip(ticks, ticks[1:]))


def test_emitted_ticks_are_distinct_and_never_change_afterwards() -> None:
    ticks: list[TickData] = []
    snapshots: list[dict[str, Any]] = []

    def sink(tick: TickData) -> None:
        ticks.append(tick)
        snapshots.append(copy.deepcopy(tick.__dict__))

    m = MarketDataManager("usdm", "TEST", Exchange.BINANCEUSDM, sink, lambda on_message: _NoClient())
    m.subscribe("BTCUSDT")
    m.on_message("ticker", "BTCUSDT", _decode(Ticker24h, USDM["btcusdt@ticker"]))
    for u in range(10, 60):
        m.on_message("markPrice", "BTCUSDT", _decode(MarkPrice, {**USDM["btcusdt@markPrice@1s"], "p": str(u)}))
        m.on_message("bookTicker", "BTCUSDT", _decode(BookTicker, {**USDM["btcusdt@bookTicker"], "u": u, "b": str(u)}))
        m.on_message("depth5", "BTCUSDT", _decode(
            DepthUpdate, {**USDM["btcusdt@depth5@100ms"], "u": u, "b": [[str(u), "1"], [str(u - 1), "2"]]}))
        m.on_message("ticker", "BTCUSDT", _decode(Ticker24h, {**USDM["btcusdt@ticker"], "c": str(u)}))
    assert [t.__dict__ for t in ticks] == snapshots
    assert len({id(t) for t in ticks}) == len(ticks)
    assert len({id(t.__dict__) for t in ticks}) == len(ticks)
    extras = [t.extra for t in ticks if t.extra is not None]
    assert len({id(x) for x in extras}) == len(extras)


# -- end to end: socket -> manager -> EventEngine, nothing lost or doubled ---------------------------
def test_every_frame_becomes_exactly_one_tick_through_the_event_engine_across_a_rebuild(
    server: FakeStreamServer,
) -> None:
    engine = EventEngine(interval=60)
    received: list[TickData] = []
    per_symbol: dict[str, list[TickData]] = {}
    total = threading.Event()
    want = {"n": -1}

    def on_tick(event: Event) -> None:
        received.append(event.data)
        if len(received) == want["n"]:
            total.set()

    def on_symbol(event: Event) -> None:
        per_symbol.setdefault(event.data.symbol, []).append(event.data)

    engine.register(EVENT_TICK, on_tick)
    engine.register(EVENT_TICK + "BTCUSDT.BINANCE", on_symbol)
    engine.register(EVENT_TICK + "ETHUSDT.BINANCE", on_symbol)
    engine.start()

    def adapter_on_tick(tick: TickData) -> None:  # BaseAdapter.on_tick
        engine.put(Event(EVENT_TICK, tick))
        engine.put(Event(EVENT_TICK + tick.vt_symbol, tick))

    async def main() -> None:
        m = MarketDataManager(
            "spot", "TEST", Exchange.BINANCE, adapter_on_tick,
            lambda on_message: MarketStreamClient("spot", on_message, adapter_name="TEST", base_url=server.base_url,
                                                  config=FAST),
        )
        rebuilds = Rebuilds(m.client)  # type: ignore[arg-type]
        m.subscribe("BTCUSDT")
        await server.until(lambda: len(server.holding("btcusdt@bookTicker")) == 1)
        await rebuilds.until({"btcusdt@bookTicker", "btcusdt@ticker", "btcusdt@depth5@100ms"})
        sent: list[tuple[str, int]] = []
        await server.push("btcusdt@ticker", {**SPOT["bnbusdt@ticker"], "s": "BTCUSDT"})
        sent.append(("BTCUSDT", -1))
        m.subscribe("ETHUSDT")  # the rebuild lands somewhere in the burst below
        await server.until(lambda: len(server.holding("ethusdt@depth5@100ms")) == 1)
        await server.push("ethusdt@ticker", {**SPOT["bnbusdt@ticker"], "s": "ETHUSDT"})
        sent.append(("ETHUSDT", -1))
        for u in range(1, 400):
            for sym in ("BTCUSDT", "ETHUSDT"):
                await server.push(f"{sym.lower()}@bookTicker", {**SPOT["bnbusdt@bookTicker"], "s": sym, "u": u,
                                                                         "B": str(u)})
                sent.append((sym, u))
        want["n"] = len(sent)
        if len(received) >= want["n"]:
            total.set()
        done = await asyncio.get_running_loop().run_in_executor(None, total.wait, 10.0)
        assert done
        await m.close()
        return sent

    sent: list[tuple[str, int]] = []
    try:
        sent = asyncio.run(main())  # type: ignore[arg-type]
        marker = threading.Event()
        engine.register("done", lambda e: marker.set())
        engine.put(Event("done"))
        assert marker.wait(5)
    finally:
        engine.stop()
    assert len(received) == len(sent)
    assert [(t.symbol, t.bid_volume_1 if t.bid_volume_1 else -1) for t in received] == sent
    assert len({id(t) for t in received}) == len(received)
    for sym, ticks in per_symbol.items():
        assert ticks == [t for t in received if t.symbol == sym]
        assert all(a.datetime <= b.datetime for a, b in zip(ticks, ticks[1:]))
