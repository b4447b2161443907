"""No key, secret, signature or listen key in any log line, event or error: checked with every
logger at DEBUG (ours through loguru, ccxt's through the standard library), HMAC and Ed25519."""

from __future__ import annotations

import logging
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from foxtrot_binance import BinanceSpotAdapter
from foxtrot_binance.simulator import BinanceSimulator
from foxtrot_hooks import CancelRequest, Exchange, Status
from foxtrot_hooks.testing import RecordingEngine

from spot_support import Harness


@pytest.fixture
def everything_logged(caplog, library_logs):
    lines = library_logs("TRACE", "{message} | {extra}", diagnose=False)
    caplog.set_level(logging.DEBUG)
    return lines, caplog


def exercise(sim: BinanceSimulator, api_key: str, secret: str) -> Harness:
    engine = RecordingEngine()
    adapter = BinanceSpotAdapter(engine, "BINANCE")
    h = Harness(sim, engine, adapter)
    adapter.connect({"API Key": api_key, "Secret": secret, "Base URL": sim.base_url})
    try:
        h.wait_log("User data stream connected")
        vt = h.send(0.01, 1000)  # rests far below the market
        h.wait_status(vt, Status.NOTTRADED)
        adapter.cancel_order(CancelRequest(vt.split(".", 1)[1], "BTCUSDT", Exchange.BINANCE))
        h.wait_status(vt, Status.CANCELLED)
        rejected = h.send(10_000, 1000)  # insufficient balance: an error path with Binance's text
        h.wait_status(rejected, Status.REJECTED)
        sim.faults.drop_streams("user")
        h.wait_log("User data stream reconnected")
    finally:
        adapter.close()
    return h


def assert_clean(texts: list[str], secrets: list[str]) -> None:
    blob = "\n".join(texts)
    for secret in secrets:
        assert secret not in blob
    assert not re.search(r"signature=[0-9a-fA-F%]{16,}", blob)


def test_hmac_credentials_never_appear(everything_logged, clean_binance_env):
    lines, caplog = everything_logged
    with BinanceSimulator(seed=2, tick_interval=None) as sim:
        h = exercise(sim, sim.api_key, sim.api_secret)
        secrets = [sim.api_key, sim.api_secret]
    events = [repr(e.data) for e in h.engine.events] + [repr(h.adapter.client.settings)]
    assert lines and caplog.records  # both loggers really were on
    assert_clean(lines + [r.getMessage() for r in caplog.records] + events, secrets)


def test_ed25519_keys_sign_and_never_appear(everything_logged, clean_binance_env):
    lines, caplog = everything_logged
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with BinanceSimulator(seed=2, tick_interval=None) as sim:
        api_key = sim.register_ed25519_key(public)
        h = exercise(sim, api_key, pem)
    body = "".join(pem.strip().splitlines()[1:-1])
    events = [repr(e.data) for e in h.engine.events]
    assert_clean(lines + [r.getMessage() for r in caplog.records] + events, [api_key, body])
