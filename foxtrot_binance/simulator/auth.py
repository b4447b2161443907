"""Who is calling and whether the request is genuinely theirs (Binance's SIGNED rules, spec §4).

Signatures are checked against the *raw* bytes the client sent, never against re-encoded
parameters: a re-encoding would accept signatures Binance rejects (and the reverse), and the
adapter must learn about its signing bugs here, not with real money.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from .errors import BinanceError, mandatory

MAX_RECV_WINDOW = 60_000
DEFAULT_RECV_WINDOW = 5_000
_ALNUM = string.ascii_letters + string.digits


def new_token(length: int = 64) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


@dataclass(frozen=True)
class Credential:
    api_key: str
    hmac_secret: str | None = None
    ed25519: Ed25519PublicKey | None = None

    def verify(self, payload: str, signature: str) -> bool:
        if self.hmac_secret is not None:
            expected = hmac.new(self.hmac_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, signature.lower())
        assert self.ed25519 is not None
        try:
            self.ed25519.verify(base64.b64decode(signature, validate=True), payload.encode())
        except (InvalidSignature, ValueError):
            return False
        return True


def _strip_signature(raw: str) -> tuple[str, str | None]:
    """Remove the ``signature=`` pair from a raw query/body; return (payload, raw signature)."""
    if not raw:
        return "", None
    kept: list[str] = []
    signature: str | None = None
    for pair in raw.split("&"):
        if pair.startswith("signature="):
            signature = pair[len("signature="):]
        else:
            kept.append(pair)
    return "&".join(kept), signature


class Auth:
    """API keys -> accounts, and verification of REST and WebSocket-API signatures.

    ``clock`` is the server clock in ms (fault clock offset included) so a shifted clock
    produces -1021 exactly as a drifting client would see it on Binance.
    """

    def __init__(self, clock: Callable[[], int], new_account: Callable[[str], Any]) -> None:
        self._clock = clock
        self._new_account = new_account
        self._credentials: dict[str, Credential] = {}
        self._accounts: dict[str, Any] = {}

    # -- registry ---------------------------------------------------------------------
    def add_hmac_key(self, api_key: str, secret: str, account: Any) -> None:
        self._credentials[api_key] = Credential(api_key, hmac_secret=secret)
        self._accounts[api_key] = account

    def register_ed25519_key(self, public_key_pem: str) -> str:
        """A new api key (with its own funded account) whose requests verify with this key."""
        key = load_pem_public_key(public_key_pem.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        api_key = new_token()
        self._credentials[api_key] = Credential(api_key, ed25519=key)
        self._accounts[api_key] = self._new_account(api_key)
        return api_key

    def account_for_key(self, api_key: str | None) -> Any | None:
        if not api_key:
            return None
        return self._accounts.get(api_key)

    def accounts(self) -> list[Any]:
        return list(self._accounts.values())

    # -- checks -----------------------------------------------------------------------
    def require_key(self, api_key: str | None) -> Any:
        """API-key-only endpoints (listenKey): the header must name a known key."""
        if not api_key:
            raise BinanceError(401, -2014, "API-key format invalid.")
        account = self._accounts.get(api_key)
        if account is None:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        return account

    def verify_rest(self, api_key: str | None, raw_query: str, raw_body: str, params: Mapping[str, str]) -> Any:
        """SIGNED REST request: returns the caller's account or raises Binance's error.

        Binance signs ``totalParams`` = query string concatenated with the body.
        """
        account = self.require_key(api_key)
        assert api_key is not None
        query_payload, query_sig = _strip_signature(raw_query)
        body_payload, body_sig = _strip_signature(raw_body)
        signature = body_sig if body_sig is not None else query_sig
        if not signature:
            raise mandatory("signature")
        if "timestamp" not in params or not params["timestamp"]:
            raise mandatory("timestamp")
        payload = query_payload + body_payload
        if not self._credentials[api_key].verify(payload, unquote(signature)):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        self._check_time(params.get("timestamp"), params.get("recvWindow"))
        return account

    def verify_ws_api(self, params: Mapping[str, Any]) -> str:
        """WebSocket-API ``*.signature`` request: key-sorted params, returns the api key."""
        api_key = params.get("apiKey")
        if not api_key or api_key not in self._credentials:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signature = params.get("signature")
        if not signature:
            raise mandatory("signature")
        if params.get("timestamp") in (None, ""):
            raise mandatory("timestamp")
        payload = "&".join(f"{k}={_ws_value(params[k])}" for k in sorted(params) if k != "signature")
        if not self._credentials[api_key].verify(payload, str(signature)):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        self._check_time(params.get("timestamp"), params.get("recvWindow"))
        return str(api_key)

    def _check_time(self, timestamp: Any, recv_window: Any) -> None:
        try:
            ts = int(str(timestamp))
        except ValueError:
            raise BinanceError(400, -1100, "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'.") from None
        window = DEFAULT_RECV_WINDOW
        if recv_window not in (None, ""):
            try:
                window = int(float(str(recv_window)))
            except ValueError:
                raise BinanceError(400, -1100, "Illegal characters found in parameter 'recvWindow'.") from None
            if window > MAX_RECV_WINDOW or window <= 0:
                raise BinanceError(400, -1131, "recvWindow must be less than 60000")
        now = self._clock()
        if ts >= now + 1000:
            raise BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - ts > window:
            raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def _ws_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
