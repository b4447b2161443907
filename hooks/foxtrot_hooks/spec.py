"""The hook specifications a foxtrot adapter plugin implements.

Every hook is a compatibility promise to every plugin ever written, so the surface is one
registration hook; an adapter's internals (managers, clients) stay its own business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from foxtrot_hooks.markers import hookspec

if TYPE_CHECKING:
    from foxtrot_hooks.types import AdapterInfo


@hookspec
def foxtrot_register_adapters(register: Callable[[AdapterInfo], None]) -> None:
    """Declare the adapters this plugin provides.

    Called once per plugin when a host loads adapters (``foxtrot_hooks.load_adapters``).
    Keep it cheap: no network, no heavy imports beyond the adapter classes themselves.

    :param register: call ``register(AdapterInfo(...))`` once per adapter. The host owns the
        callback; it rejects two adapters with the same name across all plugins.
    :return: nothing; results are passed through ``register``.
    """
