"""The ``hub`` command: serve, sandbox, demo, recipes, events, deliveries, connectors.

Every listing takes ``--json`` (one JSON document on stdout, nothing else), so
scripts never parse tables. Errors go to stderr with exit status 2 for bad
input or configuration and 1 for operational failures.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from rich.table import Table

from hub.cli_common import _config, _emit_json, _fail, _run, _when, err, out
from hub.config import HubConfig, load_config
from hub.errors import ConfigError
from hub.scaffold import KINDS

__all__ = ["main"]

T = TypeVar("T")


def _safe_url(url: str) -> str:
    """A database URL fit for logs: the password replaced by ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparseable URL is shown without its credentials
        return url.split("@")[-1]


class _HubGroup(click.Group):
    """Turns ``ConfigError`` anywhere into a clean message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            _fail(str(exc))


@click.group(cls=_HubGroup)
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="HUB_CONFIG",
    help="hub.yaml to use (default: ./hub.yaml if present, else built-in defaults).",
)
@click.version_option(package_name="hub")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """hub: webhooks and polls in, one event schema, YAML recipes out, exactly once in effect."""
    ctx.ensure_object(dict)
    try:
        ctx.obj["config"] = load_config(config_path)
    except ConfigError as exc:
        _fail(str(exc))


# --------------------------------------------------------------------------- serve


@main.command()
@click.option("--listen", help="host:port (default from hub.yaml, else 127.0.0.1:8080).")
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    help="text, or one JSON object per line (default: log_format in hub.yaml, else text).",
)
@click.pass_context
def serve(ctx: click.Context, listen: str | None, log_level: str, log_format: str | None) -> None:
    """Run the ingress, the API, the health probes and /metrics, and (engine: inline) the steps.

    With engine: celery, steps run in `hub worker` and pollers in `hub scheduler`.
    """
    from aiohttp import web

    from hub.app import build_app, load_hub
    from hub.logs import setup_logging

    config = _config(ctx)
    setup_logging(log_level, "json" if (log_format or config.log_format) == "json" else "text")
    if listen:
        config = config.model_copy(update={"listen": listen})
    hub = load_hub(config)
    host, port = config.host_port()
    err.print(
        f"hub serving on http://{host}:{port}  store={_safe_url(config.store_url())}  engine={config.engine}  "
        f"connections={len(list(hub.connections))}  recipes={len(hub.recipes)}",
        highlight=False,
    )
    web.run_app(build_app(hub), host=host, port=port, print=None, access_log=None)


# --------------------------------------------------------------------------- celery engine


def _celery_hub(ctx: click.Context, command: str, log_level: str, log_format: str | None) -> Any:
    """The hub of a celery-engine process, logging set up; exits 2 if the engine is inline."""
    from hub.app import load_hub
    from hub.logs import setup_logging

    config = _config(ctx)
    if config.engine != "celery":
        _fail(
            f"hub {command} runs the celery engine, and hub.yaml says engine: {config.engine}; "
            "set engine: celery (and celery.broker_url), or run only hub serve"
        )
    setup_logging(log_level, "json" if (log_format or config.log_format) == "json" else "text")
    return load_hub(config)


@main.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    help="Steps in flight at once in this process (default: celery.worker_concurrency).",
)
@click.option(
    "--metrics-listen",
    metavar="HOST:PORT",
    help="Serve this worker's Prometheus /metrics there (default: not served).",
)
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    help="text, or one JSON object per line (default: log_format in hub.yaml, else text).",
)
@click.pass_context
def worker(
    ctx: click.Context,
    concurrency: int | None,
    metrics_listen: str | None,
    log_level: str,
    log_format: str | None,
) -> None:
    """Run steps from the broker (engine: celery): many at once, on one asyncio loop.

    Start as many as the load needs, on any machines that reach the store and
    the broker. SIGTERM finishes the running steps first; a killed worker's
    steps run again elsewhere once their leases lapse (celery.lease_seconds).
    """
    from hub.dispatch.celery_worker import run_worker

    if metrics_listen is not None and not metrics_listen.rpartition(":")[2].isdigit():
        raise click.BadParameter(
            f"{metrics_listen!r} is not HOST:PORT", param_hint="--metrics-listen"
        )
    hub = _celery_hub(ctx, "worker", log_level, log_format)
    config = hub.config
    err.print(
        f"hub worker  store={_safe_url(config.store_url())}  "
        f"broker={_safe_url(config.celery.broker_url)}  queue={config.celery.queue}  "
        f"concurrency={concurrency or config.celery.worker_concurrency}",
        highlight=False,
    )
    sys.exit(run_worker(hub, concurrency, log_level, metrics_listen))


@main.command()
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    help="text, or one JSON object per line (default: log_format in hub.yaml, else text).",
)
@click.pass_context
def scheduler(ctx: click.Context, log_level: str, log_format: str | None) -> None:
    """Run the pollers, housekeeping and the sweeper (engine: celery); one per deployment.

    The sweeper publishes, every celery.sweep_interval, due steps that no
    worker holds: retries that fell due, messages lost with the broker, steps
    of a killed worker.
    """
    from hub.scheduler import run_scheduler

    hub = _celery_hub(ctx, "scheduler", log_level, log_format)
    config = hub.config
    err.print(
        f"hub scheduler  store={_safe_url(config.store_url())}  "
        f"broker={_safe_url(config.celery.broker_url)}  sweep every {config.celery.sweep_interval:g}s",
        highlight=False,
    )
    _run(run_scheduler(hub))


# --------------------------------------------------------------------------- sandbox


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
@click.option("--only", multiple=True, help="Serve only these connectors' sandboxes.")
def sandbox(host: str, port: int, only: tuple[str, ...]) -> None:
    """Serve the vendor sandboxes (Zoho Books, ...) under http://HOST:PORT/{connector}/."""
    from aiohttp import web

    from hub.registry import Registry
    from hub.sandbox import build_sandbox_app

    app = build_sandbox_app(Registry.from_entry_points(), list(only) or None)
    err.print(f"sandboxes on http://{host}:{port}/  (GET / lists them)")
    web.run_app(app, host=host, port=port, print=None, access_log=None)


