"""The sweeper: publishes due steps that no worker holds and no live message names.

The store, not the broker, is the celery engine's source of truth. A sweep
asks it for pending steps that are due and free (``Store.sweep_due``: no
lease, or a lapsed one), marks them published for ``requeue_seconds`` and
sends one message each. That one query covers every way a step can need a
message:

- new work the ingress or a poller just committed (``notify``);
- a step that finished and created the next one (the worker publishes it
  itself; a sweep is the backstop);
- a retry that has fallen due;
- a message lost with a flushed or restarted broker (its mark lapses);
- a step whose worker died (its lease lapses; renewed leases never do).

In ``hub serve`` the sweeper only runs when notified, so the ingress stays a
commit-and-publish front; in ``hub scheduler`` it also runs every
``sweep_interval``. Several sweepers at once are fine: marking is atomic, so
each due step is published by one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from hub.config import HubConfig
from hub.dispatch.celery_messages import StepMessage, StepPublisher
from hub.errors import StoreUnavailable
from hub.events import utcnow
from hub.store import QUEUE_OWNER, QueuedStep, Store

__all__ = ["Sweeper", "celery_sweeper"]

log = logging.getLogger("hub.dispatch.sweeper")

_PAUSE_AFTER_FAILURE = 1.0


class Sweeper:
    """Publishes due, free steps now when notified, and every ``interval`` seconds if set.

    Implements the ``Dispatcher`` protocol, so the ingress and the pollers
    ``notify`` it after they commit work, exactly as they wake the inline engine.

    Args:
        requeue_seconds: how long a published step is left to its message
            before a sweep sends it again.
        interval: seconds between unprompted sweeps; None sweeps only at
            start and when notified.
        batch: steps marked (and published) per store transaction.
    """

    def __init__(
        self,
        store: Store,
        publisher: StepPublisher,
        requeue_seconds: float,
        interval: float | None = None,
        batch: int = 500,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.requeue_seconds = requeue_seconds
        self.interval = interval
        self.batch = batch
        self.clock = clock
        self.published = 0
        # Connections paused by ops, kept in step by ``hub.ops.sync.StateSync``:
        # their steps stay due and unsent.
        self.paused: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def in_flight(self) -> int:
        """Steps running in this process: always 0, they run in ``hub worker``."""
        return 0

    async def start(self) -> None:
        self._wake.set()  # a first sweep at once: work may have waited while nothing ran
        self._task = asyncio.create_task(self._loop(), name="hub-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.publisher.close()

    def notify(self) -> None:
        self._wake.set()

    async def sweep(self) -> int:
        """Mark and publish every due, free step; returns how many were published.

        A batch the broker refused is unmarked again, so the next sweep retries
        it at once instead of after ``requeue_seconds``.
        """
        total = 0
        while True:
            due = await self.store.sweep_due(
                self.clock(), self.batch, self.requeue_seconds, sorted(self.paused)
            )
            if not due:
                return total
            try:
                await self.publisher.publish([StepMessage(d.run_id, d.connection) for d in due])
            except Exception:
                await self._unmark(due)
                raise
            total += len(due)
            self.published += len(due)
            lapsed = sum(1 for d in due if d.lapsed)
            if lapsed:
                log.info(
                    "published %d step(s) again whose message or worker was lost "
                    "(their mark or lease lapsed)",
                    lapsed,
                )
            if len(due) < self.batch:
                return total

    async def _unmark(self, due: list[QueuedStep]) -> None:
        with contextlib.suppress(Exception):
            await self.store.release_steps([d.step_row_id for d in due], QUEUE_OWNER)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            try:
                sent = await self.sweep()
            except StoreUnavailable as exc:
                log.warning("cannot sweep due steps: %s", exc)
            except Exception as exc:  # noqa: BLE001 - a broker outage must not end the loop
                log.warning("could not publish due steps (sent again next sweep): %s", exc)
            else:
                if sent:
                    log.debug("published %d due step(s)", sent)
                continue
            # Something is down: don't hammer it once per webhook; the steps wait in the store.
            await asyncio.sleep(_PAUSE_AFTER_FAILURE)


def celery_sweeper(config: HubConfig, store: Store, periodic: bool) -> Sweeper:
    """The celery engine's sweeper for ``config``: publishing to its broker, on a timer if ``periodic``."""
    from hub.dispatch.celery_app import CeleryPublisher, make_celery  # Celery loads only when used

    settings = config.celery
    return Sweeper(
        store,
        CeleryPublisher(make_celery(settings), settings.queue),
        settings.requeue_seconds,
        interval=settings.sweep_interval if periodic else None,
    )
