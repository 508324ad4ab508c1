"""Hostile and careless input to the API: every answer is a documented error, never a 500.

Each test here failed before the fix it pins: an undocumented 422, lifetimes,
times and cursors that overflowed into 500s, cacheable answers, and a body
over the limit reported as a 500.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from hub.api import ROUTES
from tests.api.conftest import Api, make_api


def _cursor(at: str, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, key]).encode()).decode().rstrip("=")


async def test_every_error_answered_is_documented(api: Api) -> None:
    """Unknown query parameters, unknown ids and wrong roles: each status is in the document."""
    doc = await api.ok("GET", "/openapi.json")
    for route in ROUTES:
        path = re.sub(r"\{[^}]+\}", "no-such-thing", route.path)
        operation = doc["paths"][route.full_path][route.method.lower()]
        for role, params in (("admin", {"bogus": "1"}), ("admin", None), ("viewer", None)):
            reply = await api.call(route.method, path, role, params=params, json={})
            if 200 <= reply.status < 300:
                continue
            where = f"{route.method} {path} as {role} {params or ''}"
            assert reply.status != 500, (where, reply.text)
            assert str(reply.status) in operation["responses"], (where, reply.status)
            assert reply.body["error"]["code"], where


async def test_empty_bodies_are_optional_only_where_every_field_has_a_default(api: Api) -> None:
    doc = await api.ok("GET", "/openapi.json")
    replay = doc["paths"]["/api/v1/deliveries/{id}/replay"]["post"]["requestBody"]
    assert replay["required"] is False  # ReplayIn: from_start defaults to false
    tokens = doc["paths"]["/api/v1/tokens"]["post"]["requestBody"]
    assert tokens["required"] is True
    assert "default" in doc["paths"]["/api/v1/me"]["get"]["responses"]


async def test_out_of_range_times_lifetimes_and_cursors_are_422(api: Api) -> None:
    for path in ("/events", "/deliveries"):
        for since in ("99999999999d", "0001-01-01T00:00+05:00"):
            reply = await api.get(path, params={"since": since})
            assert reply.status == 422, (path, since, reply.text)
            assert reply.body["error"]["details"][0]["loc"] == "query.since"
    replay = await api.post("/deliveries/replay", json={"since": "99999999999d"})
    assert replay.status == 422 and replay.body["error"]["details"][0]["loc"] == "body.since"
    token = await api.post(
        "/tokens", json={"name": "t", "role": "viewer", "expires_in": "9999999w"}
    )
    assert token.status == 422, token.text
    assert token.body["error"]["details"] == [
        {"loc": "body.expires_in", "message": token.body["error"]["details"][0]["message"]}
    ]
    assert "year 9999" in token.body["error"]["details"][0]["message"]
    huge = _cursor("2020-01-01T00:00:00+00:00", "9" * 30)
    audit = await api.get("/audit", params={"cursor": huge})
    assert audit.status == 422 and audit.body["error"]["details"][0]["loc"] == "query.cursor"


async def test_answers_are_never_cached(api: Api) -> None:
    assert (await api.get("/me")).headers["Cache-Control"] == "no-store"
    assert (await api.get("/me", role=None)).headers["Cache-Control"] == "no-store"  # the 401
    assert (await api.get("/nope")).headers["Cache-Control"] == "no-store"


async def test_a_body_over_the_limit_is_413_not_500(running_hub: Any, http: Any) -> None:
    api = await make_api(await running_hub(body_limit=4096), http)
    reply = await api.call(
        "PUT",
        "/connections/books",
        json={"connector": "zoho_books", "config": {"organization_id": "x" * 5000}},
    )
    assert reply.status == 413, reply.text[:300]
    assert reply.body["error"]["code"] == "too_large"


async def test_a_bulk_replay_needs_a_condition_whoever_asks(api: Api) -> None:
    """The rule lives in Ops: a page cursor alone is not a condition either."""
    from hub.auth import CLI_PRINCIPAL
    from hub.errors import ConfigError
    from hub.ops import OPS
    from hub.store import DeliveryFilter

    reply = await api.post("/deliveries/replay", "ops", json={"from_start": True})
    assert reply.status == 422 and "at least one" in reply.body["error"]["message"]
    ops = api.running.runner.app[OPS]
    try:
        await ops.start_bulk_replay(CLI_PRINCIPAL, DeliveryFilter(before=_cursor("2020", "x")))
    except ConfigError as exc:
        assert "at least one condition" in str(exc)
    else:
        raise AssertionError("an unfiltered bulk replay was started")
