"""Spot balances from two sources (REST snapshots and stream events) in whatever order they land."""

from __future__ import annotations

from loguru import logger

from foxtrot_binance.account_manager import AccountManager
from foxtrot_binance.market_kind import MarketKind
from foxtrot_hooks import AccountData


def manager() -> tuple[AccountManager, list[AccountData]]:
    emitted: list[AccountData] = []
    return AccountManager(MarketKind.SPOT, "BINANCE", emitted.append, lambda p: None, logger), emitted


def balance(**assets: tuple[float, float]) -> dict:
    return {"total": {a: t for a, (t, _) in assets.items()}, "used": {a: u for a, (_, u) in assets.items()}}


def shown(emitted: list[AccountData]) -> dict[str, tuple[float, float]]:
    return {a.accountid: (a.balance, a.frozen) for a in emitted}


def test_a_rest_snapshot_older_than_a_stream_event_does_not_undo_it():
    accounts, emitted = manager()
    accounts.apply_balance(balance(USDT=(100.0, 0.0), BTC=(1.0, 0.0)), full=True, as_of=100)
    accounts.apply_balance(balance(USDT=(80.0, 20.0)), full=False, as_of=200)  # an order locked 20
    accounts.apply_balance(balance(USDT=(100.0, 0.0), BTC=(2.0, 0.0)), full=True, as_of=150)  # late answer
    assert shown(emitted) == {"USDT": (80.0, 20.0), "BTC": (2.0, 0.0)}
    accounts.apply_balance(balance(USDT=(100.0, 0.0)), full=True, as_of=250)  # newer than both: wins
    assert shown(emitted) == {"USDT": (100.0, 0.0), "BTC": (0.0, 0.0)}


def test_an_asset_a_newer_event_showed_is_not_zeroed_by_an_older_snapshot():
    accounts, emitted = manager()
    accounts.apply_balance(balance(ETH=(3.0, 1.0)), full=False, as_of=300)
    accounts.apply_balance(balance(USDT=(5.0, 0.0)), full=True, as_of=290)
    assert shown(emitted) == {"ETH": (3.0, 1.0), "USDT": (5.0, 0.0)}


def test_updates_without_a_time_always_apply():
    accounts, emitted = manager()
    accounts.apply_balance(balance(USDT=(1.0, 0.0)), full=False, as_of=500)
    accounts.apply_balance(balance(USDT=(2.0, 0.0)), full=False)
    assert shown(emitted) == {"USDT": (2.0, 0.0)}
