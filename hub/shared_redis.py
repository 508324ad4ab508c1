"""``RedisState``: the hub's shared state (``hub.shared.SharedState``) in Redis, for many processes.

- **Budgets** are one Lua script per check, so the check and the spend are one
  atomic step on the server: N processes spending against a limit of L never
  exceed L together. The minute window is a sorted set of calls (exact, like
  ``ApiBudget``); the day window counts calls per minute in a hash (at most
  1,440 fields, however many calls). Time is the Redis server's clock, so
  workers on several machines share one notion of "the last minute".
- **Tokens** are stored sealed with the hub's ``SecretBox`` (Fernet under the
  master key): no plaintext access token sits in Redis or its snapshots.
  Every process must therefore share the master key (``HUB_SECRET_KEY``).
- **Locks** are redis-py's ``Lock`` (``SET NX PX`` with a random token, released
  by a compare-and-delete script), with a time to live so a killed holder
  blocks the others for at most that long.

When Redis stops answering, nothing stops: budgets are counted and tokens
cached in this process (``LocalState``), with one warning per outage, and
Redis is tried again every ``retry_interval`` seconds. Deliveries go on, at
the price that N processes may together spend up to N times a budget (the
vendor's own 429s, which are retried, still protect the account) and each may
refresh its own token once. A wrong master key or URL is an error, not a
reason to degrade.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.lock import Lock
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from hub.errors import ConfigError, TransientError
from hub.secrets import SecretBox
from hub.shared import LocalState, Spend, StateHealth

__all__ = ["RedisState", "redact_url"]

log = logging.getLogger("hub.shared")
T = TypeVar("T")

# Redis is "unavailable" (degrade) on these; any other Redis error is a bug to surface.
_UNAVAILABLE = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    OSError,
)

# KEYS[1]: the minute window, a sorted set with one member per call scored by its time (ms).
# KEYS[2]: the day window, a hash: calls per minute index, plus 'first' (oldest index that
#          may hold calls), 'total' (calls in the window) and 'seq' (makes members unique).
# ARGV: now in ms ('' = the server's clock), cost, per_minute (-1: none), per_day (-1: none),
#       commit ('1': spend if it fits, '0': only look).
# Returns {granted (0/1), wait in ms, calls in the minute window, calls in the day window}.
_SPEND = """
if redis.replicate_commands then redis.replicate_commands() end
local MINUTE, DAY = 60000, 86400000
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local cost, per_minute, per_day = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local commit = ARGV[5] == '1'
local function field(n) return string.format('%d', n) end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - MINUTE)
local minute_used = redis.call('ZCARD', KEYS[1])

local index = math.floor(now / MINUTE)
local horizon = math.floor((now - DAY) / MINUTE)
local head = redis.call('HMGET', KEYS[2], 'first', 'total')
local first = tonumber(head[1]) or index
local total = tonumber(head[2]) or 0
local dirty = false
if horizon - first >= 1440 then
  -- Idle for over a day: every bucket has expired.
  redis.call('DEL', KEYS[2])
  first, total, dirty = index, 0, head[1] ~= false
else
  while first <= horizon do
    local calls = tonumber(redis.call('HGET', KEYS[2], field(first)))
    if calls then
      total = total - calls
      redis.call('HDEL', KEYS[2], field(first))
    end
    first = first + 1
    dirty = true
  end
end

local wait = 0
if per_minute >= 0 and minute_used + cost > per_minute then
  local k = math.min(minute_used + cost - per_minute, minute_used)
  if k >= 1 then
    local oldest = redis.call('ZRANGE', KEYS[1], k - 1, k - 1, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + MINUTE - now)
  else
    wait = math.max(wait, MINUTE)
  end
end
if per_day >= 0 and total + cost > per_day then
  local need, freed, m, found = total + cost - per_day, 0, first, false
  while m <= index do
    local calls = tonumber(redis.call('HGET', KEYS[2], field(m)))
    if calls then
      freed = freed + calls
      if freed >= need then
        wait = math.max(wait, (m + 1) * MINUTE + DAY - now)
        found = true
        break
      end
    end
    m = m + 1
  end
  if not found then wait = math.max(wait, MINUTE) end
end

local granted = 0
if commit and cost > 0 and wait <= 0 then
  granted = 1
  local seq = redis.call('HINCRBY', KEYS[2], 'seq', cost)
  for i = 1, cost do
    redis.call('ZADD', KEYS[1], now, field(now) .. ':' .. field(seq - cost + i))
  end
  redis.call('PEXPIRE', KEYS[1], MINUTE + 1000)
  redis.call('HINCRBY', KEYS[2], field(index), cost)
  minute_used, total, dirty = minute_used + cost, total + cost, true
