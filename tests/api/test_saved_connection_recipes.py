"""Recipes may name connections created through the API or the dashboard, not only hub.yaml's.

Such connections live in the store, so the hub checks the connections its
recipes name once the store is open (``Hub.start``), counting both kinds; the
API, the dashboard and the ``hub`` CLI show recipe problems the same way. A
name that exists nowhere still stops the start, reported like every other
recipe problem (``invalid recipes:`` then ``file:line: path: message``).
"""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from hub.auth import TOKENS, Role
from hub.errors import ConfigError
from tests.api.conftest import make_api
from tests.helpers import Sandbox, fast_recipe, hub_config, payment_body, start_hub
from tests.hub.ops.test_cli_ops import hub_cmd
from tests.web.client import make_token
from tests.web.test_oauth_not_connected import recipe_on

SAVED = "books-api"


async def test_a_recipe_on_a_connection_created_in_the_api_runs_after_a_restart(
    tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    config = hub_config(tmp_path, sandbox.url, [fast_recipe(tmp_path)])
    books = config["connections"]["books"]["config"]
    first = await start_hub(tmp_path, http, config)
    try:
        api = await make_api(first, http)
        await api.ok(
            "PUT", f"/connections/{SAVED}", json={"connector": "zoho_books", "config": books}
        )
    finally:
        await first.stop()

    recipe = recipe_on(tmp_path, SAVED)
    running = await start_hub(tmp_path, http, hub_config(tmp_path, sandbox.url, [recipe]))
    try:
        token = await make_token(running.runner.app[TOKENS], Role.VIEWER, "viewer-2")
        async with http.get(
            f"{running.url}/api/v1/recipes/payments-to-{SAVED}",
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 200, await resp.text()
            view = await resp.json()
        assert view["problems"] == [] and view["enabled"] is True
        assert view["steps"] == [
            f"contact: zoho_books.upsert_contact on {SAVED}",
            f"payment: zoho_books.record_payment on {SAVED}",
        ]
        # The CLI builds its Ops without starting a hub: the stored connection counts there too.
        cli_view = await hub_cmd(running, "recipes", "enable", f"payments-to-{SAVED}", "--json")
        assert cli_view["problems"] == []
        # `hub recipes validate` counts hub.yaml's connections, and the store's with --store.
        checked = await hub_cmd(running, "recipes", "validate", "--store", "--json")
        assert checked["ok"] is True and checked["files"] == [str(recipe)]
        offline = await hub_cmd(running, "recipes", "validate", code=1)
        assert f"unknown connection '{SAVED}'" in offline.output
        assert "add --store to count them" in offline.output

        await running.post(payment_body(1))
        await running.wait_for(lambda c: c.get("runs_succeeded", 0) >= 1)
        assert len(await sandbox.payments()) == 1
    finally:
        await running.stop()


async def test_a_recipe_on_a_connection_that_exists_nowhere_stops_the_start(
    tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    recipe = recipe_on(tmp_path, "books-mian")
    with pytest.raises(ConfigError) as caught:
        await start_hub(tmp_path, http, hub_config(tmp_path, sandbox.url, [recipe]))
    message = str(caught.value)
    assert message.startswith("invalid recipes:\n")
    for index in (0, 1):  # every problem, each with file:line and path
        pattern = (
            rf"\n  {re.escape(str(recipe))}:\d+: steps\[{index}\]\.connection: "
            r"unknown connection 'books-mian' \(did you mean 'books'\?\)"
        )
        assert re.search(pattern, message), message
