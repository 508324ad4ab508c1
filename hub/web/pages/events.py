"""Events: search by type, connection, subject and time; one event normalized and raw side by side."""

from __future__ import annotations

from aiohttp import web

from hub.errors import NotFound
from hub.events import Event
from hub.web.access import DASHBOARD, page, render
from hub.web.forms import event_filter, filter_query
from hub.web.queries import deliveries_of_event

__all__ = ["add_routes"]


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/events", event_list, name="events")
    router.add_get("/events/{id}", detail, name="event")


@page()
async def event_list(request: web.Request) -> web.StreamResponse:
    hub = request.app[DASHBOARD].hub
    parsed = event_filter(request.query)
    found: list[Event] = []
    cursor: str | None = None
    bad_cursor = False
    if not parsed.errors:
        try:
            found, cursor = await hub.store.list_events(parsed.filter)
        except ValueError:  # a hand-edited page cursor
            bad_cursor = True
    if bad_cursor:
        parsed.errors["before"] = "that page link is not valid any more; start from the first page"
    return render(
        request,
        "events.html",
        events=found,
        values=parsed.values,
        errors=parsed.errors,
        filtered=parsed.narrowed,
        next_query=filter_query(parsed.values, before=cursor) if cursor else None,
        first_query=filter_query(parsed.values, before=None)
        if parsed.values.get("before")
        else None,
        event_types=sorted(hub.registry.event_types()),
        connection_names=sorted(c.name for c in hub.connections),
    )


@page()
async def detail(request: web.Request) -> web.StreamResponse:
    store = request.app[DASHBOARD].hub.store
    event = await store.get_event(request.match_info["id"])
    if event is None:
        raise NotFound(f"no event {request.match_info['id']!r}")
    envelope = event.to_dict(include_raw=False)
    return render(
        request,
        "event.html",
        event=event,
        envelope=envelope,
        deliveries=await deliveries_of_event(store, event.id),
    )
