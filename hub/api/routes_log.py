"""API routes over the log: events, runs, deliveries with their attempts, replays and jobs."""

from __future__ import annotations

from dataclasses import asdict

from hub.api.convert import attempt_out, bad_cursor, delivery_out, event_out
from hub.api.framework import ApiError, Call, Route
from hub.api.models import (
    BulkReplayIn,
    BulkReplayOut,
    DeliveryDetail,
    DeliveryOut,
    DeliveryQuery,
    EventOut,
    EventQuery,
    JobOut,
    Page,
    PageQuery,
    ReplayIn,
    ReplayOut,
    RunOut,
)
from hub.auth import Role
from hub.errors import Conflict, NotFound
from hub.ops.jobs import has_conditions
from hub.store import DeliveryFilter, EventFilter

__all__ = ["LOG_ROUTES"]


# -- events -------------------------------------------------------------------------------


async def list_events(call: Call) -> Page[EventOut]:
    q = call.q(EventQuery)
    flt = EventFilter(q.type, q.connection, q.subject, q.since, q.until, q.limit, q.cursor)
    try:
        events, cursor = await call.hub.store.list_events(flt)
    except ValueError as exc:
        raise bad_cursor(q.cursor) from exc
    return Page[EventOut](items=[event_out(e, with_raw=False) for e in events], next_cursor=cursor)


async def get_event(call: Call) -> EventOut:
    event = await call.hub.store.get_event(call.path("id"))
    if event is None:
        raise NotFound(f"no event {call.path('id')!r}")
    return event_out(event, with_raw=True)


# -- runs ----------------------------------------------------------------------------------


async def get_run(call: Call) -> RunOut:
    found = await call.hub.store.get_run(call.path("id"))
    if found is None:
        raise NotFound(f"no run {call.path('id')!r}")
    run, steps = found
    return RunOut(
        id=run.id,
        event_id=run.event_id,
        event_type=run.event_type,
        connection=run.connection,
        recipe=run.recipe,
        status=run.status,
        outputs=run.outputs,
        last_error=run.last_error,
        created_at=run.created_at,
        updated_at=run.updated_at,
        steps=[delivery_out(step, run) for step in steps],
    )


# -- deliveries ------------------------------------------------------------------------------


def _delivery_filter(q: DeliveryQuery) -> DeliveryFilter:
    return DeliveryFilter(
        status=q.status,
        connection=q.connection,
        recipe=q.recipe,
        run_id=q.run_id,
        since=q.since,
        until=q.until,
        limit=q.limit,
        before=q.cursor,
        event_type=q.event_type,
        subject=q.subject,
    )


async def list_deliveries(call: Call) -> Page[DeliveryOut]:
    q = call.q(DeliveryQuery)
    try:
        rows, cursor = await call.hub.store.list_deliveries(_delivery_filter(q))
    except ValueError as exc:
        raise bad_cursor(q.cursor) from exc
    return Page[DeliveryOut](items=[delivery_out(s, r) for s, r in rows], next_cursor=cursor)


async def get_delivery(call: Call) -> DeliveryDetail:
    found = await call.hub.store.get_delivery(call.path("id"))
    if found is None:
        raise NotFound(f"no delivery {call.path('id')!r}")
    step, run, attempts = found
    base = delivery_out(step, run)
    return DeliveryDetail(
        **dict(base), timeline=[attempt_out(a, step.connection) for a in attempts]
    )


async def replay_delivery(call: Call) -> ReplayOut:
    body = call.b(ReplayIn)
    step_id = call.path("id")
    found = await call.hub.store.get_delivery(step_id)
    if found is None:
        raise NotFound(f"no delivery {step_id!r}")
    runs = await call.ops.replay(call.principal, [step_id], from_start=body.from_start)
    return ReplayOut(runs=runs)


async def bulk_replay(call: Call) -> BulkReplayOut:
    body = call.b(BulkReplayIn)
    flt = DeliveryFilter(
        status=body.status,
        connection=body.connection,
        recipe=body.recipe,
        since=body.since,
        until=body.until,
        event_type=body.event_type,
        subject=body.subject,
    )
    if not has_conditions(flt):
        raise ApiError(
            422,
            "invalid",
            "name at least one filter (usually status: dead); replaying everything is rarely meant",
            [("body", "no filter given")],
        )
    if body.preview:
        return BulkReplayOut(would_replay=await call.hub.store.count_deliveries(flt), job=None)
    job = await call.ops.start_bulk_replay(call.principal, flt, from_start=body.from_start)
    return BulkReplayOut(would_replay=job.total, job=JobOut.model_validate(asdict(job)))


# -- jobs ------------------------------------------------------------------------------------


async def list_jobs(call: Call) -> Page[JobOut]:
    q = call.q(PageQuery)
    try:
        jobs, cursor = await call.ops.jobs_page(q.limit, q.cursor)
    except ValueError as exc:
        raise bad_cursor(q.cursor) from exc
    return Page[JobOut](items=[JobOut.model_validate(asdict(j)) for j in jobs], next_cursor=cursor)


async def get_job(call: Call) -> JobOut:
    job = await call.ops.job(call.path("id"))
    if job is None:
        raise NotFound(f"no job {call.path('id')!r}")
    return JobOut.model_validate(asdict(job))


async def cancel_job(call: Call) -> JobOut:
    job_id = call.path("id")
    if not await call.ops.cancel_job(call.principal, job_id):
        job = await call.ops.job(job_id)
        raise Conflict(f"job {job_id} is {job.status if job else 'gone'}, not running")
    return await get_job(call)


LOG_ROUTES = [
    Route("GET", "/events", Role.VIEWER, "Search events", list_events, "events",
          Page[EventOut], query=EventQuery),
    Route("GET", "/events/{id}", Role.VIEWER, "One event, normalized and raw", get_event,
          "events", EventOut),
    Route("GET", "/runs/{id}", Role.VIEWER, "One run with its steps", get_run, "runs", RunOut),
    Route("GET", "/deliveries", Role.VIEWER, "Search deliveries (steps)", list_deliveries,
          "deliveries", Page[DeliveryOut], query=DeliveryQuery),
    Route("POST", "/deliveries/replay", Role.OPS, "Replay every delivery a filter selects",
          bulk_replay, "deliveries", BulkReplayOut, body=BulkReplayIn, status=202,
          description="Starts a background job (see /jobs) that replays in batches of 200 with "
          "the same idempotency keys, so nothing is written twice. With `preview: true` it "
          "only counts what would be replayed and starts nothing (`job` is null)."),
    Route("GET", "/deliveries/{id}", Role.VIEWER, "One delivery with its attempt timeline",
          get_delivery, "deliveries", DeliveryDetail),
    Route("POST", "/deliveries/{id}/replay", Role.OPS, "Replay one delivery", replay_delivery,
          "deliveries", ReplayOut, body=ReplayIn),
    Route("GET", "/jobs", Role.VIEWER, "Bulk jobs, newest first", list_jobs, "jobs",
          Page[JobOut], query=PageQuery),
    Route("GET", "/jobs/{id}", Role.VIEWER, "One job with its progress", get_job, "jobs", JobOut),
    Route("POST", "/jobs/{id}/cancel", Role.OPS, "Cancel a running job", cancel_job, "jobs",
          JobOut, errors=(409,)),
]  # fmt: skip
