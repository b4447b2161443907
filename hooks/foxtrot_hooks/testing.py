"""A contract test kit every adapter package runs in its own test suite.

Subclass ``AdapterContract`` in a test module (name the subclass ``Test...``) and set the
class attributes; pytest collects the inherited ``test_*`` methods. The kit uses only the
standard library, so foxtrot-hooks does not depend on pytest::

    class TestBinanceContract(AdapterContract):
        plugin = foxtrot_binance.plugin
        adapter_name = "BINANCE"

Tests that need a live connection are skipped unless ``connect_setting()`` returns a
setting dict (for instance one pointing at a simulator).
"""

from __future__ import annotations

import threading
import unittest
from types import ModuleType
from typing import Any, ClassVar

from foxtrot_hooks.adapter import BaseAdapter
from foxtrot_hooks.events import EVENT_LOG, EVENT_TICK, Event
from foxtrot_hooks.host import create_plugin_manager
from foxtrot_hooks.types import AdapterInfo


class RecordingEngine:
    """An event sink that keeps every event, with a way to wait for one without sleeping."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def put(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of_type(self, type: str) -> list[Any]:
        with self._cond:
            return [e.data for e in self.events if e.type == type]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> Event:
        """Return the first event matching ``predicate(event)``, waiting up to ``timeout`` s."""
        with self._cond:
            found = self._cond.wait_for(lambda: next((e for e in self.events if predicate(e)), None), timeout)
        if found is None:
            raise AssertionError(f"no matching event within {timeout} s")
        return found


def registered_infos(plugin: ModuleType) -> list[AdapterInfo]:
    """Run the plugin's hook through a fresh PluginManager, exactly as a host would."""
    manager = create_plugin_manager()
    manager.register(plugin)
    manager.check_pending()
    infos: list[AdapterInfo] = []
    manager.hook.foxtrot_register_adapters(register=infos.append)
    return infos


class AdapterContract:
    """Inherited test methods checking one adapter against the foxtrot contract."""

    plugin: ClassVar[ModuleType]
    adapter_name: ClassVar[str]

    def connect_setting(self) -> dict[str, Any] | None:
        """Override to return a working connect setting; None skips the live tests."""
        return None

    # -- helpers ----------------------------------------------------------------------
    def info(self) -> AdapterInfo:
        matches = [i for i in registered_infos(self.plugin) if i.name == self.adapter_name]
        assert len(matches) == 1, f"{self.adapter_name} registered {len(matches)} times"
        return matches[0]

    def make_adapter(self) -> tuple[BaseAdapter, RecordingEngine]:
        engine = RecordingEngine()
        return self.info().adapter_class(engine, self.adapter_name), engine

    # -- registration -----------------------------------------------------------------
    def test_registered_through_the_hook(self) -> None:
        infos = registered_infos(self.plugin)
        assert all(isinstance(i, AdapterInfo) for i in infos)
        assert self.adapter_name in [i.name for i in infos]

    def test_info_is_consistent_with_the_class(self) -> None:
        info = self.info()
        assert issubclass(info.adapter_class, BaseAdapter)
        assert info.adapter_class.default_name == info.name
        assert list(info.exchanges) == list(info.adapter_class.exchanges)
        assert info.description

    def test_default_setting_is_a_private_copy(self) -> None:
        cls = self.info().adapter_class
        setting = cls.get_default_setting()
        assert isinstance(setting, dict) and setting, "default_setting must list the connect keys"
        setting[next(iter(setting))] = object()
        assert cls.get_default_setting() == cls.default_setting

    def test_default_setting_keys_are_accepted(self) -> None:
        info = self.info()
        if info.settings_class is None or not hasattr(info.settings_class, "from_setting"):
            raise unittest.SkipTest("adapter has no settings class with from_setting()")
        info.settings_class.from_setting(info.adapter_class.get_default_setting())

    # -- events -----------------------------------------------------------------------
    def test_write_log_carries_the_adapter_name(self) -> None:
        adapter, engine = self.make_adapter()
        adapter.write_log("contract kit")
        logs = engine.of_type(EVENT_LOG)
        assert [(log.msg, log.adapter_name) for log in logs] == [("contract kit", self.adapter_name)]

    def test_connects_and_events_carry_the_adapter_name(self) -> None:
        setting = self.connect_setting()
        if setting is None:
            raise unittest.SkipTest("no connect_setting() for a live connection")
        adapter, engine = self.make_adapter()
        try:
            adapter.connect(setting)
            engine.wait_for(lambda e: e.type == EVENT_LOG)
            engine.wait_for(lambda e: e.type.startswith("eContract"))
        finally:
            adapter.close()
            adapter.close()  # idempotent
        for event in engine.events:
            name = getattr(event.data, "adapter_name", self.adapter_name)
            assert name == self.adapter_name, f"{event.type} carries adapter_name {name!r}"
        assert not [e for e in engine.events if e.type == EVENT_TICK and e.data is None]
