"""Recipe expressions: native values, strict about missing fields, sandboxed, exact with money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from hub.errors import ConfigError
from hub.events import Event
from hub.templates import (
    TemplateError,
    compile_condition,
    make_context,
    parse_expression,
    parse_template,
    render_value,
    step_references,
    unknown_names,
)


def _ctx(**data: Any) -> dict[str, Any]:
    return {
        "event": {"type": "payment.captured", "id": "ev_1", "data": data, "raw": {"x": 1}},
        "steps": {"contact": {"contact_id": "c_42"}},
        "recipe": {"name": "r"},
    }


CTX = _ctx(
    amount="1499.50",
    phone="0987",
    paise=149900,
    count=3,
    customer={"name": "Asha", "email": "ASHA@Example.com"},
    items=[{"sku": "A"}, {"sku": "B"}],
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ event.data.count }}", 3),
        ("{{ event.data.customer }}", {"name": "Asha", "email": "ASHA@Example.com"}),
        ("{{ event.data.items | map(attribute='sku') | list }}", ["A", "B"]),
        ("{{ event.data.amount | decimal }}", Decimal("1499.50")),
        ("{{ 3 }}", 3),
        ("{{ true }}", True),
        ("{{ none }}", None),
        ("{{ steps.contact.contact_id }}", "c_42"),
        ("{{ recipe.name }}", "r"),
    ],
)
def test_a_lone_expression_renders_its_native_value(template: str, expected: Any) -> None:
    result = render_value(template, CTX)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ event.data.amount }}", "1499.50"),  # nativetypes would make this float 1499.5
        ("{{ event.data.phone }}", "0987"),  # ... and this int 987
        ("Paid {{ event.data.count }}", "Paid 3"),
        ("{{ event.data.count }}{{ event.data.count }}", "33"),
        ("{% if event.data.count > 2 %}many{% else %}few{% endif %}", "many"),
    ],
)
def test_strings_stay_strings(template: str, expected: str) -> None:
    assert render_value(template, CTX) == expected


def test_strings_without_template_syntax_are_returned_unchanged() -> None:
    assert render_value("a { b } c", CTX) == "a { b } c"
    assert render_value(42, CTX) == 42


def test_dicts_and_lists_are_walked() -> None:
    value = {"a": ["{{ event.data.count }}", "x"], "b": {"c": "{{ event.data.customer.name }}"}}
    assert render_value(value, CTX) == {"a": [3, "x"], "b": {"c": "Asha"}}


def test_dict_keys_win_over_dict_methods() -> None:
    assert render_value("{{ event.data.items | length }}", CTX) == 2


def test_a_missing_field_is_an_error_naming_template_and_path() -> None:
    with pytest.raises(TemplateError) as info:
        render_value({"email": "{{ event.data.emial }}"}, CTX, "steps[0].with")
    message = str(info.value)
    assert "steps[0].with.email" in message
    assert "{{ event.data.emial }}" in message
    assert "emial" in message
    assert isinstance(info.value.__cause__, UndefinedError)
    assert isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    "template",
    [
        "Hi {{ event.data.nope }}",
        "{{ event.data.nope.deeper }}",
        "{{ {'a': event.data.nope} }}",
        "{{ [event.data.nope] }}",
        "{{ event.data.nope | json }}",
        "{{ event.data.nope | money }}",
    ],
)
def test_missing_fields_never_render_as_empty(template: str) -> None:
    with pytest.raises(TemplateError):
        render_value(template, CTX)


def test_default_covers_a_missing_chain() -> None:
    assert render_value("{{ event.data.nope.deeper | default('n/a') }}", CTX) == "n/a"
    assert render_value("{{ event.data.nope is defined }}", CTX) is False


@pytest.mark.parametrize(
    "template",
    [
        "{{ ().__class__.__bases__ }}",
        "{{ event.__class__ }}",
        "{{ event.data.customer.update({'name': 'x'}) }}",  # immutable sandbox
        "{{ 'x' * 10000000 }}",
        "{{ 2 ** 100000 }}",
    ],
)
def test_the_sandbox_refuses_escapes_and_bombs(template: str) -> None:
    with pytest.raises(TemplateError, match="not allowed in the sandbox") as info:
        render_value(template, CTX)
    assert isinstance(info.value.__cause__, SecurityError)


def test_no_environment_variables_are_reachable() -> None:
    ctx = make_context(_event(), {}, "r")
    assert set(ctx) == {"event", "steps", "recipe"}
    with pytest.raises(TemplateError):
        render_value("{{ env.HOME }}", ctx)


def test_syntax_errors_are_config_errors_at_compile_time() -> None:
    with pytest.raises(ConfigError, match="invalid template") as info:
        render_value("{{ event.data.amount | money }", CTX)
    assert not isinstance(info.value, TemplateError)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ event.data.amount | money }}", "1499.50"),
        ("{{ '2.005' | money }}", "2.01"),  # half up, as on invoices
        ("{{ 7 | money }}", "7.00"),
        ("{{ event.data.paise | paise }}", "1499.00"),
        ("{{ '5' | paise }}", "0.05"),
        ("{{ 0.1 | decimal + 0.2 | decimal }}", Decimal("0.3")),
        ("{{ '+91 98765-43210' | digits }}", "919876543210"),
        ("{{ event.data.customer.email | lower }}", "asha@example.com"),
        ("{{ event.data.customer.name | upper }}", "ASHA"),
        ("{{ 'abcdefghijklmnop' | truncate(9, end='.') }}", "abcdefgh."),
        (
            "{{ {'amount': event.data.amount | decimal, 'b': '<&>'} | json }}",
            '{"amount": "1499.50", "b": "<&>"}',
        ),
    ],
)
def test_filters(template: str, expected: Any) -> None:
    assert render_value(template, CTX) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'abc' | decimal }}",
        "{{ 'abc' | money }}",
        "{{ 1.5 | paise }}",
        "{{ true | decimal }}",
        "{{ 'NaN' | decimal }}",
    ],
)
def test_bad_filter_input_is_a_template_error(template: str) -> None:
    with pytest.raises(TemplateError):
        render_value(template, CTX)


def test_now_is_aware_utc() -> None:
    value = render_value("{{ now() }}", CTX)
    assert isinstance(value, datetime)
    assert value.tzinfo is UTC


@pytest.mark.parametrize(
    ("amount", "expected"), [("500.00", True), ("499.99", False), (1000, True), ("500", True)]
)
def test_decimal_conditions(amount: Any, expected: bool) -> None:
    condition = compile_condition("event.data.amount | decimal >= 500")
    assert condition(_ctx(amount=amount)) is expected


def test_condition_on_a_missing_field_raises_naming_it() -> None:
    condition = compile_condition("event.data.amount | decimal >= 500", "trigger.where")
    with pytest.raises(TemplateError, match=r"trigger\.where: 'event\.data\.amount"):
        condition(_ctx())
    with pytest.raises(TemplateError):
        compile_condition("event.data.flag")(_ctx())  # truth of a missing value


def test_condition_syntax_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="invalid expression"):
        compile_condition("event.data.amount >")


def test_condition_sandbox() -> None:
    with pytest.raises(TemplateError) as info:
        compile_condition("().__class__.__subclasses__()")(CTX)
    assert isinstance(info.value.__cause__, SecurityError)


def test_static_helpers_find_step_references_and_unknown_names() -> None:
    tree = parse_template(
        "{{ steps.a.x }} {{ steps['b'] }} {% set y = 1 %}{{ y }} {{ env.K }}{{ now() }}"
    )
    assert step_references(tree) == ["a", "b"]
    assert unknown_names(tree) == ["env"]
    expr = parse_expression("steps.c.ok and event.data.x and secret")
    assert step_references(expr) == ["c"]
    assert unknown_names(expr) == ["secret"]
    with pytest.raises(ConfigError, match="after the expression"):
        parse_expression("a b")


def _event() -> Event:
    return Event(
        type="payment.captured",
        subject="pay_1",
        idempotency_key="k1",
        time=datetime(2026, 1, 2, tzinfo=UTC),
        data={"amount": "10.00"},
    ).bind("acmepay-main", "acmepay")


def test_make_context_exposes_the_event_dict() -> None:
    ctx = make_context(_event(), {"contact": {"id": 1}}, "pay_to_books")
    assert (
        render_value("{{ event.connection }}/{{ event.data.amount }}", ctx) == "acmepay-main/10.00"
    )
    assert render_value("{{ steps.contact.id }}", ctx) == 1
    assert render_value("{{ recipe.name }}", ctx) == "pay_to_books"


def test_local_date_books_late_night_ist_payments_on_the_ist_day() -> None:
    from hub.templates import render_value

    ctx = {"event": {"data": {"created_at": "2026-03-31T19:00:00+00:00"}}}
    assert (
        render_value("{{ event.data.created_at | local_date('Asia/Kolkata') }}", ctx)
        == "2026-04-01"
    )
    assert render_value("{{ event.data.created_at | local_date('UTC') }}", ctx) == "2026-03-31"
    with pytest.raises(ConfigError, match="unknown time zone"):
        render_value("{{ event.data.created_at | local_date('Mars/Olympus') }}", ctx)
