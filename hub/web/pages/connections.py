"""Connections: status at a glance, settings forms generated from each connector's config model.

Secrets are write-only: a secret field is a password input that is never
filled in, shows whether a value is stored, and keeps the stored value when
left empty. Saving, enabling and testing need the admin role; pausing and
resuming (stop running a sink's steps for a while) need ops.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.auth import Role
from hub.errors import ConfigError, Forbidden, NotFound
from hub.ops import OPS, ConnectionForm, ConnectionView, Ops
from hub.ops.service import CONNECTION_NAME
from hub.web.access import DASHBOARD, act, local_target, page, principal_of, render, session_of
from hub.web.forms import connection_values, field_errors

__all__ = ["add_routes"]


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/connections", connection_list, name="connections")
    router.add_get("/connections/new", new_form, name="connection_new")
    router.add_post("/connections/new", create)
    router.add_get("/connections/{name}", detail, name="connection")
    router.add_post("/connections/{name}", save)
    for verb in ("enable", "disable", "pause", "resume", "test"):
        router.add_post(f"/connections/{{name}}/{verb}", switch)


def _connectors(request: web.Request) -> list[tuple[str, str]]:
    registry = request.app[DASHBOARD].hub.registry
    return sorted((c.name, c.title) for c in registry.connectors())


@page()
async def connection_list(request: web.Request) -> web.StreamResponse:
    views = await request.app[OPS].connections()
    return render(request, "connections.html", connections=views, connectors=_connectors(request))


async def _view(ops: Ops, name: str) -> ConnectionView:
    view = await ops.connection(name)
    if view is None:
        raise NotFound(f"no connection named {name!r}")
    return view


def _form_page(
    request: web.Request,
    form: ConnectionForm,
    *,
    view: ConnectionView | None,
    name: str,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> web.Response:
    secrets = {
        f.name: bool(view.config.get(f.name, {}).get("set"))
        if view is not None and isinstance(view.config.get(f.name), dict)
        else False
        for f in form.fields
        if f.type == "secret"
    }
    shown = {
        f.name: (typed or {}).get(f.name, "" if f.value is None else _as_text(f.value))
        for f in form.fields
        if f.type != "secret"
    }
    return render(
        request,
        "connection.html",
        status=status,
        view=view,
        form=form,
        name=name,
        shown=shown,
        secrets=secrets,
        errors=errors or {},
        problems=problems or [],
    )


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else ""
    return str(value)


@page()
async def detail(request: web.Request) -> web.StreamResponse:
    ops = request.app[OPS]
    view = await _view(ops, request.match_info["name"])
    return _form_page(
        request, ops.connection_form(view.connector, view.name), view=view, name=view.name
    )


@page(Role.ADMIN)
async def new_form(request: web.Request) -> web.StreamResponse:
    connector = request.query.get("connector", "")
    if connector not in dict(_connectors(request)):
        session_of(request).flash("error", "Pick a connector for the new connection.")
        raise web.HTTPSeeOther("/connections")
    form = request.app[OPS].connection_form(connector)
    return _form_page(request, form, view=None, name="")


@page(Role.ADMIN)
async def create(request: web.Request) -> web.StreamResponse:
    post = await request.post()
    connector = str(post.get("connector") or "")
    if connector not in dict(_connectors(request)):
        raise web.HTTPBadRequest(text="unknown connector")
    ops = request.app[OPS]
    form = ops.connection_form(connector)
    name = str(post.get("name") or "").strip()
    if not CONNECTION_NAME.match(name):  # the rule Ops applies, checked early for the form
        return await _save(
            request, form, None, name, {"name": "letters, digits, '.', '_' and '-'; up to 100"}
        )
    if await ops.connection(name) is not None:
        return await _save(
            request, form, None, name, {"name": f"a connection named {name!r} exists"}
        )
    return await _save(request, form, None, name, {})


@page(Role.ADMIN)
async def save(request: web.Request) -> web.StreamResponse:
    ops = request.app[OPS]
    view = await _view(ops, request.match_info["name"])
    form = ops.connection_form(view.connector, view.name)
    return await _save(request, form, view, view.name, {})


async def _save(
    request: web.Request,
    form: ConnectionForm,
    view: ConnectionView | None,
    name: str,
    errors: dict[str, str],
) -> web.StreamResponse:
    post = await request.post()
    values, typed, problems = connection_values(form, post)
    errors = {**problems, **errors}
    enable = True if post.get("enable") else None
    if not errors:
        try:
            saved = await request.app[OPS].save_connection(
                principal_of(request), name, form.connector, values, enabled=enable
            )
        except Forbidden as exc:
            return render(request, "error.html", status=403, title="Not allowed", message=str(exc))
        except ConfigError as exc:
            by_field, rest = field_errors(str(exc), {f.name for f in form.fields})
            return _form_page(
                request,
                form,
                view=view,
                name=name,
                typed=typed,
                errors=by_field,
                problems=rest,
                status=422,
            )
        state = "saved and enabled" if saved.enabled and enable else "saved"
        session_of(request).flash("ok", f"Connection {saved.name} {state}; it is live now.")
        raise web.HTTPSeeOther(f"/connections/{saved.name}")
    return _form_page(
        request,
        form,
        view=view,
        name=name,
        typed=typed,
        errors=errors,
        problems=[],
        status=422,
    )


@page(Role.OPS)
async def switch(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    verb = request.path.rsplit("/", 1)[-1]
    ops, who = request.app[OPS], principal_of(request)
    back = local_target((await request.post()).get("back"), f"/connections/{name}")
    if verb in ("enable", "disable", "test") and not who.allows(Role.ADMIN):
        return render(
            request,
            "error.html",
            status=403,
            title="Not allowed",
            message=f"Signed in as {who.name} ({who.role.value}); {verb} needs the admin role.",
        )
    if verb == "enable":
        return await act(
            request, ops.set_connection_enabled(who, name, True), back, f"{name} enabled."
        )
    if verb == "disable":
        return await act(
            request,
            ops.set_connection_enabled(who, name, False),
            back,
            f"{name} disabled: webhooks are refused and its steps wait.",
        )
    if verb == "pause":
        return await act(
            request,
            ops.pause_connection(who, name),
            back,
            f"{name} paused: its steps stay due; webhooks are still accepted.",
        )
    if verb == "resume":
        return await act(request, ops.resume_connection(who, name), back, f"{name} resumed.")
    return await act(
        request,
        ops.test_connection(who, name),
        back,
        lambda r: (
            ("ok", f"Test passed in {r.duration_ms:.0f} ms: {r.message}")
            if r.ok
            else ("error", f"Test failed: {r.message}")
        ),
    )
