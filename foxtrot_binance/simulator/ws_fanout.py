"""Market-stream fan-out: one bus subscription per stream, one encoding per payload.

The bus calls one sink per subscriber, so subscribing every connection to the bus would
JSON-encode a hot payload (bookTicker, depth) once per connection. Instead the fan-out holds
the single bus subscription of each ``(kind, stream)`` and hands the same prebuilt frames to
every connection: the raw frame, and (only if a combined-mode connection listens) the
``{"stream":..,"data":..}`` frame, made by byte concatenation rather than a second encode.

Faults that affect what a client *receives* are applied here, once per publish:
``stalled("market")`` swallows the payload (a stalled stream loses data, it does not queue
it) and ``take_malformed_frame("market")`` puts a torn copy of the frame in front of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from .bus import StreamBus
from .ws_conn import text_frame

_encode = msgspec.json.Encoder().encode


class Subscriber(Protocol):
    """A connection as the fan-out sees it."""

    combined: bool

    def send(self, frame: bytes) -> None: ...


def torn(frame_payload: bytes) -> bytes:
    """A frame whose text is the first half of a real message: not valid JSON."""
    return text_frame(frame_payload[: max(1, len(frame_payload) // 2)])


class _Topic:
    __slots__ = ("kind", "stream", "subscribers", "prefix", "sink")

    def __init__(self, kind: str, stream: str) -> None:
        self.kind = kind
        self.stream = stream
        self.subscribers: list[Subscriber] = []
        self.prefix = b'{"stream":' + _encode(stream) + b',"data":'
        self.sink: Callable[[str, Any], None] | None = None


class MarketFanout:
    """Keeps ``(kind, stream) -> connections`` and the matching bus subscriptions."""

    def __init__(self, bus: StreamBus, faults: Any) -> None:
        self._bus = bus
        self._faults = faults
        self._topics: dict[tuple[str, str], _Topic] = {}

    def add(self, kind: str, stream: str, subscriber: Subscriber) -> None:
        key = (kind, stream)
        topic = self._topics.get(key)
        if topic is None:
            topic = _Topic(kind, stream)
            topic.sink = self._make_sink(topic)
            self._topics[key] = topic
            self._bus.subscribe(kind, stream, topic.sink)  # type: ignore[arg-type]
        if subscriber not in topic.subscribers:
            topic.subscribers.append(subscriber)

    def remove(self, kind: str, stream: str, subscriber: Subscriber) -> None:
        key = (kind, stream)
        topic = self._topics.get(key)
        if topic is None:
            return
        if subscriber in topic.subscribers:
            topic.subscribers.remove(subscriber)
        if not topic.subscribers:
            del self._topics[key]
            assert topic.sink is not None
            self._bus.unsubscribe(kind, stream, topic.sink)  # type: ignore[arg-type]

    def listeners(self, kind: str, stream: str) -> int:
        topic = self._topics.get((kind, stream))
        return len(topic.subscribers) if topic else 0

    def _make_sink(self, topic: _Topic) -> Callable[[str, Any], None]:
        faults = self._faults

        def sink(_stream: str, payload: Any) -> None:
            subscribers = topic.subscribers
            if not subscribers or faults.stalled("market"):
                return
            raw = _encode(payload)
            raw_frame: bytes | None = None
            combined_frame: bytes | None = None
            malformed = faults.take_malformed_frame("market")
            for sub in tuple(subscribers):
                if sub.combined:
                    if combined_frame is None:
                        combined_frame = text_frame(topic.prefix + raw + b"}")
                    frame = combined_frame
                else:
                    if raw_frame is None:
                        raw_frame = text_frame(raw)
                    frame = raw_frame
                if malformed:
                    sub.send(torn(raw))
                sub.send(frame)

        return sink


class UserSubscriber(Protocol):
    """A user-data connection as the fan-out sees it."""

    def deliver_user(self, api_key: str, raw: bytes, malformed: bool) -> None: ...


class UserFanout:
    """Account events of one ``(kind, api_key)``: one bus subscription, one encoding per event.

    Each connection wraps the encoded event its own way (raw on the futures listenKey stream,
    ``{"subscriptionId":N,"event":..}`` on the spot WebSocket API) by byte concatenation.
    Stalls and malformed frames of the ``user`` target are applied once per event.
    """

    def __init__(self, bus: StreamBus, faults: Any) -> None:
        self._bus = bus
        self._faults = faults
        self._subs: dict[tuple[str, str], list[UserSubscriber]] = {}
        self._sinks: dict[tuple[str, str], Callable[[str, Any], None]] = {}

    def add(self, kind: str, api_key: str, subscriber: UserSubscriber) -> None:
        key = (kind, api_key)
        subs = self._subs.get(key)
        if subs is None:
            subs = self._subs[key] = []
            sink = self._sinks[key] = self._make_sink(api_key, subs)
            self._bus.subscribe_user(kind, api_key, sink)  # type: ignore[arg-type]
        if subscriber not in subs:
            subs.append(subscriber)

    def remove(self, kind: str, api_key: str, subscriber: UserSubscriber) -> None:
        key = (kind, api_key)
        subs = self._subs.get(key)
        if subs is None:
            return
        if subscriber in subs:
            subs.remove(subscriber)
        if not subs:
            del self._subs[key]
            self._bus.unsubscribe_user(kind, api_key, self._sinks.pop(key))  # type: ignore[arg-type]

    def _make_sink(self, api_key: str, subs: list[UserSubscriber]) -> Callable[[str, Any], None]:
        faults = self._faults

        def sink(_name: str, payload: Any) -> None:
            if not subs or faults.stalled("user"):
                return
            if faults.take_terminate_user():
                for sub in tuple(subs):
                    terminate = getattr(sub, "terminate_user", None)
                    if terminate is not None:
                        terminate(api_key)  # unsubscribes: ``subs`` no longer holds it
            raw = _encode(payload)
            malformed = faults.take_malformed_frame("user")
            for sub in tuple(subs):
                sub.deliver_user(api_key, raw, malformed)

        return sink
