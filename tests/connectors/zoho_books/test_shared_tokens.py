"""Two Books "workers" (each its own HTTP client, session and Redis connection, as two
``hub worker`` processes have) against the Books sandbox: one token exchange between them,
one refresh after expiry, one budget for the organization, and Redis going away."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from connectors.zoho_books import ContactIn, UpsertContact, ZohoBooksConfig, ZohoBooksSession
from connectors.zoho_books.sandbox import SandboxState, create_sandbox_app, serve
from hub.connector import ActionContext
from hub.http import HttpClient
from hub.limits import Throttled
from hub.secrets import SecretBox
from hub.shared_redis import RedisState
from tests.hub.redis_server import RedisServer

pytestmark = pytest.mark.integration

MASTER_KEY = Fernet.generate_key()


class Worker:
    """What one worker process holds for the ``books`` connection."""

    def __init__(self, url: str, redis_url: str, prefix: str, **config: Any) -> None:
        values: dict[str, Any] = {
            "accounts_url": url,
            "api_domain": url,
            "organization_id": "60012345678",
            "client_id": "1000.SANDBOX",
            "client_secret": "sandbox-secret",
            "refresh_token": "1000.sandbox.refresh",
            "requests_per_minute": 100_000,
            **config,
        }
        self.config = ZohoBooksConfig(**values)
        self.http = HttpClient(base_url=url, timeout=10)
        self.session = ZohoBooksSession(self.config, "books", self.http)
        self.shared = RedisState(redis_url, SecretBox(MASTER_KEY), prefix=prefix, timeout=0.5)

    async def start(self) -> Worker:
        await self.http.open()
        await self.shared.open()
        self.session.share(self.shared)
        await self.session.open()
        return self

    async def stop(self) -> None:
        await self.session.close()
        await self.shared.close()
        await self.http.close()

    async def upsert(self, n: int) -> dict[str, Any]:
        ctx = ActionContext(
            idempotency_key=f"{n:040x}", connection="books", http=self.http, session=self.session
        )
        item = ContactIn(contact_name=f"Customer {n}", email=f"c{n}@example.in")
        return await UpsertContact(self.config, "books").run(item, ctx)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def state() -> SandboxState:
    sandbox = SandboxState()
    sandbox.requests_per_minute = 100_000
    return sandbox


@pytest.fixture
async def url(state: SandboxState) -> AsyncIterator[str]:
    async with serve(create_sandbox_app(state)) as base:
        yield base


@pytest.fixture
async def workers(url: str, redis_server: RedisServer) -> AsyncIterator[Any]:
    started: list[Worker] = []
    prefix = f"t{secrets.token_hex(4)}:"  # this test's keys only

    async def start(redis_url: str | None = None, **config: Any) -> Worker:
        worker = Worker(url, redis_url or redis_server.url, prefix, **config)
        started.append(await worker.start())
        return worker

    yield start
    for worker in started:
        await worker.stop()


async def _sandbox(url: str, route: str = "state") -> dict[str, Any]:
    async with HttpClient(timeout=5) as http:
        resp = await (http.get if route == "state" else http.post)(f"{url}/__sandbox__/{route}")
        body: dict[str, Any] = resp.json()
        return body


async def test_two_workers_make_one_token_exchange_between_them(workers: Any, url: str) -> None:
    a, b = await workers(), await workers()
    results = await asyncio.gather(*((a if n % 2 else b).upsert(n) for n in range(40)))
    assert all(r["created"] for r in results)
    snapshot = await _sandbox(url)
    assert snapshot["tokens"]["issued"] == 1
    assert a.session.oauth.refreshes + b.session.oauth.refreshes == 1
    assert a.session.oauth._token == b.session.oauth._token is not None
    assert len(snapshot["contacts"]) == 40


async def test_an_expired_token_is_refreshed_once_for_both_workers(workers: Any, url: str) -> None:
    a, b = await workers(), await workers()
    await asyncio.gather(a.upsert(1), b.upsert(2))
    assert (await _sandbox(url, "expire_tokens")) == {"expired": 1}
    results = await asyncio.gather(*((a if n % 2 else b).upsert(n) for n in range(10, 30)))
    assert all(r["created"] for r in results)
    snapshot = await _sandbox(url)
    assert snapshot["tokens"]["issued"] == 2  # the first token and exactly one refresh
    assert a.session.oauth.refreshes + b.session.oauth.refreshes == 2


async def test_the_organizations_per_minute_budget_is_one_for_both_workers(
    workers: Any, url: str
) -> None:
    a, b = await workers(requests_per_minute=6), await workers(requests_per_minute=6)

    async def get(worker: Worker) -> str:
        try:
            resp = await worker.session.request("GET", "/books/v3/contacts")
        except Throttled:
            return "throttled"
        return str(resp.status)

    outcomes = await asyncio.gather(*(get(a if n % 2 else b) for n in range(16)))
    assert sorted(outcomes).count("200") == 6 and outcomes.count("throttled") == 10
    routes = (await _sandbox(url))["requests"]["by_route"]
    assert routes.get("GET /books/v3/contacts") == 6


async def test_without_redis_each_worker_refreshes_for_itself_and_work_goes_on(
    workers: Any, url: str, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path).start()
    a, b = await workers(server.url), await workers(server.url)
    server.stop()
    results = await asyncio.gather(*((a if n % 2 else b).upsert(n) for n in range(10)))
    assert all(r["created"] for r in results)
    assert a.shared.health == b.shared.health == "degraded"
    assert (await _sandbox(url))["tokens"]["issued"] == 2  # one per worker, no more
