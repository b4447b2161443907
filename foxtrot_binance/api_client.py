"""The coordinator of one adapter: owns the I/O thread, the ccxt client and the managers.

The facade (binance.py) calls in from the host's threads; this class turns each call into
work on the I/O loop and routes the managers' results back to the facade's ``on_*``
helpers. Connecting is asynchronous and resilient: a network failure at connect time is
retried with backoff (and said in the log), an authentication failure is said once and left
for a human to fix.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from foxtrot_binance.account_manager import AccountManager
from foxtrot_binance.bar_cache import BarCache, BarCacheError, default_cache_dir, namespace_for
from foxtrot_binance.binance_mappings import Outcome, backoff_delay, classify_error
from foxtrot_binance.clock import ClockSync
from foxtrot_binance.contract_manager import ContractManager, Instrument
from foxtrot_binance.exchange_factory import create_exchange, guard_ccxt_logging
from foxtrot_binance.historical_data import HistoricalDataManager
from foxtrot_binance.io_thread import IoThread
from foxtrot_binance.logs import get_logger, register_secret
from foxtrot_binance.market_data import MarketDataManager
from foxtrot_binance.market_kind import MarketKind
from foxtrot_binance.order_manager import ORDER_MAX_WAIT_S, OrderManager
from foxtrot_binance.rate_limit import DEFAULT_WEIGHT_LIMITS, RequestNotSent, WeightGate
from foxtrot_binance.rest_gateway import RestGateway
from foxtrot_binance.settings import BinanceSettings
from foxtrot_binance.stream_client import MarketStreamClient, OnMessage, StreamEvent
from foxtrot_binance.user_events import UserEventRouter
from foxtrot_binance.user_socket import UserSocket
from foxtrot_binance.user_stream import UserStream

if TYPE_CHECKING:
    from foxtrot_hooks import BarData, BaseAdapter, HistoryRequest, SubscribeRequest

MAX_CONNECT_DELAY_S = 60.0
MAX_ACTIVITY_SYMBOLS = 20
"""Symbols whose trades one reconciliation reads because balances moved without a reported fill."""
MAX_INCOME_PAGES = 5
"""Pages of 1,000 income entries one check reads at most (weight 30 each)."""


class BinanceApiClient:
    def __init__(self, adapter: BaseAdapter, kind: MarketKind) -> None:
        self.adapter = adapter
        self.kind = kind
        name = adapter.adapter_name
        self.log = get_logger(name)
        self.contracts = ContractManager(kind, name)
        self.orders = OrderManager(kind, name, self.contracts, adapter.on_order, adapter.on_trade, adapter.write_log, self.log)
        self.accounts = AccountManager(kind, name, adapter.on_account, adapter.on_position, self.log, adapter.write_log)
        self.accounts.contracts = self.contracts
        self._configured_symbols: set[str] = set()  # USDⓈ-M symbols whose default leverage/margin type is set
        # symbol -> the one task applying its defaults; every order on it awaits that task
        self._configuring: dict[str, asyncio.Task[None]] = {}
        self.io = IoThread(name)
        self.settings: BinanceSettings | None = None
        self.exchange: Any = None
        self.rest: RestGateway | None = None
        self.clock: ClockSync | None = None
        self.gate: WeightGate | None = None
        self.user_stream: UserStream | None = None
        self.history: HistoricalDataManager | None = None
        self.market_data: MarketDataManager | None = None
        self._wanted: list[SubscribeRequest] = []  # subscriptions, kept from before connect
        self._bar_cache: BarCache | None = None
        self._activity_baseline: dict[str, float] | None = None  # holdings at the last reconciliation
        self._income_since_ms = 0  # USDⓈ-M: income history read up to here (exchange clock)
        self.ready = threading.Event()  # contracts loaded, REST usable
        self._tasks: set[asyncio.Task[Any]] = set()
        self._state_lock = threading.Lock()
        self._closed = False
        self._rng = random.Random()

    # -- host side ----------------------------------------------------------------------
    def connect(self, setting: dict[str, Any]) -> None:
        """Validate at once (raises naming the field), then connect in the background."""
        settings = BinanceSettings.from_setting(setting)
        with self._state_lock:
            if self._closed:
                raise RuntimeError(f"{self.adapter.adapter_name} was closed; create a new adapter to reconnect")
            if self.settings is not None:
                self.adapter.write_log("Already connected or connecting; connect() ignored")
                return
            self.settings = settings
        for secret in (settings.api_key, settings.secret):
            if secret is not None:
                register_secret(secret.get_secret_value())
        self.orders.schedule = self.schedule
        self.orders.trading_enabled = self._trading_block_reason
        self.orders.reference_price = self._reference_price
        self.orders.symbols_with_activity = self._symbols_with_activity
        if self.kind is MarketKind.USDM:
            self.orders.before_first_order = self._configure_symbol
            # Binance sends no ACCOUNT_UPDATE when an order ends without a fill (cancel,
            # expiry): without a refresh the margin it held would look frozen forever
            self.orders.on_finished = self.accounts.on_account_update
        self.io.start()
        self.schedule(self._run())

    def close(self) -> None:
        """Stop streams, close ccxt's sessions on their own loop, join the thread. Idempotent."""
        if self.io.in_loop_thread():
            # called from an event handler running on the I/O loop: the loop cannot stop
            # itself and wait, so a helper thread does it
            threading.Thread(target=self.close, name=f"{self.adapter.adapter_name}-close", daemon=True).start()
            return
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            started = self.io.running
        self.ready.clear()
        if started:
            self.io.stop(self._shutdown)
            self.adapter.write_log("Disconnected")
        if self._bar_cache is not None:
            self._bar_cache.close()  # after the loop stopped: no download can still be writing

    def schedule(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run ``coro`` on the I/O loop; failures are logged, never lost silently.

        After close() nothing runs: the coroutine is discarded and the future fails."""
        wrapped = self._tracked(coro)
        try:
            return self.io.submit(wrapped)
        except RuntimeError as exc:  # the loop is closed or not running
            wrapped.close()
            coro.close()
            self.log.warning("{}: not running, work discarded ({})", self.adapter.adapter_name, exc)
            failed: concurrent.futures.Future[Any] = concurrent.futures.Future()
            failed.set_exception(RuntimeError(f"{self.adapter.adapter_name} is closed"))
            return failed

    def run_blocking(self, coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
        """For the one blocking call (history): wait for ``coro`` on the loop."""
        future = self.io.submit(_within(coro, timeout))
        return future.result(timeout + 1)

    def query_account(self) -> None:
        if self._not_ready("query_account"):
            return
        self.schedule(self.accounts.refresh())

    def subscribe(self, req: SubscribeRequest) -> None:
        """Ticks for one symbol; kept (and restored after reconnects) until the adapter closes.

        Before connect the request is remembered; an unknown symbol is logged, not raised."""
        with self._state_lock:
            if self._closed:
                return
            self._wanted.append(req)
            ready = self.market_data is not None
        if ready:
            self.io.call_soon(self._start_ticks, req)

    def _start_ticks(self, req: SubscribeRequest) -> None:
        """On the loop: resolve through this kind's contracts and subscribe the streams."""
        instrument = self.contracts.resolve(req.symbol) if req.exchange is self.kind.exchange else None
        if instrument is None:
            self.adapter.write_log(f"Subscribe {req.vt_symbol}: unknown symbol for {self.adapter.adapter_name}, ignored")
            return
        assert self.market_data is not None
        self.market_data.subscribe(instrument.id)

    def _on_stream_state(self, event: StreamEvent) -> None:
        if event.state == "reconnecting":
            self.adapter.write_log(
                f"Market data {event.connection} reconnecting in {event.delay or 0:.1f}s ({event.reason or 'dropped'})"
            )
        elif event.state == "disconnected":
            self.adapter.write_log(f"Market data {event.connection} disconnected ({event.reason or 'closed'})")
        else:
            self.adapter.write_log(f"Market data {event.connection} connected")

    def _make_stream_client(self, on_message: OnMessage) -> MarketStreamClient:
        assert self.settings is not None
        return MarketStreamClient.from_settings(
            self.kind.value, on_message, self.settings, adapter_name=self.adapter.adapter_name, on_state=self._on_stream_state
        )

    def query_history(self, req: HistoryRequest, on_progress: Callable[[int, int], None] | None = None) -> list[BarData]:
        """Blocking: closed bars for ``req`` from the cache and Binance, within history_timeout.

        ``on_progress(done, total)`` is called on the I/O thread as bars arrive."""
        if not self.ready.is_set() or self._closed or self.settings is None:
            raise RuntimeError(f"{self.adapter.adapter_name}: query_history needs a connected adapter")
        instrument = self.contracts.resolve(req.symbol) if req.exchange is self.kind.exchange else None
        if instrument is None:
            raise ValueError(f"{self.adapter.adapter_name}: unknown symbol {req.vt_symbol}")
        with self._state_lock:
            if self.history is None:
                self.history = HistoricalDataManager(
                    self.kind, self.adapter.adapter_name, self._fetch_klines, self._open_bar_cache(self.settings), self._now_ms
                )
            history = self.history
        return self.run_blocking(history.query(req, instrument.id, on_progress=on_progress), self.settings.history_timeout)

    # -- I/O loop -----------------------------------------------------------------------
    async def _tracked(self, coro: Coroutine[Any, Any, Any]) -> Any:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.opt(exception=exc).error("background task failed: {}", exc)
            raise
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._connect_once()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = classify_error(exc) if _is_ccxt(exc) else None
                reason = failure.reason if failure else f"{type(exc).__name__}: {exc}"
                if failure is not None and failure.outcome is Outcome.AUTH:
                    self.adapter.write_log(f"Connection refused by Binance: {reason}. Check the API key and secret.")
                    return
                delay = backoff_delay(attempt, self.settings.reconnect_delay if self.settings else 1.0, MAX_CONNECT_DELAY_S, self._rng)
                attempt += 1
                self.adapter.write_log(f"Connection failed ({reason}); retrying in {delay:.1f}s")
                await asyncio.sleep(delay)

    async def _connect_once(self) -> None:
        settings = self.settings
        assert settings is not None
        guard_ccxt_logging()
        if self.exchange is None:
            self.gate = WeightGate(DEFAULT_WEIGHT_LIMITS[self.kind.value], settings.rate_limit_buffer, self._now_ms)
            self.gate.on_wait = self._on_weight_wait
            self.exchange = create_exchange(self.kind, settings, self.gate.observe)
            self.clock = ClockSync(self.exchange)
            self.rest = RestGateway(self.exchange, self.gate, self.clock, settings.retry, self.log)
            self.history = None  # built on the first query_history: no cache file for sessions that never ask
        assert self.rest is not None and self.clock is not None
        # exchangeInfo first: it states the request-weight rule, so the gate judges the IP's
        # used weight (in every response's headers) against the real limit from the start
        await self.rest.call("load_markets", weight=20)
        await self.gate.acquire(1)  # type: ignore[union-attr]
        offset = await self.clock.sync()
        if self.user_stream is None:  # the first connect starts the session, on Binance's clock
            self.orders.start_session(self.clock.now_ms())
        contracts = self.contracts.load(self.exchange.markets)
        if self.kind is MarketKind.USDM and settings.has_credentials:
            await self._add_max_leverage()
        for contract in contracts:
            self.adapter.on_contract(contract)
        self.orders.rest = self.rest
        self.accounts.rest = self.rest
        self.adapter.write_log(
            f"{len(contracts)} {self.kind.value} contracts loaded; clock offset to Binance {offset} ms"
        )
        if settings.has_credentials and self.kind is MarketKind.USDM:
            await self._read_position_mode(settings)
        self.ready.set()
        if self.market_data is None:
            self.market_data = MarketDataManager(
                self.kind.value, self.adapter.adapter_name, self.kind.exchange, self.adapter.on_tick, self._make_stream_client
            )
            with self._state_lock:
                wanted = list(self._wanted)
            for req in wanted:
                self._start_ticks(req)
        if settings.has_credentials:
            await self.accounts.refresh()
            socket = UserSocket(
                self.kind, self.exchange, self.rest,
                heartbeat=settings.stale_after / 1.5,  # aiohttp waits half a beat for the pong
                proxy=settings.proxy_url, log=self.log,
            )
            router = UserEventRouter(
                self.kind, self.orders, self.accounts, self.exchange.safe_currency_code, self.adapter.write_log, self.log,
            )
            self.user_stream = UserStream(
                self.kind, socket, router, self.orders, self.accounts, settings.reconnect_delay,
                self.adapter.write_log, self.log,
            )
            asyncio.create_task(self._tracked(self.user_stream.run()))
        else:
            self.adapter.write_log("No API keys configured: public market data and history only, trading disabled")
        self.adapter.write_log(f"Connected to Binance {self.kind.value} ({self._where()})")

    async def _shutdown(self) -> None:
        await self.orders.before_close()  # submissions on the wire: answered, or named in the log
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        pending = [t for t in self._tasks if t is not current]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await self.accounts.close()
        self.orders.fill_audit.close()
        if self.market_data is not None:
            try:
                await self.market_data.close()
            except Exception as exc:
                self.log.warning("closing market data failed: {}", exc)
        if self.exchange is not None:
            try:
                await self.exchange.close()
            except Exception as exc:
                self.log.warning("closing the ccxt client failed: {}", exc)

    async def _fetch_klines(self, symbol_id: str, interval: str, start_ms: int, end_ms: int, limit: int) -> list[Any]:
        """Raw kline rows (quote volume included, unlike ccxt's OHLCV), gated and retried."""
        assert self.rest is not None
        params = {"symbol": symbol_id, "interval": interval, "startTime": start_ms, "endTime": end_ms, "limit": limit}
        if self.kind is MarketKind.SPOT:
            return await self.rest.call("publicGetKlines", params, weight=2)
        return await self.rest.call("fapiPublicGetKlines", params, weight=5 if limit <= 1000 else 10)

    def _open_bar_cache(self, settings: BinanceSettings) -> BarCache | None:
        if not settings.history_cache:
            return None
        directory = settings.history_cache_dir or default_cache_dir()
        try:
            self._bar_cache = BarCache(directory, namespace_for(settings.server, settings.base_url))
        except (BarCacheError, OSError) as exc:
            self.adapter.write_log(f"History cache unavailable ({exc}); bars will be downloaded every time")
            return None
        return self._bar_cache

    # -- USDⓈ-M controls (loop) --------------------------------------------------------
    async def _add_max_leverage(self) -> None:
        """Max leverage per contract from the leverage brackets (a signed call: keys only),
        written into ``extra`` before the contracts are first emitted."""
        import ccxt

        assert self.rest is not None
        try:
            brackets = await self.rest.call("fapiPrivateGetLeverageBracket", weight=1)
        except ccxt.BaseError as exc:
            self.log.warning("leverage brackets unavailable: {}", classify_error(exc).reason)
            return
        for entry in brackets if isinstance(brackets, list) else []:
            instrument = self.contracts.by_id(str(entry.get("symbol", "")))
            levels = [int(b.get("initialLeverage", 0)) for b in entry.get("brackets", []) if isinstance(b, dict)]
            if instrument is not None and levels:
                instrument.contract.extra = {**(instrument.contract.extra or {}), "max_leverage": max(levels)}

    async def _read_position_mode(self, settings: BinanceSettings) -> None:
        assert self.rest is not None
        mode = await self.rest.call("fetch_position_mode", None, {"type": "swap"}, weight=30)
        self._set_hedge(bool(mode.get("hedged")))
        wanted = settings.position_mode
        if wanted is not None and (wanted == "hedge") != self.orders.hedge_mode:
            await self.set_position_mode(wanted == "hedge")
        self.adapter.write_log(f"Position mode: {'hedge' if self.orders.hedge_mode else 'one-way'}")

    def _set_hedge(self, hedge: bool) -> None:
        self.orders.hedge_mode = hedge
        self.accounts.hedge_mode = hedge

    async def set_position_mode(self, hedge: bool) -> None:
        import ccxt

        assert self.rest is not None
        label = "hedge" if hedge else "one-way"
        try:
            await self.rest.call("set_position_mode", hedge, None, {"type": "swap"}, weight=1)
        except ccxt.BaseError as exc:
            failure = classify_error(exc)
            if failure.code == -4059:
                self._set_hedge(hedge)
                self.adapter.write_log(f"Position mode is already {label}")
                return
            self.adapter.write_log(f"Position mode change to {label} refused: {failure.reason}")
            return
        self._set_hedge(hedge)
        self.adapter.write_log(f"Position mode set to {label}")
        await self.accounts.refresh_positions()

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        instrument = self.contracts.resolve(symbol)
        if instrument is None:
            self.adapter.write_log(f"Set leverage: unknown symbol {symbol}")
            return
        try:
            await self._apply_leverage(instrument, leverage)
        except SymbolSetupFailed:
            return  # said in the log
        await self.accounts.refresh_positions()

    async def set_margin_type(self, symbol: str, margin_type: str) -> None:
        instrument = self.contracts.resolve(symbol)
        if instrument is None:
            self.adapter.write_log(f"Set margin type: unknown symbol {symbol}")
            return
        try:
            changed = await self._apply_margin_type(instrument, margin_type)
        except SymbolSetupFailed:
            return  # said in the log
        if not changed:
            self.adapter.write_log(f"Margin type of {instrument.id} is already {margin_type}")
            return
        await self.accounts.refresh_positions()

    async def _apply_leverage(self, instrument: Instrument, leverage: int, max_wait: float | None = None) -> None:
        """Set and log one symbol's leverage; SymbolSetupFailed (logged) when Binance refuses."""
        import ccxt

        assert self.rest is not None
        try:
            result = await self.rest.call("set_leverage", leverage, instrument.ccxt_symbol, weight=1, max_wait=max_wait)
        except ccxt.BaseError as exc:
            self.adapter.write_log(f"Leverage {leverage}x on {instrument.id} refused: {classify_error(exc).reason}")
            raise SymbolSetupFailed(
                f"leverage {leverage}x on {instrument.id} could not be set ({classify_error(exc).reason})"
            ) from exc
        self.accounts.leverages[instrument.id] = int((result or {}).get("leverage") or leverage)
        max_notional = (result or {}).get("maxNotionalValue")
        self.adapter.write_log(
            f"Leverage on {instrument.id} set to {leverage}x" + (f" (max notional {max_notional})" if max_notional else "")
        )

    async def _apply_margin_type(self, instrument: Instrument, margin_type: str, max_wait: float | None = None) -> bool:
        """Set and log one symbol's margin type; False when it already was that one,
        SymbolSetupFailed (logged) when Binance refuses."""
        import ccxt

        assert self.rest is not None
        try:
            await self.rest.call("set_margin_mode", margin_type, instrument.ccxt_symbol, weight=1, max_wait=max_wait)
        except ccxt.MarginModeAlreadySet:
            return False
        except ccxt.BaseError as exc:
            self.adapter.write_log(f"Margin type {margin_type} on {instrument.id} refused: {classify_error(exc).reason}")
            raise SymbolSetupFailed(
                f"margin type {margin_type} on {instrument.id} could not be set ({classify_error(exc).reason})"
            ) from exc
        self.adapter.write_log(f"Margin type of {instrument.id} set to {margin_type}")
        return True

    async def _configure_symbol(self, instrument: Instrument) -> None:
        """Before an order goes out: the configured default leverage and margin type are in
        force on its symbol, or the order must not be sent.

        One task per symbol applies them and every order on that symbol awaits it, so a
        second order cannot overtake the first and fill at Binance's default leverage while
        the first is still setting 9x. The symbol counts as configured only once both calls
        succeeded: a failure (a ban, a refusal, a network error) raises, the order is
        rejected unsent, and the next order tries again."""
        settings = self.settings
        if settings is None or instrument.id in self._configured_symbols:
            return
        if settings.leverage is None and settings.margin_type is None:
            return
        task = self._configuring.get(instrument.id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._apply_symbol_defaults(instrument, settings))
            self._configuring[instrument.id] = task
            self._tasks.add(task)  # cancelled by close() like any background work
            task.add_done_callback(lambda done: self._symbol_configured(instrument.id, done))
        # shielded: an order cancelled while waiting must not abort the setup other orders await
        await asyncio.shield(task)

    def _symbol_configured(self, symbol_id: str, task: asyncio.Task[None]) -> None:
        """Done callback of a symbol's setup task: remember success, forget failure (so the
        next order retries), and retrieve the exception so none goes unobserved."""
        self._tasks.discard(task)
        if self._configuring.get(symbol_id) is task:
            del self._configuring[symbol_id]
        if not task.cancelled() and task.exception() is None:
            self._configured_symbols.add(symbol_id)

    async def _apply_symbol_defaults(self, instrument: Instrument, settings: BinanceSettings) -> None:
        """Margin type, then leverage (isolated leverage is per margin type). Raises
        ``SymbolSetupFailed`` when Binance refuses or cannot be reached, and lets the weight
        gate's ``RequestThrottled`` through: in both cases the order is rejected unsent. The
        calls wait for weight no longer than the order itself may (ORDER_MAX_WAIT_S): an order
        held a minute behind its setup would go out at a price nobody still wants."""
        changed = False
        if settings.margin_type is not None:
            changed = await self._apply_margin_type(instrument, settings.margin_type, max_wait=ORDER_MAX_WAIT_S)
        if settings.leverage is not None:
            await self._apply_leverage(instrument, settings.leverage, max_wait=ORDER_MAX_WAIT_S)
            changed = True
        if changed:
            # positions show leverage and margin type; the order must not wait for this read
            self.schedule(self.accounts.refresh_positions())

    def control(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        """Schedule a USDⓈ-M control call from the host's thread."""
        if self._not_ready(what):
            coro.close()
            return
        if self.settings is None or not self.settings.has_credentials:
            coro.close()
            self.adapter.write_log(f"{what}: no API keys configured")
            return
        self.schedule(coro)

    def query_position(self) -> None:
        if self._not_ready("query_position"):
            return
        self.schedule(self.accounts.refresh_positions())

    # -- helpers ------------------------------------------------------------------------
    def _on_weight_wait(self, wait_ms: int, reason: str) -> None:
        self.adapter.write_log(f"Waiting {wait_ms / 1000:.0f}s before calling Binance: {reason}")

    def _now_ms(self) -> int:
        if self.clock is not None:
            return self.clock.now_ms()
        import time

        return time.time_ns() // 1_000_000

    def _trading_block_reason(self) -> str | None:
        if self._closed:
            return "the adapter is closed"
        if not self.ready.is_set():
            return "not connected yet"
        if self.settings is None or not self.settings.has_credentials:
            return "no API keys configured: trading is disabled"
        return None

    async def _symbols_with_activity(self) -> set[str]:
        """Refresh balances (and positions) and name the symbols a fill could have moved them on.

        Compared with the snapshot the previous reconciliation took, not with what the adapter
        last showed: the host's query_account, or the refresh after one of our orders ends,
        would otherwise absorb the movement before anyone looked at it. Spot: pairs whose base
        and quote totals both changed (a fill moves both; a commission in a third asset adds a
        few needless reads, never a missed one). USDⓈ-M: symbols whose position volume
        changed. At most MAX_ACTIVITY_SYMBOLS, so a deposit spree cannot cost a minute of
        weight. The order manager keeps each named symbol until its trades were read."""
        checked_ms = self._now_ms()
        await self.accounts.refresh()
        await self.accounts.refresh_positions()
        after = self.accounts.holdings()
        before, self._activity_baseline = self._activity_baseline, after
        if before is None:  # the first snapshot of the session: nothing to compare with
            self._income_since_ms = checked_ms
            return set()
        moved = {key for key in before.keys() | after.keys() if before.get(key, 0.0) != after.get(key, 0.0)}
        if self.kind is MarketKind.USDM:
            symbols = {key.split(":", 1)[0] for key in moved} | await self._symbols_with_income(checked_ms)
        else:
            symbols = {
                c.symbol for c in self.contracts.contracts()
                if (c.extra or {}).get("base") in moved and (c.extra or {}).get("quote") in moved
            }
        if len(symbols) > MAX_ACTIVITY_SYMBOLS:
            self.log.warning("{} symbols may have fills from elsewhere; reading the trades of {} of them",
                             len(symbols), MAX_ACTIVITY_SYMBOLS)
            symbols = set(sorted(symbols)[:MAX_ACTIVITY_SYMBOLS])
        return symbols

    async def _symbols_with_income(self, now_ms: int) -> set[str]:
        """USDⓈ-M symbols with a commission or realised PnL since the last check: every fill
        pays a commission, so this also names a round trip elsewhere that left the position
        as it was. A failed read is logged and asked again from the same time next check."""
        import ccxt

        symbols: set[str] = set()
        start = self._income_since_ms
        try:
            for _ in range(MAX_INCOME_PAGES):
                assert self.rest is not None
                rows = await self.rest.call("fapiPrivateGetIncome", {"startTime": start, "limit": 1000}, weight=30)
                symbols.update(r["symbol"] for r in rows
                               if r.get("symbol") and r.get("incomeType") in ("COMMISSION", "REALIZED_PNL"))
                if len(rows) < 1000:
                    break
                start = int(rows[-1]["time"])  # the next page from the last entry's time on
        except (ccxt.BaseError, RequestNotSent) as exc:
            self.log.warning("income history unreadable; fills elsewhere are looked for again next time: {}", exc)
            return symbols
        self._income_since_ms = now_ms
        return symbols

    def _reference_price(self, instrument: Instrument) -> float | None:
        """Last traded price from the tick stream, for the notional check of market orders."""
        return self.market_data.last_price(instrument.id) if self.market_data is not None else None

    def _not_ready(self, what: str) -> bool:
        if self.ready.is_set() and not self._closed:
            return False
        self.adapter.write_log(f"{what}: not connected")
        return True

    def _where(self) -> str:
        settings = self.settings
        assert settings is not None
        return f"base URL {settings.base_url}" if settings.base_url else f"{settings.server} server"


async def _within(coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
    """``coro`` with a deadline (asyncio.timeout: 3.11's wait_for can swallow a cancellation)."""
    async with asyncio.timeout(timeout):
        return await coro


class SymbolSetupFailed(RequestNotSent):
    """The configured default leverage or margin type could not be applied to a symbol: the
    order is rejected unsent, since it would open at a leverage the trader did not choose."""


def _is_ccxt(exc: BaseException) -> bool:
    import ccxt

    return isinstance(exc, ccxt.BaseError)
