"""No response anywhere, and no log line, contains a secret.

Connections are configured with known secrets (hub.yaml's webhook secret,
OAuth client secret and refresh token, and a connection saved through the
API with secrets of its own), traffic is driven (a delivered payment, a
failed delivery, a connection test with a real token exchange), then every
readable API route and dashboard page is fetched as admin and every body,
and everything logged, is searched for the secret strings.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp
import pytest

from hub.api import ROUTES
from tests.api.conftest import make_api
from tests.api.test_matrix import _dashboard_routes, _declared_role, _login
from tests.helpers import SECRET, Sandbox, payment_body

BOOKS_400 = {
    "method": "POST",
    "path": "/books/v3/customerpayments",
    "status": 400,
    "body": {"code": 1001, "message": "Invalid value passed for reference_number"},
}
SAVED_SECRETS = {
    "webhook_secret": "whsec_saved_7Qx2LmN4",
    "key_secret": "rzp_keysecret_Zz91Ab",
}


async def test_no_secret_in_any_response_or_log(
    running_hub: Any,
    http: aiohttp.ClientSession,
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    running = await running_hub()
    api = await make_api(running, http)
    saved = await api.ok(
        "PUT",
        "/connections/razorpay-saved",
        # No key_id: its poller stays off (tests never call out of 127.0.0.1).
        json={
            "connector": "razorpay",
            "config": {**SAVED_SECRETS, "api_base_url": sandbox.url},
        },
    )
    assert saved["config"]["webhook_secret"] == {"set": True}
    await running.post(payment_body(1))
    await running.settled(1)
    await sandbox.faults([BOOKS_400])
    await running.post(payment_body(2))
    await running.wait_for(lambda c: c.get("runs_dead", 0) >= 1)
    assert (await api.ok("POST", "/connections/books/test"))["ok"] is True
    new_token = await api.ok("POST", "/tokens", json={"name": "leak-check", "role": "viewer"})

    books = running.hub.connections.get("books")
    assert books is not None and books.session is not None
    access_token = books.session.oauth._token  # type: ignore[attr-defined]
    assert access_token, "the traffic above must have minted an access token"
    secrets = {
        "razorpay webhook secret": SECRET,
        "books client secret": "sandbox-secret",
        "books refresh token": "1000.sandbox.refresh",
        "books access token": access_token,
        "new API token": new_token["token"],
        **{f"saved {k}": v for k, v in SAVED_SECRETS.items()},
        **{f"{role} API token": text for role, text in api.tokens.items()},
    }
    bodies: dict[str, str] = {}
    ids = await _ids(api)
    for route in ROUTES:
        if route.method != "GET":
            continue
        for path in _paths(route.path, ids):
            reply = await api.get(path)
            assert reply.status == 200, (path, reply.text)
            bodies[f"GET /api/v1{path}"] = reply.text
    for status in ("dead", "succeeded"):
        reply = await api.get("/deliveries", params={"status": status})
        for item in reply.body["items"]:
            bodies[f"delivery {item['id']}"] = (await api.get(f"/deliveries/{item['id']}")).text

    session = await _login(running.url, api.tokens["admin"])
    try:
        for method, template, handler in _dashboard_routes(running.runner.app):
            if method != "GET" or _declared_role(handler) is None:
                continue
            for path in _paths(template, ids):
                async with session.get(running.url + path) as resp:
                    bodies[f"page {path}"] = await resp.text()
    finally:
        await session.close()

    assert len(bodies) > 40
    # Positive controls: the search sees configs, attempt excerpts and the log.
    everything = "\n".join(bodies.values())
    assert "60012345678" in everything  # books' organization_id (not a secret)
    assert "Invalid value passed for reference_number" in everything  # the failed attempt
    assert "customerpayments" in everything  # attempt request excerpts
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.__dict__}" for r in caplog.records)
    assert len(caplog.records) > 5
    for what, secret in secrets.items():
        for where, text in bodies.items():
            assert secret not in text, f"{what} leaked in {where}"
        assert secret not in logged, f"{what} leaked in the log"


async def _ids(api: Any) -> dict[str, list[str]]:
    deliveries = (await api.ok("GET", "/deliveries"))["items"]
    jobs = (await api.ok("POST", "/deliveries/replay", json={"status": "skipped"}))["job"]
    return {
        "connections": [c["name"] for c in (await api.ok("GET", "/connections"))["items"]],
        "connectors": ["zoho_books", "razorpay"],
        "recipes": [r["name"] for r in (await api.ok("GET", "/recipes"))["items"]],
        "events": sorted({d["event_id"] for d in deliveries}),
        "runs": sorted({d["run_id"] for d in deliveries}),
        "deliveries": [d["id"] for d in deliveries],
        "jobs": [jobs["id"]],
        "tokens": [],
    }


def _paths(template: str, ids: dict[str, list[str]]) -> list[str]:
    if "{" not in template:
        return [template]
    values = ids.get(template.split("/")[1], [])
    return [re.sub(r"\{[^}]+\}", v, template) for v in values]
