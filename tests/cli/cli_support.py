"""Helpers of the CLI tests: the real command in a subprocess, in a hermetic environment."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "foxtrot-binance"
RUN_TIMEOUT = 60.0


class Cli:
    """Runs ``foxtrot-binance`` (the console script when installed, else ``python -m``) with
    no FOXTROT_* variable from the developer's shell, in an empty working directory."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        secrets = workdir / "no-secrets"
        secrets.mkdir(exist_ok=True)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("FOXTROT_") and k not in ("FORCE_COLOR", "FORCE_TERMINAL", "TTY_COMPATIBLE")}
        self.env.update({"FOXTROT_BINANCE_SECRETS_DIR": str(secrets), "XDG_CACHE_HOME": str(workdir / "xdg-cache"),
                         "TERM": "dumb", "PYTHONUNBUFFERED": "1"})

    def argv(self, *args: str, module: bool = False) -> list[str]:
        if module or not SCRIPT.exists():
            return [sys.executable, "-m", "foxtrot_binance.cli", *args]
        return [str(SCRIPT), *args]

    def run(self, *args: str, env: dict[str, str] | None = None, module: bool = False,
            timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args, module=module), cwd=self.workdir, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), cwd=self.workdir, env={**self.env, **(env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def read_until(proc: subprocess.Popen[str], text: str, limit: int = 400) -> list[str]:
    """Lines of ``proc``'s stdout up to the first containing ``text`` (blocking reads: the
    child's own output paces the test, nothing sleeps)."""
    assert proc.stdout is not None
    seen: list[str] = []
    watchdog = threading.Timer(30.0, proc.kill)  # a silent, hung child must not hang the test
    watchdog.start()
    try:
        for _ in range(limit):
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line.rstrip("\n"))
            if text in line:
                return seen
    finally:
        watchdog.cancel()
    raise AssertionError(f"{text!r} never appeared in the output:\n" + "\n".join(seen))


def stop(proc: subprocess.Popen[str], timeout: float = 15.0) -> tuple[str, str]:
    """Wait for ``proc``; kill it if it overstays, so no test leaves a process behind."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"process did not exit within {timeout} s; killed. stderr:\n{err}") from None
    return out, err