end
if dirty then
  redis.call('HSET', KEYS[2], 'first', field(first), 'total', field(total))
  redis.call('PEXPIRE', KEYS[2], DAY + 2 * MINUTE)
end
return {granted, math.ceil(wait), minute_used, total}
"""

# Delete KEYS[1] only if its value still starts with ARGV[1] (the fingerprint of what we saw).
_DROP_IF_SAME = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs and errors)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def _fingerprint(value: str) -> str:
    """A one-way tag of a cached value, so it can be compared in Redis without revealing it."""
    return hashlib.sha256(value.encode()).hexdigest()[:32] + ":"


class RedisState:
    """Budgets, sealed tokens and locks in Redis, falling back to this process when it is down.

    Args:
        url: ``redis://``, ``rediss://`` or ``unix://`` URL (a database number may follow).
        box: seals cached tokens; every process must use the same master key.
        prefix: namespace of every key (tests use a random one).
        clock: wall-clock seconds for budget windows; ``None`` uses the Redis server's
            clock (the right choice: one clock for every process).
        retry_interval: after a failure, Redis is left alone this many seconds.
        timeout: seconds to connect and to wait for one answer.
        max_connections: connections this process opens at most; more concurrent
            calls queue for one (a worker runs up to 100 steps at once).

    Raises:
        ConfigError: ``url`` is not a Redis URL.
    """

    distributed = True

    def __init__(
        self,
        url: str,
        box: SecretBox,
        *,
        prefix: str = "hub:",
        clock: Callable[[], float] | None = None,
        retry_interval: float = 5.0,
        timeout: float = 2.0,
        max_connections: int = 16,
    ) -> None:
        self.url = redact_url(url)
        self.prefix = prefix
        self.clock = clock
        self.retry_interval = retry_interval
        self._box = box
        try:
            pool = BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=max(10 * timeout, 10.0),  # waiting for a busy pool is not an outage
                decode_responses=True,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                # One quick retry covers a pooled connection that a Redis restart closed;
                # more would only delay the fallback while Redis is really down.
                retry=Retry(NoBackoff(), 1),
            )
        except ValueError as exc:
            raise ConfigError(
                f"redis_url {self.url!r} is not a Redis URL ({exc}); write e.g. "
                "redis://127.0.0.1:6379/1, rediss://user:pass@host:6380/0 or unix:///run/redis.sock"
            ) from exc
        self._client = Redis(connection_pool=pool)
        self._spend = self._client.register_script(_SPEND)
        self._drop = self._client.register_script(_DROP_IF_SAME)
        self._local = LocalState()
        self._down_until = 0.0
        self._down = False

    @property
    def health(self) -> StateHealth:
        return "degraded" if self._down else "ok"

    def _key(self, kind: str, key: str, part: str = "") -> str:
        # The braces are a Redis Cluster hash tag: one budget's keys share a slot.
        return f"{self.prefix}{kind}:{{{key}}}{part}"

    async def open(self) -> None:
        """Check that Redis answers; if not, log why and start degraded (never raises)."""
        try:
            await self._client.ping()
        except _UNAVAILABLE as exc:
            self._went_down(exc, "connecting")
        else:
            log.info("shared state (API budgets, OAuth tokens) in Redis at %s", self.url)

    async def close(self) -> None:
        await self._client.aclose(close_connection_pool=True)

    # --- availability -------------------------------------------------------------------

    async def _guarded(
        self, what: str, op: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]]
    ) -> T:
        """``op()`` against Redis, or ``fallback()`` in this process while Redis is down."""
        if self._down and time.monotonic() < self._down_until:
            return await fallback()
        try:
            result = await op()
        except _UNAVAILABLE as exc:
            self._went_down(exc, what)
            return await fallback()
        self._came_back()
        return result

    def _went_down(self, exc: BaseException, what: str) -> None:
        self._down_until = time.monotonic() + self.retry_interval
        if self._down:
            return
        self._down = True
        log.error(
            "Redis at %s is unavailable (%s while %s: %s). Until it answers again, API "
            "budgets are counted and OAuth tokens cached in this process only: several "
            "processes may together exceed a vendor's budget (its 429s are retried) and each "
            "refreshes its own token. Retrying every %gs.",
            self.url,
            type(exc).__name__,
            what,
            exc,
            self.retry_interval,
        )

    def _came_back(self) -> None:
        if self._down:
            self._down = False
            log.warning(
                "Redis at %s answers again: API budgets and OAuth tokens are shared", self.url
            )

    # --- budgets ------------------------------------------------------------------------

    async def spend(
        self, key: str, cost: int, per_minute: int | None, per_day: int | None, *, commit: bool
    ) -> Spend:
        async def remote() -> Spend:
            now = "" if self.clock is None else str(int(self.clock() * 1000))
            args: list[str | int] = [
                now,
                cost,
                -1 if per_minute is None else per_minute,
                -1 if per_day is None else per_day,
                "1" if commit else "0",
            ]
            keys = [self._key("budget", key, ":minute"), self._key("budget", key, ":day")]
            granted, wait_ms, minute_used, day_used = await self._spend(keys=keys, args=args)
            return Spend(bool(granted), int(wait_ms) / 1000, int(minute_used), int(day_used))

        async def local() -> Spend:
            return self._local.spend_now(key, cost, per_minute, per_day, commit=commit)

        return await self._guarded(f"spending budget {key}", remote, local)

    # --- tokens -------------------------------------------------------------------------

    async def get_token(self, key: str) -> tuple[str, float] | None:
        async def remote() -> tuple[str, float] | None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.get(self._key("token", key))
                pipe.pttl(self._key("token", key))
                stored, ttl_ms = await pipe.execute()
            if stored is None or ttl_ms <= 0:
                return None
            return self._unseal(key, stored), ttl_ms / 1000

        return await self._guarded(
            f"reading token {key}", remote, lambda: self._local.get_token(key)
        )

    async def put_token(self, key: str, value: str, ttl: float) -> None:
        if ttl <= 0:
            return

        async def remote() -> None:
            stored = _fingerprint(value) + self._box.seal(value)
            await self._client.set(self._key("token", key), stored, px=max(int(ttl * 1000), 1))

        await self._guarded(
            f"caching token {key}", remote, lambda: self._local.put_token(key, value, ttl)
        )

    async def drop_token(self, key: str, value: str) -> None:
        async def remote() -> None:
            await self._drop(keys=[self._key("token", key)], args=[_fingerprint(value)])

        await self._guarded(
            f"dropping token {key}", remote, lambda: self._local.drop_token(key, value)
        )

    def _unseal(self, key: str, stored: str) -> str:
        _, _, sealed = stored.partition(":")
        if not sealed.startswith(SecretBox.PREFIX):
            raise TransientError(
                f"the token cached in Redis under {key!r} is not sealed by a hub; "
                "delete that key and let the hub refresh it",
                retry_after=60,
            )
        try:
            return self._box.open(sealed)
        except ConfigError:
            # Retried, not dead-lettered: it is a deployment mistake that ops can fix,
            # and refreshing here instead would make the processes overwrite each
            # other's tokens and trip the vendor's refresh limit.
            raise TransientError(
                f"the token cached in Redis under {key!r} was sealed with another master key: "
                "give every hub process the same HUB_SECRET_KEY (or key file)",
                retry_after=60,
            ) from None

    # --- locks --------------------------------------------------------------------------

    def single_flight(self, key: str, ttl: float = 60.0) -> AbstractAsyncContextManager[None]:
        return self._hold(key, ttl)

    @asynccontextmanager
    async def _hold(self, key: str, ttl: float) -> AsyncIterator[None]:
        lock = Lock(
            self._client,
            self._key("lock", key),
            timeout=ttl,
            sleep=0.05,
            # A dead holder's lock lapses after ttl: by then, plus a few polls, it is ours.
            blocking_timeout=ttl + 1.0,
            thread_local=False,
        )
        acquired = False
        if not (self._down and time.monotonic() < self._down_until):
            try:
                acquired = await lock.acquire()
            except _UNAVAILABLE as exc:
                self._went_down(exc, f"locking {key}")
            else:
                self._came_back()
                if not acquired:
                    raise TransientError(
                        f"another hub process has held the lock on {key!r} past its {ttl:g}s; "
                        "trying again later",
                        retry_after=ttl,
                    )
        if not acquired:  # Redis is down: one holder per process is the best left
            async with self._local.single_flight(key, ttl):
                yield
            return
        try:
            yield
        finally:
            try:
                await lock.release()
            except redis_errors.LockNotOwnedError:
                log.warning(
                    "held the lock on %s longer than its %gs time to live; another process "
                    "may have done the same work meanwhile",
                    key,
                    ttl,
                )
            except _UNAVAILABLE:
                pass  # the lock lapses by itself after ttl