# --------------------------------------------------------------------------- demo


@main.command()
@click.option("--events", "count", default=20, show_default=True, help="Payments to send.")
@click.option(
    "--dir",
    "workdir",
    default=".hub-demo",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where the demo keeps its SQLite store and key.",
)
@click.option(
    "--recipe",
    default="recipes/razorpay-payment-to-books.yaml",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo(count: int, workdir: Path, recipe: Path, as_json: bool) -> None:
    """Start the Books sandbox and a hub, send signed Razorpay payments, show the deliveries."""
    from hub.demo import run_demo

    summary = _run(run_demo(count, workdir, recipe, console=None if as_json else out))
    if as_json:
        _emit_json(summary)
    if summary["delivered"] != summary["expected"]:
        sys.exit(1)


# --------------------------------------------------------------------------- recipes


@main.group()
def recipes() -> None:
    """Validate and dry-run recipes."""


@recipes.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--store",
    "with_store",
    is_flag=True,
    help="Also count connections saved from the dashboard or the API (reads the configured store).",
)
@click.pass_context
def recipes_validate(
    ctx: click.Context, paths: tuple[Path, ...], as_json: bool, with_store: bool
) -> None:
    """Check recipe files (or folders): every problem at once, each with file:line and path.

    Connections are hub.yaml's; with --store also those saved from the dashboard
    or the API, as `hub serve` counts them when it starts.
    """
    from hub.ops.settings import ORIGIN_DASHBOARD
    from hub.recipes import validate_files
    from hub.registry import Registry

    config = _config(ctx)
    targets = list(paths) or config.recipe_paths()
    missing = [str(p) for p in targets if not p.exists()]
    if missing:
        _fail(f"no such file or folder: {', '.join(missing)}")
    registry = Registry.from_entry_points()
    connections = (
        {name: spec.connector for name, spec in config.connections.items()}
        if config.connections
        else None
    )
    if with_store:

        async def saved(store: Any) -> dict[str, str]:
            rows = await store.list_connections()
            return {r.name: r.connector for r in rows if r.state.get("origin") == ORIGIN_DASHBOARD}

        connections = {**(connections or {}), **_run(_with_store(config, saved))}
    problems = validate_files(targets, registry, connections)
    files = _recipe_files(targets)
    if as_json:
        _emit_json(
            {
                "ok": not problems,
                "files": [str(f) for f in files],
                "problems": [asdict(p) for p in problems],
            }
        )
    else:
        for p in problems:
            err.print(f"[red]{p}[/]", highlight=False)
        if not problems:
            out.print(f"[green]ok[/]: {len(files)} recipe file(s) valid")
        else:
            err.print(f"{len(problems)} problem(s) in {len({p.file for p in problems})} file(s)")
            if not with_store and any("unknown connection" in p.message for p in problems):
                err.print(
                    "connections saved from the dashboard or the API are not in hub.yaml: "
                    "add --store to count them",
                    highlight=False,
                )
    sys.exit(1 if problems else 0)


