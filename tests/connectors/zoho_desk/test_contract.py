"""Zoho Desk actions pass the hub's standard action contract (hub.testing)."""

from __future__ import annotations

from typing import Any

from connectors.zoho_desk import AddToConversation, CreateTicket, UpdateTicketStatus, connector
from hub.testing import ActionContract
from hub.testing.actions import SandboxHandle


def _config(url: str) -> dict[str, Any]:
    return {
        "accounts_url": url,
        "api_url": f"{url}/api/v1",
        "org_id": "60001234567",
        "department_id": "7000000000101",
        "client_id": "1000.SANDBOX",
        "client_secret": "sandbox-secret",
        "refresh_token": "1000.sandbox.refresh",
    }


MESSAGE = {
    "thread_key": "<CAF=root001@mail.example.in>",
    "subject": "Order A-10432",
    "content": "Still waiting for the refund.",
    "contact": {"email": "ananya.rao@example.in", "name": "Ananya Rao"},
    "channel": "email",
}


class TestCreateTicketContract(ActionContract):
    connector = connector
    action = CreateTicket
    valid_input = {
        "subject": "Refund not received",
        "description": "<p>Order A-10432</p>",
        "contact": {"email": "ananya.rao@example.in", "lastName": "Rao"},
        "channel": "email",
    }
    write = "POST /api/v1/tickets"
    records = staticmethod(lambda state: state["tickets"])
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _config(sandbox_url)


class TestAddToConversationNewTicketContract(ActionContract):
    connector = connector
    action = AddToConversation
    valid_input = MESSAGE
    write = "POST /api/v1/tickets"
    records = staticmethod(lambda state: state["tickets"])
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _config(sandbox_url)


class TestAddToConversationCommentContract(ActionContract):
    connector = connector
    action = AddToConversation
    valid_input = MESSAGE
    write = "POST /api/v1/tickets/{ticket_id}/comments"
    records = staticmethod(lambda state: state["comments"])
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _config(sandbox_url)

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        await self.run(sandbox, item, "first-message-of-the-thread")
        return item


class TestUpdateTicketStatusContract(ActionContract):
    connector = connector
    action = UpdateTicketStatus
    valid_input = {"ticket_id": "", "status": "Closed"}
    write = "PATCH /api/v1/tickets/{ticket_id}"
    records = staticmethod(lambda state: state["history"])
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _config(sandbox_url)

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        ticket = await self.run(
            sandbox,
            {"subject": "Refund", "contact": {"email": "vikram@example.in"}},
            "ticket-to-close",
            CreateTicket,
        )
        return {**item, "ticket_id": ticket["ticket_id"]}
