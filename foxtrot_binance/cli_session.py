"""What every connecting CLI command shares: one EventEngine, adapters opened the host's way.

The commands drive the adapters exactly as a foxtrot host does (``load_adapters()``, an
``EventEngine``, ``connect(setting)`` and events), so what the CLI shows is what a host will
see. The adapter's connect is non-blocking and reports its outcome only as EVENT_LOG lines;
``Session.wait_connected`` turns those lines into one answer a command can act on, without
sleeping: it waits on a condition that every incoming event notifies. (The line texts are
the coupling; the CLI tests run against the real adapter, so a reworded line fails there.)
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from foxtrot_hooks import (
    EVENT_LOG,
    AdapterInfo,
    BaseAdapter,
    Event,
    EventEngine,
    Exchange,
    LogData,
    load_adapters,
)

from foxtrot_binance.settings import ENV_PREFIX

CONNECTED = "Connected to Binance"
REFUSED = "Connection refused by Binance: "
FAILED = "Connection failed ("
STREAM_UP = "User data stream connected"
STREAM_DOWN = "User data stream disconnected ("
CLOCK = re.compile(r"clock offset to Binance (-?\d+) ms")
_CODE = re.compile(r"\(Binance code (-?\d+)\)")


def pause(seconds: float | None) -> None:
    """Wait ``seconds`` (None: forever) in short slices on the main thread, so a pending
    Ctrl-C or an interrupt from another thread (``_thread.interrupt_main``, which only takes
    effect when the main thread runs Python code) ends the wait at once."""
    deadline = None if seconds is None else time.monotonic() + seconds
    idle = threading.Event()
    while deadline is None or time.monotonic() < deadline:
        left = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
        idle.wait(max(0.0, left))


class CliError(Exception):
    """A failure the trader must fix; ``str()`` is the one line the command prints."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Outcome(Enum):
    CONNECTED = "connected"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class ConnectResult:
    outcome: Outcome
    reason: str = ""  # Binance's (already redacted) words for a refusal or failure
    clock_offset_ms: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.CONNECTED


@dataclass
class OpenAdapter:
    """One adapter a command opened, with the exchange its requests must name."""

    info: AdapterInfo
    adapter: BaseAdapter

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def exchange(self) -> Exchange:
        return self.info.exchanges[0]


class AdapterUnavailable(CliError):
    """The adapter exists but refuses to work yet (it raised NotImplementedError)."""


Listener = Callable[[Event], None]


