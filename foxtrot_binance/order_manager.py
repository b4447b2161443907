"""Order lifecycle: submit exactly once, track to the end, report every fill exactly once.

The guarantees, and how they are kept:
* **No duplicate order.** The adapter mints the client order id and sends it as
  ``newClientOrderId``. A submission is never retried blindly: when its outcome is unknown
  (timeout, 5xx, dropped connection) the manager asks Binance for that client id, several
  times over a few seconds, and only if Binance has no trace of it is the order reported
  REJECTED. If the order surfaces later anyway, it is tracked again and a warning logged.
* **No lost order.** Every order is registered before anything is sent and stays tracked
  until a terminal state; after every user-stream (re)connect ``reconcile`` asks Binance for
  open orders, for every still-active tracked order by client id, and for trades since the
  last one seen.
* **Exactly-once fills.** Trades are keyed by (symbol, trade id) whatever the source (REST
  response, user stream, reconciliation).
* **Never backwards.** An update is applied only if it moves the order forward
  (``is_progress``); a late REST snapshot cannot undo a stream event.
* **Emitted objects are never mutated.** Each update builds a new OrderData; the previous one
  stays exactly as the host received it.

Thread model: ``send_order`` and ``cancel_order`` run on the host's thread, validate, register
and emit at once, then schedule the network part on the adapter's I/O loop; everything else
runs on that loop. The registry is guarded by a lock so both sides can read it.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from foxtrot_hooks import CancelRequest, Direction, Offset, OrderData, OrderRequest, Status, TradeData

from foxtrot_binance.binance_mappings import (
    BINANCE_TO_DIRECTION,
    ORDER_TYPE_SHAPES,
    SIDE_TO_BINANCE,
    TERMINAL_STATUSES,
    Outcome,
    as_float,
    classify_error,
    is_progress,
    order_type_from_binance,
    status_from_binance,
)
from foxtrot_binance.contract_manager import ContractManager, Instrument, InvalidOrderRequest
from foxtrot_binance.fill_audit import FillAudit
from foxtrot_binance.market_kind import MarketKind
from foxtrot_binance.order_ids import ClientOrderIdFactory
from foxtrot_binance.rate_limit import RequestNotSent, RequestThrottled

UNKNOWN_OUTCOME_CHECKS = (0.2, 0.5, 1.0, 2.0, 4.0)
"""Delays (s) between the by-client-id queries that settle an unknown submission outcome."""
ORDER_MAX_WAIT_S = 2.0
"""An order waits at most this long for request-weight budget; longer means REJECTED, unsent."""
CLOSING_OFFSETS = frozenset({Offset.CLOSE, Offset.CLOSETODAY, Offset.CLOSEYESTERDAY})
CLOSE_WAIT_S = 3.0
"""At close, how long submissions already on the wire may take to be answered."""
MAX_REMEMBERED_TRADES = 200_000
TRADE_PAGE = 1000
"""myTrades/userTrades page size; reconciliation pages on with fromId until a short page."""
MAX_TRADE_WINDOW_MS = 23 * 3_600_000
"""Binance serves at most 24 h of trades from a startTime alone."""


@dataclass
class _Tracked:
    order: OrderData  # the last emitted state; replaced, never mutated
    instrument: Instrument
    exchange_id: str | None = None
    in_flight: bool = False  # the submission has not been answered yet
    algo: bool = False  # a USDⓈ-M conditional order on the algo endpoint
    provisional_reject: bool = False  # REJECTED because Binance said twice it had no such order
    cancel_requested: bool = False  # cancel asked while the submission was still unanswered


@dataclass
class _SeenTrades:
    """Fills already reported, by (symbol, trade id) and the Binance order ids seen with it.

    A trade id is unique per symbol except in a self-trade, where both of the account's
    orders report the same id. So a repeat with a *different known* order id is the other
    side and is new; a repeat where either report lacks the order id (the fills of an order
    response carry none) is treated as the same fill: never report one twice."""

    orders: dict[tuple[str, str], set[str | None]] = field(default_factory=dict)
    order: deque[tuple[str, str]] = field(default_factory=deque)

    def add(self, key: tuple[str, str], order_id: str | None) -> bool:
        """True when this fill has not been seen yet."""
        seen = self.orders.get(key)
        if seen is not None:
            if order_id is None or None in seen or order_id in seen:
                return False
            seen.add(order_id)
            return True
        self.orders[key] = {order_id}
        self.order.append(key)
        if len(self.order) > MAX_REMEMBERED_TRADES:
            self.orders.pop(self.order.popleft(), None)
        return True


class OrderManager:
    def __init__(
        self,
        kind: MarketKind,
        adapter_name: str,
        contracts: ContractManager,
        on_order: Callable[[OrderData], None],
        on_trade: Callable[[TradeData], None],
        write_log: Callable[[str], None],
        log: Any,
    ) -> None:
        self.kind = kind
        self.adapter_name = adapter_name
        self.contracts = contracts
        self._on_order = on_order
        self._on_trade = on_trade
        self._write_log = write_log
        self._log = log
        self.ids = ClientOrderIdFactory()
        self._lock = threading.Lock()
        self._tracked: dict[str, _Tracked] = {}
        self._by_exchange_id: dict[str, str] = {}  # "SYMBOL:orderId" (ids are per symbol) -> client id
        self._seen_trades = _SeenTrades()
        self._trade_cursor: dict[str, int] = {}  # next trade id reconciliation reads, per symbol
        self._session_start_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
        self.fill_audit = FillAudit(self._recover_fills, log)
        self._background: set[asyncio.Task[Any]] = set()  # strong references until done
        self._submissions: set[asyncio.Task[Any]] = set()  # submissions awaiting Binance's answer
        # wired by the coordinator at connect
        self.rest: Any = None
        self.schedule: Callable[[Any], Any] | None = None  # run a coroutine on the I/O loop
        self.trading_enabled: Callable[[], str | None] = lambda: "not connected"
        self.reference_price: Callable[[Instrument], float | None] = lambda instrument: None
        self.hedge_mode: bool = False  # USDⓈ-M position mode, read at connect
        self.before_first_order: Callable[[Instrument], Any] | None = None  # per-symbol defaults (leverage ...)
        self.on_finished: Callable[[], None] | None = None  # an order reached a terminal state (loop)
        # refreshes balances/positions and names the symbols whose holdings moved (loop)
        self.symbols_with_activity: Callable[[], Awaitable[set[str]]] | None = None
        self._activity_pending: set[str] = set()  # named by symbols_with_activity, trades not read yet

    def start_session(self, exchange_now_ms: int) -> None:
        """Called at connect, on Binance's clock: fills stamped earlier belong to past sessions
        and are not replayed as new (except those of orders still open)."""
        self._session_start_ms = exchange_now_ms

    # -- host side (any thread) -------------------------------------------------------
    def send_order(self, req: OrderRequest) -> str:
        """Validate, register, emit SUBMITTING (or REJECTED) and schedule the submission."""
        client_id = self.ids.next()
        blocked = self.trading_enabled()
        if blocked:
            return self._reject_unsent(req.create_order_data(client_id, self.adapter_name), req.symbol, blocked)
        instrument = self.contracts.resolve(req.symbol) if req.exchange is self.kind.exchange else None
        if instrument is None:
            symbol = req.symbol
            reason = (
                f"unknown symbol {req.vt_symbol} for {self.adapter_name}"
                if req.exchange is self.kind.exchange
                else f"{req.vt_symbol}: {self.adapter_name} trades {self.kind.exchange.value} only"
            )
            return self._reject_unsent(req.create_order_data(client_id, self.adapter_name), symbol, reason)
        # the contract's Binance id, whichever spelling the host used (BTC/USDT, BTCUSDT.BINANCE)
        order = _with(req.create_order_data(client_id, self.adapter_name), symbol=instrument.id)
        order.datetime = datetime.now(timezone.utc)
        try:
            params = self._order_params(req, instrument, client_id)
        except InvalidOrderRequest as exc:
            return self._reject_unsent(order, instrument.id, str(exc), instrument)
        order = _with(order, price=params.price_float, volume=params.volume_float)
        with self._lock:
            self._tracked[client_id] = _Tracked(order=order, instrument=instrument, in_flight=True, algo=params.algo)
        self._on_order(order)
        assert self.schedule is not None
        scheduled = self.schedule(self._submit(client_id, params))
        if scheduled is not None and scheduled.done() and scheduled.exception() is not None:
            # the adapter closed between the check above and now: nothing was sent
            with self._lock:
                self._tracked[client_id].in_flight = False
            self._finish_rejected(client_id, "not sent: the adapter is closed")
        return order.vt_orderid

    def cancel_order(self, req: CancelRequest) -> None:
        """Ask Binance to cancel; the outcome arrives as an order event."""
        with self._lock:
            tracked = self._tracked.get(req.orderid)
        if tracked is None:
            self._write_log(f"Cancel {self.adapter_name}.{req.orderid}: no such order is known to this adapter")
            return
        if tracked.order.status in TERMINAL_STATUSES and not tracked.provisional_reject:
            self._write_log(
                f"Cancel {tracked.order.vt_orderid}: the order is already {tracked.order.status.value}, nothing to cancel"
            )
            return
        if self.schedule is None:
            self._write_log(f"Cancel {tracked.order.vt_orderid}: not connected")
            return
        self.schedule(self._cancel(req.orderid))

    def get_order(self, client_id: str) -> OrderData | None:
        with self._lock:
            tracked = self._tracked.get(client_id)
        return tracked.order if tracked else None

    def active_orders(self) -> list[OrderData]:
        with self._lock:
            return [t.order for t in self._tracked.values() if t.order.status not in TERMINAL_STATUSES]

    # -- validation -------------------------------------------------------------------
    @dataclass(frozen=True)
    class _Params:
        ccxt_symbol: str
        ccxt_type: str
        side: str
        amount: float
        price: float | None
        extra: dict[str, Any]
        price_float: float
        volume_float: float
        algo: bool = False

    def _order_params(self, req: OrderRequest, instrument: Instrument, client_id: str) -> OrderManager._Params:
        shape = ORDER_TYPE_SHAPES.get(req.type)
        if shape is None:
            raise InvalidOrderRequest(f"order type {req.type.value} is not supported by Binance")
        side = SIDE_TO_BINANCE.get(req.direction)
        if side is None:
            raise InvalidOrderRequest(f"direction must be LONG or SHORT, got {req.direction}")
        binance_type = "STOP_LOSS" if shape.stop and self.kind is MarketKind.SPOT else (
            "STOP_MARKET" if shape.stop else shape.ccxt_type.upper()
        )
        if instrument.order_types and binance_type not in instrument.order_types:
            raise InvalidOrderRequest(f"{instrument.id} does not accept {binance_type} orders at Binance")
        if shape.needs_price and not (req.price > 0):
            raise InvalidOrderRequest(f"{req.type.value} orders need a positive price, got {req.price}")
        is_market = shape.ccxt_type == "market"
        qty, price = self.contracts.check_order(
            instrument,
            req.volume,
            req.price if shape.needs_price else None,
            market=is_market,
            reference_price=self.reference_price(instrument) if not shape.needs_price else None,
            check_notional=not (self.kind is MarketKind.USDM and req.offset is Offset.CLOSE),
        )
        # ccxt sends "clientOrderId" as newClientOrderId, or as clientAlgoId on the algo endpoint
        extra: dict[str, Any] = {"clientOrderId": client_id}
        send_price: float | None = float(price) if price is not None and not is_market else None
        if shape.time_in_force and not is_market:
            extra["timeInForce"] = shape.time_in_force
        if shape.stop:
            extra["triggerPrice"] = float(price)  # type: ignore[arg-type]
        if self.kind is MarketKind.USDM:
            extra.update(self._position_params(req))
        return OrderManager._Params(
            ccxt_symbol=instrument.ccxt_symbol,
            ccxt_type=shape.ccxt_type,
            side=side,
            amount=float(qty),
            price=send_price,
            extra=extra,
            price_float=float(price) if price is not None else 0.0,
            volume_float=float(qty),
            algo=shape.stop and self.kind is MarketKind.USDM,
        )

    def _position_params(self, req: OrderRequest) -> dict[str, Any]:
        """How an offset is said to Binance futures, given the account's position mode.

        One-way mode: CLOSE means reduce-only. Hedge mode: the order names the position side
        it acts on; OPEN (or no offset) opens on the order's own side, CLOSE closes the
        opposite one (a sell CLOSE reduces the LONG position)."""
        if req.offset in (Offset.CLOSETODAY, Offset.CLOSEYESTERDAY):
            raise InvalidOrderRequest(f"offset {req.offset.value} does not exist at Binance; use CLOSE")
        closing = req.offset is Offset.CLOSE
        if not self.hedge_mode:
            return {"reduceOnly": True} if closing else {}
        long_side = (req.direction is Direction.LONG) != closing
        return {"positionSide": "LONG" if long_side else "SHORT"}

    def _reject_unsent(self, order: OrderData, symbol: str, reason: str, instrument: Instrument | None = None) -> str:
        rejected = _with(order, symbol=symbol, status=Status.REJECTED)
        rejected.datetime = datetime.now(timezone.utc)
        rejected.extra = {"reason": reason}
        if instrument is not None:
            with self._lock:
                self._tracked[order.orderid] = _Tracked(order=rejected, instrument=instrument)
        self._on_order(rejected)
        self._write_log(f"Order {rejected.vt_orderid} rejected, nothing sent: {reason}")
        return rejected.vt_orderid

    # -- I/O loop side ------------------------------------------------------------------
    async def _submit(self, client_id: str, params: OrderManager._Params) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._submissions.add(task)
            task.add_done_callback(self._submissions.discard)
        await self._submit_now(client_id, params)

    async def _submit_now(self, client_id: str, params: OrderManager._Params) -> None:
        import ccxt

        try:
            if self.before_first_order is not None:
                with self._lock:
                    tracked = self._tracked.get(client_id)
                # a close opens nothing, so leverage and margin type cannot hurt it; and a
                # setting Binance refuses (an existing cross position) must never trap a position
                if tracked is not None and tracked.order.offset not in CLOSING_OFFSETS:
                    await self.before_first_order(tracked.instrument)
            result = await self.rest.call(
                "create_order",
                params.ccxt_symbol,
                params.ccxt_type,
                params.side,
                params.amount,
                params.price,
                dict(params.extra),
                weight=1,
                idempotent=False,
                max_wait=ORDER_MAX_WAIT_S,
            )
        except RequestNotSent as exc:  # the gate refused, or the symbol's setup failed
            self._finish_rejected(client_id, f"not sent: {exc}")
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, ccxt.BaseError):
                self._log.opt(exception=exc).error("order {} submission crashed", client_id)
                await self._settle_unknown(client_id, f"{type(exc).__name__}: {exc}")
                return
            failure = classify_error(exc)
            if failure.outcome is Outcome.UNKNOWN:
                await self._settle_unknown(client_id, failure.reason)
            else:
                self._finish_rejected(client_id, failure.reason)
            return
        finally:
            with self._lock:
                tracked = self._tracked.get(client_id)
                if tracked is not None:
                    tracked.in_flight = False
        self.apply_order(result, fallback_client_id=client_id)
        for trade in result.get("trades") or []:
            self.apply_trade(trade, fallback_client_id=client_id)
        await self._cancel_if_requested(client_id)

    async def before_close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Closing: give submissions on the wire a moment to be answered, then name every order
        whose outcome is still unknown. Binance may have it; the host must not be left with a
        silent SUBMITTING (the next session's reconciliation adopts it if it exists)."""
        if self._submissions:
            await asyncio.wait(set(self._submissions), timeout=wait_s)
        with self._lock:
            unsettled = [t.order for t in self._tracked.values() if t.order.status is Status.SUBMITTING]
        for order in unsettled:
            self._write_log(
                f"Order {order.vt_orderid}: the adapter closed before Binance answered its submission; it may exist "
                f"at Binance with client order id {order.orderid}. Check it there, or connect again to reconcile it."
            )

    async def _cancel_if_requested(self, client_id: str) -> None:
        """A cancel asked while the submission was unanswered is sent once the order is known."""
        with self._lock:
            tracked = self._tracked.get(client_id)
        if tracked is not None and tracked.cancel_requested and tracked.order.status not in TERMINAL_STATUSES:
            tracked.cancel_requested = False
            await self._cancel(client_id)

    async def _settle_unknown(self, client_id: str, reason: str) -> None:
        """The submission may or may not have reached Binance: ask by client id, never resend."""
        import ccxt

        with self._lock:
            tracked = self._tracked.get(client_id)
        if tracked is None:
            return
        tracked.in_flight = False  # answered, if only with an error: a cancel may now follow the settling
        self._write_log(
            f"Order {tracked.order.vt_orderid}: submission outcome unknown ({reason}); "
            "checking Binance by client order id before anything else"
        )
        not_found = 0
        for delay in UNKNOWN_OUTCOME_CHECKS:
            if tracked.order.status is not Status.SUBMITTING:
                await self._cancel_if_requested(client_id)
                return  # the user stream already told us
            try:
                found = await self.rest.call(
                    "fetch_order", None, tracked.instrument.ccxt_symbol, _by_client_id(tracked, client_id), weight=4
                )
            except RequestThrottled:
                await asyncio.sleep(delay)
                continue
            except ccxt.OrderNotFound:
                not_found += 1  # a definite answer: Binance has no such order (yet)
                await asyncio.sleep(delay)
                continue
            except ccxt.BaseError as exc:  # no answer: proves nothing either way
                self._log.warning("order {}: status query failed: {}", client_id, classify_error(exc).reason)
                await asyncio.sleep(delay)
                continue
            self.apply_order(found, fallback_client_id=client_id)
            self._write_log(f"Order {tracked.order.vt_orderid}: found at Binance after the unknown outcome; tracking it")
            await self._cancel_if_requested(client_id)
            return
        if tracked.order.status is not Status.SUBMITTING:
            await self._cancel_if_requested(client_id)  # it surfaced during the last wait
            return
        if not_found >= 2:
            tracked.provisional_reject = True
            self._finish_rejected(
                client_id,
                f"submission failed ({reason}) and Binance answered {not_found} times that it has no order "
                f"with client id {client_id}",
            )
        else:
            self._write_log(
                f"Order {tracked.order.vt_orderid}: outcome still unknown, Binance could not be asked ({reason}); "
                "it stays SUBMITTING and is checked again at every reconciliation. Do not resend it."
            )

    def _finish_rejected(self, client_id: str, reason: str) -> None:
        with self._lock:
            tracked = self._tracked.get(client_id)
        if tracked is None or tracked.order.status in TERMINAL_STATUSES:
            return
        order = _with(tracked.order, status=Status.REJECTED)
        order.datetime = datetime.now(timezone.utc)
        order.extra = {**(tracked.order.extra or {}), "reason": reason}
        tracked.order = order
        self._on_order(order)
        self._write_log(f"Order {order.vt_orderid} rejected: {reason}")

    async def _cancel(self, client_id: str) -> None:
        import ccxt

        with self._lock:
            tracked = self._tracked.get(client_id)
        if tracked is None:
            return
        if tracked.in_flight or (tracked.order.status is Status.SUBMITTING and not tracked.provisional_reject):
            # Binance may not have the order yet: a cancel now could say "unknown order" and
            # be lost while the order then rests; send it once the submission is settled
            tracked.cancel_requested = True
            self._write_log(f"Cancel {tracked.order.vt_orderid}: will be sent as soon as the submission is answered")
            return
        try:
            result = await self.rest.call(
                "cancel_order",
                None if tracked.algo else tracked.exchange_id,
                tracked.instrument.ccxt_symbol,
                _by_client_id(tracked, client_id),
                weight=1,
                idempotent=False,
                max_wait=ORDER_MAX_WAIT_S,
            )
        except RequestThrottled as exc:
            self._write_log(f"Cancel {tracked.order.vt_orderid} not sent: {exc}")
            return
        except ccxt.BaseError as exc:
            failure = classify_error(exc)
            self._write_log(f"Cancel {tracked.order.vt_orderid} failed: {failure.reason}; checking the order")
            if tracked.provisional_reject:
                # Binance may still create it late: the cancel stands until it is seen or ends
                tracked.cancel_requested = True
            await self.refresh_order(client_id)
            return
        self.apply_order(result, fallback_client_id=client_id)

    async def refresh_order(self, client_id: str) -> None:
        """Re-read one order by client id and apply what Binance says."""
        import ccxt

        with self._lock:
            tracked = self._tracked.get(client_id)
        if tracked is None:
            return
        try:
            found = await self.rest.call(
                "fetch_order", None, tracked.instrument.ccxt_symbol, _by_client_id(tracked, client_id), weight=4
            )
        except ccxt.OrderNotFound:
            if not tracked.in_flight and tracked.order.status is Status.SUBMITTING:
                await self._settle_unknown(client_id, "no answer to the submission")
            return
        except ccxt.BaseError as exc:
            self._log.warning("order {}: refresh failed: {}", client_id, classify_error(exc).reason)
            return
        except RequestThrottled as exc:  # a paused gate: the next reconciliation asks again
            self._log.warning("order {}: refresh not sent: {}", client_id, exc)
            return
        self.apply_order(found, fallback_client_id=client_id)
        await self._cancel_if_requested(client_id)

    # -- applying what Binance says (loop) ----------------------------------------------
    def apply_order(self, data: dict[str, Any], fallback_client_id: str | None = None) -> None:
        """Apply one ccxt order structure (REST result or user-stream update)."""
        info = data.get("info") or {}
        if isinstance(info.get("o"), dict):  # futures ORDER_TRADE_UPDATE
            info = info["o"]
        algo = _is_algo_update(info)
        # a spot cancel reply's clientOrderId is the cancel request's own id; ours is origClientOrderId
        client_id = (
            info.get("origClientOrderId") or info.get("C") or data.get("clientOrderId") or info.get("c") or fallback_client_id
        )
        symbol_id = self._symbol_id(data, info)
        raw_id = data["id"] if data.get("id") is not None else None
        exchange_id = None if raw_id is None or symbol_id is None else _key(symbol_id, raw_id, algo)
        with self._lock:
            mapped = self._by_exchange_id.get(exchange_id) if exchange_id is not None else None
        # an id we already mapped wins (the order a conditional order triggered belongs to it),
        # but never over a client id this adapter minted itself
        if mapped and not (client_id and self.ids.is_ours(client_id) and client_id != mapped):
            client_id = mapped
        if not client_id:
            self._log.warning("order update without a client id ignored: {}", exchange_id)
            return
        raw_status = info.get("X") or info.get("status") or info.get("algoStatus")
        filled = as_float(data.get("filled"))
        if algo:
            actual = info.get("ai") or info.get("actualOrderId")
            if actual and symbol_id is not None:
                with self._lock:
                    self._by_exchange_id[_key(symbol_id, actual, False)] = client_id
            if (raw_status or "").upper() in {"TRIGGERING", "TRIGGERED", "FINISHED"}:
                # from here on the triggered order's own updates tell the truth (fills included)
                if actual:
                    self._follow_triggered(client_id, str(actual))
                return
        try:
            status = status_from_binance(raw_status, filled) if raw_status else _status_from_ccxt(data, filled)
        except ValueError as exc:
            self._log.warning("order {}: {}", client_id, exc)
            return
        with self._lock:
            tracked = self._tracked.get(client_id)
            if exchange_id is not None and not mapped:
                self._by_exchange_id[exchange_id] = client_id
        if tracked is None:
            tracked = self._adopt(client_id, data, info)
            if tracked is None:
                return
        if exchange_id is not None:
            tracked.exchange_id = exchange_id
        current = tracked.order
        if tracked.provisional_reject:
            tracked.provisional_reject = False
            self._write_log(
                f"Order {current.vt_orderid} exists at Binance after all (status {raw_status}); tracking it again"
            )
            current = _with(current, status=Status.SUBMITTING)
            current.extra = None
        if not is_progress(current.status, current.traded, status, filled):
            self._cancel_soon_if_requested(tracked, client_id)
            return
        order = _with(current, status=status, traded=max(filled, current.traded))
        timestamp = data.get("lastUpdateTimestamp") or data.get("timestamp")
        order.datetime = _utc(timestamp) if timestamp else datetime.now(timezone.utc)
        average = as_float(data.get("average"))
        extra = {k: v for k, v in (current.extra or {}).items() if k != "reason"}
        extra.update({"exchange_order_id": str(raw_id)} if raw_id is not None else {})
        if average:
            extra["average_price"] = average
        if status is Status.CANCELLED and raw_status and raw_status.upper().startswith("EXPIRED"):
            extra["expired"] = True
        if status is Status.REJECTED:
            extra["reason"] = info.get("r") or info.get("rejectReason") or info.get("rm") or "rejected by Binance"
        elif status is Status.CANCELLED and info.get("rm"):  # an algo order Binance cancelled or expired, and why
            extra["reason"] = info["rm"]
        order.extra = extra or None
        tracked.order = order
        # before the host sees it, so a raising handler cannot skip the bookkeeping
        self.fill_audit.on_order(
            client_id, tracked.instrument.id, order.traded, finished=status in TERMINAL_STATUSES,
            whole_life=self.ids.is_ours(client_id),
        )
        self._on_order(order)
        if status in TERMINAL_STATUSES and self.on_finished is not None:
            self.on_finished()
        self._cancel_soon_if_requested(tracked, client_id)

    def _cancel_soon_if_requested(self, tracked: _Tracked, client_id: str) -> None:
        """A cancel the trader asked while the submission was unsettled goes out as soon as the
        order is known at Binance, however it became known (the answer, the stream, the
        settling query, a reconciliation): otherwise the order would rest, and could fill,
        after the trader was told its cancel would be sent."""
        if not tracked.cancel_requested or tracked.in_flight or tracked.order.status is Status.SUBMITTING:
            return
        if tracked.order.status in TERMINAL_STATUSES and not tracked.provisional_reject:
            tracked.cancel_requested = False  # it ended anyway: nothing left to cancel
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # applied outside the loop (a unit test): nothing to schedule on
            return
        self._spawn(self._cancel_if_requested(client_id))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` on this loop, held until done (the loop keeps only a weak reference)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _symbol_id(self, data: dict[str, Any], info: dict[str, Any]) -> str | None:
        raw = info.get("symbol") or info.get("s")
        if isinstance(raw, str) and raw:
            return raw.upper()
        instrument = self.contracts.resolve(data.get("symbol") or "")
        return instrument.id if instrument else None

    def _follow_triggered(self, client_id: str, actual_id: str) -> None:
        """A conditional order triggered: read the order it became, so its fills and final
        state are known even when the stream missed them."""
        with self._lock:
            tracked = self._tracked.get(client_id)
        if tracked is None or tracked.order.status in TERMINAL_STATUSES or self.rest is None:
            return

        async def follow() -> None:
            import ccxt

            try:
                found = await self.rest.call("fetch_order", actual_id, tracked.instrument.ccxt_symbol, weight=1)
            except (ccxt.BaseError, RequestThrottled) as exc:  # the stream or the next reconciliation tells
                self._log.warning("order {}: triggered order {} unreadable: {}", client_id, actual_id, exc)
                return
            self.apply_order(found, fallback_client_id=client_id)

        self._spawn(follow())

    def _adopt(self, client_id: str, data: dict[str, Any], info: dict[str, Any]) -> _Tracked | None:
        """Start tracking an order this adapter did not place (another session, the web UI)."""
        symbol_id = info.get("symbol") or info.get("s")
        instrument = self.contracts.resolve(data.get("symbol") or "") or (
            self.contracts.by_id(symbol_id) if symbol_id else None
        )
        if instrument is None:
            self._log.info("order {} on a symbol this adapter does not trade ignored", client_id)
            return None
        side = (data.get("side") or info.get("side") or info.get("S") or "").upper()
        order = OrderData(
            adapter_name=self.adapter_name,
            symbol=instrument.id,
            exchange=self.kind.exchange,
            orderid=client_id,
            type=order_type_from_binance(info.get("type") or info.get("orderType") or info.get("o") or "LIMIT", info.get("timeInForce") or info.get("f")),
            direction=BINANCE_TO_DIRECTION.get(side),
            price=as_float(data.get("price")),
            volume=as_float(data.get("amount")),
            status=Status.SUBMITTING,
        )
        tracked = _Tracked(order=order, instrument=instrument, algo=_is_algo_update(info))
        with self._lock:
            existing = self._tracked.setdefault(client_id, tracked)
        return existing

    def apply_trade(self, data: dict[str, Any], fallback_client_id: str | None = None) -> None:
        """Emit one fill exactly once, whatever the source."""
        info = data.get("info") or {}
        if isinstance(info.get("o"), dict):
            info = info["o"]
        instrument = self.contracts.resolve(data.get("symbol") or "") or self.contracts.by_id(
            info.get("symbol") or info.get("s") or ""
        )
        trade_id = data.get("id") if data.get("id") is not None else info.get("t") or info.get("tradeId") or info.get("id")
        if instrument is None or trade_id is None:
            return
        key = (instrument.id, str(trade_id))
        exchange_order_id = str(data["order"]) if data.get("order") is not None else None
        if exchange_order_id is None and fallback_client_id is not None:
            exchange_order_id = self._order_id_of(fallback_client_id)  # fills of an order response
        # an execution's own client id (not a cancel request's): a fill, or a liquidation's autoclose-...
        client_id = info.get("c") if isinstance(info.get("c"), str) and info.get("x", "TRADE") in ("TRADE", "CALCULATED") else None
        with self._lock:
            mapped = self._by_exchange_id.get(_key(instrument.id, exchange_order_id, False)) if exchange_order_id else None
            if mapped is not None:
                client_id = mapped
            client_id = client_id or fallback_client_id or exchange_order_id
            if not self._seen_trades.add(key, exchange_order_id):
                return
            tracked = self._tracked.get(client_id or "")
        side = (data.get("side") or "").upper()
        timestamp = data.get("timestamp")
        trade = TradeData(
            adapter_name=self.adapter_name,
            symbol=instrument.id,
            exchange=self.kind.exchange,
            orderid=client_id or "",
            tradeid=str(trade_id),
            direction=BINANCE_TO_DIRECTION.get(side) if side else (tracked.order.direction if tracked else None),
            offset=tracked.order.offset if tracked else Offset.NONE,
            price=as_float(data.get("price")),
            volume=as_float(data.get("amount")),
            datetime=_utc(timestamp) if timestamp else datetime.now(timezone.utc),
        )
        if client_id:
            self.fill_audit.on_trade(client_id, trade.volume)
        fee = data.get("fee") or {}
        trade.extra = {
            "commission": as_float(fee.get("cost")),
            "commission_asset": fee.get("currency"),
            "maker": data.get("takerOrMaker") == "maker",
            "exchange_order_id": exchange_order_id,
        }
        self._on_trade(trade)

    def _order_id_of(self, client_id: str) -> str | None:
        """Binance's order id of a tracked (non-algo) order, if known."""
        with self._lock:
            tracked = self._tracked.get(client_id)
        if tracked is None or tracked.algo or tracked.exchange_id is None:
            return None
        return tracked.exchange_id.rsplit(":", 1)[-1]

    def apply_orders(self, orders: Iterable[dict[str, Any]]) -> None:
        for data in orders:
            try:
                self.apply_order(data)
            except Exception:  # one bad item (or a failing host handler) must not drop the rest
                self._log.exception("applying an order update failed")

    def apply_trades(self, trades: Iterable[dict[str, Any]]) -> None:
        for data in sorted(trades, key=lambda t: t.get("timestamp") or 0):
            try:
                self.apply_trade(data)
            except Exception:
                self._log.exception("applying a trade failed")

    # -- reconciliation (loop) ---------------------------------------------------------
    async def reconcile(self) -> None:
        """Bring every tracked order and every fill of this session up to date from REST.

        Called after connect and after every user-stream (re)connect, once the stream is
        live again, so anything that happened while it was down is recovered."""
        import ccxt

        # the market type is explicit: without a symbol ccxt would default to spot, whatever
        # the client's defaultType, and a futures adapter would reconcile spot orders
        market_type = {"type": self.kind.ccxt_default_type}
        weight = 80 if self.kind is MarketKind.SPOT else 40
        open_orders = await self.rest.call("fetch_open_orders", None, None, None, market_type, weight=weight)
        if self.kind is MarketKind.USDM:  # conditional orders live on the algo endpoint
            open_orders = open_orders + await self.rest.call(
                "fetch_open_orders", None, None, None, {**market_type, "trigger": True}, weight=40
            )
        self.apply_orders(open_orders)
        open_ids = {o.get("clientOrderId") for o in open_orders}
        with self._lock:
            stale = [
                cid
                for cid, t in self._tracked.items()
                if (t.order.status not in TERMINAL_STATUSES or t.provisional_reject)
                and cid not in open_ids
                and not t.in_flight
            ]
            symbols = {t.instrument.id for t in self._tracked.values()}
        for data in open_orders:
            instrument = self.contracts.resolve(data.get("symbol") or "")
            if instrument is not None:
                symbols.add(instrument.id)
        if self.symbols_with_activity is not None:
            # a fill of an order placed elsewhere (the web UI, another bot) on a symbol nothing
            # here tracks: with the stream up it is reported; missed while it was down, only
            # the balances or positions it moved point at its symbol. Such a symbol stays
            # pending until its trades were read, so a failed read is tried again next time.
            try:
                self._activity_pending |= await self.symbols_with_activity()
            except RequestThrottled as exc:
                self._log.warning("balance check before trade reconciliation skipped: {}", exc)
            except ccxt.BaseError as exc:
                self._log.warning("balance check before trade reconciliation failed: {}", classify_error(exc).reason)
            symbols |= self._activity_pending
        for client_id in stale:
            await self.refresh_order(client_id)
        for symbol_id in sorted(symbols):
            instrument = self.contracts.by_id(symbol_id)
            if instrument is None:
                continue
            try:
                await self._reconcile_trades(instrument)
                self._activity_pending.discard(symbol_id)
            except ccxt.BaseError as exc:
                self._log.warning("trade reconciliation for {} failed: {}", symbol_id, classify_error(exc).reason)
        await self._backfill_open_orders(open_orders)

    async def _reconcile_trades(self, instrument: Instrument) -> None:
        """Every fill of this session on ``instrument``, page by page with fromId.

        The cursor only moves here, never with live trades, so fills missed while the stream
        was down are read even if newer ones arrived since. Fills from before this session are
        not replayed (a restart must not look like new trading), except for orders still open:
        see _backfill_open_orders."""
        cursor = self._trade_cursor.get(instrument.id)
        while True:
            if cursor is None:
                now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
                since = max(self._session_start_ms, now_ms - MAX_TRADE_WINDOW_MS)
                trades = await self.rest.call("fetch_my_trades", instrument.ccxt_symbol, since, TRADE_PAGE, weight=20)
            else:
                trades = await self.rest.call(
                    "fetch_my_trades", instrument.ccxt_symbol, None, TRADE_PAGE, {"fromId": cursor}, weight=20
                )
            await self._learn_client_ids(trades, instrument)
            self.apply_trades(trades)
            ids = [int(t["id"]) for t in trades if str(t.get("id", "")).isdigit()]
            if ids:
                cursor = max(ids) + 1
                self._trade_cursor[instrument.id] = cursor
            if len(trades) < TRADE_PAGE or not ids:
                return

    async def _recover_fills(self, symbol_id: str) -> None:
        """FillAudit found an order whose trades fall short of its filled quantity."""
        instrument = self.contracts.by_id(symbol_id)
        if instrument is not None and self.rest is not None:
            await self._reconcile_trades(instrument)

    async def _backfill_open_orders(self, open_orders: list[dict[str, Any]]) -> None:
        """Fills of orders that were already partly filled before this session and are still
        open: the trader needs them to account for the order; read them by order id."""
        for data in open_orders:
            if not as_float(data.get("filled")) or data.get("id") is None:
                continue
            timestamp = data.get("timestamp") or 0
            if timestamp >= self._session_start_ms:
                continue  # placed in this session: _reconcile_trades has its fills
            instrument = self.contracts.resolve(data.get("symbol") or "")
            if instrument is None or data.get("info", {}).get("algoId") is not None:
                continue
            trades = await self.rest.call(
                "fetch_my_trades", instrument.ccxt_symbol, None, TRADE_PAGE, {"orderId": data["id"]}, weight=20
            )
            self.apply_trades(trades)

    async def _learn_client_ids(self, trades: list[dict[str, Any]], instrument: Instrument) -> None:
        """REST trades carry Binance's order id only; map unknown ones to client ids first."""
        import ccxt

        unknown = {str(t["order"]) for t in trades if t.get("order") is not None}
        with self._lock:
            unknown = {oid for oid in unknown if _key(instrument.id, oid, False) not in self._by_exchange_id}
        for exchange_id in sorted(unknown):
            try:
                found = await self.rest.call("fetch_order", exchange_id, instrument.ccxt_symbol, weight=4)
            except ccxt.BaseError:
                continue
            self.apply_order(found)


def _key(symbol_id: str, order_id: Any, algo: bool) -> str:
    """Binance numbers orders per symbol (and algo orders apart): the id alone is ambiguous."""
    return f"{symbol_id}:{'algo:' if algo else ''}{order_id}"


def _by_client_id(tracked: _Tracked, client_id: str) -> dict[str, Any]:
    """ccxt params that address an order by our client id (algo orders on their endpoint)."""
    return {"origClientOrderId": client_id, "trigger": True} if tracked.algo else {"origClientOrderId": client_id}


def _is_algo_update(info: dict[str, Any]) -> bool:
    return "caid" in info or "algoId" in info or "algoStatus" in info


def _with(order: OrderData, **changes: Any) -> OrderData:
    """A new OrderData with ``changes``; the original object is left untouched."""
    new = copy.copy(order)
    for name, value in changes.items():
        setattr(new, name, value)
    if "symbol" in changes:
        new.vt_symbol = f"{new.symbol}.{new.exchange.value}"
    new.extra = dict(order.extra) if order.extra else None
    return new


def _status_from_ccxt(data: dict[str, Any], filled: float) -> Status:
    status = (data.get("status") or "").lower()
    mapping = {"closed": "FILLED", "canceled": "CANCELED", "cancelled": "CANCELED", "expired": "EXPIRED", "rejected": "REJECTED"}
    return status_from_binance(mapping.get(status, "NEW"), filled)


def _utc(timestamp_ms: Any) -> datetime:
    return datetime.fromtimestamp(int(timestamp_ms) / 1000, tz=timezone.utc)

