"""Recipe loading and validation: every mistake reported at once, each at its line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from hub import recipes as recipes_mod
from hub.connector import Action, Connector, ConnectorConfig, WebhookSource
from hub.errors import ConfigError
from hub.recipes import (
    ActionCatalog,
    Recipe,
    RecipeError,
    load_recipe,
    load_recipes,
    recipe_json_schema,
    validate_files,
    write_schema,
)
from hub.registry import Registry

BAD = Path(__file__).parent / "recipes_bad"
SCHEMA_FILE = Path(__file__).parents[2] / "hub" / "schemas" / "recipe.json"


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str
    amount: str
    count: int = 0


class UpsertContact(Action[Any, ContactIn]):
    name = "acmecrm.upsert_contact"
    input_model = ContactIn


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: str
    reference_number: str


class RecordPayment(Action[Any, PaymentIn]):
    name = "zoho_books.record_payment"
    input_model = PaymentIn


class AcmePayHook(WebhookSource[Any]):
    name = "acmepay"
    emits = ("payment.captured", "payment.failed", "refund.processed")


class FakeCatalog:
    """The smallest ``ActionCatalog``: what validation needs, nothing else."""

    def __init__(self) -> None:
        self.actions = {a.name: a for a in (UpsertContact, RecordPayment)}

    def find_action(self, name: str) -> type[Action[Any, Any]] | None:
        return self.actions.get(name)

    def action_names(self) -> list[str]:
        return sorted(self.actions)

    def event_types(self) -> set[str]:
        return set(AcmePayHook.emits)


CONNECTIONS = {"crm-main": "acmecrm", "books": "zoho_books", "acmepay-main": "acmepay"}

GOOD = """\
version: 1
description: Payments into CRM and books
trigger:
  event: payment.captured
  connection: acmepay-main
  where: event.data.amount | decimal >= 500
steps:
  - id: contact
    use: acmecrm.upsert_contact
    connection: crm-main
    with:
      email: "{{ event.data.email }}"
      amount: "{{ event.data.amount | money }}"
      count: 2
    retry: {max_attempts: 8}
  - id: payment
    use: zoho_books.record_payment
    connection: books
    if: steps.contact.contact_id is defined
    with:
      amount: "{{ event.data.amount | money }}"
      reference_number: "{{ steps.contact.contact_id }}"
