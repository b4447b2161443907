"""``foxtrot-binance ticks SYMBOL...``: the adapter's live TickData, as a host receives it.

A quick way to see that market data flows (and what a symbol's book looks like) from any
machine, with or without keys. Symbols are resolved by the adapter, so every spelling it
accepts works here, and an unknown one is reported the way the adapter reports it.
"""

from __future__ import annotations

import time

from rich.console import Console

from foxtrot_hooks import SubscribeRequest

from foxtrot_binance.cli_display import OUTPUT_CLOSED, Board
from foxtrot_binance.cli_session import (
    NO_HISTORY,
    CliError,
    Session,
    connect_setting,
    find_adapter,
    pause,
    require_connected,
)
from foxtrot_binance.settings import BinanceSettings

CONNECT_TIMEOUT_S = 30.0
FIRST_TICK_TIMEOUT_S = 15.0


def run_ticks(console: Console, symbols: list[str], *, base_url: str | None, server: str | None, usdm: bool,
              duration: float | None, plain: bool) -> int:
    """Until Ctrl-C (the normal way out, status 0) or ``duration`` seconds."""
    info = find_adapter(usdm)
    setting = connect_setting(base_url, server, **NO_HISTORY)
    settings = BinanceSettings.from_setting(setting)
    exchange = info.exchanges[0]
    requests = [SubscribeRequest(_bare(s, exchange.value), exchange) for s in symbols]
    board = Board(console, live=console.is_terminal and not plain, trading=False)
    # Ctrl-C before streaming began (connecting, waiting for a first tick) is "interrupted", 130
    with Session() as session, board:
        session.listen(board.handle)
        opened = session.open(info, setting)
        for req in requests:
            opened.adapter.subscribe(req)
        require_connected(session, opened, CONNECT_TIMEOUT_S, settings.base_url, settings.server)
        names = ", ".join(symbols)

        def unknown() -> list[str]:
            return [log.msg for log in session.logs(info.name) if "unknown symbol" in log.msg]

        first = session.wait_until(lambda: board.counts()["ticks"] > 0 or len(unknown()) == len(requests),
                                   FIRST_TICK_TIMEOUT_S)
        if first is None:
            raise CliError(f"no tick within {FIRST_TICK_TIMEOUT_S:g} s for {names}")
        if board.counts()["ticks"] == 0:
            raise CliError(f"no {info.name} symbol among {names} is known to Binance ({unknown()[0]})")
        board.note(f"ticks    streaming {names} from {info.name}; Ctrl-C stops")
        started = time.monotonic()
        try:
            pause(duration)  # None: until Ctrl-C
        except KeyboardInterrupt:
            if OUTPUT_CLOSED.is_set():
                raise  # the reader went away: cli.main ends quietly
        counts = board.counts()
        elapsed = time.monotonic() - started
    print(f"ticks    {counts['ticks']} ticks in {elapsed:.1f} s", flush=True)
    return 0


def _bare(symbol: str, exchange: str) -> str:
    """``BTCUSDT.BINANCE`` -> ``BTCUSDT`` for the request; the adapter resolves the rest."""
    suffix = "." + exchange
    return symbol[: -len(suffix)] if symbol.upper().endswith(suffix) else symbol
