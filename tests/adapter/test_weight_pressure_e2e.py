"""Weight pressure: with a tiny budget the adapter slows down and never earns a 429 or 418."""

from __future__ import annotations

import time

import pytest

from foxtrot_binance import BinanceSpotAdapter, BinanceUsdmAdapter
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks import Direction, OrderRequest, OrderType, Status
from foxtrot_hooks.testing import RecordingEngine

from spot_support import Harness, connect_setting


@pytest.mark.parametrize("adapter_class", [BinanceSpotAdapter, BinanceUsdmAdapter])
def test_heavy_rest_use_is_paced_inside_the_budget(adapter_class, clean_binance_env):
    # 150 weight per 2 s window: connecting alone needs more than one window
    with BinanceSimulator(seed=8, tick_interval=None, weight_limit=150, weight_window_s=2) as sim:
        engine = RecordingEngine()
        adapter = adapter_class(engine, adapter_class.default_name)
        h = Harness(sim, engine, adapter)
        adapter.connect(connect_setting(sim))
        try:
            h.wait_log("User data stream connected", timeout=30)
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
        finally:
            adapter.close()
