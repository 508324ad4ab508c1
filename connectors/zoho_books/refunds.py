"""``zoho_books.record_refund``: a refund of a customer payment, recorded once.

Books: ``POST /customerpayments/{payment_id}/refunds`` with ``date``,
``refund_mode``, ``reference_number``, ``amount``, ``from_account_id`` and
``description``; ``GET /customerpayments/{payment_id}/refunds`` lists them
(``payment_refunds``). Per https://www.zoho.com/books/api/v3/customer-payments/
("Refund an excess customer payment", "List refunds of a customer payment").
UNCONFIRMED against a live organization: the list key ``payment_refunds``, the
record key ``payment_refund`` and whether Books accepts a refund of the
*applied* part of a payment (Books documents refunds of the excess/unused
amount; refunding applied money may need a credit note instead).

Finding the original payment, in this order:

- ``payment_id``: the Books payment ID itself;
- ``payment_reference``: the ``reference_number`` the payment carries (the
  payment step's idempotency key), ``GET /customerpayments?reference_number=``;
- ``payment_search``: text the payment's description contains, e.g. the
  gateway payment id (the payment recipes write ``Razorpay pay_...`` there);
  ``GET /customerpayments?search_text=`` (UNCONFIRMED that Books' search_text
  covers the description), and only rows whose description really contains
  the text count.

A refund webhook can arrive before the payment is in Books (gateways do not
order their webhooks, and the payment run may still be retrying): a payment
not found is a ``TransientError`` with ``retry_after=60``, so the step waits
for it.

Idempotency: the refund's ``reference_number`` is the step's idempotency key
(hashed when longer than 100 characters); the payment's refunds are listed
and searched for it (or for ``hub:<key>`` in the description) before creating.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.connector import Action, ActionContext
from hub.errors import PermanentError, TransientError

from .actions import PAYMENTS, _number, _record, _session, books_result, payment_reference
from .auth import ZohoBooksSession
from .config import ZohoBooksConfig

__all__ = ["WAIT_FOR_PAYMENT", "RecordRefund", "RefundIn"]

WAIT_FOR_PAYMENT = 60.0  # seconds before looking for a not-yet-recorded payment again


class RefundIn(BaseModel):
    """A refund of a customer payment already recorded in Books."""

    model_config = ConfigDict(extra="forbid")

    payment_id: str | None = Field(default=None, description="Books ID of the payment refunded.")
    payment_reference: str | None = Field(
        default=None,
        max_length=100,
        description="The reference_number of the payment refunded (the payment step's key).",
    )
    payment_search: str | None = Field(
        default=None,
        min_length=3,
        description="Text the payment's description contains, e.g. the gateway payment id "
        "(pay_...): the payment recipes put 'Razorpay <payment id>' there.",
    )
    amount: Decimal = Field(
        gt=0, max_digits=15, description="Amount refunded in major units, e.g. '500.00'."
    )
    date: dt.date = Field(description="Date of the refund, yyyy-mm-dd.")
    reference: str | None = Field(
        default=None,
        max_length=100,
        description="Gateway refund id or ARN, shown in the description.",
    )
    description: str | None = Field(default=None, description="Free text for the refund.")
    refund_mode: str | None = Field(
        default=None, description="cash, check, banktransfer, ...; default: the connection's."
    )
    from_account_id: str | None = Field(
        default=None, description="Account the money left from; default: deposit_account_id."
    )

    @model_validator(mode="after")
    def _one_way_to_the_payment(self) -> RefundIn:
        given = [self.payment_id, self.payment_reference, self.payment_search]
        if sum(1 for g in given if g) != 1:
            raise ValueError("give exactly one of payment_id, payment_reference or payment_search")
        return self


def _refunds_path(payment_id: str) -> str:
    return f"{PAYMENTS}/{payment_id}/refunds"


class RecordRefund(Action[ZohoBooksConfig, RefundIn]):
    """Refund (part of) a customer payment once, keyed by the step's idempotency key."""

    name = "zoho_books.record_refund"
    input_model = RefundIn
    description = "Record a refund of a customer payment in Zoho Books, once per key."

    async def run(self, item: RefundIn, ctx: ActionContext) -> dict[str, Any]:
        session = _session(ctx)
        payment = await self._payment(session, item)
        payment_id = str(payment["payment_id"])
        reference = payment_reference(ctx.idempotency_key)
        existing = await self._find(session, payment_id, reference)
        if existing is not None:
            return self._result(existing, payment_id, created=False)
        total = Decimal(str(payment.get("amount") or 0))
        if item.amount > total:
            raise PermanentError(
                f"cannot refund {item.amount}: payment "
                f"{payment.get('payment_number') or payment_id} is only {total}"
            )
        resp = await session.request(
            "POST", _refunds_path(payment_id), json_body=self._body(item, reference)
        )
        refund = _record(books_result(resp, "the refund"), "payment_refund", "the refund")
        return self._result(refund, payment_id, created=True)

    async def _payment(self, session: ZohoBooksSession, item: RefundIn) -> dict[str, Any]:
        if item.payment_id:
            resp = await session.request("GET", f"{PAYMENTS}/{item.payment_id}")
            if resp.status == 404:
                raise self._not_yet(f"payment with ID {item.payment_id}")
            return _record(books_result(resp, "the payment"), "payment", "the payment")
        if item.payment_reference:
            params = {"reference_number": item.payment_reference}
            wanted = f"reference_number {item.payment_reference!r}"
        else:
            assert item.payment_search is not None
            params = {"search_text": item.payment_search}
            wanted = f"a description containing {item.payment_search!r}"
        page = 1
        while True:
            resp = await session.request(
                "GET", PAYMENTS, params={**params, "page": page, "per_page": 200}
            )
            body = books_result(resp, "the payment search")
            for row in body.get("customerpayments") or []:
                if not isinstance(row, dict) or not row.get("payment_id"):
                    continue
                if item.payment_reference and row.get("reference_number") == item.payment_reference:
                    return row
                if item.payment_search and item.payment_search in str(row.get("description", "")):
                    return row
            if not (body.get("page_context") or {}).get("has_more_page"):
                raise self._not_yet(f"payment with {wanted}")
            page += 1

    @staticmethod
    def _not_yet(what: str) -> TransientError:
        return TransientError(
            f"Zoho Books has no {what} yet: the refund waits for the payment to be recorded "
            "(its webhook may arrive after the refund's, or its run may still be retrying)",
            retry_after=WAIT_FOR_PAYMENT,
        )

    @staticmethod
    async def _find(
        session: ZohoBooksSession, payment_id: str, reference: str
    ) -> dict[str, Any] | None:
        resp = await session.request("GET", _refunds_path(payment_id))
        body = books_result(resp, "the refund search")
        tag = f"hub:{reference}"
        for row in body.get("payment_refunds") or []:
            if not isinstance(row, dict):
                continue
            if row.get("reference_number") == reference or tag in str(row.get("description", "")):
                return row
        return None

    def _body(self, item: RefundIn, reference: str) -> dict[str, Any]:
        notes = [item.description, f"Ref {item.reference}" if item.reference else None]
        notes.append(f"hub:{reference}")
        body: dict[str, Any] = {
            "date": item.date.isoformat(),
            "refund_mode": item.refund_mode or self.config.payment_mode,
            "reference_number": reference,
            "amount": _number(item.amount),
            "description": " | ".join(n for n in notes if n),
        }
        account_id = item.from_account_id or self.config.deposit_account_id
        if account_id:
            body["from_account_id"] = account_id
        return body

    @staticmethod
    def _result(refund: dict[str, Any], payment_id: str, *, created: bool) -> dict[str, Any]:
        return {
            "refund_id": str(refund.get("payment_refund_id", "")),
            "payment_id": payment_id,
            "amount": str(Decimal(str(refund.get("amount", 0))).quantize(Decimal("0.01"))),
            "created": created,
        }
