"""Retention's SQL: one small batch of old, finished events or attempts, found and deleted.

What may go (the rules ``docs/deployment.md`` promises):

- an **event** received before the cutoff, with its runs, steps and attempts
  (the foreign keys cascade), but only when every run of it is finished
  (succeeded, dead or cancelled), none has a pending step, and none changed
  after the cutoff (a run replayed last week keeps its event for the full
  window again);
- an **attempt** started before the cutoff whose step is not pending. The
  step keeps its summary (status, attempt count, last error, output).

Each call looks at the next ``limit`` candidates in ``(time, id)`` order from
a keyset position and returns where the next call starts, so a pass walks
the old rows once, even past rows it must keep. On PostgreSQL the candidate
events are locked ``SKIP LOCKED`` and their runs ``FOR UPDATE`` before the
check, so a replay in another process either finishes first (and the event is
kept) or waits and finds its run gone; two pruners never wait on each other.
A dry run makes the same choices and counts without deleting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from hub.store.rows import decode_cursor, encode_cursor, keyset_after
from hub.store.tables import attempts, events, runs, steps

__all__ = ["FINISHED_RUN", "PruneBatch", "PruneCounts", "PruneTarget", "prune_batch"]

PruneTarget = Literal["events", "attempts"]
FINISHED_RUN = ("succeeded", "dead", "cancelled")


@dataclass(frozen=True, slots=True)
class PruneCounts:
    """Rows removed (or, in a dry run, that would be)."""

    events: int = 0
    runs: int = 0
    steps: int = 0
    attempts: int = 0

    def __add__(self, other: PruneCounts) -> PruneCounts:
        return PruneCounts(
            self.events + other.events,
            self.runs + other.runs,
            self.steps + other.steps,
            self.attempts + other.attempts,
        )

    @property
    def rows(self) -> int:
        return self.events + self.runs + self.steps + self.attempts


@dataclass(frozen=True, slots=True)
class PruneBatch:
    """What one batch removed, how many candidates it looked at, and where the next starts.

    ``resume`` is None when no older candidate is left for this cutoff.
    """

    counts: PruneCounts
    examined: int
    resume: str | None


def prune_batch(
    conn: sa.Connection,
    target: PruneTarget,
    before: datetime,
    limit: int,
    after: str | None = None,
    dry_run: bool = False,
    events_before: datetime | None = None,
) -> PruneBatch:
    """Delete (or count) one batch of ``target`` older than ``before``, from keyset ``after``.

    ``events_before`` matters only to a dry run of attempts: the events cutoff of
    the same pass, so attempts that pass would already take with their event
    (a real pass deletes events first) are not counted twice.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if target == "events":
        return _events(conn, before, limit, after, dry_run)
    return _attempts(conn, before, limit, after, dry_run, events_before)


def _after(at: sa.Column[Any], key: sa.Column[Any], after: str, as_int: bool) -> Any:
    """Rows after keyset position ``after`` in ``(at, key)`` order (integer keys travel as text)."""
    cursor_at, cursor_key = decode_cursor(after)
    return keyset_after(at, key, cursor_at, int(cursor_key) if as_int else cursor_key)


def _events(
    conn: sa.Connection, before: datetime, limit: int, after: str | None, dry_run: bool
) -> PruneBatch:
    query = sa.select(events.c.id, events.c.received_at).where(events.c.received_at < before)
    if after is not None:
        query = query.where(_after(events.c.received_at, events.c.id, after, as_int=False))
    query = query.order_by(events.c.received_at, events.c.id).limit(limit)
    if not dry_run:
        query = query.with_for_update(skip_locked=True)
    candidates = conn.execute(query).all()
    if not candidates:
        return PruneBatch(PruneCounts(), 0, None)
    doomed, run_ids = _finished(conn, [row.id for row in candidates], before, lock=not dry_run)
    counts = PruneCounts(
        events=len(doomed),
        runs=len(run_ids),
        steps=_count(conn, steps, steps.c.run_id, run_ids),
        attempts=_count(conn, attempts, attempts.c.run_id, run_ids),
    )
    if doomed and not dry_run:
        # The foreign keys cascade to runs, steps and attempts.
        conn.execute(sa.delete(events).where(events.c.id.in_(doomed)))
    last = candidates[-1]
    resume = encode_cursor(last.received_at, last.id) if len(candidates) == limit else None
    return PruneBatch(counts, len(candidates), resume)


def _finished(
    conn: sa.Connection, event_ids: list[str], before: datetime, lock: bool
) -> tuple[list[str], list[str]]:
    """Of ``event_ids`` (all received before ``before``): those whose runs are all finished
    and untouched since ``before``, and those runs' ids. ``lock`` holds the runs until commit."""
    run_query = sa.select(runs.c.id, runs.c.event_id, runs.c.status, runs.c.updated_at).where(
        runs.c.event_id.in_(event_ids)
    )
    if lock:
        run_query = run_query.with_for_update()
    run_rows = conn.execute(run_query).all()
    keep = {r.event_id for r in run_rows if r.status not in FINISHED_RUN or r.updated_at >= before}
    candidates = [r.id for r in run_rows if r.event_id not in keep]
    if candidates:
        busy = sa.select(steps.c.run_id).where(
            steps.c.run_id.in_(candidates), steps.c.status == "pending"
        )
        busy_runs = set(conn.execute(busy).scalars())
        keep |= {r.event_id for r in run_rows if r.id in busy_runs}
    doomed = [event_id for event_id in event_ids if event_id not in keep]
    return doomed, [r.id for r in run_rows if r.event_id not in keep]


def _attempts(
    conn: sa.Connection,
    before: datetime,
    limit: int,
    after: str | None,
    dry_run: bool,
    events_before: datetime | None,
) -> PruneBatch:
    """One batch of old attempts of finished steps."""
    query = (
        sa.select(
            attempts.c.id,
            attempts.c.started_at,
            steps.c.status,
            runs.c.event_id,
            events.c.received_at,
        )
        .select_from(
            attempts.join(steps, steps.c.id == attempts.c.step_row_id)
            .join(runs, runs.c.id == steps.c.run_id)
            .join(events, events.c.id == runs.c.event_id)
        )
        .where(attempts.c.started_at < before)
    )
    if after is not None:
        query = query.where(_after(attempts.c.started_at, attempts.c.id, after, as_int=True))
    query = query.order_by(attempts.c.started_at, attempts.c.id).limit(limit)
    candidates = conn.execute(query).all()
    if not candidates:
        return PruneBatch(PruneCounts(), 0, None)
    doomed = [row for row in candidates if row.status != "pending"]
    if dry_run and events_before is not None:  # leave out what the events stage counted
        old = list({row.event_id for row in doomed if row.received_at < events_before})
        gone = set(_finished(conn, old, events_before, lock=False)[0]) if old else set()
        doomed = [row for row in doomed if row.event_id not in gone]
    if doomed and not dry_run:
        conn.execute(sa.delete(attempts).where(attempts.c.id.in_([row.id for row in doomed])))
    last = candidates[-1]
    resume = encode_cursor(last.started_at, str(last.id)) if len(candidates) == limit else None
    return PruneBatch(PruneCounts(attempts=len(doomed)), len(candidates), resume)


def _count(conn: sa.Connection, table: sa.Table, column: sa.Column[Any], keys: list[str]) -> int:
    if not keys:
        return 0
    query = sa.select(sa.func.count()).select_from(table).where(column.in_(keys))
    return int(conn.execute(query).scalar_one())
