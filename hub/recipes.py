"""Recipe models, loading and validation: every mistake in every file, reported at once.

A recipe says "when this event arrives, run these steps". Validation runs in
pre-commit and CI (``hub recipes validate recipes/``), so it reports all
problems in one pass, each as ``file:line: path: message``:

1. YAML: safe load, line numbers kept, YAML 1.1 boolean keys and duplicate keys refused.
2. Version: old versions are migrated explicitly (``MIGRATIONS``); unknown ones refused.
3. Structure: the ``Recipe`` model (unknown keys rejected, ``version`` required).
4. Meaning: events exist, actions exist, ``with`` fits the action's input
   model, templates compile, step references point backwards, connections exist
   and belong to the right connector.

Meaning is checked on the raw data, not the validated model, so a structural
mistake in one step does not hide a typo in another.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from hub.connector import Action
from hub.errors import ConfigError
from hub.retry import RetryPolicy
from hub.templates import (
    CONTEXT_NAMES,
    has_template,
    parse_expression,
    parse_template,
    step_references,
    unknown_names,
)
from hub.yamlsrc import LineMap, Problem, YamlError, format_path, parse_yaml
from hub.yamlsrc import Path as DocPath

__all__ = [
    "CURRENT_VERSION",
    "MIGRATIONS",
    "ActionCatalog",
    "Recipe",
    "RecipeError",
    "RetrySpec",
    "Step",
    "Trigger",
    "load_recipe",
    "load_recipes",
    "recipe_json_schema",
    "validate_files",
    "write_schema",
]

CURRENT_VERSION = 1
STEP_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
RECIPE_SUFFIXES = (".yaml", ".yml")

Migration = Callable[[dict[str, Any]], dict[str, Any]]
MIGRATIONS: dict[int, Migration] = {}
"""Version N -> a function turning a version-N document into version N+1.

Each one must set ``version`` to N+1; ``_migrate`` applies them in order and
the result is validated as a current recipe. Only version 1 exists so far.
"""


class RecipeError(YamlError):
    """One or more recipe files are invalid; ``problems`` lists every mistake."""


class ActionCatalog(Protocol):
    """What validation needs to know about installed connectors (``hub.registry.Registry``)."""

    def find_action(self, name: str) -> type[Action[Any, Any]] | None:
        """The action class called ``name``, or None."""

    def action_names(self) -> list[str]:
        """Every known action name."""

    def event_types(self) -> set[str]:
        """Every event type some source can emit."""


# --- models --------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RetrySpec(_Model):
    """How a step retries transient errors (see ``hub.retry.RetryPolicy``)."""

    max_attempts: int = Field(5, ge=1, le=50, description="Total tries, the first included.")
    initial: float = Field(1.0, ge=0, description="Seconds before the first retry.")
    max_delay: float = Field(300.0, gt=0, description="Longest wait between tries, seconds.")
    multiplier: float = Field(2.0, ge=1, description="Growth of the wait per attempt.")
    jitter: float = Field(1.0, ge=0, description="Up to this many random extra seconds.")

    def policy(self) -> RetryPolicy:
        """The runner's ``RetryPolicy`` for these settings."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            initial=self.initial,
            max_delay=self.max_delay,
            multiplier=self.multiplier,
            jitter=self.jitter,
        )


class Trigger(_Model):
    """Which events start the recipe."""

    event: str = Field(
        min_length=1,
        description="Event type (payment.captured) or a glob of types (payment.*).",
    )
    connection: str | None = Field(None, description="Only events received on this connection.")
    where: str | None = Field(
        None,
        description="Expression without braces, e.g. `event.data.amount | decimal >= 500`.",
    )


class Step(_Model):
    """One action call; ``with`` values may be templates (``{{ event.data.email }}``)."""

    id: str = Field(pattern=STEP_ID_PATTERN, description="snake_case, unique in the recipe.")
    use: str = Field(min_length=1, description="Action name, service.verb_object.")
    connection: str = Field(min_length=1, description="Configured connection the action uses.")
    with_: dict[str, Any] = Field(
        default_factory=dict,
        alias="with",
        description="The action's input; values may be templates.",
    )
    if_: str | None = Field(
        None, alias="if", description="Expression; when false the step is skipped."
    )
    retry: RetrySpec | None = Field(None, description="Retry policy (defaults apply when absent).")

    def retry_policy(self) -> RetryPolicy:
        """This step's retry policy (the hub's default when none is given)."""
        return (self.retry or RetrySpec()).policy()


