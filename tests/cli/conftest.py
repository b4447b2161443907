"""Fixtures of the CLI tests: the command runner and a simulator in this process (one per
module: each test's command still makes its own adapter connection)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_support import Cli
from foxtrot_binance.simulator import BinanceSimulator


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture(scope="module")
def sim() -> Iterator[BinanceSimulator]:
    with BinanceSimulator(seed=3, tick_interval=0.05) as simulator:
        yield simulator
