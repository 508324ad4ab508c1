"""The overview: traffic and delivery charts over the last hour or day, backlog, trouble, API credits."""

from __future__ import annotations

from aiohttp import web

from hub.ops import OPS
from hub.web.access import DASHBOARD, page, render
from hub.web.charts import Chart, line_chart, stacked_bars
from hub.web.stats import WINDOWS, Series

__all__ = ["charts_of", "overview"]

TICKS = {"hour": 15 * 60, "day": 6 * 3600}


def charts_of(series: Series) -> list[Chart]:
    """The three charts of one window: events, deliveries by outcome, attempt latency."""
    unit = (
        "min" if series.window.bucket_seconds == 60 else f"{series.window.bucket_seconds // 60} min"
    )
    ticks = TICKS[series.window.key]
    return [
        stacked_bars(
            f"Events received per {unit}",
            series.starts,
            [("events", "events", series.events)],
            ticks,
        ),
        stacked_bars(
            f"Delivery attempts per {unit}",
            series.starts,
            [
                ("ok", "delivered", series.ok),
                ("retried", "failed, will retry", series.retried),
                ("failed", "rejected", series.failed),
            ],
            ticks,
        ),
        line_chart(
            "Attempt latency",
            series.starts,
            [("p50", "p50", series.p50), ("p95", "p95", series.p95)],
            ticks,
        ),
    ]


@page()
async def overview(request: web.Request) -> web.StreamResponse:
    key = request.query.get("window", "hour")
    if key not in WINDOWS:
        key = "hour"
    stats = request.app[DASHBOARD].stats
    series = await stats.series(key)
    connections = await request.app[OPS].connections()
    budgets = [
        c
        for c in connections
        if c.api_budget and (c.api_budget.get("day_limit") or c.api_budget.get("minute_limit"))
    ]
    return render(
        request,
        "overview.html",
        window=key,
        windows=WINDOWS,
        series=series,
        charts=charts_of(series),
        backlog=await stats.backlog(),
        health=await stats.health(),
        reauth=[c for c in connections if c.needs_reauth],
        paused=[c for c in connections if c.paused or not c.enabled],
        budgets=budgets,
    )
