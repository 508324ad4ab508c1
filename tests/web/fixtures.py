"""Dashboard test fixtures (shared with tests/browser): a real hub, tokens per role, cookie-keeping clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from hub.auth import TOKENS, Role
from tests.helpers import RunningHub, Sandbox, payment_body
from tests.web.client import Browser, make_token

BOOKS_400 = {
    "method": "POST",
    "path": "/books/v3/customerpayments",
    "status": 400,
    "body": {"code": 1001, "message": "Invalid value passed for reference_number"},
}


@dataclass
class Dash:
    """A running hub, its sandbox, a token per role, and browsers opened on it."""

    hub: RunningHub
    sandbox: Sandbox
    tokens: dict[Role, str]
    browsers: list[Browser] = field(default_factory=list)

    async def browser(self, role: Role | None = None) -> Browser:
        """A new visitor, signed in with a token of ``role`` (None: anonymous)."""
        b = Browser(self.hub.url)
        self.browsers.append(b)
        if role is not None:
            await b.login(self.tokens[role])
        return b

    async def dead_delivery(self, n: int = 900) -> str:
        """Send one payment whose Books write is refused with a 400; the dead step's id."""
        await self.sandbox.faults([BOOKS_400])
        before = (await self.hub.hub.store.counts()).get("runs_dead", 0)
        await self.hub.post(payment_body(n))
        await self.hub.wait_for(lambda c: c.get("runs_dead", 0) > before)
        from hub.store import DeliveryFilter

        rows, _ = await self.hub.hub.store.list_deliveries(DeliveryFilter(status="dead", limit=1))
        return rows[0][0].id


@pytest.fixture
async def dash(
    running_hub: Callable[..., Awaitable[RunningHub]], sandbox: Sandbox
) -> AsyncIterator[Dash]:
    hub = await running_hub()
    service = hub.runner.app[TOKENS]
    tokens = {role: await make_token(service, role) for role in Role}
    d = Dash(hub, sandbox, tokens)
    yield d
    for b in d.browsers:
        await b.close()
