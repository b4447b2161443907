"""Order round trip: the adapter's send_order -> NOTTRADED event on the host's EventEngine,
beside a bare ccxt async create_order against the same simulator, in the same run.

    python bench/order_roundtrip.py [--orders 300] [--runs 5]

Prints median and p99 per run and the median of the per-run ratios (adapter / bare). Who
goes first alternates between runs, because the simulator slows a little as orders pile up.
The simulator runs in a child process so its CPU does not share the GIL with the client.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import threading
import time

from foxtrot_binance import BinanceSpotAdapter
from foxtrot_binance.endpoints import point_ccxt_at
from foxtrot_hooks import EVENT_LOG, EVENT_ORDER, CancelRequest, Direction, EventEngine, Exchange, OrderRequest, OrderType, Status


def serve(queue: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from foxtrot_binance.simulator import BinanceSimulator

    # latency, not rate limits, is measured: no weight or order-count limit interferes
    with BinanceSimulator(seed=1, tick_interval=None, balances={"USDT": 10**12, "BTC": 10**6},
                          weight_limit=10**9, order_limit=10**9) as sim:
        queue.put((sim.base_url, sim.api_key, sim.api_secret))
        stop.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bare_ccxt(base_url: str, key: str, secret: str, orders: int) -> list[float]:
    import ccxt.async_support as ccxt_async

    exchange = ccxt_async.binance({"apiKey": key, "secret": secret, "enableRateLimit": False,
                                   "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}})
    point_ccxt_at(exchange, base_url)
    await exchange.load_markets()
    samples = []
    for _ in range(orders):
        t0 = time.perf_counter()
        await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 1000)
        samples.append(time.perf_counter() - t0)
        await exchange.cancel_all_orders("BTC/USDT")  # stay under MAX_NUM_ORDERS; not timed
    await exchange.close()
    return samples


def adapter_run(base_url: str, key: str, secret: str, orders: int) -> list[float]:
    engine = EventEngine()
    adapter = BinanceSpotAdapter(engine, "BINANCE")
    resting = threading.Event()
    connected = threading.Event()
    pending: dict[str, float] = {}
    samples: list[float] = []
    logs: list[str] = []

    def on_log(event) -> None:
        logs.append(event.data.msg)
        if "User data stream connected" in event.data.msg:
            connected.set()

    engine.register(EVENT_LOG, on_log)

    failures: list[str] = []
    cancelled = threading.Event()

    lock = threading.Lock()  # send_order may be answered before its vt_orderid is recorded

    def on_order(event) -> None:
        with lock:
            handle(event.data)

    def handle(order) -> None:
        if order.status is Status.CANCELLED:
            cancelled.set()
            return
        if order.vt_orderid not in pending:
            return
        if order.status is Status.NOTTRADED:
            samples.append(time.perf_counter() - pending.pop(order.vt_orderid))
            resting.set()
        elif order.status is Status.CANCELLED:
            cancelled.set()
        elif order.status is Status.REJECTED:
            failures.append(f"{order.vt_orderid}: {(order.extra or {}).get('reason')}")
            pending.pop(order.vt_orderid)
            resting.set()

    engine.register(EVENT_ORDER, on_order)
    engine.start()
    adapter.connect({"API Key": key, "Secret": secret, "Base URL": base_url})
    if not connected.wait(30):
        adapter.close()
        engine.stop()
        raise RuntimeError("adapter did not connect; its log: " + " | ".join(logs))
    for _ in range(orders):
        resting.clear()
        request = OrderRequest("BTCUSDT", Exchange.BINANCE, Direction.LONG, OrderType.LIMIT, 0.01, 1000)
        with lock:
            t0 = time.perf_counter()
            vt = adapter.send_order(request)
            pending[vt] = t0
        if not resting.wait(10):
            raise RuntimeError(f"{vt} never reached NOTTRADED")
        if failures:
            raise RuntimeError(f"order rejected: {failures[0]}")
        cancelled.clear()
        adapter.cancel_order(CancelRequest(vt.split(".", 1)[1], "BTCUSDT", Exchange.BINANCE))  # not timed
        if not cancelled.wait(10):
            raise RuntimeError(f"{vt} was not cancelled")
    adapter.close()
    engine.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    queue: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(queue, stop), daemon=True)
    server.start()
    base_url, key, secret = queue.get(timeout=30)
    ratios = []
    try:
        for run in range(1, args.runs + 1):
            # the simulator slows a little as its order history grows: alternate who goes first
            if run % 2:
                bare = asyncio.run(bare_ccxt(base_url, key, secret, args.orders))
                ours = adapter_run(base_url, key, secret, args.orders)
            else:
                ours = adapter_run(base_url, key, secret, args.orders)
                bare = asyncio.run(bare_ccxt(base_url, key, secret, args.orders))
            ratio = statistics.median(ours) / statistics.median(bare)
            ratios.append(ratio)
            print(
                f"run {run}: bare ccxt create_order median {statistics.median(bare) * 1e3:.3f} ms "
                f"p99 {percentile(bare, 0.99) * 1e3:.3f} ms | adapter send_order->NOTTRADED median "
                f"{statistics.median(ours) * 1e3:.3f} ms p99 {percentile(ours, 0.99) * 1e3:.3f} ms | ratio {ratio:.2f}"
            )
    finally:
        stop.set()
        server.join(10)
    print(f"median ratio adapter/bare over {args.runs} runs: {statistics.median(ratios):.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
