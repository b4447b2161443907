"""The private stream (orders, fills, balances) under the adapter's own supervision.

ccxt.pro never reconnects by itself: when the socket drops, every pending watch fails with
NetworkError and the subscription is forgotten. This supervisor re-authenticates, restarts
the watchers, waits until the private connection is live again, and only then reconciles
over REST, so whatever happened while the stream was down is recovered and nothing that
happens afterwards can fall between the REST snapshot and the stream.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from foxtrot_binance.account_manager import AccountManager
from foxtrot_binance.binance_mappings import Outcome, backoff_delay, classify_error
from foxtrot_binance.market_kind import MarketKind
from foxtrot_binance.order_manager import OrderManager
from foxtrot_binance.rate_limit import RequestThrottled

MAX_RECONNECT_DELAY_S = 60.0
LIVE_TIMEOUT_S = 15.0
RECONCILE_INTERVAL_S = 60.0
_THROTTLED = (Outcome.RATE_LIMITED, Outcome.BANNED)


class UserStream:
    def __init__(
        self,
        kind: MarketKind,
        exchange: Any,
        orders: OrderManager,
        accounts: AccountManager,
        reconnect_delay: float,
        write_log: Callable[[str], None],
        log: Any,
    ) -> None:
        self.kind = kind
        self.exchange = exchange
        self.orders = orders
        self.accounts = accounts
        self.reconnect_delay = reconnect_delay
        self._write_log = write_log
        self._log = log
        self._rng = random.Random()
        self.connections = 0  # how many times the stream went live (tests and diagnostics)

    async def run(self) -> None:
        """Keep the stream alive until cancelled."""
        failures = 0
        last_failure: Outcome | None = None
        while True:
            watchers: list[asyncio.Task[None]] = []
            try:
                if self.kind is MarketKind.USDM:  # its authentication is a REST call: not while banned
                    await self._respect_gate()
                if failures and self.kind is MarketKind.USDM and last_failure not in _THROTTLED:
                    self._forget_listen_key()
                await self.exchange.authenticate({"type": self.kind.ccxt_default_type})
                watchers = [
                    asyncio.create_task(self._watch(self.exchange.watch_orders, self.orders.apply_orders)),
                    asyncio.create_task(self._watch(self.exchange.watch_my_trades, self.orders.apply_trades)),
                    asyncio.create_task(self._watch(self.exchange.watch_balance, self._apply_balance)),
                ]
                if self.kind is MarketKind.USDM:
                    watchers.append(asyncio.create_task(self._watch(self.exchange.watch_positions, self._apply_positions)))
                await self._until_live(watchers)
                await self._reconcile_while_watching(watchers)
                self.connections += 1
                self._write_log(
                    "User data stream reconnected; orders, trades and balances reconciled"
                    if self.connections > 1
                    else "User data stream connected"
                )
                failures, last_failure = 0, None
                await self._watch_and_check(watchers)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = classify_error(exc) if _is_ccxt(exc) else None
                last_failure = failure.outcome if failure else (Outcome.BANNED if isinstance(exc, RequestThrottled) else None)
                reason = failure.reason if failure else f"{type(exc).__name__}: {exc}"
                ceiling = MAX_RECONNECT_DELAY_S if failure is None or failure.outcome is not Outcome.AUTH else 300.0
                delay = backoff_delay(failures, self.reconnect_delay, ceiling, self._rng)
                failures += 1
                self._write_log(f"User data stream disconnected ({reason}); reconnecting in {delay:.1f}s")
                await asyncio.sleep(delay)
            finally:
                for task in watchers:
                    task.cancel()
                if watchers:
                    await asyncio.gather(*watchers, return_exceptions=True)

    async def _reconcile_while_watching(self, watchers: list[asyncio.Task[None]]) -> None:
        """Reconcile; a REST failure (a ban, a timeout) is retried later without tearing down
        healthy watchers. Only a dead watcher ends this (its error propagates)."""
        attempt = 0
        while True:
            _raise_if_dead(watchers)
            try:
                await self._reconcile()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = classify_error(exc).reason if _is_ccxt(exc) else f"{type(exc).__name__}: {exc}"
                delay = backoff_delay(attempt, self.reconnect_delay, MAX_RECONNECT_DELAY_S, self._rng)
                attempt += 1
                if attempt == 1:
                    self._write_log(
                        f"User data stream subscribed, but reconciliation failed ({reason}); "
                        f"live updates flow, reconciliation retries in {delay:.1f}s"
                    )
                else:
                    self._log.warning("reconciliation failed ({}); retrying in {:.1f}s", reason, delay)
                await self._respect_gate()
                done, _ = await asyncio.wait(watchers, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                _raise_if_dead(watchers)

    async def _reconcile(self) -> None:
        await self.orders.reconcile()
        await self.accounts.refresh()
        await self.accounts.refresh_positions()

    async def _watch_and_check(self, watchers: list[asyncio.Task[None]]) -> None:
        """Wait for a watcher to fail; meanwhile, with orders working, reconcile every
        RECONCILE_INTERVAL_S: a socket that answers pings but delivers nothing is invisible
        to ccxt, and fills must not wait for the next disconnect."""
        while True:
            done, _ = await asyncio.wait(watchers, timeout=RECONCILE_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED)
            if done:
                _raise_if_dead(watchers)
                raise ConnectionError("user data stream ended")
            if self.orders.active_orders():
                await self._reconcile_while_watching(watchers)

    async def _respect_gate(self) -> None:
        """Sleep through a 429 pause or a 418 ban instead of calling Binance."""
        gate = getattr(self.orders.rest, "gate", None)
        if gate is None:
            return
        while True:
            wait_ms, _ = gate.wait_ms(0)
            if wait_ms <= 0:
                return
            await asyncio.sleep(min(wait_ms / 1000, 5.0))

    async def _watch(self, watch: Callable[[], Awaitable[Any]], apply: Callable[[Any], None]) -> None:
        while True:
            items = await watch()
            try:
                apply(items)
            except Exception:  # one bad update must not kill the stream
                self._log.exception("applying a user-stream update failed")

    def _apply_balance(self, balance: dict[str, Any]) -> None:
        if self.kind is MarketKind.SPOT:
            self.accounts.apply_balance(balance, full=False)
        else:
            self.accounts.on_account_update(balance.get("info") if isinstance(balance.get("info"), dict) else None)

    def _apply_positions(self, _positions: Any) -> None:
        self.accounts.on_account_update()

    def _forget_listen_key(self) -> None:
        """ccxt reuses a listenKey for 20 minutes; after a failure (expiry, revoked key,
        failed keep-alive) ask Binance again: it returns the same key if it is still valid."""
        for bucket in ("linear", "future", "swap"):
            options = self.exchange.options.get(bucket)
            if isinstance(options, dict):
                options["lastAuthenticatedTime"] = 0

    async def _until_live(self, watchers: list[asyncio.Task[None]]) -> None:
        """Wait until the private websocket is connected (spot: already, after authenticate)."""
        deadline = asyncio.get_running_loop().time() + LIVE_TIMEOUT_S
        while True:
            clients = [c for c in self.exchange.clients.values() if _is_private(c.url)]
            if clients:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                async with asyncio.timeout(max(0.1, deadline - asyncio.get_running_loop().time())):
                    await asyncio.shield(clients[0].connected)
                return
            failed = next((t for t in watchers if t.done()), None)
            if failed is not None:
                failed.result()  # raises the watcher's error
                raise ConnectionError("user data stream watcher ended before connecting")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("user data stream did not connect")
            await asyncio.sleep(0.01)  # the watcher creates the client on its first await


def _raise_if_dead(watchers: list[asyncio.Task[None]]) -> None:
    for task in watchers:
        if task.done():
            error = None if task.cancelled() else task.exception()
            raise error or ConnectionError("user data stream ended")


def _is_private(url: str) -> bool:
    return "/ws-api/" in url or "listenKey=" in url


def _is_ccxt(exc: BaseException) -> bool:
    import ccxt

    return isinstance(exc, ccxt.BaseError)
