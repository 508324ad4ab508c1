"""The store's write transactions: ingest, attempts, replays, cursors, claims, migrations.

Each function takes a connection already inside a transaction (the writer
thread opens it) and does all its reads and writes there, so a check followed
by a write cannot be overtaken: SQLite write transactions begin ``IMMEDIATE``
and PostgreSQL rows are locked ``FOR UPDATE``. ``insert_for`` is the store's
one dialect switch (``ON CONFLICT`` lives in each dialect's own ``insert``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite

from hub.events import Event, utcnow
from hub.store import (
    QUEUE_OWNER,
    AttemptRecord,
    IngestItem,
    PlannedRun,
    QueuedStep,
    StepOutcome,
    StepWork,
    rows,
)
from hub.store.rows import aware
from hub.store.tables import attempts, cursors, events, runs, steps

__all__ = [
    "check_bound",
    "claim_run",
    "finish",
    "ingest_batches",
    "insert_for",
    "migrate",
    "replay",
    "save_cursor",
    "sweep_due",
]

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 0x6875625F6D6967  # "hub_mig": serializes concurrent PostgreSQL migrations


def migrate(conn: sa.Connection) -> None:
    """Upgrade to head on our own connection (no alembic.ini needed)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def insert_for(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT that understands ``on_conflict_do_*`` (the store's one dialect switch)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the store does not support {conn.dialect.name}")


def check_bound(items: Iterable[IngestItem]) -> None:
    for item in items:
        if not item.event.id or not item.event.connection:
            raise ValueError(
                f"event {item.event.idempotency_key!r} is not bound to a connection; "
                "call Event.bind(connection, connector) before storing it"
            )


def ingest_batches(conn: sa.Connection, batches: list[list[IngestItem]]) -> list[list[bool]]:
    """Insert the events of many requests at once; a request's flag is False for a duplicate.

    Duplicates are caught twice: within the batch (first occurrence wins) and
    against stored rows by ``ON CONFLICT DO NOTHING``, whose ``RETURNING`` tells
    which rows went in. Runs and first steps are only created for new events.
    """
    now = utcnow()
    first: dict[str, IngestItem] = {}
    for batch in batches:
        for item in batch:
            first.setdefault(item.event.id, item)
    inserted: set[str] = set()
    if first:
        rows = [_event_values(item.event, now) for item in first.values()]
        stmt = insert_for(conn, events).on_conflict_do_nothing().returning(events.c.id)
        inserted = set(conn.execute(stmt, rows).scalars())
    run_rows: list[dict[str, Any]] = []
    step_rows: list[dict[str, Any]] = []
    for event_id in inserted:
        recipes: set[str] = set()
        for planned in first[event_id].runs:
            if planned.recipe in recipes:
                continue
            recipes.add(planned.recipe)
            run_id = str(uuid.uuid4())
            run_rows.append(
                {
                    "id": run_id,
                    "event_id": event_id,
                    "recipe": planned.recipe,
                    "status": "pending",
                    "outputs": {},
                    "last_error": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            step_rows.append(_step_values(run_id, planned, now))
    if run_rows:
        conn.execute(sa.insert(runs), run_rows)
        conn.execute(sa.insert(steps), step_rows)
    out: list[list[bool]] = []
    claimed: set[str] = set()
    for batch in batches:
        flags = []
        for item in batch:
            new = item.event.id in inserted and item.event.id not in claimed
            if new:
                claimed.add(item.event.id)
            flags.append(new)
        out.append(flags)
    return out


def _event_values(ev: Event, received_at: datetime) -> dict[str, Any]:
    return {
        "id": ev.id,
        "connection": ev.connection,
        "connector": ev.connector,
        "type": ev.type,
        "source": ev.source,
        "subject": ev.subject,
        "time": ev.time,
        "idempotency_key": ev.idempotency_key,
        "data": ev.data,
        "raw": ev.raw,
        "received_at": received_at,
        "dataschema": ev.dataschema,
    }


def _step_values(run_id: str, planned: PlannedRun, now: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "run_id": run_id,
        "step_id": planned.step_id,
        "step_index": planned.step_index,
        "action": planned.action,
        "connection": planned.connection,
        "idempotency_key": planned.idempotency_key,
        "status": "pending",
        "attempts": 0,
        "due_at": planned.due_at,
        "lease_until": None,
        "lease_owner": None,
        "output": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
    }


def save_cursor(conn: sa.Connection, connection: str, source: str, cursor: Any) -> None:
    now = utcnow()
    stmt = insert_for(conn, cursors).values(
        connection=connection, source=source, cursor=cursor, updated_at=now
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[cursors.c.connection, cursors.c.source],
            set_={"cursor": stmt.excluded.cursor, "updated_at": now},
        )
    )


def finish(
    conn: sa.Connection,
    step_row_id: str,
    attempt: AttemptRecord,
    outcome: StepOutcome,
    owner: str | None = None,
) -> None:
    now = utcnow()
    step = (
        conn.execute(sa.select(steps).where(steps.c.id == step_row_id).with_for_update())
        .mappings()
        .first()
    )
    if step is None:
        raise LookupError(f"no step row {step_row_id!r}")
    run = (
        conn.execute(sa.select(runs).where(runs.c.id == step["run_id"]).with_for_update())
        .mappings()
        .one()
    )
    # max+1 rather than attempts+1: ``attempts`` restarts at 0 on replay, numbers never repeat.
    last_number = conn.execute(
        sa.select(sa.func.max(attempts.c.number)).where(attempts.c.step_row_id == step_row_id)
    ).scalar()
    conn.execute(
        sa.insert(attempts).values(
            step_row_id=step_row_id,
            run_id=step["run_id"],
            number=(last_number or 0) + 1,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            outcome=attempt.outcome,
            status_code=attempt.status_code,
            error=attempt.error,
            request=attempt.request,
            response=attempt.response,
        )
    )
    # A throttled try waited for the hub's own API budget: it used no attempt.
    counted = 0 if attempt.outcome == "throttled" else 1
    step_values: dict[str, Any] = {
        "attempts": step["attempts"] + counted,
        "lease_until": None,
        "lease_owner": None,
        "updated_at": now,
    }
    lost_lease = owner is not None and step["lease_owner"] != owner
    if step["status"] != "pending" or lost_lease:
        # Cancelled, finished, or re-claimed by another worker meanwhile: record only.
        conn.execute(
            sa.update(steps)
            .where(steps.c.id == step_row_id)
            .values(attempts=step["attempts"] + counted, updated_at=now)
        )
        return
    run_values: dict[str, Any] = {"updated_at": now}
    error = outcome.error or attempt.error
    if outcome.kind in ("ok", "skipped"):
        step_values.update(
            status="succeeded" if outcome.kind == "ok" else "skipped",
            output=outcome.output,
            due_at=None,
            last_error=None,
        )
        outputs = dict(run["outputs"] or {})
        outputs[step["step_id"]] = outcome.output if outcome.output is not None else {}
        run_values["outputs"] = outputs
        if outcome.next_step is not None:
            _put_step(conn, step["run_id"], outcome.next_step, now)
            run_values.update(status="running")
        else:
            run_values.update(status="succeeded", last_error=None)
    elif outcome.kind == "retry":
        step_values.update(due_at=outcome.retry_at or now, last_error=error)
        run_values.update(status="running")
    else:  # dead
        step_values.update(status="dead", due_at=None, last_error=error)
        run_values.update(status="dead", last_error=error)
    conn.execute(sa.update(steps).where(steps.c.id == step_row_id).values(**step_values))
    conn.execute(sa.update(runs).where(runs.c.id == step["run_id"]).values(**run_values))


def _put_step(conn: sa.Connection, run_id: str, planned: PlannedRun, now: datetime) -> None:
    """Create the run's next step, or reset the row a replay left behind for it."""
    existing = conn.execute(
        sa.select(steps.c.id).where(steps.c.run_id == run_id, steps.c.step_id == planned.step_id)
    ).scalar()
    if existing is None:
        conn.execute(sa.insert(steps).values(**_step_values(run_id, planned, now)))
        return
    lease = conn.execute(sa.select(steps.c.lease_until).where(steps.c.id == existing)).scalar()
    if aware(lease) is not None and aware(lease) > now:  # type: ignore[operator]
        return  # a worker is running it right now: leave its lease alone
    values = _step_values(run_id, planned, now)
    for keep in ("id", "run_id", "created_at"):
        del values[keep]
    conn.execute(sa.update(steps).where(steps.c.id == existing).values(**values))


def replay(conn: sa.Connection, step_row_ids: list[str], from_start: bool) -> int:
    now = utcnow()
    chosen: dict[str, sa.RowMapping] = {}
    picked = conn.execute(sa.select(steps).where(steps.c.id.in_(step_row_ids))).mappings()
    for row in picked:
        best = chosen.get(row["run_id"])
        if best is None or row["step_index"] < best["step_index"]:
            chosen[row["run_id"]] = row
    moved = 0
    for run_id, target in chosen.items():
        conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id).with_for_update())
        if from_start:
            target = (
                conn.execute(
                    sa.select(steps)
                    .where(steps.c.run_id == run_id)
                    .order_by(steps.c.step_index)
                    .limit(1)
                    .with_for_update()
                )
                .mappings()
                .one()
            )
        running = conn.execute(
            sa.select(sa.func.count())
            .select_from(steps)
            .where(
                steps.c.run_id == run_id,
                steps.c.status == "pending",
                steps.c.lease_until.is_not(None),
                steps.c.lease_until > now,
            )
        ).scalar()
        if running:
            continue  # a worker is executing a step of this run right now: replay it later
        conn.execute(
            sa.update(steps)
            .where(steps.c.id == target["id"])
            .values(
                status="pending",
                attempts=0,
                due_at=now,
                lease_until=None,
                lease_owner=None,
                updated_at=now,
            )
        )
        conn.execute(
            sa.update(steps)
            .where(steps.c.run_id == run_id, steps.c.step_index > target["step_index"])
            .values(
                status="cancelled", due_at=None, lease_until=None, lease_owner=None, updated_at=now
            )
        )
        conn.execute(
            sa.update(runs).where(runs.c.id == run_id).values(status="running", updated_at=now)
        )
        moved += 1
    return moved


# -- the celery engine's queue ---------------------------------------------------------


def claim_run(
    conn: sa.Connection, run_id: str, now: datetime, lease_seconds: float, owner: str
) -> StepWork | None:
    """Lease the run's due pending step for ``owner``, if no live worker holds it.

    A step marked ``QUEUE_OWNER`` (published, not started) is free to claim;
    a step leased by a worker is free only once its lease has lapsed. The row
    is locked (``SKIP LOCKED`` on PostgreSQL, the write lock on SQLite), so two
    deliveries of the same message never both get the step.
    """
    pick = (
        sa.select(steps.c.id)
        .where(
            steps.c.run_id == run_id,
            steps.c.status == "pending",
            steps.c.due_at <= now,
            sa.or_(
                steps.c.lease_until.is_(None),
                steps.c.lease_until < now,
                steps.c.lease_owner == QUEUE_OWNER,
            ),
        )
        .order_by(steps.c.step_index)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    step_row_id = conn.execute(pick).scalar()
    if step_row_id is None:
        return None
    conn.execute(
        sa.update(steps)
        .where(steps.c.id == step_row_id)
        .values(
            lease_until=now + timedelta(seconds=lease_seconds), lease_owner=owner, updated_at=now
        )
    )
    found = (
        conn.execute(rows.delivery_select(full_event=True).where(steps.c.id == step_row_id))
        .mappings()
        .one()
    )
    return StepWork(
        step=rows.step_of(found), run=rows.run_of(found), event=rows.event_of(found, prefix="e_")
    )


def sweep_due(
    conn: sa.Connection,
    now: datetime,
    limit: int,
    requeue_seconds: float,
    exclude_connections: list[str] | None = None,
) -> list[QueuedStep]:
    """Mark due pending steps that nobody holds as published, and return them.

    "Nobody holds" is the inline claim's rule: no lease, or a lapsed one (a
    killed worker's, or a published step whose message was lost), so a step
    leaves this list for ``requeue_seconds`` once published. Steps of
    ``exclude_connections`` (paused by ops) are left due and unmarked.
    """
    conditions = [
        steps.c.status == "pending",
        steps.c.due_at <= now,
        sa.or_(steps.c.lease_until.is_(None), steps.c.lease_until < now),
    ]
    if exclude_connections:
        conditions.append(steps.c.connection.not_in(exclude_connections))
    pick = (
        sa.select(steps.c.id, steps.c.run_id, steps.c.connection, steps.c.lease_owner)
        .where(*conditions)
        .order_by(steps.c.due_at, steps.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    due = [
        QueuedStep(r.run_id, r.id, r.connection, lapsed=r.lease_owner is not None)
        for r in conn.execute(pick)
    ]
    if due:
        conn.execute(
            sa.update(steps)
            .where(steps.c.id.in_([d.step_row_id for d in due]))
            .values(
                lease_until=now + timedelta(seconds=requeue_seconds),
                lease_owner=QUEUE_OWNER,
                updated_at=now,
            )
        )
    return due


# -- reading helpers -----------------------------------------------------------------
