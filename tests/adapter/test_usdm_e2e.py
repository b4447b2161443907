"""The USDⓈ-M adapter end to end over the simulator: positions, modes, stops, funding, keys."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import foxtrot_binance.plugin
from foxtrot_binance import BinanceSpotAdapter, BinanceUsdmAdapter
from foxtrot_binance.endpoints import point_ccxt_at
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks import (
    CancelRequest,
    Direction,
    Exchange,
    Offset,
    OrderRequest,
    OrderType,
    PositionData,
    Product,
    Status,
)
from foxtrot_hooks.testing import AdapterContract, RecordingEngine

from spot_support import Harness, connect_setting

USDM = Exchange.BINANCEUSDM


class UsdmHarness(Harness):
    def order(
        self,
        direction: Direction,
        volume: float,
        order_type: OrderType = OrderType.MARKET,
        price: float = 0,
        offset: Offset = Offset.NONE,
        symbol: str = "BTCUSDT",
    ) -> str:
        return self.adapter.send_order(OrderRequest(symbol, USDM, direction, order_type, volume, price, offset))

    def filled(self, *args: Any, **kwargs: Any) -> str:
        vt = self.order(*args, **kwargs)
        self.wait_status(vt, Status.ALLTRADED)
        return vt

    def position(self, direction: Direction, volume: float, symbol: str = "BTCUSDT") -> PositionData:
        """Wait until the host's latest position of that side shows ``volume``."""

        def latest_matches(_event: Any) -> bool:
            mine = [p for p in self.engine.of_type("ePosition.") if p.symbol == symbol and p.direction is direction]
            return bool(mine) and mine[-1].volume == pytest.approx(volume)

        self.wait(latest_matches)
        return [p for p in self.engine.of_type("ePosition.") if p.symbol == symbol and p.direction is direction][-1]

    def sim_usdm_order(self, vt_orderid: str) -> list[dict[str, Any]]:
        client_id = vt_orderid.split(".", 1)[1]
        return [o for o in self.sim.orders("usdm") if o.get("clientOrderId") == client_id]


def mark(sim: BinanceSimulator, symbol: str = "BTCUSDT") -> float:
    import ccxt

    client = ccxt.binance({"enableRateLimit": False})
    point_ccxt_at(client, sim.base_url)
    return float(client.fapiPublicGetTickerBookTicker({"symbol": symbol})["bidPrice"])


@pytest.fixture
def sim() -> Iterator[BinanceSimulator]:
    with BinanceSimulator(seed=21, tick_interval=None) as simulator:
        yield simulator


def connect_usdm(sim: BinanceSimulator, **extra: Any) -> UsdmHarness:
    engine = RecordingEngine()
    adapter = BinanceUsdmAdapter(engine, "BINANCE_USDM")
    harness = UsdmHarness(sim, engine, adapter)
    adapter.connect(connect_setting(sim, **extra))
    harness.wait_log("User data stream connected")
    return harness


@pytest.fixture
def usdm(sim: BinanceSimulator, clean_binance_env) -> Iterator[UsdmHarness]:
    harness = connect_usdm(sim)
    yield harness
    harness.adapter.close()


def test_connect_pushes_perpetuals_margin_accounts_and_the_position_mode(usdm: UsdmHarness):
    contracts = {c.symbol: c for c in usdm.engine.of_type("eContract.")}
    assert "BTCUSDT" in contracts and all(c.product is Product.SWAP and c.exchange is USDM for c in contracts.values())
    assert contracts["BTCUSDT"].vt_symbol == "BTCUSDT.BINANCEUSDM" and contracts["BTCUSDT"].extra["min_notional"] > 0
    usdt = [a for a in usdm.engine.of_type("eAccount.") if a.accountid == "USDT"][-1]
    assert usdt.balance > 0 and {"wallet_balance", "unrealized_pnl"} <= set(usdt.extra)
    assert "Position mode: one-way" in usdm.logs()


