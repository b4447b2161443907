"""Exactly-once fills around self-trades: which repeats of a trade id are new fills."""

from __future__ import annotations

from foxtrot_binance.order_manager import _SeenTrades


def test_a_repeat_is_new_only_when_both_reports_name_different_orders():
    seen = _SeenTrades()
    key = ("BTCUSDT", "42")
    assert seen.add(key, "1001")  # our taker order's fill
    assert not seen.add(key, "1001")  # the same fill again (stream, then REST)
    assert seen.add(key, "1002")  # our resting order's side of the same self-trade
    assert not seen.add(key, "1002")
    assert not seen.add(key, None)  # a report without the order id could be either: never twice


def test_a_fill_first_seen_without_its_order_id_is_never_reported_again():
    seen = _SeenTrades()
    key = ("BTCUSDT", "7")
    assert seen.add(key, None)  # an order response's fill: no order id in it
    assert not seen.add(key, "1001")
    assert not seen.add(key, "1002")
