"""A compiled fast path for the event schemas: ``fastjsonschema`` code, ``jsonschema`` the judge.

``validate_data`` runs for every event on the ingest path, and interpreting a
schema with ``jsonschema`` costs ~150-200 µs per payment event, the largest
single item of a webhook's CPU time. ``fastjsonschema`` turns a schema into
plain Python code that checks the same payment in ~7 µs.

It is only used where its answer can be trusted:

* **Only a known keyword subset is compiled** (``type``, ``properties``,
  ``required``, ``additionalProperties``, ``enum``/``const`` of strings,
  ``pattern``, ``format``, lengths and bounds, ``items`` as one schema,
  ``allOf``/``anyOf``/``oneOf``/``not``, annotations). Those mean the same in
  draft-07, which ``fastjsonschema`` implements, and in Draft 2020-12, which
  the files are written in. A schema with anything else (a ``$ref`` left
  after inlining, ``uniqueItems``, ``multipleOf``, an ``enum`` of numbers,
  whose ``1 == True`` Python equality differs from JSON's) is not compiled, and
  ``jsonschema`` alone checks it.
* **Formats are jsonschema's own checkers**, so ``date-time``, ``email``, ...
  accept exactly what the slow path accepts.
* **A pass is a pass; a failure is only a suspicion.** When the compiled code
  rejects data, ``jsonschema`` validates it again and its verdict stands:
  it produces the error messages, and where ``fastjsonschema`` is stricter
  (it reads a trailing ``$`` as end of string, and ``1.0`` is no integer to
  it) the data is accepted as before. Invalid events are rare on the ingest
  path, so they may pay for both.

The one known case where the compiled code is more lenient: it takes a Python
``tuple`` as a JSON array (``jsonschema`` does not). Event data is stored and
read back as JSON, where a tuple *is* an array, so no stored event can differ.
``tests/hub/test_schemas_compiled.py`` checks the two validators agree on
every example and on generated variations of them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import fastjsonschema
from jsonschema import FormatChecker

__all__ = ["FastCheck", "compile_fast", "unsupported"]

#: checks data, raising on any problem (``fastjsonschema.JsonSchemaValueException``).
FastCheck = Callable[[Any], Any]

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "examples", "default", "deprecated"}
)
_ASSERTIONS = frozenset(
    {
        "type",
        "enum",
        "const",
        "required",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
    }
)
_SCHEMA_MAPS = frozenset({"properties", "patternProperties"})
_SCHEMA_ONE = frozenset({"additionalProperties", "items", "propertyNames", "not"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
_TYPES = frozenset({"null", "boolean", "object", "array", "number", "integer", "string"})
_DRAFT07 = "http://json-schema.org/draft-07/schema#"


def unsupported(schema: Any, where: str = "#") -> Iterator[str]:
    """Why ``schema`` cannot be compiled faithfully: one ``"path: reason"`` per problem."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        yield f"{where}: a schema must be an object or a boolean"
        return
    for key, value in schema.items():
        at = f"{where}/{key}"
        if key in _ANNOTATIONS:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                yield from unsupported(sub, f"{at}/{name}")
        elif key in _SCHEMA_ONE:
            if key == "items" and not isinstance(value, dict | bool):
                yield f"{at}: tuple-form items means something else in 2020-12"
            else:
                yield from unsupported(value, at)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            for i, sub in enumerate(value):
                yield from unsupported(sub, f"{at}/{i}")
        elif key in ("enum", "const"):
            values = value if key == "enum" and isinstance(value, list) else [value]
            if not all(v is None or isinstance(v, str) for v in values):
                yield f"{at}: only string (or null) values compare alike in Python and JSON"
        elif key == "type":
            types = value if isinstance(value, list) else [value]
            if not all(t in _TYPES for t in types):
                yield f"{at}: unknown type {value!r}"
        elif key not in _ASSERTIONS:
            yield f"{at}: keyword {key!r} is not in the compiled subset"


def _formats_in(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        if isinstance(schema.get("format"), str):
            found.add(schema["format"])
        for value in schema.values():
            found |= _formats_in(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= _formats_in(item)
    return found


def compile_fast(schema: dict[str, Any], checker: FormatChecker) -> FastCheck | None:
    """``schema`` (refs already inlined) as compiled code, or None when it is not in the subset.

    Every ``format`` the schema names is checked by ``checker`` (the one the
    ``jsonschema`` validator uses), including formats ``checker`` does not
    know, which then pass, as they do there.
    """
    if next(unsupported(schema), None) is not None:
        return None
    definition = copy.deepcopy(schema)
    definition["$schema"] = _DRAFT07
    definition.pop("$id", None)  # nothing to resolve: there are no refs left
    formats: dict[str, Callable[[Any], bool]] = {
        name: _conforms(checker, name) for name in _formats_in(schema)
    }
    check: FastCheck = fastjsonschema.compile(definition, formats=formats, use_default=False)
    return check


def _conforms(checker: FormatChecker, name: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        return checker.conforms(value, name)

    return check
