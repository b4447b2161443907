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


# -- the account's order count (-1015) is not the IP's weight -----------------------------------
def _order_refusal(per: str) -> str:
    return '{"code":-1015,"msg":"Too many new orders; current limit is 50 orders per %s."}' % per


@pytest.mark.parametrize(
    ("per", "held_ms"),
    [("TEN_SECONDS", 10_000), ("10 SECOND", 10_000), ("MINUTE", 60_000), ("DAY", 10_000)],
)
def test_an_order_count_refusal_holds_only_new_orders_for_the_order_window(per, held_ms):
    clock = FakeClock()
    gate = WeightGate(limit=1000, buffer=0.2, now_ms=clock)
    gate.observe(429, {"X-MBX-USED-WEIGHT-1M": "12"}, "https://api.binance.com/api/v3/order", _order_refusal(per))
    assert gate.paused_until_ms == 0 and gate.banned_until_ms == 0
    assert gate.wait_ms(1) == (0, "")  # cancels and queries go on
    wait, reason = gate.wait_ms(1, new_order=True)
    # a daily cap is probed again after the short window: unfilled counts drop as orders fill
    assert wait == held_ms and "-1015" in reason
    with pytest.raises(RequestThrottled, match="order count limit"):
        asyncio.run(gate.acquire(1, max_wait=2, new_order=True))
    clock.now += held_ms
    assert gate.wait_ms(1, new_order=True) == (0, "")


def test_an_order_count_refusal_uses_retry_after_or_the_learnt_order_window():
    clock = FakeClock()
    gate = WeightGate(limit=1000, buffer=0.2, now_ms=clock)
    gate.observe(429, {"Retry-After": "3"}, "https://fapi.binance.com/fapi/v1/order", '{"code":-1015,"msg":"Too many"}')
    assert gate.wait_ms(1, new_order=True)[0] == 3_000 and gate.wait_ms(1) == (0, "")
    clock.now += 3_000
    body = (
        '{"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":2400},'
        '{"rateLimitType":"ORDERS","interval":"MINUTE","intervalNum":1,"limit":1200},'
        '{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":5,"limit":300}]}'
    )
    gate.observe(200, {}, "https://fapi.binance.com/fapi/v1/exchangeInfo", body)
    assert gate.order_window_ms == 5_000
    gate.hold(429, code=-1015)  # nothing named: the shortest ORDERS rule
    assert gate.wait_ms(1, new_order=True)[0] == 5_000 and gate.wait_ms(1) == (0, "")
    gate.hold(429, code=-1003)  # the IP's weight: everything pauses
    assert gate.wait_ms(1)[0] == 60_000


def test_the_rest_gateway_marks_new_orders_so_a_held_gate_still_cancels():
    from foxtrot_binance.rest_gateway import RestGateway
    from foxtrot_binance.settings import RetrySettings

    class Exchange:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def __getattr__(self, method: str):
            async def call(*args, **kwargs):
                self.calls.append(method)
                return {}

            return call

    clock = FakeClock()
    gate = WeightGate(limit=1000, buffer=0.2, now_ms=clock)
    gate.hold(429, code=-1015)
    exchange = Exchange()
    rest = RestGateway(exchange, gate, clock=None, retry=RetrySettings(), log=None)  # type: ignore[arg-type]

    async def run() -> None:
        await rest.call("cancel_order", "1", "BTC/USDT", idempotent=False, max_wait=2)
        await rest.call("fetch_order", "1", "BTC/USDT", weight=4, max_wait=2)
        with pytest.raises(RequestThrottled, match="-1015"):
            await rest.call("create_order", "BTC/USDT", "limit", "buy", 1, 1000, idempotent=False, max_wait=2)

    asyncio.run(run())
    assert exchange.calls == ["cancel_order", "fetch_order"]


# -- a count from the window that has just ended ---------------------------------------------------
def test_an_answer_to_a_request_admitted_in_the_previous_window_is_not_booked_in_the_new_one():
    window_end = 1_700_000_040_000
    clock = FakeClock(window_end - 30)
    gate = WeightGate(limit=6000, buffer=0.1, now_ms=clock)  # budget 5,400

    async def request(header: int, answered_at: int, answer: asyncio.Event | None = None) -> None:
        await gate.acquire(20)  # admitted now; the answer is read in this task, as ccxt's hook is
        if answer is not None:
            await answer.wait()  # in flight
        clock.now = answered_at
        gate.observe(200, {"X-MBX-USED-WEIGHT-1M": str(header)})

    async def run() -> None:
        gate.observe(200, {"X-MBX-USED-WEIGHT-1M": "5300"})
        answer = asyncio.Event()
        first = asyncio.create_task(request(5340, window_end + 900, answer))
        second = asyncio.create_task(request(5320, window_end + 800, answer))  # lower count, answered later
        await asyncio.sleep(0)
        assert gate.used == 5340  # both admitted in the old minute
        answer.set()
        await asyncio.gather(first, second)
        assert gate.used == 0  # neither count belongs to the new minute
        await request(40, window_end + 1_000)  # the first answer of the new minute counts
        assert gate.used == 40

    asyncio.run(run())


def test_an_unattributed_header_is_taken_as_the_previous_windows_only_when_it_could_be():
    window_end = 1_700_000_040_000
    clock = FakeClock(window_end - 10)
    gate = WeightGate(limit=6000, buffer=0.1, now_ms=clock)
    gate.observe(200, {"X-MBX-USED-WEIGHT-1M": "3000"})
    clock.now = window_end + 10
    gate.observe(200, {"X-MBX-USED-WEIGHT-1M": "3000"})  # the old minute's count, late
    assert gate.used == 0
    gate.observe(200, {"X-MBX-USED-WEIGHT-1M": "25"})  # below the old count: this minute's
    assert gate.used == 25
    clock.now = window_end + 10_000  # past any answer's timeout: a high count is genuine
    gate.observe(200, {"X-MBX-USED-WEIGHT-1M": "3100"})
    assert gate.used == 3100


def test_the_exchange_info_answer_counts_in_the_window_it_teaches():
    clock = FakeClock(1_700_000_010_500)
    gate = WeightGate(limit=6000, buffer=0.2, now_ms=clock)
    asyncio.run(gate.acquire(20))
    body = '{"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"SECOND","intervalNum":2,"limit":150}]}'
    gate.observe(200, {"X-MBX-USED-WEIGHT-2S": "140"}, "http://x/api/v3/exchangeInfo", body)
    assert (gate.window_ms, gate.limit, gate.used) == (2000, 150, 140)
    assert "budget" in gate.wait_ms(1)[1]  # 140 of a 120 budget: wait for the next 2 s window
