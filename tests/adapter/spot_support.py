"""Shared helpers for the spot adapter's end-to-end tests over the embedded simulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from foxtrot_binance import BinanceSpotAdapter
from foxtrot_hooks import Direction, Event, Exchange, OrderData, OrderRequest, OrderType, Status
from foxtrot_hooks.testing import RecordingEngine

WAIT = 15.0


class Harness:
    """A connected spot adapter, its recorded events and the simulator behind it."""

    def __init__(self, sim: Any, engine: RecordingEngine, adapter: BinanceSpotAdapter) -> None:
        self.sim = sim
        self.engine = engine
        self.adapter = adapter

    # -- waiting ----------------------------------------------------------------------
    def wait(self, predicate: Callable[[Event], bool], timeout: float = WAIT) -> Event:
        return self.engine.wait_for(predicate, timeout)

    def wait_log(self, text: str, timeout: float = WAIT) -> str:
        return self.wait(lambda e: e.type == "eLog" and text in e.data.msg, timeout).data.msg

    def wait_status(self, vt_orderid: str, status: Status, timeout: float = WAIT) -> OrderData:
        event = self.wait(
            lambda e: e.type == "eOrder." and e.data.vt_orderid == vt_orderid and e.data.status is status, timeout
        )
        return event.data

    def orders(self, vt_orderid: str) -> list[OrderData]:
        return [o for o in self.engine.of_type("eOrder.") if o.vt_orderid == vt_orderid]

    def trades(self, vt_orderid: str | None = None) -> list[Any]:
        return [t for t in self.engine.of_type("eTrade.") if vt_orderid is None or t.vt_orderid == vt_orderid]

    def logs(self) -> list[str]:
        return [log.msg for log in self.engine.of_type("eLog")]

    # -- acting -----------------------------------------------------------------------
    def send(
        self,
        volume: float,
        price: float = 0,
        order_type: OrderType = OrderType.LIMIT,
        direction: Direction = Direction.LONG,
        symbol: str = "BTCUSDT",
    ) -> str:
        return self.adapter.send_order(OrderRequest(symbol, Exchange.BINANCE, direction, order_type, volume, price))

    def sim_orders(self) -> list[dict[str, Any]]:
        return self.sim.orders("spot")

    def sim_order(self, vt_orderid: str) -> dict[str, Any]:
        client_id = vt_orderid.split(".", 1)[1]
        matches = [o for o in self.sim_orders() if o.get("clientOrderId") == client_id]
        assert len(matches) == 1, f"{len(matches)} simulator orders carry {client_id}"
        return matches[0]


def connect_setting(sim: Any, **extra: Any) -> dict[str, Any]:
    return {"API Key": sim.api_key, "Secret": sim.api_secret, "Base URL": sim.base_url, **extra}


@contextmanager
def connected(sim: Any, adapter_class: type = BinanceSpotAdapter, timeout: float = WAIT) -> Iterator[Harness]:
    """A keyed adapter of ``adapter_class`` connected to ``sim`` with its user stream up; closed after."""
    engine = RecordingEngine()
    adapter = adapter_class(engine, adapter_class.default_name)
    h = Harness(sim, engine, adapter)
    adapter.connect(connect_setting(sim))
    try:
        h.wait_log("User data stream connected", timeout=timeout)
        yield h
    finally:
        adapter.close()
