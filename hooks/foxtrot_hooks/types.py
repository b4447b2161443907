"""AdapterInfo: the frozen declaration a plugin registers for each adapter it provides."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from foxtrot_hooks.adapter import BaseAdapter
from foxtrot_hooks.constants import Exchange

_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


@dataclass(frozen=True)
class AdapterInfo:
    """One adapter as a host sees it before instantiating anything.

    :param name: the unique upper-case adapter name (``BINANCE``); the host's default
        ``adapter_name`` and the key of ``load_adapters()``.
    :param adapter_class: a BaseAdapter subclass, constructed as
        ``adapter_class(event_engine, name)``.
    :param settings_class: the adapter's settings model, if it has one; hosts may use it to
        document or validate configuration. It should offer ``from_setting(dict)``.
    :param exchanges: the exchanges the adapter trades on.
    :param description: one line for humans.
    """

    name: str
    adapter_class: type[BaseAdapter]
    settings_class: type[Any] | None
    exchanges: tuple[Exchange, ...] = field(default=())
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(
                f"AdapterInfo.name must be a non-empty upper-case identifier like 'BINANCE', got {self.name!r}"
            )
        if not (isinstance(self.adapter_class, type) and issubclass(self.adapter_class, BaseAdapter)):
            raise TypeError(f"AdapterInfo {self.name}: adapter_class must subclass foxtrot_hooks.BaseAdapter")
        if self.settings_class is not None and not isinstance(self.settings_class, type):
            raise TypeError(f"AdapterInfo {self.name}: settings_class must be a class or None")
        exchanges = tuple(self.exchanges) if isinstance(self.exchanges, Iterable) else ()
        if not exchanges or not all(isinstance(e, Exchange) for e in exchanges):
            raise TypeError(f"AdapterInfo {self.name}: exchanges must be a non-empty sequence of Exchange")
        object.__setattr__(self, "exchanges", exchanges)
        if not isinstance(self.description, str):
            raise TypeError(f"AdapterInfo {self.name}: description must be a string")
