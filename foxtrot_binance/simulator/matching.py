"""Spot matching engine: order validation, fills against the book, resting orders, balances.

User orders trade against the synthetic book (the rest of the market) when they take, and
rest outside it until the market trades through their price: a resting buy fills when the
last price falls to or below its limit, a sell when it rises to or above it, at the order's
own price (maker). Every state change publishes the executionReport and
outboundAccountPosition Binance would send, in the same loop step as the REST state change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from .accounts import ZERO, Account
from .auth import new_token
from .bus import StreamBus
from .errors import BinanceError, invalid_symbol, mandatory, new_order_rejected, order_missing, unknown_order
from .instruments import Instrument, Instruments, fmt
from .market import Fill, Market
from .order_state import OrderState
from .params import Params

SPOT_TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED", "PENDING_NEW")
COMMISSION = Decimal("0.001")
INSUFFICIENT = "Account has insufficient balance for requested action."


@dataclass
class SpotOrder(OrderState):
    open_statuses: ClassVar[tuple[str, ...]] = OPEN_STATUSES

    account: Account
    inst: Instrument
    order_id: int
    client_id: str
    side: str
    type: str
    tif: str
    qty: Decimal
    price: Decimal
    stop: Decimal
    quote_qty: Decimal
    time: int
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_time: int = 0
    working_time: int = -1
    locked: Decimal = ZERO  # what this order still holds locked (quote for buys, base for sells)
    triggered: bool = False
    list_id: int = -1

    @property
    def working(self) -> bool:
        return self.type not in STOP_TYPES or self.triggered


@dataclass
class SpotTrade:
    trade_id: int
    order: SpotOrder
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    maker: bool


@dataclass
class _Book:
    """One account's orders. ``open`` and ``by_client`` are indexes so a request costs the same
    after ten thousand orders as after ten: orders only ever go from open to closed, so
    ``open`` is pruned lazily wherever the status changed."""

    orders: dict[int, SpotOrder] = field(default_factory=dict)
    trades: list[SpotTrade] = field(default_factory=list)
    open: dict[int, SpotOrder] = field(default_factory=dict)
    by_client: dict[str, list[SpotOrder]] = field(default_factory=dict)

    def add(self, order: SpotOrder) -> None:
        self.orders[order.order_id] = order
        self.open[order.order_id] = order
        self.by_client.setdefault(order.client_id, []).append(order)

    def still_open(self) -> list[SpotOrder]:
        closed = [oid for oid, o in self.open.items() if not o.is_open]
        for oid in closed:
            del self.open[oid]
        return list(self.open.values())


class SpotEngine:
    """All spot orders of all accounts; runs on the simulator loop only."""

    def __init__(self, instruments: Instruments, markets: dict[str, Market], bus: StreamBus,
                 clock: Callable[[], int]) -> None:
        self._instruments = instruments
        self._markets = markets
        self._bus = bus
        self._clock = clock
        self._next_id = 1000
        self._event_seq = 1
        self._books: dict[str, _Book] = {}

    def _book(self, account: Account) -> _Book:
        book = self._books.get(account.api_key)
        if book is None:
            book = self._books[account.api_key] = _Book()
        return book

    # -- queries ------------------------------------------------------------------------
    def instrument(self, symbol: str | None) -> Instrument:
        if not symbol:
            raise mandatory("symbol")
        inst = self._instruments.get("spot", symbol)
        if inst is None:
            raise invalid_symbol()
        return inst

    def orders(self, account: Account, symbol: str | None = None) -> list[SpotOrder]:
        return [o for o in self._book(account).orders.values() if symbol is None or o.inst.symbol == symbol]

    def open_orders(self, account: Account, symbol: str | None = None) -> list[SpotOrder]:
        return [o for o in self._book(account).still_open() if symbol is None or o.inst.symbol == symbol]

    def trades(self, account: Account, symbol: str | None = None) -> list[SpotTrade]:
        return [t for t in self._book(account).trades if symbol is None or t.order.inst.symbol == symbol]

    def find(self, account: Account, symbol: str, order_id: int | None, client_id: str | None) -> SpotOrder:
        """By orderId, or by client id (the open order holding it, else the latest that had it)."""
        if order_id is None and client_id is None:
            raise BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        book = self._book(account)
        if order_id is not None:
            candidates = [book.orders[order_id]] if order_id in book.orders else []
        else:
            candidates = book.by_client.get(client_id or "", [])
        matches = [o for o in candidates if o.inst.symbol == symbol
                   and (order_id is None or o.order_id == order_id)
                   and (client_id is None or o.client_id == client_id)]
        if not matches:
            raise order_missing()
        return ([o for o in matches if o.is_open] or matches)[-1]

    # -- placing ------------------------------------------------------------------------
    def new_order(self, account: Account, p: Params, test: bool = False) -> tuple[SpotOrder, list[SpotTrade]]:
        inst = self.instrument(p.get("symbol"))
        side = p.enum("side", ("BUY", "SELL"), -1117, "Invalid side.")
        otype = p.req("type")
        if otype not in SPOT_TYPES:
            raise BinanceError(400, -1116, "Invalid orderType.")
        if otype not in inst.order_types:
            raise BinanceError(400, -1116, "Invalid orderType.")
        client_id = p.client_id("newClientOrderId") or ("web_" + new_token(22).lower())
        tif = "GTC"
        if otype in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
            tif = p.enum("timeInForce", ("GTC", "IOC", "FOK"), -1115, "Invalid timeInForce.")  # type: ignore[assignment]
        qty = p.dec("quantity")
        quote_qty = p.dec("quoteOrderQty")
        price = stop = ZERO
        if otype == "MARKET":
            if qty is None and quote_qty is None:
                raise BinanceError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
            if qty is not None and quote_qty is not None:
                raise BinanceError(400, -1106, "Parameter 'quoteOrderQty' sent when not required.")
        else:
            if qty is None:
                raise mandatory("quantity")
        if otype in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
            price = p.dec("price", required=True)  # type: ignore[assignment]
            inst.check_price(price)
        elif "price" in p:
            raise BinanceError(400, -1106, "Parameter 'price' sent when not required.")
        if otype in STOP_TYPES:
            stop = p.dec("stopPrice", required=True)  # type: ignore[assignment]
            inst.check_price(stop, "stopPrice")
        market = self._markets[inst.symbol]
        if qty is not None:
            inst.check_qty(qty, market=otype in ("MARKET", "STOP_LOSS", "TAKE_PROFIT"))
        if quote_qty is not None and quote_qty <= ZERO:
            raise BinanceError(400, -1013, "Filter failure: NOTIONAL")
        ref_price = price if price > ZERO else (stop if stop > ZERO else market.price)
        notional = quote_qty if quote_qty is not None else qty * ref_price  # type: ignore[operator]
        if inst.min_notional > ZERO and notional < inst.min_notional:
            raise BinanceError(400, -1013, "Filter failure: NOTIONAL")
        if any(o.is_open for o in self._book(account).by_client.get(client_id, ())):
            raise new_order_rejected("Duplicate order sent.")
        if otype == "LIMIT_MAKER":
            best = market.best_ask()[0] if side == "BUY" else market.best_bid()[0]
            if (side == "BUY" and market.to_ticks(price) >= best) or (side == "SELL" and market.to_ticks(price) <= best):
                raise new_order_rejected("Order would immediately match and take.")
        if otype in STOP_TYPES and self._stop_hit(otype, side, stop, market.price):  # type: ignore[arg-type]
            raise new_order_rejected("Stop price would trigger immediately.")
        lock_asset, lock_amount = self._lock_need(inst, side, otype, qty, price, quote_qty, market)  # type: ignore[arg-type]
        if lock_amount > account.balance(lock_asset).free:
            raise new_order_rejected(INSUFFICIENT)
        now = self._clock()
        self._next_id += 1
        order = SpotOrder(account, inst, self._next_id, client_id, side, otype, tif,  # type: ignore[arg-type]
                          qty if qty is not None else ZERO, price, stop, quote_qty or ZERO, now, update_time=now)
        if test:
            return order, []
        self._book(account).add(order)
        locks_now = otype not in ("MARKET",) and not (otype in ("STOP_LOSS", "TAKE_PROFIT") and side == "BUY")
        if locks_now:
            bal = account.balance(lock_asset)
            bal.free -= lock_amount
            bal.locked += lock_amount
            order.locked = lock_amount
        if order.working:
            order.working_time = now
        self._report(order, "NEW")
        if locks_now:
            self._account_position(account, [lock_asset])
        trades: list[SpotTrade] = []
        if order.working:
            trades = self._execute(order, market)
            market.settle()
            if trades:  # the taker moved the price: stops and resting orders it crossed react
                self.on_price(market, None)
                market.settle()
        return order, trades

    @staticmethod
    def _stop_hit(otype: str, side: str, stop: Decimal, last: Decimal) -> bool:
        if otype.startswith("STOP_LOSS"):
            return last <= stop if side == "SELL" else last >= stop
        return last >= stop if side == "SELL" else last <= stop

    def _lock_need(self, inst: Instrument, side: str, otype: str, qty: Decimal | None, price: Decimal,
                   quote_qty: Decimal | None, market: Market) -> tuple[str, Decimal]:
        if side == "SELL":
            if qty is None:  # market sell by quote amount: estimate from the bid side
                fills = _simulate(market, False, None, None, quote_qty)
                return inst.base, sum((market.q(f.lots) for f in fills), ZERO)
            return inst.base, qty
        if otype == "MARKET":
            if quote_qty is not None:
                return inst.quote, quote_qty
            fills = _simulate(market, True, None, market.to_lots(qty), None)  # type: ignore[arg-type]
            return inst.quote, sum((market.p(f.ticks) * market.q(f.lots) for f in fills), ZERO)
        if otype in ("STOP_LOSS", "TAKE_PROFIT"):
            return inst.quote, ZERO
        return inst.quote, qty * price  # type: ignore[operator]

    def _execute(self, order: SpotOrder, market: Market) -> list[SpotTrade]:
        """Take liquidity for a working order; rest, expire or finish it per its type/TIF."""
        kind = "MARKET" if order.type in ("MARKET", "STOP_LOSS", "TAKE_PROFIT") else "LIMIT"
        limit = None if kind == "MARKET" else market.to_ticks(order.price)
        if order.type == "LIMIT_MAKER":
            return []
        if kind == "LIMIT" and order.tif == "FOK":
            if market.liquidity(order.buy, limit) < market.to_lots(order.remaining):
                self._finish(order, "EXPIRED")
                return []
        max_lots = None if order.quote_qty > ZERO and order.qty == ZERO else market.to_lots(order.remaining)
        max_quote = order.quote_qty - order.cum_quote if max_lots is None else None
        if order.buy and kind == "MARKET" and max_quote is None and order.locked == ZERO:
            pass  # market buy by quantity: paid from free balance at fill time
        fills = market.take(order.buy, limit, max_lots, max_quote)
        trades = [self._fill(order, market, f, maker=False) for f in fills]
        if kind == "MARKET" or order.tif in ("IOC", "FOK"):
            if order.is_open:
                self._finish(order, "EXPIRED")
        return trades

    def _fill(self, order: SpotOrder, market: Market, fill: Fill, maker: bool) -> SpotTrade:
        """Book one fill: balances, order state, the tape, and the user events."""
        acct, inst = order.account, order.inst
        price, qty = market.p(fill.ticks), market.q(fill.lots)
        quote = price * qty
        trade_id = market.record_trade(fill.ticks, fill.lots, buyer_maker=(order.buy == maker))
        now = self._clock()
        base, quote_bal = acct.balance(inst.base), acct.balance(inst.quote)
        if order.buy:
            if order.locked > ZERO:
                release = min(order.locked, order.price * qty if order.price > ZERO else quote)
                order.locked -= release
                quote_bal.locked -= release
                quote_bal.free += release
            quote_bal.free -= quote
            commission, asset = _commission(qty, inst), inst.base
            base.free += qty - commission
        else:
            if order.locked > ZERO:
                release = min(order.locked, qty)
                order.locked -= release
                base.locked -= release
                base.free += release
            base.free -= qty
            commission, asset = _commission(quote, inst, quote=True), inst.quote
            quote_bal.free += quote - commission
        order.executed += qty
        order.cum_quote += quote
        order.update_time = now
        done = order.executed >= order.qty if order.qty > ZERO else order.cum_quote >= order.quote_qty - price * market.step
        if order.qty == ZERO and done:
            order.qty = order.executed
        order.status = "FILLED" if done else "PARTIALLY_FILLED"
        if done:
            self._release(order)
        acct.spot_update_time = now
        trade = SpotTrade(trade_id, order, price, qty, commission, asset, now, maker)
        self._book(acct).trades.append(trade)
        self._report(order, "TRADE", trade)
        self._account_position(acct, [inst.base, inst.quote])
        return trade

    def _release(self, order: SpotOrder) -> None:
        if order.locked <= ZERO:
            return
        asset = order.inst.quote if order.buy else order.inst.base
        bal = order.account.balance(asset)
        bal.locked -= order.locked
        bal.free += order.locked
        order.locked = ZERO

    def _finish(self, order: SpotOrder, status: str, cancel_client_id: str | None = None) -> None:
        order.status = status
        order.update_time = self._clock()
        had_lock = order.locked > ZERO
        self._release(order)
        self._report(order, status, cancel_client_id=cancel_client_id)
        if had_lock:
            asset = order.inst.quote if order.buy else order.inst.base
            self._account_position(order.account, [asset])

    # -- cancelling -----------------------------------------------------------------------
    def cancel(self, account: Account, p: Params) -> tuple[SpotOrder, str]:
        inst = self.instrument(p.get("symbol"))
        order = self.find(account, inst.symbol, p.int("orderId"), p.get("origClientOrderId"))
        if not order.is_open:
            raise unknown_order()
        cancel_id = p.client_id("newClientOrderId") or new_token(22)
        self._finish(order, "CANCELED", cancel_client_id=cancel_id)
        return order, cancel_id

    def cancel_all(self, account: Account, symbol: str) -> list[tuple[SpotOrder, str]]:
        out = []
        for order in self.open_orders(account, symbol):
            cancel_id = new_token(22)
            self._finish(order, "CANCELED", cancel_client_id=cancel_id)
            out.append((order, cancel_id))
        return out

    # -- the market moves ---------------------------------------------------------------
    def on_price(self, market: Market, volume_lots: int | None) -> None:
        """Trigger stops and fill resting orders the last price crossed (price-time priority)."""
        last = market.price
        candidates = [o for b in self._books.values() for o in b.still_open() if o.inst.symbol == market.symbol]
        for order in sorted((o for o in candidates if not o.working), key=lambda o: o.order_id):
            if self._stop_hit(order.type, order.side, order.stop, last):
                self._trigger(order, market)
        last, ticks = market.price, market.last_ticks  # triggered market orders may have moved it
        resting = [o for o in candidates if o.working and o.is_open and o.type not in ("MARKET", "STOP_LOSS", "TAKE_PROFIT")]
        buys = sorted((o for o in resting if o.buy and o.price >= last), key=lambda o: (-o.price, o.order_id))
        sells = sorted((o for o in resting if not o.buy and o.price <= last), key=lambda o: (o.price, o.order_id))
        for group in (buys, sells):
            budget = volume_lots
            for order in group:
                if budget is not None and budget <= 0:
                    break
                lots = market.to_lots(order.remaining)
                if budget is not None:
                    lots = min(lots, budget)
                    budget -= lots
                if lots > 0:
                    self._fill(order, market, Fill(market.to_ticks(order.price), lots), maker=True)
        market.last_ticks = ticks  # maker fills print at their own prices; the market stays where it moved

    def _trigger(self, order: SpotOrder, market: Market) -> None:
        order.triggered = True
        order.working_time = self._clock()
        if order.type in ("STOP_LOSS", "TAKE_PROFIT") and order.buy:
            need = sum((market.p(f.ticks) * market.q(f.lots) for f in
                        _simulate(market, True, None, market.to_lots(order.qty), None)), ZERO)
            if need > order.account.balance(order.inst.quote).free:
                self._finish(order, "EXPIRED")
                return
        self._execute(order, market)

    # -- events -------------------------------------------------------------------------
    def _report(self, order: SpotOrder, exec_type: str, trade: SpotTrade | None = None,
                cancel_client_id: str | None = None) -> None:
        inst, now = order.inst, self._clock()
        self._event_seq += 1
        event = {
            "e": "executionReport", "E": now, "s": inst.symbol,
            "c": cancel_client_id if cancel_client_id else order.client_id,
            "S": order.side, "o": order.type, "f": order.tif, "q": fmt(order.qty), "p": fmt(order.price),
            "P": fmt(order.stop), "F": "0.00000000", "g": order.list_id,
            "C": order.client_id if cancel_client_id else "", "x": exec_type, "X": order.status, "r": "NONE",
            "i": order.order_id, "l": fmt(trade.qty if trade else ZERO), "z": fmt(order.executed),
            "L": fmt(trade.price if trade else ZERO), "n": fmt(trade.commission) if trade else "0",
            "N": trade.commission_asset if trade else None, "T": trade.time if trade else order.update_time,
            "t": trade.trade_id if trade else -1, "I": self._event_seq, "w": order.is_open and order.working,
            "m": trade.maker if trade else False, "M": False, "O": order.time, "Z": fmt(order.cum_quote),
            "Y": fmt(trade.price * trade.qty if trade else ZERO), "Q": fmt(order.quote_qty),
            "W": order.working_time if order.working_time >= 0 else order.time, "V": "NONE",
        }
        if order.type in STOP_TYPES:
            event["d"] = 0
        self._bus.publish_user("spot", order.account.api_key, event)

    def _account_position(self, account: Account, assets: list[str]) -> None:
        now = self._clock()
        account.spot_update_time = now
        self._bus.publish_user("spot", account.api_key, {
            "e": "outboundAccountPosition", "E": now, "u": now,
            "B": [{"a": a, "f": fmt(account.balance(a).free), "l": fmt(account.balance(a).locked)}
                  for a in dict.fromkeys(assets)]})


def _commission(amount: Decimal, inst: Instrument, quote: bool = False) -> Decimal:
    return (amount * COMMISSION).quantize(Decimal("0.00000001"))


def _simulate(market: Market, buy: bool, limit: int | None, lots: int | None, quote: Decimal | None) -> list[Fill]:
    """What a taker would get, without consuming anything."""
    saved = dict(market._taken)
    try:
        return market.take(buy, limit, lots, quote)
    finally:
        market._taken = saved
