"""The weight gate on a fake clock: slow down before the limit, pause on 429, stop on 418."""

from __future__ import annotations

import asyncio

import pytest

from foxtrot_binance import rate_limit
from foxtrot_binance.rate_limit import RequestThrottled, WeightGate


class FakeClock:
    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now


def test_budget_keeps_the_buffer_in_reserve():
    gate = WeightGate(limit=1000, buffer=0.2, now_ms=FakeClock())
    assert gate.budget == 800
    assert gate.wait_ms(1) == (0, "")


def test_waits_for_the_next_window_when_the_budget_is_spent():
    clock = FakeClock(start_ms=60_000 * 1000 + 10_000)  # 10 s into a minute
    gate = WeightGate(limit=1000, buffer=0.2, now_ms=clock)
    gate.observe(200, {"X-MBX-USED-WEIGHT-1M": "790"})
    wait, reason = gate.wait_ms(20)
    assert 50_000 <= wait <= 50_100 and "budget" in reason
    assert gate.wait_ms(10) == (0, "")  # still fits
    clock.now += 50_000  # next minute: Binance resets the count
    assert gate.wait_ms(20) == (0, "")


def test_header_and_local_count_take_the_larger():
    gate = WeightGate(limit=1000, buffer=0.0, now_ms=FakeClock())
    asyncio.run(gate.acquire(300))
    gate.observe(200, {"x-mbx-used-weight-1m": "100"})  # our in-flight requests are not in it yet
    assert gate.used == 300
    gate.observe(200, {"x-mbx-used-weight-1m": "700"})  # another bot on our IP spends too
    assert gate.used == 700


def test_429_pauses_for_retry_after_and_418_refuses_until_the_ban_ends():
    clock = FakeClock()
    gate = WeightGate(limit=1000, buffer=0.2, now_ms=clock)
    gate.observe(429, {"Retry-After": "7"})
    assert gate.wait_ms(1)[0] == 7000
    with pytest.raises(RequestThrottled, match="rate limited by Binance"):
        asyncio.run(gate.acquire(1, max_wait=1))
    gate.observe(418, {"Retry-After": "120"})
    with pytest.raises(RequestThrottled, match="IP banned by Binance"):
        asyncio.run(gate.acquire(1))  # never waits out a ban, whatever max_wait
    clock.now += 121_000
    asyncio.run(gate.acquire(1))


def test_learns_the_rule_and_header_name_from_exchange_info():
    gate = WeightGate(limit=6000, buffer=0.2, now_ms=FakeClock())
    body = (
        '{"timezone":"UTC","rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"SECOND",'
        '"intervalNum":2,"limit":50},{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,'
        '"limit":100},{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000}]}'
    )
    gate.observe(200, {}, "http://x/api/v3/exchangeInfo", body)
    assert (gate.window_ms, gate.limit, gate.header_name) == (2000, 50, "x-mbx-used-weight-2s")
    gate.observe(200, {"X-MBX-USED-WEIGHT-2S": "45"})
    assert gate.used == 45


def test_acquire_waits_rather_than_overspending(monkeypatch):
    clock = FakeClock(start_ms=59_900)  # 100 ms before a window ends
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:  # advances the fake clock instead of waiting
        sleeps.append(seconds)
        clock.now += int(seconds * 1000) + 1
        await real_sleep(0)

    async def run() -> None:
        gate = WeightGate(limit=10, buffer=0.0, now_ms=clock)
        await gate.acquire(10)
        monkeypatch.setattr(rate_limit.asyncio, "sleep", fake_sleep)
        await gate.acquire(1)

    asyncio.run(run())
    assert 0.1 <= sum(sleeps) <= 0.2


def test_a_ban_or_pause_learnt_outside_rest_holds_the_gate_until_binance_said():
    clock = FakeClock()
    gate = WeightGate(limit=1000, buffer=0.2, now_ms=clock)
    gate.hold(418, until_ms=clock.now + 90_000)  # the WebSocket API's data.retryAfter
    wait, reason = gate.wait_ms(1)
    assert wait == 90_000 and "418" in reason
    gate.hold(418, until_ms=clock.now + 10_000)  # an earlier end never shortens a ban
    assert gate.wait_ms(1)[0] == 90_000
    clock.now += 90_000
    gate.hold(429, retry_after_s=3)  # a handshake's Retry-After
    assert gate.wait_ms(1) == (3_000, "rate limited by Binance (429)")
    gate.hold(429)  # no time given: a whole window
    assert gate.wait_ms(1)[0] == gate.window_ms
    gate.hold(400, until_ms=clock.now + 1)  # not a throttle: ignored
    clock.now += gate.window_ms
    assert gate.wait_ms(1) == (0, "")


def test_a_long_wait_is_announced_once_and_a_short_one_not_at_all(monkeypatch):
    clock = FakeClock(start_ms=10_000)  # 50 s before the window ends
    announced: list[tuple[int, str]] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        clock.now += int(seconds * 1000) + 1
        await real_sleep(0)

    async def run() -> None:
        gate = WeightGate(limit=10, buffer=0.0, now_ms=clock)
        gate.on_wait = lambda ms, why: announced.append((ms, why))
        await gate.acquire(10)
        monkeypatch.setattr(rate_limit.asyncio, "sleep", fake_sleep)
        await asyncio.gather(gate.acquire(1), gate.acquire(1))  # two waiters, one episode
        clock.now = 119_950  # 50 ms before the next window ends, budget spent again
        gate.used = 10
        await gate.acquire(1)

    asyncio.run(run())
    assert len(announced) == 1
    wait_ms, reason = announced[0]
    assert 49_000 <= wait_ms <= 50_100 and "budget 10/10" in reason
