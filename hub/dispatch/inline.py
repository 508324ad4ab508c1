"""The inline engine: asyncio tasks inside ``hub serve``; the store's due steps are the queue.

One loop claims due steps (leasing them in the store) while slots are free
and runs each as a task, bounded by a global limit and a per-connection
limit, so one slow or failing sink never stalls the others: a connection
whose slots are all busy is left out of the next claim, and a claimed step
that finds no slot is handed straight back. A heartbeat renews the leases of
running steps, so a step that runs longer than ``lease_seconds`` is never
claimed by a second worker; a step whose lease was lost anyway has its result
recorded but not applied. The loop sleeps until the next step falls due or
until ``notify`` says the ingress committed new work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from hub.errors import StoreUnavailable
from hub.events import utcnow
from hub.runner import Runner
from hub.store import AttemptRecord, StepOutcome, StepWork, Store

__all__ = ["InlineDispatcher"]

log = logging.getLogger("hub.dispatch")


class InlineDispatcher:
    """Runs due steps in this process.

    Args:
        global_limit: steps in flight at once.
        per_connection: steps in flight at once against one sink connection.
        connection_limits: per-connection overrides of ``per_connection`` (a vendor's cap).
        lease_seconds: how long a claim reserves a step; renewed every third of
            it while the step runs, so only a dead process's steps lapse.
        idle_wait: the longest sleep between looks at the store.
    """

    def __init__(
        self,
        store: Store,
        runner: Runner,
        global_limit: int = 64,
        per_connection: int = 8,
        lease_seconds: float = 60.0,
        idle_wait: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        on_finished: Callable[[StepWork, str], None] | None = None,
        connection_limits: dict[str, int] | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.global_limit = global_limit
        self.per_connection = per_connection
        self.lease_seconds = lease_seconds
        self.idle_wait = idle_wait
        self.clock = clock
        self.on_finished = on_finished
        self.connection_limits = connection_limits or {}
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        self._running: Counter[str] = Counter()
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = False
        # Connections paused by ops (the ``paused`` flag of their store state,
        # kept in step by ``hub.ops``): their steps stay due and are not claimed.
        self.paused: set[str] = set()

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def start(self) -> None:
        """Free the leases of dead dispatchers on this host, then start claiming."""
        await self._release_dead_owners()
        self._stopping = False
        self._loop_task = asyncio.create_task(self._loop(), name="hub-dispatch")
        self._heartbeat = asyncio.create_task(self._renew(), name="hub-dispatch-leases")

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop claiming; give running steps ``drain_timeout`` to finish (their leases cover the rest)."""
        self._stopping = True
        self._wake.set()
        for task in (self._loop_task, self._heartbeat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=drain_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def notify(self) -> None:
        self._wake.set()

    def _limit(self, connection: str) -> int:
        """Steps allowed in flight against ``connection`` (its own cap, else the default)."""
        return self.connection_limits.get(connection, self.per_connection)

    async def _release_dead_owners(self) -> None:
        """A process killed on this host left leases behind: release them so its work resumes now.

        Leases of other hosts are left to lapse (``lease_seconds``): we cannot see
        whether those processes are alive.
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

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self.global_limit - len(self._in_flight)
            if free <= 0:
                # Every slot is busy: only a finishing step (which sets _wake) can change that.
                await self._sleep(self.idle_wait)
                continue
            saturated = [c for c, n in self._running.items() if n >= self._limit(c)]
            saturated.extend(self.paused)
            claimed: list[StepWork] = []
            try:
                claimed = await self.store.claim_due(
                    self.clock(), free, self.lease_seconds, self.owner, saturated
                )
            except StoreUnavailable as exc:
                log.warning("cannot claim due steps: %s", exc)
            except Exception:
                log.exception("claiming due steps failed")
            handed_back = []
            postponed: dict[float, list[str]] = {}
            for work in claimed:
                conn = work.step.connection
                if work.step.id in self._in_flight:
                    continue
                if self._running[conn] >= self._limit(conn):
                    handed_back.append(work.step.id)
                    continue
                wait = await self.runner.budget_wait(work)
                if wait > 0:  # the vendor's budget is spent: wait, don't spend an attempt
                    postponed.setdefault(round(wait, 1), []).append(work.step.id)
                    continue
                self._running[conn] += 1
                self._in_flight.add(work.step.id)
                task = asyncio.create_task(self._run(work), name=f"step-{work.step.id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if handed_back:
                with contextlib.suppress(Exception):
                    await self.store.release_steps(handed_back, self.owner)
            for wait, ids in postponed.items():
                with contextlib.suppress(Exception):
                    due = self.clock() + timedelta(seconds=wait)
                    await self.store.release_steps(ids, self.owner, due_at=due)
            started = len(claimed) - len(handed_back) - sum(len(v) for v in postponed.values())
            if started and started >= free:
                continue  # slots are full now: the top of the loop waits for one
            if started:
                continue
            await self._sleep(await self._until_next_due())

    async def _until_next_due(self) -> float:
        try:
            due = await self.store.next_due_at()
        except Exception:  # noqa: BLE001 - a failed look only shortens the sleep
            return self.idle_wait
        if due is None:
            return self.idle_wait
        # A due time in the past means its connection is saturated (or the step
        # is leased): wait for a wake-up rather than spinning on the store.
        seconds = (due - self.clock()).total_seconds()
        return self.idle_wait if seconds <= 0 else min(self.idle_wait, seconds)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(seconds, 0.001))

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

    async def _run(self, work: StepWork) -> None:
        try:
            record, outcome = await self.runner.execute(work)
            await self._finish(work, record, outcome)
            if self.on_finished is not None:
                self.on_finished(work, outcome.kind)
        finally:
            # Wakes the loop: a slot is free, and a next step or a near retry may be due.
            self._running[work.step.connection] -= 1
            if self._running[work.step.connection] <= 0:
                del self._running[work.step.connection]
            self._in_flight.discard(work.step.id)
            self._wake.set()

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


def _alive(pid: int) -> bool:
    """True when a process with ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
