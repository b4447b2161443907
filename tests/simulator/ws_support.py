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
from typing import Any

from aiohttp import web

from foxtrot_binance.simulator.bus import StreamBus
from foxtrot_binance.simulator.context import SimContext
from foxtrot_binance.simulator.faults import Faults
from foxtrot_binance.simulator.ws_market import add_market_routes
from foxtrot_binance.simulator.ws_settings import WsSettings, settings_for
from foxtrot_binance.simulator.ws_user import add_user_routes

API_KEY = "testkey" + "A" * 57
SECRET = "testsecret"
OTHER_KEY = "otherkey" + "B" * 56


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
