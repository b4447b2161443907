"""The pluggy markers of the "foxtrot" project: adapters decorate their hooks with ``hookimpl``."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "foxtrot"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
