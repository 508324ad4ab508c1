"""``zoho_books.book_settlement``: a gateway settlement as one balanced Books journal, once.

A settlement (hub/schemas/settlement.json) moves the gross collected from the
gateway clearing account into the bank, less the gateway's fee and the GST on
that fee. The journal:

    debit   bank account          net (amount)
    debit   fee expense account   fee without GST
    debit   GST input account     GST on the fee (when non-zero)
    credit  clearing account      gross = net + fee + GST

The settlement schema's ``fees`` already includes the tax (``fees_include_tax``,
default true); set it false when the gateway reports them separately.
``reference_number`` is the idempotency key, searched before creating.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.connector import Action, ActionContext
from hub.errors import ConfigError

from .actions import _number, _record, _session, books_result, payment_reference
from .auth import ZohoBooksSession
from .config import ZohoBooksConfig
from .invoices import money

__all__ = ["BookSettlement", "SettlementIn"]

JOURNALS = "/books/v3/journals"


class SettlementIn(BaseModel):
    """A processed gateway settlement (settlement.processed)."""

    model_config = ConfigDict(extra="forbid")

    settlement_id: str = Field(min_length=1, description="The gateway's settlement id.")
    gateway: str = Field(default="gateway", description="Gateway name, for the notes.")
    amount: Decimal = Field(gt=0, max_digits=15, description="Net amount credited to the bank.")
    fees: Decimal = Field(ge=0, max_digits=15, description="Fees deducted.")
    tax: Decimal = Field(default=Decimal(0), ge=0, max_digits=15, description="GST on the fees.")
    fees_include_tax: bool = Field(
        default=True, description="True (the settlement schema's meaning): fees include tax."
    )
    currency: str = Field(default="INR", description="Currency of the amounts.")
    utr: str | None = Field(default=None, description="UTR of the bank transfer.")
    date: dt.date = Field(description="Journal date: the settlement's date.")

    @model_validator(mode="after")
    def _tax_within_fees(self) -> SettlementIn:
        if self.fees_include_tax and self.tax > self.fees:
            raise ValueError(f"tax {self.tax} exceeds fees {self.fees} that include it")
        return self

    @property
    def fee(self) -> Decimal:
        """The fee without GST."""
        return self.fees - self.tax if self.fees_include_tax else self.fees

    @property
    def gross(self) -> Decimal:
        return self.amount + self.fee + self.tax


class BookSettlement(Action[ZohoBooksConfig, SettlementIn]):
    """Book a gateway settlement as a balanced journal, once per idempotency key."""

    name = "zoho_books.book_settlement"
    input_model = SettlementIn
    description = "Book a payment-gateway settlement (net, fees, GST) as a Zoho Books journal."

    def _accounts(self, connection: str) -> tuple[str, str, str, str]:
        cfg = self.config
        bank = cfg.settlement_bank_account_id or cfg.deposit_account_id
        needed = {
            "clearing_account_id": cfg.clearing_account_id,
            "settlement_bank_account_id": bank,
            "fee_expense_account_id": cfg.fee_expense_account_id,
            "gst_input_account_id": cfg.gst_input_account_id,
        }
        missing = [k for k, v in needed.items() if not v]
        if missing:
            raise ConfigError(
                f"connection {connection!r}: zoho_books.book_settlement needs {', '.join(missing)}"
            )
        return (
            str(cfg.clearing_account_id),
            str(bank),
            str(cfg.fee_expense_account_id),
            str(cfg.gst_input_account_id),
        )

    async def run(self, item: SettlementIn, ctx: ActionContext) -> dict[str, Any]:
        clearing, bank, fee_account, gst_account = self._accounts(ctx.connection)
        session = _session(ctx)
        reference = payment_reference(ctx.idempotency_key)
        existing = await self._find(session, reference)
        if existing is not None:
            return self._result(existing, item, created=False)
        lines: list[dict[str, Any]] = [
            {"account_id": bank, "debit_or_credit": "debit", "amount": _number(item.amount)},
        ]
        if item.fee > 0:
            lines.append(
                {"account_id": fee_account, "debit_or_credit": "debit", "amount": _number(item.fee)}
            )
        if item.tax > 0:
            lines.append(
                {"account_id": gst_account, "debit_or_credit": "debit", "amount": _number(item.tax)}
            )
        lines.append(
            {"account_id": clearing, "debit_or_credit": "credit", "amount": _number(item.gross)}
        )
        utr = f" UTR {item.utr}" if item.utr else ""
        body = {
            "journal_date": item.date.isoformat(),
            "reference_number": reference,
            "notes": f"{item.gateway} settlement {item.settlement_id}{utr}",
            "line_items": lines,
        }
        resp = await session.request("POST", JOURNALS, json_body=body)
        journal = _record(books_result(resp, "the journal"), "journal", "the journal")
        return self._result(journal, item, created=True)

    async def _find(self, session: ZohoBooksSession, reference: str) -> dict[str, Any] | None:
        resp = await session.request("GET", JOURNALS, params={"reference_number": reference})
        body = books_result(resp, "the journal search")
        for row in body.get("journals") or []:
            if isinstance(row, dict) and row.get("reference_number") == reference:
                return row
        return None

    @staticmethod
    def _result(journal: dict[str, Any], item: SettlementIn, *, created: bool) -> dict[str, Any]:
        return {
            "journal_id": str(journal["journal_id"]),
            "gross": money(item.gross),
            "net": money(item.amount),
            "fees": money(item.fee),
            "tax": money(item.tax),
            "created": created,
        }
