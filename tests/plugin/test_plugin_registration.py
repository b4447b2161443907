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
    Direction,
    Exchange,
    HistoryRequest,
    OrderRequest,
    OrderType,
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


@pytest.mark.parametrize("adapter_class", [BinanceSpotAdapter, BinanceUsdmAdapter])
def test_before_connect_orders_are_rejected_unsent_and_history_refused(adapter_class, clean_binance_env):
    from datetime import datetime, timezone

    engine = RecordingEngine()
    adapter = adapter_class(engine, adapter_class.default_name)
    exchange = adapter_class.exchanges[0]
    vt = adapter.send_order(OrderRequest("BTCUSDT", exchange, Direction.LONG, OrderType.LIMIT, 1, 1))
    [event] = [e for e in engine.events if e.type == "eOrder."]
    assert event.data.vt_orderid == vt and event.data.status.value == "REJECTED"
    with pytest.raises(RuntimeError, match="needs a connected adapter"):
        adapter.query_history(HistoryRequest("BTCUSDT", exchange, datetime(2026, 1, 1, tzinfo=timezone.utc)))
    adapter.close()
    adapter.close()


class TestBinanceSpotContract(AdapterContract):
    plugin = foxtrot_binance.plugin
    adapter_name = "BINANCE"


class TestBinanceUsdmContract(AdapterContract):
    plugin = foxtrot_binance.plugin
    adapter_name = "BINANCE_USDM"
