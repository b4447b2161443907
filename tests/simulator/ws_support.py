"""Test harness for the simulator's websocket layer without the exchange core.

``WsServer`` runs an aiohttp app holding only the websocket routes on its own thread and
loop, exactly as the real simulator does, so tests drive it from the outside like a client
would. The context is CORE's real ``SimContext`` (bus, faults, auth) with HMAC keys added by
hand: no matching engine is needed to publish payloads on the bus.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import ccxt.pro as ccxtpro
from aiohttp import web

from foxtrot_binance.endpoints import point_ccxt_at

from foxtrot_binance.simulator.bus import StreamBus
from foxtrot_binance.simulator.context import SimContext
from foxtrot_binance.simulator.faults import Faults
from foxtrot_binance.simulator.ws_market import add_market_routes
from foxtrot_binance.simulator.ws_settings import WsSettings, settings_for
from foxtrot_binance.simulator.ws_user import add_user_routes

if TYPE_CHECKING:
    from foxtrot_binance.simulator import BinanceSimulator

API_KEY = "testkey" + "A" * 57
SECRET = "testsecret"
OTHER_KEY = "otherkey" + "B" * 56
WAIT = 10.0


class WsServer:
    """The websocket layer on 127.0.0.1 with a stand-in context; use as a context manager."""

    def __init__(self, **settings: Any) -> None:
        self.ctx = SimContext(StreamBus(), Faults())
        self.ctx.auth.add_hmac_key(API_KEY, SECRET, object())
        self.ctx.auth.add_hmac_key(OTHER_KEY, SECRET, object())
        self.settings: WsSettings = settings_for(self.ctx)
        for name, value in settings.items():
            setattr(self.settings, name, value)
        self.loop = asyncio.new_event_loop()
        self.app = web.Application()
        add_market_routes(self.app, self.ctx)
        add_user_routes(self.app, self.ctx)
        self._runner = web.AppRunner(self.app, shutdown_timeout=2.0)
        self._thread = threading.Thread(target=self.loop.run_forever, name="ws-sim", daemon=True)
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> WsServer:
        self._thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()

    async def _start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    # -- driving the loop from the test thread ------------------------------------------
    def run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
        fut: Future[Any] = Future()

        def invoke() -> None:
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # pragma: no cover - surfaced to the test
                fut.set_exception(exc)

        self.loop.call_soon_threadsafe(invoke)
        return fut.result(timeout)

    def publish(self, kind: str, stream: str, payload: Any) -> None:
        self.call(self.ctx.bus.publish, kind, stream, payload)

    def publish_user(self, kind: str, api_key: str, payload: Any) -> None:
        self.call(self.ctx.bus.publish_user, kind, api_key, payload)

    def wants(self, kind: str, stream: str) -> bool:
        return bool(self.call(self.ctx.bus.wants, kind, stream))

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll a server-side condition (evaluated on the loop) until it holds."""
        deadline = time.monotonic() + timeout
        while not self.call(predicate):
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            time.sleep(0.005)


def ws_api_params(api_key: str = API_KEY, secret: str = SECRET, timestamp: int | None = None) -> dict[str, Any]:
    """Signed params of ``userDataStream.subscribe.signature`` as ccxt builds them."""
    params: dict[str, Any] = {"apiKey": api_key, "recvWindow": 10000, "timestamp": timestamp or int(time.time() * 1000)}
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    params["signature"] = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return params


async def receive_json(ws: Any, timeout: float = 5.0) -> Any:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    return msg.json()


# -- ccxt.pro against the full BinanceSimulator -------------------------------------------------
def pro_client(sim: BinanceSimulator, kind: str = "spot", **options: Any) -> Any:
    exchange = ccxtpro.binance(
        {
            "apiKey": sim.api_key,
            "secret": sim.api_secret,
            "enableRateLimit": False,
            "options": {
                "fetchMarkets": {"types": ["spot", "linear"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "defaultType": "swap" if kind == "swap" else "spot",
                **options,
            },
        }
    )
    point_ccxt_at(exchange, sim.base_url)
    return exchange


async def in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def fed(sim: BinanceSimulator, kind: str, stream: str) -> None:
    """Wait until the simulator feeds ``stream`` (a watcher's SUBSCRIBE has been processed)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not sim.call(sim.bus.wants, kind, stream):
        assert asyncio.get_running_loop().time() < deadline, f"{stream} never subscribed"
        await asyncio.sleep(0.005)


async def settled(check: Any) -> None:
    """Wait until ccxt's caches satisfy ``check`` (a watcher only resolves on *later* updates)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "ccxt never reached the expected state"
        await asyncio.sleep(0.005)


def market_kind(symbol: str) -> str:
    return "usdm" if ":" in symbol else "spot"


def price_of(sim: BinanceSimulator, kind: str) -> Decimal:
    return sim.call(lambda: sim.exchange.markets[kind]["BTCUSDT"].price)  # type: ignore[index]


async def move(sim: BinanceSimulator, kind: str, factor: str) -> Decimal:
    """Set BTCUSDT of ``kind`` to its price times ``factor`` (from another thread, like a test)."""
    target = (price_of(sim, kind) * Decimal(factor)).quantize(Decimal("0.01"))
    await in_thread(lambda: sim.set_price("BTCUSDT", target, kind=kind))  # type: ignore[arg-type]
    return Decimal(str(sim.call(lambda: sim.exchange.markets[kind]["BTCUSDT"].price)))  # type: ignore[index]


async def user_fed(sim: BinanceSimulator, kind: str) -> None:
    """Wait until a user-data connection of the simulator's key listens for ``kind`` events."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not sim.call(lambda: bool(sim.bus._user.get((kind, sim.api_key)))):
        assert asyncio.get_running_loop().time() < deadline, "user stream never connected"
        await asyncio.sleep(0.005)


def order_trade_update(now: int, status: str, execution: str, trade_id: int) -> dict[str, Any]:
    filled = "0.010" if status == "FILLED" else "0"
    return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": {
        "s": "BTCUSDT", "c": "lk-order-1", "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "0.010", "p": "60000",
        "ap": "60000" if filled != "0" else "0", "sp": "0", "x": execution, "X": status, "i": 424242,
        "l": filled, "z": filled, "L": "60000" if filled != "0" else "0", "N": "USDT", "n": "0.24", "T": now,
        "t": trade_id, "b": "0", "a": "0", "m": True, "R": False, "wt": "CONTRACT_PRICE", "ot": "LIMIT",
        "ps": "BOTH", "cp": False, "rp": "0", "pP": False, "si": 0, "ss": 0, "V": "NONE", "pm": "NONE", "gtd": 0}}


def account_update(now: int) -> dict[str, Any]:
    return {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {
        "m": "ORDER",
        "B": [{"a": "USDT", "wb": "99999.76", "cw": "99999.76", "bc": "0"}],
        "P": [{"s": "BTCUSDT", "pa": "0.010", "ep": "60000", "bep": "60000", "cr": "0", "up": "0", "mt": "cross",
               "iw": "0", "ps": "BOTH", "ma": "USDT"}]}}

