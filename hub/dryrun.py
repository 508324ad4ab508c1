"""``hub recipes test``: match a recipe against an event and render every step, calling nothing.

Outputs of earlier steps are not known in a dry run, so references to them
render as placeholders (``<contact.contact_id>``) and the rest is real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hub.errors import ConfigError
from hub.events import Event
from hub.recipes import Recipe, load_recipe
from hub.router import route, step_idempotency_key
from hub.runner import render_step, step_context

__all__ = ["dry_run", "dry_run_event"]


class _Placeholder(dict[str, Any]):
    """Stands in for a step output: any key renders as ``<step.key>``."""

    def __init__(self, step_id: str) -> None:
        super().__init__()
        self.step_id = step_id

    def __missing__(self, key: str) -> str:
        return f"<{self.step_id}.{key}>"


def dry_run(recipe_path: Path, event_file: Path) -> dict[str, Any]:
    """What running ``recipe_path`` on the event in ``event_file`` would send, step by step."""
    recipe = load_recipe(recipe_path)
    try:
        doc = json.loads(event_file.read_text(encoding="utf-8"))
        event = Event.from_dict(doc)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"{event_file}: not an event document ({exc})") from exc
    if not event.id:
        event = event.bind(event.connection or "dry-run", event.connector)
    return dry_run_event(recipe, event)


def dry_run_event(recipe: Recipe, event: Event, as_enabled: bool = False) -> dict[str, Any]:
    """What running ``recipe`` on a bound ``event`` would send, step by step (nothing is called).

    With ``as_enabled`` a disabled recipe is rendered as if it were enabled,
    to see what it would do before switching it on.
    """
    if as_enabled and not recipe.enabled:
        recipe = recipe.model_copy(update={"enabled": True})
    planned = route(event, [recipe], event.time)
    summary: dict[str, Any] = {
        "recipe": recipe.name,
        "event": {"id": event.id, "type": event.type, "connection": event.connection},
        "matched": bool(planned),
        "steps": [],
    }
    if not planned:
        summary["reason"] = (
            f"trigger is {recipe.trigger.event}"
            + (f" on {recipe.trigger.connection}" if recipe.trigger.connection else "")
            + (f" where {recipe.trigger.where}" if recipe.trigger.where else "")
            + f"; the event is {event.type} on {event.connection}"
        )
        return summary
    outputs: dict[str, Any] = {}
    for step in recipe.steps:
        entry: dict[str, Any] = {
            "id": step.id,
            "use": step.use,
            "connection": step.connection,
            "idempotency_key": step_idempotency_key(recipe.name or "", event.id, step.id),
            "skipped": False,
            "inputs": None,
        }
        try:
            rendered = render_step(step, step_context(event, outputs, recipe))
            entry["skipped"] = rendered.skipped
            entry["inputs"] = rendered.inputs
        except ConfigError as exc:
            entry["error"] = str(exc)
        outputs[step.id] = _Placeholder(step.id)
        summary["steps"].append(entry)
    return summary
