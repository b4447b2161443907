"""The live view of ``demo`` and ``ticks``: a rich Live board on a terminal, plain lines otherwise.

Events arrive on the EventEngine's thread, the Live refresh runs on rich's thread and notes
come from the command's main thread, so the board keeps the latest state under one lock and
renders snapshots. Off a terminal (CI, a pipe, a test's subprocess) nothing is redrawn:
every event is one line (cli_views), ticks throttled per symbol so a log stays readable.
"""

from __future__ import annotations

import _thread
import os
import sys
import threading
import time
from collections import deque
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from foxtrot_hooks import (
    EVENT_ACCOUNT,
    EVENT_LOG,
    EVENT_ORDER,
    EVENT_POSITION,
    EVENT_TICK,
    EVENT_TRADE,
    AccountData,
    Event,
    OrderData,
    TickData,
    TradeData,
)

from foxtrot_binance import cli_views as views

TICK_LINE_EVERY_S = 1.0
"""Off a terminal, at most one tick line per symbol per this many seconds (the simulator
and Binance push several a second per symbol)."""


class Board:
    """Latest ticks, orders, trades and balances, printed as lines or drawn as tables."""

    def __init__(self, console: Console, *, live: bool, trading: bool, depth_symbol: str | None = None,
                 tick_every: float = TICK_LINE_EVERY_S) -> None:
        self.console = console
        self.live = live
        self.trading = trading
        self.depth_symbol = depth_symbol
        self.tick_every = tick_every
        self.ticks: dict[str, TickData] = {}
        self.tick_count = 0
        self.orders: dict[str, OrderData] = {}
        self.trades: list[TradeData] = []
        self.accounts: dict[str, AccountData] = {}
        self.first_balance: dict[str, float] = {}
        self.messages: deque[str] = deque(maxlen=8)
        self._last_tick_line: dict[str, float] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> Board:
        if self.live:
            self._live = Live(get_renderable=self.render, console=self.console, refresh_per_second=4,
                              transient=False, redirect_stdout=False, redirect_stderr=False)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # -- input --------------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        """EventEngine general handler: keep the latest state, print a line when plain."""
        if event.type == EVENT_TICK:
            self._on_tick(event.data)
        elif event.type == EVENT_ORDER and self.trading:
            with self._lock:
                self.orders[event.data.vt_orderid] = event.data
            self._emit(views.order_line(event.data))
        elif event.type == EVENT_TRADE and self.trading:
            with self._lock:
                self.trades.append(event.data)
            self._emit(views.trade_line(event.data))
        elif event.type == EVENT_ACCOUNT and self.trading:
            self._on_account(event.data)
        elif event.type == EVENT_POSITION and self.trading:
            self._emit(views.position_line(event.data))
        elif event.type == EVENT_LOG:
            self._emit(views.log_line(event.data))

    def note(self, text: str) -> None:
        """A line of the command's own narration (first word ``demo``, ``ticks`` ...)."""
        self._emit(text)

    def _on_tick(self, tick: TickData) -> None:
        now = time.monotonic()
        with self._lock:
            self.ticks[tick.vt_symbol] = tick
            self.tick_count += 1
            due = now - self._last_tick_line.get(tick.vt_symbol, -1e9) >= self.tick_every
            if due and not self.live:
                self._last_tick_line[tick.vt_symbol] = now
        if due and not self.live:
            self._print(views.tick_line(tick))

    def _on_account(self, account: AccountData) -> None:
        with self._lock:
            previous = self.accounts.get(account.vt_accountid)
            self.accounts[account.vt_accountid] = account
            self.first_balance.setdefault(account.vt_accountid, account.balance)
        self._emit(views.account_line(account, previous.balance if previous else None))

    def _emit(self, line: str) -> None:
        if self.live:
            with self._lock:
                self.messages.append(line)
        else:
            self._print(line)

    def _print(self, line: str) -> None:
        # print(), not the rich console: rich wraps at 80 columns off a terminal, and one
        # event must stay one line for whoever greps the output
        with self._lock:
            write_line(line)

    # -- output -------------------------------------------------------------------------
    def render(self) -> RenderableType:
        """A snapshot of the board (called by rich's refresh thread)."""
        with self._lock:
            ticks = [self.ticks[k] for k in sorted(self.ticks)]
            depth_tick = self.ticks.get(self.depth_symbol or "") or (ticks[0] if ticks else None)
            orders = list(self.orders.values())[-8:]
            trades = self.trades[-6:]
            accounts = dict(self.accounts)
            first = dict(self.first_balance)
            messages = list(self.messages)
            count = self.tick_count
        parts: list[RenderableType] = [views.ticks_table(ticks, title=f"Ticks ({count} received)")]
        if depth_tick is not None:
            side: list[RenderableType] = [views.depth_table(depth_tick)]
            if self.trading and accounts:
                side.append(views.balances_table(accounts, first))
            grid = Table.grid(padding=(0, 2))
            for _ in side:
                grid.add_column()
            grid.add_row(*side)
            parts.append(grid)
        if self.trading:
            parts.append(views.orders_table(orders))
            parts.append(views.trades_table(trades))
        if messages:
            parts.append(Panel(Text("\n".join(_fit(m) for m in messages)), title="events", title_align="left"))
        return Group(*parts)

    # -- queries (any thread) -------------------------------------------------------------
    def tick(self, vt_symbol: str) -> TickData | None:
        with self._lock:
            return self.ticks.get(vt_symbol)

    def order(self, vt_orderid: str) -> OrderData | None:
        with self._lock:
            return self.orders.get(vt_orderid)

    def has_trade(self, vt_orderid: str) -> bool:
        with self._lock:
            return any(t.vt_orderid == vt_orderid for t in self.trades)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"ticks": self.tick_count, "orders": len(self.orders), "trades": len(self.trades)}

    def balance_changes(self) -> list[tuple[str, float, float]]:
        """(vt_accountid, first balance seen, latest balance) of every balance that moved."""
        with self._lock:
            return [(k, self.first_balance[k], a.balance) for k, a in sorted(self.accounts.items())
                    if self.first_balance.get(k) != a.balance]


def _fit(line: str, width: int = 160) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


OUTPUT_CLOSED = threading.Event()
"""Set when whoever read stdout went away (``foxtrot-binance demo | head``)."""


def write_line(line: str) -> None:
    """Print one line from any thread. When the reader has gone, stdout is pointed at
    /dev/null (so nothing else fails on it, interpreter exit included) and the command's
    main thread is interrupted, as ``yes | head`` stops ``yes``; cli.main then exits quietly."""
    if OUTPUT_CLOSED.is_set():
        return
    try:
        print(line, flush=True)
    except BrokenPipeError:
        OUTPUT_CLOSED.set()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        if threading.current_thread() is threading.main_thread():
            raise
        _thread.interrupt_main()


def make_console() -> Console:
    return Console(highlight=False, soft_wrap=False)
