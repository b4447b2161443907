"""``BinanceSimulator``: the exchange core and its HTTP/websocket server on a private thread.

The simulator owns one thread running one asyncio loop; every piece of exchange state lives
on that loop, so the core needs no locks. Tests and the adapter talk to it from other
threads through ``call()`` (and helpers built on it), which run on the loop and wait.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web

from . import streams
from .auth import new_token
from .bus import StreamBus
from .context import SimContext
from .errors import BinanceError, not_found
from .exchange import Exchange
from .faults import Faults
from .instruments import Kind, exchange_meta, fmt
from .ratelimit import RateLimiter, group_of, weight_of
from .rest_common import drop_connection, json_response, read_params
from .rest_futures import add_futures_routes
from .rest_spot import add_spot_routes
from .ws_market import add_market_routes
from .ws_user import add_user_routes

T = TypeVar("T")
WS_PREFIXES = ("/stream", "/ws", "/fstream", "/dstream", "/ws-api", "/ws-fapi", "/ws-dapi")
_HTML_503 = "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service " \
            "Temporarily Unavailable</h1></center></body></html>"


def _is_ws_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in WS_PREFIXES)


def build_app(ctx: SimContext) -> web.Application:
    """The aiohttp app: REST (ours), websocket routes (ws_market/ws_user), and the middleware."""

    @web.middleware
    async def binance_edge(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if _is_ws_path(request.path):
            return await handler(request)
        faults = ctx.faults
        delay = faults.take_rest_delay()
        if delay > 0:
            await asyncio.sleep(delay)
        failure = faults.take_rest_failure()
        if failure == "reset":
            return drop_connection(request)
        if failure == "500":
            return json_response({"code": -1001, "msg": "Internal error; unable to process your request. "
                                                       "Please try again."}, status=500)
        if failure == "503":
            return web.Response(text=_HTML_503, status=503, content_type="text/html")
        assert ctx.limits is not None
        group = group_of(request.path)
        if faults.take_exhaust_weight():
            ctx.limits.exhaust(group)
        try:
            _, _, params = await read_params(request)
            ctx.limits.charge(group, weight_of(request.method, request.path, params))
            response = await handler(request)
        except BinanceError as err:
            headers = dict(err.headers)
            headers.update(ctx.limits.headers(group))
            return json_response(err.body(), status=err.status, headers=headers)
        except web.HTTPNotFound:
            err = not_found()
            return json_response(err.body(), status=404, headers=ctx.limits.headers(group))
        except web.HTTPMethodNotAllowed:
            return json_response({"code": -1000, "msg": "An unknown error occurred while processing the request."},
                                 status=405, headers=ctx.limits.headers(group))
        for name, value in ctx.limits.headers(group).items():
            response.headers[name] = value
        return response

    app = web.Application(middlewares=[binance_edge])
    add_spot_routes(app, ctx)
    add_futures_routes(app, ctx)
    add_market_routes(app, ctx)
    add_user_routes(app, ctx)
    return app


class BinanceSimulator:
    """A Binance-compatible exchange on 127.0.0.1 (spot /api/v3 and USD-M /fapi, REST + streams).

    ``balances``: spot balances of the default account (``{"USDT": "1000", ...}``), or
    ``{"spot": {...}, "usdm": {...}}`` for both wallets. ``weight_limit`` overrides the
    per-minute request weight of both hosts (useful to reach 429/418 quickly);
    ``weight_window_s`` shortens Binance's one-minute weight window (announced in exchangeInfo
    and in the ``X-MBX-USED-WEIGHT-<n>S`` header) and ``order_limit`` replaces the
    orders-per-10-seconds cap, for tests and benchmarks that must not wait a minute.
    """

    def __init__(self, seed: int = 0, symbols: list[str] | None = None, balances: dict[str, Any] | None = None,
                 tick_interval: float | None = 0.1, host: str = "127.0.0.1", port: int = 0,
                 weight_limit: int | None = None, weight_window_s: int = 60,
                 order_limit: int | None = None) -> None:
        self.seed = seed
        self.host = host
        self.port = port
        self.faults = Faults()
        self.bus = StreamBus()
        self.ctx = SimContext(self.bus, self.faults)
        self.exchange = Exchange(self.ctx, seed, symbols, balances, tick_interval)
        self.ctx.exchange = self.exchange
        spot_limit = _weight_limit("spot") if weight_limit is None else weight_limit
        usdm_limit = _weight_limit("usdm") if weight_limit is None else weight_limit
        self.ctx.limits = RateLimiter(self.ctx.now_ms, spot_limit, usdm_limit, weight_window_s * 1000, order_limit)
        self.api_key = new_token(64)
        self.api_secret = new_token(64)
        self.account = self.exchange.new_account(self.api_key)
        self.ctx.auth.add_hmac_key(self.api_key, self.api_secret, self.account)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()
        self._stopped = False

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> BinanceSimulator:
        with self._lock:
            if self._thread is not None:
                return self
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name=f"binance-sim-{id(self):x}",
                                            daemon=True)
            self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=15)
        except BaseException:
            self.stop()
            raise
        return self

    async def _serve(self) -> None:
        app = build_app(self.ctx)
        self._runner = web.AppRunner(app, shutdown_timeout=0.25, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.exchange.start()

    def stop(self) -> None:
        """Close every connection, stop the loop and join the thread; safe to call twice."""
        with self._lock:
            if self._stopped or self._loop is None or self._thread is None:
                self._stopped = True
                return
            self._stopped = True
            loop, thread = self._loop, self._thread
        if loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                fut.result(timeout=10)
            except Exception:  # noqa: BLE001 - stopping must always finish
                pass
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not loop.is_running():
            loop.close()

    async def _shutdown(self) -> None:
        await self.exchange.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()

    def __enter__(self) -> BinanceSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- calling into the loop ------------------------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 30) -> T:
        """Run ``fn(*args)`` on the simulator loop and return its result (thread-safe)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            raise RuntimeError("simulator is not running")
        if threading.current_thread() is self._thread:
            return fn(*args)

        async def run() -> T:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    # -- test controls --------------------------------------------------------------------
    def register_ed25519_key(self, public_key_pem: str) -> str:
        return self.call(self.ctx.auth.register_ed25519_key, public_key_pem)

    def set_price(self, symbol: str, price: float | str | Decimal, *, kind: Kind | None = None,
                  volume: float | str | Decimal | None = None) -> None:
        """Move the market to ``price``; fills crossed resting orders (at most ``volume``)."""
        vol = None if volume is None else Decimal(str(volume))
        self.call(self.exchange.set_price, symbol.upper(), Decimal(str(price)), kind, vol)

    def apply_funding(self, symbol: str, rate: float | str | Decimal | None = None) -> None:
        self.call(self.exchange.apply_funding, symbol.upper(), None if rate is None else Decimal(str(rate)))

    def deposit(self, asset: str, amount: float | str | Decimal, *, kind: Kind = "spot") -> None:
        """Credit the default account from outside trading (spot balanceUpdate, USD-M ACCOUNT_UPDATE)."""
        self.call(self.exchange.deposit, self.account, asset.upper(), Decimal(str(amount)), kind)

    def firehose(self, kind: Kind, symbols: list[str], messages: int, *, rate: float | None = None,
                 on_publish: Callable[[dict[str, Any]], None] | None = None) -> concurrent.futures.Future[int]:
        """Publish ``messages`` bookTicker updates round-robin over ``symbols`` (benchmarks).

        Each message consumes a book update id (bookTicker ``u`` is the book's id), so a depth
        watcher of the same symbols sees a gap and resyncs, as it would on Binance.
        ``on_publish(payload)`` runs on the simulator's loop right after each message is
        handed to the streams: a benchmark can note the exact instant, which ``E`` (whole
        milliseconds) only approximates.
        """
        loop = self._loop
        assert loop is not None
        markets = [self.exchange.markets[kind][s.upper()] for s in symbols]

        async def run() -> int:
            bus, now_ms = self.bus, self.ctx.now_ms
            start = loop.time()
            batch = 200 if rate is None else max(1, int(rate / 100))
            sent = 0
            for i, market in zip(range(messages), itertools.cycle(markets)):
                market.update_id += 1
                (bt, bq), (at, aq) = market.best_bid(), market.best_ask()
                bump = 1 + (i // len(markets)) % 1000  # a symbol's next 1,000 messages all differ
                stream = market.symbol.lower() + "@bookTicker"
                payload = streams.book_ticker(
                    market.inst, market.update_id, (market.p(bt), market.q(bq + bump)),
                    (market.p(at), market.q(aq + bump)), now_ms())
                bus.publish(kind, stream, payload)
                if on_publish is not None:
                    on_publish(payload)
                sent += 1
                if sent % batch == 0:
                    if rate is None:
                        await asyncio.sleep(0)
                    else:
                        target = start + sent / rate
                        await asyncio.sleep(max(0.0, target - loop.time()))
            return sent

        return asyncio.run_coroutine_threadsafe(run(), loop)  # type: ignore[return-value]

    # -- inspection (plain data, for tests) -------------------------------------------------
    def open_orders(self, kind: Kind, symbol: str | None = None) -> list[dict[str, Any]]:
        return [o for o in self.orders(kind) if o["status"] in ("NEW", "PARTIALLY_FILLED")
                and (symbol is None or o["symbol"] == symbol)]

    def orders(self, kind: Kind) -> list[dict[str, Any]]:
        return self.call(self._orders, kind)

    def _orders(self, kind: Kind) -> list[dict[str, Any]]:
        from .spot_views import order_view
        if kind == "spot":
            return [order_view(o) for o in self.exchange.spot.orders(self.account)]
        return self.exchange.usdm.order_views(self.account)

    def balances(self, kind: Kind) -> dict[str, dict[str, str]]:
        def read() -> dict[str, dict[str, str]]:
            if kind == "spot":
                return {a: {"free": fmt(b.free), "locked": fmt(b.locked)} for a, b in self.account.spot.items()}
            return self.exchange.usdm.balance_views(self.account)
        return self.call(read)

    def positions(self) -> list[dict[str, Any]]:
        return self.call(self.exchange.usdm.position_views, self.account)


def _weight_limit(kind: Kind) -> int:
    for rl in exchange_meta(kind).get("rateLimits", []):
        if rl.get("rateLimitType") == "REQUEST_WEIGHT":
            return int(rl["limit"])
    return 6000
