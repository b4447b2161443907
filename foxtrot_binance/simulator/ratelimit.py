"""Request-weight and order-count limits, answered the way Binance answers them.

Binance counts weight per IP per minute separately for the spot and the futures hosts,
reports it in ``X-MBX-USED-WEIGHT-1M`` on every response, answers 429 (-1003) once the
budget is spent, and bans the IP (418) when the client keeps sending after a 429. The
adapter's back-off logic is only as good as the test double it was built against, so the
escalation is reproduced, not just the first refusal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .errors import BinanceError

BAN_MS = 120_000
SPOT_ORDER_LIMITS = ((10_000, 50, "10S", "TEN_SECONDS"), (86_400_000, 160_000, "1D", "DAY"))
USDM_ORDER_LIMITS = ((60_000, 1200, "1M", "MINUTE"), (10_000, 300, "10S", "TEN_SECONDS"))


def group_of(path: str) -> str:
    """Which Binance host a path belongs to: each has its own weight budget."""
    return "usdm" if path.startswith(("/fapi/", "/dapi/", "/futures/")) else "spot"


def _limit_weight(limit: int | None, table: tuple[tuple[int, int], ...]) -> int:
    n = limit if limit is not None else 100
    for upto, weight in table:
        if n <= upto:
            return weight
    return table[-1][1]


def _count(value: str | None) -> int:
    if not value:
        return 0
    return max(1, value.count(",") + 1)


def weight_of(method: str, path: str, params: Mapping[str, str]) -> int:
    """Binance's documented request weight of one call (spec §2), 1 when not listed."""
    sym = bool(params.get("symbol"))
    limit = params.get("limit")
    lim = int(limit) if limit and limit.isdigit() else None
    if path.startswith("/api/v3/"):
        ep = path[len("/api/v3/"):]
        if ep == "exchangeInfo":
            return 20
        if ep == "depth":
            return _limit_weight(lim, ((100, 5), (500, 25), (1000, 50), (5000, 250)))
        if ep in ("klines", "uiKlines", "avgPrice"):
            return 2
        if ep == "ticker/24hr":
            if sym:
                return 2
            n = _count(params.get("symbols"))
            return 80 if n == 0 else (2 if n <= 20 else 40 if n <= 100 else 80)
        if ep in ("ticker/bookTicker", "ticker/price"):
            return 2 if sym else 4
        if ep in ("account", "myTrades", "allOrders"):
            return 20
        if ep in ("order", "order/cancelReplace"):
            return 4 if method == "GET" else 1
        if ep == "openOrders":
            return (6 if sym else 80) if method == "GET" else 1
        if ep == "trades":
            return 25
        if ep == "aggTrades":
            return 4
        return 1
    if path.startswith("/sapi/"):
        return 10 if path.endswith(("capital/config/getall", "isolated/allPairs")) else 1
    if path.startswith("/fapi/"):
        ep = path.split("/", 3)[3] if path.count("/") >= 3 else ""
        if ep == "depth":
            return _limit_weight(lim, ((50, 2), (100, 5), (500, 10), (1000, 20)))
        if ep == "trades":
            return 5
        if ep == "aggTrades":
            return 20
        if ep in ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines"):
            n = lim if lim is not None else 500
            return 1 if n < 100 else 2 if n < 500 else 5 if n <= 1000 else 10
        if ep == "ticker/24hr":
            return 1 if sym else 40
        if ep == "ticker/bookTicker":
            return 2 if sym else 5
        if ep in ("openOrders", "openAlgoOrders"):
            return 1 if sym else 40
        if ep in ("allOrders", "userTrades", "account", "balance", "positionRisk"):
            return 5
        if ep == "income":
            return 30
        if ep == "positionSide/dual" and method == "GET":
            return 30
        if ep in ("order", "algoOrder") and method == "POST":
            return 0
        if ep == "batchOrders":
            return 5 if method == "POST" else 1
        return 1
    return 1


@dataclass
class _Bucket:
    limit: int
    minute: int = -1
    used: int = 0
    warned: bool = False  # a 429 was answered in this minute
    banned_until: int = 0


@dataclass
class _Orders:
    times: deque[int] = field(default_factory=deque)


