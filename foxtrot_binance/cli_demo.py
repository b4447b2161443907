"""``foxtrot-binance demo``: the whole adapter at work, on a fresh machine, in about 20 s.

It starts the embedded simulator (no keys, no internet), finds the adapters the way a host
does (``foxtrot_hooks.load_adapters()``), connects them with the simulator's keys, shows live
ticks with depth, and trades a little: a limit buy far below the market (it rests), a market
buy (it fills, balances move), then the cancel of the resting order. Orders go only to a
simulator: the embedded one, or one on this machine named by ``--base-url`` (a loopback URL);
a demo must never be one typo away from trading real money.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from urllib.parse import urlsplit

from rich.console import Console

from foxtrot_hooks import (
    EVENT_CONTRACT,
    AdapterInfo,
    ContractData,
    Direction,
    Event,
    Exchange,
    OrderData,
    OrderRequest,
    OrderType,
    Status,
    SubscribeRequest,
    load_adapters,
)

from foxtrot_binance.cli_display import Board, write_line
from foxtrot_binance.cli_session import (
    NO_HISTORY,
    AdapterUnavailable,
    CliError,
    OpenAdapter,
    Outcome,
    Session,
    explain_refusal,
    explain_unreachable,
    pause,
)
from foxtrot_binance.cli_views import num

DEFAULT_DURATION_S = 20.0
STEP_TIMEOUT_S = 15.0
REST_BELOW_BID = Decimal("0.97")
"""The resting buy's price as a share of the bid: far enough below a 0.1 s random walk that it
never fills within a demo, and inside Binance's price bands (spot 0.2x, USDⓈ-M 0.95x)."""
NOTIONAL_MULTIPLE = Decimal(3)
"""Orders are sized at this multiple of the symbol's minimum notional: small but valid."""
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
NO_KEYS = "No API keys configured"
SYMBOLS = {"BINANCE": ("BTCUSDT", "ETHUSDT", "BNBUSDT"), "BINANCE_USDM": ("BTCUSDT", "ETHUSDT")}


@dataclass
class DemoOptions:
    duration: float = DEFAULT_DURATION_S
    seed: int = 0
    base_url: str | None = None
    plain: bool = False
    symbols: list[str] = field(default_factory=list)


class _Contracts:
    """Contracts as they arrive (price tick, minimum volume and notional size the orders)."""

    def __init__(self) -> None:
        self._by_vt: dict[str, ContractData] = {}
        self._lock = threading.Lock()

    def handle(self, event: Event) -> None:
        if event.type == EVENT_CONTRACT:
            with self._lock:
                self._by_vt[event.data.vt_symbol] = event.data

    def resolve(self, spelling: str, exchange: Exchange) -> ContractData | None:
        """The contract ``spelling`` names on ``exchange``, or None: the spellings the adapters
        accept (BTCUSDT, btcusdt, BTCUSDT.BINANCE, BTC/USDT; for the perpetuals BTC/USDT:USDT
        too), read from the contracts they sent. Complete once the adapter said it connected:
        its contracts come before that log line, on the same event queue."""
        key = spelling.strip().upper()
        suffix = "." + exchange.value
        keys = {key, key[: -len(suffix)]} if key.endswith(suffix) else {key}
        with self._lock:
            for contract in self._by_vt.values():
                if contract.exchange is not exchange:
                    continue
                name = (contract.name or "").upper()
                if keys & {contract.symbol.upper(), name, name.split(":", 1)[0]}:
                    return contract
        return None


def run_demo(options: DemoOptions, console: Console) -> int:
    started = time.monotonic()
    deadline = started + options.duration
    with ExitStack() as stack:
        board = stack.enter_context(
            Board(console, live=console.is_terminal and not options.plain, trading=True)
        )
        setting = _start_exchange(options, stack, board)
        adapters = load_adapters()
        board.note("demo     adapters found by foxtrot_hooks.load_adapters(): " + (", ".join(sorted(adapters)) or "none"))
        session = stack.enter_context(Session())
        contracts = _Contracts()
        session.listen(contracts.handle)
        session.listen(board.handle)

        connected: list[OpenAdapter] = []
        for name in ("BINANCE", "BINANCE_USDM"):
            info = adapters.get(name)
            if info is None and name == "BINANCE":
                raise CliError("the BINANCE adapter was not discovered: is foxtrot-binance installed here, and "
                               "'binance' absent from FOXTROT_DISABLED_PLUGINS?")
            if info is None:
                board.note(f"demo     {name} was not discovered; skipped")
                continue
            opened = _connect(session, board, info, setting, required=name == "BINANCE")
            if opened is not None:
                connected.append(opened)
        markets: list[tuple[OpenAdapter, list[ContractData]]] = []
        for opened in connected:
            chosen = _resolve_symbols(board, contracts, opened, _symbols_for(opened, options))
            if not chosen:
                continue
            board.depth_symbol = board.depth_symbol or chosen[0].vt_symbol
            for contract in chosen:
                opened.adapter.subscribe(SubscribeRequest(contract.symbol, opened.exchange))
            board.note(f"demo     {opened.name}: subscribed {', '.join(c.vt_symbol for c in chosen)}")
            markets.append((opened, chosen))

        for opened, chosen in markets:
            try:
                _trade(session, board, opened, chosen[0])
            except CliError as exc:
                if opened.name == "BINANCE":
                    raise
                board.note(f"demo     {opened.name}: order script did not complete: {exc}")

        left = deadline - time.monotonic()
        if left > 0:
            board.note(f"demo     watching the market for {left:.0f} s more (Ctrl-C stops)")
            pause(left)
        summary = _summary(board, time.monotonic() - started)
    write_line(summary)  # after the Live board stopped, so it stays on screen
    return 0


