"""Razorpay's webhook deliveries: signature check and mapping to the hub's event types.

The REST poller over the same payments lives in ``polling.py`` and shares
``idempotency_key`` and the ``normalize`` functions with this module.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from typing import Any, Final

from hub.connector import WebhookRequest, WebhookSource
from hub.errors import ParseError, SignatureError, SkipEvent
from hub.events import Event
from hub.schemas import SchemaViolation

from .config import RazorpayConfig
from .normalize import epoch, to_bank_credit, to_payment, to_refund, to_settlement

__all__ = [
    "EVENT_TYPES",
    "RazorpayWebhook",
    "bank_credit_key",
    "idempotency_key",
    "sign",
]

SIGNATURE_HEADER: Final = "X-Razorpay-Signature"
EVENT_ID_HEADER: Final = "X-Razorpay-Event-Id"

#: Razorpay event -> (hub type, the payload entity the event is about).
#: ``order.paid`` reports the same capture as ``payment.captured`` (either may
#: arrive first), so it maps to the same type and, below, the same key.
EVENT_TYPES: Final[dict[str, tuple[str, str]]] = {
    "payment.authorized": ("payment.authorized", "payment"),
    "payment.captured": ("payment.captured", "payment"),
    "payment.failed": ("payment.failed", "payment"),
    "order.paid": ("payment.captured", "payment"),
    "refund.processed": ("refund.processed", "refund"),
    "refund.failed": ("refund.failed", "refund"),
    "settlement.processed": ("settlement.processed", "settlement"),
    # Smart Collect and QR credits: money landed in a virtual account or on a QR
    # code, reported like a line of a bank statement (the payment is in the payload).
    "virtual_account.credited": ("bank.transaction.posted", "virtual_account"),
    "qr_code.credited": ("bank.transaction.posted", "qr_code"),
}
_CREDIT_LABELS: Final = {"virtual_account": "virtual account", "qr_code": "QR code"}


def sign(secret: str, body: bytes) -> str:
    """Razorpay's webhook signature: lowercase hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def idempotency_key(hub_type: str, entity_id: str) -> str:
    """The key of a business event, e.g. ``payment.captured:pay_P4tYk8mZq2LwXa``.

    Built from what happened to which object, not from the delivery
    (``X-Razorpay-Event-Id``), so that ``payment.captured`` and ``order.paid``
    for one payment, a redelivery, a Dashboard replay and a later poll of the
    REST API all dedupe to one event.
    """
    return f"{hub_type}:{entity_id}"


def bank_credit_key(payment_id: str) -> str:
    """The key of a VA/QR credit: ``bank.transaction.posted:razorpay:pay_…``.

    ``bank.transaction.posted`` also comes from bank statement connectors, so the
    gateway is part of the key; the payment id is the one id every credit has.
    """
    return f"bank.transaction.posted:razorpay:{payment_id}"


