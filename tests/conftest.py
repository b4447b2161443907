"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def clean_binance_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:
    """No FOXTROT_BINANCE_* variables from the developer's shell, and an empty cwd (.env)."""
    for name in list(os.environ):
        if name.startswith("FOXTROT_BINANCE_") or name == "FOXTROT_DISABLED_PLUGINS":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # no bar cache files in ~/.cache
    yield
