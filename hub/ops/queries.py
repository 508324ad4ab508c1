"""SQL for the operations tables: the audit log, bulk jobs and recipe switches.

Plain functions of a ``sqlalchemy.Connection``, run through ``Store.run_read``
and ``Store.run_write`` (so on SQLite every write still goes through the
store's single writer thread). SQLAlchemy Core keeps them portable between
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.events import utcnow
from hub.ops.views import AuditEntry, BulkJob
from hub.store.rows import decode_cursor, encode_cursor
from hub.store.tables import audit_log, bulk_jobs, connections, recipe_state

__all__ = [
    "audit_page",
    "finish_job",
    "get_job",
    "insert_job",
    "job_status",
    "jobs_page",
    "recipe_switches",
    "running_jobs",
    "set_connection_enabled",
    "set_job_progress",
    "set_recipe_switch",
]


# -- audit log -------------------------------------------------------------------------


def audit_page(
    conn: sa.Connection, limit: int, before: str | None, action: str | None = None
) -> tuple[list[AuditEntry], str | None]:
    """Newest first; the keyset cursor carries the last row's id (ids only grow).

    Raises:
        ValueError: ``before`` is not a cursor this function made.
    """
    query = sa.select(audit_log)
    if before is not None:
        _, last_id = decode_cursor(before)
        # Ids are 64-bit: a longer number would overflow the database's integer binding.
        if not (last_id.isascii() and last_id.isdigit() and len(last_id) <= 18):
            raise ValueError(f"{before!r} is not a page cursor of the audit log")
        query = query.where(audit_log.c.id < int(last_id))
    if action is not None:
        query = query.where(audit_log.c.action == action)
    fetched = list(conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit + 1)).mappings())
    page = [
        AuditEntry(
            id=int(m["id"]),
            at=m["at"],
            actor=m["actor"],
            role=m["role"],
            action=m["action"],
            target=m["target"],
            detail=dict(m["detail"] or {}),
        )
        for m in fetched[:limit]
    ]
    cursor = encode_cursor(page[-1].at, str(page[-1].id)) if len(fetched) > limit else None
    return page, cursor


# -- bulk jobs ---------------------------------------------------------------------------


def _job(m: Mapping[Any, Any]) -> BulkJob:
    return BulkJob(
        id=m["id"],
        kind=m["kind"],
        params=dict(m["params"] or {}),
        status=m["status"],
        total=int(m["total"]),
        done=int(m["done"]),
        error=m["error"],
        created_by=m["created_by"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def insert_job(conn: sa.Connection, job: BulkJob) -> None:
    conn.execute(
        sa.insert(bulk_jobs).values(
            id=job.id,
            kind=job.kind,
            params=job.params,
            status=job.status,
            total=job.total,
            done=job.done,
            error=job.error,
            created_by=job.created_by,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )
    )


def get_job(conn: sa.Connection, job_id: str) -> BulkJob | None:
    found = conn.execute(sa.select(bulk_jobs).where(bulk_jobs.c.id == job_id)).mappings().first()
    return None if found is None else _job(found)


def jobs_page(
    conn: sa.Connection, limit: int, before: str | None
) -> tuple[list[BulkJob], str | None]:
    """Newest first, keyset-paged on (created_at, id).

    Raises:
        ValueError: ``before`` is not a cursor this function made.
    """
    query = sa.select(bulk_jobs)
    if before is not None:
        at, last_id = decode_cursor(before)
        query = query.where(
            sa.or_(
                bulk_jobs.c.created_at < at,
                sa.and_(bulk_jobs.c.created_at == at, bulk_jobs.c.id < last_id),
            )
        )
    query = query.order_by(bulk_jobs.c.created_at.desc(), bulk_jobs.c.id.desc()).limit(limit + 1)
    fetched = [_job(m) for m in conn.execute(query).mappings()]
    page = fetched[:limit]
    cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(fetched) > limit else None
    return page, cursor


def running_jobs(conn: sa.Connection) -> list[BulkJob]:
    query = sa.select(bulk_jobs).where(bulk_jobs.c.status == "running")
    return [_job(m) for m in conn.execute(query).mappings()]


def job_status(conn: sa.Connection, job_id: str) -> str | None:
    return conn.execute(
        sa.select(bulk_jobs.c.status).where(bulk_jobs.c.id == job_id)
    ).scalar_one_or_none()


def set_job_progress(conn: sa.Connection, job_id: str, done: int, total: int) -> None:
    """Progress of a job (also its heartbeat: ``updated_at`` moves).

    Recorded even after a cancel: the batch that was running when the cancel
    came was replayed, and ``done`` must say so.
    """
    conn.execute(
        sa.update(bulk_jobs)
        .where(bulk_jobs.c.id == job_id)
        .values(done=done, total=total, updated_at=utcnow())
    )


def finish_job(
    conn: sa.Connection,
    job_id: str,
    status: str,
    error: str | None = None,
    only_if: str | None = "running",
) -> bool:
    """Move a job to a final status; with ``only_if``, only from that status (no double finish)."""
    query = sa.update(bulk_jobs).where(bulk_jobs.c.id == job_id)
    if only_if is not None:
        query = query.where(bulk_jobs.c.status == only_if)
    result = conn.execute(query.values(status=status, error=error, updated_at=utcnow()))
    return bool(result.rowcount)


# -- recipe switches -----------------------------------------------------------------------


def recipe_switches(conn: sa.Connection) -> dict[str, bool]:
    """Recipe name -> enabled, for recipes switched from the API, the dashboard or the CLI."""
    query = sa.select(recipe_state.c.name, recipe_state.c.enabled)
    return {name: bool(enabled) for name, enabled in conn.execute(query)}


def set_recipe_switch(conn: sa.Connection, name: str, enabled: bool, who: str) -> None:
    now: datetime = utcnow()
    updated = conn.execute(
        sa.update(recipe_state)
        .where(recipe_state.c.name == name)
        .values(enabled=enabled, updated_by=who, updated_at=now)
    )
    if not updated.rowcount:
        conn.execute(
            sa.insert(recipe_state).values(
                name=name, enabled=enabled, updated_by=who, updated_at=now
            )
        )


# -- connections ----------------------------------------------------------------------------


def set_connection_enabled(conn: sa.Connection, name: str, enabled: bool) -> None:
    """The ``enabled`` column alone (``upsert_connection`` would need the whole config)."""
    conn.execute(
        sa.update(connections)
        .where(connections.c.name == name)
        .values(enabled=enabled, updated_at=utcnow())
    )
