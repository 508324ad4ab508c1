"""``SqlStore``: the ``Store`` protocol on SQLAlchemy Core (SQLite by default, PostgreSQL too).

Threads, not an async driver: every write runs on one writer thread
(``GroupCommitWriter``), which serializes SQLite writes and group-commits
``ingest`` calls; reads run on ``asyncio.to_thread`` with their own
connections (WAL lets them proceed while the writer commits).

SQLite is opened for durability first: WAL journal, ``synchronous=FULL`` (the
WAL is fsync'd on every commit, so an acknowledged webhook survives power
loss), a busy timeout for other processes, foreign keys on. Write
transactions begin ``IMMEDIATE`` so a check-then-write inside one can never
be overtaken by another process. On PostgreSQL the same SQL runs, with
``ON CONFLICT`` for dedupe and ``FOR UPDATE SKIP LOCKED`` for claims; the only
dialect switch is ``writes.insert_for``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.pool import StaticPool

from hub.errors import StoreUnavailable
from hub.events import Event, utcnow
from hub.store import (
    AttemptRecord,
    AttemptRow,
    ConnectionRow,
    DeliveryFilter,
    EventFilter,
    IngestItem,
    QueuedStep,
    RunRow,
    StepOutcome,
    StepRow,
    StepWork,
    jsoncodec,
    rows,
    writes,
)
from hub.store.coalesce import IngestCoalescer
from hub.store.prune import PruneBatch, PruneTarget, prune_batch
from hub.store.tables import attempts, connections, cursors, events, runs, steps
from hub.store.writer import GroupCommitWriter, as_unavailable

__all__ = ["SqlStore"]

T = TypeVar("T")
READ_THREADS = 8  # reads at once per store (each holds a pooled connection meanwhile)


class SqlStore:
    """The durable store over a SQLAlchemy URL.

    Args:
        url: ``sqlite:///hub.db`` (relative to the working folder),
            ``sqlite:////abs/path.db``, ``sqlite://`` (in memory, for tests) or
            ``postgresql+psycopg://user@host/db``.
        max_batch: most events one group commit takes.
    """

    def __init__(self, url: str, max_batch: int = 500) -> None:
        self.url = sa.make_url(url)
        self._where = self.url.render_as_string(hide_password=True)
        self._max_batch = max_batch
        self._engine: sa.Engine | None = None
        self._read_engine: sa.Engine | None = None
        self._writer: GroupCommitWriter[list[IngestItem], list[bool]] | None = None
        self._coalescer = IngestCoalescer(self._submit_ingest, max_batch)
        # Reads run on the store's own threads, so close() can wait for those still
        # running (a cancelled await leaves its query running) before the pool goes.
        self._readers: ThreadPoolExecutor | None = None

    # -- lifecycle -------------------------------------------------------------

    @property
    def engine(self) -> sa.Engine:
        """The engine writes go through (tests hook its events to count commits)."""
        if self._engine is None:
            raise StoreUnavailable("the store is not open; call open() first")
        return self._engine

    async def open(self) -> None:
        """Connect and bring the schema to the newest migration."""
        if self._writer is not None:
            return
        self._engine, self._read_engine = self._make_engines()
        self._readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="hub-store-read")
        self._writer = GroupCommitWriter(
            self._engine, writes.ingest_batches, self._where, max_items=self._max_batch
        )
        try:
            await self._write(writes.migrate)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Flush pending group commits and release connections."""
        if self._writer is not None:
            self._coalescer.flush()
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.to_thread(writer.close)
        readers, self._readers = self._readers, None
        if readers is not None:
            await asyncio.to_thread(readers.shutdown)
        for engine in {self._engine, self._read_engine}:
            if engine is not None:
                engine.dispose()
        self._engine = self._read_engine = None

    async def ping(self) -> bool:
        """True when a trivial query succeeds (``/readyz``)."""
        try:
            return bool(await self._read(lambda c: c.execute(sa.text("SELECT 1")).scalar()))
        except Exception:  # noqa: BLE001 - readiness is a yes/no answer
            return False

    def _make_engines(self) -> tuple[sa.Engine, sa.Engine]:
        if self.url.get_backend_name() != "sqlite":
            engine = sa.create_engine(self.url, pool_pre_ping=True, json_serializer=jsoncodec.dumps)
            return engine, engine
        if self.url.database in (None, "", ":memory:"):
            # One shared connection: reads must then go through the writer thread too.
            engine = sa.create_engine(
                self.url,
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
                json_serializer=jsoncodec.dumps,
            )
            _sqlite_setup(engine, begin="BEGIN IMMEDIATE")
            return engine, engine
        write = sa.create_engine(
            self.url, pool_size=1, max_overflow=2, json_serializer=jsoncodec.dumps
        )
        _sqlite_setup(write, begin="BEGIN IMMEDIATE")
        read = sa.create_engine(self.url, json_serializer=jsoncodec.dumps)
        _sqlite_setup(read, begin="BEGIN")
        return write, read

    # -- plumbing ----------------------------------------------------------------

    async def _write(self, fn: Callable[[sa.Connection], T], background: bool = False) -> T:
        if self._writer is None:
            raise StoreUnavailable("the store is not open; call open() first")
        return await asyncio.wrap_future(self._writer.submit(fn, background))

    async def _read(self, fn: Callable[[sa.Connection], T]) -> T:
        engine = self._read_engine
        if engine is None:
            raise StoreUnavailable("the store is not open; call open() first")
        if engine is self._engine and engine.url.get_backend_name() == "sqlite":
            return await self._write(fn)  # in-memory SQLite: a single connection

        def run() -> T:
            try:
                with engine.connect() as conn:
                    return fn(conn)
            except Exception as exc:
                raise (as_unavailable(exc, self._where) or exc) from exc

        readers = self._readers
        if readers is None:
            raise StoreUnavailable("the store is not open; call open() first")
        return await asyncio.wrap_future(readers.submit(run))

    # -- ingest --------------------------------------------------------------------

    async def ingest(self, items: list[IngestItem]) -> list[bool]:
        """Durably store events and their planned runs; one flag per item, False = duplicate.

        Concurrent callers are group-committed. Returns only after the commit is
        on disk. Raises ``StoreUnavailable`` when the database cannot commit.
        """
        if not items:
            return []
        writes.check_bound(items)
        if self._writer is None:
            raise StoreUnavailable("the store is not open; call open() first")
        return await self._coalescer.ingest(items)

    def _submit_ingest(self, items: list[IngestItem], size: int) -> Future[list[bool]]:
        if self._writer is None:
            raise StoreUnavailable("the store is not open; call open() first")
        return self._writer.submit_batched(items, size)

    async def save_poll(
        self, connection: str, source: str, items: list[IngestItem], cursor: Any
    ) -> list[bool]:
        """Store a poll's events and its new cursor in one transaction."""
        writes.check_bound(items)

        def work(conn: sa.Connection) -> list[bool]:
            (flags,) = writes.ingest_batches(conn, [items])
            writes.save_cursor(conn, connection, source, cursor)
            return flags

        return await self._write(work)

    async def get_cursor(self, connection: str, source: str) -> Any:
        """The saved cursor (JSON value), or None."""
        query = sa.select(cursors.c.cursor).where(
            cursors.c.connection == connection, cursors.c.source == source
        )
        return await self._read(lambda c: c.execute(query).scalar())

    # -- the queue -----------------------------------------------------------------

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        lease_seconds: float,
        owner: str,
        exclude_connections: Sequence[str] = (),
    ) -> list[StepWork]:
        """Lease up to ``limit`` pending steps due by ``now`` (or whose lease expired).

        The lease is ``now + lease_seconds``; a worker that dies simply lets it
        lapse and the step is claimed again, and a live worker renews it
        (``renew_leases``) for as long as the step runs. Claims are serialized
        on the writer (SQLite) or skip rows another claimer has locked
        (PostgreSQL), so no step is handed to two claimers at once. Steps of
        ``exclude_connections`` (saturated sinks) are left for later.
        """

        def work(conn: sa.Connection) -> list[StepWork]:
            conditions = [
                steps.c.status == "pending",
                steps.c.due_at <= now,
                sa.or_(steps.c.lease_until.is_(None), steps.c.lease_until < now),
            ]
            if exclude_connections:
                conditions.append(steps.c.connection.not_in(list(exclude_connections)))
            pick = (
                sa.select(steps.c.id)
                .where(*conditions)
                .order_by(steps.c.due_at, steps.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list(conn.execute(pick).scalars())
            if not ids:
                return []
            lease_until = now + timedelta(seconds=lease_seconds)
            conn.execute(
                sa.update(steps)
                .where(steps.c.id.in_(ids))
                .values(lease_until=lease_until, lease_owner=owner, updated_at=utcnow())
            )
            query = (
                rows.delivery_select(full_event=True)
                .where(steps.c.id.in_(ids))
                .order_by(steps.c.due_at, steps.c.id)
            )
            return [
                StepWork(
                    step=rows.step_of(m), run=rows.run_of(m), event=rows.event_of(m, prefix="e_")
                )
                for m in conn.execute(query).mappings()
            ]

        return await self._write(work)

    async def claim_run(
        self, run_id: str, now: datetime, lease_seconds: float, owner: str
    ) -> StepWork | None:
        """Lease the run's due pending step for ``owner`` (celery engine: one message, one run).

        The step is free when unleased, when its lease lapsed, or when it is
        only marked published (``QUEUE_OWNER``); a live worker's lease is
        respected, so a duplicate message gets None and costs nothing.
        """
        return await self._write(
            lambda conn: writes.claim_run(conn, run_id, now, lease_seconds, owner)
        )

    async def sweep_due(
        self,
        now: datetime,
        limit: int,
        requeue_seconds: float,
        exclude_connections: Sequence[str] = (),
    ) -> list[QueuedStep]:
        """Mark up to ``limit`` due, free pending steps as published; return them to publish.

        Free means what ``claim_due`` means (no lease, or a lapsed one), so a step
        whose message was lost, or whose worker died, comes back here once its
        mark or lease lapses, and never while a live worker holds it. Steps of
        ``exclude_connections`` (paused by ops) stay due and unmarked.
        """
        excluded = list(exclude_connections)
        return await self._write(
            lambda conn: writes.sweep_due(conn, now, limit, requeue_seconds, excluded)
        )

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending step falls due (None: nothing pending).

        A leased step counts at its lease expiry, when it becomes claimable again.
        """
        effective = sa.case(
            (
                sa.and_(steps.c.lease_until.is_not(None), steps.c.lease_until > steps.c.due_at),
                steps.c.lease_until,
            ),
            else_=steps.c.due_at,
        )
        query = sa.select(sa.func.min(effective)).where(steps.c.status == "pending")
        value = await self._read(lambda c: c.execute(query).scalar())
        return rows.aware(value)

    async def lease_owners(self) -> list[str]:
        """Who holds leases on pending steps now (``host:pid`` of each dispatcher)."""
        query = (
            sa.select(steps.c.lease_owner)
            .where(steps.c.status == "pending", steps.c.lease_owner.is_not(None))
            .distinct()
        )
        return await self._read(lambda c: [str(v) for v in c.execute(query).scalars()])

    async def release_leases(self, owner: str) -> int:
        """Free every lease ``owner`` holds (it is known dead), so its steps run now.

        Without this a restarted process would wait for the dead one's leases to
        lapse; the idempotency keys make running such a step again harmless.
        """

        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                sa.update(steps)
                .where(steps.c.status == "pending", steps.c.lease_owner == owner)
                .values(lease_until=None, lease_owner=None, updated_at=utcnow())
            )
            return int(result.rowcount or 0)

        return await self._write(work)

    async def finish_attempt(
        self,
        step_row_id: str,
        attempt: AttemptRecord,
        outcome: StepOutcome,
        owner: str | None = None,
    ) -> None:
        """Record an attempt and apply its outcome to step and run in one transaction.

        The attempt is always recorded. The outcome is applied only while the
        step is still pending and, when ``owner`` is given, still leased by
        that owner: if ops cancelled it (replay from the start) or another
        worker claimed it after a lease lapsed, the late result must not move
        the run or clear the other worker's lease.

        Raises:
            LookupError: no step has that id.
        """
        await self._write(lambda conn: writes.finish(conn, step_row_id, attempt, outcome, owner))

    async def renew_leases(self, step_row_ids: Sequence[str], owner: str, until: datetime) -> int:
        """Extend ``owner``'s leases on running steps to ``until``; returns how many it still holds."""
        if not step_row_ids:
            return 0

        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                sa.update(steps)
                .where(
                    steps.c.id.in_(list(step_row_ids)),
                    steps.c.lease_owner == owner,
                    steps.c.status == "pending",
                )
                .values(lease_until=until)
            )
            return int(result.rowcount or 0)

        return await self._write(work)

    async def release_steps(
        self, step_row_ids: Sequence[str], owner: str, due_at: datetime | None = None
    ) -> int:
        """Give claimed steps back to the queue unrun: their connection had no free
        slot, or no API budget left (then they fall due again at ``due_at``)."""
        if not step_row_ids:
            return 0
        values: dict[str, Any] = {"lease_until": None, "lease_owner": None}
        if due_at is not None:
            values["due_at"] = due_at

        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                sa.update(steps)
                .where(steps.c.id.in_(list(step_row_ids)), steps.c.lease_owner == owner)
                .values(**values)
            )
            return int(result.rowcount or 0)

        return await self._write(work)

    async def replay(self, step_row_ids: list[str], from_start: bool = False) -> int:
        """Make dead (or any finished) steps due again, keeping idempotency keys.

        With ``from_start`` the run restarts at its first step. Returns how many runs moved.

        Per run, the earliest given step (or step 0 with ``from_start``) becomes
        pending and due now with a fresh ``attempts`` count (so its retry policy
        applies again; attempt rows and their numbers are kept), and the run's
        later steps are marked ``cancelled`` until the run reaches them again.
        A step a worker holds right now (pending, lease not expired) is left alone.
        """
        return await self._write(lambda conn: writes.replay(conn, step_row_ids, from_start))

    # -- reading -------------------------------------------------------------------

    async def list_events(self, flt: EventFilter) -> tuple[list[Event], str | None]:
        """Newest first; returns the page and the keyset cursor of the next page.

        ``since`` (inclusive) and ``until`` (exclusive) bound ``received_at``.
        """
        query = sa.select(events)
        for column, value in (
            (events.c.type, flt.type),
            (events.c.connection, flt.connection),
            (events.c.subject, flt.subject),
        ):
            if value is not None:
                query = query.where(column == value)
        query = rows.window(
            query, events.c.received_at, events.c.id, flt.since, flt.until, flt.before
        )
        query = query.order_by(events.c.received_at.desc(), events.c.id.desc()).limit(flt.limit + 1)
        fetched = await self._read(lambda c: list(c.execute(query).mappings()))
        page = fetched[: flt.limit]
        more = len(fetched) > flt.limit
        cursor = rows.encode_cursor(page[-1]["received_at"], page[-1]["id"]) if more else None
        return [rows.event_of(m) for m in page], cursor

    async def get_event(self, event_id: str) -> Event | None:
        """One event with its raw payload, or None."""
        query = sa.select(events).where(events.c.id == event_id)
        row = await self._read(lambda c: c.execute(query).mappings().first())
        return None if row is None else rows.event_of(row)

    async def list_deliveries(
        self, flt: DeliveryFilter
    ) -> tuple[list[tuple[StepRow, RunRow]], str | None]:
        """Steps joined with their runs, newest first, with the next page's cursor.

        ``connection`` matches either the step's (sink) connection or the
        connection the event came in on; ``since``/``until`` bound the step's
        ``created_at`` (inclusive/exclusive).
        """
        query = _delivery_page(rows.delivery_select(), replace(flt, connection=None))

        def work(conn: sa.Connection) -> list[sa.RowMapping]:
            page_query = query
            if flt.connection is not None:
                sides = _connection_sides(conn, flt.connection)
                if not sides:
                    return []
                page_query = query.where(steps.c.id.in_(_steps_of_connection(flt, sides)))
            return list(conn.execute(page_query).mappings())

        fetched = await self._read(work)
        page = [(rows.step_of(m), rows.run_of(m)) for m in fetched[: flt.limit]]
        more = len(fetched) > flt.limit
        cursor = rows.encode_cursor(page[-1][0].created_at, page[-1][0].id) if more else None
        return page, cursor

    async def get_delivery(
        self, step_row_id: str
    ) -> tuple[StepRow, RunRow, list[AttemptRow]] | None:
        """A step, its run and every attempt at it (oldest first), or None."""

        def work(conn: sa.Connection) -> tuple[StepRow, RunRow, list[AttemptRow]] | None:
            row = conn.execute(rows.delivery_select().where(steps.c.id == step_row_id)).mappings()
            found = row.first()
            if found is None:
                return None
            return rows.step_of(found), rows.run_of(found), rows.attempts_of(conn, step_row_id)

        return await self._read(work)

    async def get_run(self, run_id: str) -> tuple[RunRow, list[StepRow]] | None:
        """A run and its steps in recipe order, or None."""

        def work(conn: sa.Connection) -> tuple[RunRow, list[StepRow]] | None:
            query = (
                sa.select(*rows.labelled(runs, "r_"), *rows.event_names())
                .select_from(runs.join(events, events.c.id == runs.c.event_id))
                .where(runs.c.id == run_id)
            )
            found = conn.execute(query).mappings().first()
            if found is None:
                return None
            step_rows = conn.execute(
                sa.select(*rows.labelled(steps, "s_"))
                .where(steps.c.run_id == run_id)
                .order_by(steps.c.step_index)
            ).mappings()
            return rows.run_of(found), [rows.step_of(m) for m in step_rows]

        return await self._read(work)

    async def list_attempts(self, step_row_id: str) -> list[AttemptRow]:
        """Every attempt at a step, oldest first."""
        return await self._read(lambda c: rows.attempts_of(c, step_row_id))

    # -- connections -----------------------------------------------------------------

    async def upsert_connection(
        self, name: str, connector: str, config: dict[str, Any], enabled: bool
    ) -> None:
        """Create a connection or replace its settings; its runtime ``state`` is kept."""

        def work(conn: sa.Connection) -> None:
            now = utcnow()
            stmt = writes.insert_for(conn, connections).values(
                name=name,
                connector=connector,
                config=config,
                enabled=enabled,
                state={},
                created_at=now,
                updated_at=now,
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[connections.c.name],
                    set_={
                        "connector": connector,
                        "config": config,
                        "enabled": enabled,
                        "updated_at": now,
                    },
                )
            )

        await self._write(work)

    async def get_connection(self, name: str) -> ConnectionRow | None:
        """One connection, or None."""
        query = sa.select(connections).where(connections.c.name == name)
        row = await self._read(lambda c: c.execute(query).mappings().first())
        return None if row is None else rows.connection_of(row)

    async def list_connections(self) -> list[ConnectionRow]:
        """All connections by name."""
        query = sa.select(connections).order_by(connections.c.name)
        fetched = await self._read(lambda c: list(c.execute(query).mappings()))
        return [rows.connection_of(m) for m in fetched]

    async def update_connection_state(self, name: str, patch: dict[str, Any]) -> None:
        """Merge ``patch`` into the connection's state (keys with None are removed).

        Raises:
            LookupError: no connection has that name.
        """

        def work(conn: sa.Connection) -> None:
            current = conn.execute(
                sa.select(connections.c.state).where(connections.c.name == name).with_for_update()
            ).first()
            if current is None:
                raise LookupError(f"no connection named {name!r}")
            state = dict(current[0] or {})
            for key, value in patch.items():
                if value is None:
                    state.pop(key, None)
                else:
                    state[key] = value
            conn.execute(
                sa.update(connections)
                .where(connections.c.name == name)
                .values(state=state, updated_at=utcnow())
            )

        await self._write(work)

    async def counts(self) -> dict[str, int]:
        """Totals for a status line: events, runs by status, steps pending/dead, attempts."""

        def work(conn: sa.Connection) -> dict[str, int]:
            out = {
                "events": 0,
                "runs_pending": 0,
                "runs_running": 0,
                "runs_succeeded": 0,
                "runs_dead": 0,
                "steps_pending": 0,
                "steps_dead": 0,
                "attempts": 0,
            }
            out["events"] = conn.execute(
                sa.select(sa.func.count()).select_from(events)
            ).scalar_one()
            out["attempts"] = conn.execute(
                sa.select(sa.func.count()).select_from(attempts)
            ).scalar_one()
            for table, prefix in ((runs, "runs_"), (steps, "steps_")):
                by_status = sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
                for status, n in conn.execute(by_status):
                    if f"{prefix}{status}" in out:
                        out[f"{prefix}{status}"] = n
            return out

        return await self._read(work)

    async def prune(
        self,
        target: PruneTarget,
        before: datetime,
        limit: int,
        after: str | None = None,
        dry_run: bool = False,
        events_before: datetime | None = None,
    ) -> PruneBatch:
        """One retention batch: old finished ``target`` rows from keyset ``after`` (see
        ``hub.store.prune`` for what may go, and for ``events_before``).

        A real batch is a background write: the writer runs it only while no
        ingest or other write is waiting, as its own short transaction. A dry
        run only reads.
        """

        def work(conn: sa.Connection) -> PruneBatch:
            return prune_batch(conn, target, before, limit, after, dry_run, events_before)

        if dry_run:
            return await self._read(work)
        return await self._write(work, background=True)

    async def count_deliveries(self, flt: DeliveryFilter) -> int:
        """How many steps match ``flt`` (its ``limit`` and ``before`` are ignored)."""
        query = _delivery_where(
            sa.select(sa.func.count()).select_from(
                steps.join(runs, runs.c.id == steps.c.run_id).join(
                    events, events.c.id == runs.c.event_id
                )
            ),
            flt,
        )
        query = rows.window(query, steps.c.created_at, steps.c.id, flt.since, flt.until, None)
        return int(await self._read(lambda c: c.execute(query).scalar_one()))

    # -- operations' own tables (tokens, audit log, jobs, recipe switches) ------------

    async def run_read(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` with a read connection (``hub.ops`` keeps its own queries this way)."""
        return await self._read(fn)

    async def run_write(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` in one write transaction, on the writer thread like every write."""
        return await self._write(fn)


def _delivery_page(query: sa.Select[Any], flt: DeliveryFilter) -> sa.Select[Any]:
    """``flt``'s filters, keyset window, newest-first order and limit (+1 to see more)."""
    query = _delivery_where(query, flt)
    query = rows.window(query, steps.c.created_at, steps.c.id, flt.since, flt.until, flt.before)
    return query.order_by(steps.c.created_at.desc(), steps.c.id.desc()).limit(flt.limit + 1)


def _connection_sides(conn: sa.Connection, name: str) -> tuple[str, ...]:
    """Whether ``name`` is a sink (has steps), a source (has events), or both: two index probes.

    Most connections are one or the other; querying only the side that has
    rows keeps the planner from walking a side that can never match (a sink's
    "source" side would scan every step of the status asked for).
    """
    sides = []
    if conn.execute(sa.select(steps.c.id).where(steps.c.connection == name).limit(1)).first():
        sides.append("sink")
    if conn.execute(sa.select(events.c.id).where(events.c.connection == name).limit(1)).first():
        sides.append("source")
    return tuple(sides)


def _steps_of_connection(
    flt: DeliveryFilter, sides: tuple[str, ...] = ("sink", "source")
) -> sa.Select[tuple[str]] | sa.CompoundSelect[tuple[str]]:
    """Ids of the page's candidate steps for ``flt.connection``, one index range per side.

    The connection is the step's sink or the event's source; as one ``OR``
    across two tables no index can serve it, and a rarely used connection
    would make the page scan every delivery. As two keyset pages (steps by
    ``(connection, created_at, id)``, events by ``(connection, received_at, id)``),
    each side is one index range, and the outer query keeps the newest.
    """
    joined = sa.select(steps.c.id).select_from(
        steps.join(runs, runs.c.id == steps.c.run_id).join(events, events.c.id == runs.c.event_id)
    )
    others = replace(flt, connection=None)
    pages = []
    if "sink" in sides:
        sink = _delivery_page(joined.where(steps.c.connection == flt.connection), others)
        pages.append(sa.select(sink.subquery().c.id))
    if "source" in sides:
        source = _delivery_page(joined.where(events.c.connection == flt.connection), others)
        pages.append(sa.select(source.subquery().c.id))
    return pages[0] if len(pages) == 1 else sa.union(*pages)


def _delivery_where(query: sa.Select[Any], flt: DeliveryFilter) -> sa.Select[Any]:
    """``flt``'s conditions on a select over steps ⋈ runs ⋈ events.

    ``connection`` matches either the step's (sink) connection or the
    connection the event came in on.
    """
    if flt.status is not None:
        query = query.where(steps.c.status == flt.status)
    if flt.connection is not None:
        query = query.where(
            sa.or_(steps.c.connection == flt.connection, events.c.connection == flt.connection)
        )
    if flt.recipe is not None:
        query = query.where(runs.c.recipe == flt.recipe)
    if flt.run_id is not None:
        query = query.where(steps.c.run_id == flt.run_id)
    if flt.event_type is not None:
        query = query.where(events.c.type == flt.event_type)
    if flt.subject is not None:
        query = query.where(events.c.subject == flt.subject)
    return query


# -- SQLite setup ------------------------------------------------------------------


def _sqlite_setup(engine: sa.Engine, begin: str) -> None:
    """Durability pragmas on every new connection; we issue BEGIN ourselves.

    pysqlite's own transaction handling begins lazily and only before DML,
    so a SELECT-then-UPDATE would not be atomic; switching the driver to
    autocommit and emitting ``BEGIN IMMEDIATE`` for writers takes the write
    lock up front (the SQLAlchemy-documented recipe).
    """

    @sa_event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    @sa_event.listens_for(engine, "begin")
    def on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)
