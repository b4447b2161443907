"""Websocket faults as unmodified ccxt.pro 4.5.90 experiences them.

These pin down what the adapter's supervision has to cope with: a drop rejects pending
watchers with NetworkError and the next watch reconnects; a stall is silent; a malformed
frame kills ccxt's receive loop so only its ping-pong keepalive notices (RequestTimeout);
an expired listenKey closes the private stream and ccxt keeps reusing the dead key until
its re-authentication window passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import ccxt
import pytest

from foxtrot_binance.simulator import BinanceSimulator
from ws_support import account_update, fed, move, order_trade_update, pro_client, user_fed

SWAP = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def sim() -> Iterator[BinanceSimulator]:
    with BinanceSimulator(tick_interval=None) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def healthy(sim: BinanceSimulator) -> Iterator[None]:
    yield
    sim.faults.clear()


def run(sim: BinanceSimulator, scenario: Any, kind: str = "swap", keep_alive_ms: int | None = None) -> list[Any]:
    """Run ``scenario(exchange)``; returns what the loop's exception handler caught."""
    caught: list[Any] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: caught.append(context))
        exchange = pro_client(sim, kind)
        if keep_alive_ms is not None:
            exchange.streaming["keepAlive"] = keep_alive_ms
        try:
            await exchange.load_markets()
            await asyncio.wait_for(scenario(exchange), 30)
        finally:
            await exchange.close()

    asyncio.run(main())
    return caught


def test_drop_rejects_watchers_and_next_watch_reconnects(sim: BinanceSimulator) -> None:
    async def scenario(exchange: Any) -> None:
        pending = asyncio.ensure_future(exchange.watch_bids_asks([SWAP]))
        await fed(sim, "usdm", "btcusdt@bookTicker")
        sim.faults.drop_streams("market")
        with pytest.raises(ccxt.NetworkError, match="closing code 1006"):
            await pending
        again = asyncio.ensure_future(exchange.watch_bids_asks([SWAP]))
        await fed(sim, "usdm", "btcusdt@bookTicker")
        await move(sim, "usdm", "1.001")
        assert (await again)[SWAP]["bid"] > 0

    run(sim, scenario)


def test_drop_of_user_streams_then_ws_api_resubscribes(sim: BinanceSimulator) -> None:
    async def scenario(exchange: Any) -> None:
        pending = asyncio.ensure_future(exchange.watch_orders("BTC/USDT"))
        await user_fed(sim, "spot")
        sim.faults.drop_streams("user")
        with pytest.raises(ccxt.NetworkError):
            await pending
        again = asyncio.ensure_future(exchange.watch_balance())
        await user_fed(sim, "spot")
        now = sim.ctx.now_ms()
        sim.call(sim.bus.publish_user, "spot", sim.api_key,
                 {"e": "outboundAccountPosition", "E": now, "u": now, "B": [{"a": "BTC", "f": "1.5", "l": "0"}]})
        assert (await again)["BTC"]["free"] == pytest.approx(1.5)

    run(sim, scenario, kind="spot")


def test_stall_delivers_nothing_until_cleared(sim: BinanceSimulator) -> None:
    async def scenario(exchange: Any) -> None:
        pending = asyncio.ensure_future(exchange.watch_bids_asks([SWAP]))
        await fed(sim, "usdm", "btcusdt@bookTicker")
        sim.faults.stall_streams(60, "market")
        await move(sim, "usdm", "1.001")
        done, _ = await asyncio.wait({pending}, timeout=0.3)
        assert not done  # the connection is open and silent
        sim.faults.clear()
        price = await move(sim, "usdm", "0.999")
        quote = (await pending)[SWAP]
        assert quote["bid"] <= float(price) <= quote["ask"]

    run(sim, scenario)


def test_malformed_frame_kills_ccxt_receive_loop_until_keepalive_times_out(sim: BinanceSimulator) -> None:
    async def scenario(exchange: Any) -> None:
        pending = asyncio.ensure_future(exchange.watch_bids_asks([SWAP]))
        await fed(sim, "usdm", "btcusdt@bookTicker")
        sim.faults.send_malformed_frame("market")
        await move(sim, "usdm", "1.001")
        with pytest.raises(ccxt.RequestTimeout, match="ping-pong keepalive"):
            await pending

    caught = run(sim, scenario, keep_alive_ms=200)
    assert any("JSONDecodeError" in repr(c.get("exception")) for c in caught)


def test_listen_key_expiry_closes_private_stream(sim: BinanceSimulator) -> None:
    async def scenario(exchange: Any) -> None:
        pending = asyncio.ensure_future(exchange.watch_orders(SWAP))
        await user_fed(sim, "usdm")
        stale = exchange.options["linear"]["listenKey"]
        sim.faults.expire_listen_keys()
        with pytest.raises(ccxt.NetworkError, match="closing code 1000"):
            await pending
        # ccxt reuses its cached (now dead) key within its 20-minute window: refused
        with pytest.raises(ccxt.NetworkError, match="400"):
            await exchange.watch_orders(SWAP)
        # forcing re-authentication POSTs a new key, and the stream works again
        exchange.options["linear"]["lastAuthenticatedTime"] = 0
        again = asyncio.ensure_future(exchange.watch_orders(SWAP))
        await user_fed(sim, "usdm")
        assert exchange.options["linear"]["listenKey"] != stale
        now = sim.ctx.now_ms()
        sim.call(sim.bus.publish_user, "usdm", sim.api_key, order_trade_update(now, "NEW", "NEW", 0))
        sim.call(sim.bus.publish_user, "usdm", sim.api_key, account_update(now))
        assert (await again)[-1]["status"] == "open"

    run(sim, scenario)


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
def test_a_skipped_depth_update_id_is_a_checksum_error_in_ccxt(symbol: str) -> None:
    """faults.skip_depth_update consumes an id without publishing it: ccxt's order book sees
    the gap in U/u (spot) or pu (futures), raises ChecksumError and drops the book, as on a
    real desync; the next watch_order_book resubscribes and resyncs."""
    from ws_support import WAIT, market_kind

    kind = market_kind(symbol)
    with BinanceSimulator(tick_interval=None) as sim:

        async def main() -> None:
            exchange = pro_client(sim, kind)
            loop = asyncio.get_running_loop()
            try:
                await exchange.load_markets()
                pending = asyncio.ensure_future(exchange.watch_order_book(symbol))
                await fed(sim, kind, "btcusdt@depth@100ms")
                await move(sim, kind, "1.0002")
                await asyncio.wait_for(pending, 15)  # in sync first
                watching = asyncio.ensure_future(exchange.watch_order_book(symbol))
                sim.faults.skip_depth_update("BTCUSDT")
                deadline = loop.time() + WAIT
                step = 0
                while symbol in exchange.orderbooks:  # ccxt deletes the book when it sees the gap
                    assert loop.time() < deadline, "ccxt never noticed the gap"
                    step += 1
                    await move(sim, kind, "1.0001" if step % 2 else "0.9999")
                with pytest.raises(ccxt.ChecksumError):
                    await asyncio.wait_for(watching, 15)
                again = asyncio.ensure_future(exchange.watch_order_book(symbol))  # resubscribes, new snapshot
                await fed(sim, kind, "btcusdt@depth@100ms")
                await move(sim, kind, "1.0003")
                book = await asyncio.wait_for(again, 15)
                assert book["bids"] and book["asks"]
            finally:
                await exchange.close()

        asyncio.run(main())
