"""A Zoho connection created in the API with no refresh token: saved, shown "not connected",
its steps refused with what to do, then connected with the Connect button and delivering.

The refresh token is what the Connect button obtains, so a new Zoho or
Salesforce connection must be savable without one. Until it is connected, the
API, the dashboard, ``hub connections list`` and "test connection" say "not
connected: press Connect"; a step against it fails once with an ``AuthError``
saying the same (dead-lettered, the connection flagged, never retried); after
Connect the next delivery goes through.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from hub.auth import TOKENS, Role
from hub.ops import OPS
from hub.store import DeliveryFilter
from tests.api.conftest import Api, make_api
from tests.helpers import (
    RunningHub,
    Sandbox,
    fast_recipe,
    hub_config,
    payment_body,
    start_hub,
)
from tests.hub.ops.test_cli_ops import hub_cmd
from tests.web.client import Browser, make_token
from tests.web.test_oauth import Flow

NEW = "books-new"
NOT_CONNECTED = "not connected: press Connect"


def recipe_on(tmp: Path, connection: str) -> Path:
    """The Razorpay-to-Books recipe, every step on ``connection``, fast retries."""
    doc = yaml.safe_load(fast_recipe(tmp).read_text())
    doc["name"] = f"payments-to-{connection}"
    for step in doc["steps"]:
        step["connection"] = connection
    out = tmp / f"payments-to-{connection}.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def books_values(sandbox: Sandbox) -> dict[str, Any]:
    """A Books connection to the sandbox as an admin fills it in: no refresh token."""
    values = dict(hub_config(Path("."), sandbox.url, [])["connections"]["books"]["config"])
    del values["refresh_token"]
    return values


async def _create_unconnected(api: Api, sandbox: Sandbox) -> None:
    view = await api.ok(
        "PUT",
        f"/connections/{NEW}",
        json={"connector": "zoho_books", "config": books_values(sandbox)},
    )
    assert view["origin"] == "dashboard" and view["oauth"] is True
    assert view["config"]["refresh_token"] == {"set": False}
    assert view["needs_reauth"] is True and view["reauth_reason"].startswith(NOT_CONNECTED)
    listed = {c["name"]: c for c in (await api.ok("GET", "/connections"))["items"]}
    assert listed[NEW]["needs_reauth"] and NOT_CONNECTED in listed[NEW]["reauth_reason"]
    assert not listed["books"]["needs_reauth"]  # hub.yaml's Books has its refresh token
    tested = await api.ok("POST", f"/connections/{NEW}/test")
    assert tested["ok"] is False and NOT_CONNECTED in tested["message"]
    assert "dashboard" in tested["message"]


async def test_saved_without_refresh_token_then_connected_then_delivering(
    tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    first = await start_hub(
        tmp_path, http, hub_config(tmp_path, sandbox.url, [fast_recipe(tmp_path)])
    )
    try:
        await _create_unconnected(await make_api(first, http), sandbox)
    finally:
        await first.stop()

    # A recipe on the new connection; the hub starts with it (the connection is in the store).
    running = await start_hub(
        tmp_path, http, hub_config(tmp_path, sandbox.url, [recipe_on(tmp_path, NEW)])
    )
    admin = Browser(running.url)
    try:
        await admin.login(await make_token(running.runner.app[TOKENS], Role.ADMIN, "admin-2"))
        await _shown_not_connected(running, admin)

        # A delivery before Connect: one attempt, an AuthError saying what to do, dead, flagged.
        await running.post(payment_body(1))
        await running.wait_for(lambda c: c.get("runs_dead", 0) >= 1)
        rows, _ = await running.hub.store.list_deliveries(DeliveryFilter(status="dead"))
        step = rows[0][0]
        assert step.attempts == 1 and NOT_CONNECTED in (step.last_error or "")
        assert "dashboard" in (step.last_error or "")
        await _flagged(running)
        assert await sandbox.payments() == []

        # Connect through the sandbox's consent page, then the next delivery goes through.
        flow = Flow(running, sandbox, admin, {})
        callback = await flow.consent(await flow.start(name=NEW), "accept")
        page = await admin.get(callback.removeprefix(running.url))
        assert page.status == 200 and f"Connected {NEW} with Zoho" in page.text, page.text[:500]
        view = await running.runner.app[OPS].connection(NEW)
        assert view is not None and not view.needs_reauth and view.reauth_reason is None
        assert view.config["refresh_token"] == {"set": True}
        await running.post(payment_body(2))
        await running.wait_for(lambda c: c.get("runs_succeeded", 0) >= 1)
        assert len(await sandbox.payments()) == 1
        listed = await hub_cmd(running, "connections", "list", "--json")
        assert not {c["name"]: c for c in listed["connections"]}[NEW]["needs_reauth"]
    finally:
        await admin.close()
        await running.stop()


async def _shown_not_connected(running: RunningHub, admin: Browser) -> None:
    """The dashboard and ``hub connections list`` say it is not connected yet."""
    page = await admin.get("/connections")
    assert page.status == 200 and "not connected" in page.text
    page = await admin.get(f"/connections/{NEW}")
    assert page.status == 200 and NOT_CONNECTED in page.text and "Connect with" in page.text
    listed = await hub_cmd(running, "connections", "list", "--json")
    docs = {c["name"]: c for c in listed["connections"]}
    assert docs[NEW]["origin"] == "dashboard" and docs[NEW]["connector"] == "zoho_books"
    assert docs[NEW]["needs_reauth"] and docs[NEW]["reauth_reason"].startswith(NOT_CONNECTED)
    assert not docs["books"]["needs_reauth"]
    text = await hub_cmd(running, "connections", "list")
    assert NEW in text.output and "not connected" in text.output


async def _flagged(running: RunningHub) -> None:
    """The runner flagged the connection (state), besides the view's own "not connected"."""
    for _ in range(100):
        row = await running.hub.store.get_connection(NEW)
        if row is not None and row.state.get("needs_reauth"):
            assert NOT_CONNECTED in str(row.state.get("reauth_reason"))
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the not-connected step did not flag the connection")
