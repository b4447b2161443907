from __future__ import annotations

from decimal import Decimal

import pytest

from foxtrot_binance.contract_manager import ContractManager, InvalidOrderRequest
from foxtrot_binance.market_kind import MarketKind
from foxtrot_hooks import Exchange, Product

from ccxt_markets import parsed_markets


@pytest.fixture(scope="module")
def markets():
    return parsed_markets()


@pytest.fixture
def spot(markets):
    manager = ContractManager(MarketKind.SPOT, "BINANCE")
    manager.load(markets)
    return manager


@pytest.fixture
def usdm(markets):
    manager = ContractManager(MarketKind.USDM, "BINANCE_USDM")
    manager.load(markets)
    return manager


def test_spot_contracts_are_spot_only_trading_and_unsuffixed(spot):
    contracts = {c.symbol: c for c in spot.contracts()}
    assert set(contracts) == {"BTCUSDT", "ETHBTC", "BNBUSDC", "ETHUSDT"}  # the BREAK symbol is left out
    btc = contracts["BTCUSDT"]
    assert (btc.vt_symbol, btc.exchange, btc.product, btc.name) == ("BTCUSDT.BINANCE", Exchange.BINANCE, Product.SPOT, "BTC/USDT")
    assert (btc.pricetick, btc.min_volume, btc.size) == (0.01, 0.00001, 1.0)
    assert btc.extra["step_size"] == 0.00001 and btc.extra["min_notional"] == 5.0
    assert btc.stop_supported and btc.history_data


def test_usdm_contracts_are_perpetuals_only(usdm):
    contracts = {c.symbol: c for c in usdm.contracts()}
    assert set(contracts) == {"BTCUSDT", "ETHUSDT"}  # the quarterly delivery contract is left out
    btc = contracts["BTCUSDT"]
    assert (btc.vt_symbol, btc.product, btc.pricetick, btc.min_volume) == ("BTCUSDT.BINANCEUSDM", Product.SWAP, 0.1, 0.001)
    assert btc.extra["min_notional"] == 100.0


@pytest.mark.parametrize("spelling", ["BTCUSDT", "btcusdt", "BTCUSDT.BINANCE", "BTC/USDT", " btc/usdt "])
def test_spot_resolves_every_spelling_to_the_spot_pair(spot, spelling):
    assert spot.resolve(spelling).ccxt_symbol == "BTC/USDT"


@pytest.mark.parametrize("spelling", ["BTCUSDT", "BTCUSDT.BINANCEUSDM", "BTC/USDT", "BTC/USDT:USDT"])
def test_usdm_resolves_every_spelling_to_the_perpetual(usdm, spelling):
    assert usdm.resolve(spelling).ccxt_symbol == "BTC/USDT:USDT"


def test_other_kinds_and_unknowns_do_not_resolve(spot, usdm):
    assert spot.resolve("BTCUSDT.BINANCEUSDM") is None
    assert spot.resolve("BTC/USDT:USDT") is None
    assert usdm.resolve("BTCUSDT.BINANCE") is None
    assert usdm.resolve("ETHBTC") is None
    assert spot.resolve("NOPEUSDT") is None and spot.resolve("") is None


def test_rounding_price_to_tick_and_volume_down_to_step(spot):
    btc = spot.resolve("BTCUSDT")
    assert spot.round_price(btc, 30000.126) == Decimal("30000.13")
    assert spot.round_volume(btc, 0.123456789) == Decimal("0.12345")
    qty, price = spot.check_order(btc, 0.0012349, 30000.004, market=False, reference_price=None)
    assert (qty, price) == (Decimal("0.00123"), Decimal("30000"))


@pytest.mark.parametrize(
    ("volume", "price", "market", "reason"),
    [
        (0, 30000, False, "volume must be a positive number"),
        (float("inf"), 30000, False, "volume must be a positive number"),
        (float("nan"), 30000, False, "volume must be a positive number"),
        (0.000001, 30000, False, "below the minimum"),
        (100000, 30000, False, "above the maximum"),
        (0.0001, 30000, False, "below the minimum notional"),  # 3 USDT < 5
        (0.001, -1, False, "price must be a positive number"),
        (0.001, float("inf"), False, "price must be a positive number"),
        (0.0001, None, True, "below the minimum notional"),
    ],
)
def test_invalid_requests_are_rejected_with_a_reason(spot, volume, price, market, reason):
    btc = spot.resolve("BTCUSDT")
    with pytest.raises(InvalidOrderRequest, match=reason):
        spot.check_order(btc, volume, price, market=market, reference_price=30000)
