"""The Connect button end to end: a real hub, the real dashboard session, the vendor sandboxes over HTTP.

The Books connection starts with a refresh token Zoho no longer accepts, so
its first delivery dead-letters and flags it for re-authorization. An admin
then connects it: start → the sandbox's consent page → Accept → the hub's
callback swaps the code. The new refresh token must be stored sealed (no
plaintext anywhere in the store, the audit log or the logs), the flag
cleared, and the next delivery must go through with it. Deny, a replayed
callback, another user's callback and a refused redirect URI each end on a
clear page with nothing changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from connectors.salesforce.sandbox import SandboxState as SalesforceState
from connectors.salesforce.sandbox import create_sandbox_app as salesforce_app
from hub.auth import CLI_PRINCIPAL, TOKENS, Role
from hub.ops import OPS
from hub.sandbox import serve
from hub.store.tables import audit_log, connections
from tests.connectors.zoho_books.test_oauth_sandbox import consent_form
from tests.helpers import RunningHub, Sandbox, fast_recipe, hub_config, payment_body, start_hub
from tests.web.client import Browser, make_token

# A refresh token as the Books sandbox mints them (client IDs also start with 1000.).
MINTED = re.compile(r"1000\.[0-9a-f]{32}\.[0-9a-f]{32}")
OLD_TOKEN = "1000.revoked.long.ago"


@dataclass
class Flow:
    hub: RunningHub
    sandbox: Sandbox
    admin: Browser
    tokens: dict[Role, str]

    async def start(self, browser: Browser | None = None, name: str = "books") -> str:
        """Press Connect: the vendor URL the hub redirects to."""
        b = browser or self.admin
        async with b.http.get(
            f"{self.hub.url}/connections/{name}/oauth/start", allow_redirects=False
        ) as resp:
            assert resp.status == 302, await resp.text()
            return resp.headers["Location"]

    async def consent(self, authorize: str, decision: str, browser: Browser | None = None) -> str:
        """Answer the vendor's consent page: the callback URL it sends the browser to."""
        b = browser or self.admin
        async with b.http.get(authorize) as resp:
            assert resp.status == 200, await resp.text()
            action, fields = consent_form(str(resp.url), await resp.text())
        async with b.http.post(
            action, data={**fields, "decision": decision}, allow_redirects=False
        ) as resp:
            assert resp.status == 302
            return resp.headers["Location"]

    async def stored_row(self, name: str = "books") -> dict[str, Any]:
        """The connection's row in the store, as the database has it."""
        query = sa.select(connections).where(connections.c.name == name)
        store: Any = self.hub.hub.store
        row: dict[str, Any] = await store.run_read(
            lambda c: dict(c.execute(query).mappings().one())
        )
        return row

    async def stored_config(self, name: str = "books") -> dict[str, Any]:
        config = (await self.stored_row(name))["config"]
        return config if isinstance(config, dict) else json.loads(config)

    async def reauth_flag(self, name: str = "books") -> bool:
        view = await self.hub.runner.app[OPS].connection(name)
        assert view is not None
        return view.needs_reauth


@pytest.fixture
async def flow(
    running_hub: Callable[..., Awaitable[RunningHub]], sandbox: Sandbox
) -> AsyncIterator[Flow]:
    hub = await running_hub(books={"refresh_token": OLD_TOKEN})
    service = hub.runner.app[TOKENS]
    tokens = {role: await make_token(service, role) for role in Role}
    admin = Browser(hub.url)
    await admin.login(tokens[Role.ADMIN])
    yield Flow(hub, sandbox, admin, tokens)
    await admin.close()


async def _dead_first_delivery(flow: Flow) -> None:
    await flow.hub.post(payment_body(1))
    await flow.hub.wait_for(lambda c: c.get("runs_dead", 0) >= 1)
    for _ in range(100):
        if await flow.reauth_flag():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the refused refresh token did not flag the connection")


