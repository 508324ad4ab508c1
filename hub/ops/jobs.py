"""Bulk replay jobs: background tasks that replay every delivery a filter selects, in batches.

A job pages through ``DeliveryFilter`` by keyset (newest first, so rows a
replay changes never shift the pages still to come), replays each batch
with the store's ``replay`` (same idempotency keys, so nothing doubles), and
records ``done``/``total`` in ``bulk_jobs`` after every batch. Between
batches it re-reads its own status, so a cancel from any process (API,
dashboard, CLI) stops it within one batch.

A job belongs to the process that runs it (``params.owner`` is ``host:pid``).
Its progress write is its heartbeat: a job whose owner is gone, or that has
not moved for ``STALE_AFTER``, is marked failed at startup by ``fail_orphans``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import timedelta
from functools import partial
from typing import Any

from hub.events import utcnow
from hub.ops import queries
from hub.ops.views import BulkJob
from hub.store import DeliveryFilter, Store

__all__ = ["BATCH_SIZE", "STALE_AFTER", "JobRunner", "filter_doc", "has_conditions"]

log = logging.getLogger("hub.ops.jobs")

BATCH_SIZE = 200
STALE_AFTER = timedelta(minutes=5)
_OWNER = f"{socket.gethostname()}:{os.getpid()}"


def filter_doc(flt: DeliveryFilter) -> dict[str, Any]:
    """A filter as the JSON kept in a job's params (only the conditions that are set)."""
    doc = asdict(flt)
    doc.pop("limit", None)
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in doc.items()
        if v is not None
    }


def has_conditions(flt: DeliveryFilter) -> bool:
    """True when ``flt`` narrows the selection (page size and position do not).

    A bulk replay needs one: replaying every delivery, succeeded ones too, is
    almost never what was meant, so the API, the dashboard and the CLI refuse it alike.
    """
    return any(k != "before" for k in filter_doc(flt))


class JobRunner:
    """Runs this process's bulk jobs as asyncio tasks.

    Args:
        store: where jobs and deliveries live.
        notify: called after each batch (wakes the inline dispatcher).
        batch_size: deliveries per replay transaction.
    """

    def __init__(
        self, store: Store, notify: Callable[[], None] | None = None, batch_size: int = BATCH_SIZE
    ) -> None:
        self.store = store
        self.notify = notify
        self.batch_size = batch_size
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._moved: dict[str, int] = {}

    async def start_replay(self, flt: DeliveryFilter, from_start: bool, created_by: str) -> BulkJob:
        """Count what ``flt`` selects, record the job, and start replaying in the background."""
        total = await self.store.count_deliveries(flt)
        now = utcnow()
        job = BulkJob(
            id=str(uuid.uuid4()),
            kind="replay",
            params={"filter": filter_doc(flt), "from_start": from_start, "owner": _OWNER},
            status="running",
            total=total,
            done=0,
            error=None,
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
        await self.store.run_write(lambda c: queries.insert_job(c, job))
        task = asyncio.create_task(self._replay(job, flt, from_start), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job.id, None))
        return job

    def runs_moved(self, job_id: str) -> int:
        """Runs made due again by a job this process ran (0 for others' jobs)."""
        return self._moved.get(job_id, 0)

    async def wait(self, job_id: str) -> None:
        """Until this process's job ``job_id`` has finished (at once if it is not running here)."""
        task = self._tasks.get(job_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

    async def cancel(self, job_id: str) -> bool:
        """Mark a running job cancelled; its runner stops before its next batch."""
        return await self.store.run_write(lambda c: queries.finish_job(c, job_id, "cancelled"))

    async def stop(self) -> None:
        """Process shutdown: stop our jobs and mark them failed (they are not resumed)."""
        running = dict(self._tasks)
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
        # A task cancelled before its first step never ran its own cleanup.
        reason = "the hub stopped before it began; start the replay again"
        for job_id in running:
            with contextlib.suppress(Exception):
                await self.store.run_write(
                    partial(queries.finish_job, job_id=job_id, status="failed", error=reason)
                )

    async def fail_orphans(self) -> int:
        """Mark failed every running job whose process is gone (or silent past ``STALE_AFTER``)."""
        jobs = await self.store.run_read(queries.running_jobs)
        host = socket.gethostname()
        now = utcnow()
        failed = 0
        for job in jobs:
            if job.id in self._tasks:
                continue
            owner = str(job.params.get("owner", ""))
            owner_host, _, pid = owner.rpartition(":")
            gone = (
                owner_host == host and pid.isdigit() and not _alive(int(pid), own=owner == _OWNER)
            )
            if gone or now - job.updated_at > STALE_AFTER:
                reason = (
                    f"the process that ran it ({owner or 'unknown'}) stopped after "
                    f"{job.done} of {job.total}; start the replay again (replaying twice is safe)"
                )
                if await self.store.run_write(
                    partial(queries.finish_job, job_id=job.id, status="failed", error=reason)
                ):
                    failed += 1
                    log.warning("bulk job %s marked failed: %s", job.id, reason)
        return failed

    async def _replay(self, job: BulkJob, flt: DeliveryFilter, from_start: bool) -> None:
        done, total = 0, job.total
        page = replace(flt, limit=self.batch_size)
        try:
            while True:
                status = await self.store.run_read(lambda c: queries.job_status(c, job.id))
                if status != "running":
                    log.info("bulk job %s stopped (%s) after %d of %d", job.id, status, done, total)
                    return
                rows, cursor = await self.store.list_deliveries(page)
                ids = [step.id for step, _run in rows]
                if ids:
                    moved = await self.store.replay(ids, from_start=from_start)
                    self._moved[job.id] = self._moved.get(job.id, 0) + moved
                    if self.notify is not None:
                        self.notify()
                done += len(ids)
                total = max(total, done)
                await self.store.run_write(
                    partial(queries.set_job_progress, job_id=job.id, done=done, total=total)
                )
                if cursor is None:
                    break
                page = replace(page, before=cursor)
                await asyncio.sleep(0)  # let webhooks and the dispatcher in between batches
            await self.store.run_write(lambda c: queries.finish_job(c, job.id, "done"))
            log.info("bulk job %s replayed %d deliveries", job.id, done)
        except asyncio.CancelledError:
            reason = f"the hub stopped after {done} of {total}; start the replay again (it is safe)"
            with contextlib.suppress(Exception):
                await self.store.run_write(
                    lambda c: queries.finish_job(c, job.id, "failed", reason)
                )
            raise
        except Exception as exc:
            log.exception("bulk job %s failed", job.id)
            reason = f"{type(exc).__name__}: {exc} (after {done} of {total})"
            with contextlib.suppress(Exception):
                await self.store.run_write(
                    lambda c: queries.finish_job(c, job.id, "failed", reason)
                )


def _alive(pid: int, own: bool) -> bool:
    """True when ``pid`` runs on this host; our own pid counts as gone (a restarted container)."""
    if own:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
