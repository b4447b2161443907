"""User-data streams: the spot WebSocket API and the USDⓈ-M listenKey stream (plain clients)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from ws_support import API_KEY, OTHER_KEY, WsServer, receive_json, ws_api_params

REPORT = {"e": "executionReport", "E": 1, "s": "BTCUSDT", "X": "NEW", "i": 1}
ORDER_UPDATE = {"e": "ORDER_TRADE_UPDATE", "E": 1, "T": 1, "o": {"s": "BTCUSDT", "ps": "BOTH"}}


@pytest.fixture
def server() -> Iterator[WsServer]:
    with WsServer() as srv:
        yield srv


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


async def call(ws: aiohttp.ClientWebSocketResponse, request_id: Any, method: str, params: dict[str, Any] | None = None) -> Any:
    message: dict[str, Any] = {"id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    await ws.send_json(message)
    return await receive_json(ws)


# -- spot WebSocket API -------------------------------------------------------------------


def test_ws_api_signature_subscription_wraps_events(server: WsServer) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url + "/ws-api/v3") as ws:
            reply = await call(ws, "1", "userDataStream.subscribe.signature", ws_api_params())
            assert reply["id"] == "1" and reply["status"] == 200
            assert reply["result"] == {"subscriptionId": 0}
            assert reply["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
            server.publish_user("spot", OTHER_KEY, {**REPORT, "i": 99})  # someone else's: not delivered
            server.publish_user("spot", API_KEY, REPORT)
            assert await receive_json(ws) == {"subscriptionId": 0, "event": REPORT}
            second = await call(ws, "2", "userDataStream.subscribe.signature", ws_api_params())
            assert second["result"] == {"subscriptionId": 1}
            server.publish_user("spot", API_KEY, REPORT)
            got = [await receive_json(ws), await receive_json(ws)]
            assert sorted(m["subscriptionId"] for m in got) == [0, 1]
            assert (await call(ws, "3", "userDataStream.unsubscribe", {"subscriptionId": 0}))["result"] == {}
            server.publish_user("spot", API_KEY, {**REPORT, "i": 2})
            assert await receive_json(ws) == {"subscriptionId": 1, "event": {**REPORT, "i": 2}}
            assert (await call(ws, "4", "userDataStream.unsubscribe"))["status"] == 200
        server.wait_until(lambda: not server.ctx.bus._user)

    run(scenario())


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        (ws_api_params(secret="wrong"), 400, -1022),
        (ws_api_params(api_key="nobody"), 401, -2015),
        (ws_api_params(timestamp=1), 400, -1021),
    ],
)
def test_ws_api_refusals_carry_status_and_binance_code(server: WsServer, params: dict[str, Any], status: int, code: int) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url + "/ws-api/v3") as ws:
            reply = await call(ws, "7", "userDataStream.subscribe.signature", params)
            assert reply["id"] == "7" and reply["status"] == status
            assert reply["error"]["code"] == code and reply["error"]["msg"]

    run(scenario())


def test_ws_api_session_logon_ping_time_and_unknown_method(server: WsServer) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url + "/ws-api/v3") as ws:
            refused = await call(ws, 1, "userDataStream.subscribe")
            assert refused["status"] == 401
            logon = await call(ws, 2, "session.logon", ws_api_params())
            assert logon["result"]["apiKey"] == API_KEY
            assert (await call(ws, 3, "userDataStream.subscribe"))["result"] == {"subscriptionId": 0}
            assert (await call(ws, 4, "ping"))["result"] == {}
            assert isinstance((await call(ws, 5, "time"))["result"]["serverTime"], int)
            unknown = await call(ws, 6, "order.teleport")
            assert unknown["status"] == 400 and unknown["error"]["code"] == -1020
            await ws.send_str("{broken")
            broken = await receive_json(ws)
            assert broken["id"] is None and broken["status"] == 400

    run(scenario())


# -- futures listenKey --------------------------------------------------------------------


async def listen_key(session: aiohttp.ClientSession, server: WsServer, method: str, api_key: str | None = API_KEY, data: Any = None) -> tuple[int, Any]:
    headers = {"X-MBX-APIKEY": api_key} if api_key else {}
    async with session.request(method, server.base_url + "/fapi/v1/listenKey", headers=headers, data=data) as resp:
        return resp.status, await resp.json()


def test_listen_key_rest_lifecycle(server: WsServer) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            status, body = await listen_key(session, server, "POST", data="subType=None")
            assert status == 200 and len(body["listenKey"]) == 64
            key = body["listenKey"]
            assert await listen_key(session, server, "POST") == (200, {"listenKey": key})
            assert await listen_key(session, server, "PUT") == (200, {"listenKey": key})
            assert await listen_key(session, server, "DELETE") == (200, {})
            assert await listen_key(session, server, "PUT") == (400, {"code": -1125, "msg": "This listenKey does not exist."})
            status, body = await listen_key(session, server, "POST")
            assert status == 200 and body["listenKey"] != key
            assert (await listen_key(session, server, "POST", api_key="nobody"))[1]["code"] == -2015
            assert await listen_key(session, server, "POST", api_key=None) == (401, {"code": -2014, "msg": "API-key format invalid."})

    run(scenario())


@pytest.mark.parametrize("layout", ["query", "path", "legacy"])
def test_private_stream_pushes_raw_events(server: WsServer, layout: str) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            key = (await listen_key(session, server, "POST"))[1]["listenKey"]
            path = {
                "query": f"/fstream/private/ws?listenKey={key}",
                "path": f"/fstream/private/ws/{key}",
                "legacy": f"/fstream/ws/{key}",
            }[layout]
            async with session.ws_connect(server.ws_url + path) as ws:
                server.wait_until(lambda: bool(server.ctx.bus._user.get(("usdm", API_KEY))))
                server.publish_user("usdm", OTHER_KEY, {**ORDER_UPDATE, "E": 0})
                server.publish_user("usdm", API_KEY, ORDER_UPDATE)
                assert await receive_json(ws) == ORDER_UPDATE

    run(scenario())


def test_unknown_listen_key_refuses_private_stream(server: WsServer) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(server.ws_url + "/fstream/private/ws?listenKey=" + "x" * 64)
            assert info.value.status == 400

    run(scenario())


async def expect_expiry(ws: aiohttp.ClientWebSocketResponse, key: str) -> None:
    event = await receive_json(ws)
    assert event["e"] == "listenKeyExpired" and event["listenKey"] == key
    assert isinstance(event["E"], str) and event["E"].isdigit()  # a string on USD-M, as Binance sends it
    closing = await asyncio.wait_for(ws.receive(), 5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


def test_listen_key_expires_after_ttl() -> None:
    with WsServer(listen_key_ttl=0.3, housekeeping_interval=0.01) as server:

        async def scenario() -> None:
            async with aiohttp.ClientSession() as session:
                key = (await listen_key(session, server, "POST"))[1]["listenKey"]
                async with session.ws_connect(server.ws_url + f"/fstream/private/ws?listenKey={key}") as ws:
                    await expect_expiry(ws, key)
                assert (await listen_key(session, server, "PUT"))[1]["code"] == -1125
                assert (await listen_key(session, server, "POST"))[1]["listenKey"] != key

        run(scenario())


def test_expire_listen_keys_fault(server: WsServer) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            key = (await listen_key(session, server, "POST"))[1]["listenKey"]
            async with session.ws_connect(server.ws_url + f"/fstream/private/ws?listenKey={key}") as ws:
                server.wait_until(lambda: bool(server.ctx.bus._user.get(("usdm", API_KEY))))
                server.ctx.faults.expire_listen_keys()
                await expect_expiry(ws, key)
            assert (await listen_key(session, server, "PUT"))[1]["code"] == -1125
            fresh = (await listen_key(session, server, "POST"))[1]["listenKey"]
            assert fresh != key
            assert (await listen_key(session, server, "PUT"))[1] == {"listenKey": fresh}

    run(scenario())


def test_ws_api_logout_terminates_session_subscriptions(server: WsServer) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url + "/ws-api/v3") as ws:
            await call(ws, 1, "session.logon", ws_api_params())
            assert (await call(ws, 2, "userDataStream.subscribe"))["result"] == {"subscriptionId": 0}
            signed = await call(ws, 3, "userDataStream.subscribe.signature", ws_api_params())
            assert signed["result"] == {"subscriptionId": 1}
            await ws.send_json({"id": 4, "method": "session.logout"})
            terminated = await receive_json(ws)
            assert terminated["subscriptionId"] == 0 and terminated["event"]["e"] == "eventStreamTerminated"
            assert (await receive_json(ws))["result"]["apiKey"] is None
            server.publish_user("spot", API_KEY, REPORT)  # the signature subscription lives on
            assert await receive_json(ws) == {"subscriptionId": 1, "event": REPORT}

    run(scenario())