def _symbols_for(opened: OpenAdapter, options: DemoOptions) -> list[str]:
    """--symbols names spot pairs; the perpetuals keep their defaults."""
    if options.symbols and opened.name == "BINANCE":
        return options.symbols
    return list(SYMBOLS[opened.name])


def _resolve_symbols(board: Board, contracts: _Contracts, opened: OpenAdapter, spellings: list[str]) -> list[ContractData]:
    """Each spelling as the adapter's contract (deduplicated); an unknown one stops the demo
    at once for BINANCE (the --symbols the trader typed), and is skipped for BINANCE_USDM."""
    chosen: dict[str, ContractData] = {}
    for spelling in spellings:
        contract = contracts.resolve(spelling, opened.exchange)
        if contract is not None:
            chosen.setdefault(contract.vt_symbol, contract)
            continue
        problem = (f"unknown symbol {spelling} for {opened.name}: the exchange lists no such "
                   f"{'spot pair' if opened.name == 'BINANCE' else 'contract'} (spell it BTCUSDT, BTC/USDT or "
                   f"BTCUSDT.{opened.exchange.value})")
        if opened.name == "BINANCE":
            raise CliError(problem, exit_code=2)
        board.note(f"demo     {opened.name}: {problem}; skipped")
    return list(chosen.values())


def _start_exchange(options: DemoOptions, stack: ExitStack, board: Board) -> dict[str, object]:
    """The embedded simulator, or the loopback one named by --base-url; the connect dict."""
    if options.base_url:
        host = urlsplit(options.base_url).hostname or ""
        if host not in LOOPBACK_HOSTS:
            raise CliError(
                f"demo places orders, so it only runs against a simulator on this machine; {options.base_url} is "
                f"not a loopback address (drop --base-url to use the embedded simulator)", exit_code=2,
            )
        board.note(f"demo     using the simulator at {options.base_url} with the keys from your settings")
        return {"Base URL": options.base_url, **NO_HISTORY}
    from foxtrot_binance.simulator import BinanceSimulator

    sim = stack.enter_context(BinanceSimulator(seed=options.seed, tick_interval=0.1))
    board.note(f"demo     embedded Binance simulator at {sim.base_url} (seed {options.seed}, prices walk every 0.1 s)")
    return {"API Key": sim.api_key, "Secret": sim.api_secret, "Base URL": sim.base_url, **NO_HISTORY}


def _connect(session: Session, board: Board, info: AdapterInfo, setting: dict[str, object], *,
             required: bool) -> OpenAdapter | None:
    """Connect one adapter and wait for its private stream; a failure of an optional adapter
    (BINANCE_USDM while it is being built) is said and skipped, never fatal."""
    try:
        opened = session.open(info, dict(setting))
    except AdapterUnavailable as exc:
        if required:
            raise
        board.note(f"demo     {info.name}: not available yet in this version ({_first_sentence(str(exc))}); skipped")
        return None
    result = session.wait_connected(info.name, STEP_TIMEOUT_S)
    where = str(setting.get("Base URL") or "Binance")
    problem = None
    if result.outcome is Outcome.REFUSED:
        problem = explain_refusal(result.reason, f"server at {where}")
    elif result.outcome is Outcome.UNREACHABLE:
        problem = explain_unreachable(result.reason, where)
    elif result.outcome is Outcome.TIMEOUT:
        problem = f"{info.name} did not connect to {where} within {STEP_TIMEOUT_S:g} s"
    elif any(NO_KEYS in log.msg for log in session.logs(info.name)):
        # logged before "Connected to Binance", so it is here already: no user stream will come
        problem = ("no API keys: set FOXTROT_BINANCE_API_KEY / FOXTROT_BINANCE_SECRET to the keys "
                   "'foxtrot-binance simulator' printed, or drop --base-url")
    else:
        stream = session.wait_user_stream(info.name, STEP_TIMEOUT_S)
        if stream is not None:
            problem = f"{info.name} user data stream: {stream}"
    if problem is not None:
        if required:
            raise CliError(problem)
        board.note(f"demo     {info.name}: {problem}; skipped")
        return None
    board.note(f"demo     {info.name} connected (clock offset {result.clock_offset_ms} ms)")
    return opened