class Recipe(_Model):
    """A declarative integration: a trigger and the steps it runs, in order."""

    version: Literal[1] = Field(description="Recipe format version; this hub reads 1.")
    name: str | None = Field(None, description="Unique name (default: the file name's stem).")
    description: str = Field("", description="What the recipe is for, shown to ops.")
    enabled: bool = Field(True, description="False keeps the recipe loaded but never run.")
    trigger: Trigger = Field(description="The event type or glob, connection and condition.")
    steps: list[Step] = Field(min_length=1, description="Action calls, run in order.")

    _fingerprint: str = PrivateAttr(default="")
    _source: str = PrivateAttr(default="")
    _cache: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """sha256 of the file text ("" if built in code): tells ops which version ran."""
        return self._fingerprint

    @property
    def source(self) -> str:
        """The file this recipe came from ("" if built in code)."""
        return self._source

    @property
    def cache(self) -> dict[str, Any]:
        """Per-recipe memo for compiled expressions (used by ``hub.router``)."""
        return self._cache

    def step_index(self, step_id: str) -> int:
        """Position of the step called ``step_id``.

        Raises:
            KeyError: no such step.
        """
        for index, step in enumerate(self.steps):
            if step.id == step_id:
                return index
        raise KeyError(step_id)


def recipe_json_schema() -> dict[str, Any]:
    """The JSON Schema of a recipe file, for editors (``with``/``if`` under their YAML names)."""
    schema = Recipe.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://hub.dev/schemas/recipe.json",
        **schema,
    }


def write_schema(path: Path) -> None:
    """Write ``recipe_json_schema()`` to ``path`` (``make schemas``), stable and diff-friendly."""
    path.write_text(json.dumps(recipe_json_schema(), indent=2, sort_keys=True) + "\n", "utf-8")


# --- problems ---------------------------------------------------------------------


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Report:
    """Collects problems for one file, locating each path through the line map."""

    def __init__(self, file: str, lines: LineMap) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, path: DocPath, message: str) -> None:
        self.problems.append(Problem(self.file, self.lines.line(path), format_path(path), message))


def _allowed_keys(loc: DocPath) -> list[str]:
    """The keys valid where an unknown key ``loc[-1]`` was found (for "did you mean")."""
    parent = loc[:-1]
    model: type[BaseModel] | None = None
    if len(parent) == 0:
        model = Recipe
    elif parent == ("trigger",):
        model = Trigger
    elif len(parent) == 2 and parent[0] == "steps":
        model = Step
    elif len(parent) == 3 and parent[0] == "steps" and parent[2] == "retry":
        model = RetrySpec
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _pydantic_message(err: Mapping[str, Any], loc: DocPath, allowed: list[str] | None) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        return f"unknown key '{key}'{_did_you_mean(key, allowed or [])}"
    if kind == "missing":
        return f"missing required key '{loc[-1]}'" if loc else "missing required value"
    message = str(err["msg"])
    if "input" in err and not isinstance(err["input"], dict | list):
        message += f" (got {err['input']!r})"
    return message


def _clean_loc(loc: Iterable[Any]) -> DocPath:
    return tuple(part for part in loc if isinstance(part, str | int))


def _check_structure(data: dict[str, Any], report: _Report, skip: set[str]) -> Recipe | None:
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = _clean_loc(err["loc"])
            if loc[:1] == ("version",) or format_path(loc) in skip:
                continue  # version is checked first; YAML problems already named the key
            allowed = _allowed_keys(loc) if err["type"] == "extra_forbidden" else None
            report.add(loc, _pydantic_message(err, loc, allowed))
        return None


def _migrate(data: dict[str, Any], report: _Report) -> dict[str, Any] | None:
    """Bring an old document to ``CURRENT_VERSION`` (None: refused, reason reported)."""
    if "version" not in data:
        report.add(
            ("version",), f"missing required key 'version' (write version: {CURRENT_VERSION})"
        )
        return data
    version = data["version"]
    if type(version) is not int:
        report.add(("version",), f"version must be a whole number (version: {CURRENT_VERSION})")
        return data
    while version != CURRENT_VERSION and version in MIGRATIONS:
        data = MIGRATIONS[version](data)
        version = data["version"]
    if version != CURRENT_VERSION:
        report.add(
            ("version",),
            f"unsupported recipe version {version} (this hub reads version {CURRENT_VERSION})",
        )
        return None
    return data


# --- meaning ----------------------------------------------------------------------


def _templates_in(value: Any, path: DocPath) -> Iterator[tuple[DocPath, str]]:
    if isinstance(value, str):
        if has_template(value):
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _templates_in(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _templates_in(item, (*path, index))


def _under_template(value: Any, loc: DocPath) -> bool:
    """True when ``loc`` lies at or under a template string (checked when rendered, not now)."""
    current = value
    for part in loc:
        if has_template(current):
            return True
        if isinstance(current, dict):
            if part not in current:
                return False
        elif not (isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)):
            return False
        current = current[part]
    return has_template(current)


