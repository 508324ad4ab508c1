"""The ingress: ``/hooks/{connection}``: verify, parse, store (durably), notify, then 2xx.

The answer is sent only after the events and the runs they start are
committed (fsync'd) in the store, so an acknowledged event cannot be lost; the
store group-commits concurrent webhooks to keep that fast. Statuses are the
contract providers retry on:

======  =====================================================================
202     stored (or a duplicate of something stored: acknowledged, dropped)
200     understood but not handled (``SkipEvent``), or a handshake
400     the body cannot be parsed; nothing stored
401     the signature does not match; nothing stored, counted
404     no such connection
405     not a POST, and the source has no handshake
413     the body is over ``body_limit``
503     the store cannot commit now, or the connection is paused: retry later
======  =====================================================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from hub.connections import ConnectionSet
from hub.connector import WebhookRequest
from hub.dispatch import Dispatcher
from hub.errors import ParseError, SignatureError, SkipEvent, StoreUnavailable
from hub.events import utcnow
from hub.logs import bind_log_ids, log_context
from hub.metrics import Metrics
from hub.recipes import Recipe
from hub.router import route
from hub.schemas import SchemaViolation
from hub.store import IngestItem, Store

__all__ = ["HookHandler"]

log = logging.getLogger("hub.ingress")


def _problem(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"status": status, "error": message, **extra}, status=status)


class HookHandler:
    """Handles ``/hooks/{connection}`` for a set of connections and recipes."""

    def __init__(
        self,
        store: Store,
        connections: ConnectionSet,
        recipes: Callable[[], Sequence[Recipe]],
        dispatcher: Dispatcher | None,
        metrics: Metrics,
        body_limit: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.connections = connections
        self.recipes = recipes
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.body_limit = body_limit
        self.clock = clock

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["connection"]
        with log_context(connection=name if name in self.connections else None):
            response = await self._handle(name, request)
        self.metrics.webhooks.labels(
            name if name in self.connections else "_unknown", str(response.status)
        ).inc()
        return response

    async def _handle(self, name: str, request: web.Request) -> web.Response:
        conn = self.connections.get(name)
        if conn is None or conn.webhook is None:
            return _problem(404, f"no webhook connection named '{name}'")
        if request.content_length is not None and request.content_length > self.body_limit:
            return _problem(
                413,
                f"body of {request.content_length} bytes is over the {self.body_limit}-byte limit",
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _problem(413, f"body is over the {self.body_limit}-byte limit")
        if len(body) > self.body_limit:
            return _problem(
                413, f"body of {len(body)} bytes is over the {self.body_limit}-byte limit"
            )
        hook = WebhookRequest(request.method, request.path, request.headers, request.query, body)
        if request.method != "POST":
            reply = conn.webhook.handshake(hook)
            if reply is None:
                return _problem(405, "webhooks are POSTed")
            return web.Response(
                status=reply.status, text=reply.body, content_type=reply.content_type
            )
        if not conn.enabled:
            return _problem(503, f"connection '{name}' is paused; retry later", retry=True)
        started = time.perf_counter()
        try:
            conn.webhook.verify(hook)
        except SignatureError as exc:
            self.metrics.signature_failures.labels(name).inc()
            log.warning("signature refused on %s: %s", name, exc)
            return _problem(401, str(exc))
        try:
            events = conn.webhook.parse(hook)
        except SkipEvent as exc:
            return web.json_response({"status": "skipped", "reason": str(exc)}, status=200)
        except (ParseError, SchemaViolation) as exc:
            log.warning("unparseable webhook on %s: %s", name, exc)
            return _problem(400, str(exc))
        now = self.clock()
        recipes = self.recipes()
        items = []
        for event in events:
            bound = event.bind(name, conn.connector.name)
            items.append(IngestItem(bound, route(bound, recipes, now)))
        if len(items) == 1:
            bind_log_ids(event_id=items[0].event.id)
        try:
            inserted = await self.store.ingest(items) if items else []
        except StoreUnavailable as exc:
            log.error("store unavailable, answering 503 on %s: %s", name, exc)
            return web.json_response(
                {"status": 503, "error": "the store is unavailable; retry later"},
                status=503,
                headers={"Retry-After": "5"},
            )
        self.metrics.ingest_latency.observe(time.perf_counter() - started)
        new = 0
        for item, fresh in zip(items, inserted, strict=True):
            if fresh:
                new += 1
                self.metrics.events_in.labels(name, item.event.type).inc()
            else:
                self.metrics.duplicates.labels(name).inc()
        if new and self.dispatcher is not None and any(i.runs for i in items):
            self.dispatcher.notify()
        return web.json_response(
            {
                "status": "accepted",
                "events": [
                    {"id": i.event.id, "type": i.event.type, "duplicate": not fresh}
                    for i, fresh in zip(items, inserted, strict=True)
                ],
            },
            status=202,
        )
