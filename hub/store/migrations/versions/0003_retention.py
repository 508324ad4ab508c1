"""Retention and keyset pages: indexes that keep filtered lists and pruning off full scans.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Every filtered list (events by type, connection or subject; deliveries by
status or sink connection) pages newest first by ``(time, id)``, so each
filter gets an index that ends in those two columns: a page is then one index
range read backwards, however large the table. Deliveries of one recipe start
from ``runs(recipe, created_at)``. Retention finds old events through
``events(received_at, id)`` (0001) and old attempts through
``attempts(started_at, ...)`` (0004), and deletes runs, steps and attempts by
the foreign-key indexes that already exist.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, old index, its columns, new index, its columns)
_WIDENED = [
    (
        "events",
        "ix_events_type_received_at",
        ["type", "received_at"],
        ["type", "received_at", "id"],
    ),
    (
        "events",
        "ix_events_connection_received_at",
        ["connection", "received_at"],
        ["connection", "received_at", "id"],
    ),
    ("events", "ix_events_subject", ["subject"], ["subject", "received_at", "id"]),
    (
        "steps",
        "ix_steps_connection_created_at",
        ["connection", "created_at"],
        ["connection", "created_at", "id"],
    ),
]
_ADDED = [
    ("steps", ["status", "created_at", "id"]),
    ("runs", ["recipe", "created_at"]),
]


def _name(table: str, columns: list[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    for table, old, _, columns in _WIDENED:
        op.drop_index(old, table_name=table)
        op.create_index(_name(table, columns), table, columns)
    for table, columns in _ADDED:
        op.create_index(_name(table, columns), table, columns)


def downgrade() -> None:
    for table, columns in reversed(_ADDED):
        op.drop_index(_name(table, columns), table_name=table)
    for table, old, old_columns, columns in reversed(_WIDENED):
        op.drop_index(_name(table, columns), table_name=table)
        op.create_index(old, table, old_columns)
