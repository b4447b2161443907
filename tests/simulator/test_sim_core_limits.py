"""Request weights and order-count windows of the rate limiter, without sockets."""

from __future__ import annotations

import pytest

from foxtrot_binance.simulator.errors import BinanceError
from foxtrot_binance.simulator.ratelimit import RateLimiter, group_of, weight_of


@pytest.mark.parametrize(("method", "path", "params", "weight"), [
    ("GET", "/api/v3/exchangeInfo", {}, 20),
    ("GET", "/api/v3/depth", {"limit": "1000"}, 50),
    ("GET", "/api/v3/depth", {}, 5),
    ("GET", "/api/v3/ticker/24hr", {}, 80),
    ("GET", "/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}, 2),
    ("GET", "/api/v3/openOrders", {}, 80),
    ("GET", "/api/v3/order", {}, 4),
    ("POST", "/api/v3/order", {}, 1),
    ("GET", "/api/v3/account", {}, 20),
    ("GET", "/sapi/v1/capital/config/getall", {}, 10),
    ("GET", "/fapi/v1/depth", {"limit": "1000"}, 20),
    ("GET", "/fapi/v1/klines", {"limit": "1500"}, 10),
    ("POST", "/fapi/v1/order", {}, 0),
    ("GET", "/fapi/v1/positionSide/dual", {}, 30),
    ("GET", "/fapi/v3/positionRisk", {}, 5),
    ("POST", "/fapi/v1/listenKey", {}, 1),
])
def test_weights(method: str, path: str, params: dict[str, str], weight: int) -> None:
    assert weight_of(method, path, params) == weight


def test_hosts_have_separate_budgets() -> None:
    assert group_of("/fapi/v1/listenKey") == "usdm" and group_of("/sapi/v1/margin/allPairs") == "spot"


def test_order_count_windows() -> None:
    now = [1_000_000]
    limiter = RateLimiter(lambda: now[0], 6000, 6000)
    for _ in range(50):
        headers = limiter.count_order("spot", "k")
    assert headers == {"X-MBX-ORDER-COUNT-10S": "50", "X-MBX-ORDER-COUNT-1D": "50"}
    with pytest.raises(BinanceError) as info:
        limiter.count_order("spot", "k")
    assert (info.value.status, info.value.code) == (429, -1015)
    limiter.count_order("spot", "other-key")  # per account
    now[0] += 10_001
    assert limiter.count_order("spot", "k")["X-MBX-ORDER-COUNT-10S"] == "1"
    assert limiter.count_order("usdm", "k") == {"X-MBX-ORDER-COUNT-1M": "1", "X-MBX-ORDER-COUNT-10S": "1"}


def test_ban_lasts_past_the_minute() -> None:
    now = [60_000 * 100]
    limiter = RateLimiter(lambda: now[0], 2, 2)
    limiter.charge("spot", 2)
    with pytest.raises(BinanceError) as info:
        limiter.charge("spot", 1)
    assert info.value.status == 429 and info.value.headers["Retry-After"] == "60"
    with pytest.raises(BinanceError) as info:
        limiter.charge("spot", 1)
    assert info.value.status == 418
    now[0] += 60_000
    with pytest.raises(BinanceError) as info:
        limiter.charge("spot", 1)
    assert info.value.status == 418
    now[0] += 120_000
    limiter.charge("spot", 1)
