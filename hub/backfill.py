"""``hub connections backfill``: fetch a connection's history from a date, with progress.

A polling source opts in with two hooks: ``cursor_since(datetime) -> cursor``
(where to start) and ``progress(cursor) -> (done, total) | None`` (how far it
got). Backfill keeps its own cursor (``<source>#backfill``) beside the live
one, so it can be interrupted and resumed, and never moves the live poller.
Events it finds are deduplicated against everything already received (same
idempotency keys as the webhook path), so a backfill fills gaps without doubles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.app import Hub
from hub.connector import PollingSource
from hub.errors import ConfigError
from hub.poller import poll_once

__all__ = ["BackfillReport", "backfill", "backfill_source"]


@dataclass
class BackfillReport:
    """What a backfill did."""

    connection: str
    source: str
    pages: int = 0
    stored: int = 0
    duplicates: int = 0
    cursor: Any = None
    progress: tuple[float, float] | None = field(default=None)


def backfill_source(
    hub: Hub, connection: str, source: str | None = None
) -> PollingSource[Any, Any]:
    """The polling source of ``connection`` that can backfill (named ``source`` if given).

    Raises:
        ConfigError: the connection has no such source, or none that can backfill.
    """
    conn = hub.connections.require(connection)
    candidates = [p for p in conn.pollers if source in (None, p.name)]
    capable = [p for p in candidates if hasattr(p, "cursor_since")]
    if not capable:
        names = ", ".join(p.name for p in conn.pollers) or "none"
        raise ConfigError(
            f"connection '{connection}' has no polling source that can backfill"
            + (f" named '{source}'" if source else "")
            + f" (its polling sources: {names})"
        )
    return capable[0]


async def backfill(
    hub: Hub,
    connection: str,
    since: datetime,
    source: str | None = None,
    resume: bool = False,
    on_page: Callable[[BackfillReport], None] | None = None,
    max_pages: int | None = None,
) -> BackfillReport:
    """Poll ``connection`` from ``since`` until the source says it has caught up."""
    poller = backfill_source(hub, connection, source)
    conn = hub.connections.require(connection)
    cursor_name = f"{poller.name}#backfill"
    cursor = await hub.store.get_cursor(conn.name, cursor_name) if resume else None
    if cursor is None:
        cursor = poller.cursor_since(since)  # type: ignore[attr-defined]
    report = BackfillReport(conn.name, poller.name, cursor=cursor)
    progress = getattr(poller, "progress", None)
    while True:
        outcome = await poll_once(hub.store, conn, poller, hub.recipes, cursor, cursor_name)
        report.pages += 1
        report.stored += outcome.stored
        report.duplicates += outcome.duplicates
        report.cursor = cursor = outcome.cursor
        report.progress = progress(cursor) if progress else None
        if on_page is not None:
            on_page(report)
        if not outcome.more or (max_pages is not None and report.pages >= max_pages):
            return report
