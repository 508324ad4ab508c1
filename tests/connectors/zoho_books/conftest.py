"""``kit``: one Books connection to a fresh sandbox, with helpers for the GST-era actions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.zoho_books import (
    BookSettlement,
    ContactIn,
    CreateInvoice,
    CreditIn,
    InvoiceIn,
    PaymentIn,
    ReconcileCredit,
    RecordPayment,
    RecordRefund,
    RefundIn,
    SettlementIn,
    UpsertContact,
    ZohoBooksConfig,
    ZohoBooksSession,
)
from connectors.zoho_books.sandbox import SandboxState, create_sandbox_app, serve
from hub.connector import ActionContext
from hub.http import HttpClient

SANDBOX_CONFIG: dict[str, Any] = {
    "organization_id": "60012345678",
    "client_id": "1000.SANDBOX",
    "client_secret": "sandbox-secret",
    "refresh_token": "1000.sandbox.refresh",
}


class Kit:
    """A connection (config + session) to the sandbox and one method per action."""

    def __init__(self, url: str, http: HttpClient, **config: Any) -> None:
        self.url = url
        self.http = http
        values = {**SANDBOX_CONFIG, "accounts_url": url, "api_domain": url}
        values.update({"gst_home_state": "KA", "requests_per_minute": 100000, **config})
        self.config = ZohoBooksConfig(**values)
        self.session = ZohoBooksSession(self.config, "books", http)

    def ctx(self, key: str) -> ActionContext:
        return ActionContext(
            idempotency_key=key, connection="books", http=self.http, session=self.session
        )

    async def contact(self, key: str = "c", **item: Any) -> dict[str, Any]:
        return await UpsertContact(self.config, "books").run(ContactIn(**item), self.ctx(key))

    async def invoice(self, key: str, **item: Any) -> dict[str, Any]:
        return await CreateInvoice(self.config, "books").run(InvoiceIn(**item), self.ctx(key))

    async def pay(self, key: str, **item: Any) -> dict[str, Any]:
        return await RecordPayment(self.config, "books").run(PaymentIn(**item), self.ctx(key))

    async def refund(self, key: str, **item: Any) -> dict[str, Any]:
        return await RecordRefund(self.config, "books").run(RefundIn(**item), self.ctx(key))

    async def reconcile(self, key: str, **item: Any) -> dict[str, Any]:
        action = ReconcileCredit(self.config, "books")
        return await action.run(CreditIn(**item), self.ctx(key))

    async def settle(self, key: str, **item: Any) -> dict[str, Any]:
        action = BookSettlement(self.config, "books")
        return await action.run(SettlementIn(**item), self.ctx(key))

    async def state(self) -> dict[str, Any]:
        resp = await self.http.get(f"{self.url}/__sandbox__/state")
        body: dict[str, Any] = resp.json()
        return body

    async def calls(self, route: str) -> int:
        return int((await self.state())["requests"]["by_route"].get(route, 0))


@pytest.fixture
async def kit() -> AsyncIterator[Kit]:
    state = SandboxState(requests_per_minute=100000)
    async with (
        serve(create_sandbox_app(state)) as url,
        HttpClient(base_url=url, timeout=10) as http,
    ):
        yield Kit(url, http)
