"""Live connections: each configured connector instance with its sources, actions and session.

Built once from ``hub.yaml`` (``ConnectionSet.build``), checked as a whole so
every misconfigured connection is reported at once, and opened and closed with
the app. One ``HttpClient`` per connection keeps connection pooling and the
vendor's base URL in one place.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from hub.config import ConnectionSpec
from hub.connector import (
    Action,
    Connector,
    ConnectorConfig,
    ConnectorSession,
    PollingSource,
    WebhookSource,
)
from hub.errors import ConfigError
from hub.http import HttpClient
from hub.registry import Registry, did_you_mean
from hub.shared import SharedState

__all__ = ["ConnectionSet", "LiveConnection"]


@dataclass
class LiveConnection:
    """One connection, ready to receive webhooks, poll and run actions."""

    name: str
    connector: Connector
    config: ConnectorConfig
    enabled: bool
    http: HttpClient
    session: ConnectorSession | None = None
    webhook: WebhookSource[Any] | None = None
    pollers: list[PollingSource[Any, Any]] = field(default_factory=list)
    actions: dict[str, Action[Any, Any]] = field(default_factory=dict)


class ConnectionSet:
    """All live connections of one hub process."""

    def __init__(self, connections: Mapping[str, LiveConnection]) -> None:
        self._by_name = dict(connections)
        # Where sessions keep budgets and tokens (set by ``open``; None: each session's own).
        self.shared: SharedState | None = None

    @classmethod
    def build(cls, specs: Mapping[str, ConnectionSpec], registry: Registry) -> ConnectionSet:
        """Validate every spec against its connector and instantiate it.

        Raises:
            ConfigError: every problem of every connection, one per line.
        """
        problems: list[str] = []
        live: dict[str, LiveConnection] = {}
        for name, spec in specs.items():
            found = cls.build_one(name, spec, registry, problems)
            if found is not None:
                live[name] = found
        if problems:
            raise ConfigError("invalid connections:\n" + "\n".join(f"  {p}" for p in problems))
        return cls(live)

    @staticmethod
    def build_one(
        name: str, spec: ConnectionSpec, registry: Registry, problems: list[str]
    ) -> LiveConnection | None:
        """One connection (not yet opened), or None with its problems appended to ``problems``."""
        try:
            connector = registry.connector(spec.connector)
        except ConfigError as exc:
            problems.append(f"connections.{name}.connector: {exc}")
            return None
        try:
            config = connector.config.model_validate(spec.config)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                problems.append(f"connections.{name}.config.{where}: {err['msg']}")
            return None
        base = connector.base_url(config) if connector.base_url else None
        timeout = float(getattr(config, "timeout", 30.0))
        http = HttpClient(base_url=base, timeout=timeout)
        return LiveConnection(
            name=name,
            connector=connector,
            config=config,
            enabled=spec.enabled,
            http=http,
            session=connector.session(config, name, http) if connector.session else None,
            webhook=connector.webhook(config, name) if connector.webhook else None,
            pollers=[p(config, name) for p in connector.pollers],
            actions={a.name: a(config, name) for a in connector.actions},
        )

    async def replace(self, conn: LiveConnection) -> LiveConnection | None:
        """Put ``conn`` in service live (adding it, or swapping out the one of that name).

        The new connection is opened before the swap, so no request ever sees
        a closed client. The old connection is returned still open: steps in
        flight may be using it, so the caller closes it once they are done.
        """
        await conn.http.open()
        if conn.session is not None:
            if self.shared is not None:
                conn.session.share(self.shared)
            try:
                await conn.session.open()
            except BaseException:
                await conn.http.close()
                raise
        old = self._by_name.get(conn.name)
        self._by_name[conn.name] = conn
        return None if old is conn else old

    async def open(self, shared: SharedState | None = None) -> None:
        """Open every connection; with ``shared``, sessions keep budgets and tokens there."""
        self.shared = shared
        for conn in self._by_name.values():
            await conn.http.open()
            if conn.session is not None:
                if shared is not None:
                    conn.session.share(shared)
                await conn.session.open()

    async def close(self) -> None:
        for conn in self._by_name.values():
            if conn.session is not None:
                await conn.session.close()
            await conn.http.close()

    def __iter__(self) -> Iterator[LiveConnection]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> LiveConnection | None:
        return self._by_name.get(name)

    def require(self, name: str) -> LiveConnection:
        """The connection called ``name``; ConfigError with a suggestion otherwise."""
        conn = self._by_name.get(name)
        if conn is None:
            raise ConfigError(f"unknown connection '{name}'{did_you_mean(name, self._by_name)}")
        return conn

    def connector_names(self) -> dict[str, str]:
        """Connection name → connector slug (for recipe validation)."""
        return {name: conn.connector.name for name, conn in self._by_name.items()}
