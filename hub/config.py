"""``hub.yaml``: connections, recipe paths, store URL, engine, listen address.

Every setting has a default, so ``hub serve`` runs with no file at all
(SQLite ``hub.db`` in the working folder, the inline engine, 127.0.0.1:8080).
Secrets are written as ``${env:NAME}`` and resolved from the environment when
the file is loaded; they never need to sit in the file. ``hub/schemas/config.json``
is generated from ``HubConfig`` for editors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.alerts.settings import AlertsConfig
from hub.errors import ConfigError
from hub.secrets import resolve_env

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "CeleryConfig",
    "ConcurrencyConfig",
    "ConnectionSpec",
    "DashboardConfig",
    "DashboardUser",
    "HubConfig",
    "RetentionConfig",
    "config_json_schema",
    "load_config",
]

DEFAULT_CONFIG_FILE = "hub.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConnectionSpec(_Strict):
    """One configured instance of a connector (``connections.<name>`` in hub.yaml)."""

    connector: str = Field(description="Connector slug, e.g. razorpay or zoho_books.")
    enabled: bool = Field(
        True, description="Disabled connections accept no webhooks and run no steps."
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings checked against the connector's config model; use ${env:NAME} for secrets.",
    )
    max_concurrency: int | None = Field(
        None,
        ge=1,
        le=1_000,
        description=(
            "Steps running at once against this connection (default: concurrency.per_connection). "
            "Set it to the vendor's cap, e.g. a Zoho CRM edition's concurrent-call limit."
        ),
    )
    poll_interval: float | None = Field(
        None,
        gt=0,
        description="Seconds between polls of this connection's polling sources (default: the source's own).",
    )


class ConcurrencyConfig(_Strict):
    """Bounds on deliveries in flight, so one slow sink cannot starve the rest."""

    global_limit: int = Field(
        64, ge=1, le=10_000, description="Steps running at once in this process."
    )
    per_connection: int = Field(
        8, ge=1, le=1_000, description="Steps running at once per sink connection."
    )


class CeleryConfig(_Strict):
    """The celery engine (``engine: celery``): broker, queue, and how steps are leased.

    The store stays the source of truth: a step is leased in the store while a
    worker runs it, and the sweeper (``hub scheduler``) re-publishes any due step
    whose message or worker was lost, so the broker may be flushed or restarted.
    """

    broker_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Celery broker URL, e.g. redis://127.0.0.1:6379/0 or amqp://guest@127.0.0.1//.",
    )
    queue: str = Field(
        "hub.steps", min_length=1, description="Broker queue that step messages use."
    )
    worker_concurrency: int = Field(
        100, ge=1, le=10_000, description="Steps in flight at once per `hub worker` process."
    )
    lease_seconds: float = Field(
        30.0,
        gt=0,
        description=(
            "Lease a worker holds on a running step, renewed every third of it; a killed "
            "worker's steps run again this long after its last renewal."
        ),
    )
    sweep_interval: float = Field(
        5.0,
        gt=0,
        description="Seconds between sweeps that re-publish due steps whose message or worker was lost.",
    )
    requeue_seconds: float = Field(
        60.0,
        gt=0,
        description=(
            "A step published but not started by any worker within this long is published "
            "again (its message may have gone with a flushed or restarted broker)."
        ),
    )


class DashboardUser(_Strict):
    """One dashboard login (``dashboard.users.<name>``)."""

    password_hash: str = Field(
        description="Made by `hub users hash-password` (scrypt with a random salt); never the password."
    )
    role: Literal["viewer", "ops", "admin"] = Field(
        "viewer", description="viewer reads; ops also replays and pauses; admin also configures."
    )


class DashboardConfig(_Strict):
    """Who may log in to the dashboard with a password (API tokens work there too)."""

    users: dict[str, DashboardUser] = Field(
        default_factory=dict,
        description="Logins by user name. The env var HUB_ADMIN_PASSWORD adds a bootstrap `admin`.",
    )


class RetentionConfig(_Strict):
    """How long finished work is kept; a background task prunes what is older.

    An event goes with its runs, steps and attempts once every run of it is
    finished and untouched for ``events_days``; attempts of finished steps go
    after ``attempts_days`` (the step keeps its status, try count and last
    error). Pending work is never pruned. See docs/deployment.md.
    """

    enabled: bool = Field(True, description="Run the pruner wherever pollers run.")
    events_days: float | None = Field(
        30.0,
        ge=1,
        description=(
            "Keep finished events (with their runs, steps and attempts) this many days; "
            "null keeps them forever. Keep it longer than any provider retries a webhook."
        ),
    )
    attempts_days: float | None = Field(
        30.0,
        ge=1,
        description="Keep the attempts of finished steps this many days; null keeps them forever.",
    )
    interval: float = Field(300.0, ge=1, description="Seconds between prune passes.")
    batch_size: int = Field(
        1000,
        ge=1,
        le=10_000,
        description="Rows looked at per delete transaction; smaller batches hold the writer less.",
    )


class HubConfig(_Strict):
    """The whole hub.yaml. Relative paths are relative to the file's folder."""

    listen: str = Field("127.0.0.1:8080", description="host:port that `hub serve` listens on.")
    store: str = Field(
        "sqlite:///hub.db",
        description="SQLAlchemy URL of the store: sqlite:///hub.db or postgresql+psycopg://user@host/db.",
    )
    engine: Literal["inline", "celery"] = Field(
        "inline",
        description="inline: steps run inside `hub serve`; celery: in `hub worker` processes.",
    )
    celery: CeleryConfig = Field(default_factory=CeleryConfig)
    redis_url: str | None = Field(
        None,
        description=(
            "Redis for shared rate limits and OAuth tokens, e.g. redis://127.0.0.1:6379/1; "
            "default: the Celery broker when engine is celery, otherwise in-process state."
        ),
    )
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    data_dir: str = Field(
        ".hub", description="Folder for the master key file and other local state."
    )
    recipes: list[str] = Field(
        default_factory=lambda: ["recipes"], description="Recipe files or folders."
    )
    body_limit: int = Field(
        1024 * 1024, ge=1024, description="Largest webhook body accepted, in bytes (413 above)."
    )
    lease_seconds: float = Field(
        60.0, gt=0, description="How long a claimed step stays reserved for its worker."
    )
    step_timeout: float = Field(
        120.0, gt=0, description="Longest one attempt of one step may take, in seconds."
    )
    concurrency: ConcurrencyConfig = Field(default_factory=ConcurrencyConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="Alerts by email and webhook; see docs/alerts.md."
    )
    public_url: str | None = Field(
        None,
        description="Address people reach the dashboard at, for links in alerts "
        "(default: http://{listen}) and the OAuth redirect URI {public_url}/oauth/callback "
        "(default: the address the browser used).",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text for people, json for log collectors (one object per line)."
    )
    connections: dict[str, ConnectionSpec] = Field(default_factory=dict)
    base_dir: str = Field(
        ".", description="Set by the loader: the folder paths are relative to.", exclude=True
    )

    def path(self, value: str) -> Path:
        """``value`` resolved against the config file's folder."""
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def recipe_paths(self) -> list[Path]:
        """Recipe files and folders that exist (a missing default folder is not an error)."""
        return [p for p in (self.path(r) for r in self.recipes) if p.exists()]

    def store_url(self) -> str:
        """The store URL with a relative SQLite path anchored at the config folder."""
        prefix = "sqlite:///"
        if self.store.startswith(prefix) and not self.store.startswith(prefix + "/"):
            rel = self.store[len(prefix) :]
            if rel and rel != ":memory:":
                return prefix + str(self.path(rel).resolve())
        return self.store

    def dashboard_url(self) -> str:
        """``public_url``, or the listen address as a URL."""
        return (self.public_url or f"http://{self.listen}").rstrip("/")

    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host or "127.0.0.1", int(port)


def load_config(path: Path | None = None, env: dict[str, str] | None = None) -> HubConfig:
    """Load ``path`` (or ./hub.yaml if present, else the defaults).

    Raises:
        ConfigError: listing every problem with file:line and the key's path.
    """
    from hub.yamlsrc import Problem, load_yaml

    if path is None:
        candidate = Path(DEFAULT_CONFIG_FILE)
        if not candidate.exists():
            return HubConfig()
        path = candidate
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    data, lines = load_yaml(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the config must be a mapping of settings")
    problems: list[Problem] = []
    try:
        data = resolve_env(data, env)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        config = HubConfig.model_validate({**data, "base_dir": str(path.parent)})
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            problems.append(Problem(str(path), lines.line(loc), _dotted(loc), err["msg"]))
        raise ConfigError("\n".join(str(p) for p in problems)) from exc
    return config


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of hub.yaml (written to ``hub/schemas/config.json``)."""
    schema = HubConfig.model_json_schema()
    schema["$id"] = "https://hub.dev/schemas/config.json"
    schema.setdefault("properties", {}).pop("base_dir", None)
    return schema


def write_config_schema(path: Path) -> None:
    path.write_text(json.dumps(config_json_schema(), indent=2) + "\n", encoding="utf-8")
