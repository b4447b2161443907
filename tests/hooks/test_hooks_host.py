"""load_adapters() against fake plugin distributions put on sys.path for one test."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from foxtrot_hooks import (
    DuplicateAdapterError,
    PluginLoadWarning,
    discover_adapters,
    load_adapters,
)

ADAPTER_MODULE = """
from foxtrot_hooks import AdapterInfo, BaseAdapter, Exchange, hookimpl

class {cls}(BaseAdapter):
    default_name = "{name}"
    default_setting = {{"key": ""}}
    exchanges = [Exchange.LOCAL]
    def connect(self, setting): ...
    def close(self): ...
    def subscribe(self, req): ...
    def send_order(self, req): return ""
    def cancel_order(self, req): ...
    def query_account(self): ...
    def query_position(self): ...

@hookimpl
def foxtrot_register_adapters(register):
    register(AdapterInfo("{name}", {cls}, None, [Exchange.LOCAL], "fake {name}"))
"""


class FakeDists:
    """Writes importable modules plus *.dist-info folders declaring foxtrot.adapters entry points."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        monkeypatch.syspath_prepend(str(root))

    def add(self, dist: str, ep_name: str, source: str, group: str = "foxtrot.adapters") -> str:
        module = f"fake_{ep_name}_{uuid.uuid4().hex[:8]}"
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        (info / "entry_points.txt").write_text(f"[{group}]\n{ep_name} = {module}\n")
        return module


@pytest.fixture
def dists(tmp_path, monkeypatch, clean_binance_env) -> FakeDists:
    root = tmp_path / "site"
    root.mkdir()
    return FakeDists(root, monkeypatch)


def adapter(name: str) -> str:
    return ADAPTER_MODULE.format(name=name, cls=name.title().replace("_", "") + "Adapter")


def test_a_fake_plugin_loads_beside_binance(dists):
    dists.add("fake-one", "fakeone", adapter("FAKE_ONE"))
    found = discover_adapters()
    assert {"BINANCE", "BINANCE_USDM", "FAKE_ONE"} <= set(found.adapters)
    record = found.plugin_of("FAKE_ONE")
    assert (record.entry_point, record.distribution, record.version, record.adapters) == (
        "fakeone", "fake-one", "1.2.3", ("FAKE_ONE",),
    )
    binance = found.plugin_of("BINANCE")
    assert binance.distribution == "foxtrot-binance" and binance.adapters == ("BINANCE", "BINANCE_USDM")


def test_import_error_is_a_warning_naming_the_plugin_and_others_load(dists):
    dists.add("fake-broken", "brokenimport", "import this_module_does_not_exist\n")
    dists.add("fake-good", "good", adapter("GOOD"))
    with pytest.warns(PluginLoadWarning, match=r"'brokenimport'.*fake-broken.*ModuleNotFoundError"):
        found = discover_adapters()
    assert "GOOD" in found.adapters and "BINANCE" in found.adapters
    assert [f.entry_point for f in found.failures] == ["brokenimport"]


def test_exception_in_the_hook_is_a_warning_and_others_load(dists):
    dists.add(
        "fake-raises", "raises",
        """
        from foxtrot_hooks import hookimpl
        @hookimpl
        def foxtrot_register_adapters(register):
            raise RuntimeError("cannot register today")
        """,
    )
    with pytest.warns(PluginLoadWarning, match=r"'raises'.*cannot register today"):
        adapters = load_adapters()
    assert {"BINANCE", "BINANCE_USDM"} <= set(adapters)


def test_registering_something_that_is_not_adapter_info_is_a_plugin_failure(dists):
    dists.add(
        "fake-wrong", "wrongtype",
        """
        from foxtrot_hooks import hookimpl
        @hookimpl
        def foxtrot_register_adapters(register):
            register({"name": "DICT"})
        """,
    )
    with pytest.warns(PluginLoadWarning, match=r"'wrongtype'.*AdapterInfo"):
        adapters = load_adapters()
    assert "DICT" not in adapters


def test_unknown_hook_fails_check_pending_for_that_plugin_only(dists):
    dists.add(
        "fake-typo", "typo",
        """
        from foxtrot_hooks import hookimpl
        @hookimpl
        def foxtrot_register_adaptors(register):
            pass
        """,
    )
    with pytest.warns(PluginLoadWarning, match=r"'typo'.*foxtrot_register_adaptors"):
        adapters = load_adapters()
    assert {"BINANCE", "BINANCE_USDM"} <= set(adapters)


def test_duplicate_adapter_names_raise_naming_both_plugins(dists):
    dists.add("fake-dup", "dupe", adapter("BINANCE"))
    with pytest.raises(DuplicateAdapterError) as excinfo:
        load_adapters()
    message = str(excinfo.value)
    assert "'BINANCE'" in message
    assert "'binance' (foxtrot-binance" in message and "'dupe' (fake-dup 1.2.3)" in message


def test_disabled_plugins_are_skipped(dists, monkeypatch):
    dists.add("fake-dup", "dupe", adapter("BINANCE"))
    monkeypatch.setenv("FOXTROT_DISABLED_PLUGINS", " binance , other")
    found = discover_adapters()
    assert found.disabled == ("binance",)
    assert found.plugin_of("BINANCE").entry_point == "dupe"
    assert "BINANCE_USDM" not in found.adapters


def test_other_groups_are_independent(dists):
    dists.add("fake-elsewhere", "elsewhere", adapter("ELSEWHERE"), group="acme.adapters")
    assert list(load_adapters("acme.adapters")) == ["ELSEWHERE"]
    assert "ELSEWHERE" not in load_adapters()
