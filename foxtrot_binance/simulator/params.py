"""Reading request parameters the way Binance validates them (and with its error messages)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from .errors import BinanceError, illegal_chars, mandatory

_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


class Params:
    """Typed accessors over the merged query/body parameters of one request."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = dict(raw)

    def __contains__(self, name: str) -> bool:
        return self.raw.get(name) not in (None, "")

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.raw.get(name)
        return default if value in (None, "") else value

    def req(self, name: str) -> str:
        value = self.raw.get(name)
        if value in (None, ""):
            raise mandatory(name)
        return value  # type: ignore[return-value]

    def dec(self, name: str, required: bool = False) -> Decimal | None:
        value = self.req(name) if required else self.get(name)
        if value is None:
            return None
        if not _DECIMAL.match(value):
            raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is "
                                           "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the regex already guards
            raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None

    def int(self, name: str, required: bool = False) -> int | None:
        value = self.req(name) if required else self.get(name)
        if value is None:
            return None
        if not re.match(r"^-?[0-9]{1,20}$", value):
            raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is "
                                           "'^[0-9]{1,20}$'.")
        return int(value)

    def bool(self, name: str) -> bool | None:
        value = self.get(name)
        if value is None:
            return None
        low = value.lower()
        if low not in ("true", "false"):
            raise BinanceError(400, -1130, f"Data sent for parameter '{name}' is not valid.")
        return low == "true"

    def client_id(self, name: str) -> str | None:
        value = self.get(name)
        if value is not None and not CLIENT_ID.match(value):
            raise illegal_chars(name)
        return value

    def enum(self, name: str, allowed: tuple[str, ...], code: int, msg: str, required: bool = True) -> str | None:
        value = self.req(name) if required else self.get(name)
        if value is None:
            return None
        if value not in allowed:
            raise BinanceError(400, code, msg)
        return value
