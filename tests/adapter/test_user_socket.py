"""The private websocket against the simulator: real ccxt signing, real aiohttp sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import ccxt
import pytest
from aiohttp import WSMsgType, web
from loguru import logger

from foxtrot_binance import user_socket
from foxtrot_binance.exchange_factory import create_exchange
from foxtrot_binance.market_kind import MarketKind
from foxtrot_binance.rate_limit import RequestThrottled
from foxtrot_binance.settings import BinanceSettings
from foxtrot_binance.simulator import BinanceSimulator


@pytest.fixture(scope="module")
def sim() -> Iterator[BinanceSimulator]:
    with BinanceSimulator(seed=3, tick_interval=None) as simulator:
        yield simulator
from foxtrot_binance.user_socket import UserSocket

from fake_ws_api import FakeWsApi


class DirectRest:
    """The REST gateway's call(), without gate or retries: enough for the listenKey."""

    def __init__(self, exchange: Any) -> None:
        self.exchange = exchange

    async def call(self, method: str, *args: Any, weight: int = 1, **kwargs: Any) -> Any:
        return await getattr(self.exchange, method)(*args, **kwargs)


async def session(sim: Any, kind: MarketKind, secret: str, body) -> None:  # noqa: ANN001
    settings = BinanceSettings.load({"api_key": sim.api_key, "secret": secret, "base_url": sim.base_url}, env_file=None)
    exchange = create_exchange(kind, settings)
    socket = UserSocket(kind, exchange, DirectRest(exchange), heartbeat=5.0, proxy=None, log=logger)
    try:
        await body(socket, exchange)
    finally:
        await socket.shutdown()
        await exchange.close()


def test_a_refused_spot_subscription_is_binances_reason_as_a_ccxt_error_without_secrets(sim, clean_binance_env):
    wrong = "x" * 64

    async def body(socket: UserSocket, exchange: Any) -> None:
        with pytest.raises(ccxt.AuthenticationError) as raised:
            await socket.open()
        text = f"{raised.value!s} {raised.value!r}"
        assert "Signature for this request is not valid" in text
        assert sim.api_key not in text and wrong not in text and "signature=" not in text.lower()

    asyncio.run(session(sim, MarketKind.SPOT, wrong, body))


@pytest.mark.parametrize("kind", [MarketKind.SPOT, MarketKind.USDM])
def test_events_arrive_once_the_socket_is_open(sim, clean_binance_env, kind):
    async def body(socket: UserSocket, exchange: Any) -> None:
        await socket.open()
        expected = "outboundAccountPosition" if kind is MarketKind.SPOT else "ACCOUNT_UPDATE"
        events: list[dict[str, Any]] = []
        got = asyncio.Event()

        def on_event(event: dict[str, Any]) -> None:
            events.append(event)
            if event.get("e") == expected:
                got.set()

        reader = asyncio.create_task(socket.read(on_event))
        await asyncio.to_thread(sim.deposit, "USDT", 5, kind=kind.value)
        async with asyncio.timeout(10):
            await got.wait()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        [balance] = [e for e in events if e["e"] == expected]
        assert any(row["a"] == "USDT" for row in (balance["B"] if kind is MarketKind.SPOT else balance["a"]["B"]))

    asyncio.run(session(sim, kind, sim.api_secret, body))


def test_a_dropped_socket_ends_read_with_connection_error(sim, clean_binance_env):
    async def body(socket: UserSocket, exchange: Any) -> None:
        await socket.open()
        reader = asyncio.create_task(socket.read(lambda event: None))
        sim.faults.drop_streams("user")
        with pytest.raises(ConnectionError):
            async with asyncio.timeout(10):
                await reader

    asyncio.run(session(sim, MarketKind.SPOT, sim.api_secret, body))


class SilentPeer(FakeWsApi):
    """A ws-api endpoint that acknowledges the subscription and then never answers a ping:
    a peer that died without closing. ``refuse`` answers the handshake with HTTP 403."""

    def __init__(self, refuse: bool = False) -> None:
        super().__init__()
        self.refuse = refuse

    async def serve(self, request: web.Request) -> web.StreamResponse:
        if self.refuse:
            return web.Response(status=403)
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                request_id = json.loads(message.data)["id"]
                await ws.send_str(json.dumps({"id": request_id, "status": 200, "result": {"subscriptionId": 0}}))
        return ws


async def silent_session(peer: SilentPeer, heartbeat: float) -> UserSocket:
    settings = BinanceSettings.load({"api_key": "k" * 64, "secret": "s" * 64, "base_url": peer.base_url}, env_file=None)
    exchange = create_exchange(MarketKind.SPOT, settings)
    socket = UserSocket(MarketKind.SPOT, exchange, DirectRest(exchange), heartbeat=heartbeat, proxy=None, log=logger)
    socket.exchange_to_close = exchange  # type: ignore[attr-defined]
    return socket


