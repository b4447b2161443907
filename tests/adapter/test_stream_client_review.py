"""Review of the market-data websocket path: MarketStreamClient and MarketDataManager.

The bugs it found (duplicate or older depth and mark-price frames during a socket swap, a
needless second rotation after serverShutdown, backoff surviving a proved connection) are
fixed; their tests and the behaviours it verified run here. Every wait is on an event with a
timeout.
"""

from __future__ import annotations

import json

import pytest
from fake_stream_server import FakeStreamServer
from foxtrot_hooks import TickData

from foxtrot_binance.market_data import MarketDataManager
from foxtrot_binance.stream_client import MarketStreamClient
from foxtrot_binance.stream_messages import DepthUpdate, MarkPrice, PartialDepth, Ticker24h

from test_market_data import E1, MARK, SPOT_DEPTH5, SPOT_TICKER, USDM_DEPTH5, USDM_TICKER, _decode, _offline
from test_stream_client import BOOK, Inbox, assert_clean, make_client, run, server  # noqa: F401 - fixture

SHUTDOWN = json.dumps({"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 1770123456789}})


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
