"""The storm gate in the store: two hub processes (two stores on one database) share one gate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from hub.alerts import state
from hub.alerts.gate import GatePolicy
from hub.store.sql import SqlStore

POLICY = GatePolicy(window=timedelta(minutes=10), samples=5)
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
async def stores(store_url: str) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    """Two stores with their own engines and writer threads: what two processes have."""
    a, b = SqlStore(store_url), SqlStore(store_url)
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


def items(start: int, n: int) -> list[tuple[state.GateKey, dict[str, object]]]:
    gates = [state.GateKey(ch, "dead_letter", "books") for ch in ("smtp", "webhook")]
    return [
        (gate, {"rule": "dead_letter", "key": "books", "summary": f"#{i}", "at": T0.isoformat()})
        for i in range(start, start + n)
        for gate in gates
    ]


async def test_two_processes_counting_one_storm_send_one_message_per_channel(
    stores: tuple[SqlStore, SqlStore],
) -> None:
    a, b = stores

    async def process(store: SqlStore, offset: int) -> list[state.Handed]:
        handed: list[state.Handed] = []
        for k in range(50):  # 50 batches of 10 dead letters from each process
            now = T0 + timedelta(seconds=k)
            chunk = items(offset + k * 10, 10)
            handed += await store.run_write(
                lambda c, chunk=chunk, now=now: state.admit_alerts(c, chunk, now, POLICY)
            )
        return handed

    got_a, got_b = await asyncio.gather(process(a, 0), process(b, 10_000))
    immediate = got_a + got_b
    assert sorted(h.gate.channel for h in immediate) == ["smtp", "webhook"]
    assert all(h.batch.count == 1 for h in immediate)
    for h in immediate:
        await a.run_write(lambda c, h=h: state.settle_batch(c, h, True, T0, POLICY))

    end = T0 + POLICY.window
    early = await b.run_write(lambda c: state.take_due(c, end - timedelta(seconds=1), POLICY))
    assert early == []
    taken = await asyncio.gather(
        a.run_write(lambda c: state.take_due(c, end, POLICY)),
        b.run_write(lambda c: state.take_due(c, end, POLICY)),
    )
    digests = taken[0] + taken[1]
    assert sorted(d.gate.channel for d in digests) == ["smtp", "webhook"]
    assert all(d.batch.count == 999 and d.batch.digest for d in digests)
    assert all(len(d.batch.samples) == 5 for d in digests)


async def test_a_failed_digest_comes_back_with_the_next_window(
    stores: tuple[SqlStore, SqlStore],
) -> None:
    a, b = stores
    first = await a.run_write(lambda c: state.admit_alerts(c, items(0, 3), T0, POLICY))
    assert len(first) == 2
    for h in first:  # both channels down
        await a.run_write(lambda c, h=h: state.settle_batch(c, h, False, T0, POLICY))
    end = T0 + POLICY.window
    digests = await b.run_write(lambda c: state.take_due(c, end, POLICY))
    assert sorted(d.batch.count for d in digests) == [3, 3]


async def test_one_process_per_interval_runs_the_periodic_checks(
    stores: tuple[SqlStore, SqlStore],
) -> None:
    a, b = stores
    results = await asyncio.gather(
        *[s.run_write(lambda c: state.claim_tick(c, "checks", T0, 60.0)) for s in (a, b, a, b)]
    )
    assert sorted(results) == [False, False, False, True]
    later = T0 + timedelta(seconds=61)
    assert await b.run_write(lambda c: state.claim_tick(c, "checks", later, 60.0))
