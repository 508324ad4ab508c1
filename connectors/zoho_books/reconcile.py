"""``zoho_books.reconcile_credit``: apply a bank credit to the open invoices it pays, or ask ops.

Input: a ``bank.transaction.posted`` credit's fields (hub/schemas/bank_transaction.json)
plus options. The action:

1. looks for a payment already recorded under the step's idempotency key
   (``reference_number``, as ``record_payment`` does) and returns it: a retry, or the
   same credit reconciled twice, writes one payment;
2. lists open invoices (``status`` unpaid, partially_paid, overdue; every page) and
   customers, and decides by the rules in ``matching``;
3. on a confident match records one customer payment applied to the invoice(s),
   with the UTR/RRN in the description -> ``{"status": "matched", ...}``;
4. otherwise writes nothing -> ``{"status": "review", "reason", "candidates"}``:
   a successful step, so ops see it in the delivery log.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.connector import Action, ActionContext

from .actions import (
    PAYMENTS,
    InvoiceApplication,
    PaymentIn,
    RecordPayment,
    _record,
    _session,
    books_result,
    payment_reference,
)
from .auth import ZohoBooksSession
from .config import ZohoBooksConfig
from .invoices import money
from .matching import RULES, Credit, Customer, Decision, OpenInvoice, Rule, decide

__all__ = ["Counterparty", "CreditIn", "CreditReference", "ReconcileCredit"]

INVOICES = "/books/v3/invoices"
CONTACTS = "/books/v3/contacts"
OPEN_STATUSES = ("unpaid", "partially_paid", "overdue")
_RULE_TAG = re.compile(r"match:(reference|amount|multi|partial)")


class CreditReference(BaseModel):
    """The bank line's references (bank_transaction.json ``reference``)."""

    model_config = ConfigDict(extra="forbid")

    utr: str | None = Field(default=None, description="UTR (NEFT/RTGS/IMPS).")
    rrn: str | None = Field(default=None, description="RRN (UPI/IMPS/card).")
    cheque: str | None = Field(default=None, description="Cheque number.")
    bank_reference: str | None = Field(default=None, description="The bank's own reference.")