class Session:
    """An EventEngine and the adapters opened on it; ``close()`` releases everything.

    Use as a context manager: adapters are closed (their I/O threads joined) and the engine
    stopped even when the command is interrupted.
    """

    def __init__(self) -> None:
        self.engine = EventEngine()
        self._cond = threading.Condition()
        self._logs: list[LogData] = []
        self._listeners: list[Listener] = []
        self._opened: list[OpenAdapter] = []
        self.engine.register_general(self._on_event)
        self.engine.start()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- events -----------------------------------------------------------------------
    def listen(self, listener: Listener) -> None:
        """Call ``listener(event)`` for every event from now on (on the engine's thread)."""
        with self._cond:
            self._listeners.append(listener)

    def _on_event(self, event: Event) -> None:
        with self._cond:
            if event.type == EVENT_LOG:
                self._logs.append(event.data)
            listeners = list(self._listeners)
        for listener in listeners:  # outside the lock: a listener may print or render
            listener(event)
        with self._cond:  # after the listeners, so a waiter sees the state they updated
            self._cond.notify_all()

    def logs(self, adapter_name: str | None = None) -> list[LogData]:
        with self._cond:
            return [log for log in self._logs if adapter_name is None or log.adapter_name == adapter_name]

    def wait_until(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """Wait (interruptibly) until ``predicate()`` is truthy, re-checked after every event
        (and every 0.5 s, so Ctrl-C is never held up). Returns its value, or None after
        ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                left = deadline - time.monotonic()
                if value or left <= 0:
                    return value or None
                self._cond.wait(min(left, 0.5))

    # -- adapters ---------------------------------------------------------------------
    def open(self, info: AdapterInfo, setting: dict[str, Any]) -> OpenAdapter:
        """Instantiate and connect one adapter as a host does; raises AdapterUnavailable when
        the adapter is not built yet, InvalidSettingsError for a bad setting."""
        adapter = info.adapter_class(self.engine, info.name)
        opened = OpenAdapter(info, adapter)
        self._opened.append(opened)
        try:
            adapter.connect(setting)
        except NotImplementedError as exc:
            raise AdapterUnavailable(f"{info.name} is not available yet: {exc}") from None
        return opened

    def wait_connected(self, adapter_name: str, timeout: float) -> ConnectResult:
        """The connect outcome, from the adapter's log lines: connected, refused (bad keys),
        unreachable (first failed attempt; the adapter keeps retrying) or timed out."""

        def outcome() -> ConnectResult | None:
            offset: int | None = None
            for log in self.logs(adapter_name):
                msg = log.msg
                found = CLOCK.search(msg)
                if found:
                    offset = int(found.group(1))
                if msg.startswith(REFUSED):
                    return ConnectResult(Outcome.REFUSED, msg[len(REFUSED):].removesuffix(". Check the API key and secret."), offset)
                if msg.startswith(FAILED):
                    return ConnectResult(Outcome.UNREACHABLE, msg[len(FAILED):].rsplit("); retrying", 1)[0], offset)
                if msg.startswith(CONNECTED):
                    return ConnectResult(Outcome.CONNECTED, "", offset)
            return None

        return self.wait_until(outcome, timeout) or ConnectResult(Outcome.TIMEOUT)

    def wait_user_stream(self, adapter_name: str, timeout: float) -> str | None:
        """None once the private stream is live, else the reason it is not (or a timeout)."""

        def state() -> tuple[str | None] | None:
            for log in self.logs(adapter_name):
                if log.msg.startswith(STREAM_UP):
                    return (None,)
                if log.msg.startswith(STREAM_DOWN):
                    return (log.msg[len(STREAM_DOWN):].rsplit("); reconnecting", 1)[0],)
            return None

        found = self.wait_until(state, timeout)
        return found[0] if found else f"no user data stream within {timeout:g} s"

    def close(self) -> None:
        """Close every adapter (joins its I/O thread), then stop the engine. Idempotent."""
        while self._opened:
            opened = self._opened.pop()
            try:
                opened.adapter.close()
            except Exception:  # noqa: BLE001 - closing the others matters more than this one
                pass
        self.engine.stop()


# -- helpers shared by the commands ----------------------------------------------------
def find_adapter(usdm: bool) -> AdapterInfo:
    """The BINANCE or BINANCE_USDM declaration, found the way a host finds it."""
    name = "BINANCE_USDM" if usdm else "BINANCE"
    adapters = load_adapters()
    if name not in adapters:
        raise CliError(
            f"adapter {name} was not found by foxtrot_hooks.load_adapters(): is foxtrot-binance installed "
            f"in this environment, and 'binance' absent from FOXTROT_DISABLED_PLUGINS?"
        )
    return adapters[name]


NO_HISTORY: dict[str, Any] = {"history_cache": False}
"""Connect-dict override for commands that never query history (demo, ticks, check): the
coordinator opens its sqlite bar cache at connect, one file per server or base URL, and a
simulator on a random port would leave a new file in the user's cache directory each run."""


def connect_setting(base_url: str | None, server: str | None, **extra: Any) -> dict[str, Any]:
    """The connect dict for the command line's overrides; everything else comes from the
    environment, ``.env`` and the secrets directory, exactly as for the adapter."""
    setting: dict[str, Any] = dict(extra)
    if base_url:
        setting["Base URL"] = base_url
    if server:
        setting["Server"] = server
    return setting


def binance_code(reason: str) -> int | None:
    found = _CODE.search(reason)
    return int(found.group(1)) if found else None


def explain_refusal(reason: str, server_hint: str) -> str:
    """One line saying what Binance refused and what to fix; never a credential."""
    code = binance_code(reason)
    words = " ".join(_CODE.sub("", reason).split()).strip(" .")
    keys = f"{ENV_PREFIX}API_KEY / {ENV_PREFIX}SECRET"
    if code == -1022:
        return (f"Binance refused the signature (code -1022: {words}): {ENV_PREFIX}SECRET does not belong to "
                f"{ENV_PREFIX}API_KEY")
    if code == -2014:
        return f"Binance refused the API key's format (code -2014: {words}): check {keys}"
    code_text = f"code {code}: " if code is not None else ""
    return (f"Binance refused the API key ({code_text}{words}): check {keys}, the key's IP restrictions "
            f"and that it was created for the {server_hint}")


def explain_unreachable(reason: str, where: str) -> str:
    return (f"cannot reach Binance at {where} ({reason}): check the network, {ENV_PREFIX}BASE_URL / --base-url, "
            f"{ENV_PREFIX}SERVER and the proxy settings")


def where_of(setting_base_url: str | None, server: str) -> str:
    return setting_base_url or f"the {server} server"


def require_connected(session: Session, opened: OpenAdapter, timeout: float, base_url: str | None, server: str) -> ConnectResult:
    """Wait for the connect outcome and turn every failure into a CliError line."""
    result = session.wait_connected(opened.name, timeout)
    where = where_of(base_url, server)
    if result.outcome is Outcome.REFUSED:
        raise CliError(explain_refusal(result.reason, server_hint(base_url, server)))
    if result.outcome is Outcome.UNREACHABLE:
        raise CliError(explain_unreachable(result.reason, where))
    if result.outcome is Outcome.TIMEOUT:
        raise CliError(f"no answer from Binance at {where} within {timeout:g} s: check the network and --base-url")
    return result


def server_hint(base_url: str | None, server: str) -> str:
    if base_url:
        return f"server at {base_url}"
    return {"live": "live server (testnet keys need FOXTROT_BINANCE_SERVER=testnet)",
            "testnet": "spot testnet (testnet.binance.vision)",
            "demo": "Binance demo trading"}.get(server, f"{server} server")
