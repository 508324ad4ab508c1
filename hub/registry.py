"""Connector lookup through the ``hub.connectors`` entry point group, with "did you mean …?".

Built-in connectors register exactly like third-party ones, so a plugin needs
no change to ``hub/``. A plugin that fails to import or does not export a
``Connector`` is recorded as broken (with why) instead of taking the hub down.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from hub.connector import Action, Connector
from hub.errors import ConfigError

__all__ = ["BrokenConnector", "Registry", "did_you_mean"]

GROUP = "hub.connectors"
log = logging.getLogger("hub.registry")


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass(frozen=True, slots=True)
class BrokenConnector:
    """A plugin that could not be loaded, and why (shown by ``hub connectors list``)."""

    name: str
    target: str
    error: str


class Registry:
    """The connectors known to this hub, loaded lazily from entry points."""

    def __init__(self, connectors: Iterable[Connector] | None = None) -> None:
        self._connectors: dict[str, Connector] | None = None
        self._broken: dict[str, BrokenConnector] = {}
        if connectors is not None:
            self._connectors = {c.name: c for c in connectors}

    @classmethod
    def from_entry_points(cls) -> Registry:
        """A registry that loads the installed plugins on first use."""
        return cls()

    def _load(self) -> dict[str, Connector]:
        if self._connectors is not None:
            return self._connectors
        found: dict[str, Connector] = {}
        for ep in importlib.metadata.entry_points(group=GROUP):
            try:
                obj: Any = ep.load()
                connector = obj.connector if isinstance(obj, ModuleType) else obj
                if not isinstance(connector, Connector):
                    raise TypeError(
                        f"{ep.value} does not export a hub.Connector as `connector` "
                        f"(found {type(connector).__name__})"
                    )
                if connector.name != ep.name:
                    raise TypeError(
                        f"entry point '{ep.name}' names connector '{connector.name}'; "
                        "they must match"
                    )
                found[ep.name] = connector
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the hub
                log.warning("connector plugin %s is broken: %s", ep.name, exc)
                self._broken[ep.name] = BrokenConnector(
                    ep.name, ep.value, f"{type(exc).__name__}: {exc}"
                )
        self._connectors = found
        return found

    def add(self, connector: Connector) -> None:
        """Register a connector directly (tests, embedded use)."""
        self._load()[connector.name] = connector

    def connectors(self) -> list[Connector]:
        """Every loaded connector, sorted by name."""
        return [c for _, c in sorted(self._load().items())]

    def broken(self) -> list[BrokenConnector]:
        """Plugins that failed to load."""
        self._load()
        return sorted(self._broken.values(), key=lambda b: b.name)

    def connector(self, name: str) -> Connector:
        """The connector called ``name``.

        Raises:
            ConfigError: unknown or broken, with a suggestion when it looks like a typo.
        """
        known = self._load()
        if name in known:
            return known[name]
        if name in self._broken:
            raise ConfigError(f"connector '{name}' failed to load: {self._broken[name].error}")
        raise ConfigError(f"unknown connector '{name}'{did_you_mean(name, known)}")

    def find_action(self, name: str) -> type[Action[Any, Any]] | None:
        """The action class called ``name`` (``service.verb_object``), or None."""
        for connector in self._load().values():
            for action in connector.actions:
                if action.name == name:
                    return action
        return None

    def action(self, name: str) -> tuple[Connector, type[Action[Any, Any]]]:
        """The connector and action class for ``name``.

        Raises:
            ConfigError: unknown action, with "did you mean".
        """
        for connector in self._load().values():
            for action in connector.actions:
                if action.name == name:
                    return connector, action
        raise ConfigError(f"unknown action '{name}'{did_you_mean(name, self.action_names())}")

    def action_names(self) -> list[str]:
        """Every action name, sorted."""
        return sorted(a.name for c in self._load().values() for a in c.actions)

    def event_types(self) -> set[str]:
        """Every event type some loaded source can emit."""
        return {t for c in self._load().values() for t in c.emits}
