"""Binance user-data events -> the order and account managers.

The order manager speaks ccxt's order and trade structures, because REST answers (creation,
queries, reconciliation) arrive in that shape. Stream events are translated here into the
few fields it reads, with the raw event kept as ``info`` exactly as ccxt keeps it, so an
update means the same thing whichever path brought it. The translation is a handful of dict
lookups: ccxt.pro's full parse of an executionReport (markets, safe_* accessors, Precise
arithmetic, caches) cost about 0.6 ms per order on the I/O loop that the order path shares.

Events that need no action (``TRADE_LITE``, ``balanceUpdate``, which Binance always follows
with an ``outboundAccountPosition``, ``listStatus``) are ignored. Events that end the
subscription (``eventStreamTerminated``, ``listenKeyExpired``, ``serverShutdown``) are
reported to the caller, which reconnects and reconciles.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from foxtrot_binance.account_manager import AccountManager
from foxtrot_binance.binance_mappings import as_float
from foxtrot_binance.logs import OccasionalLog
from foxtrot_binance.market_kind import MarketKind
from foxtrot_binance.order_manager import OrderManager

Event = dict[str, Any]

ENDING_EVENTS = {
    "eventStreamTerminated": "Binance terminated the user data subscription",
    "listenKeyExpired": "the listenKey expired",
    "serverShutdown": "Binance is shutting the stream's server down",
}
FILL_EXECUTIONS = frozenset({"TRADE", "CALCULATED"})
"""Execution types that carry a fill: a trade, and on USDⓈ-M a liquidation or ADL execution."""
IGNORED_EVENTS = frozenset({"TRADE_LITE", "balanceUpdate", "listStatus", "externalLockUpdate", "ACCOUNT_CONFIG_UPDATE"})


class UserEventRouter:
    """Applies one decoded user-data event. Runs on the I/O loop, like the managers."""

    def __init__(
        self,
        kind: MarketKind,
        orders: OrderManager,
        accounts: AccountManager,
        currency_code: Callable[[str], str],
        write_log: Callable[[str], None],
        log: Any,
    ) -> None:
        self.kind = kind
        self.orders = orders
        self.accounts = accounts
        self._currency_code = currency_code
        self._write_log = write_log
        self._log = log
        self._failure_log = OccasionalLog()

    def apply(self, event: Event) -> str | None:
        """Apply ``event``; returns why the stream must be reopened, or None.

        A failing update is logged and dropped: the next reconciliation reads the truth from
        REST, and one bad event must not stop the ones behind it.
        """
        name = event.get("e")
        try:
            if name == "executionReport":
                self._execution(event, event)
            elif name == "ORDER_TRADE_UPDATE":
                self._execution(event["o"], event)
            elif name == "ALGO_UPDATE":
                self.orders.apply_order(order_structure(event["o"], event))
            elif name == "outboundAccountPosition":
                self.accounts.apply_balance(self._spot_balance(event["B"]), full=False, as_of=event.get("u"))
            elif name == "ACCOUNT_UPDATE":
                self.accounts.on_account_update(event)
            elif name == "MARGIN_CALL":
                self._write_log("Binance margin call: positions are close to liquidation")
                self.accounts.on_account_update()
            elif name in ENDING_EVENTS:
                return ENDING_EVENTS[name]
            elif name not in IGNORED_EVENTS:
                self._log.debug("user-data event {} ignored", name)
        except Exception:
            self._failed(f"applying a user-data event ({name}) failed")
        return None

    @property
    def failures(self) -> int:
        return self._failure_log.count

    def _failed(self, what: str) -> None:
        """With the traceback, at most once a second."""
        if self._failure_log.due():
            self._log.opt(exception=True).error("{} ({} failures so far)", what, self.failures)

    def _execution(self, report: Event, envelope: Event) -> None:
        """The order update, then the fill the same event carries. The fill is applied even
        when the order update failed (a host handler raising, say): a completed order gets
        no further update that could bring it back."""
        try:
            self.orders.apply_order(order_structure(report, envelope))
        except Exception:
            self._failed(f"applying the order update of a {envelope.get('e')} failed")
        if report.get("x") in FILL_EXECUTIONS:
            self.orders.apply_trade(self._trade_structure(report))

    def _trade_structure(self, report: Event) -> dict[str, Any]:
        fee_asset = report.get("N")
        return {
            "info": report,
            "id": report["t"],
            "order": report.get("i"),
            "side": (report.get("S") or "").lower(),
            "timestamp": report.get("T"),
            "price": report.get("L"),
            "amount": report.get("l"),
            "fee": {"cost": report.get("n"), "currency": self._currency_code(fee_asset) if fee_asset else None},
            "takerOrMaker": "maker" if report.get("m") else "taker",
        }

    def _spot_balance(self, rows: list[Event]) -> dict[str, Any]:
        """``outboundAccountPosition`` rows as the ccxt balance structure the manager applies;
        totals are added exactly, as ccxt does, so the stream and REST agree to the digit."""
        total: dict[str, float] = {}
        used: dict[str, float] = {}
        for row in rows:
            code = self._currency_code(row["a"])
            total[code] = _exact_sum(row.get("f"), row.get("l"))
            used[code] = as_float(row.get("l"))
        return {"total": total, "used": used}


def order_structure(report: Event, envelope: Event) -> dict[str, Any]:
    """The ccxt order fields the order manager reads, from an executionReport, an
    ORDER_TRADE_UPDATE's ``o`` or an ALGO_UPDATE's ``o`` (``envelope`` is the whole event)."""
    client_id = report.get("C") or report.get("caid") or report.get("c")
    updated = report.get("T") or envelope.get("T") or envelope.get("E")
    average = report.get("ap")
    if average is None:  # spot: cumulative quote quantity over cumulative quantity
        filled, quote = as_float(report.get("z")), as_float(report.get("Z"))
        average = quote / filled if filled else None
    return {
        "info": report,
        "id": report.get("i", report.get("aid")),
        "clientOrderId": client_id,
        "symbol": None,  # resolved from info["s"] on this adapter's market kind
        "side": (report.get("S") or "").lower(),
        "price": report.get("p"),
        "amount": report.get("q"),
        "filled": report.get("z"),
        "average": average,
        "timestamp": report.get("O") or updated,
        "lastUpdateTimestamp": updated,
    }


def _exact_sum(a: Any, b: Any) -> float:
    try:
        return float(Decimal(str(a or 0)) + Decimal(str(b or 0)))
    except InvalidOperation:
        return as_float(a) + as_float(b)
