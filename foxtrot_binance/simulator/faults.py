"""Fault injection: the switches tests flip to make the simulator misbehave like Binance does.

Tests call these methods from their own thread while the simulator serves on its loop, so
every switch is guarded by one lock. The REST and websocket layers *consume* faults through
the ``take_*`` methods, which atomically read-and-decrement, so a fault meant for "the next
call" fires exactly once even when several requests race.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Literal

StreamTarget = Literal["market", "user", "all"]
RestFailure = Literal["500", "503", "reset"]


@dataclass
class _State:
    rest_delay_s: float = 0.0
    rest_delay_count: int | None = None  # None: every call until cleared
    rest_failures: list[RestFailure] = field(default_factory=list)
    lose_order_responses: int = 0
    skip_depth_ids: dict[str, int] = field(default_factory=dict)  # symbol ("*" any) -> count
    malformed_frames: dict[str, int] = field(default_factory=dict)  # target -> count
    stall_until: dict[str, float] = field(default_factory=dict)  # target -> monotonic deadline
    clock_offset_ms: int = 0
    drop_generation: dict[str, int] = field(default_factory=lambda: {"market": 0, "user": 0})
    expire_listen_keys_generation: int = 0
    exhaust_weight_requested: bool = False
    terminate_user_subscriptions: int = 0


class Faults:
    """Thread-safe fault switches. See each method for exactly what it makes happen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._s = _State()
        self._drop_listeners: list = []  # callables(target) run on the simulator loop

    # -- websocket faults -----------------------------------------------------------
    def drop_streams(self, target: StreamTarget = "all") -> None:
        """Close matching websocket connections abruptly (no close frame: the client sees 1006)."""
        with self._lock:
            for t in _targets(target):
                self._s.drop_generation[t] += 1
            listeners = tuple(self._drop_listeners)
        for listener in listeners:
            listener(target)

    def add_drop_listener(self, listener) -> None:
        """Used by the websocket layer to be told at once when drop_streams() is called."""
        with self._lock:
            self._drop_listeners.append(listener)

    def stall_streams(self, seconds: float, target: StreamTarget = "market") -> None:
        """Keep connections open but send nothing (pings still answered) for ``seconds``."""
        deadline = time.monotonic() + seconds
        with self._lock:
            for t in _targets(target):
                self._s.stall_until[t] = deadline

    def stalled(self, target: Literal["market", "user"]) -> bool:
        with self._lock:
            return time.monotonic() < self._s.stall_until.get(target, 0.0)

    def send_malformed_frame(self, target: Literal["market", "user"] = "market", count: int = 1) -> None:
        """Send ``count`` frames that are not valid JSON before the next real message."""
        with self._lock:
            self._s.malformed_frames[target] = self._s.malformed_frames.get(target, 0) + count

    def take_malformed_frame(self, target: Literal["market", "user"]) -> bool:
        with self._lock:
            n = self._s.malformed_frames.get(target, 0)
            if n <= 0:
                return False
            self._s.malformed_frames[target] = n - 1
            return True

    def terminate_user_subscriptions(self, count: int = 1) -> None:
        """End the spot WebSocket API subscriptions (``eventStreamTerminated``) just before the
        next account event, which they then miss: the client must resubscribe and reconcile."""
        with self._lock:
            self._s.terminate_user_subscriptions += count

    def take_terminate_user(self) -> bool:
        with self._lock:
            if self._s.terminate_user_subscriptions <= 0:
                return False
            self._s.terminate_user_subscriptions -= 1
            return True

    def skip_depth_update(self, symbol: str = "*", count: int = 1) -> None:
        """Consume an update id without publishing it, so clients see a gap in U/u/pu."""
        with self._lock:
            key = symbol.upper()
            self._s.skip_depth_ids[key] = self._s.skip_depth_ids.get(key, 0) + count

    def take_depth_skip(self, symbol: str) -> bool:
        with self._lock:
            for key in (symbol.upper(), "*"):
                n = self._s.skip_depth_ids.get(key, 0)
                if n > 0:
                    self._s.skip_depth_ids[key] = n - 1
                    return True
            return False

    def expire_listen_keys(self) -> None:
        """Invalidate every futures listenKey: push listenKeyExpired, close, reject keep-alive."""
        with self._lock:
            self._s.expire_listen_keys_generation += 1

    def listen_key_generation(self) -> int:
        with self._lock:
            return self._s.expire_listen_keys_generation

    # -- REST faults ----------------------------------------------------------------
    def delay_rest(self, seconds: float, count: int | None = None) -> None:
        """Delay REST responses by ``seconds`` (the next ``count`` calls, or all until cleared)."""
        with self._lock:
            self._s.rest_delay_s = seconds
            self._s.rest_delay_count = count

    def take_rest_delay(self) -> float:
        with self._lock:
            if self._s.rest_delay_s <= 0:
                return 0.0
            delay = self._s.rest_delay_s
            if self._s.rest_delay_count is not None:
                self._s.rest_delay_count -= 1
                if self._s.rest_delay_count <= 0:
                    self._s.rest_delay_s, self._s.rest_delay_count = 0.0, None
            return delay

    def fail_rest(self, count: int = 1, mode: RestFailure = "500") -> None:
        """Fail the next ``count`` REST calls with an HTTP 5xx or a reset connection."""
        with self._lock:
            self._s.rest_failures.extend([mode] * count)

    def take_rest_failure(self) -> RestFailure | None:
        with self._lock:
            return self._s.rest_failures.pop(0) if self._s.rest_failures else None

    def lose_next_order_response(self, count: int = 1) -> None:
        """Accept the next order(s) (they exist and may fill) but drop the connection instead of answering."""
        with self._lock:
            self._s.lose_order_responses += count

    def take_lost_order_response(self) -> bool:
        with self._lock:
            if self._s.lose_order_responses <= 0:
                return False
            self._s.lose_order_responses -= 1
            return True

    def shift_clock(self, milliseconds: int) -> None:
        """Move the server clock (positive: server ahead of the client)."""
        with self._lock:
            self._s.clock_offset_ms = milliseconds

    def clock_offset_ms(self) -> int:
        with self._lock:
            return self._s.clock_offset_ms

    def exhaust_weight(self) -> None:
        """Spend the whole request-weight budget of the current minute: the next call gets 429."""
        with self._lock:
            self._s.exhaust_weight_requested = True

    def take_exhaust_weight(self) -> bool:
        with self._lock:
            requested, self._s.exhaust_weight_requested = self._s.exhaust_weight_requested, False
            return requested

    def clear(self) -> None:
        """Back to a well-behaved exchange (clock shift included)."""
        with self._lock:
            generations = dict(self._s.drop_generation), self._s.expire_listen_keys_generation
            self._s = _State()
            self._s.drop_generation, self._s.expire_listen_keys_generation = generations


def _targets(target: StreamTarget) -> tuple[str, ...]:
    return ("market", "user") if target == "all" else (target,)
