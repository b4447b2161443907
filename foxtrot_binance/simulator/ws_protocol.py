"""Binance's live subscription protocol on market-stream connections (spec §5).

Replies follow Binance exactly where the adapter depends on them: an ack is
``{"result":null,"id":N}`` echoing the request id, and an error is the *nested*
``{"error":{"code":..,"msg":..},"id":N}`` (ccxt ignores the flat form the docs table shows
and would wait forever). Error codes and messages are the ones Binance documents (0 unknown
property, 1 bad value type, 2 invalid request, 3 invalid JSON). Binance does not document
the answer to an unknown stream name or to too many streams; the simulator refuses both with
code 2 so that such a bug is loud in tests rather than a silent absence of data.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from .ws_streams import MAX_STREAMS, is_valid

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_decode = msgspec.json.decode


class StreamSession(Protocol):
    """The connection-side state a request acts on."""

    kind: str
    combined: bool

    def stream_names(self) -> list[str]: ...

    def subscribe(self, streams: list[str]) -> None: ...

    def unsubscribe(self, streams: list[str]) -> None: ...


def error(code: int, msg: str, request_id: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "msg": msg}, "id": request_id}


def check_streams(kind: str, streams: list[Any], already: int = 0) -> str | None:
    """Why this list of stream names cannot be subscribed, or None when it can."""
    for name in streams:
        if not isinstance(name, str):
            return "Invalid request: stream names must be strings"
        if not is_valid(kind, name):
            return f"Invalid request: unknown stream `{name}`"
    limit = MAX_STREAMS[kind]
    if already + len(set(streams)) > limit:
        return f"Invalid request: too many streams (at most {limit} per connection)"
    return None


def handle_request(text: str | bytes, session: StreamSession) -> dict[str, Any]:
    """Apply one client message to ``session`` and return Binance's reply."""
    try:
        request = _decode(text)
    except msgspec.DecodeError as exc:
        return error(3, f"Invalid JSON: {exc}")
    if not isinstance(request, dict):
        return error(2, "Invalid request: expected a JSON object")
    request_id = request.get("id")
    if not _valid_id(request_id):
        return error(2, "Invalid request: request ID must be an unsigned integer")
    method = request.get("method")
    if method is None:
        return error(2, "Invalid request: missing field `method`", request_id)
    if method not in METHODS:
        expected = ", ".join(f"`{m}`" for m in METHODS)
        return error(2, f"Invalid request: unknown variant `{method}`, expected one of {expected}", request_id)
    params = request.get("params", [])
    if not isinstance(params, list):
        return error(2, "Invalid request: params must be an array", request_id)

    if method == "SUBSCRIBE":
        current = set(session.stream_names())
        fresh = [s for s in params if not (isinstance(s, str) and s in current)]
        problem = check_streams(session.kind, fresh, len(current)) if fresh else None
        if problem is not None:
            return error(2, problem, request_id)
        session.subscribe(list(dict.fromkeys(params)))
        return {"result": None, "id": request_id}
    if method == "UNSUBSCRIBE":
        if any(not isinstance(s, str) for s in params):
            return error(2, "Invalid request: stream names must be strings", request_id)
        session.unsubscribe(params)
        return {"result": None, "id": request_id}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": session.stream_names(), "id": request_id}
    if method == "SET_PROPERTY":
        if len(params) > 2:
            return error(2, "Invalid request: too many parameters", request_id)
        if not params or not isinstance(params[0], str):
            return error(2, "Invalid request: property name must be a string", request_id)
        if params[0] != "combined":
            return error(0, "Unknown property", request_id)
        if len(params) < 2 or not isinstance(params[1], bool):
            return error(1, "Invalid value type: expected Boolean", request_id)
        session.combined = params[1]
        return {"result": None, "id": request_id}
    # GET_PROPERTY
    if len(params) > 1:
        return error(2, "Invalid request: too many parameters", request_id)
    if not params or not isinstance(params[0], str):
        return error(2, "Invalid request: property name must be a string", request_id)
    if params[0] != "combined":
        return error(0, "Unknown property", request_id)
    return {"result": session.combined, "id": request_id}


def _valid_id(value: Any) -> bool:
    """Binance takes an unsigned integer, or (newer servers) a string of up to 36 characters."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and 0 < len(value) <= 36
