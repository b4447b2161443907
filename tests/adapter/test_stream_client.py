"""MarketStreamClient against a real websocket server on 127.0.0.1.

Every wait is on an event (the fake server's state or the client's callbacks) with a timeout;
the client runs on the test's own loop, the server on another thread, so ``asyncio.all_tasks``
on the client loop shows exactly what the client leaves behind.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from fake_stream_server import FakeStreamServer

from foxtrot_binance.stream_client import (
    MarketStreamClient,
    StreamClientConfig,
    StreamEvent,
    _backoff,
    connection_url,
    endpoint_of,
)
from foxtrot_binance.stream_messages import BookTicker, channel_of, decoder_for, payload_type

FAST = StreamClientConfig(
    messages_per_second=200,
    reconnect_delay=0.02,
    max_reconnect_delay=0.1,
    stale_after=5.0,
    connect_timeout=2.0,
    close_timeout=0.5,
)
BOOK = {"u": 400900217, "s": "BNBUSDT", "b": "25.35190000", "B": "31.21000000", "a": "25.36520000", "A": "40.66000000"}


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


async def wait(predicate: Callable[[], bool], changed: asyncio.Event, timeout: float = 3.0) -> None:
    """Wait until ``predicate()``, re-checking each time ``changed`` fires (set by callbacks)."""

    async def loop() -> None:
        while not predicate():
            changed.clear()
            await changed.wait()

    await asyncio.wait_for(loop(), timeout)


class Inbox:
    """Collects on_message and on_state calls; ``changed`` fires on each."""

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
        await wait(predicate, self.changed, timeout)


@pytest.fixture
def server() -> Iterator[FakeStreamServer]:
    with FakeStreamServer() as srv:
        yield srv


@pytest.fixture
def log_lines(library_logs: Callable[..., list[str]]) -> list[str]:
    return library_logs("DEBUG", "{level} {message}")


def make_client(kind: str, server: FakeStreamServer, inbox: Inbox, **config: Any) -> MarketStreamClient:
    cfg = StreamClientConfig(**{**FAST.__dict__, **config})
    return MarketStreamClient(
        kind, inbox.on_message, adapter_name="TEST", base_url=server.base_url, config=cfg, on_state=inbox.on_state
    )


async def assert_clean(client: MarketStreamClient) -> None:
    await client.close()
    leftovers = asyncio.all_tasks() - {asyncio.current_task()}
    assert leftovers == set()


# -- pure routing ----------------------------------------------------------------------
def test_urls_per_kind_endpoint_and_host() -> None:
    assert connection_url("spot", "spot") == "wss://stream.binance.com:9443/stream"
    assert connection_url("usdm", "public") == "wss://fstream.binance.com/public/stream"
    assert connection_url("usdm", "market") == "wss://fstream.binance.com/market/stream"
    assert connection_url("spot", "spot", server="testnet") == "wss://stream.testnet.binance.vision/stream"
    assert connection_url("spot", "spot", "http://127.0.0.1:8080") == "ws://127.0.0.1:8080/stream"
    assert connection_url("usdm", "public", "http://127.0.0.1:8080/") == "ws://127.0.0.1:8080/fstream/public/stream"
    assert connection_url("usdm", "market", "https://proxy.example") == "wss://proxy.example/fstream/market/stream"


def test_from_settings_takes_hosts_and_timings_from_the_adapter_settings(clean_binance_env: None) -> None:
    from foxtrot_binance.settings import BinanceSettings

    settings = BinanceSettings.load({"base_url": "http://127.0.0.1:9", "reconnect_delay": 0.5, "stale_after": 7})
    client = MarketStreamClient.from_settings("usdm", lambda *a: None, settings, max_streams_per_connection=50)
    assert (client.config.reconnect_delay, client.config.stale_after, client.config.max_streams_per_connection) == (
        0.5, 7, 50)
    assert client.url("public") == "ws://127.0.0.1:9/fstream/public/stream"


@pytest.mark.parametrize(
    ("stream", "endpoint"),
    [
        ("btcusdt@bookTicker", "public"),
        ("btcusdt@depth5@100ms", "public"),
        ("btcusdt@depth@100ms", "public"),
        ("btcusdt@trade", "public"),
        ("btcusdt@ticker", "market"),
        ("btcusdt@markPrice@1s", "market"),
        ("btcusdt@aggTrade", "market"),
        ("btcusdt@kline_1m", "market"),
    ],
)
def test_usdm_streams_go_to_their_routed_endpoint(stream: str, endpoint: str) -> None:
    assert endpoint_of("usdm", stream) == endpoint
    assert endpoint_of("spot", stream) == "spot"


def test_backoff_is_full_jitter_under_a_doubling_cap() -> None:
    random.seed(7)
    for attempt in range(12):
        ceiling = min(5.0, 0.5 * 2**attempt)
        samples = [_backoff(attempt, 0.5, 5.0) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # jitter spans the range, not a fixed delay


# -- protocol against a live socket --------------------------------------------------------
def test_decodes_and_delivers_typed_payloads(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox)
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: bool(server.holding("bnbusdt@bookTicker")))
        assert server.conns[0].path == "/stream"
        await server.push("bnbusdt@bookTicker", BOOK)
        await inbox.until(lambda: len(inbox.messages) == 1)
        channel, symbol, payload = inbox.messages[0]
        assert (channel, symbol) == ("bookTicker", "BNBUSDT")
        assert isinstance(payload, BookTicker)
        assert (payload.bid_price, payload.bid_qty, payload.ask_price, payload.ask_qty) == (25.3519, 31.21, 25.3652, 40.66)
        assert payload.update_id == 400900217
        assert [e.state for e in inbox.states] == ["connected"]
        await assert_clean(client)

    run(main)


def test_subscribe_is_batched_and_spread_over_connections_at_the_limit(server: FakeStreamServer) -> None:
    streams = [f"sym{i}usdt@bookTicker" for i in range(7)]

    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, max_streams_per_connection=3, max_batch=2)
        client.subscribe(streams)
        await server.until(lambda: sum(len(c.streams) for c in server.open_conns()) == 7)
        sizes = sorted(len(c.streams) for c in server.open_conns())
        assert sizes == [1, 3, 3]
        assert all(1 <= len(batch) <= 2 for batch in server.subscribes())
        assert sorted(s for batch in server.subscribes() for s in batch) == sorted(streams)
        assert len(client.connections) == 3
        await assert_clean(client)

    run(main)


def test_usdm_symbol_spans_public_and_market_endpoints(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("usdm", server, inbox)
        client.subscribe(["btcusdt@bookTicker", "btcusdt@depth5@100ms", "btcusdt@ticker", "btcusdt@markPrice@1s"])
        await server.until(lambda: sum(len(c.streams) for c in server.open_conns()) == 4)
        by_path = {c.path: c.streams for c in server.open_conns()}
        assert by_path == {
            "/fstream/public/stream": {"btcusdt@bookTicker", "btcusdt@depth5@100ms"},
            "/fstream/market/stream": {"btcusdt@ticker", "btcusdt@markPrice@1s"},
        }
        await assert_clean(client)

    run(main)


def test_reconnects_after_abrupt_drop_and_resubscribes(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox)
        client.subscribe(["bnbusdt@bookTicker", "ethusdt@ticker"])
        await server.until(lambda: len(server.holding("bnbusdt@bookTicker")) == 1)
        await server.drop_all()
        await server.until(lambda: len(server.conns) == 2 and len(server.holding("ethusdt@ticker")) == 1)
        assert server.conns[1].open and not server.conns[0].open
        assert sorted(server.conns[1].requests[0]["params"]) == ["bnbusdt@bookTicker", "ethusdt@ticker"]
        await server.push("bnbusdt@bookTicker", BOOK)
        await inbox.until(lambda: len(inbox.messages) == 1)
        states = [e.state for e in inbox.states]
        assert states[:4] == ["connected", "disconnected", "reconnecting", "connected"]
        await assert_clean(client)

    run(main)


def test_watchdog_replaces_a_silent_socket(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, stale_after=0.2)
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: len(server.holding("bnbusdt@bookTicker")) == 1)
        await server.push("bnbusdt@bookTicker", BOOK)
        # the server now stays silent: the client must notice and move to a new socket
        await server.until(lambda: len(server.conns) == 2 and len(server.holding("bnbusdt@bookTicker")) == 1)
        await inbox.until(lambda: any(e.state == "disconnected" for e in inbox.states))
        dropped = next(e for e in inbox.states if e.state == "disconnected")
        assert "no data" in dropped.reason
        await server.push("bnbusdt@bookTicker", BOOK)
        await inbox.until(lambda: len(inbox.messages) == 2)
        await assert_clean(client)

    run(main)


def test_malformed_frames_are_logged_and_skipped(server: FakeStreamServer, log_lines: list[str]) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox)
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: len(server.holding("bnbusdt@bookTicker")) == 1)
        await server.push_raw("bnbusdt@bookTicker", "this is not json{")
        await server.push("bnbusdt@bookTicker", {"u": 1, "s": "BNBUSDT", "b": "x"})  # wrong shape
        await server.push("bnbusdt@bookTicker", {"unknown": "payload"})  # no stream: ignored
        await server.push_raw("bnbusdt@bookTicker", '{"stream":"other@trade","data":{"p":"1"}}')  # not ours
        await server.push("bnbusdt@bookTicker", BOOK)
        await inbox.until(lambda: len(inbox.messages) == 1)
        assert inbox.messages[0][2].bid_price == 25.3519
        assert len(server.conns) == 1 and server.conns[0].open  # the stream went on
        assert any("malformed frame" in line for line in log_lines)
        await assert_clean(client)

    run(main)


@pytest.mark.parametrize("flat", [False, True], ids=["nested-error", "flat-error"])
def test_refused_batch_is_retried_stream_by_stream(server: FakeStreamServer, log_lines: list[str], flat: bool) -> None:
    """Binance sends refusals nested ({"error": {...}, "id"}); its docs table also shows them
    flat ({"code", "msg", "id"}). Either must read as a refusal, never as an ack."""
    server.refuse = {"nope@bookTicker"}
    server.flat_errors = flat

    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox)
        client.subscribe(["bnbusdt@bookTicker", "nope@bookTicker", "ethusdt@bookTicker"])
        await server.until(lambda: server.conns and server.conns[0].streams == {"bnbusdt@bookTicker", "ethusdt@bookTicker"})
        await inbox.until(lambda: "nope@bookTicker" not in client.streams)
        assert client.streams == {"bnbusdt@bookTicker", "ethusdt@bookTicker"}
        assert any("code 2" in line and "refused" in line for line in log_lines)
        await assert_clean(client)

    run(main)


def test_unsubscribe_sends_unsubscribe_and_retires_empty_connections(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox)
        client.subscribe(["bnbusdt@bookTicker", "ethusdt@bookTicker"])
        await server.until(lambda: len(server.holding("ethusdt@bookTicker")) == 1)
        client.unsubscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: server.conns[0].streams == {"ethusdt@bookTicker"})
        assert server.conns[0].requests[-1]["method"] == "UNSUBSCRIBE"
        client.unsubscribe(["ethusdt@bookTicker"])
        await server.until(lambda: not server.open_conns())
        assert client.connections == []
        await assert_clean(client)

    run(main)


def test_scheduled_reconnect_is_make_before_break(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, max_connection_age=0.3)
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: ("closed", 0) in server.events)
        # the replacement held the stream before the old socket was closed
        assert server.events.index(("subscribed", 1)) < server.events.index(("closed", 0))
        await server.push("bnbusdt@bookTicker", BOOK)
        await inbox.until(lambda: len(inbox.messages) >= 1)
        assert not any(e.state == "disconnected" for e in inbox.states)
        await assert_clean(client)

    run(main)


def test_streams_added_during_a_rotation_reach_the_replacement_socket(server: FakeStreamServer) -> None:
    server.hold_replies_from = 1  # the replacement socket is not acknowledged until we say so

    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, max_connection_age=0.1, messages_per_second=100_000)
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: len(server.conns) == 2 and bool(server.conns[1].requests))
        # a frame read on both sockets: by then the replacement's writer has gone idle
        assert await server.push("bnbusdt@bookTicker", BOOK) == 2
        await inbox.until(lambda: len(inbox.messages) == 2)
        client.subscribe(["ethusdt@bookTicker"])  # mid-rotation
        await server.until(lambda: "ethusdt@bookTicker" in server.conns[1].streams)
        await server.release_replies()
        await server.until(lambda: ("closed", 0) in server.events)
        assert server.conns[1].open and server.conns[1].streams == {"bnbusdt@bookTicker", "ethusdt@bookTicker"}
        await assert_clean(client)

    run(main)


def test_an_unanswered_subscribe_replaces_the_socket(server: FakeStreamServer) -> None:
    server.hold_replies_from = 0

    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, ack_timeout=0.1)
        client.subscribe(["bnbusdt@bookTicker"])
        await inbox.until(lambda: any(e.state == "disconnected" for e in inbox.states))
        assert "no reply to request 1" in next(e.reason for e in inbox.states if e.state == "disconnected")
        await server.release_replies()
        await server.until(lambda: len(server.holding("bnbusdt@bookTicker")) == 1 and len(server.conns) >= 2)
        await assert_clean(client)

    run(main)


def test_server_shutdown_notice_moves_streams_to_a_new_socket_first(server: FakeStreamServer) -> None:
    notice = json.dumps({"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 1770123456789}})

    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox)
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: len(server.holding("bnbusdt@bookTicker")) == 1)
        await server.push_raw("bnbusdt@bookTicker", notice)
        await server.until(lambda: ("closed", 0) in server.events)
        assert server.events.index(("subscribed", 1)) < server.events.index(("closed", 0))
        await assert_clean(client)

    run(main)


def test_server_pings_are_answered(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox)
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: len(server.holding("bnbusdt@bookTicker")) == 1)
        await server.ping_all()
        await server.until(lambda: server.conns[0].pongs == 1)
        await assert_clean(client)

    run(main)


@pytest.mark.parametrize(
    ("stable_after", "expected"),
    [(60.0, [0.01, 0.02, 0.04, 0.08]), (0.0, [0.01, 0.01, 0.01, 0.01])],
    ids=["young-sockets-keep-backing-off", "proven-sockets-reset-the-backoff"],
)
def test_backoff_resets_only_after_a_socket_proved_itself(
    server: FakeStreamServer, monkeypatch: pytest.MonkeyPatch, stable_after: float, expected: list[float]
) -> None:
    monkeypatch.setattr("foxtrot_binance.stream_client.random.uniform", lambda low, high: high)  # jitter at its top

    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox, reconnect_delay=0.01, max_reconnect_delay=1.0,
                             stable_after=stable_after)
        client.subscribe(["bnbusdt@bookTicker"])
        for round_ in range(4):
            await server.until(lambda: len(server.holding("bnbusdt@bookTicker")) == 1)
            await server.push("bnbusdt@bookTicker", BOOK)  # data flowed, but the socket is young
            await inbox.until(lambda: len(inbox.messages) == round_ + 1)
            await server.drop_all()
        await inbox.until(lambda: sum(e.state == "reconnecting" for e in inbox.states) == 4)
        delays = [e.delay for e in inbox.states if e.state == "reconnecting"]
        assert delays == pytest.approx(expected)
        await assert_clean(client)

    run(main)


def test_backs_off_while_the_server_is_unreachable() -> None:
    async def main() -> None:
        inbox = Inbox()
        cfg = StreamClientConfig(reconnect_delay=0.01, max_reconnect_delay=0.04, connect_timeout=1.0)
        # a port nothing listens on: bind, read the port, close
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        client = MarketStreamClient("spot", inbox.on_message, base_url=f"http://127.0.0.1:{port}", config=cfg,
                                    on_state=inbox.on_state)
        client.subscribe(["bnbusdt@bookTicker"])
        await inbox.until(lambda: len(inbox.states) >= 5)
        delays = [e.delay for e in inbox.states[:5]]
        assert all(e.state == "reconnecting" for e in inbox.states[:5])
        assert all(d is not None and 0 <= d <= min(0.04, 0.01 * 2**i) for i, d in enumerate(delays))
        await assert_clean(client)

    run(main)


def test_close_finishes_even_when_a_cancellation_is_swallowed(
    server: FakeStreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.11's wait_for returns the result when a cancel races with completion (seen
    against the simulator: close() hung while the handshake finished at that instant)."""
    from foxtrot_binance import stream_client

    entered = asyncio.Event()

    async def swallowing_open(self: Any) -> tuple[None, str]:
        entered.set()
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            pass  # what the buggy wait_for does: carry on as if nothing happened
        return None, "connect finished as the cancel arrived"

    monkeypatch.setattr(stream_client._Connection, "_open", swallowing_open)

    async def main() -> None:
        client = make_client("spot", server, Inbox())
        client.subscribe(["bnbusdt@bookTicker"])
        await asyncio.wait_for(entered.wait(), 2)
        await asyncio.wait_for(client.close(), 2)
        await assert_clean(client)

    run(main)


