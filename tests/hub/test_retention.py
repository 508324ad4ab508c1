"""Retention on the suite's store: old finished work goes, pending work stays, ingest keeps moving.

Rows are aged by writing old timestamps straight into the tables (the clock
is not faked), so the SQL sees exactly what a month-old store holds.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from hub.cli import main
from hub.config import RetentionConfig
from hub.events import Event
from hub.retention import Pruner
from hub.store import (
    AttemptRecord,
    DeliveryFilter,
    EventFilter,
    IngestItem,
    PlannedRun,
    StepOutcome,
)
from hub.store.sql import SqlStore
from hub.store.tables import attempts, events, runs, steps

OLD = datetime.now(UTC) - timedelta(days=45)
RETAIN = RetentionConfig(events_days=30, attempts_days=30, batch_size=2)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(store_url)
    await s.open()
    yield s
    await s.close()


def item(key: str, steps_: int = 1) -> IngestItem:
    event = Event(
        type="payment.captured",
        subject=f"pay_{key}",
        idempotency_key=key,
        time=datetime.now(UTC),
        data={"amount": "10.00", "currency": "INR"},
        raw={"id": key},
        dataschema="https://hub/schemas/payment.json",
    ).bind("pay-main", "razorpay")
    run = PlannedRun("r1", "s1", 0, "crm.upsert_contact", "crm", f"{key}:r1:s1", OLD)
    return IngestItem(event, [run] if steps_ else [])


def tried(outcome: str = "ok") -> AttemptRecord:
    return AttemptRecord(datetime.now(UTC), 5.0, outcome)  # type: ignore[arg-type]


async def run_to(store: SqlStore, key: str, end: str) -> None:
    """Ingest ``key`` and take its run to ``end``: succeeded, dead, retrying, running or pending."""
    assert await store.ingest([item(key)]) == [True]
    if end == "pending":
        return
    (work,) = [
        w
        for w in await store.claim_due(datetime.now(UTC), 100, 30, "t")
        if w.event.idempotency_key == key
    ]
    if end == "retrying":  # tried once, failed, due again later: still pending work
        later = datetime.now(UTC) + timedelta(hours=1)
        await store.finish_attempt(work.step.id, tried("transient"), StepOutcome("retry", later))
        return
    if end == "running":  # first step done, second step pending
        nxt = PlannedRun("r1", "s2", 1, "crm.upsert_contact", "crm", f"{key}:r1:s2", OLD)
        await store.finish_attempt(work.step.id, tried(), StepOutcome("ok", {}, next_step=nxt))
        return
    await store.finish_attempt(work.step.id, tried("transient"), StepOutcome("retry", OLD))
    (again,) = [
        w
        for w in await store.claim_due(datetime.now(UTC), 100, 30, "t")
        if w.event.idempotency_key == key
    ]
    final = StepOutcome("ok", {}) if end == "succeeded" else StepOutcome("dead", error="400")
    await store.finish_attempt(
        again.step.id, tried("ok" if end == "succeeded" else "permanent"), final
    )


def age(url: str, keys: list[str], *, runs_too: bool = True) -> None:
    """Make the events ``keys`` (and their attempts and, unless told, runs) 45 days old."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    sa.select(events.c.id).where(events.c.idempotency_key.in_(keys))
                ).scalars()
            )
            conn.execute(sa.update(events).where(events.c.id.in_(ids)).values(received_at=OLD))
            run_ids = sa.select(runs.c.id).where(runs.c.event_id.in_(ids))
            if runs_too:
                conn.execute(sa.update(runs).where(runs.c.id.in_(run_ids)).values(updated_at=OLD))
            conn.execute(
                sa.update(attempts).where(attempts.c.run_id.in_(run_ids)).values(started_at=OLD)
            )
    finally:
        engine.dispose()


def table_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (events, runs, steps, attempts)
            }
    finally:
        engine.dispose()


async def keys_left(store: SqlStore) -> set[str]:
    page, _ = await store.list_events(EventFilter(limit=100_000))
    return {e.idempotency_key for e in page}


