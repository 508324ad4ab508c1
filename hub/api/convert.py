"""Store rows and ops views turned into API models, plus in-memory keyset pages.

Reasons come from ``hub.web.reasons.explain`` (pure), so the API, the
dashboard and the CLI word the same failure the same way.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TypeVar

from hub.api.framework import ApiError
from hub.api.models import (
    AttemptOut,
    DeliveryOut,
    EventOut,
    ReasonOut,
    TokenOut,
)
from hub.auth import TokenInfo
from hub.events import Event
from hub.store import AttemptRow, RunRow, StepRow
from hub.web.reasons import explain

__all__ = [
    "attempt_out",
    "bad_cursor",
    "delivery_out",
    "event_out",
    "page_by_key",
    "reason_out",
    "token_out",
]

T = TypeVar("T")


def bad_cursor(cursor: str | None) -> ApiError:
    return ApiError(
        422,
        "invalid",
        "the query is invalid",
        [("query.cursor", f"{cursor!r} is not a next_cursor of this list")],
    )


def page_by_key(
    items: Sequence[T], key: Callable[[T], str], limit: int, cursor: str | None
) -> tuple[list[T], str | None]:
    """A keyset page of a small, already sorted list (connections, recipes, tokens)."""
    start = 0
    if cursor is not None:
        try:
            after = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except ValueError as exc:
            raise bad_cursor(cursor) from exc
        keys = [key(item) for item in items]
        if after not in keys:
            raise bad_cursor(cursor)
        start = keys.index(after) + 1
    page = list(items[start : start + limit])
    more = start + limit < len(items)
    next_cursor = (
        base64.urlsafe_b64encode(key(page[-1]).encode()).decode().rstrip("=")
        if more and page
        else None
    )
    return page, next_cursor


def reason_out(outcome: str | None, status: int | None, error: str | None, conn: str) -> ReasonOut:
    return ReasonOut.model_validate(explain(outcome, status, error, connection=conn))


def delivery_out(step: StepRow, run: RunRow) -> DeliveryOut:
    return DeliveryOut(
        id=step.id,
        run_id=step.run_id,
        event_id=run.event_id,
        event_type=run.event_type,
        recipe=run.recipe,
        step_id=step.step_id,
        step_index=step.step_index,
        action=step.action,
        connection=step.connection,
        status=step.status,
        run_status=run.status,
        attempts=step.attempts,
        idempotency_key=step.idempotency_key,
        due_at=step.due_at,
        last_error=step.last_error,
        reason=reason_out(step.status, None, step.last_error, step.connection),
        output=step.output,
        created_at=step.created_at,
        updated_at=step.updated_at,
    )


def attempt_out(attempt: AttemptRow, connection: str) -> AttemptOut:
    return AttemptOut(
        number=attempt.number,
        started_at=attempt.started_at,
        duration_ms=attempt.duration_ms,
        outcome=attempt.outcome,
        status_code=attempt.status_code,
        error=attempt.error,
        reason=reason_out(attempt.outcome, attempt.status_code, attempt.error, connection),
        request=attempt.request,
        response=attempt.response,
    )


def event_out(event: Event, with_raw: bool) -> EventOut:
    return EventOut(
        id=event.id,
        type=event.type,
        source=event.source,
        subject=event.subject,
        time=event.time,
        connection=event.connection,
        connector=event.connector,
        idempotency_key=event.idempotency_key,
        dataschema=event.dataschema,
        data=event.data,
        raw=event.raw if with_raw else None,
    )


def token_out(info: TokenInfo) -> TokenOut:
    return TokenOut.model_validate(
        {**asdict(info), "role": str(info.role), "status": info.status()}
    )
