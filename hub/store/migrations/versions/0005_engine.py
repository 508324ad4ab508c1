"""Engines: what the Celery sweeper needs beyond 0001 (nothing: an empty revision).

The celery engine's queue marks reuse the steps' lease columns (``lease_owner``
``'queue'`` until ``lease_until``), and its claims and sweeps use the
``(status, due_at)`` and ``(run_id, step_id)`` indexes 0001 already made.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
