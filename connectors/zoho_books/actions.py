"""Zoho Books sink actions: ``zoho_books.upsert_contact`` and ``zoho_books.record_payment``.

Books has no idempotency header, so each action makes a retry harmless the
only way Books allows: it searches before it creates. Contacts are found by
email (else phone, else name); payments carry the step's idempotency key in
``reference_number`` (a Books list filter), so a retry after "Books committed,
then our request timed out" finds the payment instead of writing a second one.

Status codes go through ``hub.http.raise_for_status`` (the one map); Books'
own envelope (``{"code": <non-zero>, "message": ...}``, sometimes inside a 200)
becomes a ``PermanentError`` carrying Books' message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.connector import Action, ActionContext
from hub.errors import ConfigError, PermanentError
from hub.http import Response, raise_for_status

from .auth import ZohoBooksSession
from .config import ZohoBooksConfig
from .gst import GstinError, check_gstin, state_of_gstin

__all__ = [
    "ContactIn",
    "InvoiceApplication",
    "PaymentIn",
    "RecordPayment",
    "UpsertContact",
    "books_result",
    "payment_reference",
]

CONTACTS = "/books/v3/contacts"
PAYMENTS = "/books/v3/customerpayments"
INVOICES = "/books/v3/invoices"
REFERENCE_MAX = 100  # Books' limit on reference_number
DUPLICATE_NAME = 3062  # "The contact name already exists"


def _session(ctx: ActionContext) -> ZohoBooksSession:
    if not isinstance(ctx.session, ZohoBooksSession):
        raise ConfigError(
            f"connection {ctx.connection!r}: zoho_books actions need the connection's "
            "ZohoBooksSession (the hub creates it from the connector's `session`)"
        )
    return ctx.session


def _books_message(body: Any) -> str:
    if isinstance(body, dict):
        message = body.get("message") or "no message"
        code = body.get("code")
        return f"{message} (code {code})" if code not in (None, "") else str(message)
    return "an answer that is not a Books JSON object"


def books_result(resp: Response, what: str) -> dict[str, Any]:
    """Books' JSON body of a successful call, or the error it stands for.

    Args:
        resp: the answer.
        what: what was being done, for the message ("the payment", "the contact search").

    Raises:
        RateLimitError, TransientError, AuthError: by status (``raise_for_status``).
        PermanentError: other 4xx, a non-JSON body, or a non-zero Books ``code``,
            worded "Zoho Books rejected <what>: <Books' message> (code N)".
    """
    try:
        raise_for_status(resp)
    except PermanentError as exc:
        if type(exc) is not PermanentError:  # AuthError keeps its own meaning and wording
            raise
        body = _json_or_none(resp)
        raise PermanentError(
            f"Zoho Books rejected {what}: {_books_message(body)}", exc.status, exc.detail
        ) from exc
    body = resp.json()
    if not isinstance(body, dict):
        raise PermanentError(f"Zoho Books answered {what} with {_books_message(body)}", resp.status)
    code = body.get("code", 0)
    if code not in (0, "0"):
        raise PermanentError(
            f"Zoho Books rejected {what}: {_books_message(body)}", resp.status, str(body)[:300]
        )
    return body


def books_code(resp: Response) -> int | None:
    """Books' numeric error ``code`` in an answer's body, if it has one."""
    body = _json_or_none(resp)
    code = body.get("code") if isinstance(body, dict) else None
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())[-10:]


def _same_customer(row: dict[str, Any], item: ContactIn) -> bool:
    """True when a search hit really is this customer (Books' filters match loosely).

    Vendors are never customers; the email (else the phone's last ten digits)
    must match exactly when the row shows it.
    """
    if row.get("contact_type") not in (None, "", "customer"):
        return False
    if item.email and row.get("email"):
        return str(row["email"]).strip().lower() == item.email.strip().lower()
    if not item.email and item.phone and row.get("phone"):
        return _digits(str(row["phone"])) == _digits(item.phone)
    return True


def _json_or_none(resp: Response) -> Any:
    try:
        return resp.json()
    except PermanentError:
        return None


def _record(body: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    record = body.get(key)
    if not isinstance(record, dict):
        raise PermanentError(f"Zoho Books answered {what} without a {key!r} object")
    return record


class ContactIn(BaseModel):
    """A customer to find or create in Books."""

    model_config = ConfigDict(extra="forbid")

    contact_name: str = Field(
        min_length=1,
        max_length=200,
        description="Display name; Books requires it and keeps it unique per organization.",
    )
    email: str | None = Field(
        default=None, description="Primary contact person's email; the lookup key when given."
    )
    phone: str | None = Field(
        default=None, description="Primary contact person's phone; the lookup key without email."
    )
    company_name: str | None = Field(default=None, description="Legal or trading name.")
    gst_treatment: Literal["business_gst", "business_none", "overseas", "consumer"] | None = Field(
        default=None,
        description="Indian GST treatment; business_gst needs gst_no.",
    )
    gst_no: str | None = Field(
        default=None,
        description="15-character GSTIN; its format, state code, PAN and checksum are checked "
        "before Books is called.",
    )
    place_of_contact: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description="Two-letter Indian state code of the contact, e.g. KA or MH; "
        "default: the GSTIN's state.",
    )
    customer_sub_type: Literal["individual", "business"] = Field(
        default="individual", description="Whether the customer is a person or a business."
    )


class UpsertContact(Action[ZohoBooksConfig, ContactIn]):
    """Find a Books customer by email (else phone, else name), or create it.

    Searching first is what makes a retry after a timeout write once: the
    second attempt finds the contact the first one created.
    """

    name = "zoho_books.upsert_contact"
    input_model = ContactIn
    description = "Find a customer by email/phone/name in Zoho Books, or create it."

    async def run(self, item: ContactIn, ctx: ActionContext) -> dict[str, Any]:
        item = self.checked(item)
        session = _session(ctx)
        found = await self._find(session, item)
        if found is not None:
            return {"contact_id": str(found["contact_id"]), "created": False}
        resp = await session.request("POST", CONTACTS, json_body=self._body(item))
        if books_code(resp) == DUPLICATE_NAME:
            # Either a concurrent run just created this very customer (same
            # email/phone: find it), or another customer already has the name
            # (Books names are unique): create under a name that tells them apart.
            found = await self._find(session, item)
            if found is not None:
                return {"contact_id": str(found["contact_id"]), "created": False}
            if item.email or item.phone:
                body = self._body(item)
                body["contact_name"] = f"{item.contact_name} ({item.email or item.phone})"
                resp = await session.request("POST", CONTACTS, json_body=body)
        contact = _record(books_result(resp, "the contact"), "contact", "the contact")
        return {"contact_id": str(contact["contact_id"]), "created": True}

    @staticmethod
    def checked(item: ContactIn) -> ContactIn:
        """The contact with its GSTIN checked and ``place_of_contact`` defaulted from it.

        Raises:
            PermanentError: a GSTIN that cannot be right (length, state code, PAN,
                checksum), or ``business_gst`` without one; no call is made.
        """
        if item.gst_no is None or not item.gst_no.strip():
            if item.gst_treatment == "business_gst":
                raise PermanentError("gst_treatment business_gst needs gst_no (the GSTIN)")
            return item
        try:
            gstin = check_gstin(item.gst_no)
        except GstinError as exc:
            raise PermanentError(f"invalid GSTIN ({exc.kind}): {exc}") from exc
        place = item.place_of_contact or state_of_gstin(gstin)
        return item.model_copy(update={"gst_no": gstin, "place_of_contact": place})

    async def _find(self, session: ZohoBooksSession, item: ContactIn) -> dict[str, Any] | None:
        if item.email:
            query = {"email": item.email}
        elif item.phone:
            query = {"phone": item.phone}
        else:
            query = {"contact_name": item.contact_name}
        resp = await session.request("GET", CONTACTS, params=query)
        body = books_result(resp, "the contact search")
        for row in body.get("contacts") or []:
            if isinstance(row, dict) and row.get("contact_id") and _same_customer(row, item):
                return row
        return None

    @staticmethod
    def _body(item: ContactIn) -> dict[str, Any]:
        body: dict[str, Any] = {
            "contact_name": item.contact_name,
            "contact_type": "customer",
            "customer_sub_type": item.customer_sub_type,
        }
        for field in ("company_name", "gst_treatment", "gst_no", "place_of_contact"):
            value = getattr(item, field)
            if value is not None:
                body[field] = value
        if item.email or item.phone:
            person: dict[str, Any] = {"is_primary_contact": True}
            if item.email:
                person["email"] = item.email
            if item.phone:
                person["phone"] = item.phone
            body["contact_persons"] = [person]
        return body


class InvoiceApplication(BaseModel):
    """Part of a payment applied to one invoice."""

    model_config = ConfigDict(extra="forbid")

    invoice_id: str = Field(min_length=1, description="Books invoice ID.")
    amount_applied: Decimal = Field(
        gt=0, max_digits=15, description="Amount of this payment settled against the invoice."
    )


class PaymentIn(BaseModel):
    """A customer payment to record in Books (money in, e.g. a captured UPI payment)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, description="Books contact ID of the customer.")
    amount: Decimal = Field(
        gt=0,
        max_digits=15,
        description="Amount received in major units, as a decimal string, e.g. '1499.00'.",
    )
    date: dt.date = Field(description="Date received, yyyy-mm-dd (required: no silent 'today').")
    payment_mode: str | None = Field(
        default=None,
        description="cash, check, creditcard, banktransfer, ...; default: the connection's.",
    )
    reference: str | None = Field(
        default=None,
        max_length=100,
        description="Bank/UPI reference (UTR, RRN) shown to people in the description.",
    )
    description: str | None = Field(default=None, description="Free text for the payment.")
    invoices: list[InvoiceApplication] = Field(
        default_factory=list, description="Invoices this payment settles, with amounts."
    )
    account_id: str | None = Field(
        default=None, description="Deposit-to account ID; default: the connection's."
    )
    bank_charges: Decimal | None = Field(
        default=None, ge=0, max_digits=15, description="Bank or gateway charges deducted."
    )


def payment_reference(idempotency_key: str) -> str:
    """The ``reference_number`` a payment carries: the key itself, hashed if it is too long."""
    if len(idempotency_key) <= REFERENCE_MAX:
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def _number(value: Decimal) -> float:
    """A JSON number with the same digits: ``max_digits=15`` keeps the float's repr exact."""
    return float(value)


class RecordPayment(Action[ZohoBooksConfig, PaymentIn]):
    """Record a customer payment once, keyed by the step's idempotency key.

    The key goes in ``reference_number``; before creating, the action lists
    payments with that ``reference_number`` and returns the match if there is
    one. The human reference (UTR/RRN) goes in the description.
    """

    name = "zoho_books.record_payment"
    input_model = PaymentIn
    description = "Record a customer payment in Zoho Books, once per idempotency key."

    async def run(self, item: PaymentIn, ctx: ActionContext) -> dict[str, Any]:
        applied = sum((inv.amount_applied for inv in item.invoices), Decimal(0))
        if applied > item.amount:
            raise PermanentError(
                f"the payment applies {applied} to invoices but is only {item.amount}"
            )
        session = _session(ctx)
        reference = payment_reference(ctx.idempotency_key)
        existing = await self._find(session, reference)
        if existing is not None:
            return {
                "payment_id": str(existing["payment_id"]),
                "payment_number": str(existing.get("payment_number", "")),
                "created": False,
            }
        for inv in item.invoices:
            await self._check_balance(session, inv)
        resp = await session.request("POST", PAYMENTS, json_body=self._body(item, reference))
        payment = _record(books_result(resp, "the payment"), "payment", "the payment")
        return {
            "payment_id": str(payment["payment_id"]),
            "payment_number": str(payment.get("payment_number", "")),
            "created": True,
        }

    @staticmethod
    async def _check_balance(session: ZohoBooksSession, inv: InvoiceApplication) -> None:
        """Refuse to apply more than an invoice's open balance (Books would reject it too)."""
        resp = await session.request("GET", f"{INVOICES}/{inv.invoice_id}")
        invoice = _record(books_result(resp, "the invoice"), "invoice", "the invoice")
        balance = Decimal(str(invoice.get("balance", 0)))
        if inv.amount_applied > balance:
            number = invoice.get("invoice_number") or inv.invoice_id
            raise PermanentError(
                f"cannot apply {inv.amount_applied} to invoice {number}: its balance is {balance}"
            )

    async def _find(self, session: ZohoBooksSession, reference: str) -> dict[str, Any] | None:
        resp = await session.request("GET", PAYMENTS, params={"reference_number": reference})
        body = books_result(resp, "the payment search")
        for row in body.get("customerpayments") or []:
            # The filter may match loosely; only our exact reference counts.
            if isinstance(row, dict) and row.get("reference_number") == reference:
                return row
        return None

    def _body(self, item: PaymentIn, reference: str) -> dict[str, Any]:
        notes = [item.description, f"UTR {item.reference}" if item.reference else None]
        notes.append(f"hub:{reference}")
        body: dict[str, Any] = {
            "customer_id": item.customer_id,
            "payment_mode": item.payment_mode or self.config.payment_mode,
            "amount": _number(item.amount),
            "date": item.date.isoformat(),
            "reference_number": reference,
            "description": " | ".join(n for n in notes if n),
            "invoices": [
                {"invoice_id": inv.invoice_id, "amount_applied": _number(inv.amount_applied)}
                for inv in item.invoices
            ],
        }
        account_id = item.account_id or self.config.deposit_account_id
        if account_id:
            body["account_id"] = account_id
        if item.bank_charges is not None:
            body["bank_charges"] = _number(item.bank_charges)
        return body
