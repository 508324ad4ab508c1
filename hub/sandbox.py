"""``hub sandbox``: every installed connector's vendor sandbox, served under ``/{connector}/``.

Zoho and Salesforce cannot be reached from build machines; their sandboxes
speak the vendors' real paths and JSON shapes (OAuth, expiry, rate limits,
validation errors), so the same connector code runs against them and, with
other base URLs in its config, against the real service.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from hub.registry import Registry

__all__ = ["build_sandbox_app", "sandbox_base", "serve"]


def build_sandbox_app(registry: Registry, only: list[str] | None = None) -> web.Application:
    """One app with each sandbox mounted at ``/{connector name}``."""
    root = web.Application()
    mounted = []
    for connector in registry.connectors():
        if connector.sandbox is None or (only and connector.name not in only):
            continue
        root.add_subapp(f"/{connector.name}", connector.sandbox())
        mounted.append(connector.name)

    async def index(request: web.Request) -> web.Response:
        return web.json_response({"sandboxes": [f"/{name}" for name in mounted]})

    root.router.add_get("/", index)
    return root


def sandbox_base(host: str, port: int, connector: str) -> str:
    """The base URL a connection uses to talk to ``connector``'s sandbox."""
    return f"http://{host}:{port}/{connector}"


@contextlib.asynccontextmanager
async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` on a real socket for the duration of the block; yields its base URL.

    Port 0 picks a free port. Connector sandboxes and tests use it to run a
    vendor's stand-in on loopback.
    """
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        bound = runner.addresses[0][1] if runner.addresses else port
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()
