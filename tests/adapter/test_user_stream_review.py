"""Review of the native user-data stream (user_socket / user_events / user_stream).

Each test reproduces, end to end over the embedded simulator (real adapter, real ccxt, real
sockets), a bug a review found. Each was first committed as a strict xfail; all are fixed and
the tests now guard the fixes.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from foxtrot_binance import BinanceSpotAdapter, BinanceUsdmAdapter
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_binance.simulator.ws_settings import settings_for
from foxtrot_hooks import Direction, Exchange, OrderRequest, OrderType, Status
from foxtrot_hooks.testing import RecordingEngine

from fake_ws_api import FakeWsApi
from spot_support import Harness, connect_setting
from test_spot_orders_e2e import best_bid
from test_usdm_e2e import mark

WAIT = 20.0


@pytest.fixture
def sim() -> Iterator[BinanceSimulator]:
    with BinanceSimulator(seed=77, tick_interval=None) as simulator:
        yield simulator


def connect(sim: BinanceSimulator, adapter_class: type = BinanceSpotAdapter, **extra: Any) -> Harness:
    engine = RecordingEngine()
    name = "BINANCE" if adapter_class is BinanceSpotAdapter else "BINANCE_USDM"
    adapter = adapter_class(engine, name)
    harness = Harness(sim, engine, adapter)
    adapter.connect(connect_setting(sim, **extra))
    harness.wait_log("User data stream connected", WAIT)
    return harness


_DELAY = re.compile(r"User data stream disconnected \(.*\); reconnecting in ([0-9.]+)s")


# -- 1. reconnect storm ---------------------------------------------------------------------
def test_a_flapping_user_socket_backs_off_instead_of_reconnecting_and_reconciling_in_a_loop(
    sim: BinanceSimulator, clean_binance_env, monkeypatch
):
    """Every user socket is closed by the server 0.5 s after it opened (a flapping proxy, a
    Binance front end in trouble). Each reopen costs a full REST reconciliation (open orders
    for every symbol: weight 80, balance 20, trades 20 per symbol ...). With a working
    backoff the delays grow; here each disconnect is followed by a delay drawn from
    [0, base] again, so the adapter reconnects and reconciles at the base rate forever and
    drains the request-weight budget its orders need."""
    settings = settings_for(sim.ctx)
    h = connect(sim, **{"Reconnect Delay": 0.1})
    try:
        # a resting order makes the reconciliation real work (open orders, trades of BTCUSDT)
        vt = h.send(0.01, round(best_bid(sim) - 100, 2))
        h.wait_status(vt, Status.NOTTRADED)
        monkeypatch.setattr(settings, "max_connection_age", 0.5)
        h.sim.faults.drop_streams("user")  # the next sockets are born with the short life

        def delays() -> list[float]:
            return [float(m.group(1)) for m in (_DELAY.search(msg) for msg in h.logs()) if m]

        h.wait(lambda e: len(delays()) >= 8, timeout=40)
        stream = h.adapter.client.user_stream
        assert stream.connections >= 6, "the socket did connect and reconcile each time"
        # after 7 consecutive short-lived connections the backoff ceiling should have grown
        # to at least 2**4 x base; as it is, every delay is drawn from [0, base] again
        assert max(delays()[5:8]) > 4 * 0.1, delays()
    finally:
        h.adapter.close()


# -- 2. a 418 ban answered on the spot WebSocket API ------------------------------------------
class BanningWsApi(FakeWsApi):
    """A spot ``/ws-api/v3`` that answers every ``userDataStream.subscribe.signature`` the way
    Binance does while the IP is banned (status 418, -1003, ``data.retryAfter``), and counts
    the attempts, or refuses the handshake itself with HTTP 418 and ``Retry-After``. The
    simulator now answers the first way during a REST ban (see test_order_safety_e2e.py::
    test_a_ban_the_websocket_api_shares_is_waited_out_without_knocking_again); it never
    refuses a handshake."""

    def __init__(self, banned_for_ms: int, refuse_handshake: bool = False) -> None:
        super().__init__()
        self.banned_for_ms = banned_for_ms
        self.refuse_handshake = refuse_handshake  # answer the upgrade itself with HTTP 418 + Retry-After
        self.attempts = 0
        self.retried: Any = None  # asyncio.Event, set on the second attempt

    async def __aenter__(self) -> BanningWsApi:
        import asyncio

        await super().__aenter__()
        self.retried = asyncio.Event()
        self.banned_until = int(time.time() * 1000) + self.banned_for_ms
        return self

    async def serve(self, request: Any) -> Any:
        import json

        from aiohttp import WSMsgType, web

        if self.refuse_handshake:
            self.attempts += 1
            if self.attempts >= 2:
                self.retried.set()
            retry_after = max(1, (self.banned_until - int(time.time() * 1000)) // 1000)
            return web.json_response(
                {"code": -1003, "msg": f"Way too much request weight used; IP banned until {self.banned_until}."},
                status=418, headers={"Retry-After": str(retry_after)},
            )
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                self.attempts += 1
                if self.attempts >= 2:
                    self.retried.set()
                request_id = json.loads(message.data)["id"]
                now = int(time.time() * 1000)
                await ws.send_str(json.dumps({"id": request_id, "status": 418, "error": {
                    "code": -1003,
                    "msg": f"Way too much request weight used; IP banned until {self.banned_until}. "
                           "Please use WebSocket Streams for live updates to avoid bans.",
                    "data": {"serverTime": now, "retryAfter": self.banned_until}}}))
        return ws


@pytest.mark.parametrize("refuse_handshake", [False, True], ids=["ws-api-reply", "handshake"])
def test_a_418_on_the_spot_subscription_waits_for_the_ban_to_end(clean_binance_env, refuse_handshake):
    """Binance bans an IP for REST and the WebSocket API alike and lengthens the ban of a
    client that keeps knocking ("2 minutes to 3 days"). Here the ban lasts 30 s; in 3 s the
    supervisor must not ask again (and the shared weight gate should know the ban)."""
    import asyncio

    from loguru import logger

    from foxtrot_binance.exchange_factory import create_exchange
    from foxtrot_binance.market_kind import MarketKind
    from foxtrot_binance.rate_limit import WeightGate
    from foxtrot_binance.settings import BinanceSettings
    from foxtrot_binance.user_socket import UserSocket
    from foxtrot_binance.user_stream import UserStream

    class Rest:
        def __init__(self) -> None:
            self.gate = WeightGate(6000, 0.2, lambda: int(time.time() * 1000))

    class Orders:
        rest = Rest()

        def active_orders(self) -> list[Any]:
            return []

    async def run() -> tuple[int, list[str], int]:
        async with BanningWsApi(banned_for_ms=30_000, refuse_handshake=refuse_handshake) as peer:
            settings = BinanceSettings.load(
                {"api_key": "k" * 64, "secret": "s" * 64, "base_url": peer.base_url}, env_file=None
            )
            exchange = create_exchange(MarketKind.SPOT, settings)
            socket = UserSocket(MarketKind.SPOT, exchange, None, heartbeat=5.0, proxy=None, log=logger)
            logs: list[str] = []
            orders = Orders()
            stream = UserStream(MarketKind.SPOT, socket, None, orders, None, 0.05, logs.append, logger)  # type: ignore[arg-type]
            task = asyncio.create_task(stream.run())
            try:
                # a second subscription attempt within 3 s of a 30 s ban is the bug
                try:
                    async with asyncio.timeout(3.0):
                        await peer.retried.wait()
                except TimeoutError:
                    pass
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await exchange.close()
            return peer.attempts, logs, orders.rest.gate.banned_until_ms

    attempts, logs, gate_banned_until = asyncio.run(run())
    assert attempts >= 1 and logs, logs
    assert attempts == 1, f"{attempts} subscription attempts during a 30 s ban: {logs[:4]}"
    assert gate_banned_until > int(time.time() * 1000), "the REST gate does not know about the ban"


# -- 3. liquidation / ADL fills (x=CALCULATED) -------------------------------------------------
@pytest.fixture
def usdm_sim() -> Iterator[BinanceSimulator]:
    with BinanceSimulator(seed=21, tick_interval=None) as simulator:
        yield simulator


def test_a_liquidation_fill_is_reported_as_a_trade(usdm_sim: BinanceSimulator, clean_binance_env):
    """The simulator has no liquidation engine, so Binance's documented event for a forced
    close ("CALCULATED - Liquidation Execution", client id autoclose-...) is handed to the
    live adapter's own event router on its I/O loop, exactly where the socket hands events.
    The position change arrives (ACCOUNT_UPDATE -> REST), but the fill that caused it does
    not: with no order of ours active there is no periodic reconciliation either, so the
    trader's trade blotter and PnL miss the liquidation until the next reconnect."""
    h = connect(usdm_sim, BinanceUsdmAdapter)
    try:
        client = h.adapter.client
        now = int(time.time() * 1000)
        event = {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": {
            "s": "BTCUSDT", "c": "autoclose-1700000000123456", "S": "SELL", "o": "LIQUIDATION", "f": "IOC",
            "q": "0.010", "p": "25000.00", "ap": "25010.00", "sp": "0", "x": "CALCULATED", "X": "FILLED",
            "i": 990001, "l": "0.010", "z": "0.010", "L": "25010.00", "N": "USDT", "n": "0.12505000",
            "T": now, "t": 880001, "b": "0", "a": "0", "m": False, "R": False, "wt": "CONTRACT_PRICE",
            "ot": "LIQUIDATION", "ps": "BOTH", "cp": False, "rp": "-12.3", "pP": False, "si": 0, "ss": 0,
            "V": "NONE", "pm": "NONE", "gtd": 0, "er": "0"}}

        async def inject() -> None:
            client.user_stream.router.apply(event)

        client.schedule(inject()).result(10)
        h.wait(lambda e: e.type == "eOrder." and e.data.orderid == "autoclose-1700000000123456")
        trade = h.wait(lambda e: e.type == "eTrade." and e.data.tradeid == "880001", timeout=3).data
        assert trade.volume == pytest.approx(0.01) and trade.price == pytest.approx(25010.0)
    finally:
        h.adapter.close()



