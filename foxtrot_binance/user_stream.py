"""The private stream (orders, fills, balances) under the adapter's own supervision.

A socket can drop, stall, or be ended by Binance (``eventStreamTerminated``, an expired
listenKey). This supervisor reopens it with backoff, and only once the new subscription is
live reconciles over REST, so whatever happened while the stream was down is recovered and
nothing that happens afterwards can fall between the REST snapshot and the stream. The socket
is ``UserSocket``, events are applied by ``UserEventRouter``; both run on the I/O loop.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from foxtrot_binance.account_manager import AccountManager
from foxtrot_binance.binance_mappings import Outcome, backoff_delay, classify_error
from foxtrot_binance.market_kind import MarketKind
from foxtrot_binance.order_manager import OrderManager
from foxtrot_binance.user_events import UserEventRouter
from foxtrot_binance.user_socket import SubscriptionThrottled, UserSocket

MAX_RECONNECT_DELAY_S = 60.0
STABLE_AFTER_S = 30.0
"""A connection must have lived this long before a failure starts the backoff afresh."""
RECONCILE_INTERVAL_S = 60.0


class UserStream:
    def __init__(
        self,
        kind: MarketKind,
        socket: UserSocket,
        router: UserEventRouter,
        orders: OrderManager,
        accounts: AccountManager,
        reconnect_delay: float,
        write_log: Callable[[str], None],
        log: Any,
    ) -> None:
        self.kind = kind
        self.socket = socket
        self.router = router
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
        live_since: float | None = None
        loop = asyncio.get_running_loop()
        try:
            while True:
                tasks: list[asyncio.Task[None]] = []
                try:
                    if self.socket.needs_rest_to_open:  # a listenKey POST: not during a ban
                        await self._respect_gate()
                    await self.socket.open()
                    tasks = [
                        asyncio.create_task(self.socket.read(self.router.apply)),
                        asyncio.create_task(self.socket.keep_alive()),
                    ]
                    await self._reconcile_while_watching(tasks)
                    self.connections += 1
                    self._write_log(
                        "User data stream reconnected; orders, trades and balances reconciled"
                        if self.connections > 1
                        else "User data stream connected"
                    )
                    live_since = loop.time()
                    await self._watch_and_check(tasks)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # only a connection that proved itself resets the backoff: one that dies
                    # moments after opening would otherwise be reopened (and reconciled over
                    # REST, at real weight) at the base delay forever
                    if live_since is not None and loop.time() - live_since >= STABLE_AFTER_S:
                        failures = 0
                    live_since = None
                    failures += 1
                    await asyncio.sleep(await self._after_failure(exc, failures))
                finally:
                    for task in tasks:
                        task.cancel()
                    if tasks:
                        await asyncio.gather(*tasks, return_exceptions=True)
                    await self.socket.close()
        finally:
            await self.socket.shutdown()

    async def _after_failure(self, exc: Exception, failures: int) -> float:
        """Say why the stream went down and prepare the next attempt; returns the delay."""
        failure = classify_error(exc) if _is_ccxt(exc) else None
        if failure is not None:
            reason = failure.reason
        else:
            reason = str(exc) if isinstance(exc, SubscriptionThrottled) else f"{type(exc).__name__}: {exc}"
        ceiling = MAX_RECONNECT_DELAY_S if failure is None or failure.outcome is not Outcome.AUTH else 300.0
        delay = backoff_delay(failures - 1, self.reconnect_delay, ceiling, self._rng)
        if isinstance(exc, SubscriptionThrottled):
            delay = max(delay, self._hold_gate(exc))
        elif failures >= 2 and self._gate_wait_s() == 0:
            # failing again on a kept listenKey: ask Binance, which hands back the same key
            # if it is valid (during a ban the kept key is all there is)
            self.socket.forget_listen_key()
        self._write_log(f"User data stream disconnected ({reason}); reconnecting in {delay:.1f}s")
        if failure is not None and failure.outcome is Outcome.CLOCK:
            await self._resync_clock()
        return delay

    async def _reconcile_while_watching(self, tasks: list[asyncio.Task[None]]) -> None:
        """Reconcile; a REST failure (a ban, a timeout) is retried later without tearing down
        a healthy socket. Only a dead watcher ends this (its error propagates)."""
        attempt = 0
        while True:
            _raise_if_dead(tasks)
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
                done, _ = await asyncio.wait(tasks, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                _raise_if_dead(tasks)

    async def _reconcile(self) -> None:
        await self.orders.reconcile()
        if self.orders.symbols_with_activity is None:  # otherwise reconcile refreshed them first
            await self.accounts.refresh()
            await self.accounts.refresh_positions()

    async def _watch_and_check(self, tasks: list[asyncio.Task[None]]) -> None:
        """Wait for a watcher to fail; meanwhile, with orders working, reconcile every
        RECONCILE_INTERVAL_S: a socket that answers pings but delivers nothing is invisible
        to the heartbeat, and fills must not wait for the next disconnect."""
        while True:
            done, _ = await asyncio.wait(tasks, timeout=RECONCILE_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED)
            if done:
                _raise_if_dead(tasks)
                raise ConnectionError("user data stream ended")
            if self.orders.active_orders():
                await self._reconcile_while_watching(tasks)

    def _gate_wait_s(self) -> float:
        """Seconds until the shared weight gate lets a call through (0: now, or no gate)."""
        gate = getattr(self.orders.rest, "gate", None)
        return gate.wait_ms(0)[0] / 1000 if gate is not None else 0.0

    async def _respect_gate(self) -> None:
        """Sleep through a 429 pause or a 418 ban instead of calling Binance."""
        while (wait_s := self._gate_wait_s()) > 0:
            await asyncio.sleep(min(wait_s, 5.0))

    def _hold_gate(self, refusal: SubscriptionThrottled) -> float:
        """Tell the shared weight gate (REST waits too); returns seconds until it reopens."""
        gate = getattr(self.orders.rest, "gate", None)
        if gate is None:
            return refusal.retry_after_s or 0.0
        gate.hold(refusal.status, until_ms=refusal.until_ms, retry_after_s=refusal.retry_after_s)
        return self._gate_wait_s()

    async def _resync_clock(self) -> None:
        """-1021 on the subscription: our timestamps drifted; measure the offset again."""
        try:
            offset = await self.orders.rest.resync_clock()
            self._log.warning("user data subscription hit -1021; clock resynced (offset {} ms)", offset)
        except Exception as exc:
            self._log.warning("clock resync failed: {}", exc)


def _raise_if_dead(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        if task.done():
            error = None if task.cancelled() else task.exception()
            raise error or ConnectionError("user data stream ended")


def _is_ccxt(exc: BaseException) -> bool:
    import ccxt

    return isinstance(exc, ccxt.BaseError)
