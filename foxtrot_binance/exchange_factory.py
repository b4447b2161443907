"""The ccxt client of one adapter: the right URLs, keys, proxy and options, and two hooks.

Hooks into ccxt (by subclassing, never by patching ccxt itself):
* every REST response is shown to the weight gate (``on_rest_response``), because ccxt
  itself never reads Binance's weight headers;
* with a ``base_url``, ccxt's per-market error tables are selected by path rather than by
  Binance's host names, so a futures rejection maps to the same ccxt class against the
  simulator or a proxy as against fapi.binance.com.

ccxt's own client-side throttle is off: the weight gate knows Binance's real budget, and a
second fixed-delay throttle only adds latency to orders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from foxtrot_binance.endpoints import point_ccxt_at
from foxtrot_binance.logs import redact
from foxtrot_binance.market_kind import MarketKind
from foxtrot_binance.settings import BinanceSettings

ResponseObserver = Callable[[int, dict[str, str], str, str], None]
"""observer(status, headers, url, body) for every REST response."""

DEFAULT_TIMEOUT_MS = 10_000


@lru_cache(maxsize=1)
def _exchange_class() -> type:
    import ccxt.pro

    class FoxtrotBinance(ccxt.pro.binance):  # type: ignore[misc, name-defined]
        """ccxt.pro.binance with a response observer and path-based error tables."""

        response_observer: ResponseObserver | None = None
        path_based_errors: bool = False

        def on_rest_response(self, code, reason, url, method, response_headers, response_body, request_headers, request_body):  # noqa: ANN001, PLR0913
            observer = self.response_observer
            if observer is not None:
                try:
                    observer(int(code or 0), dict(response_headers or {}), url or "", response_body or "")
                except Exception:  # an observer bug must never break a request
                    logging.getLogger(__name__).exception("response observer failed")
            return super().on_rest_response(
                code, reason, url, method, response_headers, response_body, request_headers, request_body
            )

        def handle_errors(self, code, reason, url, method, headers, body, response, requestHeaders, requestBody):  # noqa: ANN001, N803, PLR0913
            try:
                return super().handle_errors(code, reason, url, method, headers, body, response, requestHeaders, requestBody)
            except Exception as exc:
                # ccxt keeps only the message for exact matches; keep Binance's code and text too
                if isinstance(response, dict):
                    exc.binance_code = response.get("code")  # type: ignore[attr-defined]
                    exc.binance_msg = response.get("msg")  # type: ignore[attr-defined]
                exc.http_status = code  # type: ignore[attr-defined]
                raise

        def get_exceptions_by_url(self, url, exactOrBroad):  # noqa: ANN001, N803
            if self.path_based_errors and url:
                market_type = "linear" if "/fapi/" in url else "inverse" if "/dapi/" in url else "spot"
                return self.safe_dict(self.safe_dict(self.exceptions, market_type, {}), exactOrBroad, {})
            return super().get_exceptions_by_url(url, exactOrBroad)

    return FoxtrotBinance


def create_exchange(kind: MarketKind, settings: BinanceSettings, observer: ResponseObserver | None = None) -> Any:
    """A ccxt.pro binance client for ``kind``. Must be called on the adapter's I/O loop."""
    cls = _exchange_class()
    config: dict[str, Any] = {
        "enableRateLimit": False,
        "timeout": DEFAULT_TIMEOUT_MS,
        "options": {
            "defaultType": kind.ccxt_default_type,
            "fetchMarkets": {"types": kind.ccxt_market_types},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "fetchOpenOrders": {"warnWithoutSymbol": False},
            "recvWindow": settings.recv_window,
            "adjustForTimeDifference": False,
        },
    }
    if settings.api_key is not None and settings.secret is not None:
        config["apiKey"] = settings.api_key.get_secret_value()
        config["secret"] = settings.secret.get_secret_value()
    exchange = cls(config)
    exchange.response_observer = observer
    if settings.base_url is not None:
        point_ccxt_at(exchange, settings.base_url)
        exchange.path_based_errors = True
    elif settings.server == "testnet":
        exchange.set_sandbox_mode(True)
    elif settings.server == "demo":
        exchange.enable_demo_trading(True)
    if settings.proxy_url is not None:
        secure = settings.base_url is None or settings.base_url.startswith("https://")
        if secure:
            exchange.httpsProxy = settings.proxy_url
            exchange.wssProxy = settings.proxy_url
        else:
            exchange.httpProxy = settings.proxy_url
            exchange.wsProxy = settings.proxy_url
    return exchange


class _RedactingFilter(logging.Filter):
    """ccxt logs request headers (the API key) and bodies (the signature) at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg, record.args = redact(message), ()
        return True


def guard_ccxt_logging() -> None:
    """Install the redacting filter on ccxt's loggers once (idempotent)."""
    for name in ("ccxt.base.exchange", "ccxt.async_support.base.exchange", "ccxt.base.ws", "ccxt"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _RedactingFilter) for f in target.filters):
            target.addFilter(_RedactingFilter())
