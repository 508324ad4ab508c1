"""Reading helpers: joined selects, keyset page cursors, and rows turned into dataclasses.

Joined selects label every column with a table prefix (``s_``, ``r_``,
``e_``) because steps, runs and events share column names.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from hub.events import Event
from hub.store import AttemptRow, ConnectionRow, RunRow, StepRow
from hub.store.tables import attempts, events, runs, steps

__all__ = [
    "attempts_of",
    "aware",
    "connection_of",
    "decode_cursor",
    "delivery_select",
    "encode_cursor",
    "event_names",
    "event_of",
    "keyset_after",
    "keyset_before",
    "labelled",
    "run_of",
    "step_of",
    "window",
]


def labelled(table: sa.Table, prefix: str) -> list[sa.Label[Any]]:
    return [column.label(f"{prefix}{column.name}") for column in table.c]


def event_names() -> list[sa.Label[Any]]:
    return [events.c.type.label("e_type"), events.c.connection.label("e_connection")]


def delivery_select(full_event: bool = False) -> sa.Select[Any]:
    """Steps joined to runs and events, with prefixed column names."""
    event_cols = labelled(events, "e_") if full_event else event_names()
    return sa.select(*labelled(steps, "s_"), *labelled(runs, "r_"), *event_cols).select_from(
        steps.join(runs, runs.c.id == steps.c.run_id).join(events, events.c.id == runs.c.event_id)
    )


def window(
    query: sa.Select[Any],
    at: sa.Column[Any],
    key: sa.Column[Any],
    since: datetime | None,
    until: datetime | None,
    before: str | None,
) -> sa.Select[Any]:
    if since is not None:
        query = query.where(at >= since)
    if until is not None:
        query = query.where(at < until)
    if before is not None:
        cursor_at, cursor_id = decode_cursor(before)
        query = query.where(keyset_before(at, key, cursor_at, cursor_id))
    return query


def keyset_before(
    at: sa.Column[Any], key: sa.Column[Any], cursor_at: datetime, cursor_key: Any
) -> sa.ColumnElement[bool]:
    """Rows before keyset position ``(cursor_at, cursor_key)`` in ``(at, key)`` order.

    Written as one row-value comparison, which both databases read as a single
    index range; the equivalent ``at < x OR (at = x AND key < y)`` makes
    PostgreSQL walk the index from its end, so deep pages would cost like OFFSET.
    """
    return sa.tuple_(at, key) < _position(at, key, cursor_at, cursor_key)


def keyset_after(
    at: sa.Column[Any], key: sa.Column[Any], cursor_at: datetime, cursor_key: Any
) -> sa.ColumnElement[bool]:
    """Rows after keyset position ``(cursor_at, cursor_key)`` (see ``keyset_before``)."""
    return sa.tuple_(at, key) > _position(at, key, cursor_at, cursor_key)


def _position(
    at: sa.Column[Any], key: sa.Column[Any], cursor_at: datetime, cursor_key: Any
) -> sa.Tuple:
    # Typed like the columns, so UTCDateTime stores the time as the table does.
    return sa.tuple_(sa.literal(cursor_at, at.type), sa.literal(cursor_key, key.type))


def encode_cursor(at: datetime, key: str) -> str:
    raw = json.dumps([at.astimezone(UTC).isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, key = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(at), str(key)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{cursor!r} is not a page cursor from this store") from exc


def aware(value: Any) -> datetime | None:
    """Aggregates (``min``) on SQLite can bypass the column type; normalise here."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def event_of(m: sa.RowMapping, prefix: str = "") -> Event:
    return Event(
        type=m[f"{prefix}type"],
        subject=m[f"{prefix}subject"],
        idempotency_key=m[f"{prefix}idempotency_key"],
        time=m[f"{prefix}time"],
        data=m[f"{prefix}data"] or {},
        raw=m[f"{prefix}raw"],
        connection=m[f"{prefix}connection"],
        connector=m[f"{prefix}connector"],
        id=m[f"{prefix}id"],
        source=m[f"{prefix}source"],
        dataschema=m[f"{prefix}dataschema"],
    )


def step_of(m: sa.RowMapping) -> StepRow:
    return StepRow(
        id=m["s_id"],
        run_id=m["s_run_id"],
        step_id=m["s_step_id"],
        step_index=m["s_step_index"],
        action=m["s_action"],
        connection=m["s_connection"],
        idempotency_key=m["s_idempotency_key"],
        status=m["s_status"],
        attempts=m["s_attempts"],
        due_at=m["s_due_at"],
        lease_until=m["s_lease_until"],
        output=m["s_output"],
        last_error=m["s_last_error"],
        created_at=m["s_created_at"],
        updated_at=m["s_updated_at"],
    )


def run_of(m: sa.RowMapping) -> RunRow:
    return RunRow(
        id=m["r_id"],
        event_id=m["r_event_id"],
        recipe=m["r_recipe"],
        status=m["r_status"],
        outputs=m["r_outputs"] or {},
        created_at=m["r_created_at"],
        updated_at=m["r_updated_at"],
        event_type=m["e_type"],
        connection=m["e_connection"],
        last_error=m["r_last_error"],
    )


def attempts_of(conn: sa.Connection, step_row_id: str) -> list[AttemptRow]:
    query = (
        sa.select(attempts)
        .where(attempts.c.step_row_id == step_row_id)
        .order_by(attempts.c.number, attempts.c.id)
    )
    return [
        AttemptRow(
            id=m["id"],
            step_id=m["step_row_id"],
            run_id=m["run_id"],
            number=m["number"],
            started_at=m["started_at"],
            duration_ms=m["duration_ms"],
            outcome=m["outcome"],
            status_code=m["status_code"],
            error=m["error"],
            request=m["request"],
            response=m["response"],
        )
        for m in conn.execute(query).mappings()
    ]


def connection_of(m: sa.RowMapping) -> ConnectionRow:
    return ConnectionRow(
        name=m["name"],
        connector=m["connector"],
        config=m["config"] or {},
        enabled=bool(m["enabled"]),
        state=m["state"] or {},
        updated_at=m["updated_at"],
    )
