"""``Ops``: the operations behind the API, the dashboard and the CLI (role checks, audit log).

Every method that changes something takes the ``Principal`` asking for it,
checks its role first (``Forbidden`` otherwise) and appends one audit row
after the change, with a detail that never holds a secret (secret fields
are named, never valued). Reads need no principal: the web layers check
``viewer`` before calling them.

The same object works in two settings. Inside ``hub serve`` (``start`` was
called) changes are applied to the running hub at once: the dispatcher's
paused set, the live ``ConnectionSet``, the recipes the router sees. In the
``hub`` CLI (no ``start``) changes are only stored, and every running hub
applies them within two seconds (``hub.ops.sync.StateSync``).
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.auth import Principal, Role, TokenInfo, TokenService, audit
from hub.connections import LiveConnection
from hub.dryrun import dry_run_event
from hub.errors import ConfigError, Conflict, Forbidden, HubError, NotFound
from hub.ops import queries
from hub.ops.checks import check_connection
from hub.ops.jobs import JobRunner, filter_doc, has_conditions
from hub.ops.settings import (
    ORIGIN_DASHBOARD,
    connection_form,
    live_from_config,
    live_from_row,
    merge_values,
    secret_fields,
    view_of,
)
from hub.ops.sync import (
    ENABLED_OVERRIDE,
    StateSync,
    close_connection,
    connection_map,
    restart_pollers,
)
from hub.ops.views import (
    AuditEntry,
    BulkJob,
    ConnectionForm,
    ConnectionView,
    RecipeView,
    TestResult,
)
from hub.recipes import Recipe, validate_files
from hub.secrets import SecretBox, load_master_key
from hub.store import ConnectionRow, DeliveryFilter

if TYPE_CHECKING:
    from hub.app import Hub

__all__ = ["CONNECTION_NAME", "Ops"]

#: Connection names appear in webhook URLs (``/hooks/{name}``) and in recipes.
CONNECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class Ops:
    """Everything admins and ops can do, shared by the JSON API, the dashboard and the CLI.
    Each mutating method checks the principal's role (raises hub.errors.Forbidden)
    and writes the audit log."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._file_enabled = {r.name or "": r.enabled for r in hub.recipes}
        self.job_runner = JobRunner(hub.store, notify=self._wake)
        self.tokens = TokenService(hub.store)
        self.sync = StateSync(hub, self._file_enabled)
        self._serving = False

    async def start(self) -> None:
        """Inside ``hub serve``: fail jobs orphaned by a dead process, follow stored changes."""
        await self.job_runner.fail_orphans()
        await self.sync.start()
        self._serving = True

    async def stop(self) -> None:
        self._serving = False
        await self.job_runner.stop()
        await self.sync.stop()

    # -- plumbing ---------------------------------------------------------------------

    @staticmethod
    def _require(who: Principal, needed: Role, what: str) -> None:
        if not who.allows(needed):
            raise Forbidden(f"{what} needs the {needed} role; {who.name} has {who.role}")

    async def _audit(
        self, who: Principal, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> None:
        await audit(self.hub.store, who, action, target, detail)

    def _wake(self) -> None:
        if self.hub.dispatcher is not None:
            self.hub.dispatcher.notify()

    def _box(self) -> SecretBox:
        if self.hub.box is None:  # the CLI: the hub was built but not started
            key_file = self.hub.config.path(self.hub.config.data_dir) / "secret.key"
            self.hub.box = SecretBox(load_master_key(key_file))
        return self.hub.box

    async def _row(self, name: str) -> ConnectionRow:
        row = await self.hub.store.get_connection(name)
        if row is None or not self._known(row):
            raise NotFound(f"no connection named {name!r}")
        return row

    def _known(self, row: ConnectionRow) -> bool:
        """Rows of connections since removed from hub.yaml are history, not connections."""
        return row.name in self.hub.connections or row.state.get("origin") == ORIGIN_DASHBOARD

    def _live(self, row: ConnectionRow) -> LiveConnection | None:
        """The connection as it runs (serving), or as it would run (CLI: built, not opened)."""
        live = self.hub.connections.get(row.name)
        if live is not None and (self._serving or row.state.get("origin") != ORIGIN_DASHBOARD):
            return live
        built, _problems = live_from_row(row, self.hub.registry, self._box())
        return built

    # -- reads (viewer) ----------------------------------------------------------------

    async def connections(self) -> list[ConnectionView]:
        """Every connection, by name, with secrets as ``{"set": bool}``."""
        views = []
        for row in await self.hub.store.list_connections():
            if not self._known(row):
                continue
            live = self._live(row)
            if live is not None:
                views.append(view_of(live, row))
        return views

    async def connection(self, name: str) -> ConnectionView | None:
        row = await self.hub.store.get_connection(name)
        if row is None or not self._known(row):
            return None
        live = self._live(row)
        return None if live is None else view_of(live, row)

    def connection_form(self, connector: str, name: str | None = None) -> ConnectionForm:
        """The settings form of ``connector``, filled from connection ``name`` if it runs here.

        Raises:
            NotFound: no such connector installed.
        """
        try:
            found = self.hub.registry.connector(connector)
        except ConfigError as exc:
            raise NotFound(str(exc)) from exc
        live = self.hub.connections.get(name) if name else None
        if live is not None and live.connector.name != found.name:
            live = None
        return connection_form(found, live)

    async def recipes(self) -> list[RecipeView]:
        """Loaded recipes with their switch and the problems their files have now.

        Connections count whether hub.yaml has them or they were saved from the
        dashboard or the API, as when the hub starts (``Hub.start``).
        """
        problems: dict[str, list[str]] = {}
        paths = self.hub.config.recipe_paths()
        if paths:
            known = await connection_map(self.hub)
            for problem in validate_files(paths, self.hub.registry, known):
                problems.setdefault(str(problem.file), []).append(str(problem))
        return [_recipe_view(r, problems.get(r.source, [])) for r in self.hub.recipes]

    async def recipe(self, name: str) -> RecipeView | None:
        return next((r for r in await self.recipes() if r.name == name), None)

    async def audit_log(
        self, limit: int = 50, before: str | None = None, action: str | None = None
    ) -> tuple[list[AuditEntry], str | None]:
        """Newest first, with the next page's cursor (``ValueError`` for a bad cursor)."""
        return await self.hub.store.run_read(lambda c: queries.audit_page(c, limit, before, action))

    async def jobs(self, limit: int = 20) -> list[BulkJob]:
        return (await self.jobs_page(limit))[0]

    async def jobs_page(
        self, limit: int = 20, before: str | None = None
    ) -> tuple[list[BulkJob], str | None]:
        """Newest first, with the next page's cursor (``ValueError`` for a bad cursor)."""
        return await self.hub.store.run_read(lambda c: queries.jobs_page(c, limit, before))

    async def job(self, job_id: str) -> BulkJob | None:
        return await self.hub.store.run_read(lambda c: queries.get_job(c, job_id))

    # -- ops role ------------------------------------------------------------------------

    async def replay(self, who: Principal, step_ids: list[str], from_start: bool = False) -> int:
        """Make these deliveries due again (same idempotency keys); returns how many runs moved."""
        self._require(who, Role.OPS, "replaying deliveries")
        moved = await self.hub.store.replay(step_ids, from_start=from_start) if step_ids else 0
        self._wake()
        target = step_ids[0] if len(step_ids) == 1 else f"{len(step_ids)} deliveries"
        await self._audit(
            who,
            "deliveries.replay",
            target,
            {"deliveries": step_ids[:100], "from_start": from_start, "runs": moved},
        )
        return moved

    async def start_bulk_replay(
        self, who: Principal, flt: DeliveryFilter, from_start: bool = False
    ) -> BulkJob:
        """Replay everything ``flt`` selects in the background; progress in ``job(id)``.

        Raises:
            Forbidden: not ops or admin.
            ConfigError: ``flt`` sets no condition (``has_conditions``).
        """
        self._require(who, Role.OPS, "bulk replay")
        if not has_conditions(flt):
            raise ConfigError(
                "filter: name at least one condition (usually status dead); "
                "replaying every delivery is rarely meant"
            )
        job = await self.job_runner.start_replay(flt, from_start, who.name)
        await self._audit(
            who,
            "deliveries.bulk_replay",
            job.id,
            {"filter": filter_doc(flt), "from_start": from_start, "total": job.total},
        )
        return job

    async def wait_job(self, job_id: str) -> BulkJob | None:
        """Until a job this process runs has finished; then its final record."""
        await self.job_runner.wait(job_id)
        return await self.job(job_id)

    async def cancel_job(self, who: Principal, job_id: str) -> bool:
        """Cancel a running job (it stops before its next batch); False if it was not running."""
        self._require(who, Role.OPS, "cancelling a job")
        if await self.job(job_id) is None:
            raise NotFound(f"no job {job_id!r}")
        cancelled = await self.job_runner.cancel(job_id)
        await self._audit(who, "job.cancel", job_id, {"was_running": cancelled})
        return cancelled

    async def pause_connection(self, who: Principal, name: str) -> None:
        """Stop running steps against ``name`` (they stay due); its webhooks are still taken."""
        await self._set_paused(who, name, True)

    async def resume_connection(self, who: Principal, name: str) -> None:
        await self._set_paused(who, name, False)

    async def _set_paused(self, who: Principal, name: str, paused: bool) -> None:
        self._require(who, Role.OPS, "pausing and resuming connections")
        await self._row(name)
        await self.hub.store.update_connection_state(name, {"paused": True if paused else None})
        if self.hub.dispatcher is not None:
            if paused:
                self.hub.dispatcher.paused.add(name)
            else:
                self.hub.dispatcher.paused.discard(name)
                self._wake()
        await self._audit(who, "connection.pause" if paused else "connection.resume", name)

    # -- admin role -------------------------------------------------------------------------

    async def save_connection(
        self,
        who: Principal,
        name: str,
        connector: str,
        values: dict[str, Any],
        enabled: bool | None = None,
    ) -> ConnectionView:
        """Create or change a connection; applied live and stored sealed (it then wins over hub.yaml).

        Raises:
            Forbidden: not an admin.
            ConfigError: every problem with the values (``config.<field>: message``),
                a bad name, an unknown connector, or a change of connector.
        """
        self._require(who, Role.ADMIN, "changing connections")
        if not CONNECTION_NAME.match(name):
            raise ConfigError(
                "name: use 1 to 100 letters, digits, '.', '_' or '-' (it appears in /hooks/NAME)"
            )
        try:
            found = self.hub.registry.connector(connector)
        except ConfigError as exc:
            raise ConfigError(f"connector: {exc}") from exc
        row = await self.hub.store.get_connection(name)
        current = None
        if row is not None and self._known(row):
            if row.connector != found.name:
                raise ConfigError(
                    f"connector: connection {name!r} uses {row.connector}; a connection cannot "
                    "change connector (its steps and cursors belong to it), pick a new name"
                )
            live = self._live(row)
            current = live.config if live is not None else None
        config = merge_values(found, current, values)
        is_enabled = enabled if enabled is not None else (row.enabled if row is not None else True)
        await self._store_connection(name, found.name, config, is_enabled, values)
        secrets = secret_fields(found.config)
        changed = sorted(k for k in values if k in secrets and values[k])
        await self._audit(
            who,
            "connection.create" if current is None else "connection.update",
            name,
            {
                "connector": found.name,
                "fields": sorted(k for k in values if k not in secrets),
                "secrets_changed": changed,
                "enabled": is_enabled,
            },
        )
        view = await self.connection(name)
        assert view is not None
        return view

    async def _store_connection(
        self, name: str, connector: str, config: Any, enabled: bool, values: dict[str, Any]
    ) -> None:
        from hub.app import sealed_config  # hub.app imports this module

        found = self.hub.registry.connector(connector)
        sealed = sealed_config(config, self._box())
        revision = uuid.uuid4().hex
        await self.hub.store.upsert_connection(name, connector, sealed, enabled)
        patch: dict[str, Any] = {"origin": ORIGIN_DASHBOARD, "revision": revision}
        if any(values.get(k) for k in secret_fields(found.config)):
            patch.update(needs_reauth=None, reauth_reason=None)  # new credentials: try them
        await self.hub.store.update_connection_state(name, patch)
        if self._serving:
            live = live_from_config(name, found, config, enabled, self.hub.registry)
            old = await self.hub.connections.replace(live)
            self.sync.revisions[name] = revision
            if old is not None:
                self.sync.retire(old)
            await restart_pollers(self.hub)

    async def set_connection_enabled(
        self, who: Principal, name: str, enabled: bool
    ) -> ConnectionView:
        """Switch a connection on or off (off: no webhooks, no steps); wins over hub.yaml."""
        self._require(who, Role.ADMIN, "enabling and disabling connections")
        row = await self._row(name)
        await self.hub.store.run_write(lambda c: queries.set_connection_enabled(c, name, enabled))
        if row.state.get("origin") != ORIGIN_DASHBOARD:
            await self.hub.store.update_connection_state(name, {ENABLED_OVERRIDE: enabled})
        live = self.hub.connections.get(name)
        if self._serving and live is not None and live.enabled != enabled:
            live.enabled = enabled
            await restart_pollers(self.hub)
            self._wake()
        await self._audit(who, "connection.enable" if enabled else "connection.disable", name)
        view = await self.connection(name)
        assert view is not None
        return view

    async def test_connection(self, who: Principal, name: str) -> TestResult:
        """Check a connection's credentials the cheapest way its connector allows.

        OAuth connectors get a token (an exchange with the vendor unless one is
        cached); webhook-only connectors have their signing secrets checked for
        presence (send a real webhook to prove the signature). Never raises for
        a failed check: the result says what failed.
        """
        self._require(who, Role.ADMIN, "testing connections")
        row = await self._row(name)
        started = time.perf_counter()
        temporary = not self._serving or self.hub.connections.get(name) is None
        live = self._live(row) if not temporary else None
        if temporary:
            live, problems = live_from_row(row, self.hub.registry, self._box())
            if live is None:
                return await self._tested(who, name, False, "; ".join(problems), started)
            await live.http.open()
            if live.session is not None:
                await live.session.open()
        assert live is not None
        try:
            ok, message = await check_connection(live)
        except HubError as exc:
            ok, message = False, str(exc)
        except Exception as exc:  # noqa: BLE001 - a test reports, it does not crash the caller
            ok, message = False, f"{type(exc).__name__}: {exc}"
        finally:
            if temporary:
                await close_connection(live)
        return await self._tested(who, name, ok, message, started)

    async def _tested(
        self, who: Principal, name: str, ok: bool, message: str, started: float
    ) -> TestResult:
        result = TestResult(ok, message, round((time.perf_counter() - started) * 1000, 1))
        await self._audit(who, "connection.test", name, {"ok": ok, "message": message[:300]})
        return result

    async def set_recipe_enabled(self, who: Principal, name: str, enabled: bool) -> RecipeView:
        """Switch a recipe on or off for new events (runs already started carry on)."""
        self._require(who, Role.ADMIN, "enabling and disabling recipes")
        recipe = self._recipe(name)
        await self.hub.store.run_write(
            lambda c: queries.set_recipe_switch(c, name, enabled, who.name)
        )
        recipe.enabled = enabled
        await self._audit(who, "recipe.enable" if enabled else "recipe.disable", name)
        view = await self.recipe(name)
        assert view is not None
        return view

    def _recipe(self, name: str) -> Recipe:
        for recipe in self.hub.recipes:
            if recipe.name == name:
                return recipe
        raise NotFound(f"no recipe named {name!r}")

    async def dry_run(self, who: Principal, recipe: str, event_id: str) -> dict[str, Any]:
        """Render ``recipe`` against a stored event without calling any sink."""
        self._require(who, Role.ADMIN, "dry runs")
        found = self._recipe(recipe)
        event = await self.hub.store.get_event(event_id)
        if event is None:
            raise NotFound(f"no event {event_id!r}")
        result = dry_run_event(found, event, as_enabled=True)
        await self._audit(who, "recipe.dry_run", recipe, {"event": event_id})
        return result

    async def create_token(
        self, who: Principal, name: str, role: Role, expires_at: datetime | None = None
    ) -> tuple[TokenInfo, str]:
        """A new API token; the text is returned once and only its hash is kept."""
        self._require(who, Role.ADMIN, "creating tokens")
        info, text = await self.tokens.create(name, role, who.name, expires_at)
        detail = {"role": str(role), "prefix": info.prefix}
        if expires_at is not None:
            detail["expires_at"] = expires_at.isoformat()
        await self._audit(who, "token.create", name, detail)
        return info, text

    async def revoke_token(self, who: Principal, name_or_id: str) -> TokenInfo:
        """Revoke a token by name or id; ``NotFound`` if none, ``Conflict`` if already revoked."""
        self._require(who, Role.ADMIN, "revoking tokens")
        info = await self.tokens.get(name_or_id)
        if info is None:
            raise NotFound(f"no token named or with id {name_or_id!r}")
        if not await self.tokens.revoke(info.id):
            raise Conflict(f"token {info.name!r} is already revoked")
        await self._audit(who, "token.revoke", info.name, {"id": info.id})
        revoked = await self.tokens.get(info.id)
        assert revoked is not None
        return revoked

    async def set_connection_secret_state(
        self, who: Principal, name: str, patch: dict[str, Any]
    ) -> None:
        """Store new credentials (the OAuth connect flow): sealed, applied live, re-auth cleared.

        ``patch`` holds config fields (e.g. ``refresh_token``, ``api_domain``).
        """
        self._require(who, Role.ADMIN, "connecting accounts")
        row = await self._row(name)
        live = self._live(row)
        if live is None:
            raise ConfigError(f"connection {name!r} cannot be built from its stored settings")
        config = merge_values(live.connector, live.config, patch)
        await self._store_connection(name, row.connector, config, row.enabled, patch)
        await self.hub.store.update_connection_state(
            name, {"needs_reauth": None, "reauth_reason": None}
        )
        await self._audit(who, "connection.authorize", name, {"fields": sorted(patch)})


def _recipe_view(recipe: Recipe, problems: list[str]) -> RecipeView:
    trigger = recipe.trigger.event
    if recipe.trigger.connection:
        trigger += f" on {recipe.trigger.connection}"
    if recipe.trigger.where:
        trigger += f" where {recipe.trigger.where}"
    return RecipeView(
        name=recipe.name or "",
        file=recipe.source,
        enabled=recipe.enabled,
        trigger=trigger,
        steps=[f"{s.id}: {s.use} on {s.connection}" for s in recipe.steps],
        problems=problems,
    )
