"""The inline engine: asyncio tasks inside ``hub serve``; the store's due steps are the queue.

One loop claims due steps (leasing them in the store) as slots free up, and
runs each as a task bounded by a global limit and a per-connection limit, so
one slow or failing sink never stalls the others. It sleeps until the next
step falls due or until ``notify`` says the ingress committed new work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from hub.errors import StoreUnavailable
from hub.events import utcnow
from hub.runner import Runner
from hub.store import StepWork, Store

__all__ = ["InlineDispatcher"]

log = logging.getLogger("hub.dispatch")


class InlineDispatcher:
    """Runs due steps in this process.

    Args:
        global_limit: steps in flight at once.
        per_connection: steps in flight at once against one sink connection.
        lease_seconds: how long a claimed step is reserved; a crashed process's
            steps are claimed again after it.
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
    ) -> None:
        self.store = store
        self.runner = runner
        self.global_limit = global_limit
        self.per_connection = per_connection
        self.lease_seconds = lease_seconds
        self.idle_wait = idle_wait
        self.clock = clock
        self.on_finished = on_finished
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(global_limit)
        self._per_conn: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(per_connection)
        )
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

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

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop claiming; give running steps ``drain_timeout`` to finish (their leases cover the rest)."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=drain_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def notify(self) -> None:
        self._wake.set()

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
            claimed: list[StepWork] = []
            if free > 0:
                try:
                    claimed = await self.store.claim_due(
                        self.clock(), free, self.lease_seconds, self.owner
                    )
                except StoreUnavailable as exc:
                    log.warning("cannot claim due steps: %s", exc)
                except Exception:
                    log.exception("claiming due steps failed")
            for work in claimed:
                if work.step.id in self._in_flight:
                    continue
                self._in_flight.add(work.step.id)
                task = asyncio.create_task(self._run(work), name=f"step-{work.step.id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if claimed and len(claimed) >= free:
                # Saturated: wait for a slot to free up (or new work), then claim again.
                await self._sleep(self.idle_wait)
                continue
            if claimed:
                continue
            await self._sleep(await self._until_next_due())

    async def _until_next_due(self) -> float:
        try:
            due = await self.store.next_due_at()
        except Exception:  # noqa: BLE001 - a failed look only shortens the sleep
            return self.idle_wait
        if due is None:
            return self.idle_wait
        return max(0.0, min(self.idle_wait, (due - self.clock()).total_seconds()))

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _run(self, work: StepWork) -> None:
        try:
            async with self._slots, self._per_conn[work.step.connection]:
                record, outcome = await self.runner.execute(work)
                for delay in (0.05, 0.2, 1.0, 5.0, None):
                    try:
                        await self.store.finish_attempt(work.step.id, record, outcome)
                        break
                    except StoreUnavailable as exc:
                        if delay is None:
                            # The lease expires and the step runs again; the idempotency
                            # key keeps the second write from doubling the effect.
                            log.error("could not record attempt of step %s: %s", work.step.id, exc)
                            return
                        await asyncio.sleep(delay)
                if self.on_finished is not None:
                    self.on_finished(work, outcome.kind)
        finally:
            # Wakes the loop: a slot is free, and a next step or a near retry may be due.
            self._in_flight.discard(work.step.id)
            self._wake.set()


def _alive(pid: int) -> bool:
    """True when a process with ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
