"""The compiled fast path of ``hub.schemas`` never lets through what ``jsonschema`` refuses.

``validate_data`` trusts a pass of the code ``fastjsonschema`` generates, so
the property that matters is one-sided: whatever the compiled check accepts,
the ``jsonschema`` validator (the reference) must accept too. The final
verdict and messages of ``validate_data`` must be exactly the reference's.
Both are checked on every schema example and on generated variations of them
(values swapped for other JSON values, keys dropped or added), which exercise
type, pattern, format, enum, required and additionalProperties failures.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import FormatChecker

from hub import schemas
from hub.schemas.compiled import compile_fast, unsupported

DATA_STEMS = ["bank_transaction", "email", "message", "message_status", "payment", "refund"]
DATA_STEMS += ["settlement"]
TYPE_OF = {
    "payment": "payment.captured",
    "refund": "refund.processed",
    "settlement": "settlement.processed",
    "message": "message.received",
    "message_status": "message.status",
    "bank_transaction": "bank.transaction.posted",
    "email": "email.received",
}

# Values that hit the schemas' edges: near-miss patterns, bad dates, wrong types.
TRICKY = [
    "",
    "x",
    "INR",
    "inr",
    "INR\n",
    "1499.00",
    "1499.",
    "-1.00",
    "+919845012345",
    "98450",
    "a@b",
    "no-at-sign",
    "2024-11-15T07:05:10+00:00",
    "2024-13-15T07:05:10Z",
    "2024-11-15",
    "2024-02-30",
    "https://example.com/x",
    "not a uri",
    "razorpay",
    "captured",
    "upi",
    0,
    1,
    -1,
    1.5,
    1.0,
    True,
    False,
    None,
    [],
    ["a"],
    {},
    {"x": 1},
]
json_values = st.recursive(
    st.sampled_from(TRICKY) | st.text(max_size=8) | st.integers() | st.floats(allow_nan=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
).map(copy.deepcopy)  # TRICKY's lists and dicts are shared: an edit must never reach them


def reference_errors(stem: str, data: Any) -> list[str]:
    return schemas._errors(schemas._validator(stem), data)


def fast_accepts(stem: str, data: Any) -> bool:
    check = schemas._fast(stem)
    assert check is not None, f"{stem} should compile"
    try:
        check(data)
    except Exception:  # noqa: BLE001 - any failure is a rejection here
        return False
    return True


def containers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every dict and list inside ``node`` (the root included)."""
    found = [path] if isinstance(node, dict | list) else []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, value in items:
        found.extend(containers(value, (*path, key)))
    return found


def at(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


@st.composite
def variations(draw: st.DrawFn) -> tuple[str, Any]:
    """An example of some data schema with 1-3 random edits."""
    stem = draw(st.sampled_from(DATA_STEMS))
    examples = schemas.load_schema(stem)["examples"]
    data = copy.deepcopy(draw(st.sampled_from(examples)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(containers(data)))
        target = at(data, path)
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            edit = draw(st.sampled_from(["replace", "drop", "add"]))
            if edit == "replace":
                target[key] = draw(json_values)
            elif edit == "drop":
                del target[key]
            else:
                target[draw(st.sampled_from(["extra", key + "_x", "notes"]))] = draw(json_values)
        elif isinstance(target, list) and target:
            target[draw(st.integers(0, len(target) - 1))] = draw(json_values)
    return stem, data


@pytest.mark.parametrize("stem", [*DATA_STEMS, "event"])
def test_every_event_schema_is_compiled(stem: str) -> None:
    assert list(unsupported(schemas._inline_common(schemas.load_schema(stem)))) == []
    assert schemas._fast(stem) is not None


@pytest.mark.parametrize("stem", DATA_STEMS)
def test_examples_pass_both(stem: str) -> None:
    for example in schemas.load_schema(stem)["examples"]:
        assert fast_accepts(stem, example)
        assert reference_errors(stem, example) == []
        schemas.validate_data(TYPE_OF[stem], example)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variations())
def test_compiled_never_accepts_what_jsonschema_refuses(case: tuple[str, Any]) -> None:
    stem, data = case
    expected = reference_errors(stem, data)
    if fast_accepts(stem, data):
        assert expected == [], f"compiled check let through {expected}"
    try:
        schemas.validate_data(TYPE_OF[stem], data)
        got: list[str] = []
    except schemas.SchemaViolation as exc:
        got = exc.errors
    assert got == expected


def test_jsonschema_overrules_a_stricter_compiled_check() -> None:
    """fastjsonschema reads a trailing ``$`` as end of string; jsonschema (re.search) does not."""
    data = copy.deepcopy(schemas.load_schema("payment")["examples"][0])
    data["currency"] = "INR\n"
    assert not fast_accepts("payment", data)
    assert reference_errors("payment", data) == []
    schemas.validate_data("payment.captured", data)  # the reference's verdict stands


def test_formats_are_jsonschemas_own() -> None:
    data = copy.deepcopy(schemas.load_schema("payment")["examples"][0])
    data["created_at"] = "2024-13-15T07:05:10+00:00"  # fits the RFC 3339 shape, month 13
    assert not fast_accepts("payment", data)
    with pytest.raises(schemas.SchemaViolation, match="created_at"):
        schemas.validate_data("payment.captured", data)


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"enum": [1, 2]}, "only string"),
        ({"const": True}, "only string"),
        ({"type": "array", "uniqueItems": True}, "uniqueItems"),
        ({"type": "number", "multipleOf": 0.01}, "multipleOf"),
        ({"$ref": "common.json#/$defs/amount"}, "$ref"),
        ({"type": "array", "items": [{"type": "string"}]}, "tuple-form"),
        ({"properties": {"a": {"type": "decimal"}}}, "unknown type"),
        ({"allOf": [{"properties": {"a": {"if": {"type": "string"}}}}]}, "if"),
    ],
)
def test_schemas_outside_the_subset_are_left_to_jsonschema(
    schema: dict[str, Any], reason: str
) -> None:
    problems = list(unsupported(schema))
    assert problems and reason in problems[0]
    assert compile_fast(schema, FormatChecker()) is None


def test_a_compiled_schema_checks_what_it_says() -> None:
    schema = {
        "type": "object",
        "properties": {"when": {"type": "string", "format": "date"}, "n": {"type": "integer"}},
        "required": ["when"],
        "additionalProperties": False,
    }
    checker = schemas._format_checker()
    check = compile_fast(schema, checker)
    assert check is not None
    check({"when": "2024-02-29", "n": 3})
    for bad in ({"when": "2023-02-29"}, {}, {"when": "2024-01-01", "x": 1}, {"when": 5}):
        with pytest.raises(Exception, match="must"):
            check(bad)
