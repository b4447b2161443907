"""One I/O thread per adapter, running one asyncio loop that owns every ccxt call and socket.

ccxt's async clients and aiohttp sessions are bound to the loop that created them ("attached
to a different loop" is a classic failure when that rule is broken), so everything network
related is created, used and closed on this one loop. The host's threads only schedule work
here and get futures back; nothing they call blocks on the network.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from foxtrot_binance.logs import log

T = TypeVar("T")


class IoThread:
    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError(f"{self.name}: the I/O thread is not running")
        return self._loop

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def start(self) -> None:
        """Start the thread and return once its loop runs; a second call does nothing."""
        with self._lock:
            if self._thread is not None:
                return
            ready = threading.Event()
            loop = asyncio.new_event_loop()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            self._loop = loop
            self._thread = threading.Thread(target=run, name=f"{self.name}-io", daemon=True)
            self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.name}: the I/O loop did not start")

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop from any thread; the result arrives in the future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, shutdown: Callable[[], Awaitable[None]] | None = None, timeout: float = 10.0) -> None:
        """Run ``shutdown`` on the loop, cancel whatever is left, stop and join. Idempotent."""
        with self._lock:
            if self._stopped or self._thread is None or self._loop is None:
                self._stopped = True
                return
            self._stopped = True
            loop, thread = self._loop, self._thread
        if self.in_loop_thread():
            raise RuntimeError(f"{self.name}: stop() must not be called from the I/O thread itself")
        future = asyncio.run_coroutine_threadsafe(self._drain(shutdown), loop)
        try:
            future.result(timeout)
        except Exception as exc:  # shutdown must finish even when a close step fails
            future.cancel()
            log.opt(exception=exc).warning("{}: shutdown did not finish cleanly: {}", self.name, exc)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()

    @staticmethod
    async def _drain(shutdown: Callable[[], Awaitable[None]] | None) -> None:
        try:
            if shutdown is not None:
                await shutdown()
        finally:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
