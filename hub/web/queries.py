"""The few reads the dashboard needs that the ``Store`` protocol has no method for."""

from __future__ import annotations

import sqlalchemy as sa

from hub.store import RunRow, StepRow, Store, rows
from hub.store.tables import runs, steps

__all__ = ["deliveries_of_event"]


async def deliveries_of_event(store: Store, event_id: str) -> list[tuple[StepRow, RunRow]]:
    """Every step of every run the event started, by recipe then step order (indexed by event)."""
    query = (
        rows.delivery_select()
        .where(runs.c.event_id == event_id)
        .order_by(runs.c.recipe, steps.c.step_index, steps.c.created_at)
    )

    def work(conn: sa.Connection) -> list[tuple[StepRow, RunRow]]:
        return [(rows.step_of(m), rows.run_of(m)) for m in conn.execute(query).mappings()]

    return await store.run_read(work)
