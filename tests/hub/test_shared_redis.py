"""``RedisState`` against a real (private) Redis: atomic budgets across processes, sealed
tokens, single-flight locks, and what happens when Redis goes away."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import random
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from connectors.zoho_books import ZohoBooksSession
from hub.app import load_hub
from hub.config import HubConfig
from hub.errors import RateLimitError, TransientError
from hub.limits import ApiBudget, Budget, Throttled
from hub.registry import Registry
from hub.secrets import SecretBox
from hub.shared_redis import RedisState
from hub.tokens import Grant, TokenGate
from tests.helpers import hub_config
from tests.hub.redis_server import RedisServer
from tests.hub.shared_workers import spend_in_process

pytestmark = pytest.mark.integration

KEY = Fernet.generate_key()


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(4)}:"


@pytest.fixture
async def state(redis_server: RedisServer, prefix: str) -> AsyncIterator[RedisState]:
    shared = RedisState(redis_server.url, SecretBox(KEY), prefix=prefix)
    await shared.open()
    yield shared
    await shared.close()


@pytest.fixture
async def raw(redis_server: RedisServer, prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    keys = [k async for k in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


# --- budgets -----------------------------------------------------------------------------


def test_processes_spending_at_once_never_pass_the_limit(
    redis_server: RedisServer, prefix: str
) -> None:
    """Four real processes, 60 calls in flight each, against 70 a day: exactly 70 go through."""
    ctx = multiprocessing.get_context("spawn")
    workers, tries, per_day = 4, 60, 70
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(
            target=spend_in_process,
            args=(barrier, results, redis_server.url, KEY, prefix, "books", (100, per_day), tries),
        )
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    try:
        granted = [results.get(timeout=60) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=30)
    assert all(proc.exitcode == 0 for proc in procs)
    assert sum(granted) == per_day, granted
    assert sum(1 for g in granted if g) >= 2, f"the processes did not race: {granted}"

    async def usage() -> tuple[int, int]:
        state = RedisState(redis_server.url, SecretBox(KEY), prefix=prefix)
        look = await state.spend("books", 0, 100, per_day, commit=False)
        await state.close()
        return look.minute_used, look.day_used

    assert asyncio.run(usage()) == (per_day, per_day)


async def test_redis_windows_decide_like_the_in_process_arithmetic(
    redis_server: RedisServer, prefix: str, raw: Redis
) -> None:
    """A random day and a half of calls: Redis grants, refuses and waits exactly like ApiBudget."""
    clock = Clock()
    shared = RedisState(redis_server.url, SecretBox(KEY), prefix=prefix, clock=clock)
    remote = Budget("org", shared, per_minute=5, per_day=40)
    local = ApiBudget(per_minute=5, per_day=40, clock=clock)
    rng = random.Random(7)
    outcomes = []
    for _ in range(400):
        clock.now += rng.choice([0.5, 3, 10, 61, 900, 3600])
        clock.now = round(clock.now, 3)  # Redis counts whole milliseconds
        expected = local.wait_time()
        assert await remote.wait_time() == pytest.approx(expected, abs=0.002)
        try:
            await remote.take()
            took = True
        except Throttled as exc:
            took = False
            assert exc.retry_after == pytest.approx(expected, abs=0.002)
        assert took == (expected == 0)
        if took:
            local.take()
        outcomes.append(took)
        usage, mine = await remote.usage(), local.usage()
        assert (usage.minute_used, usage.day_used) == (mine.minute_used, mine.day_used)
    assert 50 < sum(outcomes) < 350  # both limits were hit and both let calls through
    await shared.close()
    ttls = [await raw.pttl(k) async for k in raw.scan_iter(f"{prefix}*")]
    assert ttls and all(0 < t <= 86_400_000 + 120_000 for t in ttls), "every key expires"


async def test_a_budget_idle_for_two_days_starts_from_nothing(
    redis_server: RedisServer, prefix: str
) -> None:
    clock = Clock()
    shared = RedisState(redis_server.url, SecretBox(KEY), prefix=prefix, clock=clock)
    budget = Budget("org", shared, per_day=3)
    for _ in range(3):
        await budget.take()
    assert await budget.wait_time() > 86_000
    clock.now += 2 * 86_400
    assert (await budget.usage()).day_used == 0 and await budget.wait_time() == 0
    await shared.close()


# --- tokens ------------------------------------------------------------------------------


async def test_tokens_sit_in_redis_sealed_and_are_dropped_only_if_unchanged(
    state: RedisState, raw: Redis, prefix: str
) -> None:
    await state.put_token("zoho:r1", '{"token": "1000.plain-access-token"}', 30)
    [key] = [k async for k in raw.scan_iter(f"{prefix}token:*")]
    stored = await raw.get(key)
    assert stored is not None and "plain-access-token" not in stored and "enc:v1:" in stored
    hit = await state.get_token("zoho:r1")
    assert hit is not None and hit[0] == '{"token": "1000.plain-access-token"}'
    assert 29 < hit[1] <= 30
    await state.drop_token("zoho:r1", '{"token": "someone else\'s"}')
    assert await state.get_token("zoho:r1") is not None  # a newer value survives
    await state.drop_token("zoho:r1", '{"token": "1000.plain-access-token"}')
    assert await state.get_token("zoho:r1") is None


async def test_a_token_sealed_with_another_master_key_names_the_fix(
    redis_server: RedisServer, state: RedisState, prefix: str, raw: Redis
) -> None:
    await state.put_token("zoho:r1", "value", 30)
    other = RedisState(redis_server.url, SecretBox(Fernet.generate_key()), prefix=prefix)
    with pytest.raises(TransientError, match="same HUB_SECRET_KEY"):
        await other.get_token("zoho:r1")
    await other.close()


async def test_a_failed_refresh_makes_other_processes_fail_fast(
    redis_server: RedisServer, prefix: str, raw: Redis
) -> None:
    calls = 0

    async def refused() -> Grant:
        nonlocal calls
        calls += 1
        raise RateLimitError("Zoho refused to mint another access token", 400, None, 30.0)

    states = [RedisState(redis_server.url, SecretBox(KEY), prefix=prefix) for _ in range(2)]
    first, second = (TokenGate("zoho:r1", refused, state=s) for s in states)
    with pytest.raises(RateLimitError):
        await first.get()
    with pytest.raises(RateLimitError, match="refused to mint") as info:
        await second.get()  # another "process": told, not asking Zoho again
    assert calls == 1
    assert info.value.retry_after is not None and 29 < info.value.retry_after <= 30
    for shared in states:
        await shared.close()


# --- locks -------------------------------------------------------------------------------


async def test_single_flight_excludes_other_processes_and_lapses_if_the_holder_dies(
    redis_server: RedisServer, prefix: str, raw: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = (RedisState(redis_server.url, SecretBox(KEY), prefix=prefix) for _ in range(2))
    order: list[str] = []

    async def hold(state: RedisState, name: str) -> None:
        async with state.single_flight("token:x", ttl=5):
            order.append(f"{name} in")
            await asyncio.sleep(0.1)
            order.append(f"{name} out")

    await asyncio.gather(hold(a, "a"), hold(b, "b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])

    stuck = a.single_flight("token:y", ttl=0.3)
    await stuck.__aenter__()  # taken and not released in time: its holder hung or died
    started = time.monotonic()
    async with b.single_flight("token:y", ttl=0.3):
        waited = time.monotonic() - started
        with caplog.at_level(logging.WARNING, logger="hub.shared"):
            await stuck.__aexit__(None, None, None)  # too late: the lock is b's now
    assert 0.15 < waited < 1.5
    assert "longer than its 0.3s time to live" in caplog.text
    await a.close()
    await b.close()


# --- Redis unavailable ------------------------------------------------------------------


async def test_redis_down_counts_locally_with_one_error_then_shares_again(
    tmp_path: Path, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path).start()
    state = RedisState(server.url, SecretBox(KEY), prefix=prefix, retry_interval=0.2, timeout=0.5)
    await state.open()
    budget = Budget("org", state, per_minute=3)
    try:
        await budget.take()
        assert state.health == "ok"
        server.stop()
        with caplog.at_level(logging.WARNING, logger="hub.shared"):
            await budget.take()  # Redis is gone: counted in this process, not refused
            await budget.take()
            await budget.take()
            with pytest.raises(Throttled):  # the local count still enforces the limit
                await budget.take()
            await state.put_token("zoho:r1", "local-token", 30)
            hit = await state.get_token("zoho:r1")
            assert hit is not None and hit[0] == "local-token"
            async with state.single_flight("token:zoho:r1"):
                pass
        assert state.health == "degraded"
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1, "one error per outage, not one per call"
        assert (
            server.url in errors[0].getMessage() and "this process only" in errors[0].getMessage()
        )
        server.start()
        await asyncio.sleep(0.25)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hub.shared"):
            assert (await budget.usage()).minute_used == 0  # a fresh Redis: nothing spent there
        assert state.health == "ok" and "answers again" in caplog.text
    finally:
        await state.close()
        server.stop()


async def test_starting_without_redis_is_a_clear_error_not_a_crash(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.helpers import free_port

    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    state = RedisState(url, SecretBox(KEY), prefix=prefix, timeout=0.5)
    with caplog.at_level(logging.ERROR, logger="hub.shared"):
        await state.open()
    assert state.health == "degraded"
    assert "is unavailable" in caplog.text and "hunter2" not in caplog.text
    budget = Budget("org", state, per_day=1)
    await budget.take()
    with pytest.raises(Throttled):
        await budget.take()
    await state.close()


# --- the hub ---------------------------------------------------------------------------------


async def test_two_hubs_with_one_redis_spend_one_budget(
    tmp_path: Path, redis_server: RedisServer, raw: Redis
) -> None:
    """Two hub processes' worth of parts (as two workers would build them) share the org's budget."""
    hubs = []
    for n in range(2):
        folder = tmp_path / f"hub{n}"
        folder.mkdir()
        doc = hub_config(
            folder,
            "http://127.0.0.1:9",
            [],
            redis_url=redis_server.url,
            books={"daily_api_calls": 5},
        )
        config = HubConfig.model_validate({**doc, "base_dir": str(folder)})
        hub = load_hub(config, Registry.from_entry_points())
        await hub.start(run_engine=False, run_pollers=False)
        hubs.append(hub)
    try:
        budgets = []
        for hub in hubs:
            session = hub.connections.require("books").session
            assert isinstance(session, ZohoBooksSession) and isinstance(hub.shared, RedisState)
            assert session.budget is not None and session.oauth.gate.state is hub.shared
            budgets.append(session.budget)
        for n in range(5):
            await budgets[n % 2].take()
        for budget in budgets:
            with pytest.raises(Throttled):
                await budget.take()
            assert (await budget.usage()).day_used == 5
    finally:
        for hub in hubs:
            await hub.stop()
        keys = [k async for k in raw.scan_iter("hub:*")]
        if keys:
            await raw.delete(*keys)
