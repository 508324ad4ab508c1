"""The audit log (admins): who changed or replayed what, newest first."""

from __future__ import annotations

from aiohttp import web

from hub.auth import Role
from hub.ops import OPS
from hub.web.access import page, render, session_of

__all__ = ["add_routes"]


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/audit", audit_log, name="audit")


@page(Role.ADMIN)
async def audit_log(request: web.Request) -> web.StreamResponse:
    before = request.query.get("before") or None
    try:
        entries, cursor = await request.app[OPS].audit_log(limit=50, before=before)
    except ValueError:  # a hand-edited or truncated page link
        session_of(request).flash(
            "error", "That page link is not valid; showing the newest entries."
        )
        raise web.HTTPSeeOther("/audit") from None
    return render(request, "audit.html", entries=entries, cursor=cursor, first=before is not None)
