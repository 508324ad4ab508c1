"""The dashboard: server-rendered pages for admins and ops, served by ``hub serve`` at ``/``.

No front-end build: Jinja2 templates (autoescaped), one CSS file, one small
script (live progress of bulk replays), charts drawn as inline SVG on the
server. Sessions are an encrypted cookie; every form carries a CSRF token;
every page and action checks the role (``hub.web.access``). Reads go to the
store; every change goes through ``hub.ops.Ops`` so the dashboard, the JSON
API and the CLI share one set of role checks and one audit log.

``setup_dashboard(app)`` mounts it on the ``hub serve`` app (``hub.app.build_app``).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hub.auth import TOKENS, TokenService
from hub.web.access import DASHBOARD, Dashboard, current_principal, page, render, session_of
from hub.web.oauth import setup_oauth_routes
from hub.web.pages import (
    audit,
    auth,
    connections,
    deliveries,
    events,
    jobs,
    overview,
    recipes,
)
from hub.web.render import make_environment
from hub.web.stats import OverviewStats

__all__ = ["DASHBOARD", "current_principal", "page", "render", "session_of", "setup_dashboard"]

STATIC = Path(__file__).parent / "static"


def setup_dashboard(app: web.Application) -> None:
    """Mount the dashboard's pages and ``/static/`` on ``app`` (which holds ``hub.app.HUB``)."""
    from hub.app import HUB

    hub = app[HUB]
    app[DASHBOARD] = Dashboard(
        hub=hub,
        templates=make_environment(),
        tokens=app.get(TOKENS) or TokenService(hub.store),
        stats=OverviewStats(hub.store),
    )
    router = app.router
    router.add_get("/", overview.overview, name="overview")
    router.add_get("/login", auth.login_form, name="login")
    router.add_post("/login", auth.login)
    router.add_post("/logout", auth.logout, name="logout")
    for module in (connections, recipes, events, deliveries, jobs, audit):
        module.add_routes(router)
    static = router.add_static("/static/", STATIC, name="static", append_version=True)
    app[DASHBOARD].templates.globals["static_url"] = lambda name: str(static.url_for(filename=name))
    setup_oauth_routes(app)
