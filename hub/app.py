"""Assembly: ``Hub`` (store, connections, recipes, runner, dispatcher) and its aiohttp app.

``hub serve`` is this module: the ingress, the health probes, ``/metrics`` and
the inline engine share one process and one event loop. Everything opens and
closes through aiohttp's ``cleanup_ctx`` so a failed start leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from hub.alerts.channels import build_channels
from hub.alerts.service import Alerter
from hub.api import setup_api
from hub.auth import TOKENS, TokenService
from hub.config import HubConfig
from hub.connections import ConnectionSet
from hub.dispatch.inline import InlineDispatcher
from hub.dispatch.sweeper import Sweeper, celery_sweeper
from hub.errors import ConfigError
from hub.ingress import HookHandler
from hub.logs import collect_secrets, register_secrets
from hub.metrics import Metrics
from hub.ops import OPS, Ops
from hub.ops.sync import connection_map, paused_connections, reconcile_connections
from hub.poller import Poller
from hub.recipes import Recipe, load_recipes, validate_files
from hub.registry import Registry
from hub.retention import Prunable, Pruner
from hub.runner import Runner
from hub.secrets import Secret, SecretBox, load_master_key
from hub.shared import SharedState, shared_state
from hub.store import StepWork, Store
from hub.store.sql import SqlStore
from hub.web import setup_dashboard
from hub.yamlsrc import Problem

__all__ = ["HUB", "Hub", "build_app", "load_hub"]

log = logging.getLogger("hub.app")
HUB: web.AppKey[Hub] = web.AppKey("hub")


@dataclass
class Hub:
    """One hub process's parts, built from a ``HubConfig``."""

    config: HubConfig
    registry: Registry
    store: Store
    connections: ConnectionSet
    recipes: list[Recipe]
    metrics: Metrics = field(default_factory=Metrics)
    runner: Runner | None = None
    dispatcher: InlineDispatcher | Sweeper | None = None
    poller: Poller | None = None
    pruner: Pruner | None = None
    box: SecretBox | None = None
    shared: SharedState | None = None
    alerter: Alerter | None = None
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    _budget_reported: dict[str, float] = field(default_factory=dict)
    _budget_alerted: set[str] = field(default_factory=set)

    def recipe_map(self) -> dict[str, Recipe]:
        return {r.name or "": r for r in self.recipes}

    async def start(self, run_engine: bool = True, run_pollers: bool = True) -> None:
        """Open the store and connections, record the connections, start the engine and pollers."""
        await self.store.open()
        key = load_master_key(self.config.path(self.config.data_dir) / "secret.key")
        self.box = SecretBox(key)
        # Never log a configured secret, wherever it would turn up (hub.logs).
        register_secrets([key.decode(), *collect_secrets([c.config for c in self.connections])])
        register_secrets(collect_secrets(self.config.alerts))
        # API budgets and OAuth tokens: in this process, or in Redis for every worker.
        self.shared = shared_state(self.config, self.box)
        await self.shared.open()
        await self.connections.open(self.shared)
        await self._record_connections()
        await self._check_recipe_connections()
        self.runner = Runner(
            self.recipe_map(),
            self.connections,
            step_timeout=self.config.step_timeout,
            on_auth_error=self._flag_reauth,
            on_attempt=self.metrics.observe_attempt,
        )
        self.alerter = Alerter(
            self.config.alerts,
            self.store,
            build_channels(self.config.alerts),
            self.metrics,
            self.config.dashboard_url(),
            self.connections,
        )
        # Digests and periodic checks run where pollers run; every process gates its own alerts.
        await self.alerter.start(periodic=run_pollers)
        if run_engine and self.config.engine == "inline":
            self.dispatcher = InlineDispatcher(
                self.store,
                self.runner,
                global_limit=self.config.concurrency.global_limit,
                per_connection=self.config.concurrency.per_connection,
                lease_seconds=self.config.lease_seconds,
                on_finished=self.step_finished,
                connection_limits={
                    name: spec.max_concurrency
                    for name, spec in self.config.connections.items()
                    if spec.max_concurrency is not None
                },
            )
            self.dispatcher.paused = await paused_connections(self.store)
            await self.dispatcher.start()
        elif run_engine and self.config.engine == "celery":
            # Celery: steps run in `hub worker`; this process publishes what is due.
            # Where the pollers run (hub scheduler) it also sweeps on a timer.
            self.dispatcher = celery_sweeper(self.config, self.store, periodic=run_pollers)
            self.dispatcher.paused = await paused_connections(self.store)
            await self.dispatcher.start()
        if run_pollers:
            intervals = {
                name: spec.poll_interval
                for name, spec in self.config.connections.items()
                if spec.poll_interval is not None
            }
            self.poller = Poller(
                self.store,
                self.connections,
                lambda: self.recipes,
                self.dispatcher,
                self.metrics,
                intervals,
            )
            await self.poller.start()
            # Retention runs where pollers run; two pruners on one database skip each other's rows.
            if self.config.retention.enabled and isinstance(self.store, Prunable):
                self.pruner = Pruner(self.store, self.config.retention)
                await self.pruner.start()

    async def stop(self) -> None:
        if self.pruner is not None:
            await self.pruner.stop()
        if self.poller is not None:
            await self.poller.stop()
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.alerter is not None:
            await self.alerter.stop()
        await self.connections.close()
        if self.shared is not None:
            await self.shared.close()
        await self.store.close()

    async def _record_connections(self) -> None:
        """Keep the store's connection table in step with hub.yaml, secrets sealed.

        Connections saved from the dashboard or the API win over hub.yaml and
        are put in service instead (``hub.ops.sync.reconcile_connections``).
        """
        await reconcile_connections(self)

    async def _check_recipe_connections(self) -> None:
        """Check the connections recipes name, now that the store says which exist.

        ``load_hub`` checks everything else before the store is open; connections
        saved from the dashboard or the API live in the store, so a recipe may
        name one that hub.yaml does not have.

        Raises:
            ConfigError: every problem, as ``load_hub`` reports them (what was opened is closed).
        """
        paths = self.config.recipe_paths()
        if not paths:
            return
        problems = validate_files(paths, self.registry, await connection_map(self))
        if problems:
            await self.stop()
            raise ConfigError(invalid_recipes(problems))

    def _flag_reauth(self, connection: str, reason: str) -> None:
        """Mark ``connection`` as needing re-authorization (shown by ``hub connections list``)."""
        patch: dict[str, Any] = {"needs_reauth": True, "reauth_reason": reason}
        if self.alerter is not None and self.alerter.config.needs_reauth:
            self.alerter.needs_reauth(connection, reason)
            patch["reauth_alerted"] = True  # the periodic re-auth check need not announce it
        task = asyncio.get_running_loop().create_task(
            self.store.update_connection_state(connection, patch)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    def step_finished(self, work: StepWork, outcome: str) -> None:
        """After every recorded attempt, in any engine: metrics, dead-letter alert, API budget."""
        self.metrics.deliveries.labels(work.step.action, outcome).inc()
        if outcome == "dead" and self.alerter is not None:
            self.alerter.dead_letter(work)
        conn = self.connections.get(work.step.connection)
        if conn is not None and conn.session is not None and conn.session.budget is not None:
            # The budget may live in Redis: look at it off the dispatcher's path.
            task = asyncio.get_running_loop().create_task(self._report_budget(conn.name))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            task.add_done_callback(_log_failure)

    async def _report_budget(self, connection: str) -> None:
        """Keep the connection's API use in its state (at most every 5 s), warn once at 80 %."""
        conn = self.connections.get(connection)
        budget = conn.session.budget if conn is not None and conn.session is not None else None
        if budget is None:
            return
        usage = await budget.usage()
        now = time.monotonic()
        crossed, alerted = budget.alerting(usage), connection in self._budget_alerted
        if now - self._budget_reported.get(connection, 0.0) < 5.0 and crossed == alerted:
            return
        self._budget_reported[connection] = now
        patch: dict[str, Any] = {"api_budget": usage.as_dict()}
        if crossed and not alerted:
            self._budget_alerted.add(connection)
            log.warning(
                "connection %s has used %.0f%% of its daily API budget (%s of %s calls)",
                connection,
                100 * (usage.day_fraction or 0),
                usage.day_used,
                usage.day_limit,
            )
            patch["api_budget_alert"] = True
        elif alerted and not crossed:
            self._budget_alerted.discard(connection)
            patch["api_budget_alert"] = None
        await self.store.update_connection_state(connection, patch)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background store update failed: %s", task.exception())


def sealed_config(value: Any, box: SecretBox) -> Any:
    """A connector config as JSON for the store, with every ``Secret`` sealed (never masked)."""
    if isinstance(value, Secret):
        return box.seal(value.reveal())
    if isinstance(value, BaseModel):
        return {name: sealed_config(getattr(value, name), box) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {str(k): sealed_config(v, box) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sealed_config(v, box) for v in value]
    return to_jsonable_python(value)


def load_hub(
    config: HubConfig, registry: Registry | None = None, store: Store | None = None
) -> Hub:
    """Build a ``Hub`` from config, checking connections and recipes.

    The connections recipes name are checked by ``Hub.start``, once the store
    is open: connections saved from the dashboard or the API are kept there.

    Raises:
        ConfigError: every invalid connection or recipe, each with where it is.
    """
    registry = registry or Registry.from_entry_points()
    connections = ConnectionSet.build(config.connections, registry)
    paths = config.recipe_paths()
    problems = validate_files(paths, registry, None) if paths else []
    if problems:
        raise ConfigError(invalid_recipes(problems))
    recipes = load_recipes(paths) if paths else []
    return Hub(
        config=config,
        registry=registry,
        store=store or SqlStore(config.store_url()),
        connections=connections,
        recipes=recipes,
    )


def invalid_recipes(problems: Sequence[Problem]) -> str:
    """The message of the ``ConfigError`` for recipe problems: one ``file:line: message`` a line."""
    return "invalid recipes:\n" + "\n".join(f"  {p}" for p in problems)


def build_app(hub: Hub, run_engine: bool = True) -> web.Application:
    """The aiohttp app of ``hub serve``."""
    app = web.Application(client_max_size=hub.config.body_limit + 1)
    app[HUB] = hub
    app[OPS] = Ops(hub)
    app[TOKENS] = TokenService(hub.store)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        # Under celery the pollers (and housekeeping) run in `hub scheduler`, not here.
        await hub.start(run_engine=run_engine, run_pollers=hub.config.engine == "inline")
        await app[OPS].start()
        yield
        await app[OPS].stop()
        await hub.stop()

    app.cleanup_ctx.append(lifecycle)
    handler = HookHandler(
        hub.store,
        hub.connections,
        lambda: hub.recipes,
        None,
        hub.metrics,
        hub.config.body_limit,
    )

    async def on_start(app: web.Application) -> None:
        handler.dispatcher = hub.dispatcher

    app.on_startup.append(on_start)
    app.router.add_route("*", "/hooks/{connection}", handler.handle)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    setup_api(app)
    setup_dashboard(app)
    return app


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    store_ok = await hub.store.ping()
    engine_ok = hub.dispatcher is None or hub.dispatcher.running
    body = {
        "store": "ok" if store_ok else "unavailable",
        "engine": "ok" if engine_ok else "stopped",
    }
    return web.json_response(body, status=200 if store_ok and engine_ok else 503)


async def _metrics(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    hub.metrics.in_flight.set(hub.dispatcher.in_flight if hub.dispatcher else 0)
    await hub.metrics.collect(hub.store, hub.connections)
    return web.Response(body=hub.metrics.render(), content_type="text/plain", charset="utf-8")


def recipes_from(paths: Sequence[Path]) -> list[Recipe]:
    return load_recipes(list(paths))
