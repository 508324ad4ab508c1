"""The inline engine's bounds: global and per-connection concurrency, with a real SQLite store."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from hub.dispatch.inline import InlineDispatcher
from hub.events import Event, utcnow
from hub.store import AttemptRecord, IngestItem, PlannedRun, StepOutcome, StepWork
from hub.store.sql import SqlStore
from tests import services


class SlowRunner:
    """Stands in for the runner: holds each step a while and records concurrency."""

    def __init__(self, hold: float = 0.05) -> None:
        self.hold = hold
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.total_now = 0
        self.total_peak = 0
        self.done: list[str] = []

    async def budget_wait(self, work: StepWork) -> float:
        return 0.0

    async def execute(self, work: StepWork) -> tuple[AttemptRecord, StepOutcome]:
        conn = work.step.connection
        self.now[conn] += 1
        self.total_now += 1
        self.peak[conn] = max(self.peak[conn], self.now[conn])
        self.total_peak = max(self.total_peak, self.total_now)
        await asyncio.sleep(self.hold)
        self.now[conn] -= 1
        self.total_now -= 1
        self.done.append(work.step.id)
        return AttemptRecord(utcnow(), self.hold * 1000, "ok"), StepOutcome("ok", output={})


def _item(n: int, sink: str) -> IngestItem:
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
    run = PlannedRun("r", "s", 0, "x.do", sink, f"key{n}", utcnow() - timedelta(seconds=1))
    return IngestItem(event, [run])


async def test_global_and_per_connection_limits_hold(tmp_path: Path) -> None:
    store = SqlStore(services.store_url(tmp_path))
    await store.open()
    await store.ingest([_item(n, "slow-sink" if n % 2 else "other-sink") for n in range(60)])
    runner = SlowRunner()
    dispatcher = InlineDispatcher(store, runner, global_limit=6, per_connection=2)  # type: ignore[arg-type]
    await dispatcher.start()
    try:
        for _ in range(200):
            if len(runner.done) == 60:
                break
            await asyncio.sleep(0.05)
    finally:
        await dispatcher.stop()
        await store.close()
    assert len(runner.done) == 60 and len(set(runner.done)) == 60
    assert runner.peak["slow-sink"] == 2 and runner.peak["other-sink"] == 2
    assert runner.total_peak <= 6


async def test_a_stuck_sink_does_not_stall_the_others(tmp_path: Path) -> None:
    store = SqlStore(services.store_url(tmp_path))
    await store.open()
    # A backlog of 20 on the stuck sink: more than the global limit of 8.
    await store.ingest([_item(n, "stuck" if n < 20 else "healthy") for n in range(40)])

    class Mixed(SlowRunner):
        async def execute(self, work: StepWork) -> Any:
            if work.step.connection == "stuck":
                await asyncio.sleep(30)
            return await super().execute(work)

    runner = Mixed(hold=0.01)
    dispatcher = InlineDispatcher(store, runner, global_limit=8, per_connection=2)  # type: ignore[arg-type]
    await dispatcher.start()
    try:
        for _ in range(200):
            if len(runner.done) == 20:
                break
            await asyncio.sleep(0.05)
    finally:
        await dispatcher.stop(drain_timeout=0.1)
        await store.close()
    assert len(runner.done) == 20, "healthy deliveries waited behind a stuck sink"


async def test_a_step_longer_than_its_lease_runs_once_across_two_processes(tmp_path: Path) -> None:
    """Two dispatchers (as two `hub serve` on one store) and steps that outlive the lease."""
    url = services.store_url(tmp_path)
    first, second = SqlStore(url), SqlStore(url)
    await first.open()
    await second.open()
    await first.ingest([_item(n, "sink") for n in range(3)])
    runs: Counter[str] = Counter()

    class Long(SlowRunner):
        async def execute(self, work: StepWork) -> tuple[AttemptRecord, StepOutcome]:
            runs[work.step.id] += 1
            await asyncio.sleep(1.2)  # well past the 0.3 s lease: only renewal keeps it
            return AttemptRecord(utcnow(), 1200, "ok"), StepOutcome("ok", output={})

    a = InlineDispatcher(first, Long(), lease_seconds=0.3, idle_wait=0.05)  # type: ignore[arg-type]
    b = InlineDispatcher(second, Long(), lease_seconds=0.3, idle_wait=0.05)  # type: ignore[arg-type]
    a.owner, b.owner = "host-a:1", "host-b:2"
    await a.start()
    await asyncio.sleep(0.1)
    await b.start()
    try:
        for _ in range(100):
            counts = await first.counts()
            if counts["runs_succeeded"] == 3:
                break
            await asyncio.sleep(0.05)
    finally:
        await a.stop()
        await b.stop()
        await first.close()
        await second.close()
    assert counts["runs_succeeded"] == 3
    assert sorted(runs.values()) == [1, 1, 1], f"steps ran more than once: {dict(runs)}"


async def test_a_connection_cap_overrides_the_default(tmp_path: Path) -> None:
    store = SqlStore(services.store_url(tmp_path))
    await store.open()
    await store.ingest([_item(n, "crm" if n % 2 else "books") for n in range(40)])
    runner = SlowRunner()
    dispatcher = InlineDispatcher(
        store,
        runner,
        global_limit=16,
        per_connection=6,
        connection_limits={"crm": 2},  # type: ignore[arg-type]
    )
    await dispatcher.start()
    try:
        for _ in range(200):
            if len(runner.done) == 40:
                break
            await asyncio.sleep(0.05)
    finally:
        await dispatcher.stop()
        await store.close()
    assert len(runner.done) == 40
    assert runner.peak["crm"] == 2 and runner.peak["books"] == 6
