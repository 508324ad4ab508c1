"""The rules, each turning what the hub knows into ``Alert``s: dead letters, re-authorization,
error rates (a store query per interval) and API credits.

The builders are pure; the two queries (``attempt_outcomes``, ``latest_failure``)
take a read connection and use the ``attempts(started_at, outcome)`` index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.alerts.model import Alert
from hub.alerts.settings import CreditRule, ErrorRateRule
from hub.limits import BudgetUsage
from hub.store import StepWork
from hub.store.tables import attempts, steps

__all__ = [
    "Failure",
    "attempt_outcomes",
    "clip",
    "credit_alert",
    "dead_letter_alert",
    "error_rate_alerts",
    "latest_failure",
    "reauth_alert",
]

FAILED = ("transient", "permanent")
# Throttled attempts are the hub waiting for its own budget: neither success nor failure.
COUNTED = (*FAILED, "ok", "skipped")
ERROR_CHARS = 500


def clip(error: str | None) -> str | None:
    if error is None:
        return None
    return error if len(error) <= ERROR_CHARS else error[: ERROR_CHARS - 1] + "…"


def dead_letter_alert(work: StepWork, now: datetime) -> Alert:
    """A delivery gave up. The error is looked up when the alert is sent (it is in the store)."""
    step, run, event = work.step, work.run, work.event
    return Alert(
        rule="dead_letter",
        key=step.connection,
        summary=(
            f"dead letter on {step.connection}: step '{step.step_id}' of recipe "
            f"'{run.recipe}' gave up ({event.type} {event.subject})"
        ),
        at=now,
        connection=step.connection,
        recipe=run.recipe,
        event_id=event.id,
        event_type=event.type,
        subject=event.subject,
        step=step.step_id,
        delivery_id=step.id,
        attempts=step.attempts + 1,
        error=clip(step.last_error),
    )


def reauth_alert(connection: str, reason: str | None, now: datetime) -> Alert:
    """A connection's credentials were refused: someone must re-authorize it."""
    return Alert(
        rule="needs_reauth",
        key=connection,
        summary=f"connection {connection} needs re-authorization; its deliveries wait until then",
        at=now,
        connection=connection,
        error=clip(reason),
    )


def error_rate_alerts(
    outcomes: dict[str, dict[str, int]], rule: ErrorRateRule, now: datetime
) -> list[Alert]:
    """One alert per connection whose failed share of attempts is at or over the threshold."""
    found = []
    for connection, by_outcome in sorted(outcomes.items()):
        total = sum(by_outcome.get(o, 0) for o in COUNTED)
        failed = sum(by_outcome.get(o, 0) for o in FAILED)
        if total < rule.min_attempts or failed / total < rule.threshold:
            continue
        rate = failed / total
        found.append(
            Alert(
                rule="error_rate",
                key=connection,
                summary=(
                    f"{connection}: {failed} of {total} attempts failed ({rate:.0%}) in the "
                    f"last {rule.window:g} s (threshold {rule.threshold:.0%})"
                ),
                at=now,
                connection=connection,
                details={
                    "failed": failed,
                    "attempts": total,
                    "rate": round(rate, 4),
                    "threshold": rule.threshold,
                    "window_seconds": rule.window,
                },
            )
        )
    return found


def credit_alert(
    connection: str, usage: BudgetUsage, rule: CreditRule, now: datetime
) -> Alert | None:
    """An alert when today's API use is at or past ``rule.fraction`` of the daily budget."""
    fraction = usage.day_fraction
    if fraction is None or fraction < rule.fraction:
        return None
    return Alert(
        rule="api_credits",
        key=connection,
        summary=(
            f"{connection} has used {fraction:.0%} of its daily API credits "
            f"({usage.day_used:,} of {usage.day_limit:,}); steps will wait once they run out"
        ),
        at=now,
        connection=connection,
        details={
            "day_used": usage.day_used,
            "day_limit": usage.day_limit,
            "fraction": round(fraction, 4),
            "alert_at": rule.fraction,
        },
    )


def attempt_outcomes(conn: sa.Connection, since: datetime) -> dict[str, dict[str, int]]:
    """Attempts started at or after ``since``, counted by sink connection and outcome.

    An index range scan on ``attempts(started_at, outcome)`` and a primary-key
    lookup of each attempt's step: cheap for the few minutes a check covers.
    """
    query = (
        sa.select(steps.c.connection, attempts.c.outcome, sa.func.count())
        .select_from(attempts.join(steps, steps.c.id == attempts.c.step_row_id))
        .where(attempts.c.started_at >= since)
        .group_by(steps.c.connection, attempts.c.outcome)
    )
    out: dict[str, dict[str, int]] = {}
    for connection, outcome, n in conn.execute(query):
        out.setdefault(str(connection), {})[str(outcome)] = int(n)
    return out


@dataclass(frozen=True, slots=True)
class Failure:
    """The newest failed attempt on a connection, quoted in an error-rate alert."""

    delivery_id: str
    error: str | None
    status_code: int | None


def latest_failure(conn: sa.Connection, connection: str, since: datetime) -> Failure | None:
    """The newest failed attempt at a step of ``connection`` since ``since`` (or None)."""
    query: Any = (
        sa.select(attempts.c.step_row_id, attempts.c.error, attempts.c.status_code)
        .select_from(attempts.join(steps, steps.c.id == attempts.c.step_row_id))
        .where(
            attempts.c.started_at >= since,
            attempts.c.outcome.in_(FAILED),
            steps.c.connection == connection,
        )
        .order_by(attempts.c.started_at.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return Failure(str(row[0]), clip(row[1]), row[2])