def test_one_way_open_partial_add_reduce_flip_close(usdm: UsdmHarness):
    price = mark(usdm.sim)
    usdm.filled(Direction.LONG, 0.01)
    first = usdm.position(Direction.NET, 0.01)
    assert first.price > 0 and first.extra["position_side"] == "BOTH" and first.extra["mark_price"] > 0

    resting = usdm.order(Direction.LONG, 0.02, OrderType.LIMIT, round(price - 500, 1))
    usdm.wait_status(resting, Status.NOTTRADED)
    usdm.sim.set_price("BTCUSDT", round(price - 500, 1), kind="usdm", volume=0.01)
    usdm.wait_status(resting, Status.PARTTRADED)
    usdm.position(Direction.NET, 0.02)  # added 0.01 of 0.02
    usdm.sim.set_price("BTCUSDT", round(price - 600, 1), kind="usdm")
    usdm.wait_status(resting, Status.ALLTRADED)
    usdm.position(Direction.NET, 0.03)

    usdm.filled(Direction.SHORT, 0.01, offset=Offset.CLOSE)  # reduce-only
    usdm.position(Direction.NET, 0.02)
    usdm.filled(Direction.SHORT, 0.05)  # flip through zero
    usdm.position(Direction.NET, -0.03)
    usdm.filled(Direction.LONG, 0.03, offset=Offset.CLOSE)
    closed = usdm.position(Direction.NET, 0)
    assert closed.volume == 0
    trades = usdm.trades()
    assert len(trades) == len({t.tradeid for t in trades})


def test_reduce_only_that_would_open_is_rejected_with_binances_reason(usdm: UsdmHarness):
    vt = usdm.order(Direction.SHORT, 0.01, offset=Offset.CLOSE)
    rejected = usdm.wait_status(vt, Status.REJECTED)
    assert "-2022" in rejected.extra["reason"]


def test_offsets_that_do_not_exist_at_binance_are_rejected_locally(usdm: UsdmHarness):
    vt = usdm.order(Direction.LONG, 0.01, offset=Offset.CLOSETODAY)
    [order] = usdm.orders(vt)
    assert order.status is Status.REJECTED and "use CLOSE" in order.extra["reason"]
    assert usdm.sim_usdm_order(vt) == []


def test_hedge_mode_positions_per_side(usdm: UsdmHarness):
    usdm.adapter.set_position_mode(True)
    usdm.wait_log("Position mode set to hedge")
    usdm.adapter.set_position_mode(True)
    usdm.wait_log("Position mode is already hedge")
    usdm.filled(Direction.LONG, 0.02, offset=Offset.OPEN)
    usdm.filled(Direction.SHORT, 0.01, offset=Offset.OPEN)
    long_position = usdm.position(Direction.LONG, 0.02)
    short_position = usdm.position(Direction.SHORT, 0.01)
    assert long_position.extra["position_side"] == "LONG" and short_position.extra["position_side"] == "SHORT"
    vt = usdm.filled(Direction.SHORT, 0.02, offset=Offset.CLOSE)  # a sell CLOSE reduces LONG
    assert usdm.sim_usdm_order(vt)[0]["positionSide"] == "LONG"
    usdm.position(Direction.LONG, 0)
    usdm.position(Direction.SHORT, 0.01)


def test_conditional_stop_triggers_fills_and_is_cancellable(usdm: UsdmHarness):
    price = mark(usdm.sim)
    usdm.filled(Direction.LONG, 0.02)
    usdm.position(Direction.NET, 0.02)
    stop = usdm.order(Direction.SHORT, 0.02, OrderType.STOP, round(price - 1000, 1), Offset.CLOSE)
    usdm.wait_status(stop, Status.NOTTRADED)
    other = usdm.order(Direction.SHORT, 0.02, OrderType.STOP, round(price - 3000, 1), Offset.CLOSE)
    usdm.wait_status(other, Status.NOTTRADED)
    usdm.adapter.cancel_order(CancelRequest(other.split(".", 1)[1], "BTCUSDT", USDM))
    usdm.wait_status(other, Status.CANCELLED)

    usdm.sim.set_price("BTCUSDT", round(price - 1500, 1), kind="usdm")
    done = usdm.wait_status(stop, Status.ALLTRADED)
    assert done.traded == pytest.approx(0.02) and done.type is OrderType.STOP
    usdm.wait(lambda e: e.type == "eTrade." and e.data.vt_orderid == stop)
    usdm.position(Direction.NET, 0)


