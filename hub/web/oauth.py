"""The dashboard's Connect button: ``/connections/{name}/oauth/start`` and ``/oauth/callback``.

An admin clicks Connect on a connection whose connector declares an
``OAuthApp`` (Zoho Books, CRM, Desk, Salesforce). ``start`` remembers a random
``state`` bound to the admin, their dashboard session and the connection
(``hub.oauth.AuthorizationStates``, single use, 10 minutes) and sends the
browser to the vendor's consent page. The vendor sends it back to
``{public_url}/oauth/callback``; ``callback`` checks and spends the state,
swaps the code for tokens server side, hands the refresh token to
``Ops.set_connection_secret_state`` (sealed with the master key in the store,
applied to the running connection, ``needs_reauth`` cleared), writes
``connection.oauth_connected`` to the audit log and returns to the
connection's page with a flash. Every failure is a page saying what went
wrong and what to do; nothing is changed then.

Register ``{public_url}/oauth/callback`` as the redirect URI with the vendor
(docs/oauth.md). Without ``public_url`` the address the browser used is taken,
which suits a hub reached at one address.

The Connect button must be a link, not a form: the dashboard's
``form-action 'self'`` policy would stop a form whose answer redirects to the vendor.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from aiohttp import web

from hub.auth import Principal, Role, audit
from hub.connections import LiveConnection
from hub.errors import ConfigError, Forbidden, NotFound
from hub.oauth import (
    AuthorizationStates,
    OAuthApp,
    OAuthError,
    authorization_url,
    callback_error,
    exchange_code,
)
from hub.ops import OPS
from hub.web.access import DASHBOARD, page, principal_of, render, session_of

__all__ = ["CALLBACK_PATH", "OAUTH_STATES", "redirect_uri", "setup_oauth_routes"]

log = logging.getLogger("hub.web.oauth")

CALLBACK_PATH = "/oauth/callback"
OAUTH_STATES: web.AppKey[AuthorizationStates] = web.AppKey("oauth_states", AuthorizationStates)


def setup_oauth_routes(app: web.Application) -> None:
    """Add the Connect routes to the dashboard app (called by ``hub.web.setup_dashboard``)."""
    app[OAUTH_STATES] = AuthorizationStates()
    app.router.add_get("/connections/{name}/oauth/start", start, name="oauth_start")
    app.router.add_get(CALLBACK_PATH, callback, name="oauth_callback")


def redirect_uri(request: web.Request) -> str:
    """``{public_url}/oauth/callback``, or on the address the browser used when unset."""
    public = request.app[DASHBOARD].hub.config.public_url
    base = public.rstrip("/") if public else f"{request.scheme}://{request.host}"
    return f"{base}{CALLBACK_PATH}"


def _connectable(request: web.Request, name: str) -> tuple[LiveConnection, OAuthApp]:
    """The running connection ``name`` and its connector's ``OAuthApp``.

    Raises:
        NotFound: no such connection runs here.
        OAuthError: its connector has no Connect flow.
    """
    live = request.app[DASHBOARD].hub.connections.get(name)
    if live is None:
        raise NotFound(f"no connection named {name!r}")
    app = live.connector.oauth
    if app is None:
        raise OAuthError(
            f"{live.connector.title} connections have no Connect flow: enter their "
            "credentials in the connection's settings instead.",
            "not_supported",
        )
    return live, app


@page(Role.ADMIN)
async def start(request: web.Request) -> web.StreamResponse:
    """Send the admin's browser to the vendor's consent page for this connection."""
    who = principal_of(request)
    name = request.match_info["name"]
    try:
        live, app = _connectable(request, name)
        client = app.client(live.config)
    except OAuthError as exc:
        return _failure(request, name, exc)
    pending = request.app[OAUTH_STATES].issue(
        connection=name,
        user=who.name,
        browser_nonce=session_of(request).sid,
        redirect_uri=redirect_uri(request),
        pkce=app.pkce,
    )
    log.info("%s started connecting %s at %s", who.name, name, app.vendor)
    raise web.HTTPFound(
        authorization_url(
            app,
            client,
            redirect_uri=pending.redirect_uri,
            state=pending.state,
            code_verifier=pending.code_verifier,
        )
    )


@page(Role.ADMIN)
async def callback(request: web.Request) -> web.StreamResponse:
    """Finish the flow: check the state, swap the code, store the refresh token sealed."""
    who = principal_of(request)
    query = request.query
    state = query.get("state", "")
    if not state:
        return _failure(
            request,
            None,
            OAuthError(
                "This address is only for the vendor to send you back to the hub after you "
                "approve access, and this request carries no state. Use Connect on a "
                "connection's page.",
                "state_missing",
            ),
        )
    try:
        pending = request.app[OAUTH_STATES].take(
            state, user=who.name, browser_nonce=session_of(request).sid
        )
    except OAuthError as exc:
        return _failure(request, None, exc)
    name = pending.connection
    try:
        live, app = _connectable(request, name)
        if "error" in query:
            raise callback_error(
                app, query["error"], query.get("error_description"), pending.redirect_uri
            )
        code = query.get("code", "")
        if not code:
            raise OAuthError(
                f"{app.vendor} sent you back without an authorization code. Nothing was "
                "changed; click Connect again.",
                "code_missing",
            )
        plan = app.resolve_callback(live.config, query)
        grant = await exchange_code(
            live.http,
            app,
            app.client(live.config),
            token_url=plan.token_url,
            code=code,
            redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier,
            timeout=getattr(live.config, "timeout", None),
        )
    except OAuthError as exc:
        await _audit_failure(request, who, name, exc)
        return _failure(request, name, exc)
    patch: dict[str, Any] = {app.refresh_token_field: grant.refresh_token, **plan.config_patch}
    try:
        await request.app[OPS].set_connection_secret_state(who, name, patch)
    except Forbidden as exc:
        return render(request, "error.html", status=403, title="Not allowed", message=str(exc))
    except (ConfigError, NotFound) as exc:
        failure = OAuthError(
            f"{app.vendor} granted access, but the connection could not be updated: {exc}",
            "not_saved",
            409,
        )
        await _audit_failure(request, who, name, failure)
        return _failure(request, name, failure)
    detail = {"vendor": app.vendor, **grant.details, **plan.config_patch}
    await audit(request.app[DASHBOARD].hub.store, who, "connection.oauth_connected", name, detail)
    log.info("%s connected %s at %s", who.name, name, app.vendor)
    moved = plan.config_patch.get("data_centre")
    session_of(request).flash(
        "ok",
        f"Connected {name} with {app.vendor}: the new refresh token is stored encrypted"
        + (f"; the data centre is now {moved}." if moved else "."),
    )
    raise web.HTTPSeeOther(f"/connections/{quote(name, safe='')}")


async def _audit_failure(request: web.Request, who: Principal, name: str, exc: OAuthError) -> None:
    """Record a failed connect for a real pending authorization (never the code or tokens)."""
    log.warning("connecting %s failed: %s", name, exc.code)
    await audit(
        request.app[DASHBOARD].hub.store,
        who,
        "connection.oauth_failed",
        name,
        {"error": exc.code},
    )


def _failure(request: web.Request, name: str | None, exc: OAuthError) -> web.Response:
    title = f"Could not connect {name}" if name else "Could not connect"
    return render(request, "error.html", status=exc.status, title=title, message=str(exc))
