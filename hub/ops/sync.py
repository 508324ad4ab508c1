"""Keeping a running hub in step with what ops changed in the store.

Ops changes live in the store so they survive restarts and reach every
process: a connection's ``paused`` flag and ``enabled`` switch (its state and
row), connections saved from the dashboard or API (``origin: dashboard``, a
``revision`` per save), and recipe switches (``recipe_state``). The process
that makes a change applies it at once; ``StateSync`` applies the changes
other processes make (another ``hub serve``, the ``hub`` CLI) within
``interval`` seconds.

``reconcile_connections`` runs at startup, before any webhook or step: it
records hub.yaml's connections in the store, except those saved from the
dashboard, which win over the file and are put in service instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from hub.ops import queries
from hub.ops.settings import ORIGIN_DASHBOARD, live_from_row
from hub.store import ConnectionRow, Store

if TYPE_CHECKING:
    from hub.app import Hub
    from hub.connections import LiveConnection

__all__ = [
    "StateSync",
    "apply_recipe_switches",
    "connection_map",
    "paused_connections",
    "reconcile_connections",
]

log = logging.getLogger("hub.ops.sync")

ENABLED_OVERRIDE = "enabled"  # state key: an ops switch that wins over hub.yaml's ``enabled``


async def paused_connections(store: Store) -> set[str]:
    """Names of connections ops paused (their steps stay due and are not run)."""
    return {row.name for row in await store.list_connections() if row.state.get("paused")}


async def connection_map(hub: Hub) -> dict[str, str]:
    """Connection name -> connector slug of every connection recipes may name (to validate them).

    hub.yaml's connections and those saved from the dashboard or the API
    (stored with ``origin: dashboard``). A stored one counts even when it is
    left out of service for being invalid now: its steps fail with the reason,
    and the hub still starts so the connection can be fixed from the dashboard.
    """
    known = hub.connections.connector_names()
    for row in await hub.store.list_connections():
        if row.state.get("origin") == ORIGIN_DASHBOARD:
            known[row.name] = row.connector
    return known


async def reconcile_connections(hub: Hub) -> None:
    """At startup: store hub.yaml's connections (sealed); put dashboard-saved ones in service.

    A connection saved from the dashboard or the API keeps its stored settings
    (hub.yaml's entry for it is ignored from then on); an ops ``enabled``
    switch wins over hub.yaml's ``enabled``. Recipe switches are applied too.
    """
    from hub.app import sealed_config  # hub.app imports this module

    assert hub.box is not None
    stored = {row.name: row for row in await hub.store.list_connections()}
    for conn in list(hub.connections):
        row = stored.get(conn.name)
        if row is not None and row.state.get("origin") == ORIGIN_DASHBOARD:
            continue
        if row is not None and isinstance(row.state.get(ENABLED_OVERRIDE), bool):
            conn.enabled = row.state[ENABLED_OVERRIDE]
        sealed = sealed_config(conn.config, hub.box)
        await hub.store.upsert_connection(conn.name, conn.connector.name, sealed, conn.enabled)
    for row in stored.values():
        if row.state.get("origin") == ORIGIN_DASHBOARD:
            old = await _put_in_service(hub, row)
            if old is not None:  # nothing runs yet: close the hub.yaml version now
                await close_connection(old)
    await apply_recipe_switches(hub)


async def _put_in_service(hub: Hub, row: ConnectionRow) -> LiveConnection | None:
    assert hub.box is not None
    live, problems = live_from_row(row, hub.registry, hub.box)
    if live is None:
        log.error(
            "connection %s saved from the dashboard is invalid now, left out: %s",
            row.name,
            "; ".join(problems),
        )
        return None
    return await hub.connections.replace(live)


async def close_connection(conn: LiveConnection) -> None:
    if conn.session is not None:
        await conn.session.close()
    await conn.http.close()


async def apply_recipe_switches(hub: Hub, file_enabled: dict[str, bool] | None = None) -> None:
    """Set each recipe's ``enabled`` from ``recipe_state`` (the router skips disabled recipes).

    ``file_enabled`` is each recipe's ``enabled`` as its file says, for recipes
    with no switch; without it the current value is kept for those.
    """
    switches = await hub.store.run_read(queries.recipe_switches)
    for recipe in hub.recipes:
        name = recipe.name or ""
        if name in switches:
            recipe.enabled = switches[name]
        elif file_enabled is not None and name in file_enabled:
            recipe.enabled = file_enabled[name]


class StateSync:
    """Applies, every ``interval`` seconds, the ops changes other processes stored."""

    def __init__(self, hub: Hub, file_enabled: dict[str, bool], interval: float = 2.0) -> None:
        self.hub = hub
        self.file_enabled = file_enabled
        self.interval = interval
        self.revisions: dict[str, str] = {}
        self.retired: list[LiveConnection] = []
        self._task: asyncio.Task[None] | None = None
        self._closers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for row in await self.hub.store.list_connections():
            if row.state.get("origin") == ORIGIN_DASHBOARD:
                self.revisions[row.name] = str(row.state.get("revision", ""))
        self._task = asyncio.create_task(self._loop(), name="hub-ops-sync")

    async def stop(self) -> None:
        for task in [self._task, *self._closers]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for conn in self.retired:
            with contextlib.suppress(Exception):
                await close_connection(conn)
        self.retired.clear()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("could not apply stored ops changes", exc_info=True)

    async def once(self) -> None:
        """Apply the stored paused flags, enabled switches, saved connections and recipe switches."""
        hub = self.hub
        rows = await hub.store.list_connections()
        if hub.dispatcher is not None:
            hub.dispatcher.paused = {row.name for row in rows if row.state.get("paused")}
        restart_polls = False
        for row in rows:
            revision = str(row.state.get("revision", ""))
            if (
                row.state.get("origin") == ORIGIN_DASHBOARD
                and self.revisions.get(row.name) != revision
            ):
                old = await _put_in_service(hub, row)
                self.revisions[row.name] = revision
                if old is not None:
                    self.retire(old)
                restart_polls = True
                continue
            live = hub.connections.get(row.name)
            if live is not None and live.enabled != row.enabled:
                live.enabled = row.enabled
                restart_polls = True
        await apply_recipe_switches(hub, self.file_enabled)
        if restart_polls:
            await restart_pollers(hub)

    def retire(self, conn: LiveConnection) -> None:
        """Close a replaced connection later: steps in flight may still be using it."""
        self.retired.append(conn)
        grace = max(self.hub.config.step_timeout, 1.0)

        async def close_later() -> None:
            await asyncio.sleep(grace)
            if conn in self.retired:
                self.retired.remove(conn)
                await close_connection(conn)

        task = asyncio.get_running_loop().create_task(close_later())
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)


async def restart_pollers(hub: Hub) -> None:
    """Poll loops hold their connection: restart them after a connection changed."""
    if hub.poller is not None:
        await hub.poller.stop()
        await hub.poller.start()
