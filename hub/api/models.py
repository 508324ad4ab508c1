"""The JSON API's request and response bodies as pydantic models (its OpenAPI schemas too).

Every response is validated against its model before it is sent, so what
``/api/v1/openapi.json`` promises is what clients get. Request models reject
unknown keys, so a typo in a field name is a 422, not a silent no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from hub.timeparse import parse_when

__all__ = [
    "AttemptOut",
    "AuditOut",
    "AuditQuery",
    "BulkReplayIn",
    "BulkReplayOut",
    "ConnectionIn",
    "ConnectionOut",
    "ConnectorDetail",
    "ConnectorOut",
    "DeliveryDetail",
    "DeliveryOut",
    "DeliveryQuery",
    "DryRunIn",
    "DryRunOut",
    "ErrorBody",
    "ErrorDetail",
    "ErrorInfo",
    "EventOut",
    "EventQuery",
    "FormFieldOut",
    "JobOut",
    "MeOut",
    "Page",
    "PageQuery",
    "ReasonOut",
    "RecipeOut",
    "ReplayIn",
    "ReplayOut",
    "RunOut",
    "TestOut",
    "TokenCreateIn",
    "TokenCreated",
    "TokenOut",
]

T = TypeVar("T")


def _when(value: Any) -> Any:
    return parse_when(value) if isinstance(value, str) else value


When = Annotated[
    datetime | None,
    BeforeValidator(_when),
    Field(description="ISO 8601 time (2026-01-31T10:00Z) or an age: 15m, 2h, 7d."),
]
StepStatusName = Literal["pending", "succeeded", "skipped", "dead", "cancelled"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- errors and pages ------------------------------------------------------------------------


class ErrorDetail(_Out):
    loc: str = Field(description="Where the problem is: `query.limit`, `body.config.client_id`.")
    message: str


class ErrorInfo(_Out):
    code: str = Field(
        description="unauthorized, forbidden, not_found, method_not_allowed, conflict, "
        "too_large, invalid, internal"
    )
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(_Out):
    """Every error, whatever the status: one shape."""

    error: ErrorInfo


class Page(_Out, Generic[T]):
    """One page, newest (or by name) first; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[T]
    next_cursor: str | None = Field(description="null on the last page.")


class PageQuery(_In):
    limit: int = Field(50, ge=1, le=500, description="Items per page.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")


# -- who am I ------------------------------------------------------------------------------


class MeOut(_Out):
    name: str
    role: Literal["viewer", "ops", "admin"]
    via: Literal["token", "password"]


# -- connections and connectors ---------------------------------------------------------------


class ConnectionOut(_Out):
    name: str
    connector: str
    title: str
    enabled: bool
    paused: bool = Field(description="Steps against it wait (stay due) while paused.")
    origin: Literal["file", "dashboard"] = Field(
        description="file: from hub.yaml; dashboard: saved from the dashboard or API (wins over hub.yaml)."
    )
    config: dict[str, Any] = Field(
        description='Settings; every secret appears only as {"set": true|false}.'
    )
    needs_reauth: bool
    reauth_reason: str | None
    api_budget: dict[str, Any] | None
    oauth: bool = Field(description="The connector supports the OAuth connect flow.")


class ConnectionIn(_In):
    connector: str = Field(description="Connector slug, e.g. zoho_books.")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings to set. Absent fields keep their value; an absent or empty secret "
        "keeps the stored one; null resets a field to its default.",
    )
    enabled: bool | None = Field(None, description="Default: unchanged (new connections: true).")


class FormFieldOut(_Out):
    name: str
    title: str
    type: Literal["string", "integer", "number", "boolean", "enum", "secret", "url"]
    required: bool
    default: Any = None
    description: str
    choices: list[str] | None
    value: Any = Field(None, description="Current value; always null for secrets.")


class ConnectorOut(_Out):
    name: str
    title: str
    emits: list[str]
    actions: list[str]
    webhook: bool
    pollers: list[str]
    oauth: bool


class ConnectorDetail(ConnectorOut):
    docs: str
    fields: list[FormFieldOut] = Field(description="The settings form (from the config model).")
    config_schema: dict[str, Any] = Field(description="JSON Schema of the settings.")


class TestOut(_Out):
    ok: bool
    message: str
    duration_ms: float


# -- recipes ---------------------------------------------------------------------------------


class RecipeOut(_Out):
    name: str
    file: str
    enabled: bool
    trigger: str
    steps: list[str]
    problems: list[str] = Field(description="file:line: message, for the file as it is now.")


class DryRunIn(_In):
    event_id: str = Field(description="A stored event to render the recipe against.")