def _recipe_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        else:
            files.append(p)
    return files


@recipes.command("test")
@click.argument("recipe", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--event",
    "event_file",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="An event as JSON (the output of `hub events show ID --json`).",
)
@click.option("--json", "as_json", is_flag=True)
def recipes_test(recipe: Path, event_file: Path, as_json: bool) -> None:
    """Dry run: match RECIPE against an event and show each step's rendered inputs. Calls nothing."""
    from hub.dryrun import dry_run

    result = dry_run(recipe, event_file)
    if as_json:
        _emit_json(result)
        return
    if not result["matched"]:
        out.print(f"[yellow]no match[/]: {result['reason']}")
        return
    out.print(f"[green]matched[/] recipe [bold]{result['recipe']}[/] on {result['event']['type']}")
    for step in result["steps"]:
        state = "[dim]skipped (if is false)[/]" if step["skipped"] else ""
        out.print(f"\n[bold]{step['id']}[/] → {step['use']} on {step['connection']} {state}")
        out.print(f"  idempotency key {step['idempotency_key']}")
        if step.get("error"):
            out.print(f"  [red]{step['error']}[/]")
        elif not step["skipped"]:
            out.print_json(json.dumps(step["inputs"], default=str))


# --------------------------------------------------------------------------- events


async def _with_store(config: HubConfig, fn: Callable[[Any], Awaitable[T]]) -> T:
    from hub.store.sql import SqlStore

    store = SqlStore(config.store_url())
    await store.open()
    try:
        return await fn(store)
    finally:
        await store.close()


@main.group()
def events() -> None:
    """Search stored events."""


@events.command("list")
@click.option("--type", "type_")
@click.option("--connection")
@click.option("--subject")
@click.option("--since", help="ISO time or 15m/2h/7d ago.")
@click.option("--until")
@click.option("--limit", default=50, show_default=True)
@click.option("--before", help="Page cursor printed by the previous page.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def events_list(
    ctx: click.Context,
    type_: str | None,
    connection: str | None,
    subject: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    before: str | None,
    as_json: bool,
) -> None:
    """Newest first."""
    from hub.store import EventFilter

    flt = EventFilter(type_, connection, subject, _when(since), _when(until), limit, before)
    rows, cursor = _run(_with_store(_config(ctx), lambda s: s.list_events(flt)))
    if as_json:
        _emit_json({"events": [e.to_dict(include_raw=False) for e in rows], "next": cursor})
        return
    table = Table("id", "type", "connection", "subject", "time")
    for e in rows:
        table.add_row(e.id, e.type, e.connection, e.subject, e.time.isoformat(timespec="seconds"))
    out.print(table)
    if cursor:
        out.print(f"[dim]more: --before {cursor}[/]")


@events.command("show")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def events_show(ctx: click.Context, event_id: str, as_json: bool) -> None:
    """One event: normalized data and the vendor's raw payload."""
    event = _run(_with_store(_config(ctx), lambda s: s.get_event(event_id)))
    if event is None:
        _fail(f"no event {event_id}", 1)
    assert event is not None
    if as_json:
        _emit_json(event.to_dict())
        return
    out.print(f"[bold]{event.type}[/] {event.id} on {event.connection} at {event.time.isoformat()}")
    out.print("[bold]data[/]")
    out.print_json(json.dumps(event.data, default=str))
    out.print("[bold]raw[/]")
    out.print_json(json.dumps(event.raw, default=str))