def test_a_peer_that_stops_answering_pings_ends_the_stream():
    async def run() -> None:
        async with SilentPeer() as peer:
            socket = await silent_session(peer, heartbeat=0.2)
            try:
                await socket.open()
                with pytest.raises(ConnectionError, match="ServerTimeoutError|closed"):
                    async with asyncio.timeout(10):
                        await socket.read(lambda event: None)
            finally:
                await socket.shutdown()
                await socket.exchange_to_close.close()  # type: ignore[attr-defined]

    asyncio.run(run())


def test_a_refused_handshake_says_so_without_the_url():
    async def run() -> None:
        async with SilentPeer(refuse=True) as peer:
            socket = await silent_session(peer, heartbeat=5)
            try:
                with pytest.raises(ConnectionError) as raised:
                    await socket.open()
                assert "HTTP 403" in str(raised.value) and "127.0.0.1" not in str(raised.value)
                assert raised.value.__cause__ is None and raised.value.__suppress_context__
            finally:
                await socket.shutdown()
                await socket.exchange_to_close.close()  # type: ignore[attr-defined]

    asyncio.run(run())


class FlakyRenewals(DirectRest):
    """Real listenKey POSTs; keep-alive PUTs answered from a script of outcomes."""

    def __init__(self, exchange: Any, outcomes: list[Exception | None]) -> None:
        super().__init__(exchange)
        self.outcomes = outcomes
        self.puts = 0
        self.renewed_twice = asyncio.Event()

    async def call(self, method: str, *args: Any, weight: int = 1, **kwargs: Any) -> Any:
        if method != "fapiPrivatePutListenKey":
            return await super().call(method, *args, **kwargs)
        self.puts += 1
        if self.puts >= 2:
            self.renewed_twice.set()
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        return {}


@pytest.mark.parametrize(
    ("refusal", "kept"),
    [
        (RequestThrottled("IP banned by Binance (418)", 0), True),  # throttled: the key still has time
        (ccxt.RequestTimeout("no answer"), True),
        (ccxt.AuthenticationError('binance {"code":-1125,"msg":"This listenKey does not exist."}'), False),
    ],
    ids=["throttled", "timeout", "disowned"],
)
def test_a_failed_listen_key_renewal_is_retried_unless_binance_disowns_the_key(
    sim, clean_binance_env, monkeypatch, refusal, kept
):
    monkeypatch.setattr(user_socket, "LISTEN_KEY_KEEPALIVE_S", 0.01)
    monkeypatch.setattr(user_socket, "KEEPALIVE_RETRY_S", 0.01)

    async def body(socket: UserSocket, exchange: Any) -> None:
        socket.rest = rest = FlakyRenewals(exchange, [refusal])
        await socket.open()
        assert socket._listen_key is not None
        keep_alive = asyncio.create_task(socket.keep_alive())
        async with asyncio.timeout(10):  # a second renewal, or the end of the keep-alive
            await asyncio.wait([keep_alive, asyncio.ensure_future(rest.renewed_twice.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
        keep_alive.cancel()
        outcome = await asyncio.gather(keep_alive, return_exceptions=True)
        if kept:
            assert rest.puts >= 2 and socket._listen_key is not None and socket.needs_rest_to_open is False
        else:
            assert outcome[0] is refusal and socket._listen_key is None and socket.needs_rest_to_open is True

    asyncio.run(session(sim, MarketKind.USDM, sim.api_secret, body))


@pytest.mark.parametrize(
    ("server", "spot_url", "usdm_url"),
    [
        ("live", "wss://ws-api.binance.com:443/ws-api/v3", "wss://fstream.binance.com/private/ws?listenKey=K"),
        ("testnet", "wss://ws-api.testnet.binance.vision/ws-api/v3", "wss://fstream.binancefuture.com/private/ws?listenKey=K"),
        ("demo", "wss://demo-ws-api.binance.com/ws-api/v3", "wss://fstream.binancefuture.com/private/ws?listenKey=K"),
    ],
)
def test_the_private_socket_goes_to_binances_host_for_each_server(clean_binance_env, server, spot_url, usdm_url):
    """The URLs come from the pinned ccxt; a ccxt upgrade that moves them must be noticed here."""

    async def urls() -> tuple[str, str]:
        settings = BinanceSettings.load({"api_key": "k" * 64, "secret": "s" * 64, "server": server}, env_file=None)
        spot, usdm = create_exchange(MarketKind.SPOT, settings), create_exchange(MarketKind.USDM, settings)
        try:
            return spot.urls["api"]["ws"]["ws-api"]["spot"], usdm.get_private_ws_url("linear", "K")
        finally:
            await spot.close()
            await usdm.close()

    assert asyncio.run(urls()) == (spot_url, usdm_url)