class RateLimiter:
    """``window_ms`` other than a minute and ``order_limit`` exist for tests and benchmarks:
    Binance's rule is general (exchangeInfo names the interval, the header carries it), so
    a client that honours it works with a two-second window as with a one-minute one."""

    def __init__(
        self,
        clock: Callable[[], int],
        spot_limit: int,
        usdm_limit: int,
        window_ms: int = 60_000,
        order_limit: int | None = None,
    ) -> None:
        self._clock = clock
        self._buckets = {"spot": _Bucket(spot_limit), "usdm": _Bucket(usdm_limit)}
        self._orders: dict[tuple[str, str], _Orders] = {}
        self.window_ms = window_ms
        self._order_limits = {
            group: tuple((w, order_limit if order_limit is not None and w == 10_000 else cap, sfx, name)
                         for w, cap, sfx, name in limits)
            for group, limits in (("spot", SPOT_ORDER_LIMITS), ("usdm", USDM_ORDER_LIMITS))
        }

    @property
    def interval(self) -> tuple[str, int, str]:
        """(exchangeInfo interval, intervalNum, header suffix) of the weight window."""
        if self.window_ms % 60_000 == 0:
            return "MINUTE", self.window_ms // 60_000, f"{self.window_ms // 60_000}M"
        return "SECOND", max(1, self.window_ms // 1000), f"{max(1, self.window_ms // 1000)}S"

    def limit(self, group: str) -> int:
        return self._buckets[group].limit

    def _roll(self, bucket: _Bucket, now: int) -> None:
        minute = now // self.window_ms
        if minute != bucket.minute:
            bucket.minute, bucket.used, bucket.warned = minute, 0, False

    def exhaust(self, group: str) -> None:
        bucket = self._buckets[group]
        self._roll(bucket, self._clock())
        bucket.used = max(bucket.used, bucket.limit)

    def used(self, group: str) -> int:
        bucket = self._buckets[group]
        self._roll(bucket, self._clock())
        return bucket.used

    def charge(self, group: str, weight: int) -> None:
        """Count a request; raise Binance's 429/418 when it must not be served."""
        now = self._clock()
        bucket = self._buckets[group]
        if bucket.banned_until > now:
            raise self._ban(bucket, now)
        self._roll(bucket, now)
        if bucket.warned:
            bucket.banned_until = now + BAN_MS
            raise self._ban(bucket, now)
        bucket.used += weight
        if bucket.used > bucket.limit:
            bucket.warned = True
            retry = max(1, (self.window_ms - now % self.window_ms + 999) // 1000)
            interval, num, _ = self.interval
            raise BinanceError(429, -1003, f"Too much request weight used; current limit is {bucket.limit} request "
                                           f"weight per {num} {interval}. Please use WebSocket Streams for live "
                                           "updates to avoid polling the API.", {"Retry-After": str(retry)})

    def _ban(self, bucket: _Bucket, now: int) -> BinanceError:
        retry = max(1, (bucket.banned_until - now + 999) // 1000)
        return BinanceError(418, -1003, f"Way too much request weight used; IP banned until {bucket.banned_until}. "
                                        "Please use WebSocket Streams for live updates to avoid bans.",
                            {"Retry-After": str(retry)})

    def headers(self, group: str) -> dict[str, str]:
        used = str(self.used(group))
        return {f"X-MBX-USED-WEIGHT-{self.interval[2]}": used, "X-MBX-USED-WEIGHT": used}

    # -- orders ---------------------------------------------------------------------------
    def count_order(self, group: str, api_key: str) -> dict[str, str]:
        """Count one new order for this account; raise -1015 when a window is full."""
        now = self._clock()
        orders = self._orders.setdefault((group, api_key), _Orders())
        limits = self._order_limits[group]
        longest = max(w for w, *_ in limits)
        while orders.times and orders.times[0] <= now - longest:
            orders.times.popleft()
        for window, cap, _suffix, name in limits:
            n = sum(1 for t in orders.times if t > now - window)
            if n >= cap:
                raise BinanceError(429, -1015, f"Too many new orders; current limit is {cap} orders per {name}.")
        orders.times.append(now)
        return self.order_headers(group, api_key)

    def order_headers(self, group: str, api_key: str) -> dict[str, str]:
        now = self._clock()
        orders = self._orders.get((group, api_key), _Orders())
        limits = self._order_limits[group]
        return {f"X-MBX-ORDER-COUNT-{suffix}": str(sum(1 for t in orders.times if t > now - window))
                for window, _cap, suffix, _name in limits}
