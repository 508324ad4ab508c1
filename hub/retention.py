"""Retention: old finished events and attempts pruned in small batches, in the background.

``Pruner.run_once`` makes one pass: events older than ``retention.events_days``
(with their runs, steps and attempts), then attempts older than
``retention.attempts_days``, each a series of short transactions of at most
``retention.batch_size`` candidates (``SqlStore.prune``; the rules of what may
go are in ``hub.store.prune``). ``Pruner.start`` repeats that every
``retention.interval`` seconds wherever pollers run (``hub serve``,
``hub scheduler``); ``hub prune`` runs one pass by hand.

Ingest never queues behind pruning: the store's writer runs a prune batch
only while no other write waits, so a webhook waits at most for the one
batch already running. The pruner keeps that batch short by measuring it:
a batch slower than ``TARGET_BATCH_SECONDS`` halves the next one, a fast one
lets it grow back towards ``batch_size``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from hub.config import RetentionConfig
from hub.errors import StoreUnavailable
from hub.events import utcnow
from hub.store.prune import PruneBatch, PruneCounts, PruneTarget

__all__ = ["Prunable", "PruneReport", "Pruner"]

log = logging.getLogger("hub.retention")

TARGET_BATCH_SECONDS = 0.05  # a webhook arriving mid-batch waits at most about this long
MIN_BATCH = 50
FIRST_BATCH = 100
FIRST_PASS_DELAY = 60.0  # after a start, give the process a minute before the first pass


@runtime_checkable
class Prunable(Protocol):
    """A store that can prune (``SqlStore``)."""

    async def prune(
        self,
        target: PruneTarget,
        before: datetime,
        limit: int,
        after: str | None = None,
        dry_run: bool = False,
        events_before: datetime | None = None,
    ) -> PruneBatch: ...


@dataclass(frozen=True, slots=True)
class PruneReport:
    """One pass so far: what went (or would go), and what it took."""

    dry_run: bool
    events_before: datetime | None
    attempts_before: datetime | None
    counts: PruneCounts = field(default_factory=PruneCounts)
    examined: int = 0
    batches: int = 0
    seconds: float = 0.0
    slowest_batch: float = 0.0
    stage: PruneTarget | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "events_before": self.events_before.isoformat() if self.events_before else None,
            "attempts_before": self.attempts_before.isoformat() if self.attempts_before else None,
            "deleted" if not self.dry_run else "would_delete": {
                "events": self.counts.events,
                "runs": self.counts.runs,
                "steps": self.counts.steps,
                "attempts": self.counts.attempts,
            },
            "examined": self.examined,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "slowest_batch_ms": round(self.slowest_batch * 1000, 1),
        }


class Pruner:
    """Prunes ``store`` by ``config``: one pass on demand, or a pass every interval.

    Args:
        store: the store (``SqlStore``).
        config: the ``retention`` section of hub.yaml.
        clock: now, for the cutoffs (tests move it).
    """

    def __init__(
        self,
        store: Prunable,
        config: RetentionConfig,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    def cutoffs(self) -> tuple[datetime | None, datetime | None]:
        """(events received before, attempts started before) that may go; None keeps all."""
        now = self.clock()
        events_days, attempts_days = self.config.events_days, self.config.attempts_days
        return (
            now - timedelta(days=events_days) if events_days is not None else None,
            now - timedelta(days=attempts_days) if attempts_days is not None else None,
        )

    async def run_once(
        self,
        dry_run: bool = False,
        on_progress: Callable[[PruneReport], None] | None = None,
    ) -> PruneReport:
        """One pass over events, then attempts; ``on_progress`` sees the report after each batch."""
        events_before, attempts_before = self.cutoffs()
        report = PruneReport(dry_run, events_before, attempts_before)
        started = time.monotonic()
        stages: tuple[tuple[PruneTarget, datetime | None], ...] = (
            ("events", events_before),
            ("attempts", attempts_before),
        )
        for target, before in stages:
            if before is None:
                continue
            report = await self._pass(report, target, before, dry_run, started, on_progress)
        return replace(report, seconds=time.monotonic() - started, stage=None)

    async def _pass(
        self,
        report: PruneReport,
        target: PruneTarget,
        before: datetime,
        dry_run: bool,
        started: float,
        on_progress: Callable[[PruneReport], None] | None,
    ) -> PruneReport:
        limit = min(self.config.batch_size, FIRST_BATCH)  # grows while batches stay quick
        after: str | None = None
        while True:
            t0 = time.monotonic()
            batch = await self.store.prune(
                target, before, limit, after, dry_run, report.events_before
            )
            took = time.monotonic() - t0
            report = replace(
                report,
                counts=report.counts + batch.counts,
                examined=report.examined + batch.examined,
                batches=report.batches + 1,
                seconds=time.monotonic() - started,
                slowest_batch=max(report.slowest_batch, took),
                stage=target,
            )
            if on_progress is not None:
                on_progress(report)
            if batch.resume is None:
                return report
            after = batch.resume
            limit = _next_limit(limit, took, self.config.batch_size)

    # -- in the background --------------------------------------------------------------

    async def start(self, first_delay: float | None = None) -> None:
        """Prune every ``interval`` seconds, the first pass after ``first_delay``."""
        if self._task is None:
            delay = (
                min(self.config.interval, FIRST_PASS_DELAY) if first_delay is None else first_delay
            )
            self._task = asyncio.create_task(self._loop(delay), name="hub-pruner")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self, delay: float) -> None:
        await asyncio.sleep(delay)
        while True:
            try:
                report = await self.run_once()
            except StoreUnavailable as exc:
                log.warning("retention: pass skipped, the store is unavailable: %s", exc)
            except Exception:  # a bad pass must not end pruning for good
                log.exception(
                    "retention: pass failed; trying again in %.0f s", self.config.interval
                )
            else:
                if report.counts.rows:
                    c = report.counts
                    log.info(
                        "retention: pruned %d events, %d runs, %d steps, %d attempts "
                        "in %.1f s (%d batches, slowest %.0f ms)",
                        c.events,
                        c.runs,
                        c.steps,
                        c.attempts,
                        report.seconds,
                        report.batches,
                        report.slowest_batch * 1000,
                    )
            await asyncio.sleep(self.config.interval)


def _next_limit(limit: int, took: float, ceiling: int) -> int:
    """Halve a batch that held the writer too long; let a quick one grow back."""
    if took > TARGET_BATCH_SECONDS:
        return max(min(MIN_BATCH, ceiling), limit // 2)
    if took < TARGET_BATCH_SECONDS / 4:
        return min(ceiling, limit * 2)
    return limit
