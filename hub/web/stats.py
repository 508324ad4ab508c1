"""The overview's numbers: events and deliveries per time bucket, latency, backlog, failures.

Every figure is one ``GROUP BY`` over an indexed time range (``events``
by ``received_at``, ``attempts`` by ``started_at``), bucketed in SQL by
epoch seconds so the same query runs on SQLite and PostgreSQL and returns
at most one row per (bucket, outcome, latency class). Latency percentiles are
read off that histogram (log-spaced classes, interpolated inside a class):
exact to within a class, which is what a chart can show anyway, and cheap
however many attempts there are.

``OverviewStats`` caches each window briefly, so a wall of dashboards
refreshing at once costs the store one query set per window.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import sqlalchemy as sa

from hub.store import Store
from hub.store.tables import attempts, events, steps

__all__ = [
    "LATENCY_BOUNDS",
    "WINDOWS",
    "Backlog",
    "ConnectionHealth",
    "OverviewStats",
    "Series",
    "Window",
    "latency_class_of",
    "percentile",
]

T = TypeVar("T")

#: Upper bounds (ms) of the latency classes; the last class is everything slower.
LATENCY_BOUNDS = (5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 120_000)
OK_OUTCOMES = ("ok", "skipped")
RETRY_OUTCOMES = ("transient",)
FAILED_OUTCOMES = ("permanent",)


@dataclass(frozen=True, slots=True)
class Window:
    """A chart's span: ``buckets`` buckets of ``bucket_seconds`` ending now."""

    key: str
    label: str
    bucket_seconds: int
    buckets: int
    cache_seconds: float

    @property
    def span(self) -> timedelta:
        return timedelta(seconds=self.bucket_seconds * self.buckets)


WINDOWS = {
    "hour": Window("hour", "last hour", 60, 60, 5.0),
    "day": Window("day", "last 24 hours", 900, 96, 30.0),
}


@dataclass(frozen=True, slots=True)
class Series:
    """Per-bucket figures of one window, oldest bucket first."""

    window: Window
    starts: list[datetime]
    events: list[int]
    ok: list[int]
    retried: list[int]
    failed: list[int]
    p50: list[float | None]
    p95: list[float | None]
    overall_p50: float | None
    overall_p95: float | None

    @property
    def totals(self) -> dict[str, int]:
        return {
            "events": sum(self.events),
            "ok": sum(self.ok),
            "retried": sum(self.retried),
            "failed": sum(self.failed),
        }


@dataclass(frozen=True, slots=True)
class ConnectionHealth:
    """A sink connection's recent trouble: failed attempts in the last hour, dead letters now."""

    connection: str
    retried_last_hour: int
    failed_last_hour: int
    dead_now: int


@dataclass(frozen=True, slots=True)
class Backlog:
    due_now: int  # pending steps whose time has come (the queue's length)
    waiting: int  # pending steps due later (retries in backoff)
    dead: int  # dead letters waiting for a human