# -- 4. a fill the stream lost, on an order the stream then completes ------------------------
def _until(condition: Any, timeout: float = WAIT) -> None:
    """Wait for a condition the simulator exposes no event for (polled, bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_partial_fill_the_stream_lost_is_recovered_when_the_order_completes(
    sim: BinanceSimulator, clean_binance_env, monkeypatch
):
    """The simulator's user stall loses what is published meanwhile (as a lossy peer, a frame
    that fails to decode, or an update the router drops on an exception would). The first
    partial fill is lost; the last fill arrives and the order becomes ALLTRADED with z=0.01.
    Nothing is active any more, so the periodic reconciliation never runs and the 0.004 fill
    is never reported: the trader's position (built from trades) is short by 0.004 BTC."""
    from foxtrot_binance import user_stream

    monkeypatch.setattr(user_stream, "RECONCILE_INTERVAL_S", 3600.0)  # the 60 s default must not fire mid-test
    h = connect(sim)
    try:
        price = round(best_bid(sim) - 100, 2)
        vt = h.send(0.01, price)
        h.wait_status(vt, Status.NOTTRADED)
        sim.faults.stall_streams(0.5, "user")
        sim.set_price("BTCUSDT", price, kind="spot", volume=0.004)  # lost by the stalled stream
        _until(lambda: float(h.sim_order(vt)["executedQty"]) == pytest.approx(0.004))
        _until(lambda: not sim.faults.stalled("user"))
        sim.set_price("BTCUSDT", price - 1, kind="spot")  # the rest: delivered
        done = h.wait_status(vt, Status.ALLTRADED)
        assert done.traded == pytest.approx(0.01)
        h.wait(lambda e: e.type == "eTrade." and sum(t.volume for t in h.trades(vt)) >= 0.01 - 1e-12, timeout=10)
        trades = h.trades(vt)
        assert len(trades) == len({t.tradeid for t in trades})
        assert h.adapter.client.orders.fill_audit.recoveries >= 1  # brought by the audit, not a reconnect
    finally:
        h.adapter.close()


