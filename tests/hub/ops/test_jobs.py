"""Bulk replay jobs: batches with progress, cancel between batches, orphans failed at startup."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from hub.events import Event
from hub.ops import queries
from hub.ops.jobs import JobRunner
from hub.ops.views import BulkJob
from hub.store import AttemptRecord, DeliveryFilter, IngestItem, PlannedRun, StepOutcome
from hub.store.sql import SqlStore
from hub.store.tables import steps


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(store_url)
    await s.open()
    yield s
    await s.close()


def _now() -> datetime:
    return datetime.now(UTC)


async def dead_steps(store: SqlStore, count: int, recipe: str = "r1") -> list[str]:
    """``count`` runs whose only step is dead-lettered."""
    items = []
    for n in range(count):
        event = Event(
            type="payment.captured",
            subject=f"pay_{n}",
            idempotency_key=f"{recipe}-{n}",
            time=_now(),
            data={"amount": "1.00"},
        ).bind("pay-main", "razorpay")
        run = PlannedRun(recipe, "s1", 0, "crm.upsert", "crm", f"ik-{recipe}-{n}", _now())
        items.append(IngestItem(event, [run]))
    await store.ingest(items)
    claimed = await store.claim_due(_now() + timedelta(seconds=1), count, 30, "w1")
    record = AttemptRecord(started_at=_now(), duration_ms=1.0, outcome="permanent", error="no")
    for work in claimed:
        await store.finish_attempt(work.step.id, record, StepOutcome("dead", error="no"), "w1")
    return [w.step.id for w in claimed]


async def _statuses(store: SqlStore) -> dict[str, int]:
    query = sa.select(steps.c.status, sa.func.count()).group_by(steps.c.status)
    return {s: n for s, n in await store.run_read(lambda c: list(c.execute(query)))}


async def test_bulk_replay_pages_in_batches_and_records_progress(store: SqlStore) -> None:
    await dead_steps(store, 23)
    await dead_steps(store, 4, recipe="other")
    progress: list[int] = []
    woken = 0

    def notify() -> None:
        nonlocal woken
        woken += 1

    runner = JobRunner(store, notify=notify, batch_size=5)
    real = store.run_write

    async def spy(fn: Any) -> Any:
        result = await real(fn)
        if getattr(fn, "func", None) is queries.set_job_progress:
            progress.append(fn.keywords["done"])
        return result

    store.run_write = spy  # type: ignore[method-assign]
    job = await runner.start_replay(DeliveryFilter(status="dead", recipe="r1"), False, "alice")
    assert (
        job.total == 23
        and job.status == "running"
        and job.params["filter"]
        == {
            "status": "dead",
            "recipe": "r1",
        }
    )
    await runner.wait(job.id)
    final = await store.run_read(lambda c: queries.get_job(c, job.id))
    assert final is not None and final.status == "done" and final.done == 23
    assert progress == [5, 10, 15, 20, 23]
    assert woken == 5
    assert runner.runs_moved(job.id) == 23
    assert await _statuses(store) == {"pending": 23, "dead": 4}  # the other recipe untouched


async def test_cancel_stops_before_the_next_batch(store: SqlStore) -> None:
    await dead_steps(store, 20)
    runner = JobRunner(store, batch_size=5)
    real_replay = store.replay
    job_ids: list[str] = []

    async def replay_then_cancel(ids: list[str], from_start: bool = False) -> int:
        moved = await real_replay(ids, from_start)
        assert await runner.cancel(job_ids[0]) in (True, False)
        return moved

    store.replay = replay_then_cancel  # type: ignore[method-assign]
    job = await runner.start_replay(DeliveryFilter(status="dead"), False, "alice")
    job_ids.append(job.id)
    await runner.wait(job.id)
    final = await store.run_read(lambda c: queries.get_job(c, job.id))
    assert final is not None and final.status == "cancelled" and final.done == 5
    assert await _statuses(store) == {"pending": 5, "dead": 15}
    assert await runner.cancel(job.id) is False  # already over


async def test_jobs_of_dead_processes_are_failed_at_startup(store: SqlStore) -> None:
    host = socket.gethostname()
    now = _now()

    def job(owner: str, updated: datetime) -> BulkJob:
        return BulkJob(
            id=str(uuid.uuid4()),
            kind="replay",
            params={"filter": {}, "owner": owner},
            status="running",
            total=10,
            done=3,
            error=None,
            created_by="x",
            created_at=updated,
            updated_at=updated,
        )

    dead_here = job(f"{host}:999999999", now)
    alive_elsewhere = job("other-host:12", now)
    silent_elsewhere = job("other-host:13", now - timedelta(hours=1))
    for j in (dead_here, alive_elsewhere, silent_elsewhere):
        await store.run_write(lambda c, j=j: queries.insert_job(c, j))
    assert await JobRunner(store).fail_orphans() == 2
    status = {
        j.id: (await store.run_read(lambda c, j=j: queries.get_job(c, j.id)))
        for j in (dead_here, alive_elsewhere, silent_elsewhere)
    }
    assert status[dead_here.id].status == "failed"  # type: ignore[union-attr]
    assert "stopped after 3 of 10" in (status[dead_here.id].error or "")  # type: ignore[union-attr]
    assert status[alive_elsewhere.id].status == "running"  # type: ignore[union-attr]
    assert status[silent_elsewhere.id].status == "failed"  # type: ignore[union-attr]


async def test_stopping_the_process_fails_its_running_job(store: SqlStore) -> None:
    await dead_steps(store, 3)
    runner = JobRunner(store, batch_size=1)
    job = await runner.start_replay(DeliveryFilter(status="dead"), False, "alice")
    await runner.stop()
    final = await store.run_read(lambda c: queries.get_job(c, job.id))
    assert final is not None and final.status in ("failed", "done")
    if final.status == "failed":
        assert "start the replay again" in (final.error or "")