class Counterparty(BaseModel):
    """Who paid, as far as the bank line tells (bank_transaction.json ``counterparty``)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="Payer name.")
    vpa: str | None = Field(default=None, description="Payer UPI VPA.")
    account: str | None = Field(default=None, description="Payer account number.")
    ifsc: str | None = Field(default=None, description="Payer branch IFSC.")


class CreditIn(BaseModel):
    """A bank credit to reconcile against open invoices, and how to match it."""

    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(gt=0, max_digits=15, description="Amount credited, major units.")
    currency: str = Field(default="INR", description="Currency of the account.")
    booked_on: dt.date = Field(description="Booking date; the payment's date.")
    reference: CreditReference = Field(
        default_factory=CreditReference, description="UTR/RRN/cheque/bank reference."
    )
    counterparty: Counterparty = Field(
        default_factory=Counterparty, description="Payer name, VPA, account."
    )
    narration: str = Field(default="", description="The bank's description text.")
    tolerance: Decimal = Field(
        default=Decimal(0),
        ge=0,
        max_digits=15,
        description="Largest shortfall against an invoice balance still matched (a netted "
        "gateway fee); the shortfall is recorded as bank charges. 0: exact amounts only.",
    )
    match_by: list[Rule] = Field(
        default_factory=lambda: list(RULES),
        description="Rules allowed to match: reference, amount, multi, partial.",
    )
    payment_mode: str | None = Field(default=None, description="Default: the connection's.")
    account_id: str | None = Field(default=None, description="Deposit-to account ID.")


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0))


class ReconcileCredit(Action[ZohoBooksConfig, CreditIn]):
    """Match a bank credit to open invoices and record the payment once, or return a review."""

    name = "zoho_books.reconcile_credit"
    input_model = CreditIn
    description = (
        "Apply a bank credit to the Zoho Books invoices it pays (by reference, amount, "
        "several invoices, or partially); otherwise return candidates for review."
    )

    async def run(self, item: CreditIn, ctx: ActionContext) -> dict[str, Any]:
        session = _session(ctx)
        reference = payment_reference(ctx.idempotency_key)
        payer = RecordPayment(self.config, self.connection)
        existing = await payer._find(session, reference)
        if existing is not None:
            return await self._replay(session, existing)
        invoices = await self._open_invoices(session)
        customers = await self._customers(session)
        credit = Credit(
            amount=item.amount,
            narration=item.narration,
            utr=item.reference.utr or "",
            rrn=item.reference.rrn or "",
            bank_reference=item.reference.bank_reference or "",
            name=item.counterparty.name or "",
            vpa=item.counterparty.vpa or "",
        )
        decision = decide(
            credit, invoices, customers, tolerance=item.tolerance, rules=item.match_by
        )
        if decision.status == "review":
            return {
                "status": "review",
                "reason": decision.reason,
                "candidates": decision.candidates,
            }
        return await self._write(session, payer, item, decision, reference)

    async def _write(
        self,
        session: ZohoBooksSession,
        payer: RecordPayment,
        item: CreditIn,
        decision: Decision,
        reference: str,
    ) -> dict[str, Any]:
        assert decision.rule is not None
        human = item.reference.utr or item.reference.rrn or item.reference.bank_reference
        payment = PaymentIn(
            customer_id=decision.customer_id,
            amount=decision.payment_amount,
            date=item.booked_on,
            payment_mode=item.payment_mode,
            reference=human[:100] if human else None,
            description=f"{item.narration[:200]} | match:{decision.rule}".lstrip(" |"),
            invoices=[
                InvoiceApplication(invoice_id=a.invoice.invoice_id, amount_applied=a.amount)
                for a in decision.applications
            ],
            account_id=item.account_id,
            bank_charges=decision.bank_charges or None,
        )
        resp = await session.request("POST", PAYMENTS, json_body=payer._body(payment, reference))
        record = _record(books_result(resp, "the payment"), "payment", "the payment")
        return self._result(record, decision.rule, created=True)

    async def _replay(self, session: ZohoBooksSession, row: dict[str, Any]) -> dict[str, Any]:
        resp = await session.request("GET", f"{PAYMENTS}/{row['payment_id']}")
        record = _record(books_result(resp, "the payment"), "payment", "the payment")
        tag = _RULE_TAG.search(str(record.get("description", "")))
        return self._result(record, tag.group(1) if tag else "reference", created=False)

    @staticmethod
    def _result(record: dict[str, Any], rule: str, *, created: bool) -> dict[str, Any]:
        return {
            "status": "matched",
            "rule": rule,
            "payment_id": str(record["payment_id"]),
            "customer_id": str(record.get("customer_id", "")),
            "amount": money(record.get("amount")),
            "bank_charges": money(record.get("bank_charges")),
            "invoices": [
                {
                    "invoice_id": str(inv.get("invoice_id", "")),
                    "invoice_number": str(inv.get("invoice_number", "")),
                    "amount_applied": money(inv.get("amount_applied")),
                }
                for inv in record.get("invoices") or []
                if isinstance(inv, dict)
            ],
            "created": created,
        }

    @staticmethod
    async def _pages(
        session: ZohoBooksSession, path: str, key: str, params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            resp = await session.request(
                "GET", path, params={**params, "page": page, "per_page": 200}
            )
            body = books_result(resp, f"the {key} list")
            rows.extend(r for r in body.get(key) or [] if isinstance(r, dict))
            if not (body.get("page_context") or {}).get("has_more_page"):
                return rows
            page += 1

    async def _open_invoices(self, session: ZohoBooksSession) -> list[OpenInvoice]:
        seen: dict[str, OpenInvoice] = {}
        for status in OPEN_STATUSES:
            for row in await self._pages(session, INVOICES, "invoices", {"status": status}):
                balance = _decimal(row.get("balance"))
                if balance <= 0 or str(row.get("invoice_id", "")) in seen:
                    continue
                seen[str(row["invoice_id"])] = OpenInvoice(
                    invoice_id=str(row["invoice_id"]),
                    invoice_number=str(row.get("invoice_number") or ""),
                    reference_number=str(row.get("reference_number") or ""),
                    customer_id=str(row.get("customer_id") or ""),
                    customer_name=str(row.get("customer_name") or ""),
                    balance=balance,
                    date=str(row.get("date") or ""),
                )
        return list(seen.values())

    async def _customers(self, session: ZohoBooksSession) -> list[Customer]:
        rows = await self._pages(session, CONTACTS, "contacts", {"contact_type": "customer"})
        return [
            Customer(
                contact_id=str(r["contact_id"]),
                name=str(r.get("contact_name") or ""),
                email=str(r.get("email") or ""),
                phone=str(r.get("phone") or ""),
            )
            for r in rows
            if r.get("contact_id")
        ]
