"""USD-M perpetual engine: orders, conditional (algo) orders, positions, margin, funding.

A deliberately simple cross-margin model that still answers every question a trader's code
asks: entry price (weighted on increase), realised PnL on reduction, unrealised PnL from the
mark price, initial margin = notional / leverage, and the rejections Binance gives for the
common mistakes (reduce-only that would increase, wrong position side, notional too small,
not enough margin, post-only that would take). Events (ORDER_TRADE_UPDATE, ACCOUNT_UPDATE,
ALGO_UPDATE) are published in the same loop step as the state change they describe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from . import futures_events as ev
from .accounts import ZERO, Account, Position
from .auth import new_token
from .bus import StreamBus
from .errors import BinanceError, invalid_symbol, mandatory, order_missing, unknown_order
from .instruments import Instrument, Instruments, fmt
from .market import Fill, Market
from .order_state import OrderState
from .params import Params

ORDER_TYPES = ("LIMIT", "MARKET")
ALGO_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET")
ALL_TYPES = ("LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
TAKER_FEE = Decimal("0.0004")
MAKER_FEE = Decimal("0.0002")
DEFAULT_LEVERAGE = 20
OPEN = ("NEW", "PARTIALLY_FILLED")
_E8 = Decimal("0.00000001")  # wallet and PnL arithmetic stays at Binance's 8 decimals


@dataclass
class FuturesOrder(OrderState):
    open_statuses: ClassVar[tuple[str, ...]] = OPEN

    account: Account
    inst: Instrument
    order_id: int
    client_id: str
    side: str
    position_side: str
    type: str
    orig_type: str
    tif: str
    qty: Decimal
    price: Decimal
    stop: Decimal
    reduce_only: bool
    close_position: bool
    working_type: str
    time: int
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_time: int = 0

    @property
    def avg(self) -> Decimal:
        return self.cum_quote / self.executed if self.executed else ZERO


@dataclass
class AlgoOrder:
    account: Account
    inst: Instrument
    algo_id: int
    client_id: str
    order_type: str
    side: str
    position_side: str
    tif: str
    qty: Decimal
    trigger: Decimal
    price: Decimal
    reduce_only: bool
    close_position: bool
    working_type: str
    time: int
    status: str = "NEW"
    update_time: int = 0
    trigger_time: int = 0
    actual: FuturesOrder | None = None

    @property
    def buy(self) -> bool:
        return self.side == "BUY"

    @property
    def is_open(self) -> bool:
        return self.status == "NEW"


@dataclass
class FuturesTrade:
    trade_id: int
    order: FuturesOrder
    price: Decimal
    qty: Decimal
    commission: Decimal
    realized: Decimal
    time: int
    maker: bool


class FuturesEngine:
    """All USD-M orders and positions of all accounts; runs on the simulator loop only."""

    def __init__(self, instruments: Instruments, markets: dict[str, Market], bus: StreamBus,
                 clock: Callable[[], int]) -> None:
        self._instruments = instruments
        self._markets = markets
        self._bus = bus
        self._clock = clock
        self._next_id = 8_389_765_000
        self._next_algo = 2_146_000
        self.orders_by_key: dict[str, dict[int, FuturesOrder]] = {}
        self.algos_by_key: dict[str, dict[int, AlgoOrder]] = {}
        self.trades_by_key: dict[str, list[FuturesTrade]] = {}

    # -- lookups ------------------------------------------------------------------------
    def instrument(self, symbol: str | None) -> Instrument:
        if not symbol:
            raise mandatory("symbol")
        inst = self._instruments.get("usdm", symbol)
        if inst is None:
            raise invalid_symbol()
        return inst

    def orders(self, account: Account, symbol: str | None = None) -> list[FuturesOrder]:
        return [o for o in self.orders_by_key.get(account.api_key, {}).values()
                if symbol is None or o.inst.symbol == symbol]

    def open_orders(self, account: Account, symbol: str | None = None) -> list[FuturesOrder]:
        return [o for o in self.orders(account, symbol) if o.is_open]

    def algos(self, account: Account, symbol: str | None = None) -> list[AlgoOrder]:
        return [a for a in self.algos_by_key.get(account.api_key, {}).values()
                if symbol is None or a.inst.symbol == symbol]

    def trades(self, account: Account, symbol: str | None = None) -> list[FuturesTrade]:
        return [t for t in self.trades_by_key.get(account.api_key, []) if symbol is None or t.order.inst.symbol == symbol]

    def find(self, account: Account, symbol: str, order_id: int | None, client_id: str | None) -> FuturesOrder:
        if order_id is None and client_id is None:
            raise BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        matches = [o for o in self.orders(account, symbol)
                   if (order_id is None or o.order_id == order_id) and (client_id is None or o.client_id == client_id)]
        if not matches:
            raise order_missing()
        open_ = [o for o in matches if o.is_open]
        return (open_ or matches)[-1]

    def find_algo(self, account: Account, algo_id: int | None, client_id: str | None) -> AlgoOrder:
        if algo_id is None and client_id is None:
            raise BinanceError(400, -1102, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!")
        matches = [a for a in self.algos(account)
                   if (algo_id is None or a.algo_id == algo_id) and (client_id is None or a.client_id == client_id)]
        if not matches:
            raise BinanceError(400, -2013, "Order does not exist.")
        return matches[-1]

    def leverage(self, account: Account, symbol: str) -> int:
        return account.leverage.get(symbol, DEFAULT_LEVERAGE)

    # -- margin -----------------------------------------------------------------------------
    def unrealized(self, account: Account, asset: str | None = None) -> Decimal:
        total = ZERO
        for pos in account.positions.values():
            m = self._markets.get(pos.symbol)
            if m is None or pos.amount == ZERO or (asset and m.inst.margin_asset != asset):
                continue
            total += (m.mark_price - pos.entry) * pos.amount
        return total

    def position_margin(self, account: Account, asset: str | None = None) -> Decimal:
        total = ZERO
        for pos in account.positions.values():
            m = self._markets.get(pos.symbol)
            if m is None or (asset and m.inst.margin_asset != asset):
                continue
            total += abs(pos.amount) * m.mark_price / self.leverage(account, pos.symbol)
        return total

    def order_margin(self, account: Account, asset: str | None = None) -> Decimal:
        total = ZERO
        for o in self.open_orders(account):
            if o.reduce_only or (asset and o.inst.margin_asset != asset):
                continue
            price = o.price if o.price > ZERO else self._markets[o.inst.symbol].price
            total += o.remaining * price / self.leverage(account, o.inst.symbol)
        return total

    def available(self, account: Account, asset: str) -> Decimal:
        wallet = account.wallet(asset).balance
        return wallet + self.unrealized(account, asset) - self.position_margin(account, asset) - \
            self.order_margin(account, asset)

    # -- placing ----------------------------------------------------------------------------
    def _position_side(self, account: Account, p: Params) -> str:
        ps = p.get("positionSide") or "BOTH"
        if ps not in ("BOTH", "LONG", "SHORT"):
            raise BinanceError(400, -4006, "Invalid position side.")
        if account.dual_side != (ps != "BOTH"):
            raise BinanceError(400, -4061, "Order's position side does not match user's setting.")
        return ps

    def _reducing_capacity(self, account: Account, symbol: str, side: str, ps: str) -> Decimal:
        """How much of an order on this side only reduces an existing position."""
        if ps == "BOTH":
            amt = account.position(symbol, "BOTH").amount
            if side == "SELL" and amt > ZERO:
                return amt
            if side == "BUY" and amt < ZERO:
                return -amt
            return ZERO
        if ps == "LONG" and side == "SELL":
            return account.position(symbol, "LONG").amount
        if ps == "SHORT" and side == "BUY":
            return -account.position(symbol, "SHORT").amount
        return ZERO

    def _check_common(self, account: Account, inst: Instrument, side: str, ps: str, qty: Decimal,
                      price: Decimal, reduce_only: bool, close_position: bool) -> None:
        closing = ps != "BOTH" and ((ps == "LONG") != (side == "BUY"))
        capacity = self._reducing_capacity(account, inst.symbol, side, ps)
        if reduce_only or closing:
            if capacity <= ZERO or (closing and qty > capacity and not close_position):
                raise BinanceError(400, -2022, "ReduceOnly Order is rejected.")
        notional = qty * price
        if not (reduce_only or close_position or closing) and inst.min_notional > ZERO and notional < inst.min_notional:
            raise BinanceError(400, -4164, f"Order's notional must be no smaller than {inst.min_notional.normalize():f} "
                                           "(unless you choose reduce only).")
        increase = max(ZERO, qty - capacity) if not (reduce_only or closing) else ZERO
        if increase > ZERO:
            need = increase * price / self.leverage(account, inst.symbol) + increase * price * TAKER_FEE
            if need > self.available(account, inst.margin_asset):
                raise BinanceError(400, -2019, "Margin is insufficient.")

    def new_order(self, account: Account, p: Params) -> FuturesOrder:
        inst = self.instrument(p.get("symbol"))
        side = p.enum("side", ("BUY", "SELL"), -1117, "Invalid side.")
        otype = p.req("type")
        if otype not in ALL_TYPES:
            raise BinanceError(400, -1116, "Invalid orderType.")
        if otype not in ORDER_TYPES:
            raise BinanceError(400, -4120, "Order type not supported for this endpoint. Please use the Algo Order "
                                           "API endpoints instead.")
        client_id = p.client_id("newClientOrderId") or new_token(22)
        ps = self._position_side(account, p)
        reduce_only = bool(p.bool("reduceOnly"))
        if reduce_only and ps != "BOTH":
            raise BinanceError(400, -1106, "Parameter 'reduceonly' sent when not required.")
        tif = "GTC"
        price = ZERO
        if otype == "LIMIT":
            tif = p.enum("timeInForce", ("GTC", "IOC", "FOK", "GTX", "GTD"), -1115, "Invalid timeInForce.")  # type: ignore[assignment]
            price = p.dec("price", required=True)  # type: ignore[assignment]
            inst.check_price(price)
        qty = p.dec("quantity", required=True)
        assert qty is not None
        inst.check_qty(qty, market=otype == "MARKET")
        market = self._markets[inst.symbol]
        if any(o.client_id == client_id for o in self.open_orders(account)):
            raise BinanceError(400, -4116, "ClientOrderId is duplicated.")
        ref = price if otype == "LIMIT" else market.price
        self._check_common(account, inst, side, ps, qty, ref, reduce_only, False)  # type: ignore[arg-type]
        if tif == "GTX":
            best = market.best_ask()[0] if side == "BUY" else market.best_bid()[0]
            ticks = market.to_ticks(price)
            if (side == "BUY" and ticks >= best) or (side == "SELL" and ticks <= best):
                raise BinanceError(400, -5022, "Due to the order could not be executed as maker, the Post Only order "
                                               "will be rejected. The order will not be recorded in the order history")
        order = self._create(account, inst, client_id, side, ps, otype, otype, tif, qty, price, ZERO,  # type: ignore[arg-type]
                             reduce_only, False, p.get("workingType") or "CONTRACT_PRICE")
        before = order.executed
        self._execute(order, market)
        market.settle()
        if order.executed > before:  # the taker moved the price: conditional and resting orders react
            self.on_price(market, None)
            market.settle()
        return order

    def _create(self, account: Account, inst: Instrument, client_id: str, side: str, ps: str, otype: str,
                orig_type: str, tif: str, qty: Decimal, price: Decimal, stop: Decimal, reduce_only: bool,
                close_position: bool, working_type: str) -> FuturesOrder:
        now = self._clock()
        self._next_id += 1
        order = FuturesOrder(account, inst, self._next_id, client_id, side, ps, otype, orig_type, tif, qty, price,
                             stop, reduce_only, close_position, working_type, now, update_time=now)
        self.orders_by_key.setdefault(account.api_key, {})[order.order_id] = order
        self._order_event(order, "NEW")
        return order

    def _execute(self, order: FuturesOrder, market: Market) -> None:
        if order.tif == "GTX":
            return
        limit = market.to_ticks(order.price) if order.type == "LIMIT" else None
        lots = market.to_lots(order.remaining)
        if order.reduce_only or order.close_position:
            lots = min(lots, market.to_lots(self._reducing_capacity(order.account, order.inst.symbol, order.side,
                                                                    order.position_side)))
        if order.tif == "FOK" and market.liquidity(order.buy, limit) < lots:
            self._finish(order, "EXPIRED")
            return
        for fill in market.take(order.buy, limit, lots, None):
            self._fill(order, market, fill, maker=False)
        if order.is_open and (order.type == "MARKET" or order.tif in ("IOC", "FOK") or
                              ((order.reduce_only or order.close_position) and
                               self._reducing_capacity(order.account, order.inst.symbol, order.side,
                                                       order.position_side) <= ZERO)):
            self._finish(order, "EXPIRED")

    def _fill(self, order: FuturesOrder, market: Market, fill: Fill, maker: bool) -> None:
        acct, inst = order.account, order.inst
        price, qty = market.p(fill.ticks), market.q(fill.lots)
        trade_id = market.record_trade(fill.ticks, fill.lots, buyer_maker=(order.buy == maker))
        now = self._clock()
        realized = self._apply_to_position(acct, inst.symbol, order.position_side, order.buy, price, qty, now)
        commission = (price * qty * (MAKER_FEE if maker else TAKER_FEE)).quantize(Decimal("0.00000001"))
        wallet = acct.wallet(inst.margin_asset)
        wallet.balance += realized - commission
        wallet.update_time = now
        order.executed += qty
        order.cum_quote += price * qty
        order.update_time = now
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        trade = FuturesTrade(trade_id, order, price, qty, commission, realized, now, maker)
        self.trades_by_key.setdefault(acct.api_key, []).append(trade)
        self._bus.publish_user("usdm", acct.api_key, ev.trade_lite(order, trade))
        self._order_event(order, "TRADE", trade)
        self._account_event(acct, "ORDER", [inst.symbol])

    def _apply_to_position(self, acct: Account, symbol: str, ps: str, buy: bool, price: Decimal, qty: Decimal,
                           now: int) -> Decimal:
        """Move the position by a fill; return the realised PnL of the part that reduced it."""
        pos = acct.position(symbol, ps)
        delta = qty if buy else -qty
        realized = ZERO
        if pos.amount == ZERO or (pos.amount > ZERO) == (delta > ZERO):
            new_amt = pos.amount + delta
            pos.entry = ((pos.entry * abs(pos.amount) + price * qty) / abs(new_amt)).quantize(_E8)
            pos.amount = new_amt
        else:
            closing = min(abs(pos.amount), qty)
            direction = Decimal(1) if pos.amount > ZERO else Decimal(-1)
            realized = ((price - pos.entry) * closing * direction).quantize(_E8)
            pos.amount += delta
            if pos.amount == ZERO:
                pos.entry = ZERO
            elif (pos.amount > ZERO) != (direction > ZERO):
                pos.entry = price  # flipped: the rest opened a new position at this price
        pos.realized += realized
        pos.update_time = now
        return realized

    def _finish(self, order: FuturesOrder, status: str) -> None:
        order.status = status
        order.update_time = self._clock()
        self._order_event(order, status)

    def modify(self, account: Account, p: Params) -> FuturesOrder:
        """PUT /fapi/v1/order: new price and quantity for an open LIMIT order (x=AMENDMENT)."""
        inst = self.instrument(p.get("symbol"))
        side = p.enum("side", ("BUY", "SELL"), -1117, "Invalid side.")
        order = self.find(account, inst.symbol, p.int("orderId"), p.get("origClientOrderId"))
        qty = p.dec("quantity", required=True)
        price = p.dec("price", required=True)
        assert qty is not None and price is not None
        if not order.is_open:
            raise unknown_order()
        if order.type != "LIMIT" or side != order.side:
            raise BinanceError(400, -4160, "Only limit orders on the same side can be modified.")
        inst.check_price(price)
        inst.check_qty(qty)
        if qty == order.qty and price == order.price:
            raise BinanceError(400, -5027, "No need to modify the order.")
        if qty <= order.executed:
            raise BinanceError(400, -2027, "Quantity is less than or equal to the executed quantity.")
        order.qty, order.price, order.update_time = qty, price, self._clock()
        self._order_event(order, "AMENDMENT")
        market = self._markets[inst.symbol]
        if order.tif != "GTX":
            self._execute(order, market)
            market.settle()
        return order

    # -- cancelling --------------------------------------------------------------------------
    def cancel(self, account: Account, p: Params) -> FuturesOrder:
        inst = self.instrument(p.get("symbol"))
        order = self.find(account, inst.symbol, p.int("orderId"), p.get("origClientOrderId"))
        if not order.is_open:
            raise unknown_order()
        self._finish(order, "CANCELED")
        return order

    def cancel_all(self, account: Account, symbol: str) -> None:
        for order in self.open_orders(account, symbol):
            self._finish(order, "CANCELED")
        for algo in self.algos(account, symbol):
            if algo.is_open:
                self._algo_finish(algo, "CANCELED")

    # -- conditional (algo) orders ---------------------------------------------------------------
    def new_algo(self, account: Account, p: Params) -> AlgoOrder:
        algo_type = p.req("algoType")
        if algo_type != "CONDITIONAL":
            raise BinanceError(400, -1130, "Data sent for parameter 'algoType' is not valid.")
        inst = self.instrument(p.get("symbol"))
        side = p.enum("side", ("BUY", "SELL"), -1117, "Invalid side.")
        otype = p.req("type")
        if otype not in ALGO_TYPES:
            raise BinanceError(400, -1116, "Invalid orderType.")
        client_id = p.client_id("clientAlgoId") or new_token(22)
        ps = self._position_side(account, p)
        reduce_only = bool(p.bool("reduceOnly"))
        close_position = bool(p.bool("closePosition"))
        trigger = p.dec("triggerPrice", required=True)
        assert trigger is not None
        inst.check_price(trigger, "triggerPrice")
        price = ZERO
        tif = "GTC"
        if otype in ("STOP", "TAKE_PROFIT"):
            price = p.dec("price", required=True)  # type: ignore[assignment]
            inst.check_price(price)
            tif = p.get("timeInForce") or "GTC"
        qty = p.dec("quantity") if not close_position else (p.dec("quantity") or ZERO)
        if qty is None:
            raise mandatory("quantity")
        if not close_position:
            inst.check_qty(qty, market=otype.endswith("MARKET"))
        market = self._markets[inst.symbol]
        working_type = p.get("workingType") or "CONTRACT_PRICE"
        if working_type not in ("CONTRACT_PRICE", "MARK_PRICE"):
            raise BinanceError(400, -1130, "Data sent for parameter 'workingType' is not valid.")
        if any(a.client_id == client_id and a.is_open for a in self.algos(account)):
            raise BinanceError(400, -4116, "ClientOrderId is duplicated.")
        if reduce_only or close_position:
            if self._reducing_capacity(account, inst.symbol, side, ps) <= ZERO and reduce_only:  # type: ignore[arg-type]
                raise BinanceError(400, -2022, "ReduceOnly Order is rejected.")
        elif inst.min_notional > ZERO and qty * (price or trigger) < inst.min_notional:
            raise BinanceError(400, -4164, f"Order's notional must be no smaller than {inst.min_notional.normalize():f} "
                                           "(unless you choose reduce only).")
        ref = market.mark_price if working_type == "MARK_PRICE" else market.price
        if _algo_hit(otype, side, trigger, ref):  # type: ignore[arg-type]
            raise BinanceError(400, -2021, "Order would immediately trigger.")
        now = self._clock()
        self._next_algo += 1
        algo = AlgoOrder(account, inst, self._next_algo, client_id, otype, side, ps, tif, qty, trigger, price,  # type: ignore[arg-type]
                         reduce_only, close_position, working_type, now, update_time=now)
        self.algos_by_key.setdefault(account.api_key, {})[algo.algo_id] = algo
        self._algo_event(algo)
        return algo

    def cancel_algo(self, account: Account, p: Params) -> AlgoOrder:
        algo = self.find_algo(account, p.int("algoId"), p.get("clientAlgoId"))
        if not algo.is_open:
            raise BinanceError(400, -2011, "Unknown order sent.")
        self._algo_finish(algo, "CANCELED")
        return algo

    def _algo_finish(self, algo: AlgoOrder, status: str) -> None:
        algo.status = status
        algo.update_time = self._clock()
        self._algo_event(algo)

    def _trigger(self, algo: AlgoOrder, market: Market) -> None:
        acct = algo.account
        algo.trigger_time = self._clock()
        algo.status = "TRIGGERED"
        qty = algo.qty
        if algo.close_position or algo.reduce_only:
            capacity = self._reducing_capacity(acct, algo.inst.symbol, algo.side, algo.position_side)
            qty = capacity if algo.close_position else min(qty, capacity)
        if qty <= ZERO:
            self._algo_finish(algo, "EXPIRED")
            return
        otype = "MARKET" if algo.order_type.endswith("MARKET") else "LIMIT"
        order = self._create(acct, algo.inst, algo.client_id, algo.side, algo.position_side, otype, algo.order_type,
                             algo.tif, qty, algo.price, algo.trigger, algo.reduce_only, algo.close_position,
                             algo.working_type)
        algo.actual = order
        self._algo_event(algo)
        self._execute(order, market)
        if not order.is_open:
            self._algo_finish(algo, "FINISHED")

    # -- the market moves ---------------------------------------------------------------------
    def on_price(self, market: Market, volume_lots: int | None) -> None:
        symbol = market.symbol
        last, mark = market.price, market.mark_price
        for algo in sorted((a for by in self.algos_by_key.values() for a in by.values()
                            if a.is_open and a.inst.symbol == symbol), key=lambda a: a.algo_id):
            ref = mark if algo.working_type == "MARK_PRICE" else last
            if _algo_hit(algo.order_type, algo.side, algo.trigger, ref):
                self._trigger(algo, market)
        last = market.price  # triggered market orders may have moved it
        resting = [o for by in self.orders_by_key.values() for o in by.values()
                   if o.is_open and o.inst.symbol == symbol and o.type == "LIMIT"]
        buys = sorted((o for o in resting if o.buy and o.price >= last), key=lambda o: (-o.price, o.order_id))
        sells = sorted((o for o in resting if not o.buy and o.price <= last), key=lambda o: (o.price, o.order_id))
        ticks = market.last_ticks
        for group in (buys, sells):
            budget = volume_lots
            for order in group:
                if budget is not None and budget <= 0:
                    break
                lots = market.to_lots(order.remaining)
                if order.reduce_only:
                    lots = min(lots, market.to_lots(self._reducing_capacity(order.account, symbol, order.side,
                                                                            order.position_side)))
                    if lots <= 0:
                        self._finish(order, "EXPIRED")
                        continue
                if budget is not None:
                    lots = min(lots, budget)
                    budget -= lots
                if lots > 0:
                    self._fill(order, market, Fill(market.to_ticks(order.price), lots), maker=True)
        market.last_ticks = ticks
        for algo in (a for by in self.algos_by_key.values() for a in by.values()
                     if a.status == "TRIGGERED" and a.actual is not None and not a.actual.is_open):
            self._algo_finish(algo, "FINISHED")

    def apply_funding(self, market: Market, accounts: Iterable[Account]) -> None:
        rate, mark = market.funding_rate, market.mark_price
        now = self._clock()
        for acct in accounts:
            changed = False
            for pos in list(acct.positions.values()):
                if pos.symbol != market.symbol or pos.amount == ZERO:
                    continue
                payment = (-pos.amount * mark * rate).quantize(Decimal("0.00000001"))
                wallet = acct.wallet(market.inst.margin_asset)
                wallet.balance += payment
                wallet.update_time = now
                changed = True
            if changed:
                self._account_event(acct, "FUNDING_FEE", [market.symbol])

    # -- settings ---------------------------------------------------------------------------
    def set_leverage(self, account: Account, symbol: str, leverage: int) -> dict[str, Any]:
        inst = self.instrument(symbol)
        if not 1 <= leverage <= 125:
            raise BinanceError(400, -4028, f"Leverage {leverage} is not valid")
        account.leverage[inst.symbol] = leverage
        now = self._clock()
        self._bus.publish_user("usdm", account.api_key, {"e": "ACCOUNT_CONFIG_UPDATE", "E": now, "T": now,
                                                         "ac": {"s": inst.symbol, "l": leverage}})
        return {"leverage": leverage, "maxNotionalValue": str(_max_notional(leverage)), "symbol": inst.symbol}

    def set_margin_type(self, account: Account, symbol: str, margin_type: str) -> None:
        inst = self.instrument(symbol)
        if margin_type not in ("ISOLATED", "CROSSED"):
            raise BinanceError(400, -4044, "The margin type is invalid.")
        if account.margin_type.get(inst.symbol, "CROSSED") == margin_type:
            raise BinanceError(400, -4046, "No need to change margin type.")
        if any(p.amount != ZERO for p in account.positions.values() if p.symbol == inst.symbol):
            raise BinanceError(400, -4048, "Margin type cannot be changed if there exists position.")
        if self.open_orders(account, inst.symbol):
            raise BinanceError(400, -4047, "Margin type cannot be changed if there exists open orders.")
        account.margin_type[inst.symbol] = margin_type

    def set_dual_side(self, account: Account, dual: bool) -> None:
        if account.dual_side == dual:
            raise BinanceError(400, -4059, "No need to change position side.")
        if any(p.amount != ZERO for p in account.positions.values()):
            raise BinanceError(400, -4068, "Position side cannot be changed if there exists position.")
        if self.open_orders(account) or any(a.is_open for a in self.algos(account)):
            raise BinanceError(400, -4067, "Position side cannot be changed if there exists open orders.")
        account.dual_side = dual

    # -- events -------------------------------------------------------------------------------
    def _order_event(self, order: FuturesOrder, exec_type: str, trade: FuturesTrade | None = None) -> None:
        self._bus.publish_user("usdm", order.account.api_key, ev.order_trade_update(order, exec_type, trade, self._clock()))

    def _account_event(self, acct: Account, reason: str, symbols: list[str]) -> None:
        self._bus.publish_user("usdm", acct.api_key, ev.account_update(acct, reason, symbols, self._markets, self._clock()))

    def _algo_event(self, algo: AlgoOrder) -> None:
        self._bus.publish_user("usdm", algo.account.api_key, ev.algo_update(algo, self._clock()))

    # -- views for tests --------------------------------------------------------------------------
    def order_views(self, account: Account) -> list[dict[str, Any]]:
        from .futures_views import order_view
        return [order_view(o) for o in self.orders(account)]

    def balance_views(self, account: Account) -> dict[str, dict[str, str]]:
        return {a: {"walletBalance": fmt(w.balance, 8), "availableBalance": fmt(self.available(account, a), 8)}
                for a, w in account.usdm.items()}

    def position_views(self, account: Account) -> list[dict[str, Any]]:
        from .futures_views import position_risk
        return [position_risk(self, account, pos) for pos in account.positions.values() if pos.amount != ZERO]


def _algo_hit(order_type: str, side: str, trigger: Decimal, price: Decimal) -> bool:
    if order_type.startswith("STOP"):
        return price >= trigger if side == "BUY" else price <= trigger
    return price <= trigger if side == "BUY" else price >= trigger


def _max_notional(leverage: int) -> int:
    for lev, cap in ((125, 50_000), (100, 600_000), (50, 3_000_000), (20, 12_000_000), (10, 70_000_000),
                     (5, 100_000_000), (4, 230_000_000), (3, 480_000_000), (2, 600_000_000), (1, 800_000_000)):
        if leverage >= lev:
            return cap
    return 800_000_000
