"""Throughput and CPU per message of the lean market-data path (MarketStreamClient).

Run:  python bench/tick_pipeline_lean.py [--runs 5] [--messages 300000] [--source raw|sim|both]

The server runs in a child process (pinned to CPU 1 when possible, the client to CPU 0) so
that ``time.process_time`` of this process is the client's CPU alone:

* ``raw``: a small aiohttp server that, after the SUBSCRIBE ack, writes pre-encoded combined
  bookTicker frames straight to the socket as fast as it drains: the client is the bottleneck,
  so this measures the client's ceiling (compare perf-anchors.md: ~440k msg/s for
  aiohttp + msgspec Struct, ~30k for ccxt.pro).
* ``sim``: the embedded simulator's ``firehose`` (bookTicker payloads built per message by
  the simulator, so its own cost may cap the rate; the client CPU per message is still clean).

Every message is decoded into a typed ``BookTicker`` and handed to a callback that counts it.
Two last sections need no sockets: ``MarketDataManager.on_message`` (decoded bookTicker -> new
TickData, handed to a sink that counts and drops it, as a consumer that does not keep every
tick would), and the EventEngine hand-over (the two events ``BaseAdapter.on_tick`` puts per
tick, from this thread to the engine's dispatch thread and one EVENT_TICK handler; CPU of both
threads). Figures: median [min-max] of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

STREAM = "btcusdt@bookTicker"


# -- child process: the servers --------------------------------------------------------------
def _frame(payload: bytes) -> bytes:
    """An unmasked server->client websocket text frame."""
    n = len(payload)
    if n < 126:
        return bytes([0x81, n]) + payload
    return bytes([0x81, 126]) + n.to_bytes(2, "big") + payload


def serve_raw() -> None:
    from aiohttp import WSMsgType, web

    frames = b"".join(
        _frame(
            b'{"stream":"btcusdt@bookTicker","data":{"u":%d,"s":"BTCUSDT","b":"%d.%02d","B":"1.%05d",'
            b'"a":"%d.%02d","A":"2.%05d"}}' % (400900217 + i, 60000 + i % 50, i % 100, i, 60001 + i % 50, i % 100, i)
        )
        for i in range(1000)
    )
    sockets: list[Any] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                body = __import__("json").loads(msg.data)
                await ws.send_str('{"result":null,"id":%d}' % body["id"])
                sockets.append(request.transport)
        return ws

    async def fire(count: int) -> None:
        transport = sockets[-1]
        sent = 0
        while sent < count:
            transport.write(frames)
            sent += 1000
            while transport.get_write_buffer_size() > 4_000_000:
                await asyncio.sleep(0.0005)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/stream", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"http://127.0.0.1:{port}", flush=True)
        await command_loop(fire)

    asyncio.run(main())


def serve_sim() -> None:
    from foxtrot_binance.simulator.server import BinanceSimulator

    with BinanceSimulator(seed=1, symbols=["BTCUSDT"], tick_interval=None) as sim:
        print(sim.base_url, flush=True)

        async def fire(count: int) -> None:
            await asyncio.wrap_future(sim.firehose("spot", ["BTCUSDT"], count))

        asyncio.run(command_loop(fire))


async def command_loop(fire: Any) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "quit":
            return
        await fire(int(line.split()[1]))


# -- parent process: the client ---------------------------------------------------------------
async def measure(base_url: str, child: subprocess.Popen[str], messages: int, runs: int) -> list[tuple[float, float]]:
    from foxtrot_binance.stream_client import MarketStreamClient, StreamClientConfig

    loop = asyncio.get_running_loop()
    state = {"count": 0, "target": 0}
    done: list[asyncio.Future[None]] = [loop.create_future()]

    def on_message(channel: str, symbol: str, payload: Any) -> None:
        state["count"] += 1
        if state["count"] == state["target"]:
            done[0].set_result(None)

    client = MarketStreamClient("spot", on_message, base_url=base_url, config=StreamClientConfig(stale_after=600))
    client.subscribe([STREAM])

    async def burst(n: int) -> tuple[float, float]:
        state["count"], state["target"] = 0, n
        done[0] = loop.create_future()
        wall, cpu = time.perf_counter(), time.process_time()
        assert child.stdin is not None
        child.stdin.write(f"go {n}\n")
        child.stdin.flush()
        await asyncio.wait_for(done[0], 120)
        return time.perf_counter() - wall, time.process_time() - cpu

    await asyncio.sleep(0.5)  # let the SUBSCRIBE be acknowledged (a benchmark, not a test)
    await burst(20_000)  # warm-up
    results = []
    for _ in range(runs):
        wall, cpu = await burst(messages)
        results.append((messages / wall, cpu / messages * 1e6))
    await client.close()
    return results


def run_source(source: str, messages: int, runs: int) -> list[tuple[float, float]]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", source],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        base_url = child.stdout.readline().strip()
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(child.pid, {1})
            os.sched_setaffinity(0, {0})
        return asyncio.run(measure(base_url, child, messages, runs))
    finally:
        if child.stdin is not None:
            child.stdin.write("quit\n")
            child.stdin.close()
        child.wait(10)


def manager_micro(runs: int) -> list[float]:
    """µs per decoded bookTicker through MarketDataManager.on_message (TickData built), no sockets."""
    import msgspec
    from foxtrot_hooks import Exchange

    from foxtrot_binance.market_data import MarketDataManager
    from foxtrot_binance.stream_messages import BookTicker, Ticker24h

    class NoClient:
        def subscribe(self, streams: Any) -> None: ...
        def unsubscribe(self, streams: Any) -> None: ...
        async def close(self) -> None: ...

    count = [0]

    def sink(tick: Any) -> None:
        count[0] += 1

    m = MarketDataManager("spot", "BENCH", Exchange.BINANCE, sink, lambda on_message: NoClient())
    ticker = msgspec.json.decode(b'{"E":1,"s":"BTCUSDT","c":"1","p":"0","o":"1","h":"1","l":"1","v":"1","q":"1"}',
                                 type=Ticker24h, strict=False)
    books = [BookTicker(400900217 + i, "BTCUSDT", 60000.0 + i, 1.0, 60001.0 + i, 2.0) for i in range(100_000)]
    out = []
    for _ in range(runs):
        m.unsubscribe("BTCUSDT")  # fresh state: update ids start over
        m.subscribe("BTCUSDT")
        m.on_message("ticker", "BTCUSDT", ticker)
        count[0] = 0
        start = time.process_time()
        for book in books:
            m.on_message("bookTicker", "BTCUSDT", book)
        out.append((time.process_time() - start) / len(books) * 1e6)
        assert count[0] == len(books)
    return out


def engine_micro(runs: int, ticks: int = 200_000) -> list[float]:
    """µs of CPU (both threads) per tick for the two events of ``BaseAdapter.on_tick`` through
    the reference EventEngine to one EVENT_TICK handler."""
    import threading

    from foxtrot_hooks import EVENT_TICK, Event, EventEngine

    out = []
    for _ in range(runs):
        engine = EventEngine(interval=60)
        handled = [0]
        done = threading.Event()

        def on_tick(event: Any) -> None:
            handled[0] += 1

        engine.register(EVENT_TICK, on_tick)
        engine.register("bench.done", lambda event: done.set())
        engine.start()
        put, data, specific = engine.put, object(), EVENT_TICK + "BTCUSDT.BINANCE"
        start = time.process_time()
        for _ in range(ticks):
            put(Event(EVENT_TICK, data))
            put(Event(specific, data))
        put(Event("bench.done"))
        if not done.wait(120):
            raise RuntimeError("EventEngine did not drain within 120 s")
        out.append((time.process_time() - start) / ticks * 1e6)
        engine.stop()
        assert handled[0] == ticks
    return out


def summary(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} [{format(min(values), fmt)}-{format(max(values), fmt)}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--source", choices=["raw", "sim", "both"], default="both")
    parser.add_argument("--serve", choices=["raw", "sim"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "raw":
        return serve_raw()
    if args.serve == "sim":
        return serve_sim()
    sources = ["raw", "sim"] if args.source == "both" else [args.source]
    print(f"bookTicker through MarketStreamClient, {args.messages} messages x {args.runs} runs, median [min-max]")
    for source in sources:
        n = args.messages if source == "raw" else max(1, args.messages // 3)
        results = run_source(source, n, args.runs)
        rates = [r for r, _ in results]
        cpus = [c for _, c in results]
        print(f"  {source:4s} server: {summary(rates, ',.0f')} msg/s, client CPU {summary(cpus, '.2f')} µs/msg ({n} msgs/run)")
    micro = manager_micro(args.runs)
    print(f"  MarketDataManager.on_message, decoded bookTicker -> new TickData: {summary(micro, '.2f')} µs/msg")
    engine = engine_micro(args.runs)
    print(f"  EventEngine hand-over, EVENT_TICK + EVENT_TICK.<vt_symbol> -> one handler: {summary(engine, '.2f')} µs/tick")


if __name__ == "__main__":
    main()
