"""Events and the reference EventEngine.

Adapters only need something with ``put(event)``; this engine is the platform's model (one
queue, one dispatch thread, one timer thread) so adapter tests run against the same
threading the host uses. Dispatch is by event type string: specific handlers first, then
general ones, in registration order. A failing handler is logged and never stops dispatch,
because one broken strategy must not starve the others of market data.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any

EVENT_TICK = "eTick."
EVENT_TRADE = "eTrade."
EVENT_ORDER = "eOrder."
EVENT_POSITION = "ePosition."
EVENT_ACCOUNT = "eAccount."
EVENT_QUOTE = "eQuote."
EVENT_CONTRACT = "eContract."
EVENT_LOG = "eLog"
EVENT_TIMER = "eTimer"
EVENT_ORDER_CANCEL = "eOrderCancel."
EVENT_ORDER_CANCEL_ALL = "eOrderCancelAll."
EVENT_ACCOUNT_REQUEST = "eAccountRequest."
EVENT_POSITION_REQUEST = "ePositionRequest."

_log = logging.getLogger(__name__)


@dataclass
class Event:
    type: str
    data: Any = None


HandlerType = Callable[[Event], None]

_STOP = object()


class EventEngine:
    """Queue + dispatch thread + timer thread emitting EVENT_TIMER every ``interval`` seconds."""

    def __init__(self, interval: float = 1) -> None:
        self._interval = interval
        # SimpleQueue: a C queue without Queue's task accounting, several times cheaper per
        # event; on a busy market-data feed the hand-over is the hot path
        self._queue: SimpleQueue[Any] = SimpleQueue()
        self._lock = threading.Lock()
        self._active = False
        self._worker: threading.Thread | None = None
        self._timer: threading.Thread | None = None
        self._timer_stop = threading.Event()
        self._handlers: defaultdict[str, list[HandlerType]] = defaultdict(list)
        self._general_handlers: list[HandlerType] = []

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        """Start dispatching; calling it again while running does nothing."""
        with self._lock:
            if self._active:
                return
            self._active = True
            self._timer_stop.clear()
            self._worker = threading.Thread(target=self._run, name="EventEngine", daemon=True)
            self._timer = threading.Thread(target=self._run_timer, name="EventEngineTimer", daemon=True)
            self._worker.start()
            self._timer.start()

    def stop(self, timeout: float = 5) -> None:
        """Stop both threads after the events already queued are dispatched; idempotent."""
        with self._lock:
            if not self._active:
                return
            self._active = False
            self._timer_stop.set()
            self._queue.put(_STOP)
            worker, timer = self._worker, self._timer
        for thread in (timer, worker):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)

    @property
    def active(self) -> bool:
        return self._active

    # -- events -----------------------------------------------------------------------
    def put(self, event: Event) -> None:
        self._queue.put(event)

    def register(self, type: str, handler: HandlerType) -> None:
        handlers = self._handlers[type]
        if handler not in handlers:
            handlers.append(handler)

    def unregister(self, type: str, handler: HandlerType) -> None:
        handlers = self._handlers.get(type)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del self._handlers[type]

    def register_general(self, handler: HandlerType) -> None:
        if handler not in self._general_handlers:
            self._general_handlers.append(handler)

    def unregister_general(self, handler: HandlerType) -> None:
        if handler in self._general_handlers:
            self._general_handlers.remove(handler)

    def clear_handlers(self) -> None:
        self._handlers.clear()
        self._general_handlers.clear()

    # -- threads ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                event = self._queue.get(timeout=1)
            except Empty:
                if not self._active:
                    return
                continue
            if event is _STOP:
                return
            self._process(event)

    def _process(self, event: Event) -> None:
        for handler in tuple(self._handlers.get(event.type, ())):
            self._call(handler, event)
        for handler in tuple(self._general_handlers):
            self._call(handler, event)

    @staticmethod
    def _call(handler: HandlerType, event: Event) -> None:
        try:
            handler(event)
        except Exception:
            _log.exception("event handler %r failed on %s", handler, event.type)

    def _run_timer(self) -> None:
        while not self._timer_stop.wait(self._interval):
            self.put(Event(EVENT_TIMER))
