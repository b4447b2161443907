"""``python -m foxtrot_binance.simulator``: run the simulator standalone until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading

from . import BinanceSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m foxtrot_binance.simulator",
                                     description="Binance-compatible simulator (spot + USD-M) on 127.0.0.1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tick-interval", type=float, default=0.1,
                        help="seconds between random-walk steps; 0 disables the walk")
    parser.add_argument("--symbols", default="", help="comma-separated subset, e.g. BTCUSDT,ETHUSDT")
    args = parser.parse_args(argv)
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()] or None
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with BinanceSimulator(seed=args.seed, symbols=symbols, host=args.host, port=args.port,
                          tick_interval=args.tick_interval or None) as sim:
        print(f"base_url   {sim.base_url}", flush=True)
        print(f"api_key    {sim.api_key}", flush=True)
        print(f"api_secret {sim.api_secret}", flush=True)
        print("Ctrl-C to stop", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
