"""API routes over configuration: connections, connectors, recipes, tokens, the audit log."""

from __future__ import annotations

from dataclasses import asdict

from hub.api.convert import bad_cursor, page_by_key, token_out
from hub.api.framework import ApiError, Call, Route
from hub.api.models import (
    AuditOut,
    AuditQuery,
    ConnectionIn,
    ConnectionOut,
    ConnectorDetail,
    ConnectorOut,
    DryRunIn,
    DryRunOut,
    FormFieldOut,
    MeOut,
    Page,
    PageQuery,
    RecipeOut,
    TestOut,
    TokenCreated,
    TokenCreateIn,
    TokenOut,
)
from hub.auth import Role, token_expiry
from hub.connector import Connector
from hub.errors import NotFound
from hub.ops.settings import supports_oauth

__all__ = ["CONFIG_ROUTES"]


async def me(call: Call) -> MeOut:
    p = call.principal
    return MeOut.model_validate({"name": p.name, "role": str(p.role), "via": p.via})


# -- connections ----------------------------------------------------------------------------


def _connection_out(view: object) -> ConnectionOut:
    return ConnectionOut.model_validate(view)


async def list_connections(call: Call) -> Page[ConnectionOut]:
    q = call.q(PageQuery)
    views = await call.ops.connections()
    page, cursor = page_by_key(views, lambda v: v.name, q.limit, q.cursor)
    return Page[ConnectionOut](items=[_connection_out(v) for v in page], next_cursor=cursor)


async def get_connection(call: Call) -> ConnectionOut:
    view = await call.ops.connection(call.path("name"))
    if view is None:
        raise NotFound(f"no connection named {call.path('name')!r}")
    return _connection_out(view)


async def put_connection(call: Call) -> ConnectionOut:
    body = call.b(ConnectionIn)
    view = await call.ops.save_connection(
        call.principal, call.path("name"), body.connector, body.config, body.enabled
    )
    return _connection_out(view)


async def enable_connection(call: Call) -> ConnectionOut:
    return _connection_out(
        await call.ops.set_connection_enabled(call.principal, call.path("name"), True)
    )


async def disable_connection(call: Call) -> ConnectionOut:
    return _connection_out(
        await call.ops.set_connection_enabled(call.principal, call.path("name"), False)
    )


async def test_connection(call: Call) -> TestOut:
    return TestOut.model_validate(await call.ops.test_connection(call.principal, call.path("name")))


async def pause_connection(call: Call) -> ConnectionOut:
    await call.ops.pause_connection(call.principal, call.path("name"))
    return await get_connection(call)


async def resume_connection(call: Call) -> ConnectionOut:
    await call.ops.resume_connection(call.principal, call.path("name"))
    return await get_connection(call)


# -- connectors ----------------------------------------------------------------------------


def _connector_out(c: Connector) -> dict[str, object]:
    return {
        "name": c.name,
        "title": c.title,
        "emits": list(c.emits),
        "actions": [a.name for a in c.actions],
        "webhook": c.webhook is not None,
        "pollers": [p.name for p in c.pollers],
        "oauth": supports_oauth(c),
    }


async def list_connectors(call: Call) -> Page[ConnectorOut]:
    q = call.q(PageQuery)
    found = sorted(call.hub.registry.connectors(), key=lambda c: c.name)
    page, cursor = page_by_key(found, lambda c: c.name, q.limit, q.cursor)
    return Page[ConnectorOut](
        items=[ConnectorOut.model_validate(_connector_out(c)) for c in page], next_cursor=cursor
    )


async def get_connector(call: Call) -> ConnectorDetail:
    form = call.ops.connection_form(call.path("name"))
    connector = call.hub.registry.connector(form.connector)
    return ConnectorDetail.model_validate(
        {
            **_connector_out(connector),
            "docs": connector.docs,
            "fields": [FormFieldOut.model_validate(asdict(f)) for f in form.fields],
            "config_schema": connector.config.model_json_schema(),
        }
    )


# -- recipes ---------------------------------------------------------------------------------


async def list_recipes(call: Call) -> Page[RecipeOut]:
    q = call.q(PageQuery)
    views = sorted(await call.ops.recipes(), key=lambda r: r.name)
    page, cursor = page_by_key(views, lambda r: r.name, q.limit, q.cursor)
    return Page[RecipeOut](items=[RecipeOut.model_validate(r) for r in page], next_cursor=cursor)


async def get_recipe(call: Call) -> RecipeOut:
    view = await call.ops.recipe(call.path("name"))
    if view is None:
        raise NotFound(f"no recipe named {call.path('name')!r}")
    return RecipeOut.model_validate(view)


async def enable_recipe(call: Call) -> RecipeOut:
    return RecipeOut.model_validate(
        await call.ops.set_recipe_enabled(call.principal, call.path("name"), True)
    )


async def disable_recipe(call: Call) -> RecipeOut:
    return RecipeOut.model_validate(
        await call.ops.set_recipe_enabled(call.principal, call.path("name"), False)
    )


