"""``hub`` commands for ops and admins: tokens, users, connection and recipe switches,
replays (single and bulk, with progress), jobs and the audit log.

Everything goes through ``hub.ops.Ops`` as the local principal ``cli``
(admin: whoever runs ``hub`` on the server can read the master key anyway),
so each change is role-checked and audited exactly like the API and the
dashboard do it. Changes land in the store; a running ``hub serve`` applies
them within two seconds. Every command takes ``--json``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any, TypeVar, cast

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub.auth import CLI_PRINCIPAL, Role, hash_password, token_expiry
from hub.cli_common import _config, _emit_json, _fail, _run, _when, err, out
from hub.config import HubConfig
from hub.errors import ConfigError, HubError
from hub.store import DeliveryFilter, StepStatus

__all__ = ["register"]

T = TypeVar("T")
STATUSES = ["pending", "succeeded", "skipped", "dead", "cancelled"]


@asynccontextmanager
async def _ops(config: HubConfig) -> AsyncIterator[Any]:
    """An ``Ops`` over the configured store (connections built, nothing started)."""
    from hub.app import load_hub
    from hub.ops import Ops

    hub = load_hub(config)
    await hub.store.open()
    try:
        yield Ops(hub)
    finally:
        await hub.store.close()


def _with_ops(ctx: click.Context, fn: Callable[[Any], Awaitable[T]]) -> T:
    async def go() -> T:
        async with _ops(_config(ctx)) as ops:
            return await fn(ops)

    try:
        return _run(go())
    except ConfigError:
        raise  # exit status 2, printed by the hub group
    except HubError as exc:  # NotFound, Conflict, Forbidden, a failed job: operational
        _fail(str(exc), 1)
    raise AssertionError("unreachable")  # pragma: no cover


def _doc(value: Any) -> Any:
    return asdict(value) if hasattr(value, "__dataclass_fields__") else value


def _json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON only.")(fn)


# --------------------------------------------------------------------------- tokens


@click.group()
def tokens() -> None:
    """API tokens (bearer tokens for /api/v1 and the dashboard), stored hashed."""


@tokens.command("create")
@click.argument("name")
@click.option(
    "--role", type=click.Choice([r.value for r in Role]), default="viewer", show_default=True
)
@click.option("--expires", help="Lifetime, e.g. 30d, 12h (default: never).")
@_json_option
@click.pass_context
def tokens_create(
    ctx: click.Context, name: str, role: str, expires: str | None, as_json: bool
) -> None:
    """Create a token and print it once (only its hash is kept)."""
    try:
        expires_at = token_expiry(expires) if expires else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from exc
    info, text = _with_ops(
        ctx, lambda ops: ops.create_token(CLI_PRINCIPAL, name, Role(role), expires_at)
    )
    if as_json:
        _emit_json({"token": text, "info": _token_doc(info)})
        return
    out.print(
        f"created token [bold]{info.name}[/] ({info.role}); copy it now, it is not shown again:"
    )
    click.echo(text)


def _token_doc(info: Any) -> dict[str, Any]:
    doc = asdict(info)
    doc["role"] = str(info.role)
    doc["status"] = info.status()
    return doc


@tokens.command("list")
@_json_option
@click.pass_context
def tokens_list(ctx: click.Context, as_json: bool) -> None:
    """Every token with its role, status and last use (never the token itself)."""
    found = _with_ops(ctx, lambda ops: ops.tokens.list())
    if as_json:
        _emit_json({"tokens": [_token_doc(t) for t in found]})
        return
    table = Table("name", "role", "prefix", "status", "created", "expires", "last used")
    for t in found:
        table.add_row(
            t.name,
            str(t.role),
            f"hub_{t.prefix}_…",
            t.status(),
            _ts(t.created_at),
            _ts(t.expires_at),
            _ts(t.last_used_at),
        )
    out.print(table)


@tokens.command("revoke")
@click.argument("name_or_id")
@_json_option
@click.pass_context
def tokens_revoke(ctx: click.Context, name_or_id: str, as_json: bool) -> None:
    """Revoke a token by name or id; it stops working at once."""
    info = _with_ops(ctx, lambda ops: ops.revoke_token(CLI_PRINCIPAL, name_or_id))
    if as_json:
        _emit_json(_token_doc(info))
    else:
        out.print(f"revoked token {info.name}")


def _ts(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


# --------------------------------------------------------------------------- users


@click.group()
def users() -> None:
    """Dashboard logins (``dashboard.users`` in hub.yaml)."""


@users.command("hash-password")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (scripts).")
@_json_option
def users_hash_password(password_stdin: bool, as_json: bool) -> None:
    """Print a password_hash for hub.yaml (scrypt, random salt); the password is never stored."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    encoded = hash_password(password)
    if as_json:
        _emit_json({"password_hash": encoded})
    else:
        click.echo(encoded)


# --------------------------------------------------------------------------- connections