def test_close_is_idempotent_and_final(server: FakeStreamServer) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("usdm", server, inbox, max_streams_per_connection=1)
        client.subscribe(["btcusdt@bookTicker", "ethusdt@bookTicker", "btcusdt@ticker"])
        await server.until(lambda: len(server.open_conns()) == 3 and all(c.streams for c in server.open_conns()))
        await assert_clean(client)
        await assert_clean(client)
        await server.until(lambda: not server.open_conns())
        with pytest.raises(RuntimeError):
            client.subscribe(["btcusdt@trade"])

    run(main)


# -- the one-pass data path --------------------------------------------------------------
SPOT_PAYLOADS: dict[str, dict[str, Any]] = {
    "bnbusdt@bookTicker": BOOK,
    "bnbusdt@ticker": {"e": "24hrTicker", "E": 1, "s": "BNBUSDT", "p": "0.5", "c": "25.5", "Q": "1", "o": "25",
                       "h": "26", "l": "24", "v": "1000", "q": "25000", "x": "24.9"},
    "bnbusdt@depth5@100ms": {"lastUpdateId": 7, "bids": [["25.3", "1"], ["25.2", "2"]], "asks": [["25.4", "3"]]},
    "bnbusdt@trade": {"e": "trade", "E": 2, "s": "BNBUSDT", "t": 12, "p": "25.35", "q": "0.5", "T": 2, "m": True},
    "bnbusdt@kline_1m": {"e": "kline", "E": 3, "s": "BNBUSDT", "k": {"t": 0, "T": 59999, "s": "BNBUSDT", "i": "1m",
                         "o": "25", "c": "25.5", "h": "26", "l": "24", "v": "10", "q": "250", "x": False}},
}
USDM_PAYLOADS: dict[str, dict[str, Any]] = {
    "btcusdt@bookTicker": {"e": "bookTicker", "u": 9, "E": 5, "T": 4, "s": "BTCUSDT", "b": "1", "B": "2", "a": "3",
                           "A": "4"},
    "btcusdt@depth5@100ms": {"e": "depthUpdate", "E": 6, "T": 5, "s": "BTCUSDT", "U": 1, "u": 9, "pu": 0,
                             "b": [["1", "2"]], "a": [["3", "4"]]},
    "btcusdt@markPrice@1s": {"e": "markPriceUpdate", "E": 7, "s": "BTCUSDT", "p": "1.5", "i": "1.4", "P": "1.45",
                             "r": "0.0001", "T": 8},
    "btcusdt@aggTrade": {"e": "aggTrade", "E": 8, "s": "BTCUSDT", "a": 3, "p": "1", "q": "2", "f": 1, "l": 2, "T": 8,
                         "m": False},
}


