"""The API's resources against a real hub: connections, recipes, events, deliveries, tokens, audit."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.conftest import Api
from tests.helpers import Sandbox, payment_body, sign

BOOKS_400 = {
    "method": "POST",
    "path": "/books/v3/customerpayments",
    "status": 400,
    "body": {"code": 1001, "message": "Invalid value passed for reference_number"},
}


async def _actions(api: Api) -> list[str]:
    return [e["action"] for e in (await api.ok("GET", "/audit", params={"limit": "500"}))["items"]]


async def test_connection_saved_through_the_api_is_live_and_secrets_write_only(api: Api) -> None:
    made = await api.ok(
        "PUT",
        "/connections/rzp-api",
        json={"connector": "razorpay", "config": {"webhook_secret": "first-secret"}},
    )
    assert made["origin"] == "dashboard" and made["enabled"] is True
    assert made["config"]["webhook_secret"] == {"set": True}
    assert made["config"]["key_secret"] == {"set": False}
    assert "first-secret" not in str(made)

    body = payment_body(1)
    signed = {"X-Razorpay-Signature": sign(body, "first-secret")}
    assert (await api.running.post(body, "rzp-api", signed)).status == 202  # live, no restart

    # An update without the secret keeps it; a non-secret change is applied.
    kept = await api.ok(
        "PUT",
        "/connections/rzp-api",
        json={"connector": "razorpay", "config": {"api_base_url": "http://127.0.0.1:9"}},
    )
    assert kept["config"]["api_base_url"] == "http://127.0.0.1:9"
    assert kept["config"]["webhook_secret"]["set"]
    body2 = payment_body(2)
    assert (
        await api.running.post(
            body2, "rzp-api", {"X-Razorpay-Signature": sign(body2, "first-secret")}
        )
    ).status == 202

    # A new secret replaces the old one at once.
    await api.ok(
        "PUT",
        "/connections/rzp-api",
        json={"connector": "razorpay", "config": {"webhook_secret": "second-secret"}},
    )
    body3 = payment_body(3)
    assert (
        await api.running.post(
            body3, "rzp-api", {"X-Razorpay-Signature": sign(body3, "first-secret")}
        )
    ).status == 401
    assert (
        await api.running.post(
            body3, "rzp-api", {"X-Razorpay-Signature": sign(body3, "second-secret")}
        )
    ).status == 202
    assert (await _actions(api)).count("connection.update") == 2
    assert "connection.create" in await _actions(api)


async def test_invalid_connection_lists_every_problem(api: Api) -> None:
    reply = await api.call(
        "PUT",
        "/connections/books",
        json={
            "connector": "zoho_books",
            "config": {"timeout": -1, "organization_id": 5, "nope": 1},
        },
    )
    assert reply.status == 422
    assert reply.body["error"]["code"] == "invalid"
    locs = {d["loc"] for d in reply.body["error"]["details"]}
    assert "body.config.nope" in locs
    switched = await api.call("PUT", "/connections/books", json={"connector": "razorpay"})
    assert switched.status == 422 and "cannot change connector" in switched.text
    bad_name = await api.call("PUT", "/connections/has space", json={"connector": "razorpay"})
    assert bad_name.status == 422
    assert (await api.get("/connections/nope")).status == 404
    typo = await api.call("PUT", "/connections/x", json={"connecter": "razorpay"})
    assert typo.status == 422
    assert {d["loc"] for d in typo.body["error"]["details"]} == {"body.connecter", "body.connector"}


async def test_pause_keeps_steps_due_and_resume_runs_them(api: Api) -> None:
    paused = await api.ok("POST", "/connections/books/pause", role="ops")
    assert paused["paused"] is True
    assert (await api.running.post(payment_body(1))).status == 202
    await asyncio.sleep(1.0)
    pending = await api.ok("GET", "/deliveries", params={"status": "pending"})
    assert len(pending["items"]) == 1 and pending["items"][0]["attempts"] == 0
    assert (await api.ok("GET", "/deliveries", params={"status": "succeeded"}))["items"] == []
    resumed = await api.ok("POST", "/connections/books/resume", role="ops")
    assert resumed["paused"] is False
    await api.running.settled(1)
    assert {"connection.pause", "connection.resume"} <= set(await _actions(api))


async def test_disabled_connection_takes_no_webhooks(api: Api) -> None:
    off = await api.ok("POST", "/connections/razorpay-main/disable")
    assert off["enabled"] is False
    assert (await api.running.post(payment_body(1))).status != 202
    on = await api.ok("POST", "/connections/razorpay-main/enable")
    assert on["enabled"] is True
    assert (await api.running.post(payment_body(1))).status == 202


async def test_recipe_switch_and_dry_run(api: Api) -> None:
    name = (await api.ok("GET", "/recipes"))["items"][0]["name"]
    assert (await api.ok("POST", f"/recipes/{name}/disable"))["enabled"] is False
    assert (await api.running.post(payment_body(1))).status == 202
    events = (await api.ok("GET", "/events"))["items"]
    assert len(events) == 1
    assert (await api.ok("GET", "/deliveries"))["items"] == []  # no run: the router skipped it

    dry = await api.ok("POST", f"/recipes/{name}/dry-run", json={"event_id": events[0]["id"]})
    assert dry["matched"] is True and dry["steps"][0]["inputs"]
    assert (await api.ok("GET", "/deliveries"))["items"] == []  # a dry run calls nothing
    missing = await api.post(f"/recipes/{name}/dry-run", json={"event_id": "nope"})
    assert missing.status == 404

    assert (await api.ok("POST", f"/recipes/{name}/enable"))["enabled"] is True
    assert (await api.running.post(payment_body(2))).status == 202
    await api.running.settled(1)
    assert {"recipe.disable", "recipe.enable", "recipe.dry_run"} <= set(await _actions(api))


async def test_events_and_deliveries_search_and_pages(api: Api) -> None:
    for n in range(3):
        await api.running.post(payment_body(n + 1))
    await api.running.settled(3)
    first = await api.ok("GET", "/events", params={"limit": "2"})
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = await api.ok("GET", "/events", params={"limit": "2", "cursor": first["next_cursor"]})
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert "raw" not in first["items"][0] or first["items"][0]["raw"] is None
    one = await api.ok("GET", f"/events/{first['items'][0]['id']}")
    assert one["raw"] and one["data"]["amount"]
    bad = await api.get("/events", params={"cursor": "garbage"})
    assert bad.status == 422 and bad.body["error"]["details"][0]["loc"] == "query.cursor"

    subject = one["subject"]
    by_subject = await api.ok("GET", "/deliveries", params={"subject": subject})
    assert by_subject["items"] and {d["event_id"] for d in by_subject["items"]} == {one["id"]}
    typed = await api.ok("GET", "/deliveries", params={"event_type": "refund.processed"})
    assert typed["items"] == []
    run = await api.ok("GET", f"/runs/{by_subject['items'][0]['run_id']}")
    assert [s["step_id"] for s in run["steps"]] == ["contact", "payment"]
    paged = await api.ok("GET", "/deliveries", params={"limit": "4"})
    rest = await api.ok("GET", "/deliveries", params={"limit": "4", "cursor": paged["next_cursor"]})
    assert len(paged["items"]) + len(rest["items"]) == 6


async def test_failed_delivery_has_a_clear_reason_and_replays(api: Api, sandbox: Sandbox) -> None:
    await sandbox.faults([BOOKS_400])
    await api.running.post(payment_body(1))
    await api.running.wait_for(lambda c: c.get("runs_dead", 0) == 1)
    [dead] = (await api.ok("GET", "/deliveries", params={"status": "dead"}))["items"]
    detail = await api.ok("GET", f"/deliveries/{dead['id']}")
    [attempt] = detail["timeline"]
    assert attempt["status_code"] == 400 and attempt["outcome"] == "permanent"
    assert attempt["reason"]["severity"] == "error"
    assert "reference_number" in (attempt["reason"]["vendor_message"] or "")
    assert attempt["reason"]["advice"]
    assert attempt["request"] and "customerpayments" in attempt["request"]

    preview = await api.ok(
        "POST", "/deliveries/replay", role="ops", json={"status": "dead", "preview": True}
    )
    assert preview == {"would_replay": 1, "job": None}
    assert (await api.ok("POST", f"/deliveries/{dead['id']}/replay", role="ops", json={}))[
        "runs"
    ] == 1
    await api.running.settled(1)
    assert (await api.ok("GET", f"/deliveries/{dead['id']}"))["status"] == "succeeded"
    everything = await api.post("/deliveries/replay", role="ops", json={"from_start": True})
    assert everything.status == 422  # no filter: refused


async def test_bulk_replay_job_runs_to_done(api: Api, sandbox: Sandbox) -> None:
    await sandbox.faults([BOOKS_400] * 3)
    for n in range(3):
        await api.running.post(payment_body(n + 1))
    await api.running.wait_for(lambda c: c.get("runs_dead", 0) == 3)
    started = await api.ok("POST", "/deliveries/replay", role="ops", json={"status": "dead"})
    job = started["job"]
    assert started["would_replay"] == 3 and job["total"] == 3 and job["created_by"] == "test-ops"
    for _ in range(100):
        job = await api.ok("GET", f"/jobs/{job['id']}")
        if job["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "done" and job["done"] == 3
    await api.running.wait_for(lambda c: c.get("runs_succeeded", 0) == 3)
    listed = await api.ok("GET", "/jobs")
    assert listed["items"][0]["id"] == job["id"]
    again = await api.post(f"/jobs/{job['id']}/cancel", role="ops")
    assert again.status == 409
    assert "deliveries.bulk_replay" in await _actions(api)


async def test_tokens_lifecycle(api: Api) -> None:
    made = await api.ok("POST", "/tokens", json={"name": "ci", "role": "ops", "expires_in": "30d"})
    text = made["token"]
    assert text.startswith(f"hub_{made['info']['prefix']}_")
    assert made["info"]["expires_at"] and made["info"]["status"] == "active"
    me = await api.call("GET", "/me", None, token=f"Bearer {text}")
    assert me.body == {"name": "ci", "role": "ops", "via": "token"}
    listed = await api.get("/tokens")
    assert text not in listed.text and "ci" in listed.text
    duplicate = await api.post("/tokens", json={"name": "ci", "role": "viewer"})
    assert duplicate.status == 409 and duplicate.body["error"]["code"] == "conflict"
    bad = await api.post("/tokens", json={"name": "", "role": "root", "expires_in": "soon"})
    assert bad.status == 422 and len(bad.body["error"]["details"]) == 3
    revoked = await api.ok("DELETE", f"/tokens/{made['info']['id']}")
    assert revoked["status"] == "revoked"
    after = await api.call("GET", "/me", None, token=f"Bearer {text}")
    assert after.status == 401 and "invalid_token" in after.headers["WWW-Authenticate"]
    assert (await api.call("DELETE", "/tokens/ci")).status == 409
    assert (await api.call("DELETE", "/tokens/nope")).status == 404
    actions = await _actions(api)
    assert {"token.create", "token.revoke"} <= set(actions)


async def test_every_mutating_route_is_audited(api: Api) -> None:
    """Each admin/ops call leaves one audit row naming who did what to which target."""
    await api.running.post(payment_body(1))
    await api.running.settled(1)
    delivery = (await api.ok("GET", "/deliveries"))["items"][0]
    name = (await api.ok("GET", "/recipes"))["items"][0]["name"]
    calls: list[tuple[str, str, str, Any, str]] = [
        (
            "PUT",
            "/connections/books",
            "admin",
            {"connector": "zoho_books", "config": {}},
            "connection.update",
        ),
        ("POST", "/connections/books/disable", "admin", None, "connection.disable"),
        ("POST", "/connections/books/enable", "admin", None, "connection.enable"),
        ("POST", "/connections/books/test", "admin", None, "connection.test"),
        ("POST", "/connections/books/pause", "ops", None, "connection.pause"),
        ("POST", "/connections/books/resume", "ops", None, "connection.resume"),
        ("POST", f"/recipes/{name}/disable", "admin", None, "recipe.disable"),
        ("POST", f"/recipes/{name}/enable", "admin", None, "recipe.enable"),
        (
            "POST",
            f"/recipes/{name}/dry-run",
            "admin",
            {"event_id": delivery["event_id"]},
            "recipe.dry_run",
        ),
        ("POST", f"/deliveries/{delivery['id']}/replay", "ops", {}, "deliveries.replay"),
        ("POST", "/deliveries/replay", "ops", {"status": "dead"}, "deliveries.bulk_replay"),
        ("POST", "/tokens", "admin", {"name": "audited", "role": "viewer"}, "token.create"),
        ("DELETE", "/tokens/audited", "admin", None, "token.revoke"),
    ]
    for method, path, role, body, action in calls:
        await api.ok(method, path, role, json=body)
        [latest] = (await api.ok("GET", "/audit", params={"limit": "1"}))["items"]
        assert latest["action"] == action, (method, path)
        assert latest["actor"] == f"test-{role}" and latest["role"] == role
    only = await api.ok("GET", "/audit", params={"action": "connection.pause"})
    assert [e["action"] for e in only["items"]] == ["connection.pause"]
    assert (await api.get("/audit", role="ops")).status == 403