def _connection_switch(verb: str) -> click.Command:
    helps = {
        "pause": "Pause NAME: its deliveries wait (stay due); its webhooks are still accepted.",
        "resume": "Resume NAME: its waiting deliveries run.",
        "enable": "Enable NAME (overrides hub.yaml's enabled).",
        "disable": "Disable NAME: no webhooks, no steps (overrides hub.yaml's enabled).",
    }

    @click.command(verb, help=helps[verb])
    @click.argument("name")
    @_json_option
    @click.pass_context
    def command(ctx: click.Context, name: str, as_json: bool) -> None:
        async def go(ops: Any) -> Any:
            if verb == "pause":
                await ops.pause_connection(CLI_PRINCIPAL, name)
            elif verb == "resume":
                await ops.resume_connection(CLI_PRINCIPAL, name)
            else:
                await ops.set_connection_enabled(CLI_PRINCIPAL, name, verb == "enable")
            return await ops.connection(name)

        view = _with_ops(ctx, go)
        if as_json:
            _emit_json(_doc(view))
        else:
            state = "paused" if view.paused else "running"
            out.print(
                f"{name}: {'enabled' if view.enabled else 'disabled'}, {state} "
                "(a running hub serve applies this within 2 s)"
            )

    return command


@click.command("test")
@click.argument("name")
@_json_option
@click.pass_context
def connections_test(ctx: click.Context, name: str, as_json: bool) -> None:
    """Check NAME's credentials (an OAuth token exchange, or that its secrets are set)."""
    result = _with_ops(ctx, lambda ops: ops.test_connection(CLI_PRINCIPAL, name))
    if as_json:
        _emit_json(asdict(result))
    else:
        mark = "[green]ok[/]" if result.ok else "[red]failed[/]"
        out.print(f"{name}: {mark} ({result.duration_ms:.0f} ms) {result.message}", highlight=False)
    if not result.ok:
        sys.exit(1)


# --------------------------------------------------------------------------- recipes


def _recipe_switch(verb: str) -> click.Command:
    @click.command(
        verb, help=f"{verb.capitalize()} recipe NAME for new events (stored; wins over its file)."
    )
    @click.argument("name")
    @_json_option
    @click.pass_context
    def command(ctx: click.Context, name: str, as_json: bool) -> None:
        view = _with_ops(
            ctx, lambda ops: ops.set_recipe_enabled(CLI_PRINCIPAL, name, verb == "enable")
        )
        if as_json:
            _emit_json(_doc(view))
        else:
            out.print(f"recipe {name}: {'enabled' if view.enabled else 'disabled'}")

    return command


# --------------------------------------------------------------------------- replay


