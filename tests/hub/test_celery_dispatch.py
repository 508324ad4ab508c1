"""The celery engine's parts without a broker: the store's queue marks, the sweeper, the executor.

A list stands in for the broker (``ListPublisher``); the store is real (the
suite's, ``HUB_TEST_STORE``), since the guarantees live in its SQL: a step is
claimed by one message only, a published step is left alone until its mark
lapses, a live worker's lease is never taken.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from hub.dispatch.celery_executor import StepExecutor
from hub.dispatch.celery_messages import StepMessage
from hub.dispatch.sweeper import Sweeper
from hub.events import Event, utcnow
from hub.store import (
    AttemptRecord,
    DeliveryFilter,
    IngestItem,
    PlannedRun,
    StepOutcome,
    StepWork,
)
from hub.store.sql import SqlStore
from tests import services


class ListPublisher:
    """The broker, as a list; ``refuse`` makes publishing fail like an unreachable broker."""

    def __init__(self) -> None:
        self.sent: list[StepMessage] = []
        self.refuse = False

    async def publish(self, messages: Sequence[StepMessage]) -> None:
        if self.refuse:
            raise ConnectionError("broker unreachable")
        self.sent.extend(messages)

    async def close(self) -> None:
        pass


class FakeRunner:
    """Holds each step ``hold`` seconds, records concurrency, then succeeds (with a next step)."""

    def __init__(self, hold: float = 0.0, next_connection: str | None = None) -> None:
        self.hold = hold
        self.next_connection = next_connection
        self.ran: list[str] = []
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    async def budget_wait(self, work: StepWork) -> float:
        return 0.0

    async def execute(self, work: StepWork) -> tuple[AttemptRecord, StepOutcome]:
        conn = work.step.connection
        self.now[conn] += 1
        self.peak[conn] = max(self.peak[conn], self.now[conn])
        await asyncio.sleep(self.hold)
        self.now[conn] -= 1
        self.ran.append(work.step.id)
        follow = None
        if self.next_connection is not None and work.step.step_index == 0:
            follow = PlannedRun("r", "second", 1, "x.do", self.next_connection, "k2", utcnow())
        record = AttemptRecord(utcnow(), self.hold * 1000, "ok")
        return record, StepOutcome("ok", output={}, next_step=follow)


def _item(n: int, sink: str = "sink", due_in: float = -1.0) -> IngestItem:
    event = Event.create(
        type="settlement.processed",
        subject=f"setl_{n}",
        idempotency_key=f"settlement.processed:setl_{n}",
        data={
            "gateway": "razorpay",
            "settlement_id": f"setl_{n}",
            "status": "processed",
            "amount": "10.00",
            "fees": "0.00",
            "tax": "0.00",
            "currency": "INR",
            "utr": None,
            "created_at": "2026-01-01T00:00:00+00:00",
        },
    ).bind("rp", "razorpay")
    due = utcnow() + timedelta(seconds=due_in)
    return IngestItem(event, [PlannedRun("r", "first", 0, "x.do", sink, f"key{n}", due)])


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = SqlStore(services.store_url(tmp_path))
    await store.open()
    yield store
    await store.close()


# -- the store's queue marks ---------------------------------------------------------------


async def test_sweep_marks_due_steps_once_until_the_mark_lapses(store: SqlStore) -> None:
    await store.ingest([_item(1), _item(2), _item(3, due_in=3600), _item(4, sink="paused")])
    now = utcnow()

    first = await store.sweep_due(now, 100, 5.0, exclude_connections=["paused"])
    assert sorted(s.connection for s in first) == ["sink", "sink"], "not due, or paused: left"
    assert await store.sweep_due(now, 100, 5.0, ["paused"]) == [], "published: not sent again"

    later = now + timedelta(seconds=6)  # the messages were lost: the marks lapse
    again = await store.sweep_due(later, 100, 5.0, ["paused"])
    assert {s.step_row_id for s in again} == {s.step_row_id for s in first}
    assert [s.lapsed for s in first] == [False, False] and all(s.lapsed for s in again)


async def test_claim_takes_a_published_step_once_and_respects_a_live_lease(store: SqlStore) -> None:
    await store.ingest([_item(1)])
    [queued] = await store.sweep_due(utcnow(), 10, 60.0)

    work = await store.claim_run(queued.run_id, utcnow(), 30.0, "host:1")
    assert work is not None and work.step.id == queued.step_row_id
    assert await store.claim_run(queued.run_id, utcnow(), 30.0, "host:2") is None, "duplicate"
    assert await store.sweep_due(utcnow(), 10, 60.0) == [], "a live worker holds it"

    lapsed = utcnow() + timedelta(seconds=31)  # host:1 died and stopped renewing
    [back] = await store.sweep_due(lapsed, 10, 60.0)
    assert back.step_row_id == queued.step_row_id
    retaken = await store.claim_run(queued.run_id, lapsed, 30.0, "host:2")
    assert retaken is not None

    # The dead worker's late result is recorded but moves nothing.
    ok = AttemptRecord(utcnow(), 1.0, "ok")
    await store.finish_attempt(work.step.id, ok, StepOutcome("ok", output={}), "host:1")
    _, run_steps = await store.get_run(queued.run_id) or (None, [])
    assert [s.status for s in run_steps] == ["pending"]
    await store.finish_attempt(work.step.id, ok, StepOutcome("ok", output={}), "host:2")
    _, run_steps = await store.get_run(queued.run_id) or (None, [])
    assert [s.status for s in run_steps] == ["succeeded"]


async def test_claim_leaves_a_step_that_is_not_due(store: SqlStore) -> None:
    await store.ingest([_item(1, due_in=3600)])
    [(step, run)] = (await store.list_deliveries(DeliveryFilter(limit=10)))[0]
    assert await store.claim_run(run.id, utcnow(), 30.0, "host:1") is None
    assert step.lease_until is None


# -- the sweeper ---------------------------------------------------------------------------


async def test_sweeper_publishes_due_steps_and_resends_what_the_broker_refused(
    store: SqlStore,
) -> None:
    await store.ingest([_item(n) for n in range(5)])
    broker = ListPublisher()
    sweeper = Sweeper(store, broker, requeue_seconds=60.0, batch=2)

    broker.refuse = True
    with pytest.raises(ConnectionError):
        await sweeper.sweep()
    broker.refuse = False
    # The refused batch was unmarked, so it goes now, not a minute later.
    assert await sweeper.sweep() == 5
    assert len({m.run_id for m in broker.sent}) == 5
    assert await sweeper.sweep() == 0


async def test_sweeper_wakes_on_notify(store: SqlStore) -> None:
    broker = ListPublisher()
    sweeper = Sweeper(store, broker, requeue_seconds=60.0, interval=None)
    await sweeper.start()
    try:
        await asyncio.sleep(0.05)
        await store.ingest([_item(1)])
        sweeper.notify()
        for _ in range(100):
            if broker.sent:
                break
            await asyncio.sleep(0.02)
        assert len(broker.sent) == 1 and broker.sent[0].connection == "sink"
    finally:
        await sweeper.stop()


# -- the executor --------------------------------------------------------------------------


async def _queued(store: SqlStore, n: int, sink: str = "sink") -> list[StepMessage]:
    await store.ingest([_item(i, sink) for i in range(n)])
    return [StepMessage(q.run_id, q.connection) for q in await store.sweep_due(utcnow(), n, 60)]


async def test_a_message_delivered_twice_runs_its_step_once_and_publishes_the_next(
    store: SqlStore,
) -> None:
    [message] = await _queued(store, 1)
    broker, runner = ListPublisher(), FakeRunner(next_connection="crm")
    executor = StepExecutor(store, runner, broker)  # type: ignore[arg-type]
    await executor.start()
    try:
        outcomes = await asyncio.gather(executor.handle(message), executor.handle(message))
    finally:
        await executor.stop()
    assert sorted(outcomes) == ["nothing", "ok"]
    assert len(runner.ran) == 1
    assert broker.sent == [StepMessage(message.run_id, "crm")], "the next step goes out at once"


async def test_a_stale_message_is_sent_again_under_the_step_s_connection(store: SqlStore) -> None:
    [message] = await _queued(store, 1, sink="books")
    broker, runner = ListPublisher(), FakeRunner()
    executor = StepExecutor(store, runner, broker)  # type: ignore[arg-type]
    assert await executor.handle(StepMessage(message.run_id, "crm")) == "requeued"
    assert runner.ran == [] and broker.sent == [message]
    assert await executor.handle(message) == "ok"


async def test_per_connection_limit_holds_and_a_busy_connection_requeues(store: SqlStore) -> None:
    messages = await _queued(store, 6)
    broker, runner = ListPublisher(), FakeRunner(hold=0.3)
    executor = StepExecutor(  # type: ignore[arg-type]
        store, runner, broker, per_connection=2, slot_wait=0.05
    )
    outcomes = await asyncio.gather(*(executor.handle(m) for m in messages))
    assert Counter(outcomes) == {"ok": 2, "requeued": 4}
    assert runner.peak["sink"] == 2
    assert sorted(broker.sent, key=str) == sorted(
        [m for m, o in zip(messages, outcomes, strict=True) if o == "requeued"], key=str
    )


async def test_a_paused_connection_s_step_is_given_back_unrun(store: SqlStore) -> None:
    [message] = await _queued(store, 1)
    broker, runner = ListPublisher(), FakeRunner()
    executor = StepExecutor(store, runner, broker)  # type: ignore[arg-type]
    executor.paused = {"sink"}
    assert await executor.handle(message) == "paused"
    assert runner.ran == []
    # Unmarked: the sweeper (which skips paused connections) sends it once resumed.
    assert [q.run_id for q in await store.sweep_due(utcnow(), 10, 60)] == [message.run_id]


# -- the commands ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["worker", "scheduler"])
def test_celery_commands_refuse_the_inline_engine(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from hub.cli import main

    (tmp_path / "hub.yaml").write_text("engine: inline\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [command])
    assert result.exit_code == 2
    assert f"hub {command} runs the celery engine" in result.output
