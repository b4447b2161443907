"""Request-weight budgeting, so the adapter slows down before Binance says 429.

Binance counts weight per IP in fixed one-minute windows of its own clock and reports the
running total in ``X-MBX-USED-WEIGHT-1M`` on every response. Ignoring a 429 earns a 418 IP
ban for minutes to days, which takes every bot on that IP down (a top user complaint). So:
the gate keeps ``rate_limit_buffer`` of the budget in reserve and waits for the next window
rather than spending it; after a 429 it pauses for Retry-After; after a 418 it refuses
everything until the ban ends instead of hammering.

A 429 with code -1015 is different: the *account's* new-order count (the ORDERS rules of
exchangeInfo, e.g. 50 per 10 s and 160,000 per day on spot) is spent, not the IP's weight.
Binance sends no Retry-After for it and still serves cancels and queries, so the gate then
holds only new orders, for the order window, and lets everything else through: pausing the
whole gate would leave a trader unable to cancel exactly when it matters.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import datetime, timezone

DEFAULT_WEIGHT_LIMITS = {"spot": 6000, "usdm": 2400}
_WINDOW_MS = 60_000
_ORDER_WINDOW_MS = 10_000  # Binance's shortest ORDERS rule (spot and USDⓈ-M): 10 s
_MAX_ORDER_HOLD_MS = 60_000  # a longer (daily) order rule is re-probed after the shortest window
_LATE_ANSWER_MS = 10_000  # the REST timeout: no answer arrives later than this after its request
_INTERVAL_MS = {"SECOND": 1_000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
_MAX_SLEEP_S = 1.0  # re-evaluate at least this often while waiting
_RATE_LIMIT_ENTRY = re.compile(r"\{[^{}]*\"rateLimitType\"[^{}]*\}")
_ERROR_CODE = re.compile(r"\"code\"\s*:\s*\"?(-?\d+)")
_ORDER_RULE_IN_MESSAGE = re.compile(r"per\s+(?:(\d+)\s*)?(TEN_SECONDS|[A-Z]+)", re.I)
ORDER_COUNT_CODE = -1015
"""Binance: 'Too many new orders; current limit is %s orders per %s.' (429, no Retry-After)."""

_ADMITTED: ContextVar[tuple[int, int] | None] = ContextVar("foxtrot_weight_admitted", default=None)
"""(id of the gate, Binance-clock ms) of the last admission in this task. The ccxt response
hook runs inside the task that was admitted, so ``observe`` learns which window the request
it is reading the answer of was sent in."""


class RequestNotSent(Exception):
    """A request refused before it left: nothing reached Binance, so an order is safely REJECTED."""


class RequestThrottled(RequestNotSent):
    """A request was not sent because the weight budget or a Binance ban does not allow it."""

    def __init__(self, reason: str, until_ms: int) -> None:
        self.until_ms = until_ms
        until = datetime.fromtimestamp(until_ms / 1000, tz=timezone.utc).strftime("%H:%M:%S UTC")
        super().__init__(f"{reason} until {until}")


class WeightGate:
    def __init__(self, limit: int, buffer: float, now_ms: Callable[[], int], window_ms: int = _WINDOW_MS) -> None:
        self.limit = limit
        self.buffer = buffer
        self.window_ms = window_ms
        self._now_ms = now_ms
        self._window = -1
        self.used = 0
        self.paused_until_ms = 0
        self.banned_until_ms = 0
        self.orders_held_until_ms = 0  # a -1015: new orders wait, everything else goes
        self.order_window_ms = _ORDER_WINDOW_MS  # the shortest ORDERS rule of exchangeInfo
        self._previous_used: int | None = None  # the count the previous window ended with
        self.on_wait: Callable[[int, str], None] | None = None  # told of waits >= 1 s (ms, why)
        self._announced_until_ms = 0

    @property
    def budget(self) -> int:
        """Weight we allow ourselves per window: the limit minus the reserve."""
        return max(1, int(self.limit * (1 - self.buffer)))

    # -- feedback from responses ----------------------------------------------------------
    def observe(self, status: int, headers: Mapping[str, str], url: str = "", body: str = "") -> None:
        """Learn from one REST response (called for every response, errors included)."""
        now = self._now_ms()
        if url.endswith("/exchangeInfo") and body:
            self._learn_limit(body, now)  # first: this very answer's header counts in the new rule
        self._roll(now)
        used = _header(headers, self.header_name) or _header(headers, "x-mbx-used-weight")
        if used is not None and not self._answers_an_earlier_window(used, now):
            # Binance's count covers every client on this IP; ours also covers requests still
            # in flight. The larger of the two is the safe estimate.
            self.used = max(self.used, used)
        if status in (418, 429):
            code = _error_code(body) if body else None
            self.hold(status, retry_after_s=_header(headers, "retry-after"), code=code,
                      window_ms=_order_window_named(body) if code == ORDER_COUNT_CODE else None)

    def hold(
        self,
        status: int,
        *,
        until_ms: int | None = None,
        retry_after_s: float | None = None,
        code: int | None = None,
        window_ms: int | None = None,
    ) -> None:
        """Stop everything (418) or pause (429) until Binance's time, or for ``retry_after_s``,
        or for a window when it named neither. Also fed by the WebSocket API, whose refusals
        come in its own frames: Binance counts both against the same IP.

        A 429 with ``code`` -1015 is the account's order count, not the IP's weight: only new
        orders are held, for ``window_ms`` (the order rule Binance named) or the shortest
        order window, since Binance sends no Retry-After for it and keeps serving cancels."""
        if status not in (418, 429):
            return
        now = self._now_ms()
        if status == 429 and code == ORDER_COUNT_CODE:
            if until_ms is None:
                if retry_after_s is not None:
                    until_ms = now + int(retry_after_s * 1000)
                else:
                    # Binance's unfilled-order count also drops as orders fill, so a daily cap
                    # may clear at any time: a longer rule is probed again after the short window
                    window = window_ms if window_ms is not None and window_ms <= _MAX_ORDER_HOLD_MS else None
                    until_ms = now + (window or self.order_window_ms)
            self.orders_held_until_ms = max(self.orders_held_until_ms, until_ms)
            return
        if until_ms is None:
            until_ms = now + int(retry_after_s * 1000 if retry_after_s is not None else self.window_ms)
        if status == 418:
            self.banned_until_ms = max(self.banned_until_ms, until_ms)
        else:
            self.paused_until_ms = max(self.paused_until_ms, until_ms)

    def _answers_an_earlier_window(self, used: int, now: int) -> bool:
        """Whether a used-weight header counts a window that has already ended.

        A request admitted at 59.99 s is counted by Binance in that minute; its answer may
        arrive at 60.02 s. Booking that count against the new minute would stall every caller
        for another minute. The admission time is known when the answer is read inside the
        admitted task (every call through ``RestGateway``); otherwise a count at least as high
        as the one the previous window ended with, within a timeout of the roll, is taken as
        the previous window's (a fresh window does not reach that in milliseconds)."""
        start = now // self.window_ms * self.window_ms
        admitted = _ADMITTED.get()
        if admitted is not None and admitted[0] == id(self):
            return admitted[1] < start
        return (
            self._previous_used is not None
            and now - start < min(_LATE_ANSWER_MS, self.window_ms // 2)
            and used >= self._previous_used
        )

    @property
    def header_name(self) -> str:
        """Binance names the header after the window: X-MBX-USED-WEIGHT-1M, -2S ..."""
        for unit, ms in (("D", 86_400_000), ("H", 3_600_000), ("M", 60_000), ("S", 1_000)):
            if self.window_ms % ms == 0:
                return f"x-mbx-used-weight-{self.window_ms // ms}{unit}".lower()
        return "x-mbx-used-weight-1m"

    def _learn_limit(self, body: str, now: int) -> None:
        """Adopt the REQUEST_WEIGHT rule of exchangeInfo (the shortest window if several) and
        the shortest ORDERS window. The count is kept: the answer's own header (read next) and
        our in-flight requests are spent in the window that is running."""
        weights, orders = [], []
        for match in _RATE_LIMIT_ENTRY.finditer(body[:200_000] if len(body) > 200_000 else body):
            try:
                entry = json.loads(match.group(0))
                window = _INTERVAL_MS[str(entry["interval"]).upper()] * int(entry.get("intervalNum", 1))
                kind = str(entry["rateLimitType"]).upper()
                if kind == "REQUEST_WEIGHT":
                    weights.append((window, int(entry["limit"])))
                elif kind == "ORDERS":
                    orders.append(window)
            except (ValueError, KeyError, TypeError):
                continue
        if orders:
            self.order_window_ms = min(orders)
        if weights:
            window_ms, self.limit = min(weights)
            if window_ms != self.window_ms:
                self.window_ms = window_ms
                self._window = now // window_ms
                self._previous_used = None

    # -- admission ----------------------------------------------------------------------
    def wait_ms(self, weight: int, *, new_order: bool = False) -> tuple[int, str]:
        """How long a request of ``weight`` must wait now, and why (0 means go). A
        ``new_order`` (not a cancel) also waits out an order-count refusal (-1015)."""
        now = self._now_ms()
        self._roll(now)
        if now < self.banned_until_ms:
            return self.banned_until_ms - now, "IP banned by Binance (418)"
        if now < self.paused_until_ms:
            return self.paused_until_ms - now, "rate limited by Binance (429)"
        if new_order and now < self.orders_held_until_ms:
            return self.orders_held_until_ms - now, "new orders refused by Binance: order count limit (429, -1015)"
        if self.used + weight > self.budget and self.used > 0:
            next_window = (now // self.window_ms + 1) * self.window_ms
            return next_window - now + 50, f"request weight budget {self.budget}/{self.limit} of this window spent"
        return 0, ""

    async def acquire(self, weight: int = 1, *, max_wait: float | None = None, new_order: bool = False) -> None:
        """Wait until ``weight`` may be spent, then spend it. Raises RequestThrottled when the
        wait would exceed ``max_wait`` seconds (and always while banned: a ban lasts long).
        ``new_order`` marks a request that Binance counts as an order (see ``wait_ms``)."""
        while True:
            wait, reason = self.wait_ms(weight, new_order=new_order)
            if wait <= 0:
                self.used += weight
                _ADMITTED.set((id(self), self._now_ms()))  # read back by observe() in this task
                return
            banned = self._now_ms() < self.banned_until_ms
            if banned or (max_wait is not None and wait > max_wait * 1000):
                raise RequestThrottled(reason, self._now_ms() + wait)
            self._announce(wait, reason)
            await asyncio.sleep(min(wait / 1000, _MAX_SLEEP_S))

    def _announce(self, wait_ms: int, reason: str) -> None:
        """A wait of a second or more is said once per episode (through ``on_wait``): a
        connect or query that pauses for most of a minute must not look like a hang."""
        until = self._now_ms() + wait_ms
        if wait_ms < 1000 or self.on_wait is None or until <= self._announced_until_ms:
            return
        self._announced_until_ms = until
        try:
            self.on_wait(wait_ms, reason)
        except Exception:  # reporting must never break admission
            pass

    def _roll(self, now: int) -> None:
        window = now // self.window_ms
        if window != self._window:
            self._previous_used = self.used if window == self._window + 1 else None
            self._window = window
            self.used = 0


def _error_code(body: str) -> int | None:
    """Binance's error ``code`` in a response body ({"code":-1015,"msg":...}), if any."""
    match = _ERROR_CODE.search(body[:2_000])
    return int(match.group(1)) if match else None


def _order_window_named(body: str) -> int | None:
    """The window of the order rule a -1015 names: '... 50 orders per TEN_SECONDS.' or
    '... per 10 SECOND.' or '... per DAY.' (None when it names none we know)."""
    match = _ORDER_RULE_IN_MESSAGE.search(body[:2_000])
    if not match:
        return None
    unit = match.group(2).upper()
    if unit == "TEN_SECONDS":
        return 10_000
    ms = _INTERVAL_MS.get(unit[:-1] if unit.endswith("S") else unit)
    return ms * int(match.group(1) or 1) if ms is not None else None


def _header(headers: Mapping[str, str], name: str) -> int | None:
    for key, value in headers.items():
        if key.lower() == name:
            try:
                return int(str(value).split(",")[0].strip())
            except ValueError:
                return None
    return None