"""


def _write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def _found(path: Path, catalog: ActionCatalog | None = None) -> list[tuple[int, str, str]]:
    return [
        (p.line, p.path, p.message)
        for p in validate_files([path], catalog or FakeCatalog(), CONNECTIONS)
    ]


# --- loading ---------------------------------------------------------------------


def test_a_good_recipe_loads_with_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, "pay_to_books.yaml")
    assert validate_files([path], FakeCatalog(), CONNECTIONS) == []
    recipe = load_recipe(path)
    assert recipe.name == "pay_to_books"  # the file stem
    assert recipe.enabled is True
    assert recipe.fingerprint == hashlib.sha256(GOOD.encode()).hexdigest()
    assert recipe.source == str(path)
    contact, payment = recipe.steps
    assert contact.with_["count"] == 2
    assert contact.retry_policy().max_attempts == 8
    assert payment.if_ == "steps.contact.contact_id is defined"
    assert payment.retry_policy().max_attempts == 5
    assert recipe.step_index("payment") == 1


def test_the_real_registry_is_an_action_catalog(tmp_path: Path) -> None:
    registry = Registry(
        [
            Connector(
                name="acmecrm", title="CRM", config=ConnectorConfig, actions=(UpsertContact,)
            ),
            Connector(
                name="zoho_books", title="Books", config=ConnectorConfig, actions=(RecordPayment,)
            ),
            Connector(name="acmepay", title="Pay", config=ConnectorConfig, webhook=AcmePayHook),
        ]
    )
    path = _write(tmp_path, GOOD)
    assert validate_files([path], registry, CONNECTIONS) == []
    assert validate_files([BAD / "many_mistakes.yaml"], registry, CONNECTIONS) == validate_files(
        [BAD / "many_mistakes.yaml"], FakeCatalog(), CONNECTIONS
    )


def test_explicit_name_wins_over_the_stem(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("version: 1\n", "version: 1\nname: payments\n"))
    assert load_recipe(path).name == "payments"


def test_directories_load_yaml_and_yml_sorted(tmp_path: Path) -> None:
    _write(tmp_path, GOOD, "b.yml")
    _write(tmp_path, GOOD, "a.yaml")
    _write(tmp_path, "not a recipe", "notes.txt")
    assert [r.name for r in load_recipes([tmp_path])] == ["a", "b"]


def test_two_recipes_with_one_name_are_refused(tmp_path: Path) -> None:
    named = GOOD.replace("version: 1\n", "version: 1\nname: same\n")
    _write(tmp_path, named, "a.yaml")
    _write(tmp_path, named, "b.yaml")
    with pytest.raises(RecipeError, match="recipe name 'same' is also used by"):
        load_recipes([tmp_path])


def test_load_recipe_raises_every_problem(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(BAD / "many_mistakes.yaml")
    # Without a registry only registry-free checks run, but all of those at once.
    paths = {p.path for p in info.value.problems}
    assert {"steps[1].colour", "steps[2].with.email", "steps[2].on", "steps[4].id"} <= paths
    assert isinstance(info.value, ConfigError)


# --- the bad fixture: everything in one call ------------------------------------------


def test_every_mistake_is_reported_at_once_with_its_line() -> None:
    found = _found(BAD / "many_mistakes.yaml")
    expected = [
        (
            4,
            "trigger.event",
            "unknown event type 'paymnt.captured' (did you mean 'payment.captured'?)",
        ),
        (
            8,
            "steps[0].use",
            "unknown action 'acmecrm.upsert_contct' (did you mean 'acmecrm.upsert_contact'?)",
        ),
        (15, "steps[1].colour", "unknown key 'colour'"),
        (16, "steps[1].with.amount", "missing required input 'amount' for acmecrm.upsert_contact"),
        (22, "steps[2].with.email", "refers to step 'later', which runs later"),
        (
            23,
            "steps[2].with.amount",
            "invalid template '{{ event.data.amount | money }': unexpected '}'",
        ),
        (24, "steps[2].on", "key 'on' is read as a boolean by YAML 1.1; quote it"),
        (
            31,
            "steps[3].with.count",
            "Input should be a valid integer, unable to parse string as an integer (got 'many')",
        ),
        (32, "steps[4].id", "duplicate step id 'later' (also steps[3], line 25)"),
    ]
    assert found == expected
    text = [str(p) for p in validate_files([BAD], FakeCatalog(), CONNECTIONS)]
    assert f"{BAD / 'many_mistakes.yaml'}:8: steps[0].use: unknown action" in text[2]


def test_an_unknown_version_is_refused_without_noise() -> None:
    assert _found(BAD / "future_version.yaml") == [
        (1, "version", "unsupported recipe version 7 (this hub reads version 1)")
    ]


# --- structure -------------------------------------------------------------------------


def test_missing_version_and_steps(tmp_path: Path) -> None:
    path = _write(tmp_path, "trigger:\n  event: payment.captured\n  wher: x\n")
    assert _found(path) == [
        (1, "version", "missing required key 'version' (write version: 1)"),
        (1, "steps", "missing required key 'steps'"),
        (3, "trigger.wher", "unknown key 'wher' (did you mean 'where'?)"),
    ]


def test_a_string_version_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("version: 1", "version: '1'"))
    assert _found(path) == [(1, "version", "version must be a whole number (version: 1)")]


def test_wrong_types_and_bad_step_ids(tmp_path: Path) -> None:
    text = GOOD.replace("  - id: contact", "  - id: Contact-1").replace(
        "{max_attempts: 8}", "{max_attempts: 80, jiter: 1}"
    )
    found = _found(path := _write(tmp_path, text.replace("steps.contact.", "steps.Contact-1.")))
    del path
    paths = [(line, where) for line, where, _ in found]
    assert (8, "steps[0].id") in paths
    assert (15, "steps[0].retry.max_attempts") in paths
    assert (15, "steps[0].retry.jiter") in paths
    assert any("did you mean 'jitter'" in m for _, _, m in found)


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    assert _found(_write(tmp_path, "", "e.yaml"))[0][2].startswith("the file is empty")
    assert _found(_write(tmp_path, "- a\n- b\n", "l.yaml"))[0][2].startswith(
        "a recipe is a mapping"
    )
    assert "YAML syntax error" in _found(_write(tmp_path, "a: [\n", "s.yaml"))[0][2]


def test_unreadable_file(tmp_path: Path) -> None:
    [problem] = validate_files([tmp_path / "missing.yaml"], FakeCatalog(), CONNECTIONS)
    assert problem.line == 0
    assert "cannot read the file" in problem.message


def test_migrations_are_applied_then_revalidated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def v0_to_v1(doc: dict[str, Any]) -> dict[str, Any]:
        doc = dict(doc)
        doc["trigger"] = {"event": doc.pop("on_event")}
        doc["version"] = 1
        return doc

    monkeypatch.setitem(recipes_mod.MIGRATIONS, 0, v0_to_v1)
    old = GOOD.replace("version: 1", "version: 0").replace(
        "trigger:\n  event: payment.captured\n  connection: acmepay-main\n"
        "  where: event.data.amount | decimal >= 500\n",
        "on_event: payment.captured\n",
    )
    path = _write(tmp_path, old)
    assert validate_files([path], FakeCatalog(), CONNECTIONS) == []
    assert load_recipe(path).trigger.event == "payment.captured"


# --- meaning ---------------------------------------------------------------------------


def test_with_literals_are_type_checked_but_templates_are_not(tmp_path: Path) -> None:
    text = GOOD.replace("count: 2", 'count: "{{ event.data.n }}"')
    assert _found(_write(tmp_path, text)) == []
    text = GOOD.replace("count: 2", "count: [1]\n      emial: x")
    found = _found(_write(tmp_path, text))
    assert found[0][:2] == (14, "steps[0].with.count")
    assert found[1] == (
        15,
        "steps[0].with.emial",
        "acmecrm.upsert_contact has no input 'emial' (did you mean 'email'?)",
    )


def test_unknown_extra_input_is_reported_even_when_templated(tmp_path: Path) -> None:
    text = GOOD.replace("count: 2", 'note: "{{ event.data.note }}"')
    assert [f[:2] for f in _found(_write(tmp_path, text))] == [(14, "steps[0].with.note")]


def test_step_references(tmp_path: Path) -> None:
    text = GOOD.replace(
        'reference_number: "{{ steps.contact.contact_id }}"',
        "reference_number: \"{{ steps['contcat'].id }}{{ steps.payment.id }}\"",
    ).replace('email: "{{ event.data.email }}"', 'email: "{{ steps.payment.email }}"')
    assert _found(_write(tmp_path, text)) == [
        (12, "steps[0].with.email", "refers to step 'payment', which runs later"),
        (
            22,
            "steps[1].with.reference_number",
            "refers to unknown step 'contcat' (did you mean 'contact'?)",
        ),
        (
            22,
            "steps[1].with.reference_number",
            "refers to step 'payment' itself, which has not run yet",
        ),
    ]


def test_where_and_if_are_checked(tmp_path: Path) -> None:
    text = GOOD.replace(
        "where: event.data.amount | decimal >= 500", "where: steps.contact.ok and env.SECRET"
    ).replace("if: steps.contact.contact_id is defined", "if: event.data.amount >")
    found = _found(_write(tmp_path, text))
    assert found == [
        (6, "trigger.where", "unknown name 'env' (templates see event, recipe, steps)"),
        (
            6,
            "trigger.where",
            "refers to step 'contact', but the trigger is checked before any step runs",
        ),
        (
            19,
            "steps[1].if",
            "invalid expression 'event.data.amount >': unexpected 'end of template'",
        ),
    ]


def test_event_globs(tmp_path: Path) -> None:
    assert (
        _found(_write(tmp_path, GOOD.replace("event: payment.captured", "event: payment.*"))) == []
    )
    found = _found(_write(tmp_path, GOOD.replace("event: payment.captured", "event: order.*")))
    assert found == [(4, "trigger.event", "event pattern 'order.*' matches no known event type")]


def test_connections_must_exist_and_fit_the_action(tmp_path: Path) -> None:
    text = (
        GOOD.replace("connection: acmepay-main", "connection: acmepay-mian")
        .replace("connection: crm-main", "connection: crm-mian")
        .replace("connection: books", "connection: crm-main")
    )
    assert _found(_write(tmp_path, text)) == [
        (
            5,
            "trigger.connection",
            "unknown connection 'acmepay-mian' (did you mean 'acmepay-main'?)",
        ),
        (10, "steps[0].connection", "unknown connection 'crm-mian' (did you mean 'crm-main'?)"),
        (
            18,
            "steps[1].connection",
            "connection 'crm-main' is a acmecrm connection; "
            "zoho_books.record_payment needs a zoho_books connection",
        ),
    ]


def test_without_connections_those_checks_are_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("connection: books", "connection: nowhere"))
    assert validate_files([path], FakeCatalog(), None) == []
    assert validate_files([path], None, None) == []


# --- schema ----------------------------------------------------------------------------


def test_json_schema_uses_yaml_names() -> None:
    schema = recipe_json_schema()
    step = schema["$defs"]["Step"]
    assert {"with", "if", "id", "use", "connection", "retry"} <= set(step["properties"])
    assert step["additionalProperties"] is False
    assert "version" in schema["required"]


def test_write_schema_and_the_checked_in_copy_is_current(tmp_path: Path) -> None:
    out = tmp_path / "recipe.json"
    write_schema(out)
    assert json.loads(out.read_text()) == recipe_json_schema()
    assert json.loads(SCHEMA_FILE.read_text()) == recipe_json_schema(), "run `hub schemas`"


def test_recipes_can_be_built_in_code() -> None:
    recipe = Recipe.model_validate(
        {
            "version": 1,
            "name": "r",
            "trigger": {"event": "payment.captured"},
            "steps": [{"id": "a", "use": "acmecrm.upsert_contact", "connection": "crm-main"}],
        }
    )
    assert recipe.fingerprint == ""
    assert recipe.steps[0].with_ == {}
