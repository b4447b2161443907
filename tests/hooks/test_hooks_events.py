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


def test_register_and_unregister_from_inside_a_handler_apply_from_the_next_event(engine):
    """Handlers may change the registrations during dispatch (copy-on-write handler tuples):
    an event's specific handlers are those registered when its dispatch started, its general
    handlers those registered when the specific ones are done (as with a per-event copy)."""
    seen: list[str] = []
    done = threading.Event()

    def late(event):
        seen.append(f"late:{event.data}")

    def leaving(event):
        seen.append(f"leaving:{event.data}")

    def changer(event):
        seen.append(f"changer:{event.data}")
        if event.data == 1:
            engine.register("x", late)
            engine.unregister("x", leaving)
            engine.unregister("x", changer)
            engine.register_general(general)

    def general(event):
        if event.type == "x":
            seen.append(f"general:{event.data}")

    engine.register("x", changer)
    engine.register("x", leaving)
    engine.register("done", lambda e: done.set())
    engine.start()
    engine.put(Event("x", 1))
    engine.put(Event("x", 2))
    engine.put(Event("done"))
    assert done.wait(5)
    assert seen == ["changer:1", "leaving:1", "general:1", "late:2", "general:2"]


def test_unregister_general_and_clear_handlers(engine):
    calls: list[str] = []
    done = threading.Event()

    def general(event):
        if event.type == "x":
            calls.append("general")

    engine.register_general(general)
    engine.register_general(general)
    engine.register("x", lambda e: calls.append("specific"))
    engine.register("done", lambda e: done.set())
    engine.start()
    engine.put(Event("x"))
    engine.put(Event("done"))
    assert done.wait(5)
    assert calls == ["specific", "general"]
    engine.unregister_general(general)
    engine.unregister_general(general)  # not registered any more: nothing happens
    engine.unregister("x", general)  # never registered for "x": nothing happens
    done.clear()
    engine.put(Event("x"))
    engine.put(Event("done"))
    assert done.wait(5)
    assert calls == ["specific", "general", "specific"]
    engine.clear_handlers()
    engine.register("done", lambda e: done.set())
    done.clear()
    engine.put(Event("x"))
    engine.put(Event("done"))
    assert done.wait(5)
    assert calls == ["specific", "general", "specific"]


def test_a_failing_general_handler_does_not_stop_the_next_one(engine, caplog):
    got: list[str] = []
    done = threading.Event()

    def broken(event):
        raise RuntimeError("general boom")

    engine.register_general(broken)
    engine.register_general(lambda e: got.append(e.type) if e.type == "x" else None)
    engine.register("done", lambda e: done.set())
    engine.start()
    with caplog.at_level(logging.ERROR, logger="foxtrot_hooks.events"):
        engine.put(Event("x"))
        engine.put(Event("done"))
        assert done.wait(5)
    assert got == ["x"]
    assert any(r.exc_info for r in caplog.records)


def test_event_is_a_slotted_dataclass_with_the_platform_fields():
    event = Event("eTick.", 1)
    assert (event.type, event.data) == ("eTick.", 1)
    assert Event("eLog").data is None
    assert event == Event("eTick.", 1)
    with pytest.raises(AttributeError):
        event.other = 2  # type: ignore[attr-defined]
