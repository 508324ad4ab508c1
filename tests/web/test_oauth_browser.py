"""The Connect button in a real browser: the dashboard link, the sandbox's consent page, back again.

This is what the HTTP-level tests cannot show: the browser keeps the dashboard
session (a ``SameSite=Lax`` cookie) across the vendor's redirect back to the
hub, and the dashboard's ``form-action 'self'`` policy does not stop the trip
to the vendor (Connect is a link, not a form).
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import BrowserContext, expect

from hub.auth import Role
from tests.browser.conftest import chromium, context
from tests.web.fixtures import Dash

__all__ = ["chromium", "context"]

pytestmark = pytest.mark.browser


async def test_connect_through_the_consent_page(dash: Dash, context: BrowserContext) -> None:
    page = await context.new_page()
    await page.goto(dash.hub.url + "/connections/books")
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.fill("#token", dash.tokens[Role.ADMIN])
    await page.click("text=Sign in with token")
    await expect(page).to_have_url(re.compile(r"/connections/books$"))

    await page.click("text=Connect with Zoho Books")
    await expect(page).to_have_url(re.compile(re.escape(dash.sandbox.url) + r"/oauth/v2/auth\?"))
    await expect(page.locator("#scopes")).to_contain_text("ZohoBooks.customerpayments.CREATE")
    await page.click("#accept")

    await expect(page).to_have_url(re.compile(r"/connections/books$"))
    await expect(page.locator(".flash-ok")).to_contain_text("Connected books with Zoho")
    await expect(page.locator(".head-actions .pill").first).to_have_text("enabled")

    # Deny comes back as a clear page, and nothing changes.
    await page.click("text=Connect with Zoho Books")
    await page.click("#deny")
    await expect(page.locator("h1")).to_have_text("Could not connect books")
    await expect(page.locator("main")).to_contain_text("Access was denied")
