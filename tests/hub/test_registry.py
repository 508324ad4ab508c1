from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from hub.errors import ConfigError
from hub.registry import Registry


def test_builtins_register_through_entry_points() -> None:
    names = {ep.name for ep in importlib.metadata.entry_points(group="hub.connectors")}
    assert {"razorpay", "zoho_books"} <= names
    registry = Registry.from_entry_points()
    assert {c.name for c in registry.connectors()} >= {"razorpay", "zoho_books"}
    assert registry.broken() == []
    assert "payment.captured" in registry.event_types()
    assert "zoho_books.record_payment" in registry.action_names()


def test_typo_suggests_the_right_name() -> None:
    registry = Registry.from_entry_points()
    with pytest.raises(ConfigError, match="did you mean 'zoho_books'"):
        registry.connector("zoho_book")
    with pytest.raises(ConfigError, match=r"did you mean 'zoho_books\.record_payment'"):
        registry.action("zoho_books.record_paymnt")


def test_broken_plugin_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.entry_points

    def fake(**kw: Any) -> Any:
        eps = list(real(**kw))
        eps.append(
            importlib.metadata.EntryPoint("ghost", "connectors.does_not_exist", "hub.connectors")
        )
        return eps

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    registry = Registry.from_entry_points()
    assert "razorpay" in {c.name for c in registry.connectors()}
    [broken] = registry.broken()
    assert broken.name == "ghost" and "ModuleNotFoundError" in broken.error
    with pytest.raises(ConfigError, match="failed to load"):
        registry.connector("ghost")