def test_leverage_and_margin_type_controls_including_no_need_to_change(usdm: UsdmHarness):
    usdm.adapter.set_leverage("BTCUSDT", 7)
    usdm.wait_log("Leverage on BTCUSDT set to 7x")
    usdm.adapter.set_margin_type("BTC/USDT", "isolated")
    usdm.wait_log("Margin type of BTCUSDT set to isolated")
    usdm.adapter.set_margin_type("BTCUSDT", "isolated")
    usdm.wait_log("Margin type of BTCUSDT is already isolated")
    usdm.filled(Direction.LONG, 0.01)
    position = usdm.position(Direction.NET, 0.01)
    assert position.extra["leverage"] == 7 and position.extra["margin_type"] == "isolated"
    with pytest.raises(ValueError, match="isolated' or 'cross'"):
        usdm.adapter.set_margin_type("BTCUSDT", "crossed")


def test_default_leverage_is_applied_before_the_first_order(sim: BinanceSimulator, clean_binance_env):
    harness = connect_usdm(sim, leverage=9)
    try:
        vt = harness.filled(Direction.LONG, 0.01)
        assert harness.sim_usdm_order(vt)
        harness.wait_log("Leverage on BTCUSDT set to 9x")
    finally:
        harness.adapter.close()


def test_funding_fee_reaches_the_account_and_the_log(usdm: UsdmHarness):
    usdm.filled(Direction.LONG, 0.05)
    usdm.position(Direction.NET, 0.05)
    before = [a for a in usdm.engine.of_type("eAccount.") if a.accountid == "USDT"][-1]
    usdm.sim.apply_funding("BTCUSDT", 0.01)
    usdm.wait_log("Funding fee applied")
    usdm.wait(lambda e: e.type == "eAccount." and e.data.accountid == "USDT" and e.data.extra["wallet_balance"] < before.extra["wallet_balance"])


def test_listen_key_expiry_while_an_order_fills(usdm: UsdmHarness):
    price = mark(usdm.sim)
    vt = usdm.order(Direction.LONG, 0.03, OrderType.LIMIT, round(price - 500, 1))
    usdm.wait_status(vt, Status.NOTTRADED)
    usdm.sim.faults.expire_listen_keys()
    usdm.sim.set_price("BTCUSDT", round(price - 500, 1), kind="usdm", volume=0.01)
    usdm.sim.set_price("BTCUSDT", round(price - 600, 1), kind="usdm")
    usdm.wait_log("User data stream reconnected")
    done = usdm.wait_status(vt, Status.ALLTRADED)
    assert done.traded == pytest.approx(0.03)
    usdm.wait(lambda e: e.type == "eTrade." and sum(t.volume for t in usdm.trades(vt)) >= 0.03 - 1e-12)
    trades = usdm.trades(vt)
    assert len(trades) == len({t.tradeid for t in trades}) and sum(t.volume for t in trades) == pytest.approx(0.03)
    usdm.position(Direction.NET, 0.03)


def test_lost_order_response_on_usdm(usdm: UsdmHarness):
    price = mark(usdm.sim)
    usdm.sim.faults.lose_next_order_response()
    vt = usdm.order(Direction.LONG, 0.01, OrderType.LIMIT, round(price - 500, 1))
    usdm.wait_log("submission outcome unknown")
    usdm.wait_status(vt, Status.NOTTRADED)
    assert len(usdm.sim_usdm_order(vt)) == 1


