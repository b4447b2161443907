"""Binance's SIGNED rules: HMAC and Ed25519 signatures, API keys, recvWindow and clock."""

from __future__ import annotations

import ccxt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from foxtrot_binance.endpoints import point_ccxt_at
from foxtrot_binance.simulator import BinanceSimulator

from conftest import ccxt_client


def test_bad_signature_and_unknown_key(simulator: BinanceSimulator) -> None:
    wrong_secret = ccxt_client(simulator)
    wrong_secret.secret = "not-the-secret"
    with pytest.raises(ccxt.AuthenticationError, match="Signature for this request is not valid"):
        wrong_secret.privateGetAccount()
    unknown = ccxt_client(simulator)
    unknown.apiKey = "x" * 64
    with pytest.raises(ccxt.AuthenticationError, match="Invalid API-key"):
        unknown.privateGetAccount()
    with pytest.raises(ccxt.AuthenticationError, match="Invalid API-key"):
        unknown.fapiPrivateV3GetAccount()


def test_clock_skew_gives_1021_until_time_difference_is_loaded(simulator: BinanceSimulator) -> None:
    simulator.faults.shift_clock(30_000)
    client = ccxt_client(simulator)
    with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
        client.privateGetAccount()
    simulator.faults.shift_clock(-30_000)
    with pytest.raises(ccxt.InvalidNonce, match="ahead of the server"):
        client.privateGetAccount()
    client.load_time_difference()
    assert "balances" in client.privateGetAccount()


def test_ed25519_key(simulator: BinanceSimulator) -> None:
    private = Ed25519PrivateKey.generate()
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    api_key = simulator.register_ed25519_key(public_pem)
    client = ccxt.binance({"apiKey": api_key, "secret": private_pem, "enableRateLimit": False,
                           "options": {"fetchMarkets": {"types": ["spot", "linear"]}}})
    point_ccxt_at(client, simulator.base_url)
    client.load_markets()
    assert client.fetch_balance()["USDT"]["free"] == 100000.0
    order = client.create_order("BTC/USDT", "market", "buy", 0.001)
    assert order["status"] == "closed"
    assert simulator.ctx.auth.account_for_key(api_key) is not simulator.account
    other = ccxt_client(simulator)
    other.secret = private_pem
    with pytest.raises(ccxt.AuthenticationError):
        other.privateGetAccount()


def test_ws_api_signature_verification(simulator: BinanceSimulator) -> None:
    import hashlib
    import hmac

    from foxtrot_binance.simulator.errors import BinanceError
    params = {"apiKey": simulator.api_key, "recvWindow": 10000, "timestamp": simulator.ctx.now_ms()}
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    good = dict(params, signature=hmac.new(simulator.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest())
    assert simulator.call(simulator.ctx.auth.verify_ws_api, good) == simulator.api_key
    with pytest.raises(BinanceError) as info:
        simulator.call(simulator.ctx.auth.verify_ws_api, dict(good, signature="00" * 32))
    assert info.value.code == -1022
