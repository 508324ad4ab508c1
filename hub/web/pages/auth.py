"""Sign in (an API token of any role, or a dashboard user's password) and sign out."""

from __future__ import annotations

import asyncio

from aiohttp import web

from hub.auth import Principal, check_password
from hub.web.access import (
    DASHBOARD,
    current_principal,
    local_target,
    page,
    render,
    session_of,
    tokens_of,
)

__all__ = ["login", "login_form", "logout"]


@page(None)
async def login_form(request: web.Request) -> web.StreamResponse:
    if await current_principal(request) is not None:
        raise web.HTTPSeeOther(local_target(request.query.get("next")))
    return render(
        request,
        "login.html",
        next=local_target(request.query.get("next")),
        error=None,
        mode="token",
    )


@page(None)
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    target = local_target(form.get("next"))
    client = request.remote or "unknown"
    throttle = request.app[DASHBOARD].throttle
    wait = throttle.blocked(client)
    if wait > 0:
        return render(
            request,
            "login.html",
            status=429,
            next=target,
            mode="token",
            error=f"Too many failed sign-ins from your address; try again in {wait / 60:.0f} min.",
        )
    token = str(form.get("token") or "").strip()
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    who: Principal | None = None
    if token:
        who = await tokens_of(request).authenticate(token)
        error = "That token is unknown, revoked or expired."
    elif username and password:
        config = request.app[DASHBOARD].hub.config
        # scrypt takes ~50 ms on purpose: keep it off the event loop.
        who = await asyncio.to_thread(check_password, config, username, password)
        error = "Wrong user name or password."
    else:
        error = "Paste an API token, or enter a user name and password."
    if who is None:
        throttle.failed(client)
        return render(
            request,
            "login.html",
            status=401,
            next=target,
            error=error,
            mode="password" if username else "token",
        )
    throttle.succeeded(client)
    session = session_of(request)
    session.login(who)
    session.flash("ok", f"Signed in as {who.name} ({who.role.value}).")
    raise web.HTTPSeeOther(target)


@page(None)
async def logout(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    session.logout()
    session.flash("info", "Signed out.")
    raise web.HTTPSeeOther("/login")
