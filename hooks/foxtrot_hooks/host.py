"""Adapter discovery for hosts: installed plugins in, validated adapter declarations out.

A host must keep working when one installed plugin is broken (a failed import, an exception
in its hook, a hook the spec does not know): that plugin is skipped with a warning naming its
entry point, and every other adapter still loads. Two adapters claiming one name, however, is
a configuration error the trader must resolve, so it raises and names both plugins.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

import pluggy

from foxtrot_hooks import spec
from foxtrot_hooks.markers import PROJECT_NAME
from foxtrot_hooks.types import AdapterInfo

ENTRY_POINT_GROUP = "foxtrot.adapters"
DISABLED_PLUGINS_ENV = "FOXTROT_DISABLED_PLUGINS"


class PluginLoadWarning(UserWarning):
    """A plugin was skipped because it could not be loaded or its hook failed."""


class DuplicateAdapterError(RuntimeError):
    """Two plugins (or one plugin twice) registered adapters under the same name."""


@dataclass(frozen=True)
class PluginRecord:
    """A plugin that loaded, where it came from, and the adapters it registered."""

    entry_point: str
    module: str
    distribution: str | None
    version: str | None
    adapters: tuple[str, ...]


@dataclass(frozen=True)
class PluginFailure:
    entry_point: str
    distribution: str | None
    error: str


@dataclass(frozen=True)
class Discovery:
    """Everything ``discover_adapters`` found; ``adapters`` is what most hosts need."""

    adapters: dict[str, AdapterInfo] = field(default_factory=dict)
    plugins: tuple[PluginRecord, ...] = ()
    failures: tuple[PluginFailure, ...] = ()
    disabled: tuple[str, ...] = ()

    def plugin_of(self, adapter_name: str) -> PluginRecord | None:
        return next((p for p in self.plugins if adapter_name in p.adapters), None)


def create_plugin_manager() -> pluggy.PluginManager:
    """A PluginManager for project "foxtrot" that knows the adapter hook specification."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(spec)
    return manager


def disabled_plugins() -> frozenset[str]:
    """Entry-point names listed in FOXTROT_DISABLED_PLUGINS (comma-separated)."""
    raw = os.environ.get(DISABLED_PLUGINS_ENV, "")
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def load_adapters(group: str = ENTRY_POINT_GROUP) -> dict[str, AdapterInfo]:
    """Load every installed adapter plugin and return its adapters by name."""
    return discover_adapters(group).adapters


def discover_adapters(group: str = ENTRY_POINT_GROUP) -> Discovery:
    """Load the plugins of ``group`` with pluggy and collect their adapter declarations."""
    manager = create_plugin_manager()
    skip = disabled_plugins()
    failures: list[PluginFailure] = []
    disabled: list[str] = []
    loaded: list[tuple[EntryPoint, object]] = []

    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        if ep.name in skip:
            disabled.append(ep.name)
            continue
        try:
            module = ep.load()
            manager.register(module, name=ep.name)
            manager.check_pending()
        except Exception as exc:  # a broken plugin must not take the others down
            if manager.has_plugin(ep.name):
                manager.unregister(name=ep.name)
            failures.append(_fail(ep, f"could not be loaded: {type(exc).__name__}: {exc}"))
            continue
        loaded.append((ep, module))

    adapters: dict[str, AdapterInfo] = {}
    owners: dict[str, str] = {}
    plugins: list[PluginRecord] = []
    for ep, module in loaded:
        try:
            infos = _collect(manager, module)
        except Exception as exc:
            failures.append(_fail(ep, f"failed in foxtrot_register_adapters: {type(exc).__name__}: {exc}"))
            continue
        record = PluginRecord(
            entry_point=ep.name,
            module=getattr(module, "__name__", ep.value),
            distribution=_dist_name(ep),
            version=_dist_version(ep),
            adapters=tuple(info.name for info in infos),
        )
        for info in infos:
            if info.name in adapters:
                raise DuplicateAdapterError(
                    f"adapter name {info.name!r} is registered by two plugins: "
                    f"{owners[info.name]} and {_describe(record)}; uninstall one or list one in "
                    f"{DISABLED_PLUGINS_ENV}"
                )
            adapters[info.name] = info
            owners[info.name] = _describe(record)
        plugins.append(record)

    manager.check_pending()
    return Discovery(adapters=adapters, plugins=tuple(plugins), failures=tuple(failures), disabled=tuple(disabled))


def _collect(manager: pluggy.PluginManager, module: object) -> list[AdapterInfo]:
    """Call one plugin's hook alone, so an exception is attributed to that plugin."""
    others = [p for p in manager.get_plugins() if p is not module]
    caller = manager.subset_hook_caller("foxtrot_register_adapters", remove_plugins=others)
    infos: list[AdapterInfo] = []

    def register(info: AdapterInfo) -> None:
        if not isinstance(info, AdapterInfo):
            raise TypeError(f"register() takes an AdapterInfo, got {type(info).__name__}")
        infos.append(info)

    caller(register=register)
    return infos


def _fail(ep: EntryPoint, what: str) -> PluginFailure:
    failure = PluginFailure(entry_point=ep.name, distribution=_dist_name(ep), error=what)
    warnings.warn(
        f"foxtrot plugin {ep.name!r} ({ep.value}, distribution {failure.distribution or 'unknown'}) {what}",
        PluginLoadWarning,
        stacklevel=3,
    )
    return failure


def _dist_name(ep: EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else None


def _dist_version(ep: EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else None


def _describe(record: PluginRecord) -> str:
    origin = f"{record.distribution} {record.version}" if record.distribution else record.module
    return f"plugin {record.entry_point!r} ({origin})"
