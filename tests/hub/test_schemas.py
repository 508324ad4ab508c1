"""hub.schemas: the schema files are valid, their examples fit, and validate_data reports every error."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from hub import schemas
from hub.events import Event
from hub.schemas import SchemaViolation, validate_data

SCHEMA_DIR = resources.files("hub.schemas")
ALL_FILES = sorted(
    p.name.removesuffix(".json") for p in SCHEMA_DIR.iterdir() if p.name.endswith(".json")
)
DATA_FILES = [
    "bank_transaction",
    "email",
    "message",
    "message_status",
    "payment",
    "refund",
    "settlement",
]
EVENT_FILES = sorted([*DATA_FILES, "common", "event"])  # others (recipe.json) are generated
MONEY_FILES = ["bank_transaction", "payment", "refund", "settlement"]
# one event type per data file, for validate_data
TYPE_OF = {
    "payment": "payment.captured",
    "refund": "refund.processed",
    "settlement": "settlement.processed",
    "message": "message.received",
    "message_status": "message.status",
    "bank_transaction": "bank.transaction.posted",
    "email": "email.received",
}


def example(stem: str) -> dict[str, Any]:
    return copy.deepcopy(schemas.load_schema(stem)["examples"][0])


def violations(event_type: str, data: dict[str, Any]) -> list[str]:
    with pytest.raises(SchemaViolation) as info:
        validate_data(event_type, data)
    assert info.value.event_type == event_type
    return info.value.errors


def test_event_schema_files_exist() -> None:
    assert set(EVENT_FILES) <= set(ALL_FILES)


@pytest.mark.parametrize("stem", ALL_FILES)
def test_every_file_is_a_valid_2020_12_schema(stem: str) -> None:
    Draft202012Validator.check_schema(schemas.load_schema(stem))


@pytest.mark.parametrize("stem", EVENT_FILES)
def test_event_schema_headers(stem: str) -> None:
    doc = schemas.load_schema(stem)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == schemas.schema_uri(stem)
    assert doc["title"] and doc["description"]


def _properties(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            found.append((f"{path}.{name}", sub))
        for key, sub in node.items():
            found.extend(_properties(sub, f"{path}/{key}"))
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            found.extend(_properties(sub, f"{path}[{i}]"))
    return found


@pytest.mark.parametrize("stem", EVENT_FILES)
def test_every_property_is_described(stem: str) -> None:
    doc = schemas.load_schema(stem)
    doc.pop("examples", None)
    missing = [path for path, sub in _properties(doc) if not sub.get("description")]
    assert missing == []


@pytest.mark.parametrize("stem", DATA_FILES)
def test_data_objects_reject_unknown_keys(stem: str) -> None:
    """additionalProperties: false everywhere except the documented free-form maps."""
    free_form = {"notes", "context", "interactive", "pricing", "headers"}
    doc = schemas.load_schema(stem)
    doc.pop("examples")
    assert doc["additionalProperties"] is False
    for path, sub in _properties(doc):
        name = path.rsplit(".", 1)[1]
        types = sub.get("type", [])
        if "object" in types and name not in free_form:
            assert sub.get("additionalProperties") is False, path


@pytest.mark.parametrize("stem", DATA_FILES)
def test_examples_fit(stem: str) -> None:
    examples = schemas.load_schema(stem)["examples"]
    assert examples
    for event_type, file_stem in schemas._TYPES.items():
        if file_stem == stem:
            for data in examples:
                validate_data(event_type, data)


@pytest.mark.parametrize("stem", MONEY_FILES)
def test_float_amount_is_rejected(stem: str) -> None:
    data = example(stem)
    data["amount"] = 1499.0
    assert violations(TYPE_OF[stem], data) == ["amount: 1499.0 is not of type 'string'"]


@pytest.mark.parametrize("stem", MONEY_FILES)
@pytest.mark.parametrize("amount", ["1,499.00", "1499.", ".5", "1e3", "₹1499", " 1499", ""])
def test_malformed_money_is_rejected(stem: str, amount: str) -> None:
    data = example(stem)
    data["amount"] = amount
    assert violations(TYPE_OF[stem], data)[0].startswith("amount: ")


@pytest.mark.parametrize("stem", MONEY_FILES)
def test_lowercase_currency_is_rejected(stem: str) -> None:
    data = example(stem)
    data["currency"] = "inr"
    assert violations(TYPE_OF[stem], data) == ["currency: 'inr' does not match '^[A-Z]{3}$'"]


@pytest.mark.parametrize("stem", DATA_FILES)
def test_unknown_top_level_field_is_rejected(stem: str) -> None:
    data = example(stem)
    data["amonut"] = "1.00"
    assert violations(TYPE_OF[stem], data) == [
        "amonut: is not allowed here (unknown property: a typo?)"
    ]


@pytest.mark.parametrize("stem", DATA_FILES)
def test_each_missing_required_field_is_named(stem: str) -> None:
    required = schemas.load_schema(stem)["required"]
    for name in required:
        data = example(stem)
        del data[name]
        assert violations(TYPE_OF[stem], data) == [f"{name}: is required"]


def test_every_error_is_listed_with_its_path() -> None:
    data = example("payment")
    del data["payment_id"]
    data["amount"] = 10
    data["customer"]["email"] = "not-an-address"
    data["customer"]["nickname"] = "x"
    data["reference"]["rrn"] = 431512873406
    data["created_at"] = "2024-11-15 07:05"
    errors = violations("payment.captured", data)
    assert sorted(errors) == sorted(
        [
            "payment_id: is required",
            "amount: 10 is not of type 'string'",
            "customer.email: 'not-an-address' is not a 'email'",
            "customer.nickname: is not allowed here (unknown property: a typo?)",
            "reference.rrn: 431512873406 is not of type 'string', 'null'",
            "created_at: '2024-11-15 07:05' is not a 'date-time'",
        ]
    )
    text = str(SchemaViolation("payment.captured", errors))
    assert text.startswith("payment.captured data does not fit its schema: ")


def test_array_paths_use_indexes() -> None:
    data = example("email")
    data["attachments"][0]["size"] = -1
    data["to"].append({"name": None})
    assert sorted(violations("email.received", data)) == [
        "attachments[0].size: -1 is less than the minimum of 0",
        "to[1].address: is required",
    ]


def test_not_an_object_is_reported_at_the_root() -> None:
    assert violations("payment.captured", [])  # type: ignore[arg-type]
    assert violations("payment.captured", [])[0] == "(root): [] is not of type 'object'"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    ["2024-11-15", "2024-13-01T00:00:00Z", "2024-11-15T07:05:10", "20241115T070510Z", "yesterday"],
)
def test_date_time_format_is_enforced(value: str) -> None:
    data = example("payment")
    data["created_at"] = value
    assert violations("payment.captured", data) == [f"created_at: {value!r} is not a 'date-time'"]


@pytest.mark.parametrize(
    "value",
    ["2024-11-15T07:05:10Z", "2024-11-15T12:35:10.123456+05:30", "2024-02-29T00:00:00+00:00"],
)
def test_rfc3339_times_pass(value: str) -> None:
    data = example("payment")
    data["created_at"] = value
    validate_data("payment.captured", data)


def test_date_format_is_enforced() -> None:
    data = example("bank_transaction")
    data["booked_on"] = "2024-02-30"
    data["value_date"] = "15/11/2024"
    assert sorted(violations("bank.transaction.posted", data)) == [
        "booked_on: '2024-02-30' is not a 'date'",
        "value_date: '15/11/2024' is not a 'date'",
    ]


def test_nullable_fields_accept_null_and_free_form_maps_accept_scalars() -> None:
    data = example("payment")
    data.update(order_id=None, fee=None, tax=None, error=None, description=None)
    data["customer"] = {"name": None, "email": None, "phone": None}
    data["notes"] = {"a": "x", "b": 1, "c": 1.5, "d": True, "e": None}
    validate_data("payment.authorized", data)
    data["notes"] = {"nested": {"x": 1}}
    assert violations("payment.authorized", data) == [
        "notes.nested: {'x': 1} is not of type 'string', 'number', 'boolean', 'null'"
    ]


def test_status_and_method_enums() -> None:
    data = example("payment")
    data["status"] = "refunded"
    data["method"] = "crypto"
    errors = violations("payment.captured", data)
    assert len(errors) == 2
    assert errors[0].startswith("method: 'crypto' is not one of")


def test_message_sender_phone_cannot_be_null() -> None:
    data = example("message")
    data["from"]["phone"] = None
    assert violations("message.received", data) == ["from.phone: None is not of type 'string'"]


def test_unknown_event_type_is_a_violation() -> None:
    errors = violations("payment.refunded", {})
    assert len(errors) == 1
    assert errors[0].startswith("no schema for event type 'payment.refunded' (known: ")


def test_event_types_and_schema_for() -> None:
    types = schemas.event_types()
    assert types == sorted(types)
    assert set(types) == {
        "payment.authorized",
        "payment.captured",
        "payment.failed",
        "refund.processed",
        "refund.failed",
        "settlement.processed",
        "message.received",
        "message.status",
        "bank.transaction.posted",
        "email.received",
    }
    for event_type in types:
        doc = schemas.schema_for(event_type)
        assert doc["$id"] == schemas.schema_uri(event_type)
        assert event_type in doc["description"]
    with pytest.raises(KeyError):
        schemas.schema_for("payment.refunded")
    with pytest.raises(KeyError):
        schemas.load_schema("../pyproject")


def test_schema_for_returns_a_copy() -> None:
    schemas.schema_for("payment.captured")["properties"].clear()
    validate_data("payment.captured", example("payment"))
    assert schemas.schema_for("payment.captured")["properties"]


def test_schema_uri_maps_types_to_files() -> None:
    assert schemas.schema_uri("payment.failed") == "https://hub.dev/schemas/payment.json"
    assert schemas.schema_uri("message.status") == "https://hub.dev/schemas/message_status.json"
    assert schemas.schema_uri("event") == "https://hub.dev/schemas/event.json"


def test_files_use_the_shared_definitions() -> None:
    text = json.dumps(schemas.load_schema("payment"))
    assert '"$ref": "common.json#/$defs/money' not in text  # payments are never negative
    assert '"$ref": "common.json#/$defs/amount"' in text
    assert '"$ref": "common.json#/$defs/currency"' in text


def _event() -> Event:
    return Event.create(
        type="payment.captured",
        subject="pay_P4tYk8mZq2LwXa",
        idempotency_key="payment.captured:pay_P4tYk8mZq2LwXa",
        time=datetime(2024, 11, 15, 7, 5, 18, tzinfo=UTC),
        data=example("payment"),
        raw={"entity": "event"},
    ).bind("razorpay-main", "razorpay")


def test_event_json_validates_event_to_dict() -> None:
    event = _event()
    assert event.dataschema == "https://hub.dev/schemas/payment.json"
    schemas.validate_event(event.to_dict())
    schemas.validate_event(event.to_dict(include_raw=False))
    schemas.validate_event(json.loads(json.dumps(event.to_dict())))


def test_event_json_lists_every_to_dict_attribute() -> None:
    """event.json is the documented form of Event.to_dict: a new attribute must be added there."""
    assert set(_event().to_dict()) == set(schemas.load_schema("event")["properties"])


def test_event_json_rejects_a_bad_envelope() -> None:
    doc = _event().to_dict()
    doc["idempotency_key"] = doc.pop("idempotencykey")
    doc["time"] = "yesterday"
    with pytest.raises(SchemaViolation) as info:
        schemas.validate_event(doc)
    assert sorted(info.value.errors) == [
        "(root): 'idempotency_key' does not match '^[a-z0-9]{1,20}$'",
        "idempotencykey: is required",
        "time: 'yesterday' is not a 'date-time'",
    ]


def test_event_json_checks_data_by_type() -> None:
    doc = _event().to_dict()
    doc["data"]["amount"] = 1499
    with pytest.raises(SchemaViolation) as info:
        schemas.validate_event(doc)
    assert info.value.errors == ["amount: 1499 is not of type 'string'"]


def test_event_create_checks_data() -> None:
    with pytest.raises(SchemaViolation):
        Event.create(type="payment.captured", subject="x", idempotency_key="k", data={})
