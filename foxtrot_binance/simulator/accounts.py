"""Account state (balances, futures wallet, positions, settings); the engines hold the logic.

One ``Account`` per API key. State is plain data so tests can inspect it and so the spot and
futures engines stay the only places that change it (and publish the matching events).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)

DEFAULT_SPOT_BALANCES: dict[str, str] = {
    "USDT": "100000", "BTC": "10", "ETH": "100", "BNB": "500", "SOL": "1000", "XRP": "100000",
    "FDUSD": "50000", "USDC": "50000",
}
DEFAULT_FUTURES_BALANCES: dict[str, str] = {"USDT": "100000", "USDC": "50000"}


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


@dataclass
class Position:
    symbol: str
    side: str  # BOTH, LONG or SHORT
    amount: Decimal = ZERO  # signed for BOTH; LONG >= 0; SHORT <= 0
    entry: Decimal = ZERO
    realized: Decimal = ZERO
    update_time: int = 0


@dataclass
class FuturesWallet:
    balance: Decimal = ZERO
    update_time: int = 0


@dataclass
class Account:
    api_key: str
    spot: dict[str, Balance] = field(default_factory=dict)
    spot_update_time: int = 0
    usdm: dict[str, FuturesWallet] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    margin_type: dict[str, str] = field(default_factory=dict)  # CROSSED or ISOLATED
    dual_side: bool = False

    def balance(self, asset: str) -> Balance:
        bal = self.spot.get(asset)
        if bal is None:
            bal = self.spot[asset] = Balance()
        return bal

    def wallet(self, asset: str) -> FuturesWallet:
        w = self.usdm.get(asset)
        if w is None:
            w = self.usdm[asset] = FuturesWallet()
        return w

    def position(self, symbol: str, side: str) -> Position:
        pos = self.positions.get((symbol, side))
        if pos is None:
            pos = self.positions[(symbol, side)] = Position(symbol, side)
        return pos


def new_account(api_key: str, spot: dict[str, Any] | None, futures: dict[str, Any] | None, now: int) -> Account:
    acct = Account(api_key)
    for asset, amount in (spot if spot is not None else DEFAULT_SPOT_BALANCES).items():
        acct.spot[asset] = Balance(Decimal(str(amount)))
    acct.spot_update_time = now
    for asset, amount in (futures if futures is not None else DEFAULT_FUTURES_BALANCES).items():
        acct.usdm[asset] = FuturesWallet(Decimal(str(amount)), now)
    return acct
