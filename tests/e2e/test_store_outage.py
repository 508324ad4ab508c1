"""A store that goes away: ingress answers 503 (the provider retries) and recovers by itself.

Uses the machine's real PostgreSQL: a fresh database whose connections are
refused and killed mid-run (``ALLOW_CONNECTIONS false`` + ``pg_terminate_backend``),
which is what a database restart or failover looks like to the hub.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.helpers import payment_body
from tests.services import postgres_url

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_database() -> Iterator[str]:
    admin_url = postgres_url()
    if admin_url is None:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 (set HUB_TEST_POSTGRES_URL)")
    name = f"hub_outage_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(admin_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def _outage(database: str, down: bool) -> None:
    admin_url = postgres_url()
    assert admin_url is not None
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


async def test_store_outage_is_503_and_recovers(running_hub: Any, pg_database: str) -> None:
    hub = await running_hub(store=pg_database)
    database = sa.make_url(pg_database).database
    assert database
    assert (await hub.post(payment_body(1))).status == 202

    await asyncio.to_thread(_outage, database, True)
    resp = await hub.post(payment_body(2))
    assert resp.status == 503
    assert resp.headers.get("Retry-After")
    async with hub.http.get(f"{hub.url}/readyz") as ready:
        assert ready.status == 503
        assert (await ready.json())["store"] == "unavailable"

    await asyncio.to_thread(_outage, database, False)
    deadline = time.monotonic() + 15
    status = 0
    while time.monotonic() < deadline:
        status = (await hub.post(payment_body(2))).status
        if status == 202:
            break
        await asyncio.sleep(0.2)
    assert status == 202, "ingress did not recover after the database came back"
    counts = await hub.settled(2, timeout=30)
    assert counts["events"] == 2 and counts["runs_succeeded"] == 2
