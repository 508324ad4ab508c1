"""Regenerate docs/img/deliveries.png: the deliveries page with a realistic mix of outcomes.

Starts the Zoho Books sandbox and a hub in this process (SQLite in a temporary
folder), sends signed Razorpay payments one by one while the sandbox answers
some of them with Books' real error shapes (a 400 validation error, a 503, a
429), signs in to the dashboard in headless Chromium (Debian's ``chromium``,
driven by Playwright; nothing is downloaded) and saves the page.

    .venv/bin/python scripts/screenshot.py [--out docs/img/deliveries.png]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAYMENTS = "/books/v3/customerpayments"
# What Books answers for each payment, in order (None: success).
SCRIPT: list[dict[str, Any] | None] = [
    None,
    None,
    {"status": 400, "body": {"code": 1001, "message": "Invalid value passed for reference_number"}},
    None,
    None,
    {"status": 503, "body": {"code": 9000, "message": "Service temporarily unavailable"}},
    None,
    {
        "status": 400,
        "body": {
            "code": 3012,
            "message": "The customer is inactive; activate them to record payments",
        },
    },
    None,
    {
        "status": 429,
        "body": {"code": 45, "message": "You have made too many requests"},
        "headers": {"Retry-After": "900"},
    },
    None,
]


async def _run(out: Path, chromium: str) -> None:
    from playwright.async_api import async_playwright

    from hub.app import build_app, load_hub
    from hub.auth import TOKENS, Role
    from hub.config import load_config
    from hub.demo import demo_config, free_port, sample_payment, sign
    from hub.registry import Registry
    from hub.sandbox import build_sandbox_app, sandbox_base

    os.environ.setdefault("HUB_SECRET_KEY", Fernet.generate_key().decode())
    work = Path(tempfile.mkdtemp(prefix="hub-screenshot-"))
    registry = Registry.from_entry_points()
    sandbox = web.AppRunner(build_sandbox_app(registry, ["zoho_books"]), access_log=None)
    await sandbox.setup()
    sandbox_port, hub_port = free_port(), free_port()
    await web.TCPSite(sandbox, "127.0.0.1", sandbox_port).start()
    books = sandbox_base("127.0.0.1", sandbox_port, "zoho_books")

    recipe = yaml.safe_load((ROOT / "recipes" / "razorpay-payment-to-books.yaml").read_text())
    for step in recipe["steps"]:  # failures stay visible: retries wait minutes, not seconds
        step["retry"] = {"max_attempts": 6, "initial": 300, "max_delay": 3600}
    (work / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    config = demo_config(work, hub_port, books, work / "recipe.yaml")
    config["store"] = f"sqlite:///{work / 'hub.db'}"
    (work / "hub.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    hub = load_hub(load_config(work / "hub.yaml"), registry)
    runner = web.AppRunner(build_app(hub), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", hub_port).start()
    base = f"http://127.0.0.1:{hub_port}"
    try:
        rng = random.Random(11)
        async with aiohttp.ClientSession() as http:
            for n, answer in enumerate(SCRIPT):
                if answer is not None:
                    fault = {"method": "POST", "path": PAYMENTS, **answer}
                    await http.post(f"{books}/__sandbox__/faults", json=[fault])
                attempts = (await hub.store.counts())["attempts"]
                body = json.dumps(sample_payment(n, rng)).encode()
                headers = {"X-Razorpay-Signature": sign(body), "Content-Type": "application/json"}
                async with http.post(f"{base}/hooks/razorpay-main", data=body, headers=headers):
                    pass
                deadline = time.monotonic() + 10
                while (await hub.store.counts())["attempts"] < attempts + 2:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"payment {n} was not attempted within 10 s")
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.15)
        _, token = await runner.app[TOKENS].create("screenshot", Role.OPS, "scripts/screenshot.py")
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1360, "height": 860})
            await page.goto(f"{base}/login")
            await page.fill("#token", token)
            await page.click("text=Sign in with token")
            await page.goto(f"{base}/deliveries?limit=25")
            out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(out))
            await browser.close()
        print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
    finally:
        await runner.cleanup()
        await sandbox.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "deliveries.png")
    parser.add_argument("--chromium", default=os.environ.get("HUB_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    asyncio.run(_run(args.out, args.chromium))


if __name__ == "__main__":
    main()
