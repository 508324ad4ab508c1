"""The ops commands of ``hub`` (``--json`` output is a contract), against a running hub's store."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from click.testing import CliRunner

from hub.auth import verify_password
from hub.cli import main
from tests.api.conftest import make_api
from tests.helpers import RunningHub, Sandbox, payment_body

BOOKS_400 = {
    "method": "POST",
    "path": "/books/v3/customerpayments",
    "status": 400,
    "body": {"code": 1001, "message": "Invalid value passed for reference_number"},
}


def _hub(running: RunningHub, *args: str, code: int = 0, stdin: str | None = None) -> Any:
    result = CliRunner().invoke(main, ["-c", str(running.config_file), *args], input=stdin)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else result


async def hub_cmd(running: RunningHub, *args: str, code: int = 0, stdin: str | None = None) -> Any:
    """The CLI in a thread: it runs its own event loop, like a second process would."""
    return await asyncio.to_thread(_hub, running, *args, code=code, stdin=stdin)


async def test_tokens_and_users(running_hub: Any, http: aiohttp.ClientSession) -> None:
    running = await running_hub()
    made = await hub_cmd(
        running, "tokens", "create", "ci", "--role", "ops", "--expires", "7d", "--json"
    )
    text = made["token"]
    assert made["info"]["role"] == "ops" and made["info"]["expires_at"]
    async with http.get(
        f"{running.url}/api/v1/me", headers={"Authorization": f"Bearer {text}"}
    ) as resp:
        assert (await resp.json())["name"] == "ci"
    listed = await hub_cmd(running, "tokens", "list", "--json")
    assert [t["name"] for t in listed["tokens"]] == ["ci"] and text not in json.dumps(listed)
    await hub_cmd(running, "tokens", "create", "ci", code=1)  # taken
    await hub_cmd(running, "tokens", "create", "x", "--expires", "soon", code=2)
    await hub_cmd(running, "tokens", "create", "x", "--expires", "999999999w", code=2)
    revoked = await hub_cmd(running, "tokens", "revoke", "ci", "--json")
    assert revoked["status"] == "revoked"
    await hub_cmd(running, "tokens", "revoke", "ci", code=1)
    hashed = await hub_cmd(
        running, "users", "hash-password", "--password-stdin", "--json", stdin="pw-123\n"
    )
    assert verify_password("pw-123", hashed["password_hash"])
    audit = await hub_cmd(running, "audit", "list", "--json")
    assert [e["action"] for e in audit["entries"]] == ["token.revoke", "token.create"]
    assert {e["actor"] for e in audit["entries"]} == {"cli"}


async def test_replay_by_filter_runs_as_a_job_and_by_ids(
    running_hub: Any, http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    running = await running_hub()
    api = await make_api(running, http)
    await sandbox.faults([BOOKS_400] * 3)
    for n in range(3):
        await running.post(payment_body(n + 1))
    await running.wait_for(lambda c: c.get("runs_dead", 0) == 3)

    counted = await hub_cmd(
        running, "deliveries", "replay", "--status", "dead", "--dry-run", "--json"
    )
    assert counted == {"selected": 3, "replayed_runs": 0}
    await hub_cmd(running, "deliveries", "replay", code=2)  # neither ids nor filters
    replayed = await hub_cmd(
        running,
        "deliveries",
        "replay",
        "--status",
        "dead",
        "--recipe",
        running.hub.recipes[0].name or "",
        "--json",
    )
    assert replayed == {"selected": 3, "replayed_runs": 3}
    await running.wait_for(lambda c: c.get("runs_succeeded", 0) == 3)
    jobs = await hub_cmd(running, "jobs", "list", "--json")
    [job] = jobs["jobs"]
    assert (
        job["status"] == "done" and job["done"] == job["total"] == 3 and job["created_by"] == "cli"
    )
    shown = await hub_cmd(running, "jobs", "show", job["id"], "--json")
    assert shown["params"]["filter"]["status"] == "dead"
    await hub_cmd(running, "jobs", "cancel", job["id"], code=1)  # not running any more
    await hub_cmd(running, "jobs", "show", "nope", code=1)

    one = (await api.ok("GET", "/deliveries", params={"limit": "1"}))["items"][0]["id"]
    before = await running.hub.store.get_delivery(one)
    counted = await hub_cmd(running, "deliveries", "replay", one, "nope", "--dry-run", "--json")
    assert counted == {"selected": 1, "replayed_runs": 0}  # a dry run changes nothing
    assert await running.hub.store.get_delivery(one) == before
    again = await hub_cmd(running, "deliveries", "replay", one, "--from-start", "--json")
    assert again == {"selected": 1, "replayed_runs": 1}
    text = await hub_cmd(running, "deliveries", "replay", "--status", "dead")
    assert "replayed 0 run(s) from 0 delivery(ies)" in text.stdout
    actions = [e["action"] for e in (await hub_cmd(running, "audit", "list", "--json"))["entries"]]
    assert actions[:4] == [
        "deliveries.bulk_replay",
        "deliveries.replay",
        "job.cancel",  # refused (not running), but asked for: audited
        "deliveries.bulk_replay",
    ]


async def test_connection_test_and_switches(running_hub: Any) -> None:
    running = await running_hub()
    tested = await hub_cmd(running, "connections", "test", "books", "--json")
    assert tested["ok"] is True and "accepted" in tested["message"]
    shown = await hub_cmd(running, "connections", "disable", "razorpay-main", "--json")
    assert shown["enabled"] is False and shown["config"]["webhook_secret"] == {"set": True}
    await hub_cmd(running, "connections", "pause", "nope", code=1)
    await hub_cmd(running, "recipes", "enable", "nope", code=1)
