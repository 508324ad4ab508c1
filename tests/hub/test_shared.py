"""Shared state in one process: ``Budget`` over ``LocalState``, ``TokenGate``, backend choice."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connectors.zoho_books import ZohoBooksConfig, ZohoBooksSession
from hub.app import load_hub
from hub.config import HubConfig
from hub.errors import ConfigError, TransientError
from hub.http import HttpClient
from hub.limits import Budget, Throttled
from hub.registry import Registry
from hub.secrets import SecretBox
from hub.shared import LocalState, shared_state, shared_state_url
from hub.shared_redis import RedisState, redact_url
from hub.tokens import Grant, TokenGate
from tests.helpers import hub_config


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def box() -> SecretBox:
    return SecretBox(Fernet.generate_key())


# --- budgets -----------------------------------------------------------------------------


async def test_budget_waits_like_the_sliding_window_and_says_for_what() -> None:
    clock = Clock()
    budget = Budget("zoho_books:1", LocalState(clock), per_minute=3, per_day=100)
    for _ in range(3):
        await budget.take()
        clock.now += 1
    assert await budget.wait_time() == pytest.approx(57)
    with pytest.raises(Throttled) as info:
        await budget.take(what="Zoho Books organization 1")
    assert info.value.retry_after == pytest.approx(57)
    assert "Zoho Books organization 1" in str(info.value) and "3/3 this minute" in str(info.value)
    usage = await budget.usage()
    assert (usage.minute_used, usage.day_used) == (3, 3)  # the refused call was not counted
    clock.now += 57
    await budget.take()


async def test_budgets_with_one_key_share_one_pot_and_keys_are_separate() -> None:
    clock = Clock()
    state = LocalState(clock)
    a = Budget("zoho_books:1", state, per_day=4)
    b = Budget("zoho_books:1", state, per_day=4)  # another connection to the same org
    other = Budget("zoho_books:2", state, per_day=4)
    for _ in range(2):
        await a.take()
        await b.take()
    with pytest.raises(Throttled):
        await a.take()
    await other.take()
    assert (await b.usage()).day_used == 4 and (await other.usage()).day_used == 1


async def test_budget_reads_its_limits_at_each_call_and_alerts_at_the_fraction() -> None:
    budget = Budget("k", LocalState(Clock()), per_day=10)
    for _ in range(7):
        await budget.take()
    assert not budget.alerting(await budget.usage())
    await budget.take()
    assert budget.alerting(await budget.usage())  # 8 of 10
    budget.per_day = 100
    assert not budget.alerting(await budget.usage())
    budget.per_minute = 8
    assert await budget.wait_time() > 0
    with pytest.raises(ValueError, match="can never fit"):
        await budget.take(9)


# --- which backend ------------------------------------------------------------------------


def test_the_backend_follows_redis_url_then_a_redis_celery_broker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert shared_state_url(HubConfig()) is None
    assert isinstance(shared_state(HubConfig(), box()), LocalState)
    explicit = HubConfig.model_validate({"redis_url": "redis://127.0.0.1:6390/2"})
    assert shared_state_url(explicit) == "redis://127.0.0.1:6390/2"
    celery = HubConfig.model_validate({"engine": "celery"})
    assert shared_state_url(celery) == celery.celery.broker_url  # the default Redis broker
    both = HubConfig.model_validate({"engine": "celery", "redis_url": "redis://h:1/3"})
    assert shared_state_url(both) == "redis://h:1/3"
    amqp = HubConfig.model_validate(
        {"engine": "celery", "celery": {"broker_url": "amqp://guest@127.0.0.1//"}}
    )
    with caplog.at_level(logging.WARNING, logger="hub.shared"):
        assert shared_state_url(amqp) is None
    assert "set redis_url" in caplog.text


def test_a_redis_url_makes_a_redis_backend_and_a_bad_one_is_a_config_error() -> None:
    state = shared_state(HubConfig.model_validate({"redis_url": "redis://127.0.0.1:1/0"}), box())
    assert isinstance(state, RedisState) and state.distributed
    with pytest.raises(ConfigError, match="not a Redis URL"):
        RedisState("http://127.0.0.1:6379", box())
    assert redact_url("redis://u:pa55@h:6380/1") == "redis://u:***@h:6380/1"
    assert redact_url("redis://h:6380/1") == "redis://h:6380/1"


async def test_the_hub_gives_every_session_its_shared_state(tmp_path: Path) -> None:
    doc = hub_config(tmp_path, "http://127.0.0.1:9", [])
    hub = load_hub(
        HubConfig.model_validate({**doc, "base_dir": str(tmp_path)}), Registry.from_entry_points()
    )
    await hub.start(run_engine=False, run_pollers=False)
    try:
        session = hub.connections.require("books").session
        assert isinstance(session, ZohoBooksSession) and isinstance(hub.shared, LocalState)
        assert session.shared is hub.shared and session.budget is not None
        assert session.budget.state is hub.shared and session.oauth.gate.state is hub.shared
    finally:
        await hub.stop()


# --- tokens --------------------------------------------------------------------------------


class Vendor:
    """Counts token requests; each answer is a new token (optionally slow, or failing)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0
        self.fail: Exception | None = None

    async def fetch(self) -> Grant:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return Grant(f"token-{self.calls}", 3300.0, {"api_domain": "https://api"})


