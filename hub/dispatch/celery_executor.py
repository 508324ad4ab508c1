"""The celery engine's step executor: one message in, one step run on the worker's asyncio loop.

``hub worker`` keeps a single event loop holding the store, the live
connections (their HTTP pools, OAuth tokens, API budgets) and the runner;
each Celery task hands its message to ``StepExecutor.handle`` on that loop,
so hundreds of steps wait on their sinks at once in one process.

For each message the executor:

1. takes a slot of the message's sink connection (the per-connection limit of
   this process), or, when none frees up within ``slot_wait``, sends the
   message to the back of the queue so other connections' steps get through;
2. claims the run's due step in the store with a lease (``Store.claim_run``):
   a duplicate or stale message finds nothing and is done;
3. gives the step back unrun when ops paused its connection, and postpones
   it when the vendor's API budget is spent;
4. runs it, records the attempt and outcome (only while it still holds the
   lease), and publishes the run's next step at once.

A heartbeat renews the leases of running steps every third of
``lease_seconds``, so a lease lapses only when its worker is gone; the
sweeper then sends the step again, and its idempotency key keeps the second
run from writing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from hub.dispatch.celery_messages import StepMessage, StepPublisher
from hub.errors import StoreUnavailable
from hub.events import utcnow
from hub.ops.sync import paused_connections
from hub.runner import Runner
from hub.store import AttemptRecord, StepOutcome, StepWork, Store

__all__ = ["Handled", "StepExecutor"]

log = logging.getLogger("hub.dispatch.worker")

Handled = Literal["ok", "skipped", "retry", "dead", "nothing", "requeued", "postponed", "paused"]
"""What became of a message: the step's outcome, or why no attempt was made."""


