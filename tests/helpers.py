"""Shared test helpers: signing, sample payloads, a hub and a sandbox on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from hub.app import Hub, build_app, load_hub
from hub.config import load_config
from hub.demo import sample_payment
from hub.registry import Registry
from hub.sandbox import build_sandbox_app, sandbox_base
from tests.services import store_url

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_test_9f2c"
RECIPE = ROOT / "recipes" / "razorpay-payment-to-books.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payment_body(n: int, seed: int = 1) -> bytes:
    return json.dumps(sample_payment(n, random.Random(seed * 100_003 + n))).encode()


def fast_recipe(tmp: Path, source: Path = RECIPE, **retry: Any) -> Path:
    """A copy of a recipe whose retries wait milliseconds, not seconds (tests only)."""
    doc = yaml.safe_load(source.read_text())
    policy = {"max_attempts": 5, "initial": 0.05, "max_delay": 0.2, "jitter": 0.0, **retry}
    for step in doc["steps"]:
        step["retry"] = policy
    out = tmp / source.name
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def hub_config(tmp: Path, sandbox_url: str, recipes: list[Path], **extra: Any) -> dict[str, Any]:
    books = {
        "data_centre": "in",
        "accounts_url": sandbox_url,
        "api_domain": sandbox_url,
        "organization_id": "60012345678",
        "client_id": "1000.SANDBOX",
        "client_secret": "sandbox-secret",
        "refresh_token": "1000.sandbox.refresh",
        "timeout": 2.0,
        # Zoho's real 100/minute would make throughput tests wait; budgets have their own tests.
        "requests_per_minute": 100_000,
    }
    books.update(extra.pop("books", {}))
    return {
        "listen": f"127.0.0.1:{free_port()}",
        # The suite's store (HUB_TEST_STORE): SQLite in ``tmp`` or a fresh PostgreSQL schema.
        "store": extra.pop("store", None) or store_url(tmp),
        "data_dir": str(tmp / "data"),
        "recipes": [str(r) for r in recipes],
        "connections": {
            "razorpay-main": {"connector": "razorpay", "config": {"webhook_secret": SECRET}},
            "books": {"connector": "zoho_books", "config": books},
        },
        **extra,
    }


@dataclass
class Sandbox:
    url: str
    http: aiohttp.ClientSession
    runner: web.AppRunner

    async def state(self) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/__sandbox__/state") as resp:
            assert resp.status == 200
            doc: dict[str, Any] = await resp.json()
            return doc

    async def faults(self, faults: list[dict[str, Any]]) -> None:
        async with self.http.post(f"{self.url}/__sandbox__/faults", json=faults) as resp:
            assert resp.status in (200, 204), await resp.text()

    async def settings(self, **values: Any) -> dict[str, Any]:
        async with self.http.post(f"{self.url}/__sandbox__/settings", json=values) as resp:
            assert resp.status == 200, await resp.text()
            doc: dict[str, Any] = await resp.json()
            return doc

    async def expire_tokens(self) -> None:
        async with self.http.post(f"{self.url}/__sandbox__/expire_tokens") as resp:
            assert resp.status in (200, 204), await resp.text()

    async def payments(self) -> list[dict[str, Any]]:
        state = await self.state()
        return list(_values(state["payments"]))

    async def contacts(self) -> list[dict[str, Any]]:
        state = await self.state()
        return list(_values(state["contacts"]))


def _values(v: Any) -> Any:
    return v.values() if isinstance(v, dict) else v


async def start_sandbox(http: aiohttp.ClientSession, port: int | None = None) -> Sandbox:
    runner = web.AppRunner(
        build_sandbox_app(Registry.from_entry_points(), ["zoho_books"]), access_log=None
    )
    await runner.setup()
    port = port or free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Sandbox(sandbox_base("127.0.0.1", port, "zoho_books"), http, runner)


@dataclass
class RunningHub:
    hub: Hub
    url: str
    http: aiohttp.ClientSession
    runner: web.AppRunner
    config_file: Path
    statuses: list[int] = field(default_factory=list)

    async def post(
        self, body: bytes, connection: str = "razorpay-main", headers: dict[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        hdrs = {"X-Razorpay-Signature": sign(body), "Content-Type": "application/json"}
        hdrs.update(headers or {})
        async with self.http.post(
            f"{self.url}/hooks/{connection}", data=body, headers=hdrs
        ) as resp:
            await resp.read()
            self.statuses.append(resp.status)
            return resp

    async def wait_for(
        self, check: Callable[[dict[str, int]], bool], timeout: float = 20.0
    ) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        counts: dict[str, int] = {}
        while time.monotonic() < deadline:
            counts = await self.hub.store.counts()
            if check(counts):
                return counts
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting; store counts are {counts}")

    async def settled(self, runs: int, timeout: float = 20.0) -> dict[str, int]:
        """Wait until ``runs`` runs have finished (succeeded or dead)."""
        return await self.wait_for(
            lambda c: c.get("runs_succeeded", 0) + c.get("runs_dead", 0) >= runs, timeout
        )

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_hub(tmp: Path, http: aiohttp.ClientSession, config: dict[str, Any]) -> RunningHub:
    config_file = tmp / "hub.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    hub = load_hub(load_config(config_file))
    runner = web.AppRunner(build_app(hub), access_log=None)
    await runner.setup()
    host, port = hub.config.host_port()
    await web.TCPSite(runner, host, port).start()
    return RunningHub(hub, f"http://{host}:{port}", http, runner, config_file)


Starter = Callable[..., Awaitable[RunningHub]]
