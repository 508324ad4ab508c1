"""The store: the hub's durable source of truth (events, runs, steps, attempts, cursors).

``Store`` is the protocol the rest of the hub calls; ``hub.store.sql.SqlStore``
implements it with SQLAlchemy Core on SQLite (WAL, fsync on commit) or
PostgreSQL, migrated by Alembic. Writes that must be durable before a webhook
is acknowledged go through ``ingest``, which group-commits concurrent callers
into one transaction.

Vocabulary: a **run** is one (event, recipe) pair; a **step** is one action
call of a run (ops call a step a *delivery*); an **attempt** is one try of a
step. The steps table with ``status='pending'`` and ``due_at <= now`` is the
inline engine's queue; a ``lease_until`` in the future means a worker holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

import sqlalchemy as sa

from hub.events import Event

__all__ = [
    "QUEUE_OWNER",
    "AttemptRecord",
    "AttemptRow",
    "ConnectionRow",
    "DeliveryFilter",
    "EventFilter",
    "IngestItem",
    "PlannedRun",
    "QueuedStep",
    "RunRow",
    "StepOutcome",
    "StepRow",
    "StepWork",
    "Store",
]

T = TypeVar("T")
RunStatus = Literal["pending", "running", "succeeded", "dead", "cancelled"]
StepStatus = Literal["pending", "succeeded", "skipped", "dead", "cancelled"]

QUEUE_OWNER = "queue"
"""``lease_owner`` of a step published to the broker but not started (celery engine).

Such a step is claimable by a worker's message at once, and by the sweeper only
after its ``lease_until``: the time a lost message is given before it is sent again.
"""


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """A run the router decided on, with its first step (created with the event)."""

    recipe: str
    step_id: str
    step_index: int
    action: str
    connection: str
    idempotency_key: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class IngestItem:
    """One bound event (``Event.bind`` done) and the runs it starts."""

    event: Event
    runs: list[PlannedRun] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StepRow:
    id: str
    run_id: str
    step_id: str
    step_index: int
    action: str
    connection: str
    idempotency_key: str
    status: StepStatus
    attempts: int
    due_at: datetime | None
    lease_until: datetime | None
    output: dict[str, Any] | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RunRow:
    id: str
    event_id: str
    recipe: str
    status: RunStatus
    outputs: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    event_type: str = ""
    connection: str = ""
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptRow:
    id: int
    step_id: str
    run_id: str
    number: int
    started_at: datetime
    duration_ms: float
    outcome: Literal["ok", "transient", "permanent", "skipped", "throttled"]
    status_code: int | None
    error: str | None
    request: str | None
    response: str | None


@dataclass(frozen=True, slots=True)
class QueuedStep:
    """A due step the sweeper marked as published (``QUEUE_OWNER``): what its message names."""

    run_id: str
    step_row_id: str
    connection: str
    lapsed: bool = False  # it was leased (a message or worker lost), not simply new or due


@dataclass(frozen=True, slots=True)
class StepWork:
    """A claimed step with everything the runner needs to execute it."""

    step: StepRow
    run: RunRow
    event: Event


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """What one try of a step did (written with the outcome, in one transaction)."""

    started_at: datetime
    duration_ms: float
    outcome: Literal["ok", "transient", "permanent", "skipped", "throttled"]
    status_code: int | None = None
    error: str | None = None
    request: str | None = None
    response: str | None = None


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How to move a run on after an attempt.

    - ``ok``/``skipped``: the step is done with ``output``; ``next_step`` (if
      any) is created due now, else the run succeeds.
    - ``retry``: the step stays pending, due at ``retry_at``.
    - ``dead``: the step and its run are dead-lettered with ``error``.
    """

    kind: Literal["ok", "skipped", "retry", "dead"]
    output: dict[str, Any] | None = None
    retry_at: datetime | None = None
    error: str | None = None
    next_step: PlannedRun | None = None


@dataclass(frozen=True, slots=True)
class EventFilter:
    type: str | None = None
    connection: str | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    before: str | None = None  # keyset cursor (opaque) from the previous page


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    status: StepStatus | None = None
    connection: str | None = None
    recipe: str | None = None
    run_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    before: str | None = None
    event_type: str | None = None  # the triggering event's type
    subject: str | None = None  # the triggering event's subject


@dataclass(frozen=True, slots=True)
class ConnectionRow:
    name: str
    connector: str
    config: dict[str, Any]  # secrets sealed (``SecretBox``)
    enabled: bool
    state: dict[str, Any]  # runtime state: sealed OAuth tokens, needs_reauth, ...
    updated_at: datetime


