"""Events and the reference EventEngine.

Adapters only need something with ``put(event)``; this engine is the platform's model (one
queue, one dispatch thread, one timer thread) so adapter tests run against the same
threading the host uses. Dispatch is by event type string: specific handlers first, then
general ones, in registration order. A failing handler is logged and never stops dispatch,
because one broken strategy must not starve the others of market data.

Market data makes dispatch the hot path (two events per tick, 100k ticks/s on a busy feed), so
the handler lists are copy-on-write tuples: register/unregister build a new tuple under a
lock, and dispatch iterates whatever tuple it read, without copying it per event. A handler
that registers or unregisters another one from inside dispatch is therefore safe, and the
change applies from the next event on, exactly as with a per-event copy.
"""

from __future__ import annotations

import logging
import threading
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


@dataclass(slots=True, weakref_slot=True)
class Event:
    """One event: a type string (``EVENT_TICK``, ``EVENT_TICK + vt_symbol`` ...) and its data.

    Slotted: two are built per tick, and a slotted instance is smaller and quicker to create
    and to read than one with a ``__dict__``. Weak references and every pickle protocol
    still work, as for the platform's plain event.
    """

    type: str
    data: Any = None

    def __getstate__(self) -> tuple[str, Any]:
        return (self.type, self.data)

    def __setstate__(self, state: tuple[str, Any]) -> None:
        self.type, self.data = state


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
        # copy-on-write: replaced (never mutated) under _handlers_lock; read without a lock
        self._handlers_lock = threading.Lock()
        self._handlers: dict[str, tuple[HandlerType, ...]] = {}
        self._general_handlers: tuple[HandlerType, ...] = ()

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
        """Add ``handler`` for events of ``type`` (once; registering it again does nothing)."""
        with self._handlers_lock:
            handlers = self._handlers.get(type, ())
            if handler not in handlers:
                self._handlers[type] = (*handlers, handler)

    def unregister(self, type: str, handler: HandlerType) -> None:
        with self._handlers_lock:
            handlers = self._handlers.get(type, ())
            if handler in handlers:
                remaining = tuple(h for h in handlers if h != handler)
                if remaining:
                    self._handlers[type] = remaining
                else:
                    del self._handlers[type]

    def register_general(self, handler: HandlerType) -> None:
        """Add ``handler`` for every event type, called after the type's own handlers."""
        with self._handlers_lock:
            if handler not in self._general_handlers:
                self._general_handlers = (*self._general_handlers, handler)

    def unregister_general(self, handler: HandlerType) -> None:
        with self._handlers_lock:
            if handler in self._general_handlers:
                self._general_handlers = tuple(h for h in self._general_handlers if h != handler)

    def clear_handlers(self) -> None:
        with self._handlers_lock:
            self._handlers.clear()
            self._general_handlers = ()

    # -- threads ----------------------------------------------------------------------
    def _run(self) -> None:
        """The dispatch loop; ``_process`` inlined, as it runs twice per market-data tick."""
        get = self._queue.get
        specific = self._handlers  # mutated in place only (clear_handlers), never rebound
        while True:
            try:
                event = get(timeout=1)
            except Empty:
                if not self._active:
                    return
                continue
            if event is _STOP:
                return
            for handler in specific.get(event.type, ()):
                try:
                    handler(event)
                except Exception:
                    _log.exception("event handler %r failed on %s", handler, event.type)
            for handler in self._general_handlers:
                try:
                    handler(event)
                except Exception:
                    _log.exception("event handler %r failed on %s", handler, event.type)

    def _process(self, event: Event) -> None:
        """Dispatch one event synchronously on the calling thread (same rules as ``_run``)."""
        for handler in self._handlers.get(event.type, ()):
            self._call(handler, event)
        for handler in self._general_handlers:
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