# --------------------------------------------------------------------------- deliveries


@main.group()
def deliveries() -> None:
    """The delivery log: every step of every run, its attempts, and replay."""


@deliveries.command("list")
@click.option(
    "--status", type=click.Choice(["pending", "succeeded", "skipped", "dead", "cancelled"])
)
@click.option("--connection")
@click.option("--recipe")
@click.option("--since", help="ISO time or 15m/2h/7d ago.")
@click.option("--until")
@click.option("--limit", default=50, show_default=True)
@click.option("--before", help="Page cursor printed by the previous page.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deliveries_list(
    ctx: click.Context,
    status: str | None,
    connection: str | None,
    recipe: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    before: str | None,
    as_json: bool,
) -> None:
    """Newest first; filter by status, sink connection, recipe and time."""
    from hub.store import DeliveryFilter, StepStatus

    flt = DeliveryFilter(
        cast(StepStatus | None, status),
        connection,
        recipe,
        None,
        _when(since),
        _when(until),
        limit,
        before,
    )
    rows, cursor = _run(_with_store(_config(ctx), lambda s: s.list_deliveries(flt)))
    if as_json:
        _emit_json({"deliveries": [_delivery_doc(st, run) for st, run in rows], "next": cursor})
        return
    table = Table(
        "id", "status", "recipe", "step", "action", "connection", "tries", "updated", "last error"
    )
    colors = {"succeeded": "green", "dead": "red", "pending": "yellow", "skipped": "dim"}
    for st, run in rows:
        c = colors.get(st.status, "white")
        table.add_row(
            st.id,
            f"[{c}]{st.status}[/]",
            run.recipe,
            st.step_id,
            st.action,
            st.connection,
            str(st.attempts),
            st.updated_at.isoformat(timespec="seconds"),
            (st.last_error or "")[:80],
        )
    out.print(table)
    if cursor:
        out.print(f"[dim]more: --before {cursor}[/]")


def _delivery_doc(step: Any, run: Any) -> dict[str, Any]:
    doc = asdict(step)
    doc["recipe"] = run.recipe
    doc["event_id"] = run.event_id
    doc["event_type"] = run.event_type
    doc["run_status"] = run.status
    return doc


