from __future__ import annotations

import logging
import threading

import pytest

from foxtrot_hooks import EVENT_TIMER, Event, EventEngine


@pytest.fixture
def engine():
    engine = EventEngine(interval=0.05)
    yield engine
    engine.stop()


def _threads():
    return {t.name for t in threading.enumerate() if t.name.startswith("EventEngine")}


def test_dispatch_order_specific_then_general(engine):
    seen: list[str] = []
    done = threading.Event()
    engine.register("eTick.", lambda e: seen.append(f"specific-1:{e.data}"))
    engine.register("eTick.", lambda e: seen.append(f"specific-2:{e.data}"))
    engine.register_general(lambda e: seen.append(f"general:{e.type}") if e.type != EVENT_TIMER else None)
    engine.register("done", lambda e: done.set())
    engine.start()
    engine.put(Event("eTick.", 1))
    engine.put(Event("eTick.", 2))
    engine.put(Event("done"))
    assert done.wait(5)
    assert seen[:6] == [
        "specific-1:1", "specific-2:1", "general:eTick.",
        "specific-1:2", "specific-2:2", "general:eTick.",
    ]


def test_registering_twice_dispatches_once_and_unregister_stops(engine):
    calls: list[int] = []
    done = threading.Event()

    def handler(event):
        calls.append(event.data)

    engine.register("x", handler)
    engine.register("x", handler)
    engine.register("done", lambda e: done.set())
    engine.start()
    engine.put(Event("x", 1))
    engine.put(Event("done"))
    assert done.wait(5)
    done.clear()
    engine.unregister("x", handler)
    engine.put(Event("x", 2))
    engine.put(Event("done"))
    assert done.wait(5)
    assert calls == [1]


def test_failing_handler_is_logged_and_dispatch_continues(engine, caplog):
    got = threading.Event()

    def broken(event):
        raise RuntimeError("boom")

    engine.register("x", broken)
    engine.register("x", lambda e: got.set())
    engine.start()
    with caplog.at_level(logging.ERROR, logger="foxtrot_hooks.events"):
        engine.put(Event("x"))
        assert got.wait(5)
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_timer_events_arrive(engine):
    ticks = threading.Semaphore(0)
    engine.register(EVENT_TIMER, lambda e: ticks.release())
    engine.start()
    assert ticks.acquire(timeout=5) and ticks.acquire(timeout=5)


def test_start_and_stop_are_idempotent_and_leave_no_thread():
    engine = EventEngine(interval=0.05)
    engine.start()
    engine.start()
    assert engine.active and len(_threads()) == 2
    engine.stop()
    engine.stop()
    assert not engine.active
    assert _threads() == set()


def test_events_queued_before_stop_are_dispatched():
    engine = EventEngine(interval=10)
    seen: list[int] = []
    engine.register("x", lambda e: seen.append(e.data))
    engine.start()
    for i in range(100):
        engine.put(Event("x", i))
    engine.stop()
    assert seen == list(range(100))
