"""Binance's error answers, as one exception type the whole simulator raises.

Every layer (auth, filters, matching, rate limits, the websocket API) reports a refusal by
raising ``BinanceError``; the HTTP and websocket layers turn it into Binance's exact wire
shape. Keeping the HTTP status next to the code matters: ccxt maps 418/429 before it looks at
the body, and 401 vs 400 changes how a client classifies an authentication failure.
"""

from __future__ import annotations

from typing import Any


class BinanceError(Exception):
    """A refusal Binance would send as ``{"code": code, "msg": msg}`` with HTTP ``status``."""

    def __init__(self, status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


# -- the messages Binance uses, verbatim (errors.md); ccxt matches some of them exactly --------

def mandatory(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal_chars(name: str) -> BinanceError:
    return BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{{1,36}}$'.")


def illegal_value(name: str) -> BinanceError:
    return BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.")


def invalid_symbol() -> BinanceError:
    return BinanceError(400, -1121, "Invalid symbol.")


def filter_failure(name: str) -> BinanceError:
    return BinanceError(400, -1013, f"Filter failure: {name}")


def bad_precision(name: str = "quantity") -> BinanceError:
    return BinanceError(400, -1111, f"Precision is over the maximum defined for this asset.")


def invalid_param(name: str) -> BinanceError:
    return BinanceError(400, -1130, f"Data sent for parameter '{name}' is not valid.")


def unknown_order() -> BinanceError:
    return BinanceError(400, -2011, "Unknown order sent.")


def order_missing() -> BinanceError:
    return BinanceError(400, -2013, "Order does not exist.")


def new_order_rejected(msg: str) -> BinanceError:
    return BinanceError(400, -2010, msg)


def not_found() -> BinanceError:
    """Unknown REST path: Binance's edge answers 404; the body keeps ccxt's parser on the JSON path."""
    return BinanceError(404, -1000, "An unknown error occurred while processing the request. Path not found.")
