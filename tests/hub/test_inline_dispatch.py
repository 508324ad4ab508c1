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


class SlowRunner:
    """Stands in for the runner: holds each step a while and records concurrency."""

    def __init__(self, hold: float = 0.05) -> None:
        self.hold = hold
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.total_now = 0
        self.total_peak = 0
        self.done: list[str] = []

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
    store = SqlStore(f"sqlite:///{tmp_path / 'hub.db'}")
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
    store = SqlStore(f"sqlite:///{tmp_path / 'hub.db'}")
    await store.open()
    await store.ingest([_item(n, "stuck" if n < 4 else "healthy") for n in range(24)])

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