class StepExecutor:
    """Runs the steps that messages name, on the loop it is started on.

    Args:
        lease_seconds: how long a claim reserves a step; renewed every third of it.
        per_connection: steps in flight at once against one sink connection.
        connection_limits: per-connection overrides of ``per_connection``.
        slot_wait: longest wait for a busy connection's slot before the
            message goes to the back of the queue.
        paused_refresh: seconds between looks at which connections ops paused.
        on_finished: called with each attempt's step and outcome kind (metrics, alerts).
    """

    def __init__(
        self,
        store: Store,
        runner: Runner,
        publisher: StepPublisher,
        lease_seconds: float = 30.0,
        per_connection: int = 8,
        connection_limits: dict[str, int] | None = None,
        slot_wait: float = 1.0,
        paused_refresh: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
        on_finished: Callable[[StepWork, str], None] | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.publisher = publisher
        self.lease_seconds = lease_seconds
        self.per_connection = per_connection
        self.connection_limits = connection_limits or {}
        self.slot_wait = slot_wait
        self.clock = clock
        self.on_finished = on_finished
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._in_flight: set[str] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        # Connections paused by ops: read from the store every ``paused_refresh`` seconds.
        self.paused: set[str] = set()
        self.paused_refresh = paused_refresh

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def start(self) -> None:
        """Free the leases of dead workers on this host, then start renewing our own."""
        await self._release_dead_owners()
        with contextlib.suppress(Exception):  # the watcher tries again shortly
            self.paused = await paused_connections(self.store)
        self._heartbeat = asyncio.create_task(self._renew(), name="hub-worker-leases")
        self._watcher = asyncio.create_task(self._watch_paused(), name="hub-worker-paused")

    async def stop(self) -> None:
        """Stop renewing leases (the Celery worker has drained its tasks by now)."""
        for task in (self._heartbeat, self._watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._heartbeat = self._watcher = None

    async def handle(self, message: StepMessage) -> Handled:
        """Run the step ``message`` names, if it is still due and free.

        Raises:
            StoreUnavailable: the step could not be claimed; the message should
                be retried later (the sweeper sends it again anyway).
        """
        slot = self._slot(message.connection)
        try:
            async with asyncio.timeout(self.slot_wait):
                await slot.acquire()
        except TimeoutError:
            await self.publisher.publish([message])
            return "requeued"
        try:
            work = await self.store.claim_run(
                message.run_id, self.clock(), self.lease_seconds, self.owner
            )
            if work is None:
                return "nothing"  # done, running elsewhere, or not due yet
            if work.step.connection != message.connection:
                # A stale message: the run has moved on to another sink since.
                await self.store.release_steps([work.step.id], self.owner)
                await self.publisher.publish([StepMessage(work.run.id, work.step.connection)])
                return "requeued"
            if work.step.connection in self.paused:
                # Paused by ops after this was sent: unmarked, the sweeper sends it on resume.
                await self.store.release_steps([work.step.id], self.owner)
                return "paused"
            wait = await self.runner.budget_wait(work)
            if wait > 0:  # the vendor's budget is spent: wait, don't spend an attempt
                due = self.clock() + timedelta(seconds=wait)
                await self.store.release_steps([work.step.id], self.owner, due_at=due)
                return "postponed"
            return await self._run(work)
        finally:
            slot.release()

    def _slot(self, connection: str) -> asyncio.Semaphore:
        slot = self._slots.get(connection)
        if slot is None:
            limit = self.connection_limits.get(connection, self.per_connection)
            slot = self._slots[connection] = asyncio.Semaphore(limit)
        return slot

    async def _run(self, work: StepWork) -> Handled:
        self._in_flight.add(work.step.id)
        try:
            record, outcome = await self.runner.execute(work)
            await self._finish(work, record, outcome)
        finally:
            self._in_flight.discard(work.step.id)
        if self.on_finished is not None:
            try:
                self.on_finished(work, outcome.kind)
            except Exception:
                log.exception("on_finished hook failed for step %s", work.step.id)
        if outcome.kind in ("ok", "skipped") and outcome.next_step is not None:
            follow = StepMessage(work.run.id, outcome.next_step.connection)
            try:
                await self.publisher.publish([follow])
            except Exception as exc:  # noqa: BLE001 - the sweeper publishes it instead
                log.warning("could not publish the next step of run %s: %s", work.run.id, exc)
        # A retry is left to the sweeper, which publishes it once it falls due.
        return outcome.kind

    async def _finish(self, work: StepWork, record: AttemptRecord, outcome: StepOutcome) -> None:
        """Write the attempt and its outcome, riding out short store outages."""
        for delay in (0.05, 0.2, 1.0, 5.0, None):
            try:
                await self.store.finish_attempt(work.step.id, record, outcome, self.owner)
                return
            except StoreUnavailable as exc:
                if delay is None:
                    # The lease lapses and the step runs again; the idempotency
                    # key keeps the second write from doubling the effect.
                    log.error("could not record attempt of step %s: %s", work.step.id, exc)
                    return
                await asyncio.sleep(delay)
            except Exception as exc:
                log.exception("recording the attempt of step %s failed", work.step.id)
                fallback = StepOutcome(
                    "dead", error=f"the hub could not record this attempt: {exc}"
                )
                with contextlib.suppress(Exception):
                    await self.store.finish_attempt(work.step.id, record, fallback, self.owner)
                return

    async def _renew(self) -> None:
        """Heartbeat: keep the leases of running steps ahead of the clock."""
        interval = max(self.lease_seconds / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            if not self._in_flight:
                continue
            until = self.clock() + timedelta(seconds=self.lease_seconds)
            try:
                await self.store.renew_leases(list(self._in_flight), self.owner, until)
            except Exception:
                log.warning("could not renew step leases", exc_info=True)

    async def _watch_paused(self) -> None:
        """Keep ``paused`` in step with the store, where ops pause and resume connections."""
        while True:
            await asyncio.sleep(self.paused_refresh)
            try:
                self.paused = await paused_connections(self.store)
            except Exception as exc:  # noqa: BLE001 - keep the last known set meanwhile
                log.debug("could not read paused connections: %s", exc)

    async def _release_dead_owners(self) -> None:
        """Leases left by a worker killed on this host are freed now rather than when they lapse.

        Other hosts' leases are left to lapse: we cannot see whether those
        processes are alive.
        """
        host = socket.gethostname()
        try:
            owners = await self.store.lease_owners()
        except Exception:
            log.exception("could not list step leases")
            return
        for owner in owners:
            owner_host, _, pid = owner.rpartition(":")
            if owner_host != host or not pid.isdigit() or owner == self.owner:
                continue
            if _alive(int(pid)):
                continue
            freed = await self.store.release_leases(owner)
            log.warning("released %d step lease(s) of dead process %s", freed, owner)


def _alive(pid: int) -> bool:
    """True when a process with ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
