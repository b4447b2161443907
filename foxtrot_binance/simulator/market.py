"""The market of one (kind, symbol): price, order book, tape, candles, 24h stats, mark price.

Prices live as integer ticks and quantities as integer lots (multiples of the symbol's
tick/step) so the book never holds an unrepresentable price and diffs compare exactly. The
book is a deterministic function of the last price (levels on a fixed grid, sizes hashed
from the level and a slowly changing epoch) minus what takers consumed, so a price move
changes only a few levels and the published diffs stay small and exact.

Publishing follows Binance's cadence: bookTicker and trades at once; depth diffs, partial
depth, tickers, klines and mark price per their stream's update speed (or at once when a
test forces a flush, so tests never wait on a timer).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import streams
from .bus import StreamBus
from .faults import Faults
from .instruments import Instrument, fmt
from .klines import (SPOT_INTERVALS, USDM_INTERVALS, Bar, History, _mix, _unit, bar_next,
                     bar_open, name_seed)

LEVELS = 100
_STABLES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD")
SIGMA = 0.00005          # per-tick log-price volatility of the background walk
EPOCH_TICKS = 50         # book sizes refresh every this many walk steps
FUNDING_MS = 8 * 3_600_000
DEFAULT_FUNDING_RATE = Decimal("0.00010000")

# update speeds (ms) per stream suffix, as Binance documents them per market
_DIFF_SPEEDS = {"spot": {"@depth": 1000, "@depth@100ms": 100},
                "usdm": {"@depth": 250, "@depth@500ms": 500, "@depth@100ms": 100}}
_PARTIAL_SPEEDS = {"spot": {"": 1000, "@100ms": 100}, "usdm": {"": 250, "@500ms": 500, "@100ms": 100}}
_KLINE_SPEED = {"spot": 1000, "usdm": 250}


@dataclass
class _Pending:
    first: int
    last: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)


@dataclass
class Fill:
    ticks: int
    lots: int


class Market:
    """One symbol's market. Runs on the simulator loop only (no locking by design)."""

    def __init__(self, inst: Instrument, seed: int, start_ms: int, level_qty: Decimal, bus: StreamBus,
                 faults: Faults, clock: Callable[[], int]) -> None:
        self.inst = inst
        self.kind = inst.kind
        self.symbol = inst.symbol
        self._lower = inst.symbol.lower()
        self._bus = bus
        self._faults = faults
        self._clock = clock
        self._h = _mix(seed, name_seed(f"{inst.kind}:{inst.symbol}"))
        self.rng = random.Random(self._h)
        self.tick = inst.tick
        self.step = inst.step
        # spot, the perpetual and other USD-stable quotes of one coin share one price path
        path = f"{inst.base}USD" if inst.quote in _STABLES else inst.symbol
        base = inst.start_price * Decimal(repr(1 + 0.04 * (_unit(seed, name_seed(path)) - 0.5)))
        self.history = History(seed, path, start_ms, base, self.tick, self.step, level_qty)
        self.last_ticks = max(1, int(self.history.price_at(start_ms) / self.tick))
        self.last_lots = 1
        self._grid = max(1, round(self.last_ticks * 0.0001))
        self._level_lots = max(1, int(level_qty / self.step))
        self._epoch = 0
        self._walks = 0
        self._size_cache: dict[int, int] = {}
        self._taken: dict[int, int] = {}  # +ticks: ask level, -ticks: bid level -> remaining lots
        self.update_id = 1_000_000 + self.rng.randrange(1_000_000)
        self.trade_id = 10_000_000 + self.rng.randrange(1_000_000)
        self.agg_id = self.trade_id // 2
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.tape: deque[tuple[int, int, int, int, bool, int]] = deque(maxlen=1000)  # id, agg, ticks, lots, m, T
        self._top: tuple[int, int, int, int] | None = None
        self._pending: dict[str, _Pending] = {}
        self._stream_last_u: dict[str, int] = {}
        self._due: dict[str, int] = {}
        self.intervals = SPOT_INTERVALS if self.kind == "spot" else USDM_INTERVALS
        self.bars: dict[str, Bar] = {}
        self.closed: dict[str, deque[Bar]] = {i: deque(maxlen=2000) for i in self.intervals}
        self._bar_dirty: set[str] = set()
        self._start_ms = start_ms
        for interval in self.intervals:
            self.bars[interval] = self._first_live_bar(interval, start_ms)
        self._init_stats(start_ms)
        self.funding_rate = DEFAULT_FUNDING_RATE
        self._basis = Decimal(repr(0.0002 * (self.rng.random() - 0.5)))
        self._rebuild(publish=False)

    # -- prices -----------------------------------------------------------------------
    @property
    def price(self) -> Decimal:
        return Decimal(self.last_ticks) * self.tick

    def p(self, ticks: int) -> Decimal:
        return Decimal(ticks) * self.tick

    def q(self, lots: int) -> Decimal:
        return Decimal(lots) * self.step

    def to_ticks(self, price: Decimal) -> int:
        return int(price / self.tick)

    def to_lots(self, qty: Decimal) -> int:
        return int(qty / self.step)

    @property
    def mark_price(self) -> Decimal:
        return (self.price * (1 + self._basis)).quantize(Decimal("0.00000001"))

    @property
    def index_price(self) -> Decimal:
        return (self.price * (1 - self._basis / 2)).quantize(Decimal("0.00000001"))

    def next_funding_ms(self, now: int) -> int:
        return (now // FUNDING_MS + 1) * FUNDING_MS

    def best_bid(self) -> tuple[int, int]:
        t = max(self.bids)
        return t, self.bids[t]

    def best_ask(self) -> tuple[int, int]:
        t = min(self.asks)
        return t, self.asks[t]

    # -- the book -----------------------------------------------------------------------
    def _size(self, signed_level: int) -> int:
        size = self._size_cache.get(signed_level)
        if size is None:
            u = _unit(self._h, signed_level, self._epoch)
            size = max(1, int(self._level_lots * (0.1 + 1.8 * u)))
            self._size_cache[signed_level] = size
        return size

    def _desired(self) -> tuple[dict[int, int], dict[int, int]]:
        g = self._grid
        best_bid, best_ask = self.last_ticks - 1, self.last_ticks + 1
        bid_levels = [best_bid] + [((best_bid - 1) // g - i) * g for i in range(LEVELS - 1)]
        ask_levels = [best_ask] + [((best_ask // g) + 1 + i) * g for i in range(LEVELS - 1)]
        taken = self._taken
        bids = {t: taken.get(-t, self._size(-t)) for t in bid_levels if t > 0}
        asks = {t: taken.get(t, self._size(t)) for t in ask_levels}
        return {t: n for t, n in bids.items() if n > 0} or {max(1, best_bid): 1}, \
            {t: n for t, n in asks.items() if n > 0} or {best_ask: 1}

    def _rebuild(self, publish: bool = True) -> None:
        bids, asks = self._desired()
        db = {t: n for t, n in bids.items() if self.bids.get(t) != n}
        db.update({t: 0 for t in self.bids if t not in bids})
        da = {t: n for t, n in asks.items() if self.asks.get(t) != n}
        da.update({t: 0 for t in self.asks if t not in asks})
        self.bids, self.asks = bids, asks
        live = set(-t for t in bids) | set(asks)
        for key in [k for k in self._taken if k not in live]:
            del self._taken[key]
        if not db and not da:
            return
        self.update_id += 1
        if publish:
            self._queue_diff(self.update_id, db, da)
            self._publish_top()

    def _queue_diff(self, uid: int, db: dict[int, int], da: dict[int, int]) -> None:
        for suffix in _DIFF_SPEEDS[self.kind]:
            stream = self._lower + suffix
            if not self._bus.wants(self.kind, stream):
                self._pending.pop(stream, None)
                self._stream_last_u.pop(stream, None)  # a later subscriber starts a fresh chain
                continue
            pend = self._pending.get(stream)
            if pend is None:
                pend = self._pending[stream] = _Pending(uid, uid)
            pend.last = uid
            pend.bids.update(db)
            pend.asks.update(da)

    def _publish_top(self) -> None:
        (bt, bq), (at, aq) = self.best_bid(), self.best_ask()
        top = (bt, bq, at, aq)
        if top == self._top:
            return
        self._top = top
        stream = self._lower + "@bookTicker"
        if self._bus.wants(self.kind, stream):
            self._bus.publish(self.kind, stream, streams.book_ticker(
                self.inst, self.update_id, (self.p(bt), self.q(bq)), (self.p(at), self.q(aq)), self._clock()))

    def depth(self, limit: int) -> tuple[int, list[list[str]], list[list[str]]]:
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return (self.update_id, streams.levels(self.inst, ((self.p(t), self.q(n)) for t, n in bids)),
                streams.levels(self.inst, ((self.p(t), self.q(n)) for t, n in asks)))

    # -- moving the market -------------------------------------------------------------
    def walk(self) -> None:
        """One background step: random move, maybe a trade or two."""
        self._walks += 1
        if self._walks % EPOCH_TICKS == 0:
            self._epoch += 1
            self._size_cache.clear()
            self._taken.clear()
        move = math.exp(self.rng.gauss(0.0, SIGMA))
        self.last_ticks = max(2, round(self.last_ticks * move))
        if self.rng.random() < 0.5:
            lots = max(1, int(self._level_lots * 0.05 * self.rng.random()))
            self.record_trade(self.last_ticks, lots, buyer_maker=self.rng.random() < 0.5)

    def move_to(self, ticks: int) -> None:
        self.last_ticks = max(1, ticks)

    def take(self, buy: bool, limit_ticks: int | None, max_lots: int | None, max_quote: Decimal | None) -> list[Fill]:
        """Consume book liquidity for a taker order; the caller records trades and rebuilds."""
        fills: list[Fill] = []
        side = sorted(self.asks.items()) if buy else sorted(self.bids.items(), reverse=True)
        remaining_lots = max_lots
        remaining_quote = max_quote
        for ticks, avail in side:
            if limit_ticks is not None and (ticks > limit_ticks if buy else ticks < limit_ticks):
                break
            lots = avail
            if remaining_lots is not None:
                lots = min(lots, remaining_lots)
            if remaining_quote is not None:
                affordable = int(remaining_quote / (self.p(ticks) * self.step))
                lots = min(lots, affordable)
            if lots <= 0:
                break
            fills.append(Fill(ticks, lots))
            key = ticks if buy else -ticks
            self._taken[key] = avail - lots
            if remaining_lots is not None:
                remaining_lots -= lots
                if remaining_lots <= 0:
                    break
            if remaining_quote is not None:
                remaining_quote -= self.p(ticks) * self.q(lots)
        return fills

    def liquidity(self, buy: bool, limit_ticks: int | None) -> int:
        side = self.asks if buy else self.bids
        return sum(n for t, n in side.items() if limit_ticks is None or (t <= limit_ticks if buy else t >= limit_ticks))

    def settle(self) -> None:
        """After price/book changes: rebuild the book and publish what changed."""
        self._rebuild()

    # -- the tape, candles and stats ---------------------------------------------------
    def record_trade(self, ticks: int, lots: int, buyer_maker: bool) -> int:
        now = self._clock()
        self.trade_id += 1
        self.agg_id += 1
        self.last_ticks = ticks
        self.last_lots = lots
        price, qty = self.p(ticks), self.q(lots)
        self.tape.append((self.trade_id, self.agg_id, ticks, lots, buyer_maker, now))
        self._roll_bars(now)
        self._roll_stats(now)
        for interval, bar in self.bars.items():
            bar.add_trade(price, qty, not buyer_maker, self.trade_id)
            self._bar_dirty.add(interval)
        st = self.stats
        st["high"] = max(st["high"], price)
        st["low"] = min(st["low"], price)
        st["volume"] += qty
        st["quote"] += price * qty
        st["count"] += 1
        st["last_id"] = self.trade_id
        if st["first_id"] < 0:
            st["first_id"] = self.trade_id
        st["close_time"] = now
        for suffix, build in (("@trade", self._trade_msg), ("@aggTrade", self._agg_msg)):
            stream = self._lower + suffix
            if self._bus.wants(self.kind, stream):
                self._bus.publish(self.kind, stream, build(price, qty, buyer_maker, now))
        return self.trade_id

    def _trade_msg(self, price: Decimal, qty: Decimal, buyer_maker: bool, now: int) -> dict[str, Any]:
        return streams.trade(self.inst, self.trade_id, price, qty, buyer_maker, now, now)

    def _agg_msg(self, price: Decimal, qty: Decimal, buyer_maker: bool, now: int) -> dict[str, Any]:
        return streams.agg_trade(self.inst, self.agg_id, self.trade_id, price, qty, buyer_maker, now, now)

    def _first_live_bar(self, interval: str, start_ms: int) -> Bar:
        open_ms = bar_open(interval, start_ms)
        hist = self.history.bar(interval, open_ms)
        hist.close = self.price
        hist.high, hist.low = max(hist.high, hist.close), min(hist.low, hist.close)
        hist.close_time = bar_next(interval, open_ms) - 1
        return hist

    def _roll_bars(self, now: int) -> None:
        for interval, bar in self.bars.items():
            if now > bar.close_time:
                self._close_bar(interval, bar, now)

    def _close_bar(self, interval: str, bar: Bar, now: int) -> None:
        stream = f"{self._lower}@kline_{interval}"
        if self._bus.wants(self.kind, stream):
            self._bus.publish(self.kind, stream, streams.kline(self.inst, interval, bar, True, now))
        self.closed[interval].append(bar)
        open_ms = bar_open(interval, now)
        p = self.price
        self.bars[interval] = Bar(open_ms, bar_next(interval, open_ms) - 1, p, p, p, p, Decimal(0), Decimal(0), 0,
                                  Decimal(0), Decimal(0))
        self._bar_dirty.add(interval)

    def klines(self, interval: str, start: int | None, end: int | None, limit: int, now: int) -> list[Bar]:
        """Bars with open time in [start, end], oldest first, at most ``limit`` of them."""
        self._roll_bars(now)
        current = self.bars[interval]
        live: dict[int, Bar] = {b.open_time: b for b in self.closed[interval]}
        live[current.open_time] = current
        first_live = min(live)
        last_open = current.open_time if end is None else min(current.open_time, bar_open(interval, end))
        out: list[Bar] = []
        if start is not None:
            t = bar_open(interval, start)
            if t < start:
                t = bar_next(interval, t)
            while t <= last_open and len(out) < limit:
                out.append(self._bar_at(interval, t, live, first_live))
                t = bar_next(interval, t)
            return out
        t = last_open
        while len(out) < limit:
            out.append(self._bar_at(interval, t, live, first_live))
            t = bar_open(interval, t - 1)
        out.reverse()
        return out

    def _bar_at(self, interval: str, t: int, live: dict[int, Bar], first_live: int) -> Bar:
        bar = live.get(t)
        if bar is not None:
            return bar
        if t < first_live:
            return self.history.bar(interval, t)
        p = self.price  # a live bar nobody traded in (e.g. the loop was idle): flat at the price then
        prev = [b for b in live.values() if b.open_time < t]
        if prev:
            p = max(prev, key=lambda b: b.open_time).close
        return Bar(t, bar_next(interval, t) - 1, p, p, p, p, Decimal(0), Decimal(0), 0, Decimal(0), Decimal(0))

    def _init_stats(self, start_ms: int) -> None:
        open_ms = start_ms - 86_400_000
        hours = [self.history.bar("1h", t) for t in range(bar_open("1h", open_ms), start_ms, 3_600_000)]
        self.stats: dict[str, Any] = {
            "open": self.history.price_at(open_ms), "open_time": open_ms, "close_time": start_ms,
            "high": max([b.high for b in hours] + [self.price]), "low": min([b.low for b in hours] + [self.price]),
            "volume": sum((b.volume for b in hours), Decimal(0)),
            "quote": sum((b.quote_volume for b in hours), Decimal(0)),
            "count": sum(b.trades for b in hours), "first_id": -1, "last_id": -1,
        }
        self.stats["prev_close"] = self.stats["open"]
        self._stats_hour = bar_open("1h", start_ms)

    def _roll_stats(self, now: int) -> None:
        """Binance's 24 h statistics are a rolling window. The simulator rolls them hour by hour,
        from the hourly bars it keeps anyway, so a demo left running shows one day's volume and
        range, not everything since it started (between trades the figures only grow)."""
        hour = bar_open("1h", now)
        if hour == self._stats_hour:
            return
        self._stats_hour = hour
        bars = self.klines("1h", now - 86_400_000, now, 25, now)  # opened after now - 24 h, the current one last
        price = self.price
        self.stats = {
            "open": bars[0].open, "open_time": bars[0].open_time, "close_time": now,
            "high": max([b.high for b in bars] + [price]), "low": min([b.low for b in bars] + [price]),
            "volume": sum((b.volume for b in bars), Decimal(0)),
            "quote": sum((b.quote_volume for b in bars), Decimal(0)),
            "count": sum(b.trades for b in bars), "first_id": -1, "last_id": self.trade_id, "prev_close": bars[0].open,
        }

    def ticker_24h(self, now: int) -> dict[str, Any]:
        self._roll_stats(now)
        st, inst = self.stats, self.inst
        last = self.price
        change = last - st["open"]
        pct = (change / st["open"] * 100) if st["open"] else Decimal(0)
        wavg = st["quote"] / st["volume"] if st["volume"] else last
        count = st["count"]
        first_id = st["first_id"] if st["first_id"] >= 0 else self.trade_id - min(count, self.trade_id)
        d: dict[str, Any] = {"symbol": self.symbol, "priceChange": inst.fp(change),
                             "priceChangePercent": f"{pct:.3f}", "weightedAvgPrice": inst.fp(wavg)}
        if self.kind == "spot":
            d["prevClosePrice"] = inst.fp(st["prev_close"])
        d.update({"lastPrice": inst.fp(last), "lastQty": inst.fq(self.q(self.last_lots))})
        if self.kind == "spot":
            (bt, bq), (at, aq) = self.best_bid(), self.best_ask()
            d.update({"bidPrice": inst.fp(self.p(bt)), "bidQty": inst.fq(self.q(bq)),
                      "askPrice": inst.fp(self.p(at)), "askQty": inst.fq(self.q(aq))})
        d.update({"openPrice": inst.fp(st["open"]), "highPrice": inst.fp(st["high"]),
                  "lowPrice": inst.fp(st["low"]), "volume": inst.fq(st["volume"]),
                  "quoteVolume": fmt(st["quote"], 8), "openTime": now - 86_400_000, "closeTime": now,
                  "firstId": first_id, "lastId": self.trade_id, "count": count})
        return d

    # -- periodic publishing -------------------------------------------------------------
    def _is_due(self, stream: str, speed: int, now: int, force: bool) -> bool:
        due = self._due.get(stream, 0)
        if force or now >= due:
            self._due[stream] = now + speed
            return True
        return False

    def flush(self, now: int, force: bool = False) -> None:
        """Publish the periodic streams that are due (all of them when ``force``)."""
        kind, bus, low = self.kind, self._bus, self._lower
        for suffix, speed in _DIFF_SPEEDS[kind].items():
            stream = low + suffix
            pend = self._pending.get(stream)
            if pend is None or not self._is_due(stream, speed, now, force):
                continue
            del self._pending[stream]
            prev = self._stream_last_u.get(stream, pend.first - 1)
            self._stream_last_u[stream] = pend.last
            if self._faults.take_depth_skip(self.symbol):
                continue  # the ids are spent but never published: clients see a gap
            msg = streams.depth_update(
                self.inst, pend.first, pend.last, prev,
                streams.levels(self.inst, ((self.p(t), self.q(n)) for t, n in sorted(pend.bids.items(), reverse=True))),
                streams.levels(self.inst, ((self.p(t), self.q(n)) for t, n in sorted(pend.asks.items()))), now)
            bus.publish(kind, stream, msg)
        for n in (5, 10, 20):
            for suffix, speed in _PARTIAL_SPEEDS[kind].items():
                stream = f"{low}@depth{n}{suffix}"
                if bus.wants(kind, stream) and self._is_due(stream, speed, now, force):
                    uid, bids, asks = self.depth(n)
                    prev = self._stream_last_u.get(stream, uid - 1)
                    self._stream_last_u[stream] = uid
                    bus.publish(kind, stream, streams.partial_depth(self.inst, uid, prev, bids, asks, now))
        self._roll_bars(now)
        kspeed = _KLINE_SPEED[kind]
        for interval in list(self._bar_dirty):
            stream = f"{low}@kline_{interval}"
            if not bus.wants(kind, stream):
                self._bar_dirty.discard(interval)
                continue
            if self._is_due(stream, kspeed, now, force):
                self._bar_dirty.discard(interval)
                bus.publish(kind, stream, streams.kline(self.inst, interval, self.bars[interval], False, now))
        for suffix, build in (("@ticker", streams.ticker), ("@miniTicker", streams.mini_ticker)):
            stream = low + suffix
            if bus.wants(kind, stream) and self._is_due(stream, 1000, now, force):
                bus.publish(kind, stream, build(self.inst, self.ticker_24h(now), now))
        if kind == "usdm":
            for suffix, speed in (("@markPrice", 3000), ("@markPrice@1s", 1000)):
                stream = low + suffix
                if bus.wants(kind, stream) and self._is_due(stream, speed, now, force):
                    bus.publish(kind, stream, self.mark_msg(now))

    def wants_kline(self, interval: str) -> None:
        self._bar_dirty.add(interval)

    def mark_msg(self, now: int) -> dict[str, Any]:
        return streams.mark_price(self.inst, self.mark_price, self.index_price, self.funding_rate,
                                  self.next_funding_ms(now), now)

    def premium_index(self, now: int) -> dict[str, Any]:
        return {"symbol": self.symbol, "markPrice": fmt(self.mark_price, 8), "indexPrice": fmt(self.index_price, 8),
                "estimatedSettlePrice": fmt(self.index_price, 8), "lastFundingRate": fmt(self.funding_rate, 8),
                "interestRate": "0.00010000", "nextFundingTime": self.next_funding_ms(now), "time": now}
