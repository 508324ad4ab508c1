"""``/api/v1/openapi.json``: the OpenAPI 3.1 document, generated from the route table.

Nothing here is written by hand per endpoint: paths, roles, parameters and
schemas all come from the ``Route`` objects that ``register`` serves, and
the schemas from their pydantic models (OpenAPI 3.1 speaks JSON Schema
2020-12, which is what pydantic emits).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

import hub
from hub.api.framework import Route
from hub.api.models import ErrorBody

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{([^}]+)\}")
_ERROR_TEXT = {
    401: "No token, or an unknown, expired or revoked one.",
    403: "The token's role is not enough for this route.",
    404: "Nothing by that name or id.",
    409: "Conflicts with the current state.",
    422: "Invalid parameters or body; every problem is listed in `details`.",
}


def openapi_document(routes: Sequence[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``."""
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for route in routes:
        if route.response is not None:
            wanted.append((route.response, "serialization"))
        if route.body is not None:
            wanted.append((route.body, "validation"))
    unique = list(dict.fromkeys(wanted))
    refs, schemas = models_json_schema(unique, ref_template=_REF)
    components = schemas.get("$defs", {})

    def ref(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "operationId": route.operation_id,
            "summary": route.summary,
            "description": (
                (route.description + "\n\n" if route.description else "")
                + f"Needs the **{route.role}** role (or above)."
            ),
            "tags": [route.tag],
            "x-required-role": str(route.role),
            "parameters": _parameters(route),
            "responses": _responses(route, ref),
        }
        if route.body is not None:
            operation["requestBody"] = {
                # An empty body is read as {}: required only when a field is.
                "required": any(f.is_required() for f in route.body.model_fields.values()),
                "content": {"application/json": {"schema": ref(route.body, "validation")}},
            }
        paths.setdefault(route.full_path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hub API",
            "version": hub.__version__,
            "description": (
                "Connections, recipes, events, runs, deliveries and attempts of a hub. "
                "Authenticate with `Authorization: Bearer <token>` (`hub tokens create`). "
                "Roles: viewer reads; ops also replays, pauses and resumes; admin also "
                "configures connections, recipes and tokens. Lists are keyset-paginated: "
                "pass `next_cursor` back as `cursor`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [{"name": t} for t in dict.fromkeys(r.tag for r in routes)],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `hub tokens create` or the dashboard.",
                }
            },
        },
    }


def _parameters(route: Route) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(route.path)
    ]
    if route.query is None:
        return params
    schema = route.query.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": _inline(prop, schema.get("$defs", {})),
        }
        if description:
            param["description"] = description
        params.append(param)
    return params


def _inline(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Query schemas are simple: resolve the odd ``$ref`` (an enum) in place."""
    ref = prop.get("$ref")
    if isinstance(ref, str):
        return dict(defs[ref.rsplit("/", 1)[-1]])
    if "anyOf" in prop:
        prop["anyOf"] = [_inline(dict(p), defs) for p in prop["anyOf"]]
    return prop


def _responses(route: Route, ref: Any) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": route.summary}
    if route.response is not None:
        ok["content"] = {"application/json": {"schema": ref(route.response, "serialization")}}
    elif route.raw_json:
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    out: dict[str, Any] = {str(route.status): ok}
    for status in route.error_statuses():
        entry: dict[str, Any] = {
            "description": _ERROR_TEXT.get(status, "Error."),
            "content": {"application/json": {"schema": ref(ErrorBody, "serialization")}},
        }
        if status == 401:
            entry["headers"] = {
                "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}
            }
        out[str(status)] = entry
    out["default"] = {
        "description": "Any other error, in the same shape: 405 (wrong method, with Allow), "
        "413 (body too large), 500 (the hub failed; details only in its log).",
        "content": {"application/json": {"schema": ref(ErrorBody, "serialization")}},
    }
    return out
