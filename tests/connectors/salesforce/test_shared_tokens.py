"""Two Salesforce "workers" sharing tokens through Redis: one token request between them,
the second learns the instance URL from the first's token, and one refresh after expiry."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from cryptography.fernet import Fernet

from connectors.salesforce.sandbox import SandboxState, create_sandbox_app, serve
from hub.http import HttpClient
from hub.secrets import SecretBox
from hub.shared_redis import RedisState
from tests.connectors.salesforce.test_salesforce import Org
from tests.hub.redis_server import RedisServer

pytestmark = pytest.mark.integration

MASTER_KEY = Fernet.generate_key()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with serve(create_sandbox_app(SandboxState())) as base:
        yield base


@pytest.fixture
async def orgs(url: str, redis_server: RedisServer) -> AsyncIterator[list[Org]]:
    """Two workers' connections: each its own HTTP client, session and Redis connection."""
    prefix = f"t{secrets.token_hex(4)}:"
    async with AsyncExitStack() as stack:
        orgs = []
        for _ in range(2):
            http = await stack.enter_async_context(HttpClient(base_url=url, timeout=10))
            shared = RedisState(redis_server.url, SecretBox(MASTER_KEY), prefix=prefix)
            await shared.open()
            stack.push_async_callback(shared.close)
            org = Org(url, http)
            org.session.share(shared)
            orgs.append(org)
        yield orgs


async def test_two_workers_share_one_token_and_its_instance_url(orgs: list[Org]) -> None:
    a, b = orgs
    results = await asyncio.gather(
        *((a if n % 2 else b).case(f"{n:040x}", Subject=f"Case {n}") for n in range(20))
    )
    assert len({r["case_id"] for r in results}) == 20
    state: dict[str, Any] = await a.state()
    assert state["tokens"]["issued"] == 1
    assert a.session.oauth.refreshes + b.session.oauth.refreshes == 1
    assert a.session.oauth.instance_url == b.session.oauth.instance_url is not None


async def test_an_expired_session_is_refreshed_once_for_both_workers(orgs: list[Org]) -> None:
    a, b = orgs
    await asyncio.gather(a.case("a" * 40), b.case("b" * 40))
    await a.control("expire_tokens")
    await asyncio.gather(*((a if n % 2 else b).case(f"{n:040x}") for n in range(10)))
    assert (await a.state())["tokens"]["issued"] == 2
    assert a.session.oauth.refreshes + b.session.oauth.refreshes == 2
