"""SqlStore against a real database: the suite's store (``HUB_TEST_STORE``, see tests/services.py).

``make test`` runs this file once on SQLite and once on PostgreSQL, where each
test gets a fresh schema (via ``search_path``), dropped afterwards. The tests
named ``sqlite`` check what only the embedded default has (WAL, file errors).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hub.errors import StoreUnavailable
from hub.events import Event
from hub.store import (
    AttemptRecord,
    DeliveryFilter,
    EventFilter,
    IngestItem,
    PlannedRun,
    StepOutcome,
)
from hub.store.sql import SqlStore
from hub.store.tables import metadata
from tests import services


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(store_url)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    s = SqlStore(f"sqlite:///{tmp_path / 'hub.db'}")
    await s.open()
    yield s
    await s.close()


def now() -> datetime:
    return datetime.now(UTC)


def planned(
    step_id: str = "s1",
    index: int = 0,
    key: str = "ik",
    due: datetime | None = None,
    recipe: str = "r1",
    connection: str = "crm",
) -> PlannedRun:
    return PlannedRun(
        recipe=recipe,
        step_id=step_id,
        step_index=index,
        action="crm.upsert_contact",
        connection=connection,
        idempotency_key=f"{key}:{recipe}:{step_id}",
        due_at=due or now(),
    )


def item(
    key: str,
    *,
    connection: str = "pay-main",
    type: str = "payment.captured",
    subject: str = "pay_1",
    runs: int = 1,
    data: dict[str, Any] | None = None,
    due: datetime | None = None,
) -> IngestItem:
    ev = Event(
        type=type,
        subject=subject,
        idempotency_key=key,
        time=now(),
        data=data if data is not None else {"amount": "10.00", "currency": "INR"},
        raw={"id": key, "nested": {"ok": True}},
        dataschema="https://hub/schemas/payment.json",
    ).bind(connection, "razorpay")
    return IngestItem(ev, [planned(key=key, recipe=f"r{i}", due=due) for i in range(1, runs + 1)])


async def one_step(store: SqlStore, key: str = "k1", claim: bool = True) -> Any:
    """Ingest one event with one run and (unless told not to) claim its first step."""
    assert await store.ingest([item(key)]) == [True]
    if not claim:
        return None
    (work,) = await store.claim_due(now() + timedelta(seconds=1), 10, 30, "w1")
    return work


def attempt(outcome: str = "ok", error: str | None = None) -> AttemptRecord:
    return AttemptRecord(started_at=now(), duration_ms=12.5, outcome=outcome, error=error)  # type: ignore[arg-type]


# -- ingest and dedupe ---------------------------------------------------------


async def test_duplicate_key_is_stored_once(store: SqlStore) -> None:
    assert await store.ingest([item("k1"), item("k1"), item("k2")]) == [True, False, True]
    assert await store.ingest([item("k1")]) == [False]
    # Same key on another connection is a different event.
    assert await store.ingest([item("k1", connection="pay-other")]) == [True]
    counts = await store.counts()
    assert counts["events"] == 3
    assert counts["runs_pending"] == 3
    assert counts["steps_pending"] == 3


async def test_fifty_concurrent_duplicates_make_one_event_and_one_set_of_runs(
    store: SqlStore,
) -> None:
    results = await asyncio.gather(*(store.ingest([item("same", runs=2)]) for _ in range(50)))
    assert sorted(r[0] for r in results).count(True) == 1
    counts = await store.counts()
    assert (counts["events"], counts["runs_pending"], counts["steps_pending"]) == (1, 2, 2)


async def test_event_round_trips_with_aware_utc_times(store: SqlStore) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    at = datetime(2026, 1, 2, 9, 30, 0, 123456, tzinfo=ist)
    original = item("k1").event
    ev = replace(original, time=at)
    assert await store.ingest([IngestItem(ev)]) == [True]
    got = await store.get_event(ev.id)
    assert got is not None
    assert got.time == at and got.time.tzinfo == UTC
    assert got.raw == {"id": "k1", "nested": {"ok": True}}
    assert got == replace(ev, time=at.astimezone(UTC))
    assert await store.get_event("nope") is None


async def test_unbound_event_is_rejected(store: SqlStore) -> None:
    ev = Event(type="payment.captured", subject="s", idempotency_key="k", time=now(), data={})
    with pytest.raises(ValueError, match="bind"):
        await store.ingest([IngestItem(ev)])


async def test_group_commit_batches_concurrent_callers(store: SqlStore) -> None:
    commits = 0

    def count(_conn: Any) -> None:
        nonlocal commits
        commits += 1

    sa.event.listen(store.engine, "commit", count)
    try:
        results = await asyncio.gather(*(store.ingest([item(f"k{i}")]) for i in range(200)))
    finally:
        sa.event.remove(store.engine, "commit", count)
    assert results == [[True]] * 200
    assert (await store.counts())["events"] == 200
    assert commits < 40, f"{commits} commits for 200 callers: group commit is not batching"


async def test_bad_request_in_a_batch_fails_alone(store: SqlStore) -> None:
    bad = item("bad", data={"not_json": object()})
    calls = [store.ingest([item(f"k{i}")]) for i in range(20)]
    calls.insert(10, store.ingest([bad]))
    results = await asyncio.gather(*calls, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and not isinstance(failures[0], StoreUnavailable)
    assert (await store.counts())["events"] == 20
    assert await store.ingest([item("after")]) == [True]  # the writer survived


# -- the queue ---------------------------------------------------------------------


async def test_two_claimers_never_get_the_same_step(store: SqlStore) -> None:
    await store.ingest([item(f"k{i}") for i in range(30)])
    later = now() + timedelta(seconds=1)
    a, b, c = await asyncio.gather(
        store.claim_due(later, 12, 30, "a"),
        store.claim_due(later, 12, 30, "b"),
        store.claim_due(later, 12, 30, "c"),
    )
    ids = [w.step.id for w in a + b + c]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert await store.claim_due(later, 10, 30, "d") == []


async def test_expired_lease_is_claimable_again_and_future_steps_wait(store: SqlStore) -> None:
    t0 = now()
    await store.ingest([item("k1", due=t0), item("k2", due=t0 + timedelta(hours=1))])
    (work,) = await store.claim_due(t0, 10, 30, "a")
    assert work.step.lease_until == t0 + timedelta(seconds=30)
    assert work.event.raw == {"id": "k1", "nested": {"ok": True}}
    assert work.run.event_type == "payment.captured" and work.run.connection == "pay-main"
    assert await store.claim_due(t0 + timedelta(seconds=29), 10, 30, "b") == []
    assert await store.next_due_at() == t0 + timedelta(seconds=30)
    (again,) = await store.claim_due(t0 + timedelta(seconds=31), 10, 30, "b")
    assert again.step.id == work.step.id


async def test_next_due_at_is_none_when_idle(store: SqlStore) -> None:
    assert await store.next_due_at() is None


async def test_ok_with_next_step_then_success(store: SqlStore) -> None:
    work = await one_step(store)
    second = planned("s2", 1, key="k1")
    await store.finish_attempt(
        work.step.id, attempt(), StepOutcome("ok", output={"contact_id": "c9"}, next_step=second)
    )
    got = await store.get_run(work.run.id)
    assert got is not None
    run, step_rows = got
    assert run.status == "running" and run.outputs == {"s1": {"contact_id": "c9"}}
    assert [(s.step_id, s.status) for s in step_rows] == [("s1", "succeeded"), ("s2", "pending")]
    assert step_rows[0].attempts == 1 and step_rows[0].lease_until is None

    (nxt,) = await store.claim_due(now() + timedelta(seconds=1), 10, 30, "w")
    assert nxt.step.step_id == "s2" and nxt.run.outputs == {"s1": {"contact_id": "c9"}}
    await store.finish_attempt(nxt.step.id, attempt(), StepOutcome("ok", output={"n": 1}))
    got = await store.get_run(work.run.id)
    assert got is not None and got[0].status == "succeeded"
    assert got[0].outputs == {"s1": {"contact_id": "c9"}, "s2": {"n": 1}}
    counts = await store.counts()
    assert (counts["runs_succeeded"], counts["steps_pending"], counts["attempts"]) == (1, 0, 2)


async def test_retry_keeps_step_pending_until_retry_at(store: SqlStore) -> None:
    work = await one_step(store)
    retry_at = now() + timedelta(minutes=5)
    await store.finish_attempt(
        work.step.id,
        attempt("transient", error="503 from CRM"),
        StepOutcome("retry", retry_at=retry_at, error="CRM unavailable; will retry"),
    )
    delivery = await store.get_delivery(work.step.id)
    assert delivery is not None
    step, run, tries = delivery
    assert (step.status, step.attempts, step.due_at) == ("pending", 1, retry_at)
    assert step.last_error == "CRM unavailable; will retry"
    assert run.status == "running"
    assert [(t.number, t.outcome, t.error) for t in tries] == [(1, "transient", "503 from CRM")]
    assert await store.claim_due(now() + timedelta(seconds=1), 10, 30, "w") == []
    assert await store.next_due_at() == retry_at
    (again,) = await store.claim_due(retry_at, 10, 30, "w")
    assert again.step.attempts == 1


async def test_dead_letters_step_and_run(store: SqlStore) -> None:
    work = await one_step(store)
    await store.finish_attempt(
        work.step.id, attempt("permanent", "400"), StepOutcome("dead", error="bad email")
    )
    delivery = await store.get_delivery(work.step.id)
    assert delivery is not None
    step, run, _ = delivery
    assert (step.status, step.last_error) == ("dead", "bad email")
    assert (run.status, run.last_error) == ("dead", "bad email")
    counts = await store.counts()
    assert (counts["runs_dead"], counts["steps_dead"], counts["steps_pending"]) == (1, 1, 0)
    with pytest.raises(LookupError):
        await store.finish_attempt("missing", attempt(), StepOutcome("ok"))


async def test_replay_failed_step(store: SqlStore) -> None:
    work = await one_step(store)
    await store.finish_attempt(work.step.id, attempt("permanent"), StepOutcome("dead", error="x"))
    assert await store.replay([work.step.id]) == 1
    (again,) = await store.claim_due(now() + timedelta(seconds=1), 10, 30, "w")
    assert again.step.id == work.step.id
    assert again.step.idempotency_key == work.step.idempotency_key
    assert again.step.attempts == 0 and again.step.last_error == "x"
    assert again.run.status == "running"
    # A step a worker holds right now is not replayed.
    assert await store.replay([work.step.id]) == 0
    await store.finish_attempt(again.step.id, attempt(), StepOutcome("ok", output={}))
    tries = await store.list_attempts(work.step.id)
    assert [t.number for t in tries] == [1, 2]


async def test_replay_from_start_reuses_later_step_rows(store: SqlStore) -> None:
    work = await one_step(store)
    await store.finish_attempt(
        work.step.id, attempt(), StepOutcome("ok", output={"a": 1}, next_step=planned("s2", 1))
    )
    (second,) = await store.claim_due(now() + timedelta(seconds=1), 10, 30, "w")
    await store.finish_attempt(second.step.id, attempt("permanent"), StepOutcome("dead", error="e"))

    assert await store.replay([second.step.id], from_start=True) == 1
    got = await store.get_run(work.run.id)
    assert got is not None
    assert got[0].status == "running"
    assert [(s.step_id, s.status) for s in got[1]] == [("s1", "pending"), ("s2", "cancelled")]

    (first,) = await store.claim_due(now() + timedelta(seconds=1), 10, 30, "w")
    assert first.step.id == work.step.id
    await store.finish_attempt(
        first.step.id, attempt(), StepOutcome("ok", output={"a": 2}, next_step=planned("s2", 1))
    )
    got = await store.get_run(work.run.id)
    assert got is not None
    assert [(s.id, s.status) for s in got[1]] == [
        (work.step.id, "succeeded"),
        (second.step.id, "pending"),
    ]
    assert len(await store.list_attempts(second.step.id)) == 1  # history kept


async def test_replay_waits_while_a_step_of_the_run_is_running(store: SqlStore) -> None:
    work = await one_step(store)
    await store.finish_attempt(
        work.step.id, attempt(), StepOutcome("ok", output={}, next_step=planned("s2", 1))
    )
    (_running,) = await store.claim_due(now() + timedelta(seconds=1), 10, 30, "busy")
    # Replaying while s2 runs would let a second worker run s2 at the same time.
    assert await store.replay([work.step.id], from_start=True) == 0
    got = await store.get_run(work.run.id)
    assert got is not None and [s.status for s in got[1]] == ["succeeded", "pending"]


async def test_late_result_for_cancelled_step_does_not_move_run(store: SqlStore) -> None:
    work = await one_step(store)
    await store.finish_attempt(
        work.step.id, attempt(), StepOutcome("ok", output={}, next_step=planned("s2", 1))
    )
    # A worker claimed s2 long ago and its lease lapsed (it hung); ops replay the run.
    (second,) = await store.claim_due(now(), 10, 0.001, "slow")
    await asyncio.sleep(0.01)
    assert await store.replay([work.step.id], from_start=True) == 1
    await store.finish_attempt(
        second.step.id, attempt(), StepOutcome("ok", output={"late": 1}), owner="slow"
    )
    got = await store.get_run(work.run.id)
    assert got is not None
    assert got[0].status == "running"
    assert [s.status for s in got[1]] == ["pending", "cancelled"]
    assert len(await store.list_attempts(second.step.id)) == 1


async def test_result_of_a_lost_lease_is_recorded_not_applied(store: SqlStore) -> None:
    await one_step(store, claim=False)
    (first,) = await store.claim_due(now(), 10, 0.001, "worker-a")
    await asyncio.sleep(0.01)
    (again,) = await store.claim_due(now(), 10, 30, "worker-b")
    assert again.step.id == first.step.id
    await store.finish_attempt(
        first.step.id, attempt(), StepOutcome("ok", output={}), owner="worker-a"
    )
    got = await store.get_delivery(first.step.id)
    assert got is not None
    step, run, attempts = got
    assert step.status == "pending" and step.lease_until is not None  # worker-b still holds it
    assert run.status != "succeeded" and len(attempts) == 1
    await store.finish_attempt(
        first.step.id, attempt(), StepOutcome("ok", output={}), owner="worker-b"
    )
    got = await store.get_delivery(first.step.id)
    assert got is not None and got[0].status == "succeeded"


async def test_leases_renew_and_release(store: SqlStore) -> None:
    await one_step(store, claim=False)
    (work,) = await store.claim_due(now(), 10, 0.001, "me")
    later = now() + timedelta(minutes=5)
    assert await store.renew_leases([work.step.id], "me", later) == 1
    assert await store.renew_leases([work.step.id], "someone-else", later) == 0
    assert await store.claim_due(now() + timedelta(seconds=1), 10, 30, "other") == []
    assert await store.release_steps([work.step.id], "me") == 1
    (back,) = await store.claim_due(now() + timedelta(seconds=1), 10, 30, "other")
    assert back.step.id == work.step.id


# -- listings ------------------------------------------------------------------------


async def test_event_pages_newest_first_with_filters(store: SqlStore) -> None:
    marks: list[datetime] = []
    for chunk in range(4):  # four commits: distinct received_at plus ties inside each
        marks.append(now())
        await store.ingest(
            [
                item(
                    f"k{chunk}-{i}",
                    type="payment.captured" if i % 2 else "payment.failed",
                    connection="pay-a" if i % 3 else "pay-b",
                    subject=f"pay_{i % 5}",
                )
                for i in range(30)
            ]
        )
    seen: list[Event] = []
    before: str | None = None
    while True:
        page, before = await store.list_events(EventFilter(limit=25, before=before))
        seen.extend(page)
        if before is None:
            break
    assert len(seen) == 120 and len({e.id for e in seen}) == 120
    keys = [(e.id, e.idempotency_key) for e in seen]
    assert [k.split("-")[0] for _, k in keys[:30]] == ["k3"] * 30  # newest commit first

    async def all_pages(**kw: Any) -> list[Event]:
        out: list[Event] = []
        cursor: str | None = None
        while True:
            page, cursor = await store.list_events(EventFilter(limit=7, before=cursor, **kw))
            out.extend(page)
            if cursor is None:
                return out

    assert len(await all_pages(type="payment.captured")) == 60
    assert len(await all_pages(connection="pay-b")) == 40
    assert len(await all_pages(subject="pay_0", type="payment.failed")) == 12
    assert len(await all_pages(since=marks[2])) == 60
    assert len(await all_pages(until=marks[1])) == 30
    with pytest.raises(ValueError, match="cursor"):
        await store.list_events(EventFilter(before="garbage!"))


async def test_delivery_pages_and_filters(store: SqlStore) -> None:
    for chunk in range(4):
        await store.ingest([item(f"k{chunk}-{i}", runs=1 + i % 2) for i in range(20)])
    # 4 x (10 x 1 + 10 x 2) = 120 steps
    rows: list[Any] = []
    before: str | None = None
    while True:
        page, before = await store.list_deliveries(DeliveryFilter(limit=25, before=before))
        rows.extend(page)
        if before is None:
            break
    assert len(rows) == 120 and len({s.id for s, _ in rows}) == 120
    created = [s.created_at for s, _ in rows]
    assert created == sorted(created, reverse=True)
    page, _ = await store.list_deliveries(DeliveryFilter(recipe="r2", limit=100))
    assert len(page) == 40 and {r.recipe for _, r in page} == {"r2"}
    page, _ = await store.list_deliveries(DeliveryFilter(connection="pay-main", limit=200))
    assert len(page) == 120
    run_id = rows[0][1].id
    page, _ = await store.list_deliveries(DeliveryFilter(run_id=run_id))
    assert [r.id for _, r in page] == [run_id]
    (work,) = await store.claim_due(now() + timedelta(seconds=1), 1, 30, "w")
    await store.finish_attempt(work.step.id, attempt(), StepOutcome("dead", error="e"))
    page, cursor = await store.list_deliveries(DeliveryFilter(status="dead"))
    assert [s.id for s, _ in page] == [work.step.id] and cursor is None
    page, _ = await store.list_deliveries(DeliveryFilter(until=rows[-1][0].created_at))
    assert page == []


# -- cursors and connections ----------------------------------------------------------


async def test_cursor_save_and_load(store: SqlStore) -> None:
    assert await store.get_cursor("bank", "txns") is None
    flags = await store.save_poll("bank", "txns", [item("t1"), item("t2")], {"after": "t2"})
    assert flags == [True, True]
    assert await store.get_cursor("bank", "txns") == {"after": "t2"}
    assert await store.save_poll("bank", "txns", [item("t2")], "t3") == [False]
    assert await store.get_cursor("bank", "txns") == "t3"


async def test_save_poll_is_atomic(store: SqlStore) -> None:
    await store.save_poll("bank", "txns", [item("t1")], "c1")
    with pytest.raises(Exception):  # noqa: B017 - the JSON error differs by driver
        await store.save_poll("bank", "txns", [item("t2"), item("bad", data={"x": object()})], "c2")
    assert await store.get_cursor("bank", "txns") == "c1"
    assert (await store.counts())["events"] == 1


async def test_connection_upsert_and_state_merge(store: SqlStore) -> None:
    assert await store.get_connection("crm") is None
    await store.upsert_connection("crm", "zoho_crm", {"region": "in"}, True)
    await store.update_connection_state("crm", {"token": "sealed", "needs_reauth": True})
    await store.update_connection_state("crm", {"needs_reauth": None, "expires": 5})
    await store.upsert_connection("crm", "zoho_crm", {"region": "eu"}, False)
    got = await store.get_connection("crm")
    assert got is not None
    assert (got.config, got.enabled) == ({"region": "eu"}, False)
    assert got.state == {"token": "sealed", "expires": 5}
    assert got.updated_at.tzinfo == UTC
    await store.upsert_connection("books", "zoho_books", {}, True)
    assert [c.name for c in await store.list_connections()] == ["books", "crm"]
    with pytest.raises(LookupError):
        await store.update_connection_state("nope", {"a": 1})


# -- schema, durability and failures ---------------------------------------------------


async def test_migrations_match_tables_and_reopen_is_harmless(tmp_path: Path) -> None:
    store_url = services.store_url(tmp_path, reuse=False)  # migrated from nothing, here
    first = SqlStore(store_url)
    await first.open()
    await first.ingest([item("k1")])
    await first.close()
    again = SqlStore(store_url)
    await again.open()
    try:
        assert (await again.counts())["events"] == 1
        with again.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            assert diff == []
    finally:
        await again.close()


async def test_sqlite_is_opened_for_durability(sqlite_store: SqlStore) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


async def test_unwritable_database_raises_store_unavailable_and_recovers(
    tmp_path: Path, sqlite_store: SqlStore
) -> None:
    db = tmp_path / "hub.db"
    assert await sqlite_store.ingest([item("k1")]) == [True]
    sqlite_store.engine.dispose()  # force a fresh connection for the next write
    aside = tmp_path / "aside"
    aside.mkdir()
    for f in tmp_path.glob("hub.db*"):
        shutil.move(f, aside / f.name)
    db.mkdir()  # the database file is now a directory: nothing can open it
    with pytest.raises(StoreUnavailable, match="cannot be written"):
        await sqlite_store.ingest([item("k2")])
    db.rmdir()
    for f in aside.iterdir():
        shutil.move(f, tmp_path / f.name)
    assert await sqlite_store.ingest([item("k3")]) == [True]  # the writer thread survived
    assert (await sqlite_store.counts())["events"] == 2


async def test_open_in_missing_folder_is_unavailable(tmp_path: Path) -> None:
    s = SqlStore(f"sqlite:///{tmp_path / 'no' / 'such' / 'hub.db'}")
    with pytest.raises(StoreUnavailable):
        await s.open()
    assert await s.ping() is False


async def test_ping_and_close(store: SqlStore) -> None:
    assert await store.ping() is True
    pending = [asyncio.ensure_future(store.ingest([item(f"k{i}")])) for i in range(50)]
    await asyncio.sleep(0)
    await store.close()  # flushes what was queued
    assert all(f.result() == [True] for f in pending)
    assert await store.ping() is False
    with pytest.raises(StoreUnavailable):
        await store.ingest([item("late")])


async def test_in_memory_sqlite() -> None:
    s = SqlStore("sqlite://")
    await s.open()
    try:
        assert await s.ingest([item("k1")]) == [True]
        assert len((await s.list_events(EventFilter()))[0]) == 1
    finally:
        await s.close()
