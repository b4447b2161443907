"""How the CLI shows foxtrot objects: one plain line each, or rich tables for a terminal.

Plain lines are the contract for pipes, CI logs and tests (one event per line, a fixed first
word: ``tick``, ``order``, ``trade``, ``balance``, ``log``, ``demo``), so they stay stable
and greppable; the rich tables are for humans and may change freely. Pure functions only:
no state, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

from rich.table import Table
from rich.text import Text

from foxtrot_hooks import AccountData, LogData, OrderData, PositionData, Status, TickData, TradeData

LEVELS = 5
_STATUS_STYLE = {
    Status.SUBMITTING: "yellow",
    Status.NOTTRADED: "cyan",
    Status.PARTTRADED: "blue",
    Status.ALLTRADED: "green",
    Status.CANCELLED: "magenta",
    Status.REJECTED: "red",
}


def num(value: float | None) -> str:
    """A float as a trader reads it: no exponent, no trailing zeros, no binary noise past
    Binance's 8 decimals (95012.3, 0.00016, 99969.301753 rather than 99969.30175299999)."""
    if value is None:
        return "-"
    try:
        text = format(Decimal(repr(round(float(value), 8))).normalize(), "f")
    except (InvalidOperation, ValueError, OverflowError):
        return str(value)
    return "0" if text == "-0" else text


def hms(moment: datetime | None) -> str:
    return moment.strftime("%H:%M:%S.%f")[:-3] if moment else "-"


def depth(tick: TickData, side: str) -> list[tuple[float, float]]:
    """The five (price, volume) levels of one side, best first, empty levels dropped."""
    levels = [(getattr(tick, f"{side}_price_{i}"), getattr(tick, f"{side}_volume_{i}")) for i in range(1, LEVELS + 1)]
    return [(p, v) for p, v in levels if p]


# -- plain lines --------------------------------------------------------------------------
def tick_line(tick: TickData) -> str:
    bids = " ".join(f"{num(p)}x{num(v)}" for p, v in depth(tick, "bid"))
    asks = " ".join(f"{num(p)}x{num(v)}" for p, v in depth(tick, "ask"))
    return (f"tick     {tick.vt_symbol:<22} last {num(tick.last_price)}  bid {num(tick.bid_price_1)}"
            f"  ask {num(tick.ask_price_1)}  vol24h {num(tick.volume)}  depth bids [{bids}] asks [{asks}]")


def order_line(order: OrderData) -> str:
    side = order.direction.value if order.direction else "-"
    price = "market" if not order.price else f"@ {num(order.price)}"
    reason = (order.extra or {}).get("reason")
    tail = f"  reason: {reason}" if reason and order.status is Status.REJECTED else ""
    return (f"order    {order.vt_orderid}  {order.vt_symbol}  {side} {order.type.value} {num(order.volume)} {price}"
            f"  {order.status.value}  traded {num(order.traded)}{tail}")


def trade_line(trade: TradeData) -> str:
    side = trade.direction.value if trade.direction else "-"
    fee = (trade.extra or {}).get("commission")
    fee_text = f"  fee {num(fee)} {(trade.extra or {}).get('commission_asset', '')}".rstrip() if fee is not None else ""
    return (f"trade    {trade.vt_tradeid}  {trade.vt_symbol}  {side} {num(trade.volume)} @ {num(trade.price)}"
            f"  order {trade.vt_orderid}{fee_text}")


def account_line(account: AccountData, previous: float | None = None) -> str:
    change = ""
    if previous is not None and previous != account.balance:
        change = f"  (was {num(previous)}, {'+' if account.balance > previous else ''}{num(account.balance - previous)})"
    return (f"balance  {account.adapter_name} {account.accountid:<6} {num(account.balance)}"
            f"  available {num(account.available)}  frozen {num(account.frozen)}{change}")


def position_line(position: PositionData) -> str:
    return (f"position {position.adapter_name} {position.vt_symbol}  {position.direction.value} {num(position.volume)}"
            f"  @ {num(position.price)}  pnl {num(position.pnl)}")


def log_line(log: LogData) -> str:
    return f"log      {log.adapter_name}  {log.msg}"


# -- rich tables --------------------------------------------------------------------------
def ticks_table(ticks: Iterable[TickData], title: str = "Ticks") -> Table:
    table = Table(title=title, expand=True, title_justify="left")
    for header, justify in (("symbol", "left"), ("last", "right"), ("bid vol", "right"), ("bid", "right"),
                            ("ask", "right"), ("ask vol", "right"), ("24h high", "right"), ("24h low", "right"),
                            ("24h volume", "right"), ("time (UTC)", "right")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for tick in ticks:
        table.add_row(
            tick.vt_symbol, Text(num(tick.last_price), style="bold"), num(tick.bid_volume_1),
            Text(num(tick.bid_price_1), style="green"), Text(num(tick.ask_price_1), style="red"),
            num(tick.ask_volume_1), num(tick.high_price), num(tick.low_price), num(tick.volume), hms(tick.datetime),
        )
    return table


def depth_table(tick: TickData) -> Table:
    """The five-level book of one symbol, asks above bids as a ladder."""
    table = Table(title=f"Depth {tick.vt_symbol}", title_justify="left")
    table.add_column("bid vol", justify="right")
    table.add_column("price", justify="right")
    table.add_column("ask vol", justify="right")
    for price, volume in reversed(depth(tick, "ask")):
        table.add_row("", Text(num(price), style="red"), num(volume))
    for price, volume in depth(tick, "bid"):
        table.add_row(num(volume), Text(num(price), style="green"), "")
    return table


def orders_table(orders: Iterable[OrderData]) -> Table:
    table = Table(title="Orders", expand=True, title_justify="left")
    for header in ("vt_orderid", "symbol", "side", "type", "price", "volume", "traded", "status"):
        table.add_column(header)
    for order in orders:
        table.add_row(
            order.vt_orderid, order.vt_symbol, order.direction.value if order.direction else "-", order.type.value,
            num(order.price) if order.price else "market", num(order.volume), num(order.traded),
            Text(order.status.value, style=_STATUS_STYLE.get(order.status, "")),
        )
    return table


def trades_table(trades: Iterable[TradeData]) -> Table:
    table = Table(title="Trades", expand=True, title_justify="left")
    for header in ("vt_tradeid", "symbol", "side", "price", "volume", "vt_orderid", "time (UTC)"):
        table.add_column(header)
    for trade in trades:
        table.add_row(trade.vt_tradeid, trade.vt_symbol, trade.direction.value if trade.direction else "-",
                      num(trade.price), num(trade.volume), trade.vt_orderid, hms(trade.datetime))
    return table


def balances_table(accounts: Mapping[str, AccountData], first: Mapping[str, float]) -> Table:
    """Balances with their change since the first figure seen, so a fill is visible."""
    table = Table(title="Balances", title_justify="left")
    for header in ("account", "balance", "available", "frozen", "change"):
        table.add_column(header, justify="left" if header == "account" else "right")
    for key in sorted(accounts):
        account = accounts[key]
        delta = account.balance - first.get(key, account.balance)
        style = "green" if delta > 0 else "red" if delta < 0 else ""
        table.add_row(account.vt_accountid, num(account.balance), num(account.available), num(account.frozen),
                      Text(("+" if delta > 0 else "") + num(delta) if delta else "", style=style))
    return table


def key_value_table(rows: Iterable[tuple[str, str]], title: str) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in rows:
        table.add_row(key, value)
    return table
