"""The foxtrot-hooks contract kit, with a live connection to the embedded simulator."""

from __future__ import annotations

from typing import Any

import foxtrot_binance.plugin
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks.testing import AdapterContract


class TestBinanceSpotLiveContract(AdapterContract):
    plugin = foxtrot_binance.plugin
    adapter_name = "BINANCE"

    def setup_method(self) -> None:
        self.sim = BinanceSimulator(seed=3, tick_interval=None).start()

    def teardown_method(self) -> None:
        self.sim.stop()

    def connect_setting(self) -> dict[str, Any]:
        return {"API Key": self.sim.api_key, "Secret": self.sim.api_secret, "Base URL": self.sim.base_url}
