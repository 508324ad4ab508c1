"""The store's schema as SQLAlchemy Core tables (the target Alembic migrations must match).

Only portable types are used so the same tables work on SQLite and
PostgreSQL. Timestamps go through ``UTCDateTime``: PostgreSQL keeps them as
``timestamptz``; SQLite has no datetime type, so they are stored as fixed-width
ISO 8601 strings in UTC, which sort and compare correctly as text and come
back as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "UTCDateTime",
    "alert_state",
    "api_tokens",
    "attempts",
    "audit_log",
    "bulk_jobs",
    "connections",
    "cursors",
    "events",
    "metadata",
    "recipe_state",
    "runs",
    "steps",
]


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime, always stored and returned in UTC.

    Naive values are taken as UTC (the same rule as ``hub.events.parse_time``).
    """

    impl = sa.String(32)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.DateTime(timezone=True))
        return dialect.type_descriptor(sa.String(32))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "postgresql":
            return utc
        # Fixed width (always microseconds, always +00:00) keeps text order == time order.
        return utc.isoformat(timespec="microseconds")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _big_id() -> sa.types.TypeEngine[int]:
    """A 64-bit autoincrement key; SQLite only autoincrements ``INTEGER PRIMARY KEY``."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

connections = sa.Table(
    "connections",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("connector", sa.String(200), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("connector", sa.String(200), nullable=False),
    sa.Column("type", sa.String(200), nullable=False),
    sa.Column("source", sa.String(400), nullable=False),
    sa.Column("subject", sa.String(400), nullable=False),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("idempotency_key", sa.String(400), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("raw", sa.JSON, nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("dataschema", sa.String(400), nullable=False),
    sa.UniqueConstraint("connection", "idempotency_key"),
    # Keyset pages (newest first) of all events, or by type, connection or subject
    # (each ends in received_at, id so a filtered page is one index range); the
    # first also finds what retention prunes, oldest first (0003).
    sa.Index(None, "received_at", "id"),
    sa.Index(None, "type", "received_at", "id"),
    sa.Index(None, "connection", "received_at", "id"),
    sa.Index(None, "subject", "received_at", "id"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "event_id", sa.String(36), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("recipe", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("outputs", sa.JSON, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("event_id", "recipe"),
    sa.Index(None, "status"),
    sa.Index(None, "recipe", "created_at"),  # deliveries of one recipe (0003)
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "run_id", sa.String(36), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("step_id", sa.String(200), nullable=False),
    sa.Column("step_index", sa.Integer, nullable=False),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=True),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("output", sa.JSON, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("run_id", "step_id"),
    sa.Index(None, "status", "due_at"),
    # Keyset pages of deliveries (newest first): all, by status, by sink connection (0003).
    sa.Index(None, "created_at", "id"),
    sa.Index(None, "status", "created_at", "id"),
    sa.Index(None, "connection", "created_at", "id"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", _big_id(), primary_key=True, autoincrement=True),
    sa.Column(
        "step_row_id", sa.String(36), sa.ForeignKey("steps.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("request", sa.Text, nullable=True),
    sa.Column("response", sa.Text, nullable=True),
    sa.Index(None, "step_row_id", "number"),
    sa.Index(None, "run_id"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("connection", sa.String(200), primary_key=True),
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("cursor", sa.JSON, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# --- operations: API tokens, the audit log, bulk jobs, recipe switches (0002) ---

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("token_hash", sa.String(128), nullable=False),
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("name"),
    sa.UniqueConstraint("token_hash"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", _big_id(), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("target", sa.String(400), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Index(None, "at", "id"),
    sa.Index(None, "action", "at"),
)

bulk_jobs = sa.Table(
    "bulk_jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("done", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "created_at"),
)

recipe_state = sa.Table(
    "recipe_state",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# --- alerts: the storm gate's shared state (0004) ---

alert_state = sa.Table(
    "alert_state",
    metadata,
    sa.Column("channel", sa.String(50), primary_key=True),
    sa.Column("rule", sa.String(50), primary_key=True),
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("window_start", UTCDateTime, nullable=True),
    sa.Column("window_end", UTCDateTime, nullable=True),
    sa.Column("pending", sa.Integer, nullable=False),
    sa.Column("first", sa.JSON, nullable=True),
    sa.Column("samples", sa.JSON, nullable=False),
    sa.Column("in_flight", sa.JSON, nullable=True),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "window_end"),
)

# The error-rate check counts recent attempts by outcome: one index range scan per interval.
sa.Index("ix_attempts_started_at_outcome", attempts.c.started_at, attempts.c.outcome)
