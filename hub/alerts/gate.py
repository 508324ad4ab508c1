"""The storm gate's rules, pure: one (channel, rule, key)'s state and how alerts move it.

A storm of 1,000 dead letters on one connection must send a handful of
messages, not 1,000, and must still say how many there were. Per channel, rule
and key (the connection), a ``GateRow`` holds:

- a **window**: while it is open, alerts are counted (``pending``) with the
  first and a few samples kept, instead of being sent;
- an **in-flight** batch: what was handed to a sender and not yet confirmed,
  under a lease, so a process that dies mid-send loses nothing (the batch is
  taken again once the lease lapses) and a failed send is merged back and
  retried at the end of the next window.

The life of a key: an alert finds no open window, so it is sent at once and
opens one (``admit``). Alerts inside the window are counted. When the window
ends with alerts counted, they are taken as one digest and a new window opens
(``take``), so a storm that goes on sends one digest per window. A window that
ends with nothing counted just lapses, and the next alert goes out at once.

``hub.alerts.state`` applies these functions to rows of ``alert_state`` inside
a transaction, which is what makes several processes share one gate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from hub.alerts.model import Batch

__all__ = ["GatePolicy", "GateRow", "admit", "is_due", "settle", "take"]


@dataclass(frozen=True, slots=True)
class GatePolicy:
    """Window length, how long a send may hold a batch, and how many samples a digest keeps."""

    window: timedelta
    lease: timedelta = timedelta(minutes=2)
    samples: int = 5


@dataclass(frozen=True, slots=True)
class GateRow:
    """The gate's state for one (channel, rule, key)."""

    window_start: datetime | None = None
    window_end: datetime | None = None
    pending: int = 0
    first: dict[str, Any] | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    in_flight: dict[str, Any] | None = None
    lease_until: datetime | None = None


def admit(
    row: GateRow | None, alert: dict[str, Any], now: datetime, policy: GatePolicy
) -> tuple[GateRow, Batch | None]:
    """Count ``alert`` in; returns the new state and the batch to send now (None: counted).

    The alert is sent at once only when the key is quiet: no open window,
    nothing counted and nothing in flight.
    """
    row = row or GateRow()
    quiet = (
        (row.window_end is None or row.window_end <= now)
        and row.pending == 0
        and row.in_flight is None
    )
    if quiet:
        batch = Batch(1, alert, [], since=now, until=now, digest=False, token=_token())
        return (
            GateRow(
                window_start=now,
                window_end=now + policy.window,
                in_flight=batch.to_json(),
                lease_until=now + policy.lease,
            ),
            batch,
        )
    if row.first is None:
        return replace(row, pending=row.pending + 1, first=alert), None
    samples = row.samples if len(row.samples) >= policy.samples else [*row.samples, alert]
    return replace(row, pending=row.pending + 1, samples=samples), None


def is_due(row: GateRow, now: datetime) -> bool:
    """True when ``take`` has something to send: a window ended with alerts counted (and no
    batch is being sent), or a batch's lease lapsed (its sender died or hung)."""
    ended = (
        row.pending > 0
        and row.in_flight is None
        and (row.window_end is None or row.window_end <= now)
    )
    stale = row.in_flight is not None and (row.lease_until is None or row.lease_until <= now)
    return ended or stale


def take(row: GateRow, now: datetime, policy: GatePolicy) -> tuple[GateRow, Batch]:
    """Hand the counted alerts (and a lapsed batch) to a sender as one digest; open a new window.

    Call only when ``is_due``.
    """
    merged = _merge(_stale(row, now), _counted(row, now), policy.samples)
    assert merged is not None, "take() called on a row that is not due"
    batch = replace(merged, until=now, digest=True, token=_token())
    return (
        GateRow(
            window_start=now,
            window_end=now + policy.window,
            in_flight=batch.to_json(),
            lease_until=now + policy.lease,
        ),
        batch,
    )


def settle(row: GateRow, token: str, delivered: bool, policy: GatePolicy) -> GateRow:
    """Close the in-flight batch ``token``: forget it once delivered; otherwise count it back
    in, so the end of the current window sends it again with whatever came since.

    A sender whose lease lapsed finds another token there (its batch was taken
    again) and changes nothing.
    """
    if row.in_flight is None or row.in_flight.get("token") != token:
        return row
    if delivered:
        return replace(row, in_flight=None, lease_until=None)
    failed = Batch.from_json(row.in_flight)
    counted = _counted(row, failed.until)
    merged = _merge(failed, counted, policy.samples)
    assert merged is not None
    return replace(
        row,
        window_start=merged.since,
        pending=merged.count,
        first=merged.first,
        samples=merged.samples,
        in_flight=None,
        lease_until=None,
    )


def _token() -> str:
    return uuid.uuid4().hex


def _stale(row: GateRow, now: datetime) -> Batch | None:
    if row.in_flight is None or (row.lease_until is not None and row.lease_until > now):
        return None
    return Batch.from_json(row.in_flight)


def _counted(row: GateRow, now: datetime) -> Batch | None:
    if row.pending <= 0 or row.first is None:
        return None
    return Batch(
        count=row.pending,
        first=row.first,
        samples=list(row.samples),
        since=row.window_start or now,
        until=now,
        digest=True,
    )


def _merge(older: Batch | None, newer: Batch | None, samples: int) -> Batch | None:
    """One batch standing for both: counts add up, the older first stays first."""
    if older is None or newer is None:
        return older or newer
    rest = [*older.samples, newer.first, *newer.samples]
    return Batch(
        count=older.count + newer.count,
        first=older.first,
        samples=rest[:samples],
        since=min(older.since, newer.since),
        until=max(older.until, newer.until),
        digest=True,
    )
