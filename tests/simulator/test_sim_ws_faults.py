"""Websocket fault switches as a plain client sees them: drop, stall, malformed frame, slow reader."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import aiohttp
import pytest

from ws_support import API_KEY, WsServer, receive_json, ws_api_params

BOOK = {"u": 1, "s": "BTCUSDT", "b": "1", "B": "1", "a": "2", "A": "1"}


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


async def subscribed(session: aiohttp.ClientSession, server: WsServer, stream: str = "btcusdt@bookTicker") -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(server.ws_url + "/stream/ws/0")
    await ws.send_json({"method": "SUBSCRIBE", "params": [stream], "id": 1})
    assert await receive_json(ws) == {"result": None, "id": 1}
    return ws


@pytest.mark.parametrize("target", ["market", "all"])
def test_drop_streams_is_abrupt_and_targeted(target: str) -> None:
    with WsServer() as server:

        async def scenario() -> None:
            async with aiohttp.ClientSession() as session:
                market = await subscribed(session, server)
                user = await session.ws_connect(server.ws_url + "/ws-api/v3")
                await user.send_json({"id": "1", "method": "userDataStream.subscribe.signature", "params": ws_api_params()})
                assert (await receive_json(user))["status"] == 200
                server.ctx.faults.drop_streams(target)  # from the test thread, like a test would
                msg = await asyncio.wait_for(market.receive(), 5)
                assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
                assert market.close_code == 1006  # no close frame: an abnormal drop
                if target == "all":
                    msg = await asyncio.wait_for(user.receive(), 5)
                    assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
                else:
                    await user.send_json({"id": "2", "method": "ping"})
                    assert (await receive_json(user))["status"] == 200
                    await user.close()

        run(scenario())


def test_stall_loses_messages_but_keeps_connection_alive() -> None:
    with WsServer(ping_interval_spot=0.02) as server:

        async def scenario() -> None:
            async with aiohttp.ClientSession() as session:
                ws = await subscribed(session, server)
                server.ctx.faults.stall_streams(60, "market")
                for u in range(3):
                    server.publish("spot", "btcusdt@bookTicker", {**BOOK, "u": u})
                # pings keep flowing (answered by the client), the connection stays open
                await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 2})
                assert await receive_json(ws) == {"result": ["btcusdt@bookTicker"], "id": 2}
                server.ctx.faults.clear()
                server.publish("spot", "btcusdt@bookTicker", {**BOOK, "u": 10})
                assert (await receive_json(ws))["u"] == 10  # the stalled ones are gone
                await ws.close()

        run(scenario())


def test_malformed_frame_precedes_next_message() -> None:
    with WsServer() as server:

        async def scenario() -> None:
            async with aiohttp.ClientSession() as session:
                ws = await subscribed(session, server)
                server.ctx.faults.send_malformed_frame("market")
                server.publish("spot", "btcusdt@bookTicker", BOOK)
                bad = await asyncio.wait_for(ws.receive(), 5)
                assert bad.type == aiohttp.WSMsgType.TEXT
                with pytest.raises(json.JSONDecodeError):
                    json.loads(bad.data)
                assert await receive_json(ws) == BOOK
                server.publish("spot", "btcusdt@bookTicker", BOOK)
                assert await receive_json(ws) == BOOK  # exactly one bad frame
                await ws.close()

        run(scenario())


def test_malformed_user_frame_on_ws_api() -> None:
    with WsServer() as server:

        async def scenario() -> None:
            async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url + "/ws-api/v3") as ws:
                await ws.send_json({"id": "1", "method": "userDataStream.subscribe.signature", "params": ws_api_params()})
                assert (await receive_json(ws))["status"] == 200
                server.ctx.faults.send_malformed_frame("user")
                server.publish_user("spot", API_KEY, {"e": "balanceUpdate", "a": "BTC", "d": "1"})
                bad = await asyncio.wait_for(ws.receive(), 5)
                with pytest.raises(json.JSONDecodeError):
                    json.loads(bad.data)
                assert (await receive_json(ws))["event"]["e"] == "balanceUpdate"

        run(scenario())


def test_consumer_that_cannot_keep_up_is_disconnected() -> None:
    """A client that stops reading is cut off once its queue is full; publish never blocks."""
    with WsServer(max_queue=200) as server:

        async def scenario() -> None:
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as session:
                ws = await subscribed(session, server)
                # shrink the client's receive buffer so the kernel stops accepting quickly
                sock = ws._response.connection.transport.get_extra_info("socket")  # type: ignore[union-attr]
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                ws._response.connection.transport.pause_reading()  # type: ignore[union-attr]
                big = {**BOOK, "pad": "x" * 4000}
                for _ in range(20):
                    server.call(lambda: [server.ctx.bus.publish("spot", "btcusdt@bookTicker", big) for _ in range(100)])
                server.wait_until(lambda: not server.ctx.bus.wants("spot", "btcusdt@bookTicker"))
                ws._response.connection.transport.resume_reading()  # type: ignore[union-attr]
                await ws.close()

        run(scenario())


def test_server_shutdown_notice_then_close() -> None:
    from foxtrot_binance.simulator.ws_conn import announce_server_shutdown

    with WsServer() as server:

        async def scenario() -> None:
            async with aiohttp.ClientSession() as session:
                raw = await subscribed(session, server)
                combined = await session.ws_connect(server.ws_url + "/stream?streams=btcusdt@trade")
                await combined.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 1})
                await receive_json(combined)
                announce_server_shutdown(server.ctx, grace=0.1)  # from the test thread
                notice = await receive_json(raw)
                assert notice["e"] == "serverShutdown" and isinstance(notice["E"], int)
                wrapped = await receive_json(combined)
                assert wrapped["stream"] == "!serverShutdown" and wrapped["data"]["e"] == "serverShutdown"
                for ws in (raw, combined):
                    closing = await asyncio.wait_for(ws.receive(), 5)
                    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1001
                    await ws.close()

        run(scenario())