def _trade(session: Session, board: Board, opened: OpenAdapter, contract: ContractData) -> None:
    """Rest a limit buy far below the bid, fill a market buy, cancel the resting one."""
    symbol, vt_symbol = contract.symbol, contract.vt_symbol

    def refused() -> str | None:  # the adapter's own word that it cannot subscribe this symbol
        return next((log.msg for log in session.logs(opened.name)
                     if "unknown symbol" in log.msg and f" {vt_symbol}:" in log.msg), None)

    def ready() -> object:
        tick = board.tick(vt_symbol)
        return (tick if tick is not None and tick.bid_price_1 > 0 else None) or refused()

    tick = session.wait_until(ready, STEP_TIMEOUT_S)
    if isinstance(tick, str):
        raise CliError(f"unknown symbol {vt_symbol} for {opened.name} ({tick})")
    if tick is None:
        raise CliError(f"no tick for {vt_symbol} within {STEP_TIMEOUT_S:g} s")
    bid, ask = Decimal(repr(tick.bid_price_1)), Decimal(repr(tick.ask_price_1 or tick.bid_price_1))
    volume = order_volume(contract, ask)
    rest_price = floor_to(bid * REST_BELOW_BID, Decimal(repr(contract.pricetick)))
    adapter, exchange = opened.adapter, opened.exchange

    board.note(f"demo     1/3 limit buy {num(float(volume))} {vt_symbol} @ {num(float(rest_price))}, 3% below the bid: it rests")
    resting = adapter.send_order(OrderRequest(symbol, exchange, Direction.LONG, OrderType.LIMIT, float(volume), float(rest_price)))
    order = _wait_order(session, board, resting, {Status.NOTTRADED})

    board.note(f"demo     2/3 market buy {num(float(volume))} {vt_symbol}: takes the ask, it fills")
    taker = adapter.send_order(OrderRequest(symbol, exchange, Direction.LONG, OrderType.MARKET, float(volume)))
    _wait_order(session, board, taker, {Status.ALLTRADED})
    if session.wait_until(lambda: board.has_trade(taker), STEP_TIMEOUT_S) is None:
        raise CliError(f"no trade event for the filled order {taker} within {STEP_TIMEOUT_S:g} s")

    board.note(f"demo     3/3 cancel {resting}")
    adapter.cancel_order(order.create_cancel_request())
    _wait_order(session, board, resting, {Status.CANCELLED})
    board.note(f"demo     {opened.name}: one order rested and was cancelled, one filled")


def _wait_order(session: Session, board: Board, vt_orderid: str, wanted: set[Status]) -> OrderData:
    def reached() -> OrderData | None:
        order = board.order(vt_orderid)
        if order is not None and order.status is Status.REJECTED:
            return order
        return order if order is not None and order.status in wanted else None

    order: OrderData | None = session.wait_until(reached, STEP_TIMEOUT_S)
    if order is None:
        last = board.order(vt_orderid)
        state = last.status.value if last else "no order event"
        raise CliError(f"order {vt_orderid} did not reach {'/'.join(s.value for s in wanted)} within "
                       f"{STEP_TIMEOUT_S:g} s (last: {state})")
    if order.status is Status.REJECTED and Status.REJECTED not in wanted:
        raise CliError(f"order {vt_orderid} was rejected: {(order.extra or {}).get('reason', 'no reason given')}")
    return order


def order_volume(contract: ContractData, price: Decimal) -> Decimal:
    """A small valid size: NOTIONAL_MULTIPLE x the minimum notional, on the step grid."""
    extra = contract.extra or {}
    step = Decimal(repr(extra.get("step_size") or contract.min_volume))
    min_notional = Decimal(repr(extra.get("min_notional") or 0))
    wanted = max(Decimal(repr(contract.min_volume)), min_notional * NOTIONAL_MULTIPLE / price)
    return ceil_to(wanted, step)


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step if step > 0 else value


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_UP) * step if step > 0 else value


def _summary(board: Board, elapsed: float) -> str:
    counts = board.counts()
    changed = [f"{name} {num(first)} -> {num(now)}" for name, first, now in board.balance_changes()]
    moved = "; balances " + ", ".join(changed) if changed else ""
    return (f"demo     done after {elapsed:.1f} s: {counts['ticks']} ticks, {counts['orders']} orders, "
            f"{counts['trades']} trades{moved}")


def _first_sentence(text: str) -> str:
    return text.split(": ", 1)[-1]
