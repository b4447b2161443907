"""Market streams and Binance's subscribe protocol, driven by a plain aiohttp client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from ws_support import WsServer, receive_json

BOOK = {"u": 400900217, "s": "BNBUSDT", "b": "25.35190000", "B": "31.21000000", "a": "25.36520000", "A": "40.66000000"}


@pytest.fixture
def server() -> Iterator[WsServer]:
    with WsServer() as srv:
        yield srv


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


async def request(ws: aiohttp.ClientWebSocketResponse, payload: Any) -> Any:
    if isinstance(payload, str):
        await ws.send_str(payload)
    else:
        await ws.send_json(payload)
    return await receive_json(ws)


def test_subscribe_ack_then_raw_payloads_in_order(server: WsServer) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url + "/stream/ws/3") as ws:
            ack = await request(ws, {"method": "SUBSCRIBE", "params": ["bnbusdt@bookTicker"], "id": 7})
            assert ack == {"result": None, "id": 7}
            assert server.wants("spot", "bnbusdt@bookTicker")
            for u in range(5):
                server.publish("spot", "bnbusdt@bookTicker", {**BOOK, "u": u})
            got = [await receive_json(ws) for _ in range(5)]
            assert [m["u"] for m in got] == list(range(5))
            assert got[0] == {**BOOK, "u": 0}
            ack = await request(ws, {"method": "UNSUBSCRIBE", "params": ["bnbusdt@bookTicker"], "id": 8})
            assert ack == {"result": None, "id": 8}
            assert not server.wants("spot", "bnbusdt@bookTicker")

    run(scenario())


def test_combined_stream_wraps_and_set_property_switches(server: WsServer) -> None:
    async def scenario() -> None:
        url = server.ws_url + "/stream?streams=bnbusdt@bookTicker/btcusdt@trade"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
            assert listed == {"result": ["bnbusdt@bookTicker", "btcusdt@trade"], "id": 1}
            assert await request(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 2}) == {"result": True, "id": 2}
            server.publish("spot", "bnbusdt@bookTicker", BOOK)
            assert await receive_json(ws) == {"stream": "bnbusdt@bookTicker", "data": BOOK}
            assert await request(ws, {"method": "SET_PROPERTY", "params": ["combined", False], "id": 3}) == {"result": None, "id": 3}
            server.publish("spot", "bnbusdt@bookTicker", BOOK)
            assert await receive_json(ws) == BOOK

    run(scenario())


def test_raw_path_streams_and_numeric_index(server: WsServer) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(server.ws_url + "/ws/bnbusdt@bookTicker/btcusdt@depth@100ms") as ws:
                listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
                assert listed["result"] == ["bnbusdt@bookTicker", "btcusdt@depth@100ms"]
                server.publish("spot", "btcusdt@depth@100ms", {"e": "depthUpdate", "U": 1, "u": 2})
                assert (await receive_json(ws))["u"] == 2
            async with session.ws_connect(server.ws_url + "/stream/ws/0") as ws:
                assert await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {"result": [], "id": 1}

    run(scenario())


def test_one_encoding_shared_by_many_connections(server: WsServer) -> None:
    """Every listener gets the payload; the bus sees exactly one subscription per stream."""

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(server.ws_url + "/ws") for _ in range(3)]
            combined = await session.ws_connect(server.ws_url + "/stream?streams=bnbusdt@bookTicker")
            for i, ws in enumerate(sockets):
                await request(ws, {"method": "SUBSCRIBE", "params": ["bnbusdt@bookTicker"], "id": i})
            await request(combined, {"method": "LIST_SUBSCRIPTIONS", "id": 9})
            assert server.call(lambda: len(server.ctx.bus._market[("spot", "bnbusdt@bookTicker")])) == 1
            server.publish("spot", "bnbusdt@bookTicker", BOOK)
            for ws in sockets:
                assert await receive_json(ws) == BOOK
            assert await receive_json(combined) == {"stream": "bnbusdt@bookTicker", "data": BOOK}
            for ws in [*sockets, combined]:
                await ws.close()
        server.wait_until(lambda: not server.ctx.bus.wants("spot", "bnbusdt@bookTicker"))

    run(scenario())


@pytest.mark.parametrize(
    ("message", "code", "fragment"),
    [
        ("{not json", 3, "Invalid JSON"),
        ({"method": "SUBSCRIBE", "params": ["BTCUSDT@bookTicker"], "id": 5}, 2, "unknown stream"),
        ({"method": "SUBSCRIBE", "params": ["btcusdt@depth@250ms"], "id": 5}, 2, "unknown stream"),
        ({"method": "FOO", "params": [], "id": 5}, 2, "unknown variant `FOO`"),
        ({"params": [], "id": 5}, 2, "missing field `method`"),
        ({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": -1}, 2, "request ID"),
        ({"method": "SET_PROPERTY", "params": ["colour", True], "id": 5}, 0, "Unknown property"),
        ({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 5}, 1, "expected Boolean"),
        ({"method": "GET_PROPERTY", "params": [1], "id": 5}, 2, "property name must be a string"),
    ],
)
def test_errors_use_binance_nested_form(server: WsServer, message: Any, code: int, fragment: str) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url + "/ws") as ws:
            reply = await request(ws, message)
            assert set(reply) == {"error", "id"}
            assert reply["error"]["code"] == code
            assert fragment in reply["error"]["msg"]
            if isinstance(message, dict) and isinstance(message.get("id"), int) and message["id"] >= 0:
                assert reply["id"] == message["id"]
            # the connection survives a bad request
            assert await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 99}) == {"result": [], "id": 99}

    run(scenario())


def test_stream_limit_per_connection(server: WsServer) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url + "/fstream/market/ws") as ws:
            names = [f"s{i:04d}usdt@aggTrade" for i in range(201)]
            reply = await request(ws, {"method": "SUBSCRIBE", "params": names, "id": 1})
            assert reply["error"]["code"] == 2 and "too many streams" in reply["error"]["msg"]
            assert await request(ws, {"method": "SUBSCRIBE", "params": names[:200], "id": 2}) == {"result": None, "id": 2}
            reply = await request(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 3})
            assert "too many streams" in reply["error"]["msg"]
            # re-subscribing what is already held is not "more" streams
            assert await request(ws, {"method": "SUBSCRIBE", "params": names[:3], "id": 4}) == {"result": None, "id": 4}
            assert await request(ws, {"method": "UNSUBSCRIBE", "params": names[:1], "id": 5}) == {"result": None, "id": 5}
            assert await request(ws, {"method": "SUBSCRIBE", "params": [names[0], names[1]], "id": 6}) == {"result": None, "id": 6}

    run(scenario())


def test_spot_connection_holds_1024_streams(server: WsServer) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url + "/ws") as ws:
            names = [f"s{i:04d}usdt@trade" for i in range(1025)]
            assert await request(ws, {"method": "SUBSCRIBE", "params": names[:1024], "id": 1}) == {"result": None, "id": 1}
            reply = await request(ws, {"method": "SUBSCRIBE", "params": names[1024:], "id": 2})
            assert "at most 1024" in reply["error"]["msg"]

    run(scenario())


def test_invalid_stream_in_url_refuses_upgrade(server: WsServer) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(server.ws_url + "/ws/BTCUSDT@bookTicker")
            assert info.value.status == 400

    run(scenario())


def test_usdm_categories_route_and_wrong_category_stays_silent(server: WsServer) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            public = await session.ws_connect(server.ws_url + "/fstream/public/ws/1")
            market = await session.ws_connect(server.ws_url + "/fstream/market/stream?streams=btcusdt@markPrice@1s")
            legacy = await session.ws_connect(server.ws_url + "/fstream/ws/btcusdt@aggTrade")
            # aggTrade on /public is acknowledged (as Binance does) but never delivers
            ack = await request(public, {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@bookTicker"], "id": 1})
            assert ack == {"result": None, "id": 1}
            assert (await request(public, {"method": "LIST_SUBSCRIPTIONS", "id": 2}))["result"] == ["btcusdt@aggTrade", "btcusdt@bookTicker"]
            await request(market, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
            await request(legacy, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
            server.publish("usdm", "btcusdt@aggTrade", {"e": "aggTrade", "a": 1})
            server.publish("usdm", "btcusdt@markPrice@1s", {"e": "markPriceUpdate", "p": "1"})
            server.publish("usdm", "btcusdt@bookTicker", {"e": "bookTicker", "u": 5})
            assert await receive_json(public) == {"e": "bookTicker", "u": 5}
            assert await receive_json(market) == {"stream": "btcusdt@markPrice@1s", "data": {"e": "markPriceUpdate", "p": "1"}}
            assert await receive_json(legacy) == {"e": "aggTrade", "a": 1}
            # spot and usdm never mix even with the same stream name
            server.publish("spot", "btcusdt@bookTicker", BOOK)
            server.publish("usdm", "btcusdt@bookTicker", {"e": "bookTicker", "u": 6})
            assert (await receive_json(public))["u"] == 6
            for ws in (public, market, legacy):
                await ws.close()

    run(scenario())


def test_too_many_incoming_messages_disconnects() -> None:
    with WsServer() as server:

        async def scenario() -> None:
            async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url + "/ws") as ws:
                for i in range(6):
                    await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": i})
                replies = []
                while True:
                    msg = await asyncio.wait_for(ws.receive(), 5)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    replies.append(msg.json())
                assert len(replies) == 5
                assert ws.close_code == 1008

        run(scenario())


def test_server_pings_and_connection_age_limit() -> None:
    with WsServer(ping_interval_spot=0.05, max_connection_age=0.3) as server:

        async def scenario() -> None:
            async with aiohttp.ClientSession() as session:
                ws = await session.ws_connect(server.ws_url + "/ws", autoping=False)
                kinds = []
                while True:
                    msg = await asyncio.wait_for(ws.receive(), 5)
                    kinds.append(msg.type)
                    if msg.type == aiohttp.WSMsgType.PING:
                        await ws.pong(msg.data)
                    elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                        break
                assert aiohttp.WSMsgType.PING in kinds
                assert kinds[-1] == aiohttp.WSMsgType.CLOSE
                assert msg.data == 1001
                await ws.close()

        run(scenario())
