"""``zoho_books.create_invoice``: a GST invoice with the right tax split, created once.

Each line carries a GST slab (``tax_rate``); the action turns it into the Books
tax to apply: within the organization's home state (``gst_home_state``) the
slab's tax group ``GST<rate>`` (CGST + SGST at half the rate each), else
``IGST<rate>``. Tax IDs come from the config's ``tax_ids`` when listed there,
else from ``GET /settings/taxes``, fetched once per connection and cached on
the session. Books computes the amounts; the action returns them (with the
open ``balance`` and ``status``, so a later step can apply a payment). With
``is_inclusive_tax`` the rates include GST and Books takes the tax out of them
(``total`` = the rates), e.g. for an invoice raised for a payment already made.

Idempotency: the invoice's ``reference_number`` is the step's business
reference when given (an order number), else the idempotency key; the action
searches ``GET /invoices?reference_number=`` before it creates.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.connector import Action, ActionContext
from hub.errors import ConfigError, PermanentError

from .actions import _number, _record, _session, books_result, payment_reference
from .auth import ZohoBooksSession
from .config import ZohoBooksConfig
from .gst import GST_SLABS, PLACE_CODES, STATES, check_hsn_sac, slab_label, tax_split

__all__ = ["CreateInvoice", "InvoiceIn", "InvoiceLineIn", "money", "tax_ids"]

INVOICES = "/books/v3/invoices"
TAXES = "/books/v3/settings/taxes"
CENT = Decimal("0.01")


def money(value: Any) -> str:
    """A Books number as a two-decimal string, e.g. ``90.0`` -> ``"90.00"``."""
    return str(Decimal(str(value if value not in (None, "") else 0)).quantize(CENT))


class InvoiceLineIn(BaseModel):
    """One invoice line: what was sold, its HSN/SAC code and GST slab."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="Item name shown on the line.")
    description: str | None = Field(default=None, description="Longer text under the name.")
    rate: Decimal = Field(ge=0, max_digits=15, description="Price per unit, before tax.")
    quantity: Decimal = Field(default=Decimal(1), gt=0, max_digits=15, description="Units sold.")
    product_type: Literal["goods", "services"] = Field(
        description="goods (HSN code) or services (SAC code)."
    )
    hsn_or_sac: str = Field(
        description="HSN for goods (4, 6 or 8 digits) or SAC for services (6 digits, 99....)."
    )
    tax_rate: Decimal = Field(
        description="GST slab in percent: 0, 0.1, 0.25, 1.5, 3, 5, 12, 18 or 28."
    )

    @field_validator("tax_rate")
    @classmethod
    def _slab(cls, value: Decimal) -> Decimal:
        if value not in GST_SLABS:
            slabs = ", ".join(slab_label(s) for s in GST_SLABS)
            raise ValueError(f"{value} is not a GST slab ({slabs})")
        return value

    @model_validator(mode="after")
    def _code(self) -> InvoiceLineIn:
        self.hsn_or_sac = check_hsn_sac(self.hsn_or_sac, self.product_type)
        return self