async def test_connect_stores_the_refresh_token_sealed_and_deliveries_use_it(
    flow: Flow, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await _dead_first_delivery(flow)

    authorize = await flow.start()
    q = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert authorize.startswith(f"{flow.sandbox.url}/oauth/v2/auth?")
    assert q["redirect_uri"] == f"{flow.hub.url}/oauth/callback"
    assert q["access_type"] == "offline" and q["prompt"] == "consent"
    assert "ZohoBooks.customerpayments.CREATE" in q["scope"].split(",")
    assert "sandbox-secret" not in authorize

    callback = await flow.consent(authorize, "accept")
    assert callback.startswith(f"{flow.hub.url}/oauth/callback?")
    page = await flow.admin.get(callback.removeprefix(flow.hub.url))
    assert page.status == 200 and page.url.endswith("/connections/books"), page.text[:500]
    assert "Connected books with Zoho" in page.text

    # Sealed in the store; no plaintext refresh token in the row, the audit log or the logs.
    row = await flow.stored_row()
    sealed = (await flow.stored_config())["refresh_token"]
    assert isinstance(sealed, str) and sealed.startswith("enc:v1:")
    assert flow.hub.hub.box is not None
    token = flow.hub.hub.box.open(sealed)
    assert MINTED.fullmatch(token) and token != OLD_TOKEN
    assert token not in str(row) and not MINTED.search(str(row))
    store: Any = flow.hub.hub.store
    entries = await store.run_read(
        lambda c: [dict(r) for r in c.execute(sa.select(audit_log)).mappings()]
    )
    actions = [e["action"] for e in entries]
    assert "connection.oauth_connected" in actions
    assert not MINTED.search(str(entries))
    assert not MINTED.search(caplog.text) and "code=1000." not in caplog.text
    assert token not in page.text

    # Re-authorization is cleared and the next delivery goes through with the new token.
    assert not await flow.reauth_flag()
    await flow.hub.post(payment_body(2))
    await flow.hub.wait_for(lambda c: c.get("runs_succeeded", 0) >= 1)
    assert len(await flow.sandbox.payments()) == 1

    # The same callback again: refused, nothing changes.
    replay = await flow.admin.get(callback.removeprefix(flow.hub.url))
    assert replay.status == 400 and "already used" in replay.text
    assert (await flow.stored_config())["refresh_token"] == sealed


async def test_deny_changes_nothing_and_says_so(flow: Flow) -> None:
    before = await flow.stored_config()
    callback = await flow.consent(await flow.start(), "deny")
    assert "error=access_denied" in callback
    page = await flow.admin.get(callback.removeprefix(flow.hub.url))
    assert page.status == 400
    assert "Access was denied" in page.text and "Nothing was changed" in page.text
    assert await flow.stored_config() == before


async def test_callback_in_another_users_session_is_refused(flow: Flow) -> None:
    callback = await flow.consent(await flow.start(), "accept")
    other_token = await make_token(flow.hub.runner.app[TOKENS], Role.ADMIN, "other-admin")
    other = Browser(flow.hub.url)
    try:
        await other.login(other_token)
        page = await other.get(callback.removeprefix(flow.hub.url))
        assert page.status == 403 and "another user" in page.text
    finally:
        await other.close()
    # The state is spent: the right browser cannot use it afterwards either.
    page = await flow.admin.get(callback.removeprefix(flow.hub.url))
    assert page.status == 400 and "already used" in page.text


async def test_only_admins_may_connect(flow: Flow) -> None:
    ops = Browser(flow.hub.url)
    try:
        await ops.login(flow.tokens[Role.OPS])
        page = await ops.get("/connections/books/oauth/start", allow_redirects=False)
        assert page.status == 403 and "admin" in page.text
    finally:
        await ops.close()
    anonymous = Browser(flow.hub.url)
    try:
        page = await anonymous.get("/connections/books/oauth/start", allow_redirects=False)
        assert page.status == 303 and page.headers["Location"].startswith("/login")
    finally:
        await anonymous.close()
    missing = await flow.admin.get("/connections/nope/oauth/start", allow_redirects=False)
    assert missing.status == 404
    webhook_only = await flow.admin.get(
        "/connections/razorpay-main/oauth/start", allow_redirects=False
    )
    assert webhook_only.status == 400 and "no Connect flow" in webhook_only.text
    bare = await flow.admin.get("/oauth/callback")
    assert bare.status == 400 and "no state" in bare.text


async def test_vendor_refusing_the_redirect_uri_is_shown(flow: Flow) -> None:
    # At the consent step Zoho shows its own page (it never redirects to an unknown URI).
    await flow.sandbox.settings(redirect_uris=["https://hub.example.com/oauth/callback"])
    async with flow.admin.http.get(await flow.start()) as resp:
        assert resp.status == 400 and "Invalid Redirect Uri" in await resp.text()
    await flow.sandbox.settings(redirect_uris=[])
    # At the code exchange the hub shows Zoho's error and what to do about it.
    callback = await flow.consent(await flow.start(), "accept")
    await flow.sandbox.faults(
        [
            {
                "method": "POST",
                "path": "/oauth/v2/token",
                "status": 200,
                "body": {"error": "invalid_redirect_uri"},
            }
        ]
    )
    page = await flow.admin.get(callback.removeprefix(flow.hub.url))
    assert page.status == 400
    assert f"{flow.hub.url}/oauth/callback" in page.text
    assert "Authorized Redirect URIs" in page.text and "public_url" in page.text
    assert (await flow.stored_config())["refresh_token"] != ""
    assert not await flow.reauth_flag()  # untouched: it was never flagged in this test


async def test_salesforce_connect_uses_pkce_and_the_new_token_refreshes(
    tmp_path: Path, http: Any, sandbox: Sandbox
) -> None:
    state = SalesforceState()
    async with serve(salesforce_app(state)) as sf_url:
        config = hub_config(tmp_path, sandbox.url, [fast_recipe(tmp_path)])
        config["connections"]["sf"] = {
            "connector": "salesforce",
            "config": {
                "login_url": sf_url,
                "client_id": state.client_id,
                "client_secret": state.client_secret,
                "refresh_token": "5Aep861revoked",
                "timeout": 5.0,
            },
        }
        hub = await start_hub(tmp_path, http, config)
        admin = Browser(hub.url)
        try:
            await admin.login(await make_token(hub.runner.app[TOKENS], Role.ADMIN))
            flow = Flow(hub, sandbox, admin, {})
            authorize = await flow.start(name="sf")
            q = parse_qs(urlsplit(authorize).query)
            assert q["code_challenge_method"] == ["S256"] and q["scope"] == ["api refresh_token"]
            callback = await flow.consent(authorize, "accept")
            page = await admin.get(callback.removeprefix(hub.url))
            assert page.status == 200 and "Connected sf with Salesforce" in page.text
            assert hub.hub.box is not None
            token = hub.hub.box.open((await flow.stored_config("sf"))["refresh_token"])
            assert token in state.refresh_tokens and token != "5Aep861revoked"
            result = await hub.runner.app[OPS].test_connection(CLI_PRINCIPAL, "sf")
            assert result.ok, result.message
        finally:
            await admin.close()
            await hub.stop()
