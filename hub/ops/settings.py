"""Connection settings as ops see and edit them: masked views, forms, merges, sealing.

A connector's config model is the single description of its settings: the
form fields come from its JSON Schema, values are validated by the model, and
``Secret`` fields are write-only everywhere (shown as ``{"set": true}``; left
empty in a form they keep the stored value). Stored configs are sealed with
the master key (``hub.app.sealed_config``) and unsealed here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from hub.config import ConnectionSpec
from hub.connections import ConnectionSet, LiveConnection
from hub.connector import Connector, ConnectorConfig
from hub.errors import ConfigError
from hub.oauth import not_connected
from hub.ops.views import ConnectionForm, ConnectionView, FormField
from hub.registry import Registry
from hub.secrets import Secret, SecretBox
from hub.store import ConnectionRow

__all__ = [
    "ORIGIN_DASHBOARD",
    "connection_form",
    "live_from_config",
    "live_from_row",
    "masked",
    "merge_values",
    "secret_fields",
    "supports_oauth",
    "unseal",
    "view_of",
]

ORIGIN_DASHBOARD = "dashboard"
_FormType = Literal["string", "integer", "number", "boolean", "enum", "secret", "url"]


def unseal(value: Any, box: SecretBox) -> Any:
    """A stored config with every sealed string opened (the inverse of ``sealed_config``)."""
    if isinstance(value, str):
        return box.open(value) if value.startswith(SecretBox.PREFIX) else value
    if isinstance(value, dict):
        return {k: unseal(v, box) for k, v in value.items()}
    if isinstance(value, list):
        return [unseal(v, box) for v in value]
    return value


def _is_secret(model: type[BaseModel], field: str) -> bool:
    annotation = model.model_fields[field].annotation
    return annotation is Secret or Secret in get_args(annotation)


def secret_fields(model: type[BaseModel]) -> set[str]:
    """Names of the write-only (``Secret``) fields of a config model."""
    return {name for name in model.model_fields if _is_secret(model, name)}


def masked(config: BaseModel) -> dict[str, Any]:
    """``config`` as JSON with each secret field replaced by ``{"set": bool}``."""
    model = type(config)
    out: dict[str, Any] = {}
    for name in model.model_fields:
        value = getattr(config, name)
        if _is_secret(model, name):
            out[name] = {"set": bool(value)}
        elif isinstance(value, BaseModel):
            out[name] = masked(value)
        else:
            out[name] = to_jsonable_python(value, fallback=str)
    return out


def _plain(config: BaseModel) -> dict[str, Any]:
    """``config`` as JSON with secrets revealed (to merge a partial update into)."""
    model = type(config)
    out: dict[str, Any] = {}
    for name in model.model_fields:
        value = getattr(config, name)
        if isinstance(value, Secret):
            out[name] = value.reveal()
        elif isinstance(value, BaseModel):
            out[name] = _plain(value)
        else:
            out[name] = to_jsonable_python(value)
    return out


def supports_oauth(connector: Connector) -> bool:
    """True when the connector declares an authorization-code flow (the dashboard's Connect button)."""
    return connector.oauth is not None


def view_of(live: LiveConnection, row: ConnectionRow | None) -> ConnectionView:
    """What ops see of a connection: settings masked, plus its runtime state.

    A connection whose Connect button was never pressed (no refresh token yet)
    needs re-authorization too, with a reason that says so.
    """
    state = row.state if row is not None else {}
    budget = state.get("api_budget")
    unconnected = not_connected(live.connector.oauth, live.config)
    return ConnectionView(
        name=live.name,
        connector=live.connector.name,
        title=live.connector.title,
        enabled=row.enabled
        if row is not None
        else live.enabled,  # the row: what every process follows
        paused=bool(state.get("paused")),
        origin="dashboard" if state.get("origin") == ORIGIN_DASHBOARD else "file",
        config=masked(live.config),
        needs_reauth=bool(unconnected or state.get("needs_reauth")),
        reauth_reason=unconnected or state.get("reauth_reason"),
        api_budget=budget if isinstance(budget, dict) else None,
        oauth=supports_oauth(live.connector),
    )


def _field_type(name: str, prop: Mapping[str, Any], secret: bool) -> tuple[_FormType, Any]:
    """The form type of a JSON Schema property, and its choices for enums."""
    if secret:
        return "secret", None
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    first = options[0] if options else {}
    if "enum" in first:
        return "enum", [str(v) for v in first["enum"]]
    kind = first.get("type")
    if kind in ("integer", "number", "boolean"):
        return kind, None
    if kind == "string" and (first.get("format") == "uri" or name.endswith("_url")):
        return "url", None
    return "string", None


def _structured(prop: Mapping[str, Any]) -> bool:
    """Arrays, maps and nested models: entered as JSON text in a form."""
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    return any(p.get("type") in ("array", "object") or "$ref" in p for p in options)


def connection_form(connector: Connector, live: LiveConnection | None) -> ConnectionForm:
    """The config form of ``connector``, filled from ``live`` (secrets never filled)."""
    model = connector.config
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    current = masked(live.config) if live is not None else {}
    fields: list[FormField] = []
    for name, prop in schema.get("properties", {}).items():
        secret = _is_secret(model, name)
        kind, choices = _field_type(name, prop, secret)
        value: Any = None if secret else current.get(name)
        description = str(prop.get("description", ""))
        default = None if secret else prop.get("default")
        if _structured(prop):
            description = (description + " (JSON)").strip()
            value = None if value is None else json.dumps(value)
            default = None if default is None else json.dumps(default)
        fields.append(
            FormField(
                name=name,
                title=str(prop.get("title", name)),
                type=kind,
                required=name in required,
                default=default,
                description=description,
                choices=choices,
                value=value,
            )
        )
    return ConnectionForm(connector=connector.name, title=connector.title, fields=fields)


def merge_values(
    connector: Connector, current: ConnectorConfig | None, values: Mapping[str, Any]
) -> ConnectorConfig:
    """The new config: ``values`` over ``current``, validated by the connector's model.

    A secret left empty or absent keeps its stored value (secrets are
    write-only, so a form cannot show them). Other fields absent from
    ``values`` keep their current value; ``None`` resets a field to its default.
    JSON text is accepted for list and map fields (what a form sends).

    Raises:
        ConfigError: every problem, one per line, as ``config.<field>: message``.
    """
    model = connector.config
    schema = model.model_json_schema().get("properties", {})
    merged: dict[str, Any] = _plain(current) if current is not None else {}
    problems: list[str] = []
    for name, value in values.items():
        if name not in model.model_fields:
            problems.append(f"config.{name}: not a setting of {connector.name}")
            continue
        if _is_secret(model, name) and (value is None or value == ""):
            continue
        if value is None:
            merged.pop(name, None)
            continue
        if isinstance(value, str) and _structured(schema.get(name, {})):
            try:
                value = json.loads(value) if value.strip() else None
            except ValueError as exc:
                problems.append(f"config.{name}: not valid JSON ({exc})")
                continue
            if value is None:
                merged.pop(name, None)
                continue
        merged[name] = value
    if problems:
        raise ConfigError("\n".join(problems))
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        lines = [
            f"config.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from exc


def live_from_row(
    row: ConnectionRow, registry: Registry, box: SecretBox
) -> tuple[LiveConnection | None, list[str]]:
    """A (not yet opened) live connection from its stored, sealed settings."""
    spec = ConnectionSpec(
        connector=row.connector, enabled=row.enabled, config=unseal(row.config, box)
    )
    problems: list[str] = []
    live = ConnectionSet.build_one(row.name, spec, registry, problems)
    return live, problems


def live_from_config(
    name: str, connector: Connector, config: ConnectorConfig, enabled: bool, registry: Registry
) -> LiveConnection:
    """A (not yet opened) live connection for an already validated config."""
    spec = ConnectionSpec(connector=connector.name, enabled=enabled, config=_plain(config))
    problems: list[str] = []
    live = ConnectionSet.build_one(name, spec, registry, problems)
    if live is None:  # the config was validated by the same model: only a registry change
        raise ConfigError("\n".join(problems))
    return live