async def test_old_finished_work_goes_and_pending_work_stays(
    store: SqlStore, store_url: str
) -> None:
    ends = {  # pending work last: claiming the others must not lease it
        "done1": "succeeded",
        "done2": "succeeded",
        "dead": "dead",
        "replayed": "succeeded",  # old event, but its run changed recently
        "fresh": "succeeded",  # finished, but new
        "running": "running",
        "retrying": "retrying",
        "pending": "pending",
    }
    for key, end in ends.items():
        await run_to(store, key, end)
    age(store_url, [k for k in ends if k not in ("fresh", "replayed")])
    age(store_url, ["replayed"], runs_too=False)
    before = table_counts(store_url)

    pruner = Pruner(store, RETAIN)
    dry = await pruner.run_once(dry_run=True)
    assert table_counts(store_url) == before, "a dry run deleted something"
    done = await pruner.run_once()

    # Three old finished events went with their run, step and two attempts each.
    # Old attempts of finished steps go too: the replayed run's two, and the one of
    # the running run's finished first step; its pending second step is untouched.
    assert (done.counts.events, done.counts.runs, done.counts.steps) == (3, 3, 3)
    assert done.counts.attempts == 3 * 2 + 2 + 1
    assert dry.counts == done.counts
    assert done.batches > 3, "batch_size 2 should have taken several batches"
    assert await keys_left(store) == {"pending", "retrying", "running", "replayed", "fresh"}
    after = table_counts(store_url)
    assert after["attempts"] == before["attempts"] - done.counts.attempts
    # Pending work keeps its attempts even when they are old.
    left, _ = await store.list_deliveries(DeliveryFilter(limit=100))
    by_key = {step.idempotency_key.split(":")[0]: step for step, _ in left}
    assert len(await store.list_attempts(by_key["retrying"].id)) == 1
    replayed = by_key["replayed"]
    assert (replayed.status, replayed.attempts) == ("succeeded", 2)  # the summary stays
    assert await store.list_attempts(replayed.id) == []
    # A second pass finds nothing more.
    again = await pruner.run_once()
    assert again.counts.rows == 0


async def test_nothing_is_pruned_when_kept_forever(store: SqlStore, store_url: str) -> None:
    await run_to(store, "done", "succeeded")
    age(store_url, ["done"])
    report = await Pruner(store, RetentionConfig(events_days=None, attempts_days=None)).run_once()
    assert report.counts.rows == 0 and report.batches == 0
    assert await keys_left(store) == {"done"}


async def test_the_background_pruner_runs_every_interval(store: SqlStore, store_url: str) -> None:
    await run_to(store, "done", "succeeded")
    age(store_url, ["done"])
    pruner = Pruner(store, RetentionConfig(interval=1))
    await pruner.start(first_delay=0)
    try:
        for _ in range(100):
            if not await keys_left(store):
                break
            await asyncio.sleep(0.05)
        assert await keys_left(store) == set()
        await run_to(store, "later", "succeeded")
        age(store_url, ["later"])
        for _ in range(100):  # the next pass, an interval later
            if not await keys_left(store):
                break
            await asyncio.sleep(0.05)
        assert await keys_left(store) == set()
    finally:
        await pruner.stop()


