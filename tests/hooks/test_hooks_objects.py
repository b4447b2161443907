from __future__ import annotations

from datetime import datetime, timezone

from foxtrot_hooks import (
    EVENT_ACCOUNT,
    EVENT_CONTRACT,
    EVENT_LOG,
    EVENT_ORDER,
    EVENT_POSITION,
    EVENT_TICK,
    EVENT_TIMER,
    EVENT_TRADE,
    AccountData,
    CancelRequest,
    Direction,
    Exchange,
    Interval,
    LogData,
    Offset,
    OrderRequest,
    OrderType,
    PositionData,
    Product,
    Status,
    TickData,
    TradeData,
)
from foxtrot_hooks.objects import ContractData

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_enum_values_are_the_platforms():
    assert Direction.LONG.value == "LONG" and Direction.NET.value == "NET"
    assert Offset.NONE.value == "" and Offset.CLOSETODAY.value == "CLOSETODAY"
    assert [s.value for s in Status] == ["SUBMITTING", "NOTTRADED", "PARTTRADED", "ALLTRADED", "CANCELLED", "REJECTED"]
    assert [t.value for t in OrderType] == ["LIMIT", "MARKET", "STOP", "FAK", "FOK", "RFQ", "ETF"]
    assert Product.SWAP.value == "SWAP" and Product.SPOT.value == "SPOT"
    assert [i.value for i in Interval] == ["1m", "1h", "d", "w", "tick"]
    assert Exchange.BINANCE.value == "BINANCE" and Exchange.BINANCEUSDM.value == "BINANCEUSDM"
    assert Exchange.EUREX.value == "EUX"


def test_event_names_are_the_platforms():
    assert (EVENT_TICK, EVENT_TRADE, EVENT_ORDER, EVENT_POSITION, EVENT_ACCOUNT, EVENT_CONTRACT) == (
        "eTick.", "eTrade.", "eOrder.", "ePosition.", "eAccount.", "eContract.",
    )
    assert (EVENT_LOG, EVENT_TIMER) == ("eLog", "eTimer")


def test_vt_identifiers():
    tick = TickData(adapter_name="BINANCE", symbol="BTCUSDT", exchange=Exchange.BINANCE, datetime=NOW)
    assert tick.vt_symbol == "BTCUSDT.BINANCE"
    trade = TradeData(adapter_name="BINANCE", symbol="BTCUSDT", exchange=Exchange.BINANCE, orderid="o1", tradeid="t9")
    assert (trade.vt_orderid, trade.vt_tradeid) == ("BINANCE.o1", "BINANCE.t9")
    position = PositionData(adapter_name="BINANCE_USDM", symbol="BTCUSDT", exchange=Exchange.BINANCEUSDM, direction=Direction.NET)
    assert position.vt_positionid == "BINANCE_USDM.BTCUSDT.BINANCEUSDM.NET"
    account = AccountData(adapter_name="BINANCE", accountid="USDT", balance=10, frozen=4)
    assert (account.available, account.vt_accountid) == (6, "BINANCE.USDT")
    contract = ContractData(
        adapter_name="BINANCE", symbol="ETHBTC", exchange=Exchange.BINANCE, name="ETH/BTC",
        product=Product.SPOT, size=1, pricetick=0.00001,
    )
    assert contract.vt_symbol == "ETHBTC.BINANCE" and contract.min_volume == 1


def test_extra_is_not_a_constructor_argument_and_defaults_to_none():
    tick = TickData(adapter_name="A", symbol="X", exchange=Exchange.BINANCE, datetime=NOW)
    assert tick.extra is None
    tick.extra = {"depth": 5}
    assert tick.extra == {"depth": 5}


def test_order_request_to_order_data_and_cancel_request():
    req = OrderRequest("BTCUSDT", Exchange.BINANCE, Direction.SHORT, OrderType.FOK, 0.5, 30000, Offset.CLOSE, "strat-1")
    order = req.create_order_data("x-1", "BINANCE")
    assert order.status is Status.SUBMITTING and order.is_active()
    assert (order.vt_orderid, order.direction, order.type, order.offset, order.reference) == (
        "BINANCE.x-1", Direction.SHORT, OrderType.FOK, Offset.CLOSE, "strat-1",
    )
    assert order.create_cancel_request() == CancelRequest(orderid="x-1", symbol="BTCUSDT", exchange=Exchange.BINANCE)
    order.status = Status.ALLTRADED
    assert not order.is_active()


def test_log_time_is_timezone_aware_utc():
    log = LogData(adapter_name="BINANCE", msg="hello")
    assert log.time.tzinfo is not None and log.time.utcoffset().total_seconds() == 0
    assert log.level == 20