class Store(Protocol):
    """What the hub needs from durable storage. Every method is safe to call concurrently."""

    async def open(self) -> None:
        """Connect and bring the schema to the newest migration."""

    async def close(self) -> None:
        """Flush pending group commits and release connections."""

    async def ping(self) -> bool:
        """True when a trivial query succeeds (``/readyz``)."""

    async def ingest(self, items: list[IngestItem]) -> list[bool]:
        """Durably store events and their planned runs; one flag per item, False = duplicate.

        Concurrent callers are group-committed. Returns only after the commit is
        on disk. Raises ``StoreUnavailable`` when the database cannot commit.
        """

    async def save_poll(
        self, connection: str, source: str, items: list[IngestItem], cursor: Any
    ) -> list[bool]:
        """Store a poll's events and its new cursor in one transaction."""

    async def get_cursor(self, connection: str, source: str) -> Any:
        """The saved cursor (JSON value), or None."""

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        lease_seconds: float,
        owner: str,
        exclude_connections: Sequence[str] = (),
    ) -> list[StepWork]:
        """Lease up to ``limit`` pending steps due by ``now`` (or whose lease expired),
        leaving the steps of ``exclude_connections`` for later."""

    async def claim_run(
        self, run_id: str, now: datetime, lease_seconds: float, owner: str
    ) -> StepWork | None:
        """Lease the run's pending step if it is due and free (unleased, lease expired,
        or only marked ``QUEUE_OWNER``); None when there is nothing to run (celery engine)."""

    async def sweep_due(
        self,
        now: datetime,
        limit: int,
        requeue_seconds: float,
        exclude_connections: Sequence[str] = (),
    ) -> list[QueuedStep]:
        """Mark up to ``limit`` due, unleased (or lease-expired) pending steps as published
        (``QUEUE_OWNER`` until ``now + requeue_seconds``) and return them to publish,
        leaving the steps of ``exclude_connections`` (paused) alone."""

    async def renew_leases(self, step_row_ids: Sequence[str], owner: str, until: datetime) -> int:
        """Extend ``owner``'s leases on steps it is running; returns how many it still holds."""

    async def release_steps(
        self, step_row_ids: Sequence[str], owner: str, due_at: datetime | None = None
    ) -> int:
        """Give claimed steps back to the queue unrun (due again at ``due_at`` if given)."""

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending step falls due (None: nothing pending)."""

    async def lease_owners(self) -> list[str]:
        """Who holds leases on pending steps (``host:pid``)."""

    async def release_leases(self, owner: str) -> int:
        """Free the leases of ``owner``, known to be dead; returns how many."""

    async def finish_attempt(
        self,
        step_row_id: str,
        attempt: AttemptRecord,
        outcome: StepOutcome,
        owner: str | None = None,
    ) -> None:
        """Record an attempt and apply its outcome in one transaction (only while
        ``owner``, if given, still holds the step's lease)."""

    async def replay(self, step_row_ids: list[str], from_start: bool = False) -> int:
        """Make dead (or any finished) steps due again, keeping idempotency keys.

        With ``from_start`` the run restarts at its first step. Returns how many runs moved.
        """

    async def list_events(self, flt: EventFilter) -> tuple[list[Event], str | None]:
        """Newest first; returns the page and the keyset cursor of the next page."""

    async def get_event(self, event_id: str) -> Event | None: ...

    async def list_deliveries(
        self, flt: DeliveryFilter
    ) -> tuple[list[tuple[StepRow, RunRow]], str | None]:
        """Steps joined with their runs, newest first, with the next page's cursor."""

    async def get_delivery(
        self, step_row_id: str
    ) -> tuple[StepRow, RunRow, list[AttemptRow]] | None: ...

    async def get_run(self, run_id: str) -> tuple[RunRow, list[StepRow]] | None: ...

    async def list_attempts(self, step_row_id: str) -> list[AttemptRow]: ...

    async def upsert_connection(
        self, name: str, connector: str, config: dict[str, Any], enabled: bool
    ) -> None: ...

    async def get_connection(self, name: str) -> ConnectionRow | None: ...

    async def list_connections(self) -> list[ConnectionRow]: ...

    async def update_connection_state(self, name: str, patch: dict[str, Any]) -> None:
        """Merge ``patch`` into the connection's state (keys with None are removed)."""

    async def counts(self) -> dict[str, int]:
        """Totals for a status line: events, runs by status, steps pending/dead, attempts."""

    async def count_deliveries(self, flt: DeliveryFilter) -> int:
        """How many steps match ``flt`` (its ``limit`` and ``before`` are ignored)."""

    async def run_read(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` with a read connection (``hub.ops`` keeps its own queries this way)."""

    async def run_write(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` in one write transaction, on the writer thread like every write."""
