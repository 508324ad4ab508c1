"""Zoho Books actions pass the hub's standard action contract (hub.testing)."""

from __future__ import annotations

from typing import Any

from connectors.zoho_books import RecordPayment, UpsertContact, connector
from hub.testing import ActionContract
from hub.testing.actions import SandboxHandle


def _config(url: str) -> dict[str, Any]:
    return {
        "accounts_url": url,
        "api_domain": url,
        "organization_id": "60012345678",
        "client_id": "1000.SANDBOX",
        "client_secret": "sandbox-secret",
        "refresh_token": "1000.sandbox.refresh",
    }


class TestRecordPaymentContract(ActionContract):
    connector = connector
    action = RecordPayment
    valid_input = {
        "customer_id": "",
        "amount": "1499.00",
        "date": "2026-11-20",
        "reference": "431512873406",
    }
    write = "POST /books/v3/customerpayments"
    records = staticmethod(lambda state: state["payments"])
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _config(sandbox_url)

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        contact = await self.run(
            sandbox,
            {"contact_name": "Ananya Rao", "email": "ananya@example.in"},
            "c",
            UpsertContact,
        )
        return {**item, "customer_id": contact["contact_id"]}


class TestUpsertContactContract(ActionContract):
    connector = connector
    action = UpsertContact
    valid_input = {
        "contact_name": "Vikram Iyer",
        "email": "vikram@example.in",
        "phone": "+919845012345",
    }
    write = "POST /books/v3/contacts"
    records = staticmethod(lambda state: state["contacts"])
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _config(sandbox_url)