@deliveries.command("show")
@click.argument("delivery_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deliveries_show(ctx: click.Context, delivery_id: str, as_json: bool) -> None:
    """One delivery with its attempt timeline (redacted requests and responses, reasons)."""
    found = _run(_with_store(_config(ctx), lambda s: s.get_delivery(delivery_id)))
    if found is None:
        _fail(f"no delivery {delivery_id}", 1)
    assert found is not None
    step, run, attempts = found
    if as_json:
        doc = _delivery_doc(step, run)
        doc["attempts"] = [asdict(a) for a in attempts]
        _emit_json(doc)
        return
    out.print(
        f"[bold]{step.id}[/] {step.status}  recipe {run.recipe}  step {step.step_id} "
        f"({step.action} on {step.connection})  event {run.event_id}"
    )
    out.print(f"idempotency key {step.idempotency_key}")
    if step.last_error:
        out.print(f"[red]last error:[/] {step.last_error}", highlight=False)
    for a in attempts:
        color = {"ok": "green", "skipped": "dim", "transient": "yellow", "permanent": "red"}[
            a.outcome
        ]
        out.print(
            f"\n[{color}]attempt {a.number}: {a.outcome}[/] at {a.started_at.isoformat()} "
            f"({a.duration_ms:.0f} ms) status {a.status_code}"
        )
        if a.error:
            out.print(f"  reason: {a.error}", highlight=False)
        if a.request:
            out.print("  [dim]request[/]\n" + _indent(a.request), highlight=False)
        if a.response:
            out.print("  [dim]response[/]\n" + _indent(a.response), highlight=False)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


# --------------------------------------------------------------------------- connectors


@main.group()
def connectors() -> None:
    """Installed connector plugins."""


@connectors.command("list")
@click.option("--json", "as_json", is_flag=True)
def connectors_list(as_json: bool) -> None:
    """Every installed connector (and every broken plugin, with why)."""
    from hub.registry import Registry

    registry = Registry.from_entry_points()
    docs: list[dict[str, Any]] = [
        {
            "name": c.name,
            "title": c.title,
            "status": "ok",
            "webhook": c.webhook.name if c.webhook else None,
            "pollers": [p.name for p in c.pollers],
            "emits": list(c.emits),
            "actions": [a.name for a in c.actions],
            "sandbox": c.sandbox is not None,
        }
        for c in registry.connectors()
    ] + [
        {"name": b.name, "title": b.target, "status": "broken", "error": b.error}
        for b in registry.broken()
    ]
    if as_json:
        _emit_json({"connectors": docs})
        return
    table = Table("name", "status", "emits", "actions", "sandbox")
    for d in docs:
        if d["status"] == "broken":
            table.add_row(d["name"], "[red]broken[/]", d["error"], "", "")
        else:
            table.add_row(
                d["name"],
                "[green]ok[/]",
                ", ".join(d["emits"]),
                ", ".join(d["actions"]),
                "yes" if d["sandbox"] else "",
            )
    out.print(table)


@connectors.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def connectors_show(name: str, as_json: bool) -> None:
    """A connector's config schema, events and actions (with their input schemas)."""
    from hub.registry import Registry

    c = Registry.from_entry_points().connector(name)
    doc: dict[str, Any] = {
        "name": c.name,
        "title": c.title,
        "docs": c.docs,
        "config_schema": c.config.model_json_schema(),
        "emits": list(c.emits),
        "actions": {a.name: a.input_model.model_json_schema() for a in c.actions},
    }
    if as_json:
        _emit_json(doc)
        return
    out.print(f"[bold]{c.title}[/] ({c.name})\n{c.docs.strip()}\n")
    out.print("[bold]config[/]")
    out.print_json(json.dumps(doc["config_schema"]))
    out.print(f"[bold]emits[/] {', '.join(c.emits) or '-'}")
    for action, schema in doc["actions"].items():
        out.print(f"[bold]action {action}[/]")
        out.print_json(json.dumps(schema))


@main.group("connector")
def connector_group() -> None:
    """Write a connector of your own."""


@connector_group.command("new")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    required=True,
    help="webhook: the vendor pushes events; polling: the hub fetches them; action: a sink.",
)
@click.option(
    "--dir",
    "dest",
    type=click.Path(path_type=Path),
    help="Project directory to create (default: ./hub-NAME).",
)
@click.option("--force", is_flag=True, help="Overwrite the generated files in an existing --dir.")
def connector_new(name: str, kind: str, dest: Path | None, force: bool) -> None:
    """Create the connector package NAME, whose contract tests pass as generated."""
    from hub.scaffold import default_dest, scaffold

    files = scaffold(name, kind, dest, force=force)
    root = dest or default_dest(name)
    click.echo(f"created {len(files)} files in {root}")
    click.echo(f"next: cd {root} && pip install -e '.[dev]' && pytest")


# --------------------------------------------------------------------------- connections


@main.group()
def connections() -> None:
    """Configured connections."""


