"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loguru import logger


@pytest.fixture
def clean_binance_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:
    """No FOXTROT_BINANCE_* variables from the developer's shell, and an empty cwd (.env)."""
    for name in list(os.environ):
        if name.startswith("FOXTROT_BINANCE_") or name == "FOXTROT_DISABLED_PLUGINS":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # no bar cache files in ~/.cache
    yield


@pytest.fixture
def library_logs() -> Iterator[Callable[..., list[str]]]:
    """The library's loguru records for one test: ``lines = library_logs(level, format)``.

    The library is silent until enabled (library style); this enables it, adds a sink that
    collects the formatted lines, and undoes both when the test ends.
    """
    sinks: list[int] = []

    def capture(level: str = "DEBUG", format: str = "{level} {message}", **options: Any) -> list[str]:
        lines: list[str] = []
        if not sinks:
            logger.enable("foxtrot_binance")
        sinks.append(logger.add(lambda m: lines.append(str(m)), level=level, format=format, **options))
        return lines

    yield capture
    for sink in sinks:
        logger.remove(sink)
    if sinks:
        logger.disable("foxtrot_binance")
