"""Every REST call of an adapter goes through here: weight gate, clock resync, retries.

The rules are deliberately different for idempotent calls and for order submission:
* an idempotent call (a query) is retried on an unknown outcome (timeout, 5xx, reset) with
  exponential backoff and full jitter, up to ``retry.max_attempts``;
* a non-idempotent call (placing an order) is never retried here: an unknown outcome is
  handed back to the order manager, which asks Binance by client order id before deciding;
* -1021 (timestamp outside recvWindow) means Binance refused before doing anything, so after
  one clock resync the call is tried once more, idempotent or not;
* 429/418 are never retried here: the weight gate has learnt the pause from the headers;
* a call that places an order is marked as one, so after an order-count refusal (-1015) the
  gate holds new orders only, while cancels and queries keep flowing.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from foxtrot_binance.binance_mappings import Outcome, backoff_delay, classify_error, is_retryable
from foxtrot_binance.clock import ClockSync
from foxtrot_binance.rate_limit import WeightGate
from foxtrot_binance.settings import RetrySettings

NEW_ORDER_METHODS = frozenset({"create_order", "create_orders", "edit_order"})
"""ccxt methods Binance counts against the account's ORDERS rules (a cancelReplace, which
``edit_order`` sends, counts as a new order; a cancel never does)."""


class RestGateway:
    def __init__(self, exchange: Any, gate: WeightGate, clock: ClockSync, retry: RetrySettings, log: Any) -> None:
        self.exchange = exchange
        self.gate = gate
        self.clock = clock
        self.retry = retry
        self._log = log
        self._rng = random.Random()

    async def call(
        self,
        method: str,
        *args: Any,
        weight: int = 1,
        idempotent: bool = True,
        max_wait: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """``await exchange.<method>(*args, **kwargs)`` under the rules above."""
        attempt = 0
        resynced = False
        new_order = method in NEW_ORDER_METHODS
        while True:
            await self.gate.acquire(weight, max_wait=max_wait, new_order=new_order)
            try:
                return await getattr(self.exchange, method)(*args, **kwargs)
            except Exception as exc:
                import ccxt

                if not isinstance(exc, ccxt.BaseError):
                    raise
                failure = classify_error(exc)
                if failure.outcome is Outcome.CLOCK and not resynced:
                    resynced = True
                    offset = await self.resync_clock()
                    self._log.warning("{} hit -1021; clock resynced (offset {} ms), retrying once", method, offset)
                    continue
                attempt += 1
                if idempotent and is_retryable(failure) and attempt < self.retry.max_attempts:
                    delay = backoff_delay(attempt - 1, self.retry.base_delay, self.retry.max_delay, self._rng)
                    self._log.info("{} failed ({}); retry {} in {:.2f}s", method, failure.reason, attempt, delay)
                    await asyncio.sleep(delay)
                    continue
                raise

    async def resync_clock(self) -> int:
        """Measure the offset to Binance's clock again (after a -1021 anywhere)."""
        await self.gate.acquire(1)
        return await self.clock.sync()
