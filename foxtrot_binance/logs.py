"""loguru, library style: silent until the application enables "foxtrot_binance".

No handler is ever added here. Every record of ours is bound with the adapter name (so a
host can route per adapter) and passes through a redaction patch: API keys, secrets,
signatures and listen keys are masked in the message and in bound values, both by shape
(``signature=...``, ``X-MBX-APIKEY``, ``listenKey``) and by value for the credentials the
adapter registers at connect.

A traceback is redacted too: the patch renders it into the message as plain text (source
lines and exception messages, never local variables) and masks that, and leaves no exception
on the record. Loguru would otherwise format it in the host's handler, after every patch,
with unmasked exception messages (ccxt quotes the signed URL of a failed request) and, in
its default ``diagnose`` mode, the values of the frames' variables (the URL, the headers).
"""

from __future__ import annotations

import re
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    from loguru import Logger, Record

MASK = "***"
_MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words

_SHAPES = [
    # query strings and form bodies: signature=..., apiKey=..., listenKey=...
    re.compile(r"(?i)\b(signature|apikey|api_key|secret|listenkey|listen_key)=([^&\s\"',}]+)"),
    # JSON / dict reprs: "signature": "...", 'listenKey': '...'
    re.compile(r"(?i)([\"'](?:signature|apikey|api_key|secret|listenkey|listen_key)[\"']\s*:\s*)[\"']([^\"']+)[\"']"),
    # headers
    re.compile(r"(?i)(x-mbx-apikey[\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"),
    # a password in a URL (a proxy given as http://user:password@host)
    re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/\s@]+:)([^@\s/]+)(?=@)"),
]

_known: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears in our log records from now on."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _known_lock:
            _known.add(value)
            # a PEM key may surface line by line
            _known.update(line for line in value.splitlines() if len(line) >= 16 and "-----" not in line)


def redact(text: str) -> str:
    """Mask credentials in ``text`` by shape and by registered value."""
    for pattern in _SHAPES:
        text = pattern.sub(_mask_match, text)
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    return text


def _mask_match(match: re.Match[str]) -> str:
    """Replace only the value group, keeping the key, separators and quotes around it."""
    whole, start = match.group(0), match.start(0)
    return whole[: match.start(2) - start] + MASK + whole[match.end(2) - start :]


def _redact_record(record: Record) -> None:
    exception = record["exception"]
    if exception is not None:
        rendered = "".join(traceback.format_exception(exception.type, exception.value, exception.traceback))
        record["message"] = f"{record['message']}\n{rendered.rstrip()}"
        record["exception"] = None
    record["message"] = redact(record["message"])
    extra: dict[str, Any] = record["extra"]
    for key, value in list(extra.items()):
        if isinstance(value, str):
            extra[key] = redact(value)


def get_logger(adapter_name: str = "BINANCE") -> Logger:
    """The logger every module of an adapter instance uses: bound and redacting."""
    return logger.bind(adapter=adapter_name).patch(_redact_record)


log = get_logger("BINANCE")
"""Module-level logger for code that runs outside one adapter instance (simulator, CLI)."""


class OccasionalLog:
    """Counts a recurring problem (a malformed frame, a failing update) and says when to log
    it: at most once per ``interval_s``, so a broken feed or a systematic failure cannot flood
    the log while every occurrence is still counted."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.count = 0
        self._logged_at = float("-inf")

    def due(self) -> bool:
        """Count one occurrence; True when this one should be logged."""
        self.count += 1
        now = time.monotonic()
        if now - self._logged_at < self.interval_s:
            return False
        self._logged_at = now
        return True
