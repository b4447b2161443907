"""USDⓈ-M listenKeys: who owns which key, and until when it is valid.

Binance keeps one listenKey per API key: a POST while the key is valid returns the same key
and extends it, a PUT extends it, and a key not kept alive expires after 60 minutes. An
adapter that forgets its keep-alive must see the expiry here exactly as in production,
so validity is tracked on the monotonic clock (a shifted server clock must not expire keys)
and the TTL is read on every operation so tests can shorten it while the server runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .auth import new_token
from .errors import BinanceError


def no_such_key() -> BinanceError:
    return BinanceError(400, -1125, "This listenKey does not exist.")


@dataclass
class ListenKey:
    key: str
    api_key: str
    expires_at: float


class ListenKeyStore:
    """The valid listenKeys of the simulator, one per API key."""

    def __init__(self, ttl: Callable[[], float], clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._by_key: dict[str, ListenKey] = {}
        self._by_api_key: dict[str, ListenKey] = {}

    def create(self, api_key: str) -> ListenKey:
        """POST: the caller's valid key (extended), or a new one."""
        current = self._valid_for(api_key)
        if current is None:
            current = ListenKey(new_token(64), api_key, 0.0)
            self._by_key[current.key] = current
            self._by_api_key[api_key] = current
        current.expires_at = self._clock() + self._ttl()
        return current

    def keep_alive(self, api_key: str, key: str | None = None) -> ListenKey:
        """PUT: extend the caller's key; -1125 when it expired, was deleted or never existed."""
        current = self._valid_for(api_key)
        if current is None or (key and key != current.key):
            raise no_such_key()
        current.expires_at = self._clock() + self._ttl()
        return current

    def delete(self, api_key: str, key: str | None = None) -> ListenKey | None:
        current = self._valid_for(api_key)
        if current is None or (key and key != current.key):
            return None
        self._forget(current)
        return current

    def lookup(self, key: str) -> ListenKey | None:
        entry = self._by_key.get(key)
        if entry is None or entry.expires_at <= self._clock():
            return None
        return entry

    def expire_due(self) -> list[ListenKey]:
        """Remove and return every key whose validity has run out."""
        now = self._clock()
        due = [entry for entry in self._by_key.values() if entry.expires_at <= now]
        for entry in due:
            self._forget(entry)
        return due

    def expire_all(self) -> list[ListenKey]:
        expired = list(self._by_key.values())
        self._by_key.clear()
        self._by_api_key.clear()
        return expired

    def __len__(self) -> int:
        return len(self._by_key)

    def _valid_for(self, api_key: str) -> ListenKey | None:
        entry = self._by_api_key.get(api_key)
        if entry is None or entry.expires_at <= self._clock():
            return None
        return entry

    def _forget(self, entry: ListenKey) -> None:
        self._by_key.pop(entry.key, None)
        if self._by_api_key.get(entry.api_key) is entry:
            del self._by_api_key[entry.api_key]
