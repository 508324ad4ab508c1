"""Real headless Chromium (Debian's ``chromium`` package) driven by Playwright's async API.

No browser is downloaded: Playwright's own driver launches ``/usr/bin/chromium``
(``scripts/install-test-services.sh`` installs it). Without it the tests skip,
except under CI, where a missing browser is an error.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright

from tests.web.fixtures import dash

__all__ = ["chromium", "context", "dash"]

CHROMIUM = os.environ.get("HUB_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; scripts/install-test-services.sh installs it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def context(chromium: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await chromium.new_context(viewport={"width": 1366, "height": 900})
    ctx.set_default_timeout(10_000)
    yield ctx
    await ctx.close()
