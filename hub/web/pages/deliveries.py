"""Deliveries: the filtered log, one delivery's attempt timeline with reasons, replay one or in bulk.

Replay is safe to press: a replayed step keeps its idempotency key, and
every sink action sends it (an upsert key, a reference number, an
idempotency header), so a delivery that had in fact gone through is not
written twice. The pages say so, and show exactly what will run again.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from hub.auth import Role
from hub.errors import ConfigError, Forbidden, NotFound
from hub.ops import OPS
from hub.ops.jobs import has_conditions
from hub.store import DeliveryFilter, RunRow, StepRow
from hub.web.access import DASHBOARD, act, page, principal_of, render, session_of
from hub.web.forms import DELIVERY_STATUSES, delivery_filter, filter_query, without_page
from hub.web.reasons import explain

__all__ = ["add_routes"]

SAMPLE = 10


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/deliveries", delivery_list, name="deliveries")
    router.add_get("/deliveries/replay", bulk_preview, name="bulk_replay")
    router.add_post("/deliveries/replay", bulk_start)
    router.add_get("/deliveries/{id}", detail, name="delivery")
    router.add_post("/deliveries/{id}/replay", replay)


def _choices(request: web.Request) -> dict[str, Any]:
    hub = request.app[DASHBOARD].hub
    return {
        "connection_names": sorted(c.name for c in hub.connections),
        "recipe_names": sorted(r.name or "" for r in hub.recipes),
        "event_types": sorted(hub.registry.event_types()),
    }


@page()
async def delivery_list(request: web.Request) -> web.StreamResponse:
    store = request.app[DASHBOARD].hub.store
    parsed = delivery_filter(request.query)
    found: list[tuple[StepRow, RunRow]] = []
    cursor: str | None = None
    if not parsed.errors:
        try:
            found, cursor = await store.list_deliveries(parsed.filter)
        except ValueError:
            parsed.errors["before"] = (
                "that page link is not valid any more; start from the first page"
            )
    rows = [
        (step, run, explain(step.status, None, step.last_error, connection=step.connection))
        for step, run in found
    ]
    return render(
        request,
        "deliveries.html",
        rows=rows,
        values=parsed.values,
        errors=parsed.errors,
        filtered=parsed.narrowed,
        statuses=DELIVERY_STATUSES,
        next_query=filter_query(parsed.values, before=cursor) if cursor else None,
        first_query=filter_query(parsed.values, before=None)
        if parsed.values.get("before")
        else None,
        replay_query=filter_query(parsed.values, before=None, limit=None),
        tab_query=lambda status: filter_query(parsed.values, status=status, before=None),
        **_choices(request),
    )


@page()
async def detail(request: web.Request) -> web.StreamResponse:
    hub = request.app[DASHBOARD].hub
    found = await hub.store.get_delivery(request.match_info["id"])
    if found is None:
        raise NotFound(f"no delivery {request.match_info['id']!r}")
    step, run, attempts = found
    whole = await hub.store.get_run(run.id)
    event = await hub.store.get_event(run.event_id)
    timeline = [
        (a, explain(a.outcome, a.status_code, a.error, connection=step.connection))
        for a in attempts
    ]
    return render(
        request,
        "delivery.html",
        step=step,
        run=run,
        event=event,
        siblings=whole[1] if whole else [],
        timeline=timeline,
        reason=explain(
            step.status,
            attempts[-1].status_code if attempts else None,
            step.last_error,
            connection=step.connection,
        ),
        replayable=step.status in ("dead", "cancelled", "succeeded", "skipped"),
    )


@page(Role.OPS)
async def replay(request: web.Request) -> web.StreamResponse:
    step_row_id = request.match_info["id"]
    from_start = bool((await request.post()).get("from_start"))
    where = "from the run's first step" if from_start else "from this step"
    return await act(
        request,
        request.app[OPS].replay(principal_of(request), [step_row_id], from_start=from_start),
        f"/deliveries/{step_row_id}",
        lambda moved: (
            f"Replaying {where}: it runs within seconds with the same idempotency key."
            if moved
            else ("info", "Nothing to replay: the delivery is running or waiting already.")
        ),
    )


def _summary(flt: DeliveryFilter) -> list[tuple[str, str]]:
    parts = [
        ("status", flt.status or "any"),
        ("connection", flt.connection or "any"),
        ("recipe", flt.recipe or "any"),
    ]
    if flt.event_type:
        parts.append(("event type", flt.event_type))
    if flt.subject:
        parts.append(("subject", flt.subject))
    if flt.since:
        parts.append(("since", flt.since.isoformat(timespec="seconds")))
    if flt.until:
        parts.append(("until", flt.until.isoformat(timespec="seconds")))
    return parts


@page(Role.OPS)
async def bulk_preview(request: web.Request) -> web.StreamResponse:
    store = request.app[DASHBOARD].hub.store
    parsed = delivery_filter(request.query)
    if parsed.errors:
        raise web.HTTPSeeOther(f"/deliveries?{filter_query(parsed.values)}")
    flt = without_page(parsed.filter)
    if not has_conditions(flt):
        session_of(request).flash(
            "error", "Filter the deliveries first (usually dead letters), then replay those."
        )
        raise web.HTTPSeeOther(f"/deliveries?{filter_query(parsed.values)}")
    total = await store.count_deliveries(flt)
    sample, _ = await store.list_deliveries(DeliveryFilter(**{**asdict(flt), "limit": SAMPLE}))
    return render(
        request,
        "bulk_replay.html",
        total=total,
        sample=[
            (s, r, explain(s.status, None, s.last_error, connection=s.connection))
            for s, r in sample
        ],
        values={k: v for k, v in parsed.values.items() if k not in ("before", "limit")},
        summary=_summary(flt),
        back_query=filter_query(parsed.values),
        jobs=await request.app[OPS].jobs(limit=5),
    )


@page(Role.OPS)
async def bulk_start(request: web.Request) -> web.StreamResponse:
    post = await request.post()
    parsed = delivery_filter(post)
    if parsed.errors:
        raise web.HTTPSeeOther(f"/deliveries?{filter_query(parsed.values)}")
    flt = without_page(parsed.filter)
    try:
        job = await request.app[OPS].start_bulk_replay(
            principal_of(request), flt, from_start=bool(post.get("from_start"))
        )
    except Forbidden as exc:
        return render(request, "error.html", status=403, title="Not allowed", message=str(exc))
    except ConfigError as exc:
        return render(request, "error.html", status=422, title="Cannot start", message=str(exc))
    raise web.HTTPSeeOther(f"/jobs/{job.id}")
