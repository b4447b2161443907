"""The Binance plugin as a host sees it: hook, entry point, cheap import, honest stubs."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

import foxtrot_binance
import foxtrot_binance.plugin
from foxtrot_binance import BinanceAdapter, BinanceSettings, BinanceSpotAdapter, BinanceUsdmAdapter
from foxtrot_hooks import (
    AdapterInfo,
    CancelRequest,
    Direction,
    Exchange,
    HistoryRequest,
    OrderRequest,
    OrderType,
    SubscribeRequest,
    create_plugin_manager,
    load_adapters,
)
from foxtrot_hooks.testing import AdapterContract, RecordingEngine


def test_hook_registers_both_adapters_with_a_mock_registrar(mocker):
    manager = create_plugin_manager()
    manager.register(foxtrot_binance.plugin, name="binance")
    manager.check_pending()
    register = mocker.Mock()
    manager.hook.foxtrot_register_adapters(register=register)
    infos = [call.args[0] for call in register.call_args_list]
    assert all(isinstance(info, AdapterInfo) for info in infos)
    assert [(i.name, i.adapter_class, i.exchanges, i.settings_class) for i in infos] == [
        ("BINANCE", BinanceSpotAdapter, (Exchange.BINANCE,), BinanceSettings),
        ("BINANCE_USDM", BinanceUsdmAdapter, (Exchange.BINANCEUSDM,), BinanceSettings),
    ]
    assert BinanceAdapter is BinanceSpotAdapter


def test_installed_metadata_declares_the_entry_point():
    [ep] = [ep for ep in entry_points(group="foxtrot.adapters") if ep.name == "binance"]
    assert ep.value == "foxtrot_binance.plugin"
    assert ep.dist.metadata["Name"] == "foxtrot-binance"
    assert ep.dist.version == foxtrot_binance.__version__


def test_load_adapters_finds_both(clean_binance_env):
    adapters = load_adapters()
    assert adapters["BINANCE"].adapter_class is BinanceSpotAdapter
    assert adapters["BINANCE_USDM"].adapter_class is BinanceUsdmAdapter


def test_importing_the_plugin_does_not_import_ccxt():
    code = "import sys, foxtrot_binance.plugin; print('ccxt' in sys.modules, 'aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_ccxt_is_the_pinned_version():
    import ccxt

    assert ccxt.__version__ == "4.5.90"


def test_unfinished_usdm_adapter_refuses_loudly(clean_binance_env):
    engine = RecordingEngine()
    adapter = BinanceUsdmAdapter(engine, "BINANCE_USDM")
    exchange = Exchange.BINANCEUSDM
    from datetime import datetime, timezone

    calls = [
        lambda: adapter.connect(BinanceUsdmAdapter.get_default_setting()),
        lambda: adapter.subscribe(SubscribeRequest("BTCUSDT", exchange)),
        lambda: adapter.send_order(OrderRequest("BTCUSDT", exchange, Direction.LONG, OrderType.LIMIT, 1, 1)),
        lambda: adapter.cancel_order(CancelRequest("x", "BTCUSDT", exchange)),
        adapter.query_account,
        adapter.query_position,
        lambda: adapter.query_history(HistoryRequest("BTCUSDT", exchange, datetime(2026, 1, 1, tzinfo=timezone.utc))),
    ]
    for call in calls:
        with pytest.raises(NotImplementedError, match="not implemented yet"):
            call()
    adapter.close()
    adapter.close()
    assert engine.events == []


class TestBinanceSpotContract(AdapterContract):
    plugin = foxtrot_binance.plugin
    adapter_name = "BINANCE"


class TestBinanceUsdmContract(AdapterContract):
    plugin = foxtrot_binance.plugin
    adapter_name = "BINANCE_USDM"