class _Meaning:
    """Checks what the model cannot: names that must exist, and the order of steps."""

    def __init__(
        self,
        report: _Report,
        catalog: ActionCatalog | None,
        connections: Mapping[str, str] | None,
    ) -> None:
        self.report = report
        self.catalog = catalog
        self.connections = connections
        self.step_ids: dict[str, int] = {}

    def check(self, data: dict[str, Any]) -> None:
        steps = data.get("steps")
        steps = steps if isinstance(steps, list) else []
        for index, step in enumerate(steps):
            if isinstance(step, dict) and isinstance(step.get("id"), str):
                step_id = step["id"]
                if step_id in self.step_ids:
                    first = self.step_ids[step_id]
                    line = self.report.lines.line(("steps", first, "id"))
                    self.report.add(
                        ("steps", index, "id"),
                        f"duplicate step id '{step_id}' (also steps[{first}], line {line})",
                    )
                else:
                    self.step_ids[step_id] = index
        trigger = data.get("trigger")
        if isinstance(trigger, dict):
            self._trigger(trigger)
        for index, step in enumerate(steps):
            if isinstance(step, dict):
                self._step(index, step)

    def _trigger(self, trigger: dict[str, Any]) -> None:
        event = trigger.get("event")
        if isinstance(event, str) and event and self.catalog is not None:
            known = self.catalog.event_types()
            if any(ch in event for ch in "*?["):
                if not any(fnmatch.fnmatchcase(t, event) for t in known):
                    self.report.add(
                        ("trigger", "event"), f"event pattern '{event}' matches no known event type"
                    )
            elif event not in known:
                self.report.add(
                    ("trigger", "event"),
                    f"unknown event type '{event}'{_did_you_mean(event, known)}",
                )
        connection = trigger.get("connection")
        if isinstance(connection, str) and self.connections is not None:
            self._connection_exists(("trigger", "connection"), connection)
        where = trigger.get("where")
        if isinstance(where, str):
            self._expression(("trigger", "where"), where, step_index=None)

    def _connection_exists(self, path: DocPath, name: str) -> bool:
        assert self.connections is not None
        if name in self.connections:
            return True
        self.report.add(path, f"unknown connection '{name}'{_did_you_mean(name, self.connections)}")
        return False

    def _step(self, index: int, step: dict[str, Any]) -> None:
        base: DocPath = ("steps", index)
        use = step.get("use")
        action: type[Action[Any, Any]] | None = None
        if isinstance(use, str) and use and self.catalog is not None:
            action = self.catalog.find_action(use)
            if action is None:
                names = self.catalog.action_names()
                self.report.add(
                    (*base, "use"), f"unknown action '{use}'{_did_you_mean(use, names)}"
                )
        connection = step.get("connection")
        if (
            isinstance(connection, str)
            and self.connections is not None
            and self._connection_exists((*base, "connection"), connection)
            and isinstance(use, str)
        ):
            service = use.split(".", 1)[0]
            connector = self.connections[connection]
            if connector != service:
                self.report.add(
                    (*base, "connection"),
                    f"connection '{connection}' is a {connector} connection; "
                    f"{use} needs a {service} connection",
                )
        with_ = step.get("with")
        if isinstance(with_, dict):
            for path, source in _templates_in(with_, (*base, "with")):
                self._template(path, source, index)
            if action is not None:
                self._inputs(base, with_, action)
        condition = step.get("if")
        if isinstance(condition, str):
            self._expression((*base, "if"), condition, step_index=index)

    def _template(self, path: DocPath, source: str, step_index: int) -> None:
        try:
            tree = parse_template(source)
        except ConfigError as exc:
            self.report.add(path, str(exc))
            return
        self._names(path, tree, step_index)

    def _expression(self, path: DocPath, expr: str, step_index: int | None) -> None:
        try:
            tree = parse_expression(expr)
        except ConfigError as exc:
            self.report.add(path, str(exc))
            return
        self._names(path, tree, step_index)

    def _names(self, path: DocPath, tree: Any, step_index: int | None) -> None:
        for name in unknown_names(tree):
            self.report.add(
                path,
                f"unknown name '{name}' (templates see {', '.join(sorted(CONTEXT_NAMES))})",
            )
        for ref in step_references(tree):
            if step_index is None:
                self.report.add(
                    path, f"refers to step '{ref}', but the trigger is checked before any step runs"
                )
                continue
            target = self.step_ids.get(ref)
            if target is None:
                hint = _did_you_mean(ref, self.step_ids)
                self.report.add(path, f"refers to unknown step '{ref}'{hint}")
            elif target == step_index:
                self.report.add(path, f"refers to step '{ref}' itself, which has not run yet")
            elif target > step_index:
                self.report.add(path, f"refers to step '{ref}', which runs later")

    def _inputs(self, base: DocPath, with_: dict[str, Any], action: type[Action[Any, Any]]) -> None:
        """Validate ``with`` against the input model, except where a template decides later."""
        try:
            action.input_model.model_validate(with_)
        except ValidationError as exc:
            for err in exc.errors():
                loc = _clean_loc(err["loc"])
                if err["type"] != "extra_forbidden" and _under_template(with_, loc):
                    continue
                path = (*base, "with", *loc)
                if err["type"] == "extra_forbidden":
                    fields = [f.alias or n for n, f in action.input_model.model_fields.items()]
                    key = str(loc[-1]) if loc else "?"
                    message = f"{action.name} has no input '{key}'{_did_you_mean(key, fields)}"
                elif err["type"] == "missing":
                    message = f"missing required input '{format_path(loc)}' for {action.name}"
                else:
                    message = _pydantic_message(err, loc, None)
                self.report.add(path, message)
        except Exception as exc:  # noqa: BLE001 - a plugin's validator may raise anything
            self.report.add((*base, "with"), f"cannot check inputs of {action.name}: {exc}")


