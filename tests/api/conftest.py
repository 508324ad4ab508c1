"""A real hub on loopback with one API token per role, and a small JSON client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from hub.auth import TOKENS, Role
from tests.helpers import RunningHub


@dataclass
class Reply:
    status: int
    body: Any
    text: str
    headers: dict[str, str]


@dataclass
class Api:
    """``/api/v1`` of one running hub, called with one token per role."""

    running: RunningHub
    http: aiohttp.ClientSession
    tokens: dict[str, str]
    seen: list[Reply]

    @property
    def base(self) -> str:
        return f"{self.running.url}/api/v1"

    async def call(
        self,
        method: str,
        path: str,
        role: str | None = "admin",
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        token: str | None = None,
    ) -> Reply:
        headers = {}
        if token is not None:
            headers["Authorization"] = token
        elif role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        url = path if path.startswith("http") else self.base + path
        async with self.http.request(
            method, url, json=json, params=params, headers=headers
        ) as resp:
            text = await resp.text()
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
            reply = Reply(resp.status, body, text, dict(resp.headers))
        self.seen.append(reply)
        return reply

    async def get(self, path: str, role: str | None = "admin", **kw: Any) -> Reply:
        return await self.call("GET", path, role, **kw)

    async def post(self, path: str, role: str | None = "admin", **kw: Any) -> Reply:
        return await self.call("POST", path, role, **kw)

    async def ok(self, method: str, path: str, role: str = "admin", **kw: Any) -> Any:
        reply = await self.call(method, path, role, **kw)
        assert 200 <= reply.status < 300, (method, path, reply.status, reply.text)
        return reply.body


async def make_api(running: RunningHub, http: aiohttp.ClientSession) -> Api:
    service = running.runner.app[TOKENS]
    tokens = {}
    for role in Role:
        _info, text = await service.create(f"test-{role}", role, "tests")
        tokens[str(role)] = text
    return Api(running, http, tokens, [])


@pytest.fixture
async def api(running_hub: Any, http: aiohttp.ClientSession) -> AsyncIterator[Api]:
    """The default test hub (Razorpay in, Zoho Books sandbox out) with role tokens."""
    running = await running_hub()
    yield await make_api(running, http)
