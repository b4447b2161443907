"""Weight pressure: with a tiny budget the adapter slows down and never earns a 429 or 418."""

from __future__ import annotations

import time

import pytest

from foxtrot_binance import BinanceSpotAdapter, BinanceUsdmAdapter
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks import CancelRequest, Direction, OrderRequest, OrderType, Status

from spot_support import connected


@pytest.mark.parametrize("adapter_class", [BinanceSpotAdapter, BinanceUsdmAdapter])
def test_heavy_rest_use_is_paced_inside_the_budget(adapter_class, clean_binance_env):
    # 150 weight per 2 s window: connecting alone needs more than one window
    with BinanceSimulator(seed=8, tick_interval=None, weight_limit=150, weight_window_s=2) as sim:
        with connected(sim, adapter_class, timeout=30) as h:
            adapter = h.adapter
            client = adapter.client
            assert (client.gate.window_ms, client.gate.limit) == (2000, 150)  # learnt from exchangeInfo

            started = time.monotonic()
            refreshes = [client.schedule(client.accounts.refresh()) for _ in range(15)]  # 15 x 20 (spot) weight
            for future in refreshes:
                future.result(timeout=30)
            elapsed = time.monotonic() - started
            exchange = adapter_class.exchanges[0]
            vt = adapter.send_order(OrderRequest("BTCUSDT", exchange, Direction.LONG, OrderType.LIMIT, 0.2, 1000))
            h.wait_status(vt, Status.NOTTRADED, timeout=30)

            assert client.gate.paused_until_ms == 0 and client.gate.banned_until_ms == 0  # never a 429/418
            if adapter_class is BinanceSpotAdapter:
                assert elapsed >= 2.0  # 300 weight cannot fit in one 2 s window of 120
            assert not [m for m in h.logs() if "rate limited" in m or "banned" in m]


@pytest.mark.parametrize("adapter_class", [BinanceSpotAdapter, BinanceUsdmAdapter])
def test_an_order_count_refusal_holds_new_orders_only(adapter_class, clean_binance_env):
    # the account may place 2 orders per 10 s: the third is refused with 429 / -1015
    with BinanceSimulator(seed=9, tick_interval=None, order_limit=2) as sim:
        with connected(sim, adapter_class, timeout=30) as h:
            adapter = h.adapter
            client = adapter.client
            exchange = adapter_class.exchanges[0]
            kind = "spot" if adapter_class is BinanceSpotAdapter else "usdm"

            def send() -> str:
                return adapter.send_order(OrderRequest("BTCUSDT", exchange, Direction.LONG, OrderType.LIMIT, 0.2, 1000))

            resting = [send(), send()]
            for vt in resting:
                h.wait_status(vt, Status.NOTTRADED, timeout=30)
            refused = h.wait_status(send(), Status.REJECTED, timeout=30)
            assert "-1015" in refused.extra["reason"]
            held = h.wait_status(send(), Status.REJECTED, timeout=30)  # within the 10 s: not sent at all
            assert held.extra["reason"].startswith("not sent: new orders refused by Binance")
            assert len(sim.orders(kind)) == 2

            gate = client.gate
            assert gate.paused_until_ms == 0 and gate.banned_until_ms == 0 and gate.orders_held_until_ms > 0
            client.schedule(client.accounts.refresh()).result(timeout=10)  # queries flow
            adapter.cancel_order(CancelRequest(resting[0].split(".", 1)[1], "BTCUSDT", exchange))  # cancels flow
            h.wait_status(resting[0], Status.CANCELLED, timeout=30)
            assert not [m for m in h.logs() if "not sent" in m and "Cancel" in m]
