"""Rate limits and REST fault injection, as a real ccxt client sees them."""

from __future__ import annotations

import ccxt
import pytest

from foxtrot_binance.simulator import BinanceSimulator

from conftest import ccxt_client


def _align_server_clock_to_minute_start(sim: BinanceSimulator) -> None:
    """Put the server clock 1 s into a fresh minute so the weight window cannot roll mid-test."""
    now = sim.ctx.now_ms()
    sim.faults.shift_clock(60_000 - now % 60_000 + 1_000)


def test_weight_headers_then_429_then_418(make_simulator) -> None:
    sim = make_simulator(weight_limit=5)
    _align_server_clock_to_minute_start(sim)
    client = ccxt_client(sim, keys=False)
    for used in range(1, 6):
        client.publicGetTime()
        assert client.last_response_headers["X-MBX-USED-WEIGHT-1M"] == str(used)
    with pytest.raises(ccxt.DDoSProtection, match="Too much request weight used"):
        client.publicGetTime()
    assert client.last_response_headers["Retry-After"].isdigit()
    with pytest.raises(ccxt.DDoSProtection, match="IP banned until"):
        client.publicGetTime()
    with pytest.raises(ccxt.DDoSProtection, match="IP banned until"):
        client.publicGetTime()
    # the futures host has its own budget
    assert "serverTime" in client.fapiPublicGetTime()


def test_exhaust_weight_fault_and_order_count_headers(simulator: BinanceSimulator) -> None:
    _align_server_clock_to_minute_start(simulator)
    client = ccxt_client(simulator)
    client.load_time_difference()  # signed calls follow the shifted server clock
    client.load_markets()
    client.create_order("BTC/USDT", "market", "buy", 0.001)
    assert client.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "1"
    assert client.last_response_headers["X-MBX-ORDER-COUNT-1D"] == "1"
    client.create_order("BTC/USDT:USDT", "market", "buy", 0.002)
    assert client.last_response_headers["X-MBX-ORDER-COUNT-1M"] == "1"
    assert client.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "1"  # USD-M orders weigh 0 on their own host
    client.publicGetTime()
    assert int(client.last_response_headers["X-MBX-USED-WEIGHT-1M"]) > 20  # spot: exchangeInfo alone is 20
    simulator.faults.exhaust_weight()
    with pytest.raises(ccxt.DDoSProtection):
        client.publicGetTime()


def test_delay_gives_request_timeout(simulator: BinanceSimulator) -> None:
    client = ccxt_client(simulator, keys=False)
    client.timeout = 200
    simulator.faults.delay_rest(2.0, count=1)
    with pytest.raises(ccxt.RequestTimeout):
        client.publicGetTime()
    assert "serverTime" in client.publicGetTime()


@pytest.mark.parametrize(("mode", "error"), [("500", ccxt.OperationFailed), ("503", ccxt.ExchangeNotAvailable),
                                            ("reset", ccxt.NetworkError)])
def test_rest_failures(simulator: BinanceSimulator, mode: str, error: type) -> None:
    client = ccxt_client(simulator, keys=False)
    simulator.faults.fail_rest(1, mode)  # type: ignore[arg-type]
    with pytest.raises(error):
        client.publicGetTime()
    assert "serverTime" in client.publicGetTime()


def test_async_client_sees_reset_as_network_error(simulator: BinanceSimulator) -> None:
    import asyncio

    import ccxt.async_support as ccxt_async

    async def run() -> None:
        client = ccxt_client(simulator, cls=ccxt_async.binance, keys=False)
        try:
            # aiohttp retries an idempotent request once after a dropped connection
            simulator.faults.fail_rest(2, "reset")
            with pytest.raises(ccxt.NetworkError):
                await client.publicGetTime()
            assert "serverTime" in await client.publicGetTime()
        finally:
            await client.close()

    asyncio.run(run())


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
def test_lost_order_response_leaves_the_order_on_the_exchange(simulator: BinanceSimulator, symbol: str) -> None:
    client = ccxt_client(simulator)
    client.load_markets()
    last = client.fetch_ticker(symbol)["last"]
    simulator.faults.lose_next_order_response()
    with pytest.raises(ccxt.NetworkError):
        client.create_order(symbol, "limit", "buy", 0.01, round(last * 0.9, 1), {"clientOrderId": "lost-1"})
    kind = "usdm" if ":" in symbol else "spot"
    assert [o["clientOrderId"] for o in simulator.open_orders(kind)] == ["lost-1"]
    found = client.fetch_order(None, symbol, {"origClientOrderId": "lost-1"})
    assert found["status"] == "open"
