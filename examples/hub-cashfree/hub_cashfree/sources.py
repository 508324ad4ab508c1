"""Cashfree's webhook deliveries: signature and freshness check, mapping to hub events."""

from __future__ import annotations

import hmac
import json
import time
from decimal import Decimal
from typing import Any, Final

from hub import (
    Event,
    ParseError,
    Secret,
    SignatureError,
    SkipEvent,
    WebhookRequest,
    WebhookSource,
    hmac_b64,
)

from .config import CashfreeConfig
from .normalize import timestamp, to_payment, to_refund

__all__ = [
    "PAYMENT_TYPES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "CashfreeWebhook",
    "idempotency_key",
    "parse_body",
    "sign",
]

SIGNATURE_HEADER: Final = "x-webhook-signature"
TIMESTAMP_HEADER: Final = "x-webhook-timestamp"
VERSION_HEADER: Final = "x-webhook-version"
DELIVERY_HEADER: Final = "x-idempotency-key"

#: Cashfree payment webhook ``type`` → hub type. ``PAYMENT_USER_DROPPED_WEBHOOK``
#: (the customer left checkout) is neither a capture nor a bank failure: skipped.
PAYMENT_TYPES: Final[dict[str, str]] = {
    "PAYMENT_SUCCESS_WEBHOOK": "payment.captured",
    "PAYMENT_FAILED_WEBHOOK": "payment.failed",
}
REFUND_TYPE: Final = "REFUND_STATUS_WEBHOOK"
#: ``refund_status`` of a refund webhook → hub type; other statuses are not final.
REFUND_STATUSES: Final[dict[str, str]] = {
    "SUCCESS": "refund.processed",
    "CANCELLED": "refund.failed",
    "FAILED": "refund.failed",
}

# x-webhook-timestamp is documented in milliseconds (1746427759733). A value
# below this is read as seconds, in case an older integration sends those.
_MS_THRESHOLD: Final = 100_000_000_000
_MAX_TIMESTAMP_DIGITS: Final = 16


def sign(secret: Secret | str, timestamp_header: str, body: bytes) -> str:
    """Cashfree's signature: base64 HMAC-SHA256 of ``x-webhook-timestamp`` + raw body."""
    return hmac_b64(secret, timestamp_header.encode("ascii") + body)


def idempotency_key(hub_type: str, object_id: str) -> str:
    """The key of a business event, e.g. ``payment.captured:1453002795``.

    Built from what happened to which object (never from ``x-idempotency-key``
    or the timestamp of one delivery), so that retries and dashboard resends
    of the same payment dedupe to one event.
    """
    return f"{hub_type}:{object_id}"


def parse_body(request: WebhookRequest) -> dict[str, Any]:
    """The body as a JSON object whose decimal numbers are ``Decimal`` (never ``float``).

    Raises:
        ParseError: not UTF-8, not JSON, ``NaN``/``Infinity``, or not an object.
    """
    try:
        doc = json.loads(request.text(), parse_float=Decimal, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ParseError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ParseError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


class CashfreeWebhook(WebhookSource[CashfreeConfig]):
    """Payment and refund notifications pushed by Cashfree Payments to ``/hooks/{connection}``."""

    name = "cashfree.webhook"
    emits = ("payment.captured", "payment.failed", "refund.processed", "refund.failed")

    def now(self) -> float:
        """The current Unix time in seconds (a hook so tests can move the clock)."""
        return time.time()

    def verify(self, request: WebhookRequest) -> None:
        """Check ``x-webhook-signature`` over timestamp + body, then the timestamp's age.

        Both secret keys are always tried and compared in constant time. The
        timestamp is part of what is signed, so a replay cannot refresh it.

        Raises:
            SignatureError: a header is missing, the signature matches neither key,
                or the timestamp is further than ``max_skew_seconds`` from now.
        """
        sent = request.headers.get(SIGNATURE_HEADER)
        stamp = request.headers.get(TIMESTAMP_HEADER)
        if not sent:
            raise SignatureError(f"{SIGNATURE_HEADER} header is missing")
        if not stamp:
            raise SignatureError(f"{TIMESTAMP_HEADER} header is missing")
        stamp = stamp.strip()
        if not stamp.isascii() or not stamp.isdigit() or len(stamp) > _MAX_TIMESTAMP_DIGITS:
            raise SignatureError(f"{TIMESTAMP_HEADER} must be a Unix time in milliseconds")

        matched = False
        for secret in (self.config.secret_key, self.config.previous_secret_key):
            if secret is None:
                continue
            expected = sign(secret, stamp, request.body)
            # compare_digest refuses non-ASCII str; such a header cannot match anyway.
            matched |= sent.isascii() and hmac.compare_digest(expected, sent.strip())
        if not matched:
            raise SignatureError(
                f"{SIGNATURE_HEADER} does not match the timestamp and body: check secret_key "
                "(and previous_secret_key while rotating), and that nothing re-encodes the body"
            )

        sent_at = int(stamp) / (1000 if int(stamp) >= _MS_THRESHOLD else 1)
        skew = abs(self.now() - sent_at)
        if skew > self.config.max_skew_seconds:
            raise SignatureError(
                f"{TIMESTAMP_HEADER} is {skew:.0f}s away from this server's clock (limit "
                f"{self.config.max_skew_seconds}s): a replayed or long-delayed delivery, or a "
                "wrong server clock; check NTP, or raise max_skew_seconds"
            )

    def parse(self, request: WebhookRequest) -> list[Event]:
        """One event per handled delivery.

        Raises:
            ParseError: not a Cashfree webhook, a field of the wrong type, or
                data that does not fit the hub's schema.
            SkipEvent: a type or refund status the hub does not handle.
        """
        body = parse_body(request)
        vendor_type = body.get("type")
        if not isinstance(vendor_type, str) or not vendor_type:
            raise ParseError('not a Cashfree webhook: "type" is missing')
        data = body.get("data")
        if not isinstance(data, dict):
            raise ParseError(f"{vendor_type}: data is missing or not an object")

        if vendor_type in PAYMENT_TYPES:
            hub_type = PAYMENT_TYPES[vendor_type]
            event_data = to_payment(data, hub_type.rsplit(".", 1)[1])
            subject = event_data["payment_id"]
        elif vendor_type == REFUND_TYPE:
            refund = data.get("refund")
            if not isinstance(refund, dict):
                raise ParseError(f"{vendor_type}: data.refund is missing or not an object")
            status = refund.get("refund_status")
            mapped = REFUND_STATUSES.get(status) if isinstance(status, str) else None
            if mapped is None:
                raise SkipEvent(f"cashfree refund status {str(status)[:40]} is not final")
            hub_type = mapped
            event_data = to_refund(refund, hub_type.rsplit(".", 1)[1])
            subject = event_data["refund_id"]
        else:
            raise SkipEvent(f"cashfree webhook {vendor_type[:60]} is not handled")

        try:
            return [
                Event.create(
                    type=hub_type,
                    subject=subject,
                    idempotency_key=idempotency_key(hub_type, subject),
                    time=timestamp(body.get("event_time"), "event_time"),
                    data=event_data,
                    raw=_json_safe(body),
                )
            ]
        except ValueError as exc:  # hub.schemas.SchemaViolation is a ValueError
            raise ParseError(f"cashfree {vendor_type}: {exc}") from exc


def _json_safe(value: Any) -> Any:
    """``raw`` for storage: decimal numbers keep their exact text (``"1.00"``)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a Cashfree webhook")
