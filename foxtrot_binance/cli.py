"""The ``foxtrot-binance`` command: argument parsing and dispatch, nothing else.

Each command lives in its own ``cli_*`` module and is imported only when chosen, so
``foxtrot-binance adapters`` does not pay for ccxt. Every failure a trader can fix ends as one
``error: ...`` line on stderr and a non-zero status (1: it failed, 2: bad usage or settings,
130: interrupted); tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING

from foxtrot_binance._version import __version__

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_OUTPUT_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--base-url", help="one http(s) URL for every Binance endpoint (a simulator, a proxy); "
                                           "overrides FOXTROT_BINANCE_BASE_URL and the server")
    common.add_argument("--server", choices=("live", "testnet", "demo"),
                        help="Binance environment; overrides FOXTROT_BINANCE_SERVER (default live)")
    common.add_argument("--plain", action="store_true", help="plain lines even on a terminal (no live tables)")
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="the library's log on stderr (-v info, -vv debug); credentials stay masked")

    parser = argparse.ArgumentParser(
        prog="foxtrot-binance",
        description="Binance spot and USD-M adapters for foxtrot: demo, checks, live ticks, history, simulator. "
                    "Settings come from FOXTROT_BINANCE_* variables, .env and the secrets directory.",
    )
    parser.add_argument("--version", action="version", version=f"foxtrot-binance {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser("demo", parents=[common], help="the adapter end to end against the embedded simulator",
                               description="Start the embedded simulator, connect the adapters, show ticks, "
                                           "place a resting, a marketable and a cancelled order, then exit.")
    demo.add_argument("--duration", type=_positive, default=20.0,
                      help="seconds to run (default 20); the three orders always complete first")
    demo.add_argument("--seed", type=int, default=0, help="simulator price-path seed (default 0)")
    demo.add_argument("--symbols", type=_symbols, default=[], help="spot symbols, comma-separated (default BTCUSDT,ETHUSDT,BNBUSDT)")
    demo.set_defaults(handler=_demo)

    adapters = commands.add_parser("adapters", parents=[common], help="the adapters a foxtrot host would discover")
    adapters.set_defaults(handler=_adapters)

    check = commands.add_parser("check", parents=[common], help="check settings, keys and connectivity",
                                description="Load the settings, show them (secrets masked), connect, and report "
                                            "the clock offset, account permissions and balances.")
    check.add_argument("--usdm", action="store_true", help="check USD-M futures instead of spot")
    check.add_argument("--timeout", type=_positive, default=30.0, help="seconds to wait for Binance (default 30)")
    check.set_defaults(handler=_check)

    ticks = commands.add_parser("ticks", parents=[common], help="live ticks with depth until Ctrl-C")
    ticks.add_argument("symbols", nargs="+", metavar="SYMBOL", help="BTCUSDT, BTC/USDT or BTCUSDT.BINANCE")
    ticks.add_argument("--usdm", action="store_true", help="USD-M perpetuals instead of spot")
    ticks.add_argument("--duration", type=_positive, help="stop after this many seconds (default: until Ctrl-C)")
    ticks.set_defaults(handler=_ticks)

    history = commands.add_parser("history", parents=[common], help="download bars to CSV (or Parquet)",
                                  description="Download closed bars through the adapter's query_history and its "
                                              "local cache. Dates are UTC: 2026-01-31 or 2026-01-31T12:00.")
    history.add_argument("symbol", metavar="SYMBOL")
    history.add_argument("--interval", default="1m", choices=("1m", "1h", "1d", "1w"), help="bar interval (default 1m)")
    history.add_argument("--start", required=True, help="first bar's open time (UTC)")
    history.add_argument("--end", help="end of the range, exclusive (UTC; default now)")
    history.add_argument("--usdm", action="store_true", help="USD-M perpetuals instead of spot")
    history.add_argument("--out", required=True, help="output file: .csv, or .parquet (needs pyarrow)")
    history.set_defaults(handler=_history)

    sim = commands.add_parser("simulator", parents=[common], help="run the Binance simulator standalone",
                              description="Run the embedded Binance simulator on 127.0.0.1 until Ctrl-C and "
                                          "print its URL and test keys.")
    sim.add_argument("--port", type=_port, help="port to listen on (default: a free one; or the port of --base-url)")
    sim.add_argument("--seed", type=int, default=0, help="price-path seed (default 0)")
    sim.add_argument("--tick-interval", type=float, default=0.1, help="seconds between price steps; 0 stops the walk")
    sim.set_defaults(handler=_simulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _interrupt_twice_to_force()
    _configure_logging(args.verbose)
    from foxtrot_binance.cli_session import CliError
    from foxtrot_binance.settings import InvalidSettingsError

    from foxtrot_binance.cli_display import OUTPUT_CLOSED, write_line

    handler: Handler = args.handler
    try:
        return handler(args)
    except (KeyboardInterrupt, BrokenPipeError) as exc:
        if OUTPUT_CLOSED.is_set() or isinstance(exc, BrokenPipeError):
            if not OUTPUT_CLOSED.is_set():
                try:
                    write_line("")  # points stdout at /dev/null
                except BrokenPipeError:
                    pass
            return EXIT_OUTPUT_CLOSED  # the reader went away (| head): not an error to shout about
        print("interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except InvalidSettingsError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except CliError as exc:
        _error(str(exc))
        return exc.exit_code


# -- handlers: import the command's module only when it runs ------------------------------
def _demo(args: argparse.Namespace) -> int:
    from foxtrot_binance.cli_demo import DemoOptions, run_demo

    options = DemoOptions(duration=args.duration, seed=args.seed, base_url=args.base_url, plain=args.plain,
                          symbols=args.symbols)
    return run_demo(options, _console())


def _adapters(args: argparse.Namespace) -> int:
    from foxtrot_binance.cli_info import show_adapters

    return show_adapters(_console(), plain=args.plain)


def _check(args: argparse.Namespace) -> int:
    from foxtrot_binance.cli_check import run_check

    return run_check(_console(), base_url=args.base_url, server=args.server, usdm=args.usdm, timeout=args.timeout)


def _ticks(args: argparse.Namespace) -> int:
    from foxtrot_binance.cli_ticks import run_ticks

    return run_ticks(_console(), args.symbols, base_url=args.base_url, server=args.server, usdm=args.usdm,
                     duration=args.duration, plain=args.plain)


def _history(args: argparse.Namespace) -> int:
    from foxtrot_binance.cli_history import HistoryOptions, run_history

    options = HistoryOptions(symbol=args.symbol, interval=args.interval, start=args.start, end=args.end,
                             usdm=args.usdm, out=args.out, base_url=args.base_url, server=args.server, plain=args.plain)
    return run_history(options, _console())


def _simulator(args: argparse.Namespace) -> int:
    from foxtrot_binance.cli_info import run_simulator

    return run_simulator(port=args.port, seed=args.seed, tick_interval=args.tick_interval, base_url=args.base_url)


# -- plumbing -----------------------------------------------------------------------------
def _console() -> Console:
    from foxtrot_binance.cli_display import make_console

    return make_console()


def _error(message: str) -> None:
    from foxtrot_binance.logs import redact  # masks every credential the adapter registered

    print(f"error: {redact(message)}", file=sys.stderr, flush=True)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be a port number from 0 to 65535")
    return value


def _symbols(text: str) -> list[str]:
    return [s.strip().upper() for s in text.split(",") if s.strip()]


def _interrupt_twice_to_force() -> None:
    """Ctrl-C (or SIGTERM) raises KeyboardInterrupt once, so every command closes its
    adapters and simulator on the way out; a second one while that runs exits at once."""
    if threading.current_thread() is not threading.main_thread():
        return  # signals can only be handled there; an embedding caller keeps its own
    count = 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal count
        count += 1
        if count > 1:
            os._exit(EXIT_INTERRUPTED)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def _configure_logging(verbosity: int) -> None:
    """The library logs through loguru and is silent by default; -v shows it on stderr."""
    if verbosity <= 0:
        return
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="DEBUG" if verbosity > 1 else "INFO", diagnose=False, backtrace=False,
               format="{time:HH:mm:ss.SSS} {level: <7} {message}")
    logger.enable("foxtrot_binance")


if __name__ == "__main__":
    raise SystemExit(main())
