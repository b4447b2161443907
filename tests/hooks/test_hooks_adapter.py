from __future__ import annotations

from datetime import datetime, timezone

import pytest

from foxtrot_hooks import (
    AccountData,
    AdapterInfo,
    BaseAdapter,
    Direction,
    Exchange,
    OrderData,
    PositionData,
    TickData,
    TradeData,
)
from foxtrot_hooks.testing import RecordingEngine


class DummyAdapter(BaseAdapter):
    default_name = "DUMMY"
    default_setting = {"API Key": "", "Nested": {"a": 1}}
    exchanges = [Exchange.LOCAL]

    def connect(self, setting): ...
    def close(self): ...
    def subscribe(self, req): ...
    def send_order(self, req):
        return ""
    def cancel_order(self, req): ...
    def query_account(self): ...
    def query_position(self): ...


NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_on_helpers_push_general_and_specific_events():
    engine = RecordingEngine()
    adapter = DummyAdapter(engine, "DUMMY")
    tick = TickData(adapter_name="DUMMY", symbol="S", exchange=Exchange.LOCAL, datetime=NOW)
    order = OrderData(adapter_name="DUMMY", symbol="S", exchange=Exchange.LOCAL, orderid="1")
    trade = TradeData(adapter_name="DUMMY", symbol="S", exchange=Exchange.LOCAL, orderid="1", tradeid="7")
    position = PositionData(adapter_name="DUMMY", symbol="S", exchange=Exchange.LOCAL, direction=Direction.NET)
    account = AccountData(adapter_name="DUMMY", accountid="USDT")
    adapter.on_tick(tick)
    adapter.on_order(order)
    adapter.on_trade(trade)
    adapter.on_position(position)
    adapter.on_account(account)
    assert [(e.type, e.data) for e in engine.events] == [
        ("eTick.", tick), ("eTick.S.LOCAL", tick),
        ("eOrder.", order), ("eOrder.DUMMY.1", order),
        ("eTrade.", trade), ("eTrade.S.LOCAL", trade),
        ("ePosition.", position), ("ePosition.S.LOCAL", position),
        ("eAccount.", account), ("eAccount.DUMMY.USDT", account),
    ]


def test_write_log_and_default_setting_copy():
    engine = RecordingEngine()
    adapter = DummyAdapter(engine, "MYDUMMY")
    adapter.write_log("connected")
    [log] = engine.of_type("eLog")
    assert (log.msg, log.adapter_name) == ("connected", "MYDUMMY")
    setting = DummyAdapter.get_default_setting()
    setting["Nested"]["a"] = 2
    assert DummyAdapter.default_setting["Nested"]["a"] == 1


def test_optional_methods_say_they_are_not_provided():
    adapter = DummyAdapter(RecordingEngine(), "DUMMY")
    with pytest.raises(NotImplementedError, match="DUMMY does not provide history"):
        adapter.query_history(None)


def test_base_adapter_is_abstract():
    with pytest.raises(TypeError):
        BaseAdapter(RecordingEngine(), "X")  # type: ignore[abstract]


def test_adapter_info_validates_and_is_frozen():
    info = AdapterInfo("DUMMY", DummyAdapter, None, [Exchange.LOCAL], "a dummy")
    assert info.exchanges == (Exchange.LOCAL,)
    with pytest.raises(AttributeError):
        info.name = "OTHER"  # type: ignore[misc]
    for bad_name in ("", "dummy", "Dummy", "1X", "A B"):
        with pytest.raises(ValueError, match="upper-case"):
            AdapterInfo(bad_name, DummyAdapter, None, [Exchange.LOCAL])
    with pytest.raises(TypeError, match="subclass"):
        AdapterInfo("DUMMY", object, None, [Exchange.LOCAL])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exchanges"):
        AdapterInfo("DUMMY", DummyAdapter, None, [])
    with pytest.raises(TypeError, match="exchanges"):
        AdapterInfo("DUMMY", DummyAdapter, None, ["BINANCE"])  # type: ignore[list-item]
