"""Client order ids minted by the adapter: unique, Binance-legal, recognisably ours.

The id is the idempotency key of a submission: after a timeout the order manager asks
Binance for this id before doing anything else, so two submissions can never share one and
a restarted process must not reuse the previous process's ids. Shape: ``ft`` + 8 base-36
characters of the session start (ms) + 4 random base-36 characters + ``-`` + a counter, e.g.
``ftmfx0k2a1q9zt-42``; always within Binance's ``^[.A-Z:/a-z0-9_-]{1,36}$``.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import time

BINANCE_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


class ClientOrderIdFactory:
    PREFIX = "ft"

    def __init__(self) -> None:
        session = _base36(time.time_ns() // 1_000_000, 8) + _base36(secrets.randbelow(36**4), 4)
        self.session = f"{self.PREFIX}{session}"
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            n = next(self._counter)
        client_id = f"{self.session}-{n}"
        if not BINANCE_CLIENT_ID.match(client_id):  # 14 + 1 + up to 21 digits: cannot happen
            raise RuntimeError(f"minted an invalid client order id {client_id!r}")
        return client_id

    def is_ours(self, client_id: str) -> bool:
        """Minted by this adapter instance (this session)."""
        return client_id.startswith(self.session + "-")