async def dry_run_recipe(call: Call) -> DryRunOut:
    body = call.b(DryRunIn)
    return DryRunOut.model_validate(
        await call.ops.dry_run(call.principal, call.path("name"), body.event_id)
    )


# -- tokens and audit -----------------------------------------------------------------------------


async def list_tokens(call: Call) -> Page[TokenOut]:
    q = call.q(PageQuery)
    tokens = await call.tokens.list()
    page, cursor = page_by_key(tokens, lambda t: t.id, q.limit, q.cursor)
    return Page[TokenOut](items=[token_out(t) for t in page], next_cursor=cursor)


async def create_token(call: Call) -> TokenCreated:
    body = call.b(TokenCreateIn)
    try:
        expires = token_expiry(body.expires_in) if body.expires_in else None
    except ValueError as exc:
        raise ApiError(
            422, "invalid", "the body is invalid", [("body.expires_in", str(exc))]
        ) from exc
    info, text = await call.ops.create_token(call.principal, body.name, Role(body.role), expires)
    return TokenCreated(token=text, info=token_out(info))


async def revoke_token(call: Call) -> TokenOut:
    return token_out(await call.ops.revoke_token(call.principal, call.path("id")))


async def list_audit(call: Call) -> Page[AuditOut]:
    q = call.q(AuditQuery)
    try:
        entries, cursor = await call.ops.audit_log(q.limit, q.cursor, q.action)
    except ValueError as exc:
        raise bad_cursor(q.cursor) from exc
    return Page[AuditOut](
        items=[AuditOut.model_validate(asdict(e)) for e in entries], next_cursor=cursor
    )


CONFIG_ROUTES = [
    Route("GET", "/me", Role.VIEWER, "Who this token is", me, "auth", MeOut),
    Route("GET", "/connections", Role.VIEWER, "Connections (secrets never shown)",
          list_connections, "connections", Page[ConnectionOut], query=PageQuery),
    Route("GET", "/connections/{name}", Role.VIEWER, "One connection", get_connection,
          "connections", ConnectionOut),
    Route("PUT", "/connections/{name}", Role.ADMIN, "Create or change a connection",
          put_connection, "connections", ConnectionOut, body=ConnectionIn,
          description="Applied live, stored sealed, and from then on wins over hub.yaml. "
          "Secrets are write-only: leave them out to keep the stored ones."),
    Route("POST", "/connections/{name}/enable", Role.ADMIN, "Enable a connection",
          enable_connection, "connections", ConnectionOut),
    Route("POST", "/connections/{name}/disable", Role.ADMIN,
          "Disable a connection (no webhooks, no steps)", disable_connection, "connections",
          ConnectionOut),
    Route("POST", "/connections/{name}/test", Role.ADMIN, "Check a connection's credentials",
          test_connection, "connections", TestOut),
    Route("POST", "/connections/{name}/pause", Role.OPS,
          "Pause a connection's deliveries (they stay due; webhooks still accepted)",
          pause_connection, "connections", ConnectionOut),
    Route("POST", "/connections/{name}/resume", Role.OPS, "Resume a paused connection",
          resume_connection, "connections", ConnectionOut),
    Route("GET", "/connectors", Role.VIEWER, "Installed connectors", list_connectors,
          "connectors", Page[ConnectorOut], query=PageQuery),
    Route("GET", "/connectors/{name}", Role.VIEWER, "A connector with its settings form",
          get_connector, "connectors", ConnectorDetail),
    Route("GET", "/recipes", Role.VIEWER, "Recipes with their switches and problems",
          list_recipes, "recipes", Page[RecipeOut], query=PageQuery),
    Route("GET", "/recipes/{name}", Role.VIEWER, "One recipe", get_recipe, "recipes",
          RecipeOut),
    Route("POST", "/recipes/{name}/enable", Role.ADMIN, "Enable a recipe for new events",
          enable_recipe, "recipes", RecipeOut),
    Route("POST", "/recipes/{name}/disable", Role.ADMIN, "Disable a recipe for new events",
          disable_recipe, "recipes", RecipeOut),
    Route("POST", "/recipes/{name}/dry-run", Role.ADMIN,
          "Render a recipe against a stored event, calling nothing", dry_run_recipe, "recipes",
          DryRunOut, body=DryRunIn),
    Route("GET", "/tokens", Role.ADMIN, "API tokens (never their secrets)", list_tokens,
          "tokens", Page[TokenOut], query=PageQuery),
    Route("POST", "/tokens", Role.ADMIN, "Create a token (its text is shown once)",
          create_token, "tokens", TokenCreated, body=TokenCreateIn, status=201, errors=(409,)),
    Route("DELETE", "/tokens/{id}", Role.ADMIN, "Revoke a token (by id or name)", revoke_token,
          "tokens", TokenOut, errors=(409,)),
    Route("GET", "/audit", Role.ADMIN, "The audit log, newest first", list_audit, "audit",
          Page[AuditOut], query=AuditQuery),
]  # fmt: skip
