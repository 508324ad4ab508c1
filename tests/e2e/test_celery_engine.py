"""Both engines end to end, and the celery engine under faults: a killed worker, a flushed and
restarted Redis, a PostgreSQL outage.

Everything runs as real processes (``tests/e2e/deployment.py``): ``hub serve``,
``hub worker`` and ``hub scheduler`` on the machine's PostgreSQL (or SQLite)
and a private ``redis-server``. The Zoho Books sandbox runs in the test
process and counts what landed, so "exactly once in effect" is checked where
it matters: one payment per acknowledged webhook, never two.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.store import DeliveryFilter
from tests import services
from tests.e2e.deployment import (
    ENGINES,
    STORES,
    DeploymentFactory,
    RedisServer,
    deployment,
    redis_server,
    store_of,
)
from tests.helpers import Sandbox, fast_recipe, payment_body

__all__ = ["deployment", "redis_server"]  # fixtures used below

pytestmark = pytest.mark.integration

CUSTOMER_PAYMENTS = "/books/v3/customerpayments"
CONTACTS = "/books/v3/contacts"


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store of each kind (SQLite file, PostgreSQL schema)."""
    with store_of(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def pg_store(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL store: what a deployment of several machines runs on."""
    with store_of("postgresql", tmp_path) as url:
        yield url


def _payment_ids(bodies: list[bytes]) -> set[str]:
    return {json.loads(b)["payload"]["payment"]["entity"]["id"] for b in bodies}


def _customers(bodies: list[bytes]) -> set[str]:
    return {json.loads(b)["payload"]["payment"]["entity"]["email"] for b in bodies}


async def _assert_once_each(sandbox: Sandbox, bodies: list[bytes]) -> None:
    """Every payment landed exactly once, each customer's contact exactly once."""
    payments = await sandbox.payments()
    refs = [p["reference_number"] for p in payments]
    assert len(refs) == len(set(refs)), "a step wrote a payment twice"
    landed = " ".join(str(p.get("description", "")) for p in payments)
    missing = [p for p in _payment_ids(bodies) if p not in landed]
    assert not missing, f"{len(missing)} payments never reached Books: {missing[:5]}"
    assert len(payments) == len(bodies)
    emails = [c["email"] for c in await sandbox.contacts()]
    assert sorted(emails) == sorted(_customers(bodies)), "a contact was created twice or not at all"


# -- the spine on both engines and both stores -------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
async def test_spine_payment_lands_once_through_retries(
    engine: str,
    store: str,
    deployment: DeploymentFactory,
    sandbox: Sandbox,
) -> None:
    dep = await deployment(engine, store)
    await sandbox.faults([{"method": "POST", "path": CUSTOMER_PAYMENTS, "status": 500}] * 2)
    body = payment_body(1, seed=11)
    statuses = await asyncio.gather(*(dep.post(body) for _ in range(5)))
    assert statuses == [202] * 5, "a redelivered webhook is acknowledged too"

    counts = await dep.settled(1)
    assert counts["events"] == 1 and counts["runs_succeeded"] == 1, counts
    await _assert_once_each(sandbox, [body])
    rows, _ = await (await dep.store()).list_deliveries(DeliveryFilter(limit=10))
    [payment] = [step for step, _ in rows if step.step_id == "payment"]
    attempts = await (await dep.store()).list_attempts(payment.id)
    assert [a.outcome for a in attempts] == ["transient", "transient", "ok"]
    if engine == "celery":  # the attempts were counted where they ran
        [worker] = dep.workers
        assert worker.metrics_url is not None
        async with dep.http.get(worker.metrics_url) as resp:
            text = await resp.text()
        assert 'action="zoho_books.record_payment",outcome="retry"} 2.0' in text, text


# -- a worker killed mid-step ---------------------------------------------------------------


async def test_worker_sigkill_mid_steps_every_step_completes_once_within_a_minute(
    pg_store: str, deployment: DeploymentFactory, sandbox: Sandbox
) -> None:
    n = 12
    dep = await deployment("celery", pg_store)
    [doomed] = dep.workers
    # Every payment call takes 1.5 s in the sandbox, so the payment steps are all
    # in flight in the one worker when it dies; the sandbox still commits them.
    await sandbox.faults(
        [{"method": "POST", "path": CUSTOMER_PAYMENTS, "kind": "delay", "delay": 1.5}] * n
    )
    bodies = [payment_body(i, seed=23) for i in range(n)]
    assert await asyncio.gather(*(dep.post(b) for b in bodies)) == [202] * n

    store_ = await dep.store()
    owner = f"{socket.gethostname()}:{doomed.pid}"
    deadline = time.monotonic() + 30
    while (await sandbox.state())["faults_pending"] or owner not in await store_.lease_owners():
        assert time.monotonic() < deadline, f"steps never got in flight:\n{doomed.tail()}"
        await asyncio.sleep(0.05)

    doomed.kill()
    killed_at = time.monotonic()
    await dep.start_worker()
    counts = await dep.settled(n, timeout=60)
    took = time.monotonic() - killed_at

    assert counts["runs_succeeded"] == n and counts["runs_dead"] == 0, counts
    assert took < 60, f"the killed worker's steps took {took:.0f}s to complete"
    await _assert_once_each(sandbox, bodies)
    assert owner not in await store_.lease_owners()


# -- Redis flushed, then restarted, mid-run ------------------------------------------------


async def test_redis_flush_and_restart_mid_run_lose_and_double_nothing(
    pg_store: str,
    redis_server: RedisServer,
    tmp_path: Path,
    deployment: DeploymentFactory,
    sandbox: Sandbox,
) -> None:
    # While Redis is down the steps' shared API budget cannot be read: they
    # retry, so give them attempts enough to outlast the restart.
    recipe = fast_recipe(tmp_path, max_attempts=50, max_delay=0.5)
    dep = await deployment("celery", pg_store, redis_server, concurrency=2, recipe=recipe)
    await sandbox.faults([{"method": "POST", "path": CONTACTS, "kind": "delay", "delay": 0.2}] * 6)
    first = [payment_body(i, seed=31) for i in range(12)]
    assert await asyncio.gather(*(dep.post(b) for b in first)) == [202] * len(first)

    broker = redis_server.client()
    deadline = time.monotonic() + 10
    while not broker.llen("hub.steps"):
        assert time.monotonic() < deadline, "no message ever waited in the queue"
        await asyncio.sleep(0.01)
    broker.flushall()  # the waiting messages and the workers' unacked ones are gone

    await asyncio.sleep(0.5)
    redis_server.stop()
    second = [payment_body(i, seed=37) for i in range(100, 106)]
    # The ingress commits and answers; publishing fails and is left to the sweeper.
    assert await asyncio.gather(*(dep.post(b) for b in second)) == [202] * len(second)
    await asyncio.sleep(1.0)
    redis_server.start()

    counts = await dep.settled(len(first) + len(second), timeout=60)
    assert counts["runs_succeeded"] == len(first) + len(second), counts
    await _assert_once_each(sandbox, first + second)


# -- PostgreSQL goes away -------------------------------------------------------------------


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A database of its own, so the test can refuse its connections (an outage) safely."""
    admin_url = services.postgres_url()
    if admin_url is None:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 (set HUB_TEST_POSTGRES_URL)")
    name = f"hub_outage_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _outage(url: str, down: bool) -> None:
    """Refuse (and cut) or allow connections to ``url``'s database, as a restart looks to clients."""
    admin_url = services.postgres_url()
    assert admin_url is not None
    database = sa.make_url(url).database
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            sa.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(not down).lower()}')
        )
        if down:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": database},
            )
    admin.dispose()