async def one_pass_ready(client: MarketStreamClient, streams: list[str], timeout: float = 3.0) -> None:
    """Wait until the one-pass decoder (rebuilt shortly after a subscribe) covers ``streams``."""

    async def covered() -> None:
        while {r.stream for r in client._frame_routes.values()} != set(streams) or client._frame_decoder is None:
            await asyncio.sleep(0.005)

    await asyncio.wait_for(covered(), timeout)


@pytest.mark.parametrize(("kind", "payloads"), [("spot", SPOT_PAYLOADS), ("usdm", USDM_PAYLOADS)])
def test_one_pass_decoding_equals_the_envelope_then_payload_decoding(
    server: FakeStreamServer, kind: str, payloads: dict[str, dict[str, Any]]
) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client(kind, server, inbox)
        streams = list(payloads)
        client.subscribe(streams)
        await server.until(lambda: all(server.holding(s) for s in streams))
        await one_pass_ready(client, streams)
        for stream, data in payloads.items():
            await server.push(stream, data)
        await inbox.until(lambda: len(inbox.messages) == len(streams))
        for (channel, symbol, payload), stream in zip(inbox.messages, streams):
            decoder = decoder_for(client.kind, stream)
            assert decoder is not None
            assert (channel, symbol) == (channel_of(stream), stream.split("@")[0].upper())
            assert type(payload) is payload_type(client.kind, stream)
            assert payload == decoder.decode(json.dumps(payloads[stream]))
        await assert_clean(client)

    run(main)


