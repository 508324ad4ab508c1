"""Event -> the recipe runs it starts (pure: no I/O, no clock of its own).

The router runs inside ingress, before the provider gets its 2xx, so it must
never raise because of a recipe: a ``where`` that fails on an event (a
missing field, a bad value) means "no match" and is logged with the event id.

Idempotency keys are derived here, so that a redelivered event, a retried step
and a replayed run all present the same key to the vendor.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hub.errors import ConfigError
from hub.events import Event
from hub.recipes import Recipe
from hub.store import PlannedRun
from hub.templates import Condition, compile_condition

__all__ = ["matches", "plan_step", "route", "step_idempotency_key"]

log = logging.getLogger("hub.router")

_WHERE_KEY = "router.where"


def step_idempotency_key(recipe_name: str, event_key: str, step_id: str) -> str:
    """The key a step sends to its vendor: the same for every try, redelivery and replay.

    It is the first 40 hex digits (160 bits) of
    ``sha256(recipe_name + "\\x00" + event_key + "\\x00" + step_id)``. Pass the
    event's ``id`` as ``event_key``: it is itself derived from (connection,
    vendor idempotency key), so the same delivery on the same connection gives
    the same key, and the NUL separators keep ``("a", "b:c")`` and ``("a:b", "c")``
    apart. 40 characters fit every vendor field we use (Zoho's
    ``reference_number`` allows 100).
    """
    raw = f"{recipe_name}\x00{event_key}\x00{step_id}".encode()
    return hashlib.sha256(raw).hexdigest()[:40]


def _recipe_name(recipe: Recipe) -> str:
    if not recipe.name:
        raise ConfigError("the recipe has no name; load it with hub.recipes.load_recipe")
    return recipe.name


def _where(recipe: Recipe) -> Condition | None:
    """The recipe's compiled ``trigger.where``, compiled once per recipe object."""
    if recipe.trigger.where is None:
        return None
    cached: Any = recipe.cache.get(_WHERE_KEY)
    if cached is None:
        cached = compile_condition(recipe.trigger.where, where="trigger.where")
        recipe.cache[_WHERE_KEY] = cached
    condition: Condition = cached
    return condition


def matches(recipe: Recipe, event: Event, event_doc: Mapping[str, Any] | None = None) -> bool:
    """True when ``recipe`` is enabled and its trigger accepts ``event``.

    Args:
        recipe: a loaded recipe.
        event: the bound event.
        event_doc: ``event.to_dict()`` if the caller has it already.

    A ``where`` that fails (missing field, bad value, even a compile error in a
    recipe that skipped validation) counts as no match and is logged.
    """
    trigger = recipe.trigger
    if not recipe.enabled or not fnmatch.fnmatchcase(event.type, trigger.event):
        return False
    if trigger.connection is not None and trigger.connection != event.connection:
        return False
    if trigger.where is None:
        return True
    context = {
        "event": event_doc if event_doc is not None else event.to_dict(),
        "steps": {},
        "recipe": {"name": recipe.name},
    }
    try:
        condition = _where(recipe)
        return condition is None or condition(context)
    except Exception as exc:  # noqa: BLE001 - a recipe must never break ingress
        log.warning(
            "recipe %s: trigger.where failed for event %s, not run: %s", recipe.name, event.id, exc
        )
        return False


def plan_step(recipe: Recipe, index: int, event: Event, now: datetime) -> PlannedRun:
    """The planned run of step ``index`` of ``recipe`` for ``event``, due ``now``.

    Raises:
        IndexError: the recipe has no step ``index``.
        ConfigError: the recipe has no name (it was not loaded from a file).
    """
    if not 0 <= index < len(recipe.steps):
        raise IndexError(f"recipe {recipe.name} has no step {index}")
    name = _recipe_name(recipe)
    step = recipe.steps[index]
    return PlannedRun(
        recipe=name,
        step_id=step.id,
        step_index=index,
        action=step.use,
        connection=step.connection,
        idempotency_key=step_idempotency_key(name, event.id, step.id),
        due_at=now,
    )


def route(event: Event, recipes: Sequence[Recipe], now: datetime) -> list[PlannedRun]:
    """One planned first step for each enabled recipe that matches ``event``, in recipe order."""
    doc = event.to_dict()
    return [plan_step(recipe, 0, event, now) for recipe in recipes if matches(recipe, event, doc)]
