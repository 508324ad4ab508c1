"""The poller: runs every polling source of every enabled connection on its interval.

Each poll's events and its new cursor are saved in one transaction
(``Store.save_poll``), so a crash between the two cannot skip or repeat a
page beyond what idempotency keys absorb. Errors back off (honouring a
vendor's ``Retry-After``) instead of hammering the vendor; an ``AuthError``
flags the connection for re-authorization. The last outcome of every poller is
kept in the connection's state for ``hub connections list``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.connections import ConnectionSet, LiveConnection
from hub.connector import Page, PollContext, PollingSource
from hub.dispatch import Dispatcher
from hub.errors import AuthError, HubError, TransientError
from hub.events import utcnow
from hub.metrics import Metrics
from hub.recipes import Recipe
from hub.router import route
from hub.store import IngestItem, Store

__all__ = ["PollOutcome", "Poller", "poll_once"]

log = logging.getLogger("hub.poller")

MAX_BACKOFF = 900.0


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll did: events stored (new ones), whether to poll again at once."""

    stored: int
    duplicates: int
    more: bool
    cursor: Any


async def poll_once(
    store: Store,
    conn: LiveConnection,
    source: PollingSource[Any, Any],
    recipes: Sequence[Recipe],
    cursor: Any,
    cursor_name: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> PollOutcome:
    """Poll ``source`` once from ``cursor`` and save its events and new cursor together.

    ``cursor_name`` lets a backfill keep its own cursor beside the live one.
    """
    ctx = PollContext(connection=conn.name, http=conn.http, now=clock(), session=conn.session)
    page: Page[Any] = await source.poll(cursor, ctx)
    now = clock()
    items = []
    for event in page.events:
        bound = event.bind(conn.name, conn.connector.name)
        items.append(IngestItem(bound, route(bound, recipes, now)))
    flags = await store.save_poll(conn.name, cursor_name or source.name, items, page.cursor)
    new = sum(1 for f in flags if f)
    return PollOutcome(new, len(flags) - new, page.more, page.cursor)


class Poller:
    """Runs the polling loops of one hub process."""

    def __init__(
        self,
        store: Store,
        connections: ConnectionSet,
        recipes: Callable[[], Sequence[Recipe]],
        dispatcher: Dispatcher | None,
        metrics: Metrics | None = None,
        intervals: dict[str, float] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.connections = connections
        self.recipes = recipes
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.intervals = intervals or {}
        self.clock = clock
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def sources(self) -> list[tuple[LiveConnection, PollingSource[Any, Any]]]:
        return [(c, p) for c in self.connections if c.enabled for p in c.pollers if p.configured()]

    async def start(self) -> None:
        for conn, source in self.sources:
            task = asyncio.create_task(
                self._loop(conn, source), name=f"poll-{conn.name}-{source.name}"
            )
            self._tasks.append(task)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def interval(self, conn: LiveConnection, source: PollingSource[Any, Any]) -> float:
        """Seconds between polls: the connection's ``poll_interval`` or the source's own."""
        return self.intervals.get(conn.name, source.interval.total_seconds())

    async def _loop(self, conn: LiveConnection, source: PollingSource[Any, Any]) -> None:
        failures = 0
        while True:
            delay = self.interval(conn, source)
            try:
                cursor = await self.store.get_cursor(conn.name, source.name)
                outcome = await poll_once(
                    self.store, conn, source, self.recipes(), cursor, clock=self.clock
                )
                failures = 0
                await self._record(conn, source, ok=True, stored=outcome.stored)
                if outcome.stored and self.dispatcher is not None:
                    self.dispatcher.notify()
                if outcome.more:
                    delay = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = self._backoff(exc, failures, delay)
                level = logging.WARNING if isinstance(exc, HubError) else logging.ERROR
                log.log(
                    level,
                    "poll of %s/%s failed (retry in %.0fs): %s",
                    conn.name,
                    source.name,
                    delay,
                    exc,
                    exc_info=not isinstance(exc, HubError),
                )
                await self._record(conn, source, ok=False, error=str(exc), retry_in=delay)
                if isinstance(exc, AuthError):
                    with contextlib.suppress(Exception):
                        await self.store.update_connection_state(
                            conn.name, {"needs_reauth": True, "reauth_reason": str(exc)}
                        )
            await asyncio.sleep(delay)

    @staticmethod
    def _backoff(exc: BaseException, failures: int, interval: float) -> float:
        base = max(interval, 5.0) * float(2 ** min(failures - 1, 6))
        if isinstance(exc, TransientError) and exc.retry_after:
            base = max(base, exc.retry_after)
        return min(base, max(MAX_BACKOFF, interval))

    async def _record(
        self, conn: LiveConnection, source: PollingSource[Any, Any], **status: Any
    ) -> None:
        status["at"] = self.clock().isoformat(timespec="seconds")
        try:
            await self.store.update_connection_state(conn.name, {f"poll:{source.name}": status})
        except Exception:
            log.debug("could not record poll status of %s", conn.name, exc_info=True)


def next_poll_at(last: datetime, interval: float) -> datetime:
    """When a poll that ran at ``last`` runs next (for status displays)."""
    return last + timedelta(seconds=interval)