def test_spot_and_usdm_adapters_side_by_side_on_one_simulator(sim: BinanceSimulator, clean_binance_env):
    usdm = connect_usdm(sim)
    spot_engine = RecordingEngine()
    spot = BinanceSpotAdapter(spot_engine, "BINANCE")
    spot_h = Harness(sim, spot_engine, spot)
    spot.connect(connect_setting(sim))
    try:
        spot_h.wait_log("User data stream connected")
        spot_vt = spot_h.send(0.01, 1000)
        spot_h.wait_status(spot_vt, Status.NOTTRADED)
        usdm_vt = usdm.filled(Direction.LONG, 0.01)
        usdm.position(Direction.NET, 0.01)
        assert all(o.exchange is Exchange.BINANCE for o in spot_h.engine.of_type("eOrder."))
        assert all(o.exchange is USDM for o in usdm.engine.of_type("eOrder."))
        assert not spot_h.engine.of_type("ePosition.") and not spot_h.trades()
        assert usdm_vt.startswith("BINANCE_USDM.") and spot_vt.startswith("BINANCE.")
        assert spot_h.orders(spot_vt)[-1].status is Status.NOTTRADED
    finally:
        spot.close()
        usdm.adapter.close()


class TestBinanceUsdmLiveContract(AdapterContract):
    plugin = foxtrot_binance.plugin
    adapter_name = "BINANCE_USDM"

    def setup_method(self) -> None:
        self.sim = BinanceSimulator(seed=3, tick_interval=None).start()

    def teardown_method(self) -> None:
        self.sim.stop()

    def connect_setting(self) -> dict[str, Any]:
        return connect_setting(self.sim)


def test_user_stream_dropped_during_fills_on_usdm(usdm: UsdmHarness):
    price = mark(usdm.sim)
    vt = usdm.order(Direction.SHORT, 0.02, OrderType.LIMIT, round(price + 500, 1))
    usdm.wait_status(vt, Status.NOTTRADED)
    usdm.sim.faults.drop_streams("user")
    usdm.sim.set_price("BTCUSDT", round(price + 500, 1), kind="usdm", volume=0.01)
    usdm.sim.set_price("BTCUSDT", round(price + 600, 1), kind="usdm")
    usdm.wait_log("User data stream reconnected")
    usdm.wait_status(vt, Status.ALLTRADED)
    usdm.wait(lambda e: e.type == "eTrade." and sum(t.volume for t in usdm.trades(vt)) >= 0.02 - 1e-12)
    trades = usdm.trades(vt)
    assert len(trades) == len({t.tradeid for t in trades}) and sum(t.volume for t in trades) == pytest.approx(0.02)
    usdm.position(Direction.NET, -0.02)


def test_usdm_ticks_carry_mark_price_and_funding(sim: BinanceSimulator, clean_binance_env):
    from foxtrot_hooks import SubscribeRequest

    with BinanceSimulator(seed=4, tick_interval=0.05) as walking:
        engine = RecordingEngine()
        adapter = BinanceUsdmAdapter(engine, "BINANCE_USDM")
        h = UsdmHarness(walking, engine, adapter)
        adapter.subscribe(SubscribeRequest("BTCUSDT", USDM))
        adapter.connect({"Base URL": walking.base_url})
        try:
            event = h.wait(lambda e: e.type == "eTick.BTCUSDT.BINANCEUSDM" and (e.data.extra or {}).get("mark_price"))
            extra = event.data.extra
            assert extra["mark_price"] > 0 and "funding_rate" in extra and "next_funding_time" in extra
            assert event.data.bid_price_1 < event.data.ask_price_1
        finally:
            adapter.close()


def test_reconciliation_adopts_outside_futures_orders_and_never_spot_ones(usdm: UsdmHarness):
    """Orders placed elsewhere (the web UI, another bot) are tracked after a reconnect; the
    same account's spot orders never appear in the futures adapter."""
    import ccxt

    price = mark(usdm.sim)
    outside = ccxt.binance({"apiKey": usdm.sim.api_key, "secret": usdm.sim.api_secret, "enableRateLimit": False,
                            "options": {"fetchMarkets": {"types": ["spot", "linear"]}, "fetchCurrencies": False,
                                        "fetchMargins": False}})
    point_ccxt_at(outside, usdm.sim.base_url)
    outside.load_markets()
    outside.create_order("BTC/USDT:USDT", "limit", "buy", 0.01, round(price - 700, 1), {"clientOrderId": "web-futures-1"})
    outside.create_order("BTC/USDT", "limit", "buy", 0.01, 1000, {"clientOrderId": "web-spot-1"})
    usdm.sim.faults.drop_streams("user")
    usdm.wait_log("User data stream reconnected")
    adopted = usdm.wait_status("BINANCE_USDM.web-futures-1", Status.NOTTRADED)
    assert adopted.exchange is USDM and adopted.direction is Direction.LONG
    assert not usdm.orders("BINANCE_USDM.web-spot-1")


