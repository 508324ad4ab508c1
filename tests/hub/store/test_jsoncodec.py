"""hub.store.jsoncodec: orjson's speed, json's range, the same values read back."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from hub.store import jsoncodec


@pytest.mark.parametrize(
    "value",
    [
        {"amount": "1499.00", "notes": {"shop": "A-1"}, "n": 3, "ok": True, "none": None},
        {"name": "Ananya Rāo €", "list": [1, 2.5, "x", [], {}]},
        [1, "two", None],
        "plain",
    ],
)
def test_round_trip(value: Any) -> None:
    assert json.loads(jsoncodec.dumps(value)) == value


def test_what_orjson_refuses_is_written_by_json() -> None:
    big = {"id": 2**80}
    assert jsoncodec.dumps(big) == json.dumps(big)
    int_keys = {1: "a", 2: "b"}
    assert jsoncodec.dumps(int_keys) == json.dumps(int_keys)
    assert json.loads(jsoncodec.dumps(int_keys)) == {"1": "a", "2": "b"}


def test_non_finite_floats_become_null() -> None:
    assert json.loads(jsoncodec.dumps({"x": float("nan"), "y": float("inf")})) == {
        "x": None,
        "y": None,
    }


def test_what_neither_can_write_still_raises() -> None:
    with pytest.raises(TypeError):
        jsoncodec.dumps({"amount": Decimal("1.00")})
