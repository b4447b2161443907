"""The exchange core: instruments, markets, accounts and both matching engines, in one place.

Owns the background clock (random walk and periodic stream flushes) and the operations tests
drive (set_price, apply_funding). Everything here runs on the simulator loop; the public
``BinanceSimulator`` marshals calls from other threads onto it.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any

from . import streams
from .accounts import Account, new_account
from .context import SimContext
from .futures import FuturesEngine
from .instruments import KINDS, Instruments, Kind
from .market import Market
from .matching import SpotEngine

_USD_STABLE = {"USDT", "USDC", "FDUSD", "BUSD", "TUSD"}
LEVEL_USD = Decimal(30_000)


class Exchange:
    def __init__(self, ctx: SimContext, seed: int, symbols: list[str] | None, balances: dict[str, Any] | None,
                 tick_interval: float | None) -> None:
        self.ctx = ctx
        self.seed = seed
        self.tick_interval = tick_interval if tick_interval and tick_interval > 0 else None
        self.instruments = Instruments(symbols)
        self.start_ms = ctx.now_ms()
        self.markets: dict[Kind, dict[str, Market]] = {k: {} for k in KINDS}
        for kind in KINDS:
            for inst in self.instruments.all(kind):
                level_qty = LEVEL_USD / self._usd_price(inst.base)
                self.markets[kind][inst.symbol] = Market(inst, seed, self.start_ms, level_qty, ctx.bus, ctx.faults,
                                                         ctx.now_ms)
        self._balances = _split_balances(balances)
        self.spot = SpotEngine(self.instruments, self.markets["spot"], ctx.bus, ctx.now_ms)
        self.usdm = FuturesEngine(self.instruments, self.markets["usdm"], ctx.bus, ctx.now_ms)
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def _usd_price(asset: str) -> Decimal:
        if asset in _USD_STABLE:
            return Decimal(1)
        from .instruments import _data
        return Decimal(_data()["prices"].get(asset + "USDT", "100"))

    def new_account(self, api_key: str) -> Account:
        spot, futures = self._balances
        return new_account(api_key, spot, futures, self.ctx.now_ms())

    def market(self, kind: Kind, symbol: str) -> Market | None:
        return self.markets[kind].get(symbol)

    # -- the background clock -----------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        period = 0.1 if self.tick_interval is None else max(0.005, min(0.1, self.tick_interval))
        loop = asyncio.get_running_loop()
        next_walk = loop.time()
        while True:
            await asyncio.sleep(period)
            try:
                if self.tick_interval is not None and loop.time() >= next_walk:
                    next_walk = loop.time() + self.tick_interval
                    self.walk_all()
                self.flush_all(force=False)
            except Exception:  # noqa: BLE001 - a bug in one step must not stop the market
                import traceback
                traceback.print_exc()

    def walk_all(self) -> None:
        for kind in KINDS:
            for market in self.markets[kind].values():
                market.walk()
                market.settle()
                self._engine(kind).on_price(market, None)
                market.settle()

    def flush_all(self, force: bool) -> None:
        now = self.ctx.now_ms()
        for kind in KINDS:
            for market in self.markets[kind].values():
                market.flush(now, force)
            self._mini_arr(kind, now, force)

    def _mini_arr(self, kind: Kind, now: int, force: bool) -> None:
        bus = self.ctx.bus
        if not bus.wants(kind, "!miniTicker@arr"):
            return
        markets = list(self.markets[kind].values())
        if not markets:
            return
        first = markets[0]
        if first._is_due("!miniTicker@arr", 1000, now, force):
            bus.publish(kind, "!miniTicker@arr",
                        [streams.mini_ticker(m.inst, m.ticker_24h(now), now) for m in markets])

    def _engine(self, kind: Kind) -> Any:
        return self.spot if kind == "spot" else self.usdm

    # -- test controls ------------------------------------------------------------------
    def set_price(self, symbol: str, price: Decimal, kind: Kind | None, volume: Decimal | None) -> None:
        kinds = KINDS if kind is None else (kind,)
        found = False
        for k in kinds:
            market = self.markets[k].get(symbol)
            if market is None:
                continue
            found = True
            ticks = market.to_ticks(market.inst.round_price(price))
            lots = None if volume is None else market.to_lots(volume)
            market.move_to(ticks)
            market.settle()
            market.record_trade(ticks, max(1, lots or 1), buyer_maker=False)
            self._engine(k).on_price(market, lots)
            market.settle()
        if not found:
            raise ValueError(f"unknown symbol {symbol!r}")
        self.flush_all(force=True)

    def deposit(self, account: Account, asset: str, amount: Decimal, kind: Kind) -> None:
        """Credit (or, negative, debit) a wallet from outside trading: balanceUpdate / ACCOUNT_UPDATE."""
        now = self.ctx.now_ms()
        if kind == "spot":
            bal = account.balance(asset)
            bal.free += amount
            account.spot_update_time = now
            self.ctx.bus.publish_user("spot", account.api_key, {"e": "balanceUpdate", "E": now, "a": asset,
                                                                 "d": f"{amount:.8f}", "T": now})
            self.ctx.bus.publish_user("spot", account.api_key, {
                "e": "outboundAccountPosition", "E": now, "u": now,
                "B": [{"a": asset, "f": f"{bal.free:.8f}", "l": f"{bal.locked:.8f}"}]})
            return
        wallet = account.wallet(asset)
        wallet.balance += amount
        wallet.update_time = now
        self.ctx.bus.publish_user("usdm", account.api_key, {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {
            "m": "DEPOSIT" if amount >= 0 else "WITHDRAW",
            "B": [{"a": asset, "wb": f"{wallet.balance:.8f}", "cw": f"{wallet.balance:.8f}", "bc": f"{amount:.8f}"}],
            "P": []}})

    def apply_funding(self, symbol: str, rate: Decimal | None) -> None:
        market = self.markets["usdm"].get(symbol)
        if market is None:
            raise ValueError(f"unknown USD-M symbol {symbol!r}")
        if rate is not None:
            market.funding_rate = rate
        self.usdm.apply_funding(market, self.ctx.auth.accounts())


def _split_balances(balances: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    if balances is None:
        return None, None
    if "spot" in balances or "usdm" in balances:
        return balances.get("spot"), balances.get("usdm")
    return balances, None