# --- files ------------------------------------------------------------------------


def _expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories become their ``*.yaml``/``*.yml`` files, sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                sorted(p for p in path.iterdir() if p.suffix in RECIPE_SUFFIXES and p.is_file())
            )
        else:
            out.append(path)
    return out


def _check_text(
    text: str,
    file: str,
    stem: str,
    catalog: ActionCatalog | None,
    connections: Mapping[str, str] | None,
) -> tuple[Recipe | None, list[Problem]]:
    """Every check on one file's text; the recipe is returned only when nothing is wrong."""
    doc = parse_yaml(text, file)
    report = _Report(file, doc.lines)
    report.problems.extend(doc.problems)
    if doc.data is None:
        if not doc.problems:
            report.add((), "the file is empty; a recipe needs version, trigger and steps")
        return None, report.problems
    if not isinstance(doc.data, dict):
        report.add(
            (), f"a recipe is a mapping (version, trigger, steps), not a {type(doc.data).__name__}"
        )
        return None, report.problems
    data = _migrate(doc.data, report)
    if data is None:
        return None, report.problems
    recipe = _check_structure(data, report, skip={p.path for p in doc.problems})
    _Meaning(report, catalog, connections).check(data)
    report.problems.sort(key=lambda p: p.line)
    if recipe is None or report.problems:
        return None, report.problems
    if recipe.name is None:
        recipe.name = stem
    recipe._fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()
    recipe._source = file
    return recipe, []


def _read(path: Path) -> tuple[str | None, Problem | None]:
    try:
        return path.read_text("utf-8"), None
    except (OSError, UnicodeDecodeError) as exc:
        return None, Problem(str(path), 0, "", f"cannot read the file: {exc}")


def _check_paths(
    paths: Iterable[Path],
    catalog: ActionCatalog | None,
    connections: Mapping[str, str] | None,
) -> tuple[list[Recipe], list[Problem]]:
    recipes: list[Recipe] = []
    problems: list[Problem] = []
    names: dict[str, str] = {}
    for path in _expand(paths):
        text, unreadable = _read(path)
        if text is None:
            assert unreadable is not None
            problems.append(unreadable)
            continue
        recipe, found = _check_text(text, str(path), path.stem, catalog, connections)
        problems.extend(found)
        if recipe is None:
            continue
        assert recipe.name is not None
        if recipe.name in names:
            problems.append(
                Problem(
                    str(path),
                    1,
                    "name",
                    f"recipe name '{recipe.name}' is also used by {names[recipe.name]}; "
                    "names must be unique (runs and idempotency keys use them)",
                )
            )
            continue
        names[recipe.name] = str(path)
        recipes.append(recipe)
    return recipes, problems


def validate_files(
    paths: Sequence[Path],
    registry: ActionCatalog | None,
    connections: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every problem in the given recipe files (directories: their ``*.yaml``/``*.yml``).

    Args:
        paths: files or directories.
        registry: installed actions and event types; None skips those checks.
        connections: configured connection name -> connector slug; None skips
            connection checks (``hub recipes validate`` without a ``hub.yaml``).

    Returns:
        The problems, file by file and by line; empty when all is well.
    """
    return _check_paths(paths, registry, connections)[1]


def load_recipe(path: Path) -> Recipe:
    """Load one recipe (name defaults to the file stem), checking all but the registry.

    Raises:
        RecipeError: every problem in the file.
    """
    recipes, problems = _check_paths([path], None, None)
    if problems:
        raise RecipeError(problems)
    return recipes[0]


def load_recipes(paths: Sequence[Path]) -> list[Recipe]:
    """Load recipes from files and directories (``*.yaml``/``*.yml``, sorted).

    Raises:
        RecipeError: every problem in every file (nothing is loaded then), including
            two recipes with the same name.
    """
    recipes, problems = _check_paths(paths, None, None)
    if problems:
        raise RecipeError(problems)
    return recipes