class RazorpayWebhook(WebhookSource[RazorpayConfig]):
    """Payments, refunds, settlements and VA/QR credits pushed by Razorpay to ``/hooks/{connection}``."""

    name = "razorpay.webhook"
    emits = (
        "payment.authorized",
        "payment.captured",
        "payment.failed",
        "refund.processed",
        "refund.failed",
        "settlement.processed",
        "bank.transaction.posted",
    )

    def verify(self, request: WebhookRequest) -> None:
        """Check ``X-Razorpay-Signature`` against the current and the previous secret.

        Both candidates are always computed and compared in constant time, so the
        answer's timing says nothing about which secret (if any) nearly matched.

        Raises:
            SignatureError: the header is missing or matches neither secret.
        """
        sent = request.headers.get(SIGNATURE_HEADER)
        if sent is None:
            raise SignatureError(f"{SIGNATURE_HEADER} header is missing")
        secrets = [self.config.webhook_secret, self.config.previous_webhook_secret]
        matched = False
        for secret in secrets:
            if secret is None:
                continue
            expected = sign(secret.reveal(), request.body)
            # compare_digest refuses non-ASCII str; such a header cannot match anyway.
            matched |= sent.isascii() and hmac.compare_digest(expected, sent)
        if not matched:
            raise SignatureError(
                f"{SIGNATURE_HEADER} does not match the body: check webhook_secret "
                "(and previous_webhook_secret while rotating)"
            )

    def parse(self, request: WebhookRequest) -> list[Event]:
        """One event per handled delivery.

        Raises:
            ParseError: not a Razorpay event envelope, a field of the wrong type,
                data that does not fit the hub's schema, or another account's event.
            SkipEvent: an event the hub does not handle (disputes, invoices, ...).
        """
        body = request.json()
        if not isinstance(body, dict):
            raise ParseError(f"expected a JSON object, got {_kind(body)}")
        if body.get("entity") != "event":
            raise ParseError('not a Razorpay webhook: "entity" is not "event"')
        vendor_event = body.get("event")
        if not isinstance(vendor_event, str) or not vendor_event:
            raise ParseError('not a Razorpay webhook: "event" is missing')
        self._check_account(body.get("account_id"))
        mapped = EVENT_TYPES.get(vendor_event)
        if mapped is None:
            raise SkipEvent(f"razorpay event {vendor_event} is not handled")
        hub_type, entity_name = mapped

        where = f"payload.{entity_name}.entity"
        payload = body.get("payload")
        holder = payload.get(entity_name) if isinstance(payload, dict) else None
        entity = holder.get("entity") if isinstance(holder, dict) else None
        if not isinstance(entity, dict):
            raise ParseError(f"{vendor_event} without {where}")
        entity_id = entity.get("id")
        if not isinstance(entity_id, str) or not entity_id:
            raise ParseError(f"{where}.id is missing: cannot tell which object this is about")

        status = hub_type.rsplit(".", 1)[1]
        subject, key = entity_id, idempotency_key(hub_type, entity_id)
        if entity_name in _CREDIT_LABELS:
            subject, data = _credit(vendor_event, payload, entity_id, _CREDIT_LABELS[entity_name])
            key = bank_credit_key(subject)
        elif entity_name == "payment":
            data = to_payment(entity, status, where)
        elif entity_name == "refund":
            data = to_refund(entity, status, where)
        else:
            data = to_settlement(entity, where)

        try:
            event = Event.create(
                type=hub_type,
                subject=subject,
                idempotency_key=key,
                time=epoch(body.get("created_at"), "created_at"),
                data=data,
                raw=body,
            )
        except SchemaViolation as exc:
            raise ParseError(f"razorpay {vendor_event}: {exc}") from exc
        delivery = request.headers.get(EVENT_ID_HEADER)
        if delivery:
            # Kept for support tickets with Razorpay; deliberately not the idempotency key.
            event = replace(event, extensions={"razorpayeventid": delivery})
        return [event]

    def _check_account(self, account: Any) -> None:
        expected = self.config.account_id
        if expected is not None and account != expected:
            shown = account[:60] if isinstance(account, str) else "(none)"
            raise ParseError(
                f"event for account {shown}, this connection is {expected}: "
                "the webhook URL is configured in the wrong Razorpay account"
            )


def _credit(
    vendor_event: str, payload: Any, account: str, label: str
) -> tuple[str, dict[str, Any]]:
    """The payment id and ``data`` of a ``virtual_account.credited``/``qr_code.credited``.

    Documented ``contains``: payment + virtual_account (+ ``bank_transfer`` for bank
    credits), payment + qr_code. ``upi_transfer`` for UPI credits to a VA is UNCONFIRMED.
    """
    payment = _entity(payload, "payment")
    if payment is None:
        raise ParseError(f"{vendor_event} without payload.payment.entity")
    payment_id = payment.get("id")
    if not isinstance(payment_id, str) or not payment_id:
        raise ParseError("payload.payment.entity.id is missing: cannot tell which credit this is")
    data = to_bank_credit(
        payment,
        account=account,
        label=label,
        bank_transfer=_entity(payload, "bank_transfer"),
        upi_transfer=_entity(payload, "upi_transfer"),
    )
    return payment_id, data


def _entity(payload: Any, name: str) -> dict[str, Any] | None:
    holder = payload.get(name) if isinstance(payload, dict) else None
    entity = holder.get("entity") if isinstance(holder, dict) else None
    return entity if isinstance(entity, dict) else None


def _kind(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
