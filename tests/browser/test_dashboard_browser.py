"""The ops story in a real browser: sign in, enable a connection through its form, see a
delivery fail with the vendor's reason, replay it, see it succeed. Plus CSRF and viewer checks."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import BrowserContext, Page, expect

from hub.auth import Principal, Role
from hub.ops import OPS
from tests.helpers import payment_body
from tests.web.fixtures import BOOKS_400, Dash

pytestmark = pytest.mark.browser


async def sign_in(page: Page, dash: Dash, role: Role) -> None:
    await page.goto(dash.hub.url + "/")
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.fill("#token", dash.tokens[role])
    await page.click("text=Sign in with token")
    await expect(page.locator(".flash-ok")).to_contain_text(f"Signed in as test-{role.value}")


async def test_enable_fail_explain_replay_succeed(dash: Dash, context: BrowserContext) -> None:
    admin = Principal("setup", Role.ADMIN, "token")
    await dash.hub.runner.app[OPS].set_connection_enabled(admin, "books", False)
    page = await context.new_page()
    await sign_in(page, dash, Role.ADMIN)

    # Enable Zoho Books through its settings form (the secret is typed, never shown back).
    await page.click("nav >> text=Connections")
    row = page.locator("tr", has=page.locator("a", has_text="books"))
    await expect(row.locator(".pill")).to_have_text("disabled")
    await row.locator("a", has_text="books").click()
    await expect(page.locator("#f-client_secret")).to_have_value("")
    await page.fill("#f-organization_id", "60012345678")
    await page.fill("#f-client_secret", "sandbox-secret")
    await page.click("button:has-text('Save and enable')")
    await expect(page.locator(".flash-ok")).to_contain_text("books saved and enabled")
    await expect(page.locator(".head-actions .pill").first).to_have_text("enabled")
    assert dash.hub.hub.connections.require("books").enabled

    # Books refuses the payment with a 400: the delivery is dead, with Books' own words.
    await dash.sandbox.faults([BOOKS_400])
    await dash.hub.post(payment_body(7))
    await dash.hub.wait_for(lambda c: c.get("runs_dead", 0) == 1)
    await page.click("nav >> text=Deliveries")
    await page.click(".tabs >> text=Dead letters")
    dead = page.locator("table.log tbody tr.row-dead")
    await expect(dead).to_have_count(1)
    await expect(dead.locator(".reason")).to_contain_text("Zoho Books rejected the payment")
    await expect(dead.locator(".reason")).to_contain_text(
        "Invalid value passed for reference_number"
    )
    await dead.locator("a", has_text="razorpay-payment-to-books").click()
    await expect(page.locator(".why")).to_contain_text("Zoho Books rejected the payment (400)")
    await expect(page.locator(".why")).to_contain_text("What to do")

    # The fault is gone (it was one-shot); replay after reading the idempotency explanation.
    assert (await dash.sandbox.state())["faults_pending"] == []
    await page.click("summary:has-text('Replay')")
    await expect(page.locator(".confirm-body")).to_contain_text("idempotency key")
    await page.click("button:has-text('Replay now')")
    await expect(page.locator(".flash-ok")).to_contain_text("Replaying from this step")
    for _ in range(50):
        if await page.locator("h1 .pill").inner_text() == "succeeded":
            break
        await asyncio.sleep(0.2)
        await page.reload()
    await expect(page.locator("h1 .pill")).to_have_text("succeeded")
    await expect(page.locator(".attempt")).to_have_count(2)
    assert len(await dash.sandbox.payments()) == 1


async def test_form_without_csrf_token_is_refused(dash: Dash, context: BrowserContext) -> None:
    step_id = await dash.dead_delivery()
    page = await context.new_page()
    await sign_in(page, dash, Role.OPS)
    await page.goto(f"{dash.hub.url}/deliveries/{step_id}")
    await page.click("summary:has-text('Replay')")
    await page.evaluate("document.querySelector('.confirm-body input[name=csrf_token]').remove()")
    await page.click("button:has-text('Replay now')")
    await expect(page.locator("h1")).to_have_text("Refused")
    await expect(page.locator("main")).to_contain_text("security token is missing")
    found = await dash.hub.hub.store.get_delivery(step_id)
    assert found is not None and found[0].status == "dead"


async def test_viewer_has_no_buttons_and_forged_posts_fail(
    dash: Dash, context: BrowserContext
) -> None:
    step_id = await dash.dead_delivery()
    page = await context.new_page()
    await sign_in(page, dash, Role.VIEWER)
    await page.goto(f"{dash.hub.url}/deliveries/{step_id}")
    await expect(page.locator("h1 .pill")).to_have_text("dead letter")
    await expect(page.locator("summary:has-text('Replay')")).to_have_count(0)
    await page.goto(f"{dash.hub.url}/connections/books")
    await expect(page.locator("button")).to_have_text(["Sign out"])
    csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    resp = await context.request.post(
        f"{dash.hub.url}/deliveries/{step_id}/replay",
        form={"csrf_token": csrf or ""},
        headers={"Origin": dash.hub.url},
    )
    assert resp.status == 403 and "needs the ops role" in await resp.text()
    found = await dash.hub.hub.store.get_delivery(step_id)
    assert found is not None and found[0].status == "dead"
