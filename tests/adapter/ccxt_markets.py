"""ccxt market dicts parsed offline from real exchangeInfo entries (tests/data), no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "exchange_info_sample.json"


def parsed_markets() -> dict[str, dict[str, Any]]:
    """Spot and USDⓈ-M markets as ccxt 4.5.90 parses them, keyed by ccxt symbol."""
    import ccxt

    exchange = ccxt.binance()
    exchange.options["crossMarginPairsData"] = []
    exchange.options["isolatedMarginPairsData"] = []
    raw = json.loads(SAMPLE.read_text())
    markets = [exchange.parse_market(entry) for entry in raw["spot"] + raw["usdm"]]
    return {m["symbol"]: m for m in markets}