async def test_ingest_keeps_answering_during_a_big_prune(store: SqlStore, store_url: str) -> None:
    """5,000 finished events (20,000 rows) pruned while webhooks keep arriving."""
    total = 5_000
    for start in range(0, total, 500):
        await store.ingest([item(f"old{n}") for n in range(start, start + 500)])
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:  # finish and age them all at once, as a month would
            conn.execute(sa.update(runs).values(status="succeeded", updated_at=OLD))
            conn.execute(sa.update(steps).values(status="succeeded", due_at=None))
            conn.execute(sa.update(events).values(received_at=OLD))
            step_ids = list(conn.execute(sa.select(steps.c.id, steps.c.run_id)))
            conn.execute(
                sa.insert(attempts),
                [
                    {
                        "step_row_id": sid,
                        "run_id": rid,
                        "number": 1,
                        "started_at": OLD,
                        "duration_ms": 5.0,
                        "outcome": "ok",
                    }
                    for sid, rid in step_ids
                ],
            )
    finally:
        engine.dispose()

    progress: list[int] = []
    pruner = Pruner(store, RetentionConfig(batch_size=1000))
    task = asyncio.create_task(
        pruner.run_once(on_progress=lambda r: progress.append(r.counts.events))
    )
    latencies: list[float] = []
    interleaved = 0
    n = 0
    while not task.done():
        t0 = time.perf_counter()
        assert await store.ingest([item(f"new{n}", steps_=0)]) == [True]
        latencies.append(time.perf_counter() - t0)
        if progress and 0 < progress[-1] < total:
            interleaved += 1
        n += 1
        await asyncio.sleep(0.002)
    report = await task
    assert report.counts.events == total and report.counts.attempts == total
    assert interleaved > 0, "no webhook was stored while the prune was under way"
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if len(latencies) > 1 else latencies[0]
    print(
        f"\nprune {report.counts.rows} rows in {report.seconds:.2f} s, {report.batches} batches "
        f"(slowest {report.slowest_batch * 1000:.0f} ms); {len(latencies)} ingests meanwhile: "
        f"median {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )
    # An ingest waits for at most the one prune batch already running (kept near 50 ms).
    assert latencies[-1] < 1.0, latencies[-5:]
    assert await keys_left(store) == {f"new{i}" for i in range(n)}


async def test_a_waiting_ingest_goes_before_a_waiting_prune_batch(store: SqlStore) -> None:
    """The writer runs background work only when nothing else waits."""
    gate = threading.Event()
    events_seen_by_prune: list[int] = []

    def hold(_conn: sa.Connection) -> None:
        gate.wait(5)

    def prune_batch(conn: sa.Connection) -> None:
        count = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
        events_seen_by_prune.append(count)

    writer = store._writer  # the writer's queue order is what is under test
    assert writer is not None
    held = asyncio.wrap_future(writer.submit(hold))
    await asyncio.sleep(0.05)  # the writer is now inside the held transaction
    pruned = asyncio.wrap_future(writer.submit(prune_batch, background=True))
    ingest = asyncio.create_task(store.ingest([item("k")]))
    await asyncio.sleep(0.05)  # both wait: the prune batch queued first
    gate.set()
    await asyncio.gather(held, pruned, ingest)
    assert ingest.result() == [True]
    assert events_seen_by_prune == [1], "the prune batch ran before the ingest queued after it"


def _prune_cli(config: Path, *args: str) -> Any:
    result = CliRunner().invoke(main, ["-c", str(config), "prune", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_hub_prune_reports_then_deletes(
    store: SqlStore, store_url: str, tmp_path: Path
) -> None:
    for key in ("a", "b"):
        await run_to(store, key, "succeeded")
    await run_to(store, "p", "pending")
    age(store_url, ["a", "b", "p"])
    await store.close()
    config = tmp_path / "hub.yaml"
    config.write_text(
        yaml.safe_dump({"store": store_url, "data_dir": str(tmp_path), "recipes": []})
    )

    dry = await asyncio.to_thread(_prune_cli, config, "--dry-run")
    assert dry["dry_run"] is True
    assert dry["would_delete"] == {"events": 2, "runs": 2, "steps": 2, "attempts": 4}
    done = await asyncio.to_thread(_prune_cli, config)
    assert done["deleted"] == dry["would_delete"]
    assert (await asyncio.to_thread(_prune_cli, config))["deleted"]["events"] == 0
    await store.open()
    assert await keys_left(store) == {"p"}


async def test_the_hub_prunes_where_its_pollers_run(running_hub: Any) -> None:
    pruning = await running_hub()
    assert pruning.hub.pruner is not None and pruning.hub.pruner.config.events_days == 30
    switched_off = await running_hub(retention={"enabled": False})
    assert switched_off.hub.pruner is None
