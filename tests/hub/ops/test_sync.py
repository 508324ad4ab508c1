"""Ops changes survive restarts and reach a running hub from another process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from click.testing import CliRunner

from hub.cli import main
from tests.api.conftest import Api, make_api
from tests.helpers import SECRET, payment_body, sign


async def test_changes_survive_a_restart_and_win_over_hub_yaml(
    running_hub: Any, http: aiohttp.ClientSession
) -> None:
    first = await running_hub()
    api = await make_api(first, http)
    rotated = await api.ok(
        "PUT",
        "/connections/razorpay-main",
        json={"connector": "razorpay", "config": {"webhook_secret": "rotated-secret"}},
    )
    assert rotated["origin"] == "dashboard"
    recipe = (await api.ok("GET", "/recipes"))["items"][0]["name"]
    await api.ok("POST", f"/recipes/{recipe}/disable")
    await api.ok("POST", "/connections/books/pause", role="ops")
    await api.ok("POST", "/connections/books/disable")
    await first.stop()

    second = await running_hub()  # same folder, same store; hub.yaml still has the old secret
    api2 = Api(second, http, api.tokens, [])
    body = payment_body(1)
    assert (await second.post(body)).status == 401  # hub.yaml's secret lost to the saved one
    assert (
        await second.post(body, headers={"X-Razorpay-Signature": sign(body, "rotated-secret")})
    ).status == 202
    books = await api2.ok("GET", "/connections/books")
    assert books["paused"] is True and books["enabled"] is False and books["origin"] == "file"
    assert second.hub.dispatcher is not None and "books" in second.hub.dispatcher.paused
    assert (await api2.ok("GET", f"/recipes/{recipe}"))["enabled"] is False
    assert (await api2.ok("GET", "/deliveries"))["items"] == []  # disabled recipe: no run
    assert SECRET not in str(await api2.ok("GET", "/connections/razorpay-main"))


async def test_a_change_from_the_cli_reaches_the_running_hub(
    running_hub: Any, http: aiohttp.ClientSession
) -> None:
    running = await running_hub()
    api = await make_api(running, http)
    dispatcher = running.hub.dispatcher
    assert dispatcher is not None and "books" not in dispatcher.paused

    def cli(*args: str) -> Any:
        result = CliRunner().invoke(main, ["-c", str(running.config_file), *args])
        assert result.exit_code == 0, result.output
        return result

    recipe = (await api.ok("GET", "/recipes"))["items"][0]["name"]
    await asyncio.to_thread(cli, "connections", "pause", "books", "--json")
    await asyncio.to_thread(cli, "recipes", "disable", recipe)
    await _eventually(lambda: "books" in dispatcher.paused and not running.hub.recipes[0].enabled)
    assert (await running.post(payment_body(1))).status == 202
    assert (await api.ok("GET", "/deliveries"))["items"] == []  # the recipe is off
    await asyncio.to_thread(cli, "recipes", "enable", recipe)
    await asyncio.to_thread(cli, "connections", "resume", "books")
    await _eventually(lambda: "books" not in dispatcher.paused and running.hub.recipes[0].enabled)
    assert (await running.post(payment_body(2))).status == 202
    await running.settled(1)
    audit = (await api.ok("GET", "/audit", params={"limit": "100"}))["items"]
    assert {e["actor"] for e in audit} == {"cli"}
    assert [e["action"] for e in audit][::-1] == [
        "connection.pause",
        "recipe.disable",
        "recipe.enable",
        "connection.resume",
    ]


async def _eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the running hub did not apply the stored change"
        await asyncio.sleep(0.05)
