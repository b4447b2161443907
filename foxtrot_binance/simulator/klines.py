"""Candles: years of deterministic history plus the live bars built from the simulator's trades.

History is a pure function of (seed, kind, symbol, time): the price path ``path(t)`` is a
sum of seeded sine waves plus hashed noise around a seeded base price, frozen from the hour
the simulator started in (that is where the live market takes over, so two simulators with
the same seed started in the same hour begin identical, and every closed bar before that
hour is the same whenever the simulator runs). A bar
of any interval opens at ``path(open)`` and closes at ``path(close)``, so consecutive bars
chain exactly, bars of different intervals agree, and a client paginating backwards for
years always gets the same answer. Bars from the simulator's start onwards are built from
the live trades, so REST klines and the kline stream never disagree.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

INTERVAL_MS: dict[str, int] = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000, "1M": 0,
}
SPOT_INTERVALS = tuple(INTERVAL_MS)
USDM_INTERVALS = tuple(i for i in INTERVAL_MS if i != "1s")
_REF_MS = 1_767_225_600_000  # 2026-01-01: where the path equals its base price
_WEEK_ANCHOR = 345_600_000  # 1970-01-05 (Monday): Binance weeks open on Monday 00:00 UTC

# (period ms, relative amplitude) of the seeded waves; the slow ones give a believable trend.
_WAVES = ((3_600_000, 0.002), (86_400_000, 0.012), (604_800_000, 0.035),
          (2_592_000_000, 0.08), (31_536_000_000, 0.25))


def _mix(*parts: int) -> int:
    """A deterministic 64-bit hash (SplitMix64 over the parts); Python's hash() is salted for str."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x = (x ^ (p & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return x


def _unit(*parts: int) -> float:
    return (_mix(*parts) >> 11) / float(1 << 53)


def name_seed(name: str) -> int:
    return _mix(*name.encode())


def bar_open(interval: str, t: int) -> int:
    """Open time of the bar of ``interval`` that contains ``t`` (ms, UTC)."""
    if interval == "1M":
        d = datetime.fromtimestamp(t / 1000, tz=timezone.utc)
        return calendar.timegm((d.year, d.month, 1, 0, 0, 0)) * 1000
    step = INTERVAL_MS[interval]
    if interval == "1w":
        return (t - _WEEK_ANCHOR) // step * step + _WEEK_ANCHOR
    return t // step * step


def bar_next(interval: str, open_ms: int) -> int:
    if interval == "1M":
        d = datetime.fromtimestamp(open_ms / 1000, tz=timezone.utc)
        y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return calendar.timegm((y, m, 1, 0, 0, 0)) * 1000
    return open_ms + INTERVAL_MS[interval]


@dataclass
class Bar:
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    taker_base: Decimal
    taker_quote: Decimal
    first_trade: int = -1
    last_trade: int = -1

    def add_trade(self, price: Decimal, qty: Decimal, buyer_taker: bool, trade_id: int) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += qty
        self.quote_volume += price * qty
        self.trades += 1
        if buyer_taker:
            self.taker_base += qty
            self.taker_quote += price * qty
        if self.first_trade < 0:
            self.first_trade = trade_id
        self.last_trade = trade_id


class History:
    """The deterministic price path of one (kind, symbol) before the simulator started."""

    def __init__(self, seed: int, key: str, start_ms: int, base_price: Decimal, tick: Decimal,
                 step: Decimal, level_qty: Decimal) -> None:
        self._h = _mix(seed, name_seed(key))
        self._start_ms = start_ms
        self.anchor_ms = start_ms // 3_600_000 * 3_600_000
        self._p0 = float(base_price)
        self._tick = tick
        self._step = step
        self._level_qty = float(level_qty)
        self._phases = [2 * math.pi * _unit(self._h, i) for i in range(len(_WAVES))]
        self._s0 = self._log_shape(_REF_MS)

    def _log_shape(self, t: int) -> float:
        wave = sum(a * math.sin(2 * math.pi * t / p + ph) for (p, a), ph in zip(_WAVES, self._phases))
        noise = 0.0015 * (_unit(self._h, 7, t // 1000) - 0.5)
        return wave + noise

    def price_at(self, t: int) -> Decimal:
        t = min(t, self.anchor_ms)
        return self._round(self._p0 * math.exp(self._log_shape(t) - self._s0))

    def _round(self, p: float) -> Decimal:
        ticks = max(1, round(p / float(self._tick)))
        return Decimal(ticks) * self._tick

    def bar(self, interval: str, open_ms: int) -> Bar:
        """The historical bar opening at ``open_ms`` (a bar boundary)."""
        close_ms = bar_next(interval, open_ms)
        o, c = self.price_at(open_ms), self.price_at(min(close_ms, self._start_ms))
        span = (close_ms - open_ms) / 60_000
        iv = name_seed(interval)
        wick = 0.0008 * math.sqrt(span)
        hi = max(o, c) * Decimal(repr(1 + wick * _unit(self._h, iv, open_ms, 1)))
        lo = min(o, c) * Decimal(repr(1 - wick * _unit(self._h, iv, open_ms, 2)))
        hi, lo = self._round(float(hi)), self._round(float(lo))
        if close_ms > self._start_ms:  # the bar the simulator started in: only its past part
            span *= max(0.0, (self._start_ms - open_ms) / (close_ms - open_ms))
        vol = self._level_qty * 0.3 * span * (0.5 + _unit(self._h, iv, open_ms, 3))
        volume = (Decimal(repr(vol)) / self._step).to_integral_value() * self._step
        mid = (o + c) / 2
        trades = int(span * (20 + 60 * _unit(self._h, iv, open_ms, 4)))
        taker_share = Decimal(repr(0.35 + 0.3 * _unit(self._h, iv, open_ms, 5)))
        taker_base = (volume * taker_share / self._step).to_integral_value() * self._step
        return Bar(open_ms, close_ms - 1, o, max(hi, o, c), min(lo, o, c), c, volume, volume * mid,
                   trades, taker_base, taker_base * mid)


def kline_row(bar: Bar, fp, fq) -> list:
    """REST kline array (spot and USD-M share it); the last element is Binance's unused field."""
    return [bar.open_time, fp(bar.open), fp(bar.high), fp(bar.low), fp(bar.close), fq(bar.volume),
            bar.close_time, fp(bar.quote_volume), bar.trades, fq(bar.taker_base), fp(bar.taker_quote), "0"]
