"""A browser-like HTTP client for dashboard tests: keeps cookies, finds and sends CSRF tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from hub.auth import Role, TokenService

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Page:
    status: int
    url: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def csrf(self) -> str:
        match = _CSRF.search(self.text)
        assert match, f"no CSRF token on {self.url}"
        return match.group(1)


class Browser:
    """One signed-in (or not) visitor of the dashboard at ``base``."""

    def __init__(self, base: str) -> None:
        self.base = base
        # IP-address hosts need an "unsafe" jar, as a browser would accept them.
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.last: Page | None = None

    async def close(self) -> None:
        await self.http.close()

    async def get(self, path: str, **kw: Any) -> Page:
        async with self.http.get(self.base + path, **kw) as resp:
            page = Page(resp.status, str(resp.url), await resp.text(), dict(resp.headers))
        self.last = page
        return page

    async def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        csrf: str | None = None,
        origin: str | None = "same",
        follow: bool = True,
    ) -> Page:
        """POST a form; ``csrf`` defaults to the token of the last page seen."""
        form = dict(data or {})
        if csrf is None and self.last is not None:
            csrf = self.last.csrf
        if csrf:
            form["csrf_token"] = csrf
        headers = {}
        if origin == "same":
            headers["Origin"] = self.base
        elif origin is not None:
            headers["Origin"] = origin
        async with self.http.post(
            self.base + path, data=form, headers=headers, allow_redirects=follow
        ) as resp:
            page = Page(resp.status, str(resp.url), await resp.text(), dict(resp.headers))
        self.last = page
        return page

    async def login(self, token: str) -> Page:
        await self.get("/login")
        page = await self.post("/login", {"token": token})
        assert page.status == 200, page.text[:500]
        return page


async def make_token(tokens: TokenService, role: Role, name: str | None = None) -> str:
    _, text = await tokens.create(name or f"test-{role.value}", role, "tests")
    return text
