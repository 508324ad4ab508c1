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

    @classmethod
    def build(cls, specs: Mapping[str, ConnectionSpec], registry: Registry) -> ConnectionSet:
        """Validate every spec against its connector and instantiate it.

        Raises:
            ConfigError: every problem of every connection, one per line.
        """
        problems: list[str] = []
        live: dict[str, LiveConnection] = {}
        for name, spec in specs.items():
            try:
                connector = registry.connector(spec.connector)
            except ConfigError as exc:
                problems.append(f"connections.{name}.connector: {exc}")
                continue
            try:
                config = connector.config.model_validate(spec.config)
            except ValidationError as exc:
                for err in exc.errors():
                    where = ".".join(str(p) for p in err["loc"])
                    problems.append(f"connections.{name}.config.{where}: {err['msg']}")
                continue
            base = connector.base_url(config) if connector.base_url else None
            timeout = float(getattr(config, "timeout", 30.0))
            http = HttpClient(base_url=base, timeout=timeout)
            live[name] = LiveConnection(
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
        if problems:
            raise ConfigError("invalid connections:\n" + "\n".join(f"  {p}" for p in problems))
        return cls(live)

    async def open(self) -> None:
        for conn in self._by_name.values():
            await conn.http.open()
            if conn.session is not None:
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
