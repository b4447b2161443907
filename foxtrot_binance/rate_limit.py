"""Request-weight budgeting, so the adapter slows down before Binance says 429.

Binance counts weight per IP in fixed one-minute windows of its own clock and reports the
running total in ``X-MBX-USED-WEIGHT-1M`` on every response. Ignoring a 429 earns a 418 IP
ban for minutes to days, which takes every bot on that IP down (a top user complaint). So:
the gate keeps ``rate_limit_buffer`` of the budget in reserve and waits for the next window
rather than spending it; after a 429 it pauses for Retry-After; after a 418 it refuses
everything until the ban ends instead of hammering.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

DEFAULT_WEIGHT_LIMITS = {"spot": 6000, "usdm": 2400}
_WINDOW_MS = 60_000
_INTERVAL_MS = {"SECOND": 1_000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
_MAX_SLEEP_S = 1.0  # re-evaluate at least this often while waiting
_RATE_LIMIT_ENTRY = re.compile(r"\{[^{}]*\"REQUEST_WEIGHT\"[^{}]*\}")


class RequestThrottled(Exception):
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
        self._roll(now)
        used = _header(headers, self.header_name) or _header(headers, "x-mbx-used-weight")
        if used is not None:
            # Binance's count covers every client on this IP; ours also covers requests still
            # in flight. The larger of the two is the safe estimate.
            self.used = max(self.used, used)
        if status in (418, 429):
            self.hold(status, retry_after_s=_header(headers, "retry-after"))
        if url.endswith("/exchangeInfo") and body:
            self._learn_limit(body)

    def hold(self, status: int, *, until_ms: int | None = None, retry_after_s: float | None = None) -> None:
        """Stop everything (418) or pause (429) until Binance's time, or for ``retry_after_s``,
        or for a window when it named neither. Also fed by the WebSocket API, whose refusals
        come in its own frames: Binance counts both against the same IP."""
        if status not in (418, 429):
            return
        if until_ms is None:
            until_ms = self._now_ms() + int(retry_after_s * 1000 if retry_after_s is not None else self.window_ms)
        if status == 418:
            self.banned_until_ms = max(self.banned_until_ms, until_ms)
        else:
            self.paused_until_ms = max(self.paused_until_ms, until_ms)

    @property
    def header_name(self) -> str:
        """Binance names the header after the window: X-MBX-USED-WEIGHT-1M, -2S ..."""
        for unit, ms in (("D", 86_400_000), ("H", 3_600_000), ("M", 60_000), ("S", 1_000)):
            if self.window_ms % ms == 0:
                return f"x-mbx-used-weight-{self.window_ms // ms}{unit}".lower()
        return "x-mbx-used-weight-1m"

    def _learn_limit(self, body: str) -> None:
        """Adopt the REQUEST_WEIGHT rule of exchangeInfo (the shortest window if several)."""
        rules = []
        for match in _RATE_LIMIT_ENTRY.finditer(body[:200_000] if len(body) > 200_000 else body):
            try:
                entry = json.loads(match.group(0))
                window = _INTERVAL_MS[str(entry["interval"]).upper()] * int(entry.get("intervalNum", 1))
                rules.append((window, int(entry["limit"])))
            except (ValueError, KeyError, TypeError):
                continue
        if rules:
            self.window_ms, self.limit = min(rules)
            self._window = -1

    # -- admission ----------------------------------------------------------------------
    def wait_ms(self, weight: int) -> tuple[int, str]:
        """How long a request of ``weight`` must wait now, and why (0 means go)."""
        now = self._now_ms()
        self._roll(now)
        if now < self.banned_until_ms:
            return self.banned_until_ms - now, "IP banned by Binance (418)"
        if now < self.paused_until_ms:
            return self.paused_until_ms - now, "rate limited by Binance (429)"
        if self.used + weight > self.budget and self.used > 0:
            next_window = (now // self.window_ms + 1) * self.window_ms
            return next_window - now + 50, f"request weight budget {self.budget}/{self.limit} of this window spent"
        return 0, ""

    async def acquire(self, weight: int = 1, *, max_wait: float | None = None) -> None:
        """Wait until ``weight`` may be spent, then spend it. Raises RequestThrottled when the
        wait would exceed ``max_wait`` seconds (and always while banned: a ban lasts long)."""
        while True:
            wait, reason = self.wait_ms(weight)
            if wait <= 0:
                self.used += weight
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
            self._window = window
            self.used = 0


def _header(headers: Mapping[str, str], name: str) -> int | None:
    for key, value in headers.items():
        if key.lower() == name:
            try:
                return int(str(value).split(",")[0].strip())
            except ValueError:
                return None
    return None
