"""Background jobs (bulk replays): live progress and cancel."""

from __future__ import annotations

from aiohttp import web

from hub.auth import Role
from hub.errors import NotFound
from hub.ops import OPS, BulkJob
from hub.web.access import act, page, principal_of, render

__all__ = ["add_routes", "job_doc"]


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/jobs/{id}", detail, name="job")
    router.add_get("/jobs/{id}/progress", progress, name="job_progress")
    router.add_post("/jobs/{id}/cancel", cancel)


def job_doc(job: BulkJob) -> dict[str, object]:
    """What the page's script polls: enough to redraw the bar and the status."""
    return {
        "id": job.id,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "percent": 100
        if job.total == 0 and job.status != "running"
        else (round(100 * job.done / job.total) if job.total else 0),
        "error": job.error,
        "updated_at": job.updated_at.isoformat(),
    }


async def _job(request: web.Request) -> BulkJob:
    job = await request.app[OPS].job(request.match_info["id"])
    if job is None:
        raise NotFound(f"no job {request.match_info['id']!r}")
    return job


@page()
async def detail(request: web.Request) -> web.StreamResponse:
    job = await _job(request)
    return render(request, "job.html", job=job, doc=job_doc(job))


@page()
async def progress(request: web.Request) -> web.StreamResponse:
    return web.json_response(job_doc(await _job(request)))


@page(Role.OPS)
async def cancel(request: web.Request) -> web.StreamResponse:
    job_id = request.match_info["id"]
    return await act(
        request,
        request.app[OPS].cancel_job(principal_of(request), job_id),
        f"/jobs/{job_id}",
        lambda stopped: (
            "Cancelled: what was replayed so far stays replayed; nothing else is touched."
            if stopped
            else ("info", "The job had already finished.")
        ),
    )
