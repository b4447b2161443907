"""How fast the simulator feeds market data to one websocket consumer over loopback.

Run:  python bench/simulator_feed.py [--messages 200000] [--runs 5] [--symbols 1] [--consumers 1]

The consumer runs in its own process (a bare aiohttp client counting text frames, so the
figure is the simulator's, not a parser's) and subscribes to ``<symbol>@bookTicker`` with a
SUBSCRIBE request on the ccxt-style ``/stream/ws/0`` path. The simulator then publishes
``messages`` bookTicker updates as fast as it can: through ``BinanceSimulator.firehose``
(the real payload builder) when the full simulator is importable, otherwise through the
stream bus with a fixed payload (``--bus``, or automatically as a fallback). The rate is
messages received divided by the time from the first to the last one, as the consumer sees
it (with ``--consumers N``, the slowest of N consumer processes that each receive every
message: the fan-out encodes each payload once for all of them); the script prints every run
and the median, and exits non-zero below the 50,000 msgs/s target.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import threading
import time
from contextlib import AbstractContextManager
from typing import Any

import aiohttp

TARGET = 50_000


# -- consumer (child process) --------------------------------------------------------------
def consume(url: str, streams: list[str], expected: int, ready: Any, results: Any) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=0) as ws:
            await ws.send_json({"method": "SUBSCRIBE", "params": streams, "id": 1})
            ack = await ws.receive()
            assert '"result":null' in ack.data, ack.data
            ready.set()
            count, first, last = 0, 0.0, 0.0
            while count < expected:
                msg = await ws.receive(timeout=30)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                if count == 0:
                    first = time.perf_counter()
                count += 1
            last = time.perf_counter()
            results.put((count, last - first))

    asyncio.run(main())


# -- simulator side ------------------------------------------------------------------------
class BusFeed(AbstractContextManager["BusFeed"]):
    """The websocket layer alone on its own loop thread, fed straight through the bus."""

    def __init__(self) -> None:
        from aiohttp import web

        from foxtrot_binance.simulator.bus import StreamBus
        from foxtrot_binance.simulator.context import SimContext
        from foxtrot_binance.simulator.faults import Faults
        from foxtrot_binance.simulator.ws_market import add_market_routes

        self.ctx = SimContext(StreamBus(), Faults())
        self.loop = asyncio.new_event_loop()
        app = web.Application()
        add_market_routes(app, self.ctx)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.base_url = ""

    def __enter__(self) -> BusFeed:
        from aiohttp import web

        self._thread.start()

        async def start() -> None:
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.base_url = f"http://127.0.0.1:{port}"

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def firehose(self, kind: str, symbols: list[str], messages: int, rate: float | None = None) -> Any:
        bus = self.ctx.bus

        async def pump() -> None:
            sent = 0
            names = [f"{s.lower()}@bookTicker" for s in symbols]
            while sent < messages:
                for _ in range(min(500, messages - sent)):
                    name = names[sent % len(names)]
                    bus.publish(kind, name, {"u": sent, "s": name.split("@")[0].upper(), "b": "25.35190000", "B": "31.21000000", "a": "25.36520000", "A": "40.66000000"})
                    sent += 1
                await asyncio.sleep(0)  # let the writer tasks drain

        return asyncio.run_coroutine_threadsafe(pump(), self.loop)


def make_simulator(use_bus: bool) -> tuple[AbstractContextManager[Any], str]:
    if not use_bus:
        try:
            from foxtrot_binance.simulator import BinanceSimulator  # type: ignore[attr-defined]

            sim = BinanceSimulator()
            if hasattr(sim, "firehose"):
                return sim, "BinanceSimulator.firehose (real bookTicker builder)"
        except Exception as exc:  # the full simulator is not available: say so and fall back
            print(f"(BinanceSimulator unavailable: {exc!r}; publishing through the bus)")
    return BusFeed(), "StreamBus.publish from the simulator loop"


def allow_backlog(sim: Any, messages: int) -> None:
    """Let the one consumer buffer a whole run: the publisher may outrun any reader.

    The simulator cuts off a consumer that falls ``max_queue`` frames behind (Binance does
    the same); a throughput run must measure delivery, not that policy.
    """
    from foxtrot_binance.simulator.ws_settings import settings_for

    ctx = getattr(sim, "ctx", None)
    if ctx is not None:
        settings_for(ctx).max_queue = messages + 1000


def one_run(sim: Any, messages: int, symbols: list[str], consumers: int = 1) -> tuple[float, float]:
    """(msgs/s the slowest consumer received, simulator CPU µs per published message)."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    ws_url = sim.base_url.replace("http://", "ws://") + "/stream/ws/0"
    streams = [f"{s.lower()}@bookTicker" for s in symbols]
    readies = [ctx.Event() for _ in range(consumers)]
    children = [ctx.Process(target=consume, args=(ws_url, streams, messages, ready, results)) for ready in readies]
    for child in children:
        child.start()
    try:
        for ready in readies:
            if not ready.wait(30):
                raise RuntimeError("consumer did not subscribe")
        cpu = time.process_time()  # this process is the simulator; the consumers are children
        sim.firehose("spot", symbols, messages).result(120)
        outcomes = [results.get(timeout=120) for _ in children]
        cpu_us = (time.process_time() - cpu) / messages * 1e6
    finally:
        for child in children:
            child.join(30)
    rates = []
    for count, seconds in outcomes:
        if count < messages:
            print(f"  a consumer received only {count}/{messages}")
        rates.append(count / seconds if seconds > 0 else 0.0)
    return min(rates), cpu_us


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--symbols", type=int, default=1, help="bookTicker streams on the one connection")
    parser.add_argument("--consumers", type=int, default=1, help="consumer processes, each receiving every message")
    parser.add_argument("--bus", action="store_true", help="publish through the bus, not the simulator's builder")
    args = parser.parse_args(argv)
    symbols = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"][: max(1, args.symbols)]
    sim, source = make_simulator(args.bus)
    allow_backlog(sim, args.messages * max(1, args.consumers))
    rates: list[float] = []
    with sim:
        print(f"source: {source}; {args.messages:,} bookTicker messages x {args.runs} runs, symbols {symbols}, "
              f"{args.consumers} consumer(s)")
        for i in range(args.runs):
            rate, cpu_us = one_run(sim, args.messages, symbols, args.consumers)
            rates.append(rate)
            print(f"  run {i + 1}: {rate:,.0f} msgs/s  (simulator CPU {cpu_us:.1f} µs per message)")
    median = statistics.median(rates)
    print(f"median: {median:,.0f} msgs/s (min {min(rates):,.0f}, max {max(rates):,.0f}); target {TARGET:,}: {'met' if median >= TARGET else 'NOT met'}")
    return 0 if median >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