@connections.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def connections_list(ctx: click.Context, as_json: bool) -> None:
    """Connections from hub.yaml and those saved from the dashboard or the API, with the state
    the store keeps (re-auth needed, not connected yet, API use, polls)."""
    from hub.oauth import not_connected
    from hub.ops.settings import ORIGIN_DASHBOARD
    from hub.registry import Registry

    config = _config(ctx)

    async def go(store: Any) -> dict[str, Any]:
        return {row.name: row for row in await store.list_connections()}

    stored = _run(_with_store(config, go))
    # name -> (connector, enabled, config); a saved connection wins over hub.yaml's entry.
    # Stored configs are sealed, which is enough to tell whether a refresh token is set.
    entries: dict[str, tuple[str, bool, dict[str, Any]]] = {
        name: (spec.connector, spec.enabled, spec.config)
        for name, spec in config.connections.items()
    }
    for name, row in sorted(stored.items()):
        if row.state.get("origin") == ORIGIN_DASHBOARD:
            entries[name] = (row.connector, row.enabled, row.config)
    registry = Registry.from_entry_points()
    docs: list[dict[str, Any]] = []
    for name, (connector, enabled, values) in entries.items():
        row = stored.get(name)
        state = row.state if row else {}
        try:
            unconnected = not_connected(registry.connector(connector).oauth, values)
        except ConfigError:  # not installed: nothing to say about its authorization
            unconnected = None
        docs.append(
            {
                "name": name,
                "connector": connector,
                "enabled": enabled,
                "origin": "dashboard" if state.get("origin") == ORIGIN_DASHBOARD else "file",
                "needs_reauth": bool(unconnected or state.get("needs_reauth")),
                "reauth_reason": unconnected or state.get("reauth_reason"),
                "api_budget": state.get("api_budget"),
                "api_budget_alert": bool(state.get("api_budget_alert")),
                "polls": {k[5:]: v for k, v in state.items() if k.startswith("poll:")},
            }
        )
    if as_json:
        _emit_json({"connections": docs})
        return
    table = Table("name", "connector", "enabled", "API use today", "needs re-auth")
    for d in docs:
        table.add_row(
            d["name"],
            d["connector"],
            "yes" if d["enabled"] else "no",
            _budget_text(d["api_budget"], d["api_budget_alert"]),
            f"[red]yes[/]: {d['reauth_reason']}" if d["needs_reauth"] else "",
        )
    out.print(table)


def _budget_text(budget: dict[str, Any] | None, alert: bool) -> str:
    if not budget:
        return ""
    limit = budget.get("day_limit")
    text = f"{budget.get('day_used', 0)}/{limit}" if limit else f"{budget.get('day_used', 0)} calls"
    if budget.get("day_fraction") is not None:
        text += f" ({100 * budget['day_fraction']:.0f}%)"
    return f"[red]{text}[/]" if alert else text


