"""The store's single writer thread, which group-commits concurrent ``ingest`` calls.

Every write the store makes runs here, one transaction at a time. That is
what SQLite wants anyway (one writer; no ``SQLITE_BUSY`` upgrade deadlocks
between our own threads), and it is what makes webhooks cheap to acknowledge
durably: while one commit is being fsync'd, newly arrived ``ingest`` calls
queue up, and the next loop turn drains all of them (up to ``max_items``
events) into a single transaction and a single fsync. Each caller then gets
its own per-item flags. Other writes (claims, attempts, replays, ...) run in
arrival order, up to ``CALLS_PER_TURN`` of them in one transaction (each in
its own savepoint, so each stays atomic) and so under one fsync.
Background writes (retention's prune batches) go last: one runs only when
nothing else is queued, so an ingest waits behind at most the one background
batch already running.

A failing transaction never kills the thread: the error is handed to the
callers whose work was in it, translated to ``StoreUnavailable`` when the
database itself cannot be reached or written.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from hub.errors import StoreUnavailable

__all__ = ["GroupCommitWriter", "as_unavailable"]

CALLS_PER_TURN = 32

log = logging.getLogger(__name__)

T = TypeVar("T")
B = TypeVar("B")
R = TypeVar("R")


def as_unavailable(exc: BaseException, where: str) -> StoreUnavailable | None:
    """The ``StoreUnavailable`` an infrastructure failure means, or None for other errors.

    Operational errors (file unwritable, disk full or failing, server down,
    connection lost, lock timeout) mean "try again later"; integrity or
    programming errors are bugs and are passed through unchanged.
    """
    if isinstance(exc, StoreUnavailable):
        return exc
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    ):
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return StoreUnavailable(
            f"the store at {where} cannot be written right now ({reason}); "
            "check that the database is reachable, writable and has free space"
        )
    return None


@dataclass(slots=True)
class _Call(Generic[T]):
    """One write that runs in its own transaction."""

    fn: Callable[[sa.Connection], T]
    future: Future[T]
    background: bool = False


@dataclass(slots=True)
class _Batchable(Generic[B, R]):
    """One ``ingest`` request, eligible for group commit with others."""

    payload: B
    size: int
    future: Future[R]


_STOP = object()


class GroupCommitWriter(Generic[B, R]):
    """Runs write transactions on one dedicated thread; batches ``submit_batched`` calls.

    Args:
        engine: the engine writes use (on SQLite, one that begins ``IMMEDIATE``).
        batch_fn: writes many payloads in one transaction, returning one result each.
        where: a password-free description of the database, for error messages.
        max_items: stop adding requests to a batch once it holds this many items.
    """

    def __init__(
        self,
        engine: sa.Engine,
        batch_fn: Callable[[sa.Connection, list[B]], list[R]],
        where: str,
        max_items: int = 500,
    ) -> None:
        self._engine = engine
        self._batch_fn = batch_fn
        self._where = where
        self._max_items = max_items
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="hub-store-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[sa.Connection], T], background: bool = False) -> Future[T]:
        """Run ``fn`` in its own write transaction; the future holds its result.

        ``background`` writes run only while nothing else is waiting (keep them short).
        """
        future: Future[T] = Future()
        self._put(_Call(fn, future, background))
        return future

    def submit_batched(self, payload: B, size: int) -> Future[R]:
        """Queue ``payload`` (``size`` items) for the next group commit."""
        future: Future[R] = Future()
        self._put(_Batchable(payload, size, future))
        return future

    def close(self) -> None:
        """Finish everything already queued, then stop the thread (blocks)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._thread.join()

    def _put(self, job: object) -> None:
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            self._queue.put(job)

    def _loop(self) -> None:
        """Alternate: one group commit of every queued ingest, then a few other writes.

        Webhooks are answered only after their commit, and a provider gives up
        after a few seconds, so queued ingests go first; at most
        ``CALLS_PER_TURN`` other writes (claims, attempts), sharing one
        transaction, run between two group commits, so deliveries keep moving
        under any ingest load.
        """
        pending: deque[object] = deque()
        idle: deque[object] = deque()  # background writes: run when nothing else waits
        stopping = False
        while True:
            arrived = [self._queue.get()] if not pending and not idle else []
            while True:  # take everything queued now
                try:
                    arrived.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for job in arrived:
                background = isinstance(job, _Call) and job.background
                (idle if background else pending).append(job)
            try:
                batch = self._take_batch(pending)
                if batch:
                    self._run_batch(batch)
                calls: list[_Call[Any]] = []
                while (
                    pending
                    and len(calls) < CALLS_PER_TURN
                    and not isinstance(pending[0], _Batchable)
                ):
                    job = pending.popleft()
                    if job is _STOP:
                        stopping = True
                        continue
                    assert isinstance(job, _Call)
                    calls.append(job)
                self._run_calls(calls)
                if not pending and idle and self._queue.empty():
                    job = idle.popleft()
                    assert isinstance(job, _Call)
                    self._run_call(job)
            except Exception:  # a bug here must not stop every later write
                log.exception("store writer: unexpected error; continuing")
            if stopping and not pending and not idle and self._queue.empty():
                return

    def _take_batch(self, pending: deque[object]) -> list[_Batchable[B, R]]:
        """Remove queued ingests (up to ``max_items`` events) from ``pending``, oldest first."""
        batch: list[_Batchable[B, R]] = []
        items = 0
        kept: deque[object] = deque()
        while pending:
            job = pending.popleft()
            if isinstance(job, _Batchable) and (not batch or items + job.size <= self._max_items):
                batch.append(job)
                items += job.size
            else:
                kept.append(job)
        pending.extend(kept)
        return batch

    def _run_calls(self, jobs: list[_Call[Any]]) -> None:
        """Run ``jobs`` in one transaction, each inside its own savepoint: one commit for all.

        Deliveries write an attempt per try; committing each alone made the
        fsync, not the work, the limit (~100 attempts/s on a busy disk). Each
        job stays atomic: one that raises is rolled back to its savepoint and
        gets its own error while the others commit. If the shared transaction
        fails as a whole (the connection, the commit), nothing of it was kept,
        and each job is run again alone, so every caller gets the answer its
        own transaction would have given.
        """
        live = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        if len(live) == 1:
            self._run_alone(live[0])
            return
        if not live:
            return
        outcomes: list[tuple[_Call[Any], BaseException | None, Any]] = []
        try:
            with self._engine.begin() as conn:
                for job in live:
                    try:
                        with conn.begin_nested():
                            value = job.fn(conn)
                    except Exception as exc:
                        if as_unavailable(exc, self._where) is not None:
                            raise  # the connection or the database failed, not this job
                        outcomes.append((job, exc, None))
                    else:
                        outcomes.append((job, None, value))
        except BaseException:  # noqa: BLE001 - nothing was committed: retry each alone
            log.warning("shared transaction of %d writes failed; retrying one by one", len(live))
            for job in live:
                self._run_alone(job)
            return
        for job, error, value in outcomes:
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(value)

    def _run_alone(self, job: _Call[T]) -> None:
        """``job`` (already marked running) in its own transaction."""
        try:
            with self._engine.begin() as conn:
                result = job.fn(conn)
        except BaseException as exc:  # noqa: BLE001 - the thread must outlive any one job
            job.future.set_exception(as_unavailable(exc, self._where) or exc)
        else:
            job.future.set_result(result)

    def _run_call(self, job: _Call[T]) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            with self._engine.begin() as conn:
                result = job.fn(conn)
        except BaseException as exc:  # noqa: BLE001 - the thread must outlive any one job
            job.future.set_exception(as_unavailable(exc, self._where) or exc)
        else:
            job.future.set_result(result)

    def _run_batch(self, batch: list[_Batchable[B, R]]) -> None:
        live = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            with self._engine.begin() as conn:
                results = self._batch_fn(conn, [job.payload for job in live])
        except BaseException as exc:  # noqa: BLE001 - isolated per job below
            unavailable = as_unavailable(exc, self._where)
            if unavailable is not None or len(live) == 1:
                for job in live:
                    job.future.set_exception(unavailable or exc)
                return
            # One request broke the shared transaction: retry each alone so
            # only the culprit fails and the others are still committed.
            log.warning("group commit of %d requests failed; retrying one by one", len(live))
            for job in live:
                self._run_single(job)
            return
        for job, result in zip(live, results, strict=True):
            job.future.set_result(result)

    def _run_single(self, job: _Batchable[B, R]) -> None:
        try:
            with self._engine.begin() as conn:
                (result,) = self._batch_fn(conn, [job.payload])
        except BaseException as exc:  # noqa: BLE001 - the thread must outlive any one job
            job.future.set_exception(as_unavailable(exc, self._where) or exc)
        else:
            job.future.set_result(result)
