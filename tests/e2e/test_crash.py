"""Crash safety: ``hub serve`` killed with SIGKILL under load loses no acknowledged event.

On both engines and both stores. The hub runs as real processes
(``tests/e2e/deployment.py``); a load generator in this process sends distinct
signed payments; after a second of load ``hub serve`` gets SIGKILL (under
celery the workers and the scheduler keep running). After a restart every
event that got a 2xx must be in the store and must be delivered exactly once
to the Books sandbox (which lives in this process, so it survives the crash
and counts what landed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.events import event_id
from tests.e2e.deployment import ENGINES, STORES, DeploymentFactory, deployment, store_of
from tests.helpers import Sandbox, payment_body

__all__ = ["deployment"]  # the fixture used below

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_of(request.param, tmp_path) as url:
        yield url


@pytest.mark.parametrize("engine", ENGINES)
async def test_sigkill_under_load_loses_no_acknowledged_event(
    engine: str, store: str, deployment: DeploymentFactory, sandbox: Sandbox
) -> None:
    dep = await deployment(engine, store)
    assert dep.serve is not None

    acked: set[str] = set()
    counter = iter(range(1_000_000))
    stop = asyncio.Event()

    async def client() -> None:
        while not stop.is_set():
            body = payment_body(next(counter), seed=42)
            pay_id = json.loads(body)["payload"]["payment"]["entity"]["id"]
            status = await dep.post(body, timeout=5)
            if 200 <= status < 300:
                acked.add(pay_id)
            elif status == 0:
                await asyncio.sleep(0.01)

    clients = [asyncio.create_task(client()) for _ in range(24)]
    await asyncio.sleep(1.0)
    dep.serve.kill()
    stop.set()
    await asyncio.gather(*clients)
    assert len(acked) > 20, f"too little load reached the hub before the kill ({len(acked)})"

    await dep.start_serve()
    counts = await dep.wait_for(
        lambda c: bool(c["events"]) and c["runs_succeeded"] == c["events"], timeout=90
    )
    store_ = await dep.store()
    missing = [
        p
        for p in acked
        if await store_.get_event(event_id("razorpay-main", f"payment.captured:{p}")) is None
    ]
    assert not missing, f"{len(missing)} acknowledged events are not in the store: {missing[:5]}"
    assert counts["runs_dead"] == 0, counts

    payments = await sandbox.payments()
    refs = [p["reference_number"] for p in payments]
    assert len(refs) == len(set(refs)), "a step wrote twice"
    assert len(payments) == counts["events"], (len(payments), counts)
    landed = " ".join(str(p.get("description", "")) for p in payments)
    assert all(p in landed for p in acked), "an acknowledged payment never reached Books"