async def test_gates_sharing_state_make_one_fetch_between_them() -> None:
    state, vendor = LocalState(), Vendor(delay=0.02)
    gates = [TokenGate("zoho:r1", vendor.fetch, state=state) for _ in range(2)]
    grants = await asyncio.gather(*(gates[i % 2].get() for i in range(20)))
    assert vendor.calls == 1 and {g.token for g in grants} == {"token-1"}
    assert grants[0].extra == {"api_domain": "https://api"}


async def test_a_refused_token_is_replaced_once_for_every_gate() -> None:
    state, vendor = LocalState(), Vendor()
    first, second = (TokenGate("zoho:r1", vendor.fetch, state=state) for _ in range(2))
    stale = (await first.get()).token
    assert (await second.get()).token == stale and vendor.calls == 1
    # Both gates are told the token was refused (a 401 each): one new token in all.
    renewed = await asyncio.gather(first.replace(stale), second.replace(stale))
    assert {g.token for g in renewed} == {"token-2"} and vendor.calls == 2
    assert (await second.replace(stale)).token == "token-2" and vendor.calls == 2


async def test_waiters_behind_a_failed_fetch_fail_alike_then_the_next_call_retries() -> None:
    vendor = Vendor(delay=0.02)
    vendor.fail = TransientError("accounts server failed (503)", 503, None, 7.0)
    gate = TokenGate("zoho:r1", vendor.fetch, state=LocalState())
    results = await asyncio.gather(*(gate.get() for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, TransientError) and r.status == 503 for r in results)
    assert vendor.calls == 1
    vendor.fail = None
    assert (await gate.get()).token == "token-2"  # in one process, no failure note lingers


async def test_gate_clock_ages_its_own_copy() -> None:
    clock, vendor = Clock(), Vendor()
    gate = TokenGate("zoho:r1", vendor.fetch, clock=clock)
    await gate.get()
    clock.now += 3299
    assert (await gate.get()).token == "token-1"
    clock.now += 2
    assert (await gate.get()).token == "token-2" and vendor.calls == 2


def test_grant_text_round_trips_and_junk_is_no_grant() -> None:
    grant = Grant("t", 10.0, {"instance_url": "https://x"})
    assert Grant.loads(grant.dumps(), 5.0) == Grant("t", 5.0, {"instance_url": "https://x"})
    for junk in ("", "[]", '{"token": 3}', '{"extra": {}}', "not json"):
        assert Grant.loads(junk, 1.0) is None


async def test_sessions_built_alone_count_in_their_own_process(tmp_path: Path) -> None:
    config = ZohoBooksConfig(
        organization_id="7", client_id="c", client_secret="s", refresh_token="r"
    )
    async with HttpClient() as http:
        session = ZohoBooksSession(config, "books", http)
        assert session.shared is None and session.budget is not None
        assert isinstance(session.budget.state, LocalState)
        assert session.budget.key == "zoho_books:7"
        state = LocalState()
        session.share(state)
        assert session.budget.state is state and session.oauth.gate.state is state