def test_usdm_contracts_carry_max_leverage(usdm: UsdmHarness):
    btc = [c for c in usdm.engine.of_type("eContract.") if c.symbol == "BTCUSDT"][0]
    assert btc.extra["max_leverage"] == 125 and btc.extra["min_notional"] == 100


def test_usdm_stalled_market_stream_is_replaced_by_the_watchdog(clean_binance_env):
    from foxtrot_hooks import SubscribeRequest

    with BinanceSimulator(seed=5, tick_interval=0.02) as walking:
        engine = RecordingEngine()
        adapter = BinanceUsdmAdapter(engine, "BINANCE_USDM")
        h = UsdmHarness(walking, engine, adapter)
        adapter.subscribe(SubscribeRequest("BTCUSDT", USDM))
        adapter.connect({"Base URL": walking.base_url, "Reconnect Delay": 0.05, "stale_after": 0.6})
        try:
            h.wait(lambda e: e.type == "eTick.BTCUSDT.BINANCEUSDM")
            walking.faults.stall_streams(30, "market")
            h.wait_log("reconnecting")
            walking.faults.clear()
            seen = len(engine.events)
            h.wait(lambda e: e.type == "eTick.BTCUSDT.BINANCEUSDM" and engine.events.index(e) >= seen)
        finally:
            adapter.close()


def test_the_listen_key_is_kept_alive_past_its_validity(sim: BinanceSimulator, clean_binance_env, monkeypatch):
    """Keys live 0.5 s here, renewed every 0.05 s: after 20 renewals (well past two
    lifetimes) the same socket still delivers a fill, and it never had to reconnect."""
    from foxtrot_binance import user_socket
    from foxtrot_binance.simulator.ws_settings import settings_for

    settings = settings_for(sim.ctx)
    monkeypatch.setattr(settings, "listen_key_ttl", 0.5)
    monkeypatch.setattr(settings, "housekeeping_interval", 0.01)
    monkeypatch.setattr(user_socket, "LISTEN_KEY_KEEPALIVE_S", 0.05)
    harness = connect_usdm(sim)
    try:
        harness.wait_log("User data stream connected")
        exchange = harness.adapter.client.exchange
        renewals = threading.Semaphore(0)
        renew = exchange.fapiPrivatePutListenKey

        async def counted(*args: Any, **kwargs: Any) -> Any:
            result = await renew(*args, **kwargs)
            renewals.release()
            return result

        exchange.fapiPrivatePutListenKey = counted
        for _ in range(20):
            assert renewals.acquire(timeout=10)
        vt = harness.filled(Direction.LONG, 0.01)
        harness.wait(lambda e: e.type == "eTrade." and e.data.vt_orderid == vt)
        assert harness.adapter.client.user_stream.connections == 1
        assert not any("User data stream disconnected" in m for m in harness.logs())
    finally:
        harness.adapter.close()


def test_market_orders_answered_filled_by_rest_leave_no_fill_gap_once_their_trades_arrive(usdm: UsdmHarness):
    """REST answers a USDⓈ-M market order FILLED with no trades; the stream's trade follows.
    The fill audit must see the gap close by itself, so ordinary orders cost no REST read."""
    orders = [usdm.filled(direction, 0.01) for direction in (Direction.LONG, Direction.SHORT, Direction.LONG)]
    for vt in orders:
        usdm.wait(lambda e, vt=vt: e.type == "eTrade." and sum(t.volume for t in usdm.trades(vt)) >= 0.01 - 1e-12)
    audit = usdm.adapter.client.orders.fill_audit

    async def read() -> tuple[list[str], int]:
        return audit.short_orders(), audit.recoveries

    assert usdm.adapter.client.schedule(read()).result(10) == ([], 0)