@connections.command("backfill")
@click.argument("connection")
@click.option(
    "--since", required=True, help="Start of the history to fetch: ISO date/time or 7d/12h ago."
)
@click.option("--source", help="Which polling source (default: the one that can backfill).")
@click.option(
    "--resume", is_flag=True, help="Continue an interrupted backfill from its saved cursor."
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def connections_backfill(
    ctx: click.Context, connection: str, since: str, source: str | None, resume: bool, as_json: bool
) -> None:
    """Fetch CONNECTION's history from --since; duplicates of what arrived by webhook are dropped.

    Runs the recipes on what is new: a running `hub serve` delivers them.
    """
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from hub.app import load_hub
    from hub.backfill import BackfillReport, backfill

    config = _config(ctx)
    hub = load_hub(config)
    start = _when(since)
    progress = Progress(
        TextColumn(f"backfill {connection}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[stored]} new, {task.fields[dupes]} already known"),
        TimeElapsedColumn(),
        console=err,
        disable=as_json,
    )

    async def go() -> BackfillReport:
        await hub.start(run_engine=False, run_pollers=False)
        try:
            with progress:
                task = progress.add_task("backfill", total=None, stored=0, dupes=0)

                def on_page(report: BackfillReport) -> None:
                    done, total = report.progress or (None, None)
                    progress.update(
                        task,
                        completed=done,
                        total=total,
                        stored=report.stored,
                        dupes=report.duplicates,
                    )

                return await backfill(hub, connection, start, source, resume, on_page)
        finally:
            await hub.stop()

    report = _run(go())
    doc = {
        "connection": report.connection,
        "source": report.source,
        "pages": report.pages,
        "stored": report.stored,
        "duplicates": report.duplicates,
    }
    if as_json:
        _emit_json(doc)
    else:
        out.print(
            f"backfilled {connection} ({report.source}): {report.pages} page(s), "
            f"{report.stored} new event(s), {report.duplicates} already received"
        )


# --------------------------------------------------------------------------- prune


@main.command()
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def prune(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Delete old finished events and attempts now, per hub.yaml's retention section.

    Pending work is never touched; see docs/deployment.md for the rules.
    A running hub does this by itself every retention.interval seconds.
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from hub.retention import Pruner, PruneReport

    config = _config(ctx)
    verb = "would delete" if dry_run else "deleted"
    progress = Progress(
        SpinnerColumn(),
        TextColumn("prune {task.fields[stage]}: {task.fields[text]}"),
        TimeElapsedColumn(),
        console=err,
        disable=as_json,
    )

    def counts_text(report: PruneReport) -> str:
        c = report.counts
        return f"{verb} {c.events} events, {c.runs} runs, {c.steps} steps, {c.attempts} attempts"

    async def go(store: Any) -> PruneReport:
        with progress:
            task = progress.add_task("prune", total=None, stage="", text="starting")

            def on_batch(report: PruneReport) -> None:
                progress.update(
                    task,
                    stage=report.stage or "",
                    text=f"{counts_text(report)} ({report.examined} rows examined)",
                )

            return await Pruner(store, config.retention).run_once(dry_run, on_batch)

    report = _run(_with_store(config, go))
    if as_json:
        _emit_json(report.as_dict())
        return
    kept = [
        f"events received before {report.events_before:%Y-%m-%d %H:%M} UTC"
        if report.events_before
        else "events: kept forever",
        f"attempts started before {report.attempts_before:%Y-%m-%d %H:%M} UTC"
        if report.attempts_before
        else "attempts: kept forever",
    ]
    out.print(f"{counts_text(report)} in {report.seconds:.1f} s ({'; '.join(kept)})")


# --------------------------------------------------------------------------- alerts


@main.group()
def alerts() -> None:
    """Alert channels (email, webhook): see docs/alerts.md."""


@alerts.command("test")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def alerts_test(ctx: click.Context, as_json: bool) -> None:
    """Send a test message through each configured channel and say which worked.

    Exit status 1 when any channel failed, 2 when none is configured.
    """
    from hub.alerts.channels import build_channels
    from hub.alerts.service import Alerter
    from hub.metrics import Metrics
    from hub.store.sql import SqlStore

    config = _config(ctx)
    channels = build_channels(config.alerts)
    if not channels:
        _fail("no alert channel is configured: add alerts.smtp or alerts.webhook to hub.yaml")
    # The test bypasses the storm gate, so the store is never opened.
    alerter = Alerter(
        config.alerts, SqlStore(config.store_url()), channels, Metrics(), config.dashboard_url()
    )
    results = _run(alerter.send_test())
    docs = [
        {"channel": name, "ok": error is None, "error": error} for name, error in results.items()
    ]
    if as_json:
        _emit_json({"channels": docs})
    else:
        for d in docs:
            if d["ok"]:
                out.print(f"[green]ok[/]      {d['channel']}", highlight=False)
            else:
                out.print(f"[red]failed[/]  {d['channel']}: {d['error']}", highlight=False)
    if any(not d["ok"] for d in docs):
        sys.exit(1)


# --------------------------------------------------------------------------- misc


@main.command()
def keygen() -> None:
    """Print a new master key for HUB_SECRET_KEY."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())


@main.command()
@click.option(
    "--out-dir", default="hub/schemas", show_default=True, type=click.Path(path_type=Path)
)
def schemas(out_dir: Path) -> None:
    """Regenerate the JSON Schemas derived from code (event envelope, recipe, hub.yaml)."""
    from hub.config import write_config_schema
    from hub.recipes import write_schema

    write_config_schema(out_dir / "config.json")
    write_schema(out_dir / "recipe.json")
    out.print(f"wrote {out_dir}/config.json and {out_dir}/recipe.json")


# Ops and admin commands (tokens, users, switches, replay, jobs, audit) live in their own module.
from hub.cli_ops import register as _register_ops  # noqa: E402 - needs the groups above

_register_ops(main)

if __name__ == "__main__":  # pragma: no cover
    main()