class DryRunOut(_Out):
    recipe: str | None
    event: dict[str, Any]
    matched: bool
    reason: str | None = Field(None, description="Why the trigger does not match, if it does not.")
    steps: list[dict[str, Any]] = Field(
        description="Each step's rendered inputs, idempotency key, and whether it would be skipped."
    )


# -- events, runs, deliveries, attempts ----------------------------------------------------------


class EventQuery(PageQuery):
    type: str | None = Field(None, description="Exact event type, e.g. payment.captured.")
    connection: str | None = Field(None, description="Connection the event came in on.")
    subject: str | None = Field(None, description="The event's subject (payment id, phone, ...).")
    since: When = None
    until: When = None


class EventOut(_Out):
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    connection: str
    connector: str
    idempotency_key: str
    dataschema: str
    data: dict[str, Any] = Field(description="The normalized data (the common event schema).")
    raw: Any = Field(None, description="The vendor's payload as received (single event only).")


class ReasonOut(_Out):
    """Why an attempt or delivery ended as it did, in plain words, and what to do."""

    headline: str
    severity: Literal["ok", "info", "warn", "error"]
    vendor_message: str | None = None
    advice: str | None = None
    retried: bool = Field(False, description="The hub retries by itself: nothing to do but wait.")
    endpoint: str | None = None


class DeliveryQuery(PageQuery):
    status: StepStatusName | None = None
    connection: str | None = Field(
        None, description="Sink connection of the step, or the connection the event came in on."
    )
    recipe: str | None = None
    run_id: str | None = None
    event_type: str | None = None
    subject: str | None = Field(None, description="The triggering event's subject.")
    since: When = None
    until: When = None


class DeliveryOut(_Out):
    id: str
    run_id: str
    event_id: str
    event_type: str
    recipe: str
    step_id: str
    step_index: int
    action: str
    connection: str
    status: StepStatusName
    run_status: str
    attempts: int
    idempotency_key: str
    due_at: datetime | None
    last_error: str | None
    reason: ReasonOut
    output: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class AttemptOut(_Out):
    number: int
    started_at: datetime
    duration_ms: float
    outcome: Literal["ok", "transient", "permanent", "skipped", "throttled"]
    status_code: int | None
    error: str | None
    reason: ReasonOut
    request: str | None = Field(description="Redacted excerpt of what was sent.")
    response: str | None = Field(description="Redacted excerpt of what came back.")


class DeliveryDetail(DeliveryOut):
    timeline: list[AttemptOut] = Field(description="Every attempt, oldest first.")


class RunOut(_Out):
    id: str
    event_id: str
    event_type: str
    connection: str
    recipe: str
    status: str
    outputs: dict[str, Any]
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    steps: list[DeliveryOut]


class ReplayIn(_In):
    from_start: bool = Field(False, description="Run the whole recipe again, not just this step.")


class ReplayOut(_Out):
    runs: int = Field(description="Runs made due again (0: it was running or already due).")


class BulkReplayIn(_In):
    """Which deliveries to replay: the same filters as the delivery list; at least one is needed."""

    status: StepStatusName | None = Field(None, description="Usually dead.")
    connection: str | None = None
    recipe: str | None = None
    event_type: str | None = None
    subject: str | None = None
    since: When = None
    until: When = None
    from_start: bool = False
    preview: bool = Field(False, description="Only count what would be replayed; start nothing.")


class JobOut(_Out):
    id: str
    kind: str
    params: dict[str, Any]
    status: Literal["running", "done", "cancelled", "failed"]
    total: int
    done: int
    error: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class BulkReplayOut(_Out):
    would_replay: int = Field(description="Deliveries the filter selects now.")
    job: JobOut | None = Field(description="The job replaying them; null for a preview.")


# -- tokens and audit ---------------------------------------------------------------------------


class TokenOut(_Out):
    id: str
    name: str
    role: Literal["viewer", "ops", "admin"]
    prefix: str = Field(description="Shown as hub_<prefix>_… to tell tokens apart.")
    status: Literal["active", "expired", "revoked"]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    revoked_at: datetime | None


class TokenCreateIn(_In):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["viewer", "ops", "admin"]
    expires_in: str | None = Field(
        None, pattern=r"^\d+[smhdw]$", description="Lifetime like 30d or 12h (default: none)."
    )


class TokenCreated(_Out):
    token: str = Field(description="The token itself: shown once, store it now.")
    info: TokenOut


class AuditQuery(PageQuery):
    action: str | None = Field(None, description="Only this action, e.g. deliveries.replay.")


class AuditOut(_Out):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