@click.command("replay")
@click.argument("delivery_ids", nargs=-1)
@click.option(
    "--status", type=click.Choice(STATUSES), help="Replay every delivery with this status."
)
@click.option("--connection", help="Only this sink connection (or source connection).")
@click.option("--recipe", help="Only this recipe.")
@click.option("--event-type", help="Only deliveries of events of this type.")
@click.option("--subject", help="Only deliveries of events with this subject.")
@click.option("--since", help="ISO time or 15m/2h/7d ago.")
@click.option("--until")
@click.option(
    "--from-start", is_flag=True, help="Run the whole recipe again, not just the failed step."
)
@click.option("--dry-run", is_flag=True, help="Only count what would be replayed.")
@_json_option
@click.pass_context
def deliveries_replay(
    ctx: click.Context,
    delivery_ids: tuple[str, ...],
    status: str | None,
    connection: str | None,
    recipe: str | None,
    event_type: str | None,
    subject: str | None,
    since: str | None,
    until: str | None,
    from_start: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Make deliveries due again, with the same idempotency keys (so nothing doubles).

    Name delivery ids, or select them with filters (at least one; usually
    --status dead). A filter runs as a bulk job in batches, with progress;
    a running `hub serve` picks the deliveries up within a second.
    """
    flt = DeliveryFilter(
        status=cast(StepStatus | None, status),
        connection=connection,
        recipe=recipe,
        since=_when(since),
        until=_when(until),
        event_type=event_type,
        subject=subject,
    )
    filtered = any(
        v is not None for v in (status, connection, recipe, event_type, subject, since, until)
    )
    if not delivery_ids and not filtered:
        _fail(
            "name delivery ids, or select them with filters, e.g. --status dead [--connection/--recipe]"
        )
    if delivery_ids and filtered:
        _fail("name delivery ids or give filters, not both")

    async def go(ops: Any) -> dict[str, Any]:
        if delivery_ids and dry_run:
            found = [i for i in delivery_ids if await ops.hub.store.get_delivery(i) is not None]
            return {"selected": len(found), "replayed_runs": 0}
        if delivery_ids:
            moved = await ops.replay(CLI_PRINCIPAL, list(delivery_ids), from_start=from_start)
            return {"selected": len(delivery_ids), "replayed_runs": moved}
        if dry_run:
            return {"selected": await ops.hub.store.count_deliveries(flt), "replayed_runs": 0}
        job = await ops.start_bulk_replay(CLI_PRINCIPAL, flt, from_start=from_start)
        await _follow(ops, job, show=not as_json)
        final = await ops.job(job.id)
        if final is not None and final.status == "failed":
            raise HubError(f"bulk replay {job.id} failed: {final.error}")
        return {
            "selected": final.done if final else 0,
            "replayed_runs": ops.job_runner.runs_moved(job.id),
        }

    result = _with_ops(ctx, go)
    if as_json:
        _emit_json(result)
    elif dry_run:
        out.print(f"would replay {result['selected']} delivery(ies)")
    else:
        out.print(
            f"replayed {result['replayed_runs']} run(s) from {result['selected']} delivery(ies)"
        )


async def _follow(ops: Any, job: Any, show: bool) -> None:
    """Wait for a job this process runs, drawing a progress bar unless ``show`` is false."""
    waiting = asyncio.ensure_future(ops.wait_job(job.id))
    if not show:
        await waiting
        return
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("replay", total=max(job.total, 1))
        while not waiting.done():
            await asyncio.wait({waiting}, timeout=0.2)
            current = await ops.job(job.id)
            if current is not None:
                bar.update(task, completed=current.done, total=max(current.total, 1))
    await waiting


# --------------------------------------------------------------------------- jobs and audit


@click.group()
def jobs() -> None:
    """Background jobs (bulk replays) and their progress."""


def _job_row(table: Table, job: Any) -> None:
    color = {"done": "green", "running": "yellow", "failed": "red"}.get(job.status, "white")
    table.add_row(
        job.id,
        job.kind,
        f"[{color}]{job.status}[/]",
        f"{job.done}/{job.total}",
        job.created_by,
        _ts(job.created_at),
        (job.error or "")[:60],
    )


@jobs.command("list")
@click.option("--limit", default=20, show_default=True)
@_json_option
@click.pass_context
def jobs_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Newest first."""
    found = _with_ops(ctx, lambda ops: ops.jobs(limit))
    if as_json:
        _emit_json({"jobs": [asdict(j) for j in found]})
        return
    table = Table("id", "kind", "status", "progress", "by", "created", "error")
    for job in found:
        _job_row(table, job)
    out.print(table)


@jobs.command("show")
@click.argument("job_id")
@_json_option
@click.pass_context
def jobs_show(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """One job with its filter and progress."""
    job = _with_ops(ctx, lambda ops: ops.job(job_id))
    if job is None:
        _fail(f"no job {job_id}", 1)
    if as_json:
        _emit_json(asdict(job))
        return
    table = Table("id", "kind", "status", "progress", "by", "created", "error")
    _job_row(table, job)
    out.print(table)
    out.print_json(data=job.params)


@jobs.command("cancel")
@click.argument("job_id")
@_json_option
@click.pass_context
def jobs_cancel(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """Cancel a running job; it stops before its next batch (what it replayed stays replayed)."""
    cancelled = _with_ops(ctx, lambda ops: ops.cancel_job(CLI_PRINCIPAL, job_id))
    if as_json:
        _emit_json({"cancelled": cancelled})
    elif cancelled:
        out.print(f"job {job_id} cancelled")
    if not cancelled:
        if not as_json:
            err.print(f"job {job_id} was not running")
        sys.exit(1)


@click.group()
def audit() -> None:
    """The audit log of every admin and ops action (API, dashboard and CLI)."""


@audit.command("list")
@click.option("--action", help="Only this action, e.g. deliveries.replay.")
@click.option("--limit", default=50, show_default=True)
@click.option("--before", help="Page cursor printed by the previous page.")
@_json_option
@click.pass_context
def audit_list(
    ctx: click.Context, action: str | None, limit: int, before: str | None, as_json: bool
) -> None:
    """Newest first."""
    try:
        entries, cursor = _with_ops(ctx, lambda ops: ops.audit_log(limit, before, action))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--before") from exc
    if as_json:
        _emit_json({"entries": [asdict(e) for e in entries], "next": cursor})
        return
    table = Table("at", "actor", "role", "action", "target", "detail")
    for e in entries:
        table.add_row(_ts(e.at), e.actor, e.role, e.action, e.target, str(e.detail)[:80])
    out.print(table)
    if cursor:
        out.print(f"[dim]more: --before {cursor}[/]")


def register(main: click.Group) -> None:
    """Add these commands to the ``hub`` group and its existing subgroups."""
    for group in (tokens, users, jobs, audit):
        main.add_command(group)
    connections = cast(click.Group, main.commands["connections"])
    for verb in ("pause", "resume", "enable", "disable"):
        connections.add_command(_connection_switch(verb))
    connections.add_command(connections_test)
    recipes = cast(click.Group, main.commands["recipes"])
    for verb in ("enable", "disable"):
        recipes.add_command(_recipe_switch(verb))
    cast(click.Group, main.commands["deliveries"]).add_command(deliveries_replay)
