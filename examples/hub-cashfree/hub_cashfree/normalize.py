"""Cashfree payment and refund objects → the hub's ``payment`` and ``refund`` data.

Pure functions, no I/O. The body is untrusted JSON, so every field is
type-checked on the way in: a wrong type becomes a ``ParseError`` naming the
field (HTTP 400), never a ``TypeError`` (HTTP 500) in the ingress.

Amounts arrive in MAJOR units as JSON numbers (``1.00``, ``2``, ``1499.5``).
The body is parsed with ``parse_float=Decimal`` (see ``sources.parse_body``),
so no amount ever passes through ``float``; they leave as 2-dp strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, Inexact, InvalidOperation, localcontext
from typing import Any, Final

from hub import ParseError, parse_time

__all__ = ["GATEWAY", "amount", "timestamp", "to_payment", "to_refund"]

GATEWAY: Final = "cashfree"

_CENT: Final = Decimal("0.01")
_AMOUNT_TEXT: Final = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,10})?$", re.ASCII)
_PHONE: Final = re.compile(r"^\+?[0-9]{6,15}$", re.ASCII)
_PHONE_SEPARATORS: Final = re.compile(r"[\s\-().]")
_CURRENCY: Final = re.compile(r"^[A-Z]{3}$", re.ASCII)
# Loose on purpose: a malformed address is dropped, not allowed to fail the whole event.
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Cashfree writes "NA" / "null" (strings) where a reference does not exist yet.
_PLACEHOLDERS: Final = frozenset({"na", "null", "none", "-"})

#: Key of ``payment.payment_method`` → hub method. ``app`` is Cashfree's wallet
#: object; ``pay_later``/``banktransfer`` spellings are UNCONFIRMED (see README).
_METHODS: Final[dict[str, str]] = {
    "upi": "upi",
    "card": "card",
    "netbanking": "netbanking",
    "app": "wallet",
    "wallet": "wallet",
    "emi": "emi",
    "card_emi": "emi",
    "cardless_emi": "cardless_emi",
    "paylater": "paylater",
    "pay_later": "paylater",
    "banktransfer": "bank_transfer",
    "bank_transfer": "bank_transfer",
}


def amount(value: object, where: str) -> str:
    """A Cashfree amount (major units, a JSON number) as an exact 2-dp string.

    ``Decimal("1.00")`` → ``"1.00"``, ``2`` → ``"2.00"``, ``Decimal("1.8")`` →
    ``"1.80"``. A decimal string is accepted too. Fractions of a paisa would
    need rounding, so they are refused rather than rounded.

    Raises:
        ParseError: missing, negative, not a number, or finer than 0.01.
    """
    if isinstance(value, bool):
        raise ParseError(f"{where} must be a decimal amount, got {value!r}")
    if isinstance(value, int):
        exact = Decimal(value)
    elif isinstance(value, Decimal):
        exact = value
    elif isinstance(value, str) and _AMOUNT_TEXT.match(value.strip()):
        exact = Decimal(value.strip())
    else:
        raise ParseError(f"{where} must be a decimal amount, got {value!r:.40}")
    if not exact.is_finite() or exact < 0:
        raise ParseError(f"{where} must be a non-negative amount, got {value!r:.40}")
    with localcontext() as ctx:
        ctx.prec = 60
        ctx.traps[Inexact] = True
        try:
            return str(exact.quantize(_CENT))
        except (Inexact, InvalidOperation) as exc:
            raise ParseError(f"{where} has fractions of a paisa: {value!r:.40}") from exc


def timestamp(value: object, where: str) -> datetime:
    """An ISO 8601 time as Cashfree writes it (``2025-01-15T12:20:29+05:30``), in UTC.

    Raises:
        ParseError: missing or not an ISO 8601 timestamp.
    """
    if not isinstance(value, str) or not value:
        raise ParseError(f"{where} must be an ISO 8601 timestamp, got {value!r:.40}")
    try:
        return parse_time(value).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ParseError(f"{where} is not an ISO 8601 timestamp: {value!r:.40}") from exc


def to_payment(data: Mapping[str, object], status: str) -> dict[str, Any]:
    """``data`` of a payment webhook as ``hub/schemas/payment.json`` data.

    Args:
        data: the webhook's ``data`` object (``order``, ``payment``, ``customer_details``,
            ``error_details``).
        status: the hub status the event type reports (``captured``/``failed``):
            taken from the webhook type, so the type and the data agree.
    """
    order = _obj(data, "order", "data")
    payment = _obj(data, "payment", "data")
    customer = _opt_obj(data, "customer_details", "data")
    where = "data.payment"
    method_key, method = _method(payment.get("payment_method"), f"{where}.payment_method")
    currency = _currency(payment, "payment_currency", where)
    bank_reference = _ref(payment, "bank_reference", where)
    upi = _opt_obj(_opt_obj(payment, "payment_method", where), "upi", f"{where}.payment_method")
    time_field = payment.get("payment_time")
    return {
        "gateway": GATEWAY,
        "payment_id": _id(payment, "cf_payment_id", where),
        "order_id": _opt_str(order, "order_id", "data.order"),
        "status": status,
        "amount": amount(payment.get("payment_amount"), f"{where}.payment_amount"),
        "currency": currency,
        "method": method,
        # Cashfree reports charges in a separate webhook (PAYMENT_CHARGES_WEBHOOK).
        "fee": None,
        "tax": None,
        "customer": {
            "name": _opt_str(customer, "customer_name", "data.customer_details"),
            "email": _email(_opt_str(customer, "customer_email", "data.customer_details")),
            "phone": _phone(_opt_str(customer, "customer_phone", "data.customer_details")),
        },
        "reference": {
            # bank_reference is the UPI/card RRN, the bank's id for netbanking and the
            # UTR of a bank transfer: put it where the hub's schema expects it.
            "rrn": bank_reference if method_key in {"upi", "card", "emi", "card_emi"} else None,
            "utr": bank_reference if method == "bank_transfer" else None,
            "vpa": _opt_str(upi, "upi_id", f"{where}.payment_method.upi"),
            "upi_transaction_id": None,
            "bank_transaction_id": bank_reference if method == "netbanking" else None,
            "auth_code": _ref(payment, "auth_id", where),
            "arn": None,
        },
        "error": _error(_opt_obj(data, "error_details", "data")) if status == "failed" else None,
        "notes": _notes(order.get("order_tags"), "data.order.order_tags"),
        "description": None,
        "created_at": timestamp(time_field, f"{where}.payment_time").isoformat(),
    }


def to_refund(refund: Mapping[str, object], status: str) -> dict[str, Any]:
    """``data.refund`` of a refund webhook as ``hub/schemas/refund.json`` data."""
    where = "data.refund"
    speed = (
        _opt_str(refund, "processed_speed", where)
        or _opt_str(refund, "requested_speed", where)
        or _opt_str(refund, "refund_mode", where)
    )
    notes: dict[str, str | int | float | bool | None] = {}
    for key in ("refund_id", "order_id", "refund_note"):  # the merchant's own values
        value = _opt_str(refund, key, where)
        if value is not None:
            notes[key] = value
    return {
        "gateway": GATEWAY,
        "refund_id": _id(refund, "cf_refund_id", where),
        "payment_id": _id(refund, "cf_payment_id", where),
        "status": status,
        "amount": amount(refund.get("refund_amount"), f"{where}.refund_amount"),
        "currency": _currency(refund, "refund_currency", where),
        "speed": speed.lower() if speed else None,
        "reference": {"arn": _ref(refund, "refund_arn", where), "utr": None},
        "notes": notes,
        "created_at": timestamp(refund.get("created_at"), f"{where}.created_at").isoformat(),
    }


# --------------------------------------------------------------------------- fields


def _obj(parent: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise ParseError(f"{where}.{key} is missing or not an object")
    return value


def _opt_obj(parent: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError(f"{where}.{key} must be an object, got {type(value).__name__}")
    return value


def _id(obj: Mapping[str, object], key: str, where: str) -> str:
    """A Cashfree id: a number in older versions, a string since 2023-08-01."""
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ParseError(f"{where}.{key} is missing: cannot tell which object this is about")


def _opt_str(obj: Mapping[str, object], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ParseError(f"{where}.{key} must be a string, got {type(value).__name__}")


def _ref(obj: Mapping[str, object], key: str, where: str) -> str | None:
    value = _opt_str(obj, key, where)
    return None if value is None or value.strip().lower() in _PLACEHOLDERS else value.strip()


def _currency(obj: Mapping[str, object], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not _CURRENCY.match(value.strip().upper()):
        raise ParseError(f"{where}.{key} must be an ISO 4217 code such as INR, got {value!r:.40}")
    return value.strip().upper()


def _method(value: object, where: str) -> tuple[str | None, str]:
    """The key of the one instrument object in ``payment_method`` and its hub name."""
    if value is None:
        return None, "other"
    if not isinstance(value, dict):
        raise ParseError(f"{where} must be an object, got {type(value).__name__}")
    for key in value:
        if isinstance(key, str) and key in _METHODS:
            return key, _METHODS[key]
    return None, "other"


def _email(value: str | None) -> str | None:
    value = value.strip() if value else None
    if value is None or len(value) > 320 or not _EMAIL.match(value):
        return None
    return value


def _phone(value: str | None) -> str | None:
    """The number without separators, or ``None`` if it is not a phone number."""
    if value is None:
        return None
    compact = _PHONE_SEPARATORS.sub("", value)
    return compact if _PHONE.match(compact) else None


def _notes(value: object, where: str) -> dict[str, str | int | float | bool | None]:
    """``order_tags``: the merchant's string key/value pairs on the order."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError(f"{where} must be an object, got {type(value).__name__}")
    out: dict[str, str | int | float | bool | None] = {}
    for key, item in value.items():
        # Decimals (from parse_float) stay exact as text; nested values are not documented.
        out[str(key)] = item if item is None or isinstance(item, str | int | bool) else str(item)
    return out


def _error(details: Mapping[str, object]) -> dict[str, str | None] | None:
    where = "data.error_details"
    code = _opt_str(details, "error_code", where)
    if code is None:
        return None
    return {
        "code": code,
        "description": _opt_str(details, "error_description", where) or "",
        "source": _opt_str(details, "error_source", where),
        "step": None,
        "reason": _opt_str(details, "error_reason", where),
    }
