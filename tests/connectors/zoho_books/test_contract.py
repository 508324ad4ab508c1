"""Zoho Books actions pass the hub's standard action contract (hub.testing)."""

from __future__ import annotations

import uuid
from typing import Any

from connectors.zoho_books import (
    BookSettlement,
    CreateInvoice,
    ReconcileCredit,
    RecordPayment,
    RecordRefund,
    UpsertContact,
    connector,
)
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


def _gst_config(url: str) -> dict[str, Any]:
    return {
        **_config(url),
        "gst_home_state": "KA",
        "clearing_account_id": "4600000000000901",
        "settlement_bank_account_id": "4600000000000902",
        "fee_expense_account_id": "4600000000000903",
        "gst_input_account_id": "4600000000000904",
    }


class TestCreateInvoiceContract(ActionContract):
    connector = connector
    action = CreateInvoice
    valid_input = {
        "customer_id": "",
        "place_of_supply": "MH",
        "date": "2026-11-20",
        "line_items": [
            {
                "name": "Annual support",
                "rate": "1000.00",
                "product_type": "services",
                "hsn_or_sac": "998314",
                "tax_rate": "18",
            }
        ],
    }
    write = "POST /books/v3/invoices"
    records = staticmethod(lambda state: state["invoices"])
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _gst_config(sandbox_url)

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        contact = await self.run(
            sandbox, {"contact_name": "Mumbai Buyer", "email": "buyer@example.in"}, "c",
            UpsertContact,
        )  # fmt: skip
        return {**item, "customer_id": contact["contact_id"]}


class TestReconcileCreditContract(ActionContract):
    connector = connector
    action = ReconcileCredit
    valid_input = {
        "amount": "1180.00",
        "booked_on": "2026-11-21",
        "reference": {"utr": "N325261234567890", "rrn": None, "cheque": None,
                      "bank_reference": None},
        "counterparty": {"name": "MUMBAI BUYER", "vpa": None, "account": None, "ifsc": None},
        "narration": "",
    }  # fmt: skip
    write = "POST /books/v3/customerpayments"
    records = staticmethod(lambda state: state["payments"])
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _gst_config(sandbox_url)

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        contact = await self.run(
            sandbox, {"contact_name": "Mumbai Buyer", "email": "buyer@example.in"}, "c",
            UpsertContact,
        )  # fmt: skip
        invoice_in = {**TestCreateInvoiceContract.valid_input, "customer_id": contact["contact_id"]}
        invoice = await self.run(sandbox, invoice_in, uuid.uuid4().hex, CreateInvoice)
        return {**item, "narration": f"NEFT PAYMENT {invoice['invoice_number']}"}


class TestBookSettlementContract(ActionContract):
    connector = connector
    action = BookSettlement
    valid_input = {
        "settlement_id": "setl_P6b3Hi8KlMn4Or",
        "amount": "97640.00",
        "fees": "2360.00",
        "tax": "360.00",
        "utr": "UTIBR72026112100012345",
        "date": "2026-11-21",
    }
    write = "POST /books/v3/journals"
    records = staticmethod(lambda state: state["journals"])
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _gst_config(sandbox_url)


class TestRecordRefundContract(ActionContract):
    connector = connector
    action = RecordRefund
    valid_input = {
        "payment_search": "pay_P4tYk8mZq2LwXa",
        "amount": "100.00",
        "date": "2026-11-21",
        "reference": "rfnd_P5a2Gh7JkLm3Nq",
    }
    # A route pattern: the sandbox matches faults on it too (the ID is not known up front).
    write = "POST /books/v3/customerpayments/{payment_id}/refunds"
    records = staticmethod(lambda state: state["refunds"])
    auth_refreshes = True

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return _config(sandbox_url)

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        contact = await self.run(
            sandbox, {"contact_name": "Ananya Rao", "email": "ananya@example.in"}, "c",
            UpsertContact,
        )  # fmt: skip
        payment = {
            "customer_id": contact["contact_id"],
            "amount": "1499.00",
            "date": "2026-11-20",
            "description": "Razorpay pay_P4tYk8mZq2LwXa (upi)",
        }
        await self.run(sandbox, payment, "pay", RecordPayment)
        return item
