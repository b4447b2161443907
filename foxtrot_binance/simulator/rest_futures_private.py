"""USD-M signed REST routes (placeholder)."""

from __future__ import annotations

from aiohttp import web

from .context import SimContext


def add_futures_private_routes(app: web.Application, ctx: SimContext) -> None:
    return None
