"""The router: which recipes an event starts, with stable idempotency keys, never crashing."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from hub import router
from hub.errors import ConfigError
from hub.events import Event
from hub.recipes import Recipe
from hub.router import plan_step, route, step_idempotency_key
from hub.store import PlannedRun

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


def _event(type_: str = "payment.captured", connection: str = "acmepay-main", **data: Any) -> Event:
    return Event(
        type=type_,
        subject="pay_1",
        idempotency_key="evt_123",
        time=datetime(2026, 11, 22, 4, 0, tzinfo=UTC),
        data={"amount": "1499.00", **data},
    ).bind(connection, "acmepay")


def _recipe(name: str | None = "pay", enabled: bool = True, **trigger: Any) -> Recipe:
    return Recipe.model_validate(
        {
            "version": 1,
            "name": name,
            "enabled": enabled,
            "trigger": {"event": "payment.captured", **trigger},
            "steps": [
                {"id": "contact", "use": "acmecrm.upsert_contact", "connection": "crm-main"},
                {"id": "payment", "use": "zoho_books.record_payment", "connection": "books"},
            ],
        }
    )


def test_idempotency_key_is_stable_and_specific() -> None:
    key = step_idempotency_key("pay", "ev-1", "contact")
    assert key == step_idempotency_key("pay", "ev-1", "contact")
    assert len(key) == 40
    assert int(key, 16) >= 0
    others = {
        step_idempotency_key("pay2", "ev-1", "contact"),
        step_idempotency_key("pay", "ev-2", "contact"),
        step_idempotency_key("pay", "ev-1", "payment"),
        # The separator keeps shifted boundaries apart.
        step_idempotency_key("pa", "yev-1", "contact"),
    }
    assert key not in others
    assert len(others) == 4


def test_idempotency_key_derivation_is_pinned() -> None:
    # Changing the derivation would make every replay of a stored run write twice.
    expected = hashlib.sha256(b"pay\x00ev-1\x00contact").hexdigest()[:40]
    assert step_idempotency_key("pay", "ev-1", "contact") == expected


def test_a_matching_recipe_plans_its_first_step() -> None:
    event = _event()
    [run] = route(event, [_recipe()], NOW)
    assert run == PlannedRun(
        recipe="pay",
        step_id="contact",
        step_index=0,
        action="acmecrm.upsert_contact",
        connection="crm-main",
        idempotency_key=step_idempotency_key("pay", event.id, "contact"),
        due_at=NOW,
    )


def test_redelivery_gets_the_same_keys_and_another_connection_does_not() -> None:
    first = route(_event(), [_recipe()], NOW)
    again = route(_event(), [_recipe()], NOW)
    elsewhere = route(_event(connection="acmepay-2"), [_recipe()], NOW)
    assert first[0].idempotency_key == again[0].idempotency_key
    assert first[0].idempotency_key != elsewhere[0].idempotency_key


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("payment.captured", "payment.captured", True),
        ("payment.captured", "payment.failed", False),
        ("payment.*", "payment.failed", True),
        ("payment.*", "refund.processed", False),
        ("*", "refund.processed", True),
        ("payment.captured", "payment.captured.extra", False),
    ],
)
def test_type_matching(pattern: str, event_type: str, expected: bool) -> None:
    assert bool(route(_event(event_type), [_recipe(event=pattern)], NOW)) is expected


def test_trigger_connection_filters() -> None:
    recipe = _recipe(connection="acmepay-main")
    assert route(_event(connection="acmepay-main"), [recipe], NOW)
    assert route(_event(connection="acmepay-other"), [recipe], NOW) == []


def test_disabled_recipes_do_not_run() -> None:
    assert route(_event(), [_recipe(enabled=False)], NOW) == []


@pytest.mark.parametrize(("amount", "expected"), [("500.00", 1), ("499.99", 0), ("12000", 1)])
def test_where_with_decimals(amount: str, expected: int) -> None:
    recipe = _recipe(where="event.data.amount | decimal >= 500")
    assert len(route(_event(amount=amount), [recipe], NOW)) == expected


def test_a_failing_where_is_no_match_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    failing = _recipe(name="fragile", where="event.data.customer.email | lower == 'x'")
    fine = _recipe(name="fine")
    event = _event()
    with caplog.at_level(logging.WARNING, logger="hub.router"):
        runs = route(event, [failing, fine], NOW)
    assert [r.recipe for r in runs] == ["fine"]
    [record] = caplog.records
    assert event.id in record.getMessage()
    assert "fragile" in record.getMessage()


def test_a_where_that_does_not_compile_does_not_crash_ingress(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = _recipe(where="event.data.amount >")
    with caplog.at_level(logging.WARNING, logger="hub.router"):
        assert route(_event(), [broken], NOW) == []
    assert "invalid expression" in caplog.text


def test_where_is_compiled_once_per_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = router.compile_condition

    def counting(expr: str, where: str = "") -> Any:
        calls.append(expr)
        return real(expr, where)

    monkeypatch.setattr(router, "compile_condition", counting)
    recipe = _recipe(where="event.data.amount | decimal > 1")
    for _ in range(5):
        assert route(_event(), [recipe], NOW)
    assert calls == ["event.data.amount | decimal > 1"]


def test_several_recipes_in_order() -> None:
    recipes = [_recipe("b"), _recipe("a", event="refund.*"), _recipe("c", event="payment.*")]
    assert [r.recipe for r in route(_event(), recipes, NOW)] == ["b", "c"]


def test_where_sees_recipe_name_but_no_steps() -> None:
    assert route(_event(), [_recipe(where="recipe.name == 'pay' and steps == {}")], NOW)


def test_plan_step_for_a_later_step() -> None:
    event = _event()
    later = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    run = plan_step(_recipe(), 1, event, later)
    assert (run.step_id, run.step_index, run.action, run.connection, run.due_at) == (
        "payment",
        1,
        "zoho_books.record_payment",
        "books",
        later,
    )
    assert run.idempotency_key == step_idempotency_key("pay", event.id, "payment")


def test_plan_step_errors() -> None:
    with pytest.raises(IndexError):
        plan_step(_recipe(), 2, _event(), NOW)
    with pytest.raises(ConfigError, match="no name"):
        plan_step(_recipe(name=None), 0, _event(), NOW)