# -- 5. a host handler that raises on the order update costs the fill in the same event ------
class RaisingEngine(RecordingEngine):
    """Records every event, then runs hooks synchronously in the emitting thread (a host whose
    ``put`` dispatches at once, and whose handler can raise)."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[Any] = []

    def put(self, event: Any) -> None:
        super().put(event)
        for hook in list(self.hooks):
            hook(event)


def test_a_failing_order_handler_does_not_cost_the_fill_of_the_same_event(
    sim: BinanceSimulator, clean_binance_env, monkeypatch
):
    """The ccxt.pro path fed orders and trades through separate watchers, and the order
    manager's own apply_orders keeps going past "a failing host handler". Here one raising
    order handler makes the router skip apply_trade for the same executionReport; the order
    is complete, so no periodic reconciliation ever brings the fill."""
    from foxtrot_binance import user_stream

    monkeypatch.setattr(user_stream, "RECONCILE_INTERVAL_S", 3600.0)
    engine = RaisingEngine()
    adapter = BinanceSpotAdapter(engine, "BINANCE")
    h = Harness(sim, engine, adapter)
    adapter.connect(connect_setting(sim))
    try:
        h.wait_log("User data stream connected", WAIT)
        price = round(best_bid(sim) - 100, 2)
        vt = h.send(0.01, price)
        h.wait_status(vt, Status.NOTTRADED)
        raised = threading.Event()

        def host_handler(event: Any) -> None:
            if (event.type == "eOrder." and event.data.vt_orderid == vt and event.data.status is Status.ALLTRADED
                    and not raised.is_set()):
                raised.set()
                raise RuntimeError("a strategy's on_order failed")

        engine.hooks.append(host_handler)
        sim.set_price("BTCUSDT", price - 1, kind="spot")
        h.wait_status(vt, Status.ALLTRADED)
        assert raised.wait(5)
        h.wait(lambda e: e.type == "eTrade." and e.data.vt_orderid == vt, timeout=10)
        assert sum(t.volume for t in h.trades(vt)) == pytest.approx(0.01)
    finally:
        adapter.close()




# -- 6. USDⓈ-M: a REST ban takes the private stream down with it ------------------------------
def _ban_usdm_ip(sim: BinanceSimulator) -> None:
    """Another client on this IP overdoes it: a 429, then a 418 (the simulator bans 120 s)."""
    import urllib.error
    import urllib.request

    sim.faults.exhaust_weight()
    statuses = []
    for _ in range(2):
        try:
            urllib.request.urlopen(f"{sim.base_url}/fapi/v1/ping", timeout=5).close()
            statuses.append(200)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
    assert statuses == [429, 418], statuses


def test_a_usdm_stream_drop_during_a_rest_ban_reconnects_on_the_still_valid_listen_key(
    usdm_sim: BinanceSimulator, clean_binance_env
):
    """The listenKey lives 60 minutes; the private stream host is not behind the REST weight
    limit. ccxt.pro reused the key for 20 minutes (the old supervisor deliberately kept it
    after a 429/418). The native socket asks REST for a key before every connect, so a
    network blip during a 418 ban (2 minutes to 3 days) leaves the trader blind: the resting
    order below fills and nothing is reported until the ban ends."""
    sim = usdm_sim
    h = connect(sim, BinanceUsdmAdapter, **{"Reconnect Delay": 0.05})
    try:
        price = round(mark(sim) - 500, 1)
        vt = h.adapter.send_order(
            OrderRequest("BTCUSDT", Exchange.BINANCEUSDM, Direction.LONG, OrderType.LIMIT, 0.01, price)
        )
        h.wait_status(vt, Status.NOTTRADED)
        _ban_usdm_ip(sim)
        sim.faults.drop_streams("user")  # a network blip while banned
        h.wait(lambda e: e.type == "eLog" and "User data stream disconnected" in e.data.msg)
        # the stream must come back while the ban lasts (its REST reconciliation may wait)
        h.wait(lambda e: e.type == "eLog" and ("User data stream subscribed" in e.data.msg
                                               or "User data stream reconnected" in e.data.msg), timeout=10)
        sim.set_price("BTCUSDT", price - 100, kind="usdm")  # the order fills at Binance: only the stream can say so
        done = h.wait_status(vt, Status.ALLTRADED, timeout=10)
        assert done.traded == pytest.approx(0.01)
    finally:
        h.adapter.close()



# -- 7. Binance's reason on an algo (conditional) order it refused -----------------------------
def test_an_algo_rejection_carries_binances_reason(usdm_sim: BinanceSimulator, clean_binance_env):
    """DESIGN: "a definite rejection pushes REJECTED with Binance's reason". The simulator never
    rejects an algo order after accepting it, so Binance's documented ALGO_UPDATE (with ``rm``)
    for the adapter's own resting stop is handed to the live router on the I/O loop."""
    from foxtrot_hooks import Offset

    sim = usdm_sim
    h = connect(sim, BinanceUsdmAdapter)
    try:
        price = mark(sim)
        opened = h.adapter.send_order(OrderRequest("BTCUSDT", Exchange.BINANCEUSDM, Direction.LONG, OrderType.MARKET, 0.02, 0))
        h.wait_status(opened, Status.ALLTRADED)
        trigger = round(price - 1000, 1)
        stop = h.adapter.send_order(
            OrderRequest("BTCUSDT", Exchange.BINANCEUSDM, Direction.SHORT, OrderType.STOP, 0.02, trigger, Offset.CLOSE)
        )
        resting = h.wait_status(stop, Status.NOTTRADED)
        algo_id = int(resting.extra["exchange_order_id"])
        now = int(time.time() * 1000)
        event = {"e": "ALGO_UPDATE", "T": now, "E": now, "o": {
            "caid": resting.orderid, "aid": algo_id, "at": "CONDITIONAL", "o": "STOP_MARKET", "s": "BTCUSDT",
            "S": "SELL", "ps": "BOTH", "f": "GTC", "q": "0.020", "X": "REJECTED", "ai": "", "ap": "0.00000",
            "aq": "0.000", "act": "0", "tp": str(trigger), "p": "0", "V": "EXPIRE_MAKER", "wt": "CONTRACT_PRICE",
            "pm": "NONE", "cp": False, "pP": False, "R": True, "tt": 0, "gtd": 0, "rm": "Reduce Only reject"}}
        client = h.adapter.client

        async def inject() -> None:
            client.user_stream.router.apply(event)

        client.schedule(inject()).result(10)
        rejected = h.wait_status(stop, Status.REJECTED)
        assert "Reduce Only reject" in rejected.extra["reason"], rejected.extra
    finally:
        h.adapter.close()