def test_one_pass_path_hands_replies_strangers_and_bad_frames_to_the_slow_path(
    server: FakeStreamServer, log_lines: list[str]
) -> None:
    async def main() -> None:
        inbox = Inbox()
        client = make_client("spot", server, inbox)
        client.subscribe(["bnbusdt@bookTicker"])
        await server.until(lambda: len(server.holding("bnbusdt@bookTicker")) == 1)
        await one_pass_ready(client, ["bnbusdt@bookTicker"])
        await server.push_raw("bnbusdt@bookTicker", "this is not json{")
        await server.push("bnbusdt@bookTicker", {"u": 1, "s": "BNBUSDT", "b": "x"})  # wrong shape
        await server.push_raw("bnbusdt@bookTicker", '{"stream":"other@trade","data":{"p":"1"}}')  # not ours
        await server.push("bnbusdt@bookTicker", BOOK)
        await inbox.until(lambda: len(inbox.messages) == 1)
        assert sum("malformed frame" in line for line in log_lines) == 1  # rate-limited: one line a second
        assert client._bad_frames == 2
        # a new stream: its SUBSCRIBE reply passes through, and its data flows before the
        # decoder is rebuilt (two-pass path) and after (one-pass path)
        client.subscribe(["ethusdt@bookTicker"])
        await server.until(lambda: len(server.holding("ethusdt@bookTicker")) == 1)
        await server.push("ethusdt@bookTicker", {**BOOK, "s": "ETHUSDT"})
        await inbox.until(lambda: len(inbox.messages) == 2)
        await one_pass_ready(client, ["bnbusdt@bookTicker", "ethusdt@bookTicker"])
        await server.push("ethusdt@bookTicker", {**BOOK, "s": "ETHUSDT", "u": 2})
        await inbox.until(lambda: len(inbox.messages) == 3)
        assert [(m[1], m[2].update_id) for m in inbox.messages[1:]] == [("ETHUSDT", 400900217), ("ETHUSDT", 2)]
        # unsubscribed and subscribed again before the rebuild: still delivered
        client.unsubscribe(["ethusdt@bookTicker"])
        client.subscribe(["ethusdt@bookTicker"])
        await server.until(lambda: len(server.holding("ethusdt@bookTicker")) == 1)
        await server.push("ethusdt@bookTicker", {**BOOK, "s": "ETHUSDT", "u": 3})
        await inbox.until(lambda: len(inbox.messages) == 4)
        assert inbox.messages[3][2].update_id == 3
        await assert_clean(client)

    run(main)
