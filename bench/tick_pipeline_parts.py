"""The child processes of bench/tick_pipeline.py: the simulator and the three consumers.

Each runs in its own process so that ``time.process_time()`` of a consumer is that consumer's
CPU alone (all its threads) and so that no consumer shares the GIL with the simulator. The
driver talks to each over a ``multiprocessing`` pipe with small tuples; every wait has a
timeout and a closed pipe ends the child, so nothing outlives an interrupted driver.

One measurement ("rep") of a consumer is: set up (connect, subscribe, wait until the stream
flows), send ``("armed", ...)``, receive ``("fired", info)`` once the simulator has published
the burst, finish counting, tear down, send ``("result", {...})``. Only one consumer is
connected at a time, so a burst is never fanned out to an idle one.

Times that cross processes use ``time.monotonic()`` (CLOCK_MONOTONIC, system-wide on Linux);
latencies against the exchange event time ``E`` and ``TickData.localtime`` use ``time.time()``
because those are wall-clock values.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import msgspec

PIPE_TIMEOUT = 300.0
"""A child that hears nothing from the driver for this long exits (the driver is gone)."""

Info = dict[str, Any]


def recv(conn: Connection, timeout: float = PIPE_TIMEOUT) -> tuple[Any, ...]:
    """Next command from the driver; a silent or closed pipe ends the child instead of hanging it."""
    if not conn.poll(timeout):
        raise SystemExit("tick_pipeline child: no command from the driver, exiting")
    return conn.recv()


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p99 (and count) of a latency sample, in the sample's own unit."""
    if not values:
        return {"n": 0, "p50": float("nan"), "p99": float("nan")}
    ordered = sorted(values)
    return {"n": len(ordered), "p50": statistics.median(ordered), "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]}


# -- the simulator ---------------------------------------------------------------------------
def simulator_child(conn: Connection, seed: int, tick_interval: float) -> None:
    """Serve the simulator and publish bursts on request: ``("fire", kind, symbols, n, rate)``.

    The per-connection backlog limit is lifted: a slow consumer (ccxt.pro) must be measured
    falling behind, not cut off by the simulator's Binance-like queue policy.
    """
    from foxtrot_binance.simulator import BinanceSimulator
    from foxtrot_binance.simulator.ws_settings import settings_for

    with BinanceSimulator(seed=seed, tick_interval=tick_interval) as sim:
        settings_for(sim.ctx).max_queue = 10**8
        conn.send(("ready", sim.base_url))
        while True:
            cmd = recv(conn)
            if cmd[0] == "stop":
                break
            _, kind, symbols, messages, rate, spread = cmd
            conn.send(("fired", fire(sim, kind, symbols, messages, rate, spread)))


def fire(sim: Any, kind: str, symbols: list[str], messages: int, rate: float | None, spread: bool = False) -> Info:
    """Publish one burst and say when it started and ended and which update id each symbol reached.

    ``spread``: evenly spaced messages instead of the firehose's own pacing, which publishes
    ``rate / 100`` messages back to back every 10 ms (20 at 2,000 msg/s). A firehose below
    200 msg/s publishes one message at a time, so ``k`` of them at ``rate / k`` each, started
    ``1 / rate`` apart, interleave into one evenly paced stream.
    """
    stall = [0.0]
    probe = sim.call(lambda: asyncio.get_running_loop().create_task(_stall_probe(stall)))
    published: dict[tuple[str, int, float], float] = {}
    wall = time.time

    def stamp(payload: dict[str, Any]) -> None:
        """The exact publish instant of a paced message, keyed as a consumer can see it; a key
        seen twice is ambiguous and matches nothing (NaN)."""
        key = (payload["s"], payload["E"], float(payload["B"]))
        published[key] = float("nan") if key in published else wall()

    on_publish = stamp if rate is not None else None
    cpu, start = time.process_time(), time.monotonic()
    if rate is None or not spread:
        sent = sim.firehose(kind, symbols, messages, rate=rate, on_publish=on_publish).result(600)
    else:
        k = int(rate // 199) + 1
        futures = []
        for j in range(k):
            share = messages // k + (1 if j < messages % k else 0)
            delay = start + j / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(sim.firehose(kind, symbols, share, rate=rate / k, on_publish=on_publish))
        sent = sum(f.result(600) for f in futures)
    end = time.monotonic()
    cpu = time.process_time() - cpu
    sim.call(probe.cancel)
    last_u = sim.call(lambda: {s: sim.exchange.markets[kind][s].update_id for s in symbols})
    return {"sent": sent, "start": start, "end": end, "sim_cpu_us": cpu / max(1, sent) * 1e6, "last_u": last_u,
            "sim_stall_ms": stall[0] * 1e3, "published": published}


def publish_latencies(published: dict[tuple[str, int, float], float],
                      samples: list[tuple[float, str, int, float]]) -> list[float]:
    """µs from each message's exact publish instant to ``seen`` for the samples
    ``(seen, symbol, E, bid_qty)`` that match a published message (a burst message is unique
    by symbol, E and bid quantity: the firehose varies the quantity between a symbol's
    consecutive messages); background ticks match none and are left out."""
    out = []
    for seen, symbol, event_ms, bid_qty in samples:
        sent = published.get((symbol, event_ms, bid_qty))
        if sent is not None and sent == sent:  # not NaN
            out.append((seen - sent) * 1e6)
    return out


async def _stall_probe(worst: list[float], period: float = 0.002) -> None:
    """Longest time the simulator loop was late to wake a 2 ms sleep: exchange-side jitter
    that every consumer sees as latency before its socket even has the message."""
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(period)
        worst[0] = max(worst[0], loop.time() - t - period)


# -- shared helpers for the consumers ----------------------------------------------------------
def burst_end(times: list[float], start: float, messages: int, bg_rate: float) -> tuple[int, float]:
    """Index and time of the tick that completes the burst, counting background ticks out.

    Ticks arriving after ``start`` are the burst's ``messages`` plus background ticks at
    ``bg_rate``; the burst is complete at the first tick ``i`` with
    ``i + 1 >= messages + bg_rate * (t_i - start)``. Falls back to the last tick if some were
    lost (the caller reports the attributed count, which then falls short).
    """
    first = next((i for i, t in enumerate(times) if t >= start), len(times))
    for i in range(first, len(times)):
        if i - first + 1 >= messages + bg_rate * (times[i] - start):
            return i, times[i]
    return len(times) - 1, times[-1] if times else start


def summary_of(kind: str, cpu_s: float, count: float, start: float, end: float) -> Info:
    return {"kind": kind, "count": count, "seconds": end - start, "rate": count / (end - start) if end > start else 0.0,
            "cpu_us": cpu_s / count * 1e6 if count else float("nan")}


# -- (a) the adapter ----------------------------------------------------------------------------
class AdapterConsumer:
    """The foxtrot-binance adapter on a foxtrot EventEngine; counts EVENT_TICK in a handler.

    The engine lives for the whole process; each rep creates, connects and closes a fresh
    adapter, so reps do not share sockets or state.
    """

    def __init__(self, base_url: str, host_gc_freeze: bool = False) -> None:
        from foxtrot_hooks import EVENT_LOG, EVENT_TICK, EventEngine

        self.base_url = base_url
        self.host_gc_freeze = host_gc_freeze
        self.engine = EventEngine()
        self.engine.start()
        self.connected = threading.Event()
        self.seen: set[str] = set()
        self.times: list[float] = []
        self.handled: list[float] = []
        self.local: list[Any] = []
        self.event: list[Any] = []
        self.symbol: list[str] = []
        self.bid_qty: list[float] = []
        self.full_gcs: list[tuple[float, float]] = []
        self._gc_started = 0.0
        gc.callbacks.append(self._on_gc)
        self.mode = "setup"
        self.engine.register(EVENT_LOG, self._on_log)
        self.engine.register(EVENT_TICK, self._on_tick)

    def _on_log(self, event: Any) -> None:
        if event.data.msg.startswith("Connected to Binance"):
            self.connected.set()

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        """Full collections stall every thread; with ccxt loaded one takes tens of ms."""
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._gc_started = time.monotonic()
        else:
            self.full_gcs.append((self._gc_started, time.monotonic() - self._gc_started))

    def gc_between(self, start: float, end: float) -> tuple[int, float, float]:
        """(count, longest ms, total ms) of full collections that began in [start, end] (monotonic)."""
        pauses = [d for t, d in self.full_gcs if start <= t <= end]
        return len(pauses), max(pauses, default=0.0) * 1e3, sum(pauses) * 1e3

    def backlog(self) -> int:
        """Events waiting in the reference EventEngine's queue (a private attribute: diagnostic only)."""
        queue = getattr(self.engine, "_queue", None)
        return queue.qsize() if queue is not None else -1

    def _on_tick(self, event: Any) -> None:
        """Kept minimal on purpose: its cost is part of what is measured. Latency samples keep
        floats and datetimes only (no per-tick GC-tracked container), so recording does not
        itself provoke the collections it reports."""
        mode = self.mode
        if mode == "count":
            self.times.append(time.monotonic())
        elif mode == "latency":
            tick = event.data
            self.handled.append(time.time())
            self.local.append(tick.localtime)
            self.event.append(tick.datetime)
            self.symbol.append(tick.symbol)
            self.bid_qty.append(tick.bid_volume_1)
        else:
            self.seen.add(event.data.symbol)

    def _open(self, kind: str, symbols: list[str]) -> Any:
        """A connected adapter whose every symbol already ticked (its first 24 h ticker arrived)."""
        from foxtrot_hooks import Exchange, SubscribeRequest

        from foxtrot_binance import BinanceSpotAdapter, BinanceUsdmAdapter

        spot = kind == "spot"
        adapter = (BinanceSpotAdapter if spot else BinanceUsdmAdapter)(self.engine, "BINANCE" if spot else "BINANCE_USDM")
        self.mode, self.seen = "setup", set()
        self.connected.clear()
        adapter.connect({"Base URL": self.base_url})
        if not self.connected.wait(60):
            raise RuntimeError("adapter did not log 'Connected to Binance' within 60 s")
        exchange = Exchange.BINANCE if spot else Exchange.BINANCEUSDM
        for symbol in symbols:
            adapter.subscribe(SubscribeRequest(symbol, exchange))
        deadline = time.monotonic() + 30
        while not self.seen.issuperset(symbols):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no tick within 30 s for {sorted(set(symbols) - self.seen)}")
            time.sleep(0.02)
        if self.host_gc_freeze:  # what a host may do once connected (README, Performance)
            gc.collect()
            gc.freeze()
        return adapter

    def rep(self, conn: Connection, kind: str, symbols: list[str], messages: int, paced: bool, bg_window: float) -> Info:
        adapter = self._open(kind, symbols)
        try:
            return self._latency(conn, messages) if paced else self._throughput(conn, messages, bg_window)
        finally:
            self.mode = "setup"
            adapter.close()
            if self.host_gc_freeze:
                gc.unfreeze()  # the closed adapter's objects become collectable again

    def _throughput(self, conn: Connection, messages: int, bg_window: float) -> Info:
        """Ticks/s and CPU per tick of one full-rate burst, background ticks measured and subtracted."""
        self.times = []
        self.mode = "count"
        time.sleep(bg_window)
        bg_rate = len(self.times) / bg_window
        self.times = times = []
        cpu = time.process_time()
        conn.send(("armed",))
        info = recv(conn)[1]
        deadline = time.monotonic() + max(30.0, messages / 5_000)
        peak = 0
        while len(times) < messages and time.monotonic() < deadline:
            peak = max(peak, self.backlog())
            time.sleep(0.005)
        # the burst has drained once 100 ms add no more ticks than about the background would
        previous = len(times)
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if len(times) - previous <= max(5.0, 3 * bg_rate * 0.1):
                break
            previous = len(times)
        cpu = time.process_time() - cpu
        self.mode = "setup"
        snapshot = list(times)
        index, end = burst_end(snapshot, info["start"], messages, bg_rate)
        after = sum(1 for t in snapshot[: index + 1] if t >= info["start"])
        attributed = after - bg_rate * (end - info["start"])
        out = summary_of("adapter", cpu, max(1.0, attributed), info["start"], end)
        gcs, _, gc_total = self.gc_between(info["start"], end)
        out.update(bg_rate=bg_rate, attributed=attributed, sent=info["sent"], full_gcs=gcs, gc_total_ms=gc_total,
                   peak_backlog=peak)
        return out

    def _latency(self, conn: Connection, messages: int) -> Info:
        """receive->handler and E->handler of every tick of a paced burst (first 10 % dropped)."""
        self.handled, self.local, self.event = handled, local, event = [], [], []
        self.symbol, self.bid_qty = symbol, bid_qty = [], []
        cpu = time.process_time()
        self.mode = "latency"
        conn.send(("armed",))
        info = recv(conn)[1]
        time.sleep(0.3)  # the last ticks of the burst reach the handler
        self.mode = "setup"
        cpu = time.process_time() - cpu
        wall_start = time.time() - (time.monotonic() - info["start"])
        wall_end = time.time() - (time.monotonic() - info["end"])
        window = [i for i, t in enumerate(handled) if wall_start <= t <= wall_end + 0.05]
        steady = window[len(window) // 10:]
        recv_us = [(handled[i] - local[i].timestamp()) * 1e6 for i in steady]
        event_us = [(handled[i] - event[i].timestamp()) * 1e6 for i in steady]
        exact_us = publish_latencies(info["published"], [
            (handled[i], symbol[i], round(event[i].timestamp() * 1000), bid_qty[i]) for i in steady])
        gcs, gc_ms, _ = self.gc_between(info["start"], info["end"] + 0.05)
        return {"kind": "adapter", "ticks": len(window), "sent": info["sent"], "sim_stall_ms": info["sim_stall_ms"],
                "cpu_us": cpu / max(1, len(handled)) * 1e6, "full_gcs": gcs, "gc_ms": gc_ms,
                "recv_to_handler": percentiles(recv_us), "event_to_handler": percentiles(event_us),
                "publish_to_handler": percentiles(exact_us)}


def adapter_child(conn: Connection, base_url: str, host_gc_freeze: bool = False) -> None:
    consumer = AdapterConsumer(base_url, host_gc_freeze)
    conn.send(("ready",))
    serve_reps(conn, consumer.rep)
    consumer.engine.stop()


def serve_reps(conn: Connection, rep: Callable[..., Info]) -> None:
    """Run ``("rep", kind, symbols, messages, paced, bg_window)`` commands until ``("stop",)``."""
    while True:
        cmd = recv(conn)
        if cmd[0] == "stop":
            return
        try:
            conn.send(("result", rep(conn, *cmd[1:])))
        except Exception as exc:  # noqa: BLE001 - report it to the driver, keep serving
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


# -- (c) the floor: bare aiohttp + msgspec ------------------------------------------------------
class FloorBookTicker(msgspec.Struct, gc=False):
    u: int
    s: str
    b: float
    B: float
    a: float
    A: float
    E: int = 0


class FloorFrame(msgspec.Struct, gc=False):
    stream: str
    data: FloorBookTicker


FLOOR_DECODER = msgspec.json.Decoder(FloorFrame, strict=False)


async def _recv_in_thread(conn: Connection) -> tuple[Any, ...]:
    return await asyncio.get_running_loop().run_in_executor(None, recv, conn)


async def floor_rep(conn: Connection, base_url: str, kind: str, symbols: list[str], messages: int, paced: bool) -> Info:
    """Every frame decoded into a float Struct; done when each symbol's last burst id arrived."""
    import aiohttp

    from foxtrot_binance.endpoints import ws_base

    path = "/stream" if kind == "spot" else "/fstream/public/stream"
    url = ws_base(base_url) + path + "?streams=" + "/".join(f"{s.lower()}@bookTicker" for s in symbols)
    us: list[int] = []
    ids: list[str] = []
    times: list[float] = []
    walls: list[tuple[float, str, int, float]] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=0) as ws:
        reader = asyncio.create_task(_floor_read(ws, us, ids, times, walls, paced))
        await asyncio.sleep(0.3)  # subscribed at connect; let the connection settle
        del us[:], ids[:], times[:], walls[:]
        cpu = time.process_time()
        conn.send(("armed",))
        info = (await _recv_in_thread(conn))[1]
        end = await _wait_for_ids(us, ids, times, info["last_u"], max(30.0, messages / 5_000))
        cpu = time.process_time() - cpu
        reader.cancel()
    count = sum(1 for t in times if info["start"] <= t <= end)
    if paced:
        steady = walls[len(walls) // 10:]
        return {"kind": "floor", "ticks": len(walls), "sent": info["sent"], "sim_stall_ms": info["sim_stall_ms"],
                "cpu_us": cpu / max(1, len(walls)) * 1e6,
                "event_to_handler": percentiles([(t - e / 1000) * 1e6 for t, _, e, _ in steady]),
                "publish_to_handler": percentiles(publish_latencies(info["published"], steady))}
    out = summary_of("floor", cpu, count, info["start"], end)
    out.update(sent=info["sent"], sim_rate=info["sent"] / (info["end"] - info["start"]), sim_cpu_us=info["sim_cpu_us"])
    return out


async def _floor_read(ws: Any, us: list[int], ids: list[str], times: list[float],
                      walls: list[tuple[float, str, int, float]], paced: bool) -> None:
    decode, now, wall = FLOOR_DECODER.decode, time.monotonic, time.time
    while True:
        msg = await ws.receive()
        if msg.type is not msg.type.TEXT:
            return
        book = decode(msg.data).data
        if paced:
            walls.append((wall(), book.s, book.E, book.B))
        us.append(book.u)
        ids.append(book.s)
        times.append(now())


async def _wait_for_ids(us: list[int], ids: list[str], times: list[float], last_u: dict[str, int], timeout: float) -> float:
    """Arrival time of the frame that completed the burst (every symbol at its last id)."""
    deadline = time.monotonic() + timeout
    pending = dict(last_u)
    scanned = 0
    done_at = time.monotonic()
    while pending and time.monotonic() < deadline:
        n = len(us)
        for i in range(scanned, n):
            if us[i] >= pending.get(ids[i], 1 << 62):
                del pending[ids[i]]
                done_at = times[i]
        scanned = n
        if pending:
            await asyncio.sleep(0.005)
    if pending:
        raise RuntimeError(f"burst incomplete after {timeout:.0f} s: waiting for {pending}")
    return done_at


def floor_child(conn: Connection, base_url: str) -> None:
    conn.send(("ready",))

    def rep(conn: Connection, kind: str, symbols: list[str], messages: int, paced: bool, bg_window: float) -> Info:
        return asyncio.run(floor_rep(conn, base_url, kind, symbols, messages, paced))

    serve_reps(conn, rep)


# -- (b) ccxt.pro ---------------------------------------------------------------------------------
async def ccxt_rep(conn: Connection, base_url: str, symbols: list[str], messages: int) -> Info:
    """``watch_bids_asks`` in a loop; done when ccxt's cache holds each symbol's last burst id.

    ccxt.pro parses every frame but resolves a watch only once per drained read, so the
    figures are: messages it processed per second (the cache reached the last id) and the
    updates the caller actually received (watch returns), with their share of the burst.
    """
    import ccxt.pro

    from foxtrot_binance.endpoints import point_ccxt_at

    ex = ccxt.pro.binance({"enableRateLimit": False, "options": {
        "fetchMarkets": {"types": ["spot", "linear"]}, "fetchCurrencies": False, "fetchMargins": False}})
    point_ccxt_at(ex, base_url)
    try:
        await ex.load_markets()
        unified = {s: next(m["symbol"] for m in ex.markets_by_id[s] if m["spot"]) for s in symbols}
        delivered = [0]
        reader = asyncio.create_task(_ccxt_watch(ex, list(unified.values()), delivered))
        await _ccxt_wait(ex, unified, None, 15.0)  # subscribed: some symbol has a cached bid/ask
        delivered[0] = 0
        cpu = time.process_time()
        conn.send(("armed",))
        info = (await _recv_in_thread(conn))[1]
        end = await _ccxt_wait(ex, unified, info["last_u"], max(30.0, messages / 2_000))
        cpu = time.process_time() - cpu
        returns = delivered[0]
        reader.cancel()
    finally:
        await ex.close()
    out = summary_of("ccxt", cpu, info["sent"], info["start"], end)
    out.update(delivered=returns, delivered_rate=returns / (end - info["start"]), share=returns / info["sent"])
    return out


async def _ccxt_watch(ex: Any, unified: list[str], delivered: list[int]) -> None:
    while True:
        result = await ex.watch_bids_asks(unified)
        delivered[0] += len(result)


async def _ccxt_wait(ex: Any, unified: dict[str, str], last_u: dict[str, int] | None, timeout: float) -> float:
    """Poll ccxt's bid/ask cache every 2 ms until each symbol shows its target id.

    With ``last_u`` None: until any symbol has a cached entry, which proves the one SUBSCRIBE
    for all of them was served.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cache = ex.bidsasks or {}
        seen = {b: int(cache[s]["info"]["u"]) for b, s in unified.items() if s in cache}
        if last_u is None and seen:
            return time.monotonic()
        if last_u is not None and all(seen.get(b, -1) >= u for b, u in last_u.items()):
            return time.monotonic()
        await asyncio.sleep(0.002)
    raise RuntimeError(f"ccxt.pro: burst incomplete after {timeout:.0f} s")


def ccxt_child(conn: Connection, base_url: str) -> None:
    import ccxt.pro  # noqa: F401 - imported once, before the first rep

    conn.send(("ready",))

    def rep(conn: Connection, kind: str, symbols: list[str], messages: int, paced: bool, bg_window: float) -> Info:
        return asyncio.run(ccxt_rep(conn, base_url, symbols, messages))

    serve_reps(conn, rep)