async def test_postgres_outage_is_503_and_celery_recovers_by_itself(
    pg_database: str, deployment: DeploymentFactory, sandbox: Sandbox
) -> None:
    dep = await deployment("celery", pg_database)
    bodies = [payment_body(i, seed=41) for i in range(3)]
    assert await dep.post(bodies[0]) == 202
    await dep.settled(1)

    await asyncio.to_thread(_outage, pg_database, True)
    try:
        assert await dep.post(bodies[1]) == 503, "the provider must be told to retry"
        async with dep.http.get(f"{dep.url}/readyz") as ready:
            assert ready.status == 503
            assert (await ready.json())["store"] == "unavailable"
        await asyncio.sleep(1.0)  # workers and scheduler meet the outage too
    finally:
        await asyncio.to_thread(_outage, pg_database, False)

    deadline = time.monotonic() + 15
    statuses: list[Any] = []
    while time.monotonic() < deadline:
        statuses = [await dep.post(b) for b in bodies[1:]]
        if statuses == [202, 202]:
            break
        await asyncio.sleep(0.2)
    assert statuses == [202, 202], "ingress did not recover after the database came back"
    counts = await dep.settled(3, timeout=30)
    assert counts["runs_succeeded"] == 3, counts
    await _assert_once_each(sandbox, bodies)
