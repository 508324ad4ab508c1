"""What ``Ops`` hands to the API, the dashboard and the CLI: plain frozen dataclasses.

They hold no secrets: a secret field of a connection's config appears as
``{"set": true}`` (or ``{"set": false}``), never as its value or a masked
excerpt of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "AuditEntry",
    "BulkJob",
    "ConnectionForm",
    "ConnectionView",
    "FormField",
    "JobStatus",
    "RecipeView",
    "TestResult",
]

JobStatus = Literal["running", "done", "cancelled", "failed"]


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """A connection as ops see it: settings with secrets as ``{"set": bool}``, and its state."""

    name: str
    connector: str
    title: str
    enabled: bool
    paused: bool
    origin: Literal["file", "dashboard"]
    config: dict[str, Any]
    needs_reauth: bool
    reauth_reason: str | None
    api_budget: dict[str, Any] | None
    oauth: bool  # the connector supports the OAuth connect flow


@dataclass(frozen=True, slots=True)
class FormField:
    """One field of a connector's config form, from its pydantic model's JSON Schema."""

    name: str
    title: str
    type: Literal["string", "integer", "number", "boolean", "enum", "secret", "url"]
    required: bool
    default: Any
    description: str
    choices: list[str] | None
    value: Any  # None for secrets (write-only)


@dataclass(frozen=True, slots=True)
class ConnectionForm:
    connector: str
    title: str
    fields: list[FormField]


@dataclass(frozen=True, slots=True)
class RecipeView:
    name: str
    file: str
    enabled: bool
    trigger: str
    steps: list[str]
    problems: list[str]  # "file:line: message"


@dataclass(frozen=True, slots=True)
class BulkJob:
    """A background job (today: bulk replay) with its progress."""

    id: str
    kind: str
    params: dict[str, Any]
    status: JobStatus
    total: int
    done: int
    error: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TestResult:
    __test__ = False  # not a pytest class

    ok: bool
    message: str
    duration_ms: float
