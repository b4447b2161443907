"""Fan-out of stream payloads from the exchange core to websocket connections.

The exchange core (market model, matching engine, accounts) never knows about sockets: it
publishes Binance wire payloads (plain dicts, exactly as Binance would send them) under a
market kind and a stream name, and the websocket layer delivers them to whoever subscribed.
Keeping this seam narrow lets the core be tested without sockets and lets the socket layer
encode each payload once however many connections want it.

Everything here runs on the simulator's event-loop thread; it is not thread-safe by design.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, Literal

MarketKind = Literal["spot", "usdm"]
Payload = dict[str, Any] | list[Any]
Sink = Callable[[str, Payload], None]
"""A subscriber callback: ``sink(stream_name, payload)``."""


class StreamBus:
    """Routes market payloads by ``(kind, stream)`` and user payloads by ``(kind, api_key)``.

    Market stream names follow Binance exactly and are lower-case in the symbol part:
    ``btcusdt@bookTicker``, ``btcusdt@depth@100ms``, ``btcusdt@depth5@100ms``,
    ``btcusdt@kline_1m``, ``btcusdt@markPrice@1s``, ``!miniTicker@arr``.
    """

    def __init__(self) -> None:
        self._market: dict[tuple[str, str], list[Sink]] = defaultdict(list)
        self._user: dict[tuple[str, str], list[Sink]] = defaultdict(list)

    # -- market streams -------------------------------------------------------------
    def subscribe(self, kind: MarketKind, stream: str, sink: Sink) -> None:
        sinks = self._market[(kind, stream)]
        if sink not in sinks:
            sinks.append(sink)

    def unsubscribe(self, kind: MarketKind, stream: str, sink: Sink) -> None:
        sinks = self._market.get((kind, stream))
        if sinks and sink in sinks:
            sinks.remove(sink)
            if not sinks:
                del self._market[(kind, stream)]

    def wants(self, kind: MarketKind, stream: str) -> bool:
        """True when somebody listens: lets the core skip building unwanted payloads."""
        return bool(self._market.get((kind, stream)))

    def streams(self, kind: MarketKind) -> list[str]:
        """Stream names that currently have at least one subscriber."""
        return [name for (k, name), sinks in self._market.items() if k == kind and sinks]

    def publish(self, kind: MarketKind, stream: str, payload: Payload) -> None:
        for sink in tuple(self._market.get((kind, stream), ())):
            sink(stream, payload)

    # -- user data streams ----------------------------------------------------------
    def subscribe_user(self, kind: MarketKind, api_key: str, sink: Sink) -> None:
        sinks = self._user[(kind, api_key)]
        if sink not in sinks:
            sinks.append(sink)

    def unsubscribe_user(self, kind: MarketKind, api_key: str, sink: Sink) -> None:
        sinks = self._user.get((kind, api_key))
        if sinks and sink in sinks:
            sinks.remove(sink)
            if not sinks:
                del self._user[(kind, api_key)]

    def publish_user(self, kind: MarketKind, api_key: str, payload: Payload) -> None:
        """Deliver an account event (executionReport, ORDER_TRADE_UPDATE, ...) to its owner."""
        for sink in tuple(self._user.get((kind, api_key), ())):
            sink("user", payload)
