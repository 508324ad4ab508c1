"""Salesforce actions pass the hub's standard action contract (hub.testing)."""

from __future__ import annotations

from typing import Any

from connectors.salesforce import AddCaseComment, CreateCase, UpsertContact, connector
from hub.testing import ActionContract
from hub.testing.actions import SandboxHandle


def _config(url: str) -> dict[str, Any]:
    return {
        "login_url": url,
        "client_id": "3MVG9SANDBOX.hub.connected.app",
        "client_secret": "sandbox-consumer-secret",
        "refresh_token": "5Aep861sandbox.refresh.token",
    }


class TestCreateCaseContract(ActionContract):
    connector = connector
    action = CreateCase
    valid_input = {
        "Subject": "Refund not received",
        "Description": "Paid on 20 Nov, order 4411, refund still pending.",
        "Origin": "WhatsApp",
        "Priority": "High",
        "SuppliedName": "Ananya Rao",
        "SuppliedPhone": "+919845012345",
    }
    write = "PATCH /services/data/{version}/sobjects/Case/{field}/{value}"
    records = staticmethod(lambda state: state["cases"])  # type: ignore[assignment]  # kit types the staticmethod as bound
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _config(sandbox_url)


class TestAddCaseCommentContract(ActionContract):
    connector = connector
    action = AddCaseComment
    valid_input = {
        "ParentId": "",
        "CommentBody": "Customer sent the UTR again.",
        "IsPublished": False,
    }
    write = "POST /services/data/{version}/sobjects/CaseComment"
    records = staticmethod(lambda state: state["case_comments"])  # type: ignore[assignment]
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _config(sandbox_url)

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        case = await self.run(sandbox, {"Subject": "Refund not received"}, "case-1", CreateCase)
        return {**item, "ParentId": case["case_id"]}


class TestUpsertContactContract(ActionContract):
    connector = connector
    action = UpsertContact
    valid_input = {
        "external_id": "vikram@example.in",
        "LastName": "Iyer",
        "FirstName": "Vikram",
        "Email": "vikram@example.in",
        "Phone": "+919845012345",
    }
    write = "PATCH /services/data/{version}/sobjects/Contact/{field}/{value}"
    records = staticmethod(lambda state: state["contacts"])  # type: ignore[assignment]
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _config(sandbox_url)
