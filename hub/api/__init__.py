"""The JSON API under ``/api/v1``: bearer tokens with roles, one error shape, OpenAPI 3.1.

``ROUTES`` is the single route table: ``setup_api`` serves it, and the
document at ``/api/v1/openapi.json`` is generated from the same list (the
route that serves it included). See docs/api.md.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.api.framework import API_PREFIX, Call, Route, api_middleware, register
from hub.api.openapi import openapi_document
from hub.api.routes_config import CONFIG_ROUTES
from hub.api.routes_log import LOG_ROUTES
from hub.auth import Role

__all__ = ["API_PREFIX", "OPENAPI", "ROUTES", "openapi_document", "setup_api"]

OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)


async def openapi(call: Call) -> dict[str, Any]:
    return call.request.app[OPENAPI]


ROUTES: list[Route] = [
    Route("GET", "/openapi.json", Role.VIEWER, "This OpenAPI 3.1 document", openapi, "meta",
          raw_json=True),
    *CONFIG_ROUTES,
    *LOG_ROUTES,
]  # fmt: skip


def setup_api(app: web.Application) -> None:
    """Mount ``/api/v1`` on ``app``: the auth middleware (API paths only) and every route."""
    app[OPENAPI] = openapi_document(ROUTES)
    app.middlewares.append(api_middleware)
    register(app, ROUTES)