class InvoiceIn(BaseModel):
    """A GST invoice to create in Books."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, description="Books contact ID of the customer.")
    line_items: list[InvoiceLineIn] = Field(min_length=1, description="What is billed.")
    place_of_supply: str = Field(
        description="Where the supply is made: Books' state code (KA, MH) or the GST code (29)."
    )
    date: dt.date = Field(description="Invoice date, yyyy-mm-dd.")
    due_date: dt.date | None = Field(default=None, description="Due date; default: Books'.")
    reference_number: str | None = Field(
        default=None,
        max_length=100,
        description="Business reference (order number), unique per invoice; "
        "default: the step's idempotency key. Searched before creating.",
    )
    notes: str | None = Field(default=None, description="Notes printed on the invoice.")
    gst_treatment: Literal["business_gst", "business_none", "overseas", "consumer"] | None = Field(
        default=None, description="GST treatment; default: the customer's."
    )
    is_inclusive_tax: bool = Field(
        default=False,
        description="Line rates include GST (a price the customer paid, e.g. a gateway "
        "payment): Books takes the tax out of the rate instead of adding it.",
    )

    @field_validator("place_of_supply")
    @classmethod
    def _place(cls, value: str) -> str:
        value = value.strip().upper()
        if value in STATES:
            return STATES[value][0]
        if value not in PLACE_CODES:
            raise ValueError(f"{value!r} is not an Indian state code (e.g. KA, MH or 29)")
        return value


async def tax_ids(session: ZohoBooksSession, config: ZohoBooksConfig) -> dict[str, str]:
    """Books tax name -> ID: the config's map over the organization's taxes (fetched once)."""
    if session.tax_ids is None:
        found: dict[str, str] = {}
        page = 1
        while True:
            resp = await session.request("GET", TAXES, params={"page": page, "per_page": 200})
            body = books_result(resp, "the tax list")
            for row in body.get("taxes") or []:
                if isinstance(row, dict) and row.get("tax_name") and row.get("tax_id"):
                    found[str(row["tax_name"])] = str(row["tax_id"])
            if not (body.get("page_context") or {}).get("has_more_page"):
                break
            page += 1
        session.tax_ids = found
    return {**session.tax_ids, **config.tax_ids}


def tax_name(rate: Decimal, place_of_supply: str, home_state: str) -> str:
    """The Books tax for a slab: the group ``GST18`` within the home state, else ``IGST18``."""
    shares = tax_split(rate, place_of_supply, home_state)
    return shares[0].name if shares[0].kind == "IGST" else f"GST{slab_label(rate)}"


class CreateInvoice(Action[ZohoBooksConfig, InvoiceIn]):
    """Create a GST invoice once: CGST+SGST within the home state, IGST across states."""

    name = "zoho_books.create_invoice"
    input_model = InvoiceIn
    description = "Create a GST invoice in Zoho Books (tax split by place of supply), once."

    async def run(self, item: InvoiceIn, ctx: ActionContext) -> dict[str, Any]:
        home = self.config.gst_home_state
        if home is None:
            raise ConfigError(
                f"connection {ctx.connection!r}: zoho_books.create_invoice needs gst_home_state "
                "(the organization's state code, e.g. KA)"
            )
        session = _session(ctx)
        reference = item.reference_number or payment_reference(ctx.idempotency_key)
        existing = await self._find(session, reference)
        if existing is not None:
            return self._result(existing, created=False)
        ids = await tax_ids(session, self.config)
        lines = []
        for line in item.line_items:
            wanted = tax_name(line.tax_rate, item.place_of_supply, home)
            if wanted not in ids:
                raise PermanentError(
                    f"Zoho Books has no tax named {wanted!r}: create it in Settings → Taxes "
                    "or map it in the connection's tax_ids"
                )
            body_line: dict[str, Any] = {
                "name": line.name,
                "rate": _number(line.rate),
                "quantity": _number(line.quantity),
                "product_type": line.product_type,
                "hsn_or_sac": line.hsn_or_sac,
                "tax_id": ids[wanted],
            }
            if line.description:
                body_line["description"] = line.description
            lines.append(body_line)
        body: dict[str, Any] = {
            "customer_id": item.customer_id,
            "date": item.date.isoformat(),
            "reference_number": reference,
            "place_of_supply": item.place_of_supply,
            "line_items": lines,
        }
        if item.due_date is not None:
            body["due_date"] = item.due_date.isoformat()
        if item.notes:
            body["notes"] = item.notes
        if item.gst_treatment:
            body["gst_treatment"] = item.gst_treatment
        if item.is_inclusive_tax:
            body["is_inclusive_tax"] = True
        resp = await session.request("POST", INVOICES, json_body=body)
        invoice = _record(books_result(resp, "the invoice"), "invoice", "the invoice")
        return self._result(invoice, created=True)

    async def _find(self, session: ZohoBooksSession, reference: str) -> dict[str, Any] | None:
        resp = await session.request("GET", INVOICES, params={"reference_number": reference})
        body = books_result(resp, "the invoice search")
        for row in body.get("invoices") or []:
            if isinstance(row, dict) and row.get("reference_number") == reference:
                full = await session.request("GET", f"{INVOICES}/{row['invoice_id']}")
                return _record(books_result(full, "the invoice"), "invoice", "the invoice")
        return None

    @staticmethod
    def _result(invoice: dict[str, Any], *, created: bool) -> dict[str, Any]:
        return {
            "invoice_id": str(invoice["invoice_id"]),
            "invoice_number": str(invoice.get("invoice_number", "")),
            "total": money(invoice.get("total")),
            "tax_total": money(invoice.get("tax_total")),
            "balance": money(invoice.get("balance", invoice.get("total"))),
            "status": str(invoice.get("status", "")),
            "taxes": [
                {"name": str(t.get("tax_name", "")), "amount": money(t.get("tax_amount"))}
                for t in invoice.get("taxes") or []
                if isinstance(t, dict)
            ],
            "created": created,
        }