def percentile(histogram: list[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of durations counted per ``LATENCY_BOUNDS`` class."""
    total = sum(histogram)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(histogram):
        if count and seen + count >= rank:
            lower = 0.0 if i == 0 else float(LATENCY_BOUNDS[i - 1])
            upper = float(LATENCY_BOUNDS[i]) if i < len(LATENCY_BOUNDS) else lower * 2
            return lower + (upper - lower) * max(0.0, rank - seen) / count
        seen += count
    return float(LATENCY_BOUNDS[-1]) * 2


def _epoch_bucket(column: Any, seconds: int, dialect: str) -> Any:
    """Whole ``seconds``-long buckets since the epoch, as an integer SQL expression."""
    if dialect == "sqlite":
        # UTCDateTime keeps ISO text; its first 19 characters are what strftime reads.
        epoch = sa.cast(sa.func.strftime("%s", sa.func.substr(column, 1, 19)), sa.BigInteger)
        return sa.cast(epoch / seconds, sa.BigInteger)
    return sa.cast(sa.func.floor(sa.extract("epoch", column) / seconds), sa.BigInteger)


def _latency_class(column: Any) -> Any:
    return sa.case(
        *((column < bound, i) for i, bound in enumerate(LATENCY_BOUNDS)),
        else_=len(LATENCY_BOUNDS),
    )


def _series(conn: sa.Connection, window: Window, now: datetime) -> Series:
    size = window.bucket_seconds
    last = int(now.timestamp()) // size
    first = last - window.buckets + 1
    since = datetime.fromtimestamp(first * size, UTC)
    dialect = conn.dialect.name
    index = {b: i for i, b in enumerate(range(first, last + 1))}

    n_events = [0] * window.buckets
    ev_bucket = _epoch_bucket(events.c.received_at, size, dialect).label("b")
    for b, n in conn.execute(
        sa.select(ev_bucket, sa.func.count())
        .where(events.c.received_at >= since)
        .group_by(ev_bucket)
    ):
        if b in index:
            n_events[index[b]] += n

    ok, retried, failed = [0] * window.buckets, [0] * window.buckets, [0] * window.buckets
    classes = len(LATENCY_BOUNDS) + 1
    hist = [[0] * classes for _ in range(window.buckets)]
    at_bucket = _epoch_bucket(attempts.c.started_at, size, dialect).label("b")
    lat = _latency_class(attempts.c.duration_ms).label("c")
    query = (
        sa.select(at_bucket, attempts.c.outcome, lat, sa.func.count())
        .where(attempts.c.started_at >= since)
        .group_by(at_bucket, attempts.c.outcome, lat)
    )
    for b, outcome, cls, n in conn.execute(query):
        i = index.get(b)
        if i is None:
            continue
        if outcome in OK_OUTCOMES:
            ok[i] += n
        elif outcome in RETRY_OUTCOMES:
            retried[i] += n
        elif outcome in FAILED_OUTCOMES:
            failed[i] += n
        if outcome != "throttled" and outcome != "skipped":
            hist[i][int(cls)] += n
    overall = [sum(h[c] for h in hist) for c in range(classes)]
    return Series(
        window=window,
        starts=[datetime.fromtimestamp(b * size, UTC) for b in range(first, last + 1)],
        events=n_events,
        ok=ok,
        retried=retried,
        failed=failed,
        p50=[percentile(h, 0.5) for h in hist],
        p95=[percentile(h, 0.95) for h in hist],
        overall_p50=percentile(overall, 0.5),
        overall_p95=percentile(overall, 0.95),
    )


def _health(conn: sa.Connection, now: datetime) -> list[ConnectionHealth]:
    since = now - timedelta(hours=1)
    trouble: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    recent = (
        sa.select(steps.c.connection, attempts.c.outcome, sa.func.count())
        .select_from(attempts.join(steps, steps.c.id == attempts.c.step_row_id))
        .where(
            attempts.c.started_at >= since,
            attempts.c.outcome.in_(RETRY_OUTCOMES + FAILED_OUTCOMES),
        )
        .group_by(steps.c.connection, attempts.c.outcome)
    )
    for name, outcome, n in conn.execute(recent):
        trouble[name][0 if outcome in RETRY_OUTCOMES else 1] += n
    dead = (
        sa.select(steps.c.connection, sa.func.count())
        .where(steps.c.status == "dead")
        .group_by(steps.c.connection)
    )
    for name, n in conn.execute(dead):
        trouble[name][2] += n
    found = [ConnectionHealth(name, r, f, d) for name, (r, f, d) in trouble.items()]
    return sorted(found, key=lambda h: (-h.dead_now, -h.failed_last_hour, -h.retried_last_hour))


def _backlog(conn: sa.Connection, now: datetime) -> Backlog:
    pending = steps.c.status == "pending"
    due = conn.execute(
        sa.select(sa.func.count()).select_from(steps).where(pending, steps.c.due_at <= now)
    ).scalar_one()
    waiting = conn.execute(
        sa.select(sa.func.count()).select_from(steps).where(pending, steps.c.due_at > now)
    ).scalar_one()
    dead = conn.execute(
        sa.select(sa.func.count()).select_from(steps).where(steps.c.status == "dead")
    ).scalar_one()
    return Backlog(int(due), int(waiting), int(dead))


@dataclass
class OverviewStats:
    """Reads the overview's figures from the store, caching each for a few seconds."""

    store: Store
    _cache: dict[str, tuple[float, Any]] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def series(self, key: str) -> Series:
        window = WINDOWS[key]
        return await self._cached(
            key,
            window.cache_seconds,
            lambda now: self.store.run_read(lambda c: _series(c, window, now)),
        )

    async def health(self) -> list[ConnectionHealth]:
        return await self._cached(
            "health", 5.0, lambda now: self.store.run_read(lambda c: _health(c, now))
        )

    async def backlog(self) -> Backlog:
        return await self._cached(
            "backlog", 2.0, lambda now: self.store.run_read(lambda c: _backlog(c, now))
        )

    async def _cached(self, key: str, ttl: float, load: Callable[[datetime], Awaitable[T]]) -> T:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # concurrent viewers wait for one query instead of each running it
            hit = self._cache.get(key)
            if hit is not None and time.monotonic() - hit[0] < ttl:
                return cast(T, hit[1])
            value = await load(datetime.now(UTC))
            self._cache[key] = (time.monotonic(), value)
            return value


def latency_class_of(ms: float) -> int:
    """The class index ``ms`` falls in (for tests and the histogram's legend)."""
    return bisect.bisect_right(LATENCY_BOUNDS, ms)
