"""Review of ec86ca5 (copy-on-write handler tuples, inlined dispatch, slotted Event).

Each test pins one EventEngine promise the market-data path relies on. Every wait is on a
threading.Event with a timeout; nothing sleeps to synchronise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from foxtrot_hooks import EVENT_TICK, EVENT_TIMER, Event, EventEngine

WAIT = 5.0


@pytest.fixture
def engine() -> Iterator[EventEngine]:
    engine = EventEngine(interval=0.02)
    yield engine
    engine.stop()


def _marker(engine: EventEngine) -> threading.Event:
    """An event set when a 'done' event, put after everything else, is dispatched."""
    done = threading.Event()
    engine.register("done", lambda e: done.set())
    return done


def test_specific_then_general_in_registration_order_for_every_event(engine: EventEngine) -> None:
    seen: list[tuple[str, object]] = []
    engine.register_general(lambda e: seen.append(("g1", e.data)) if e.type.startswith(EVENT_TICK) else None)
    engine.register(EVENT_TICK, lambda e: seen.append(("s1", e.data)))
    engine.register_general(lambda e: seen.append(("g2", e.data)) if e.type.startswith(EVENT_TICK) else None)
    engine.register(EVENT_TICK, lambda e: seen.append(("s2", e.data)))
    done = _marker(engine)
    engine.start()
    for i in range(200):
        engine.put(Event(EVENT_TICK, i))
    engine.put(Event("done"))
    assert done.wait(WAIT)
    assert seen == [(name, i) for i in range(200) for name in ("s1", "s2", "g1", "g2")]


def test_a_failing_handler_is_logged_and_every_other_handler_still_runs(
    engine: EventEngine, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def boom(event: Event) -> None:
        raise ValueError("strategy bug")

    engine.register("x", boom)
    engine.register("x", lambda e: seen.append("s"))
    engine.register_general(lambda e: (_ for _ in ()).throw(KeyError("g")) if e.type == "x" else None)
    engine.register_general(lambda e: seen.append("g") if e.type == "x" else None)
    done = _marker(engine)
    engine.start()
    with caplog.at_level(logging.ERROR, logger="foxtrot_hooks.events"):
        engine.put(Event("x"))
        engine.put(Event("x"))
        engine.put(Event("done"))
        assert done.wait(WAIT)
    assert seen == ["s", "g", "s", "g"]
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 4
    assert engine.active


def test_stop_dispatches_every_event_already_queued(engine: EventEngine) -> None:
    got: list[int] = []
    gate = threading.Event()
    first = threading.Event()

    def slow_first(event: Event) -> None:
        if event.data == 0:
            first.set()
            assert gate.wait(WAIT)
        got.append(event.data)

    engine.register(EVENT_TICK, slow_first)
    engine.start()
    engine.put(Event(EVENT_TICK, 0))
    assert first.wait(WAIT)
    for i in range(1, 5000):
        engine.put(Event(EVENT_TICK, i))
    stopper = threading.Thread(target=engine.stop, kwargs={"timeout": 30})
    stopper.start()
    gate.set()
    stopper.join(60)
    assert not stopper.is_alive()
    assert got == list(range(5000))
    assert not any(t.name.startswith("EventEngine") and t.is_alive() for t in threading.enumerate())


def test_register_and_unregister_from_a_handler_apply_from_the_next_event(engine: EventEngine) -> None:
    log: list[tuple[str, int]] = []

    def late(event: Event) -> None:
        log.append(("late", event.data))

    def late_general(event: Event) -> None:
        if event.type == "t":
            log.append(("late_general", event.data))

    def first(event: Event) -> None:
        log.append(("first", event.data))
        if event.data == 0:
            engine.register("t", late)  # same type: not for this event
            engine.unregister("t", second)  # later in this event's tuple: still called for it
        if event.data == 1:
            engine.unregister("t", first)
            engine.unregister("t", late)

    def second(event: Event) -> None:
        log.append(("second", event.data))

    def general(event: Event) -> None:
        if event.type == "t" and event.data == 0:
            engine.register_general(late_general)  # general, from a general handler: next event

    engine.register("t", first)
    engine.register("t", second)
    engine.register_general(general)
    done = _marker(engine)
    engine.start()
    for i in range(3):
        engine.put(Event("t", i))
    engine.put(Event("done"))
    assert done.wait(WAIT)
    assert log == [
        ("first", 0), ("second", 0),
        ("first", 1), ("late", 1), ("late_general", 1),
        ("late_general", 2),
    ]


def test_register_from_another_thread_while_dispatching_loses_nothing(engine: EventEngine) -> None:
    """Copy-on-write under a lock: concurrent register/unregister never drops a registration
    nor breaks the dispatch loop."""
    calls = {"n": 0}
    engine.register(EVENT_TICK, lambda e: calls.__setitem__("n", calls["n"] + 1))
    engine.start()
    stop_feed = threading.Event()

    def feed() -> None:
        while not stop_feed.is_set():
            engine.put(Event(EVENT_TICK))

    feeder = threading.Thread(target=feed)
    feeder.start()
    handlers = [lambda e, i=i: None for i in range(300)]  # noqa: ARG005
    errors: list[BaseException] = []

    def churn(part: list) -> None:
        try:
            for h in part:
                engine.register(EVENT_TICK, h)
                engine.register_general(h)
            for h in part[::2]:
                engine.unregister(EVENT_TICK, h)
                engine.unregister_general(h)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=churn, args=(handlers[k::3],)) for k in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(WAIT * 6)
    stop_feed.set()
    feeder.join(WAIT)
    assert errors == []
    kept = {h for k in range(3) for h in handlers[k::3][1::2]}
    assert set(engine._handlers[EVENT_TICK][1:]) == kept
    assert set(engine._general_handlers) == kept
    done = _marker(engine)
    engine.put(Event("done"))
    assert done.wait(WAIT)
    assert calls["n"] > 0


def test_timer_events_flow_and_stop_ends_them(engine: EventEngine) -> None:
    ticks = threading.Event()
    count = {"n": 0}

    def on_timer(event: Event) -> None:
        assert event.type == EVENT_TIMER and event.data is None
        count["n"] += 1
        if count["n"] >= 3:
            ticks.set()

    engine.register(EVENT_TIMER, on_timer)
    engine.start()
    assert ticks.wait(WAIT)
    engine.stop()
    assert not engine.active
    assert not any(t.name.startswith("EventEngine") and t.is_alive() for t in threading.enumerate())


def test_the_same_tick_object_reaches_both_event_types_unchanged(engine: EventEngine) -> None:
    """Adapters put EVENT_TICK and EVENT_TICK + vt_symbol with one object; the engine hands
    that very object to every handler (no copy, no wrapper)."""
    payload = object()
    got: list[object] = []
    engine.register(EVENT_TICK, lambda e: got.append(e.data))
    engine.register(EVENT_TICK + "BTCUSDT.BINANCE", lambda e: got.append(e.data))
    done = _marker(engine)
    engine.start()
    engine.put(Event(EVENT_TICK, payload))
    engine.put(Event(EVENT_TICK + "BTCUSDT.BINANCE", payload))
    engine.put(Event("done"))
    assert done.wait(WAIT)
    assert got == [payload, payload] and all(g is payload for g in got)


def test_clear_handlers_from_a_handler_stops_the_rest_of_the_event(engine: EventEngine) -> None:
    seen: list[str] = []
    cleared = threading.Event()

    def clearing(event: Event) -> None:
        seen.append("a")
        engine.clear_handlers()
        cleared.set()

    engine.register("x", clearing)
    engine.register("x", lambda e: seen.append("b"))  # in the tuple read before the clear
    engine.register_general(lambda e: seen.append("g"))  # read after the clear: gone
    engine.start()
    engine.put(Event("x"))
    assert cleared.wait(WAIT)
    engine.put(Event("x"))  # nothing registered any more
    done = _marker(engine)
    engine.put(Event("done"))
    assert done.wait(WAIT)
    assert seen == ["a", "b"]


@pytest.mark.parametrize("protocol", [0, 1])
def test_event_pickles_with_every_protocol(protocol: int) -> None:
    import pickle

    event = Event(EVENT_TICK, {"bid": 1.0})
    assert pickle.loads(pickle.dumps(event, protocol)) == event


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_event_pickles_with_the_modern_protocols(protocol: int) -> None:
    import pickle

    event = Event(EVENT_TICK, {"bid": 1.0})
    assert pickle.loads(pickle.dumps(event, protocol)) == event


def test_an_event_can_be_weakly_referenced() -> None:
    import weakref

    event = Event(EVENT_TICK, 1)
    assert weakref.ref(event)() is event
