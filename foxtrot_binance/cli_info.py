"""``adapters`` and ``simulator``: the two commands that connect to nothing.

``adapters`` answers "what would my foxtrot host load?" through the same discovery call a
host uses, so a missing or broken plugin shows here before it surprises a trading session.
``simulator`` runs the embedded exchange standalone for other programs (a host, a notebook,
``foxtrot-binance ticks --base-url ...``) and prints what they need to reach it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from foxtrot_hooks import discover_adapters

from foxtrot_binance.cli_session import CliError, pause


def show_adapters(console: Console, *, plain: bool) -> int:
    """Each discovered adapter with its distribution, version and exchanges; plugins that
    failed to load are listed too (and make the command fail)."""
    found = discover_adapters()
    rows: list[tuple[str, str, str, str, str]] = []
    for name in sorted(found.adapters):
        info = found.adapters[name]
        plugin = found.plugin_of(name)
        rows.append((
            name,
            (plugin.distribution or "?") if plugin else "?",
            (plugin.version or "?") if plugin else "?",
            ",".join(e.value for e in info.exchanges),
            info.description,
        ))
    if plain or not console.is_terminal:
        for name, dist, version, exchanges, description in rows:
            print(f"adapter  {name:<14} {dist} {version}  exchanges {exchanges}  {description}", flush=True)
    else:
        table = Table(title="foxtrot adapters (foxtrot_hooks.discover_adapters)", title_justify="left")
        for header in ("adapter", "distribution", "version", "exchanges", "description"):
            table.add_column(header)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for name in found.disabled:
        print(f"disabled {name} (FOXTROT_DISABLED_PLUGINS)", flush=True)
    for failure in found.failures:
        print(f"failed   plugin {failure.entry_point} ({failure.distribution or 'unknown distribution'}): "
              f"{failure.error}", flush=True)
    if not rows:
        raise CliError("no foxtrot adapters found: install foxtrot-binance in this environment")
    return 1 if found.failures else 0


def run_simulator(*, port: int | None, seed: int, tick_interval: float, base_url: str | None) -> int:
    """Serve until Ctrl-C. ``--base-url http://127.0.0.1:PORT`` means: listen where that URL
    points, so the same URL can be handed to the other commands."""
    from foxtrot_binance.simulator import BinanceSimulator

    host = "127.0.0.1"
    if base_url:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
            raise CliError(f"the simulator serves plain http on 127.0.0.1; {base_url} cannot be served here",
                           exit_code=2)
        try:
            port = port if port is not None else parts.port
        except ValueError:  # urlsplit checks the port only when it is read
            raise CliError(f"{base_url} has no valid port number", exit_code=2) from None
    sim = BinanceSimulator(seed=seed, tick_interval=tick_interval or None, host=host, port=port or 0)
    try:
        sim.start()
    except OSError as exc:
        raise CliError(f"the simulator cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        print(f"simulator  Binance simulator (spot + USD-M) at {sim.base_url}, seed {seed}", flush=True)
        print("test keys  (valid on this simulator only; new ones each start)", flush=True)
        print(f"export FOXTROT_BINANCE_BASE_URL={sim.base_url}", flush=True)
        print(f"export FOXTROT_BINANCE_API_KEY={sim.api_key}", flush=True)
        print(f"export FOXTROT_BINANCE_SECRET={sim.api_secret}", flush=True)
        try:  # from the moment Ctrl-C is offered: a quick one must not escape as "interrupted"
            print("Ctrl-C to stop", flush=True)
            pause(None)
        except KeyboardInterrupt:
            print("simulator stopped", flush=True)
    finally:
        sim.stop()
    return 0
