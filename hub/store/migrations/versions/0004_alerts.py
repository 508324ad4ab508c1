"""Alerts: shared rate-limit state for alert messages, and an index for the error-rate check.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

``alert_state`` holds one row per (channel, rule, key): the storm gate's open
window, what it has counted, and the batch being sent (see ``hub.alerts.gate``).
``ix_attempts_started_at_outcome`` lets the periodic error-rate check count the
last few minutes of attempts without scanning the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.store.tables import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_state",
        sa.Column("channel", sa.String(50), nullable=False),
        sa.Column("rule", sa.String(50), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("window_start", UTCDateTime, nullable=True),
        sa.Column("window_end", UTCDateTime, nullable=True),
        sa.Column("pending", sa.Integer, nullable=False),
        sa.Column("first", sa.JSON, nullable=True),
        sa.Column("samples", sa.JSON, nullable=False),
        sa.Column("in_flight", sa.JSON, nullable=True),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("channel", "rule", "key", name="pk_alert_state"),
    )
    op.create_index("ix_alert_state_window_end", "alert_state", ["window_end"])
    op.create_index("ix_attempts_started_at_outcome", "attempts", ["started_at", "outcome"])


def downgrade() -> None:
    op.drop_index("ix_attempts_started_at_outcome", table_name="attempts")
    op.drop_index("ix_alert_state_window_end", table_name="alert_state")
    op.drop_table("alert_state")
