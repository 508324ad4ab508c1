"""State that every hub process must agree on: API budgets, OAuth tokens, single-flight locks.

With the inline engine one process does all the work, so ``LocalState`` (plain
memory) is enough. With ``engine: celery`` many ``hub worker`` processes call
the same vendors at once; if each counted its own calls, four workers would
spend four times Zoho's per-minute budget, and if each refreshed its own
OAuth token they would trip Zoho's 10-refreshes-per-10-minutes limit. Then
``RedisState`` (``hub.shared_redis``) keeps the same three things in Redis:

1. **budget windows**: calls in the last minute and the last 24 hours per
   budget key, checked and spent in one atomic step, so N processes spending
   against a limit of L never exceed L together;
2. **a token cache**: short strings with a time to live (sealed with the hub's
   master key in Redis), deleted only if unchanged (``drop_token``);
3. **single-flight locks**: one holder per key across processes, released
   only by its holder, lapsing on their own if the holder dies.

``shared_state(config, box)`` picks the backend from ``hub.yaml``:
``redis_url``, else the Celery broker when ``engine: celery`` uses Redis, else
in-process. See docs/shared-state.md for keys, TTLs and failure behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol
from weakref import WeakValueDictionary

from hub.limits import ApiBudget, BudgetUsage

if TYPE_CHECKING:
    from hub.config import HubConfig
    from hub.secrets import SecretBox

__all__ = [
    "LocalState",
    "SharedState",
    "Spend",
    "StateHealth",
    "shared_state",
    "shared_state_url",
]

log = logging.getLogger("hub.shared")

StateHealth = Literal["in-process", "ok", "degraded"]


@dataclass(frozen=True, slots=True)
class Spend:
    """The answer of one check (and maybe spend) against a budget's windows.

    Attributes:
        granted: the calls were spent (always false for a look that spends nothing).
        wait: seconds until the asked-for calls would fit (0: they fit now).
        minute_used: calls in the last 60 s, after this spend.
        day_used: calls in the last 24 h, after this spend.
    """

    granted: bool
    wait: float
    minute_used: int
    day_used: int

    def usage(self, per_minute: int | None, per_day: int | None) -> BudgetUsage:
        return BudgetUsage(self.minute_used, per_minute, self.day_used, per_day)


class SharedState(Protocol):
    """What the hub keeps in common between its processes (one instance per process).

    Keys are plain strings chosen by the caller (``zoho_books:60012345678``);
    a backend namespaces them itself.
    """

    @property
    def distributed(self) -> bool:
        """True when other processes see the same state (Redis), false for in-process."""
        ...

    @property
    def health(self) -> StateHealth:
        """``in-process``, ``ok`` (Redis answering) or ``degraded`` (counting locally for now)."""
        ...

    async def open(self) -> None:
        """Connect (a backend that cannot says so in the log and degrades; it never raises)."""
        ...

    async def close(self) -> None: ...

    async def spend(
        self, key: str, cost: int, per_minute: int | None, per_day: int | None, *, commit: bool
    ) -> Spend:
        """Check whether ``cost`` calls fit both windows of ``key`` and, if ``commit``, spend them.

        Check and spend are one atomic step: no other process can spend in between.
        """
        ...

    async def get_token(self, key: str) -> tuple[str, float] | None:
        """The cached value of ``key`` and the seconds it has left, or None."""
        ...

    async def put_token(self, key: str, value: str, ttl: float) -> None:
        """Cache ``value`` under ``key`` for ``ttl`` seconds (replacing what was there)."""
        ...

    async def drop_token(self, key: str, value: str) -> None:
        """Delete ``key`` only if it still holds ``value`` (so a newer value survives)."""
        ...

    def single_flight(self, key: str, ttl: float = 60.0) -> AbstractAsyncContextManager[None]:
        """Hold ``key``'s lock for the block; others wait up to ``ttl`` for it.

        The lock lapses by itself ``ttl`` seconds after it was taken, so a
        process killed while holding it blocks the others for at most that long.

        Raises:
            TransientError: the lock could not be had within ``ttl`` seconds.
        """
        ...


class LocalState:
    """In-process shared state: the inline engine's, and ``RedisState``'s fallback.

    Args:
        clock: monotonic seconds for budget windows and token lifetimes
            (injectable so tests can age them).
    """

    distributed = False

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._budgets: dict[str, ApiBudget] = {}
        self._tokens: dict[str, tuple[str, float]] = {}  # key -> (value, expires at)
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    @property
    def health(self) -> StateHealth:
        return "in-process"

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release: the counts and tokens die with the process."""

    async def spend(
        self, key: str, cost: int, per_minute: int | None, per_day: int | None, *, commit: bool
    ) -> Spend:
        return self.spend_now(key, cost, per_minute, per_day, commit=commit)

    def spend_now(
        self, key: str, cost: int, per_minute: int | None, per_day: int | None, *, commit: bool
    ) -> Spend:
        """``spend`` without awaiting (it never waits for anything in-process)."""
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = ApiBudget(clock=self.clock)
        budget.per_minute, budget.per_day = per_minute, per_day
        wait = budget.wait_time(cost)
        granted = commit and wait == 0 and cost > 0
        if granted:
            budget.take(cost)
        usage = budget.usage()
        return Spend(granted, wait, usage.minute_used, usage.day_used)

    async def get_token(self, key: str) -> tuple[str, float] | None:
        hit = self._tokens.get(key)
        if hit is None:
            return None
        value, expires_at = hit
        left = expires_at - self.clock()
        if left <= 0:
            del self._tokens[key]
            return None
        return value, left

    async def put_token(self, key: str, value: str, ttl: float) -> None:
        if ttl > 0:
            self._tokens[key] = (value, self.clock() + ttl)

    async def drop_token(self, key: str, value: str) -> None:
        hit = self._tokens.get(key)
        if hit is not None and hit[0] == value:
            del self._tokens[key]

    def single_flight(self, key: str, ttl: float = 60.0) -> AbstractAsyncContextManager[None]:
        return self._hold(key)

    @asynccontextmanager
    async def _hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:
            yield


def shared_state_url(config: HubConfig) -> str | None:
    """The Redis URL for shared state: ``redis_url``, else a Redis Celery broker, else None.

    ``config.celery`` is read defensively so this works with configs from before
    the ``celery:`` section existed.
    """
    if config.redis_url:
        return config.redis_url
    if config.engine != "celery":
        return None
    broker = getattr(getattr(config, "celery", None), "broker_url", None)
    if isinstance(broker, str) and broker.startswith(("redis://", "rediss://", "unix://")):
        return broker
    log.warning(
        "engine: celery with a non-Redis broker and no redis_url: API budgets and OAuth "
        "tokens are kept per worker process, so N workers may spend N times a vendor's "
        "budget; set redis_url in hub.yaml to share them"
    )
    return None


def shared_state(config: HubConfig, box: SecretBox) -> SharedState:
    """The backend ``config`` asks for (not yet opened).

    Raises:
        ConfigError: the Redis URL cannot be parsed.
    """
    url = shared_state_url(config)
    if url is None:
        return LocalState()
    from hub.shared_redis import RedisState  # only deployments with Redis load its client

    return RedisState(url, box)
