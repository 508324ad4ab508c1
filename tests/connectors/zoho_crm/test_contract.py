"""Zoho CRM actions pass the hub's standard action contract (hub.testing)."""

from __future__ import annotations

import uuid
from typing import Any

from connectors.zoho_crm import (
    AddNote,
    CreateDeal,
    CreateTask,
    Search,
    UpdateDeal,
    UpsertContact,
    UpsertLead,
    connector,
)
from hub.testing import ActionContract
from hub.testing.actions import SandboxHandle


def _config(url: str) -> dict[str, Any]:
    return {
        "accounts_url": url,
        "api_domain": url,
        "client_id": "1000.SANDBOX",
        "client_secret": "sandbox-secret",
        "refresh_token": "1000.sandbox.refresh",
    }


class _Crm(ActionContract):
    connector = connector
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _config(sandbox_url)

    async def contact(self, sandbox: SandboxHandle) -> str:
        out = await self.run(
            sandbox,
            {"name": "Meera Nair", "email": "meera@example.in", "phone": "+919845011111"},
            "contact",
            UpsertContact,
        )
        return str(out["id"])


class TestUpsertLeadContract(_Crm):
    action = UpsertLead
    valid_input = {"name": "Ravi Kumar", "email": "ravi@example.in", "company": "Kumar Exports"}
    write = "POST /crm/v7/Leads/upsert"
    records = staticmethod(lambda state: state["records"]["Leads"])


class TestUpsertContactContract(_Crm):
    action = UpsertContact
    valid_input = {"last_name": "Iyer", "first_name": "Vikram", "email": "vikram@example.in"}
    write = "POST /crm/v7/Contacts/upsert"
    records = staticmethod(lambda state: state["records"]["Contacts"])


class TestCreateDealContract(_Crm):
    action = CreateDeal
    valid_input = {"deal_name": "Annual plan", "stage": "Qualification", "amount": "25000.00"}
    write = "POST /crm/v7/Deals/upsert"
    records = staticmethod(lambda state: state["records"]["Deals"])

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "contact_id": await self.contact(sandbox)}


class TestUpdateDealContract(_Crm):
    """Counts won deals: the update turns the prepared deal into one, once."""

    action = UpdateDeal
    valid_input = {"deal_id": "", "stage": "Closed Won", "amount": "30000.00"}
    write = "PUT /crm/v7/Deals/{id}"
    records = staticmethod(
        lambda state: [d for d in state["records"]["Deals"] if d.get("Stage") == "Closed Won"]
    )

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        deal = await self.run(
            sandbox, {"deal_name": "Pilot", "stage": "Qualification"}, uuid.uuid4().hex, CreateDeal
        )
        return {**item, "deal_id": deal["id"]}


class TestAddNoteContract(_Crm):
    action = AddNote
    valid_input = {"module": "Contacts", "record_id": "", "content": "Paid ₹1,499 via UPI"}
    write = "POST /crm/v7/Notes"
    records = staticmethod(lambda state: state["records"]["Notes"])

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "record_id": await self.contact(sandbox)}


class TestCreateTaskContract(_Crm):
    action = CreateTask
    valid_input = {"subject": "Call back about renewal", "due_date": "2026-11-25"}
    write = "POST /crm/v7/Tasks"
    records = staticmethod(lambda state: state["records"]["Tasks"])

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "who_id": await self.contact(sandbox)}


class TestSearchContract(_Crm):
    """A read: its "records" are the contacts it finds; a repeat answers the same and writes nothing."""

    action = Search
    valid_input = {"email": "meera@example.in"}
    write = "GET /crm/v7/Contacts/search"
    records = staticmethod(lambda state: state["records"]["Contacts"])

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        await self.contact(sandbox)
        return item

    async def test_same_idempotency_key_writes_once(self, sandbox: SandboxHandle) -> None:
        # The contract's version counts one new record; a lookup must add none.
        item = await self.prepare(sandbox, dict(self.valid_input))
        key = uuid.uuid4().hex
        before = await sandbox.state()
        first = await self.run(sandbox, item, key)
        second = await self.run(sandbox, item, key)
        after = await sandbox.state()
        assert first == second and first["found"] is True
        assert after["records"] == before["records"]
