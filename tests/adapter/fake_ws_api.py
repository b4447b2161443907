"""A bare ``/ws-api/v3`` endpoint on 127.0.0.1 for what the simulator cannot be made to do
(a peer that never answers a ping, a handshake refused with a chosen status)."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class FakeWsApi:
    """Use as ``async with``; a subclass answers each connection in ``serve``."""

    def __init__(self) -> None:
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Any:
        app = web.Application()
        app.router.add_get("/ws-api/v3", self.serve)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def serve(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError
