"""The storm gate in the store: ``alert_state`` rows moved by ``hub.alerts.gate``, one transaction each.

Every function takes a connection already inside a write transaction (the
store's writer thread opens it; SQLite write transactions begin ``IMMEDIATE``
and PostgreSQL rows are locked ``FOR UPDATE``), reads the rows it needs, applies
the pure gate rules and writes them back. So two processes counting the same
storm see each other's counts, and only one of them sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hub.alerts.gate import GatePolicy, GateRow, admit, is_due, settle, take
from hub.alerts.model import Batch
from hub.store.rows import aware
from hub.store.tables import alert_state
from hub.store.writes import insert_for

__all__ = [
    "GateKey",
    "Handed",
    "admit_alerts",
    "claim_tick",
    "settle_batch",
    "take_due",
]

TICK_CHANNEL = ""  # rows of periodic jobs (``claim_tick``) have no channel


@dataclass(frozen=True, slots=True)
class GateKey:
    """One gate: a channel, a rule and what the rule groups by (the connection)."""

    channel: str
    rule: str
    key: str


@dataclass(frozen=True, slots=True)
class Handed:
    """A batch handed to this process to send on ``gate.channel``; settle it when done."""

    gate: GateKey
    batch: Batch


def _where(gate: GateKey) -> Any:
    return sa.and_(
        alert_state.c.channel == gate.channel,
        alert_state.c.rule == gate.rule,
        alert_state.c.key == gate.key,
    )


def _row_of(m: sa.RowMapping) -> GateRow:
    return GateRow(
        window_start=aware(m["window_start"]),
        window_end=aware(m["window_end"]),
        pending=int(m["pending"]),
        first=m["first"],
        samples=list(m["samples"] or []),
        in_flight=m["in_flight"],
        lease_until=aware(m["lease_until"]),
    )


def _values(row: GateRow, now: datetime) -> dict[str, Any]:
    return {
        "window_start": row.window_start,
        "window_end": row.window_end,
        "pending": row.pending,
        "first": row.first,
        "samples": row.samples,
        "in_flight": row.in_flight,
        "lease_until": row.lease_until,
        "updated_at": now,
    }


def _lock(conn: sa.Connection, gate: GateKey, now: datetime) -> GateRow:
    """The gate's row, created empty if new, locked until the transaction ends.

    Inserting first (``ON CONFLICT DO NOTHING``) rather than inserting after a
    miss keeps two processes that meet a new key at once from colliding: the
    second waits for the first's row instead of failing on the primary key.
    """
    empty = _values(GateRow(), now)
    conn.execute(
        insert_for(conn, alert_state)
        .values(channel=gate.channel, rule=gate.rule, key=gate.key, **empty)
        .on_conflict_do_nothing()
    )
    found = (
        conn.execute(sa.select(alert_state).where(_where(gate)).with_for_update()).mappings().one()
    )
    return _row_of(found)


def _save(conn: sa.Connection, gate: GateKey, row: GateRow, now: datetime) -> None:
    conn.execute(sa.update(alert_state).where(_where(gate)).values(**_values(row, now)))


def admit_alerts(
    conn: sa.Connection,
    alerts: Sequence[tuple[GateKey, dict[str, Any]]],
    now: datetime,
    policy: GatePolicy,
) -> list[Handed]:
    """Count each alert in at its gate, in order; returns the batches to send now."""
    rows: dict[GateKey, GateRow] = {}
    handed: list[Handed] = []
    for gate, alert in alerts:
        row = rows[gate] if gate in rows else _lock(conn, gate, now)
        rows[gate], batch = admit(row, alert, now, policy)
        if batch is not None:
            handed.append(Handed(gate, batch))
    for gate, row in rows.items():
        _save(conn, gate, row, now)
    return handed


def take_due(conn: sa.Connection, now: datetime, policy: GatePolicy) -> list[Handed]:
    """Take every digest whose window has ended (and every batch whose sender died).

    On PostgreSQL rows another process is taking are skipped, not waited for.
    """
    query = (
        sa.select(alert_state)
        .where(
            alert_state.c.channel != TICK_CHANNEL,
            sa.or_(
                sa.and_(alert_state.c.pending > 0, alert_state.c.window_end <= now),
                sa.and_(alert_state.c.in_flight.is_not(None), alert_state.c.lease_until <= now),
            ),
        )
        .with_for_update(skip_locked=True)
    )
    handed: list[Handed] = []
    for m in conn.execute(query).mappings().all():
        gate = GateKey(m["channel"], m["rule"], m["key"])
        row = _row_of(m)
        if not is_due(row, now):
            continue
        new_row, batch = take(row, now, policy)
        _save(conn, gate, new_row, now)
        handed.append(Handed(gate, batch))
    return handed


def settle_batch(
    conn: sa.Connection, handed: Handed, delivered: bool, now: datetime, policy: GatePolicy
) -> None:
    """Record whether ``handed`` was delivered (a failed one is sent again next window)."""
    row = _lock(conn, handed.gate, now)
    _save(conn, handed.gate, settle(row, handed.batch.token, delivered, policy), now)


def claim_tick(conn: sa.Connection, name: str, now: datetime, interval: float) -> bool:
    """True for the one process that should run periodic job ``name`` now.

    The job's row keeps when it may next run (``window_end``); claiming moves
    that ``interval`` ahead, so however many processes ask, one runs per interval.
    """
    gate = GateKey(TICK_CHANNEL, name, "")
    row = _lock(conn, gate, now)
    if row.window_end is not None and row.window_end > now:
        return False
    nxt = GateRow(window_start=now, window_end=now + timedelta(seconds=interval))
    _save(conn, gate, nxt, now)
    return True
