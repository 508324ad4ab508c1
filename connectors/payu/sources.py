"""PayU's server-to-server callbacks and webhooks: body decoding, hash check, event mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

from hub.connector import WebhookRequest, WebhookSource
from hub.errors import ParseError, SignatureError, SkipEvent
from hub.events import Event, utcnow
from hub.schemas import SchemaViolation

from .config import PayUConfig
from .normalize import added_on, to_payment, to_refund

__all__ = [
    "PAYMENT_TYPES",
    "REFUND_TYPES",
    "TOKEN_PARAM",
    "PayUBody",
    "PayUWebhook",
    "decode",
    "idempotency_key",
    "reverse_hash",
    "reverse_hash_string",
]

#: Query parameter of the webhook URL that authenticates unsigned (refund, dispute) webhooks.
TOKEN_PARAM: Final = "token"

#: PayU payment ``status`` → hub type. ``pending`` is not final ("treat anything
#: other than success as not paid", reference §2) and is skipped.
PAYMENT_TYPES: Final[dict[str, str]] = {
    "success": "payment.captured",
    "failure": "payment.failed",
}
#: A successful pre-authorization (``unmappedstatus=auth``) is not money captured.
AUTHORIZED: Final = "payment.authorized"
#: Refund callback ``status`` → hub type (reference §4: "a refund succeeds or fails").
REFUND_TYPES: Final[dict[str, str]] = {
    "success": "refund.processed",
    "failure": "refund.failed",
}

Kind = Literal["payment", "refund", "dispute", "other"]

#: Fields that identify a payment response (which always carries ``hash``).
_PAYMENT_MARKERS: Final = frozenset({"hash", "mihpayid", "txnid", "status"})
_MAX_FIELDS: Final = 500


@dataclass(frozen=True, slots=True)
class PayUBody:
    """A decoded callback.

    Attributes:
        encoding: how the body was read (``form`` or ``json``).
        fields: every top-level scalar as the text PayU sent (JSON numbers keep
            their literal digits, null is empty): the hash is over these strings.
        raw: the whole decoded body, for ``Event.raw``.
    """

    encoding: Literal["form", "json"]
    fields: dict[str, str]
    raw: Any

    @property
    def kind(self) -> Kind:
        """What the body is: payment response, refund or dispute webhook, or something else."""
        if self.fields.get("action", "").strip().lower() == "refund":
            return "refund"
        if self.fields.get("event", "").strip().lower() == "dispute":
            return "dispute"
        if _PAYMENT_MARKERS & self.fields.keys():
            return "payment"
        return "other"


def decode(request: WebhookRequest) -> PayUBody:
    """The body as form fields or a JSON object, by ``Content-Type``, else by sniffing.

    PayU posts payment responses form-encoded and refund/dispute webhooks as
    JSON (reference §1); a body without a usable ``Content-Type`` is JSON when it
    starts with ``{``.

    Raises:
        ParseError: not UTF-8, not form fields, or not a JSON object.
    """
    text = request.text()
    ctype = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json"):
        return _json_body(text)
    if ctype == "application/x-www-form-urlencoded":
        return _form_body(text)
    return _json_body(text) if text.lstrip().startswith("{") else _form_body(text)


def reverse_hash_string(salt: str, key: str, fields: Mapping[str, str], *, udf6_10: bool) -> str:
    """The string PayU hashes for a payment response (reference §3, "Reverse / response hash").

    ``SALT|status||||||udf5|udf4|udf3|udf2|udf1|email|firstname|productinfo|amount|txnid|key``,
    prefixed with ``additionalCharges|`` when that field is present (as PayU's
    Node SDK ``reverseHasher`` does). The five slots after ``status`` are empty;
    with ``udf6_10`` they hold udf10..udf6 instead (API v19, UNCONFIRMED in the
    reference). Absent fields are empty strings; values are used exactly as sent.
    """
    slots = [fields.get(f"udf{i}", "") for i in range(10, 5, -1)] if udf6_10 else [""] * 5
    parts = [
        salt,
        fields.get("status", ""),
        *slots,
        *(fields.get(f"udf{i}", "") for i in range(5, 0, -1)),
        fields.get("email", ""),
        fields.get("firstname", ""),
        fields.get("productinfo", ""),
        fields.get("amount", ""),
        fields.get("txnid", ""),
        key,
    ]
    if "additionalCharges" in fields:
        parts.insert(0, fields["additionalCharges"])
    return "|".join(parts)


def reverse_hash(salt: str, key: str, fields: Mapping[str, str], *, udf6_10: bool = False) -> str:
    """Lowercase hex SHA-512 of ``reverse_hash_string`` (UTF-8).

    Raises:
        UnicodeEncodeError: a field holds a lone surrogate (no UTF-8 form to hash).
    """
    text = reverse_hash_string(salt, key, fields, udf6_10=udf6_10)
    return hashlib.sha512(text.encode("utf-8")).hexdigest()


def idempotency_key(hub_type: str, object_id: str) -> str:
    """The key of a business event: ``payment.captured:ORD20241115A10432``, ``refund.processed:<request_id>``.

    Payments are keyed by the merchant's ``txnid``, not by ``mihpayid``: both
    are the same on a redelivery and on the browser-return vs. server-webhook
    paths, but only ``txnid`` (with ``status``, hence the type) is covered by
    the reverse hash. A customer who replays their own success callback with an
    edited ``mihpayid`` still gets the same key, so it dedupes instead of
    fulfilling twice. Refunds are keyed by PayU's refund id (``request_id``).
    """
    return f"{hub_type}:{object_id}"


class PayUWebhook(WebhookSource[PayUConfig]):
    """Payment responses, refund webhooks (and disputes, skipped) pushed by PayU India."""

    name = "payu.webhook"
    emits = (
        "payment.authorized",
        "payment.captured",
        "payment.failed",
        "refund.processed",
        "refund.failed",
    )

    def verify(self, request: WebhookRequest) -> None:
        """Check the reverse hash of a payment response, or the URL token of other webhooks.

        Every salt candidate (current, previous) and formula variant is computed
        and compared in constant time.

        Raises:
            SignatureError: the body cannot be read, the ``hash`` field is missing
                or matches no salt, the ``key`` is another merchant's, or an
                unsigned webhook (refund, dispute) lacks a valid ``?token=``.
        """
        try:
            body = decode(request)
        except ParseError as exc:
            self._check_token(request, f"the body has no readable hash field ({exc})")
            return
        if body.kind == "payment":
            self._check_hash(body.fields)
        else:
            self._check_token(request, f"PayU does not sign {body.kind} webhooks")

    def parse(self, request: WebhookRequest) -> list[Event]:
        """One event per handled callback.

        Raises:
            ParseError: unreadable body, a missing id, a bad amount or timestamp,
                another merchant's key, or data that does not fit the hub's schema.
            SkipEvent: pending payments, pending refunds, disputes, anything else.
        """
        body = decode(request)
        kind = body.kind
        fields = body.fields
        sent_key = fields.get("key", "").strip()
        if sent_key and sent_key != self.config.key:
            raise ParseError(
                f"callback for merchant key {sent_key[:40]}, this connection is "
                f"{self.config.key}: the webhook URL is set in the wrong PayU account"
            )
        if kind == "payment":
            return [self._payment(body)]
        if kind == "refund":
            return [self._refund(body)]
        if kind == "dispute":
            raise SkipEvent("payu dispute webhooks are not handled")
        raise SkipEvent("not a PayU payment response or refund webhook")

    # ------------------------------------------------------------------ events

    def _payment(self, body: PayUBody) -> Event:
        fields = body.fields
        status = fields.get("status", "").strip().lower()
        hub_type = PAYMENT_TYPES.get(status)
        if hub_type is None:
            raise SkipEvent(f"payu payment status {status[:40]!r} is not final or not handled")
        if hub_type == "payment.captured" and fields.get("unmappedstatus", "").strip() == "auth":
            hub_type = AUTHORIZED
        txnid = fields.get("txnid", "").strip()
        if not txnid:
            raise ParseError("txnid is missing: cannot tell which transaction this is about")
        received = utcnow()
        data = to_payment(fields, hub_type.rsplit(".", 1)[1], received)
        return self._event(hub_type, data["payment_id"], txnid, data, body, received)

    def _refund(self, body: PayUBody) -> Event:
        fields = body.fields
        status = fields.get("status", "").strip().lower()
        hub_type = REFUND_TYPES.get(status)
        if hub_type is None:
            raise SkipEvent(f"payu refund status {status[:40]!r} is not final or not handled")
        received = utcnow()
        data = to_refund(fields, hub_type.rsplit(".", 1)[1], received)
        refund_id = data["refund_id"]
        return self._event(hub_type, refund_id, refund_id, data, body, received)

    def _event(
        self,
        hub_type: str,
        subject: str,
        key_id: str,
        data: dict[str, Any],
        body: PayUBody,
        received: datetime,
    ) -> Event:
        when = added_on(body.fields.get("addedon"), "addedon") or received
        try:
            return Event.create(
                type=hub_type,
                subject=subject,
                idempotency_key=idempotency_key(hub_type, key_id),
                time=when,
                data=data,
                raw=body.raw,
            )
        except SchemaViolation as exc:
            raise ParseError(f"payu {hub_type}: {exc}") from exc

    # ------------------------------------------------------------------ checks

    def _check_hash(self, fields: Mapping[str, str]) -> None:
        sent = fields.get("hash")
        if not sent:
            raise SignatureError(
                "the hash field is missing: a PayU payment response must carry one"
            )
        sent_key = fields.get("key")
        if sent_key and sent_key != self.config.key:
            raise SignatureError(
                "the key field is not this connection's merchant key, so its hash cannot match: "
                "check key (and that the webhook URL is set in the right PayU account)"
            )
        # With udf6..udf10 set, whether they fill the reserved slots is UNCONFIRMED
        # (reference §3): accept either form; both need the salt to produce.
        variants = [False]
        if any(fields.get(f"udf{i}") for i in range(6, 11)):
            variants.append(True)
        salts = [self.config.salt, self.config.previous_salt]
        sent_bytes = sent.encode("utf-8", "surrogatepass")
        matched = False
        for salt in salts:
            if salt is None:
                continue
            for udf6_10 in variants:
                try:
                    expected = reverse_hash(salt.reveal(), self.config.key, fields, udf6_10=udf6_10)
                except UnicodeEncodeError:
                    continue  # a lone surrogate has no UTF-8 form: PayU cannot have hashed it
                matched |= hmac.compare_digest(expected.encode("ascii"), sent_bytes)
        if not matched:
            charges = "additionalCharges|" if "additionalCharges" in fields else ""
            raise SignatureError(
                "the hash field does not match the reverse hash sha512("
                f"{charges}SALT|status||||||udf5|udf4|udf3|udf2|udf1|email|firstname|"
                "productinfo|amount|txnid|key): tampered, or check salt "
                "(and previous_salt while changing it)"
            )

    def _check_token(self, request: WebhookRequest, why: str) -> None:
        token = self.config.webhook_token
        if token is None:
            raise SignatureError(
                f"{why}; set webhook_token and add ?{TOKEN_PARAM}=<it> to the webhook URL "
                "in the PayU Dashboard to accept them"
            )
        sent = request.query.get(TOKEN_PARAM, "")
        expected = token.reveal().encode("utf-8")
        if not hmac.compare_digest(expected, sent.encode("utf-8", "surrogatepass")):
            raise SignatureError(
                f"{why}, and the ?{TOKEN_PARAM}= of the URL is missing or does not match "
                "webhook_token"
            )


# --------------------------------------------------------------------------- decoding


def _form_body(text: str) -> PayUBody:
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"body is not form fields: {exc}") from exc
    fields = dict(pairs)  # last value wins, as in WebhookRequest.form()
    if not fields:
        raise ParseError("body has no form fields")
    return PayUBody("form", fields, fields)


def _json_body(text: str) -> PayUBody:
    try:
        # Numbers keep their literal text: the hash is over what was sent ("40.00",
        # not 40.0), and huge integers cannot blow up int() parsing.
        doc = json.loads(text, parse_float=str, parse_int=str, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ParseError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ParseError(f"expected a JSON object, got {type(doc).__name__}")
    fields: dict[str, str] = {}
    for key, value in doc.items():
        if isinstance(value, str):
            fields[key] = value
        elif value is None:
            fields[key] = ""
        elif isinstance(value, bool):
            fields[key] = "true" if value else "false"
        # nested objects and arrays are not documented fields; they stay in raw only
    return PayUBody("json", fields, doc)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
