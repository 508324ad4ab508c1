"""Initial schema: connections, events, runs, steps, attempts, cursors.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written out in full (not ``metadata.create_all``) so that later edits to
``hub/store/tables.py`` cannot change what this revision creates.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.store.tables import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("connector", sa.String(200), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_connections"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(36), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint(
            "connection", "idempotency_key", name="uq_events_connection_idempotency_key"
        ),
    )
    op.create_index("ix_events_received_at_id", "events", ["received_at", "id"])
    op.create_index("ix_events_type_received_at", "events", ["type", "received_at"])
    op.create_index("ix_events_connection_received_at", "events", ["connection", "received_at"])
    op.create_index("ix_events_subject", "events", ["subject"])

    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("recipe", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name="fk_runs_event_id_events", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("event_id", "recipe", name="uq_runs_event_id_recipe"),
    )
    op.create_index("ix_runs_status", "runs", ["status"])

    op.create_table(
        "steps",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_steps"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_steps_run_id_runs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("run_id", "step_id", name="uq_steps_run_id_step_id"),
    )
    op.create_index("ix_steps_status_due_at", "steps", ["status", "due_at"])
    op.create_index("ix_steps_created_at_id", "steps", ["created_at", "id"])
    op.create_index("ix_steps_connection_created_at", "steps", ["connection", "created_at"])

    op.create_table(
        "attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("step_row_id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("request", sa.Text, nullable=True),
        sa.Column("response", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_attempts"),
        sa.ForeignKeyConstraint(
            ["step_row_id"], ["steps.id"], name="fk_attempts_step_row_id_steps", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_attempts_step_row_id_number", "attempts", ["step_row_id", "number"])
    op.create_index("ix_attempts_run_id", "attempts", ["run_id"])

    op.create_table(
        "cursors",
        sa.Column("connection", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("cursor", sa.JSON, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("connection", "source", name="pk_cursors"),
    )


def downgrade() -> None:
    for table in ("cursors", "attempts", "steps", "runs", "events", "connections"):
        op.drop_table(table)
