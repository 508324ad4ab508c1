"""PayU callback fields (payment response, refund callback) → the hub's common ``data`` shapes.

Pure functions, no I/O. PayU sends flat string fields (form-encoded payment
responses, JSON refund callbacks); by the time they get here every scalar is
the text exactly as sent (see ``sources.decode``). Anything that cannot be read
becomes a ``ParseError`` naming the field, never a ``TypeError`` or a silent
guess: an amount is exact or refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, Inexact, InvalidOperation, localcontext
from typing import Any, Final

from hub.errors import ParseError

__all__ = [
    "CURRENCY",
    "GATEWAY",
    "IST",
    "added_on",
    "method",
    "rupees",
    "to_payment",
    "to_refund",
]

GATEWAY: Final = "payu"
#: PayU India callbacks carry no currency field: amounts are rupees (reference §1).
CURRENCY: Final = "INR"
#: ``addedon`` is Indian Standard Time without an offset (reference §2).
IST: Final = timezone(timedelta(hours=5, minutes=30), "IST")

#: PayU ``mode`` → the schema's method enum (reference §2). Anything else is "other".
_METHODS: Final[dict[str, str]] = {
    "UPI": "upi",
    "CC": "card",
    "DC": "card",
    "NB": "netbanking",
    "CASH": "wallet",  # PayU's name for wallets
    "EMI": "emi",
}
#: Bharat QR modes: paid by UPI when ``bankcode`` says so, otherwise unknown.
_QR_MODES: Final = frozenset({"SBQR", "DBQR"})
#: Where ``bank_ref_num`` goes in ``data.reference``: the RRN for UPI and cards
#: (the reference: "for UPI this is the 12-digit RRN"), the bank's own id otherwise.
_RRN_METHODS: Final = frozenset({"upi", "card", "emi"})

_AMOUNT = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,10})?$", re.ASCII)
_CENT: Final = Decimal("0.01")
_PHONE = re.compile(r"^\+?[0-9]{6,15}$", re.ASCII)
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
# A UPI VPA: handle@psp, where the PSP part has no dot (which tells it from an email).
_VPA = re.compile(r"^[A-Za-z0-9._\-]{2,256}@[A-Za-z][A-Za-z0-9]{1,63}$", re.ASCII)
_ADDEDON = "%Y-%m-%d %H:%M:%S"


def rupees(value: str | None, where: str) -> str:
    """A PayU amount (decimal rupees as text, ``"1499.00"``) as an exact 2-dp string.

    ``Decimal`` all the way, never ``float``: ``"1499"`` → ``"1499.00"``,
    ``" 40.5 "`` → ``"40.50"``. More than two significant decimals would need
    rounding, so they are refused rather than rounded.

    Raises:
        ParseError: missing, not a plain non-negative decimal, or not whole paise.
    """
    text = (value or "").strip()
    if not _AMOUNT.match(text):
        raise ParseError(f"{where} must be a decimal amount in rupees, got {text!r:.40}")
    with localcontext() as ctx:
        ctx.prec = 40  # 20 integer + 10 fraction digits fit without rounding
        ctx.traps[Inexact] = True
        try:
            exact = Decimal(text).quantize(_CENT)
        except (Inexact, InvalidOperation) as exc:
            raise ParseError(f"{where} has fractions of a paisa: {text!r:.40}") from exc
    return str(exact)


def added_on(value: str | None, where: str) -> datetime | None:
    """``addedon`` (``YYYY-MM-DD HH:MM:SS`` in IST) as an aware UTC datetime; ``None`` if absent.

    Raises:
        ParseError: present but not in that format.
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        local = datetime.strptime(text, _ADDEDON)
    except ValueError as exc:
        raise ParseError(f"{where} must be YYYY-MM-DD HH:MM:SS (IST), got {text!r:.40}") from exc
    try:
        return local.replace(tzinfo=IST).astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01 00:00:00 IST is before year 1 in UTC
        raise ParseError(f"{where} is out of range: {text!r:.40}") from exc


def method(fields: Mapping[str, str]) -> str:
    """The hub's payment method for PayU's ``mode`` (and ``bankcode`` for QR payments)."""
    mode = fields.get("mode", "").strip().upper()
    if mode in _QR_MODES:
        return "upi" if fields.get("bankcode", "").strip().upper() == "UPI" else "other"
    return _METHODS.get(mode, "other")


def to_payment(fields: Mapping[str, str], status: str, received: datetime) -> dict[str, Any]:
    """A payment response as ``hub/schemas/payment.json`` data.

    Args:
        fields: the callback's fields, text as sent.
        status: the hub status this event reports (``captured``, ``failed``, ...).
        received: used for ``created_at`` when ``addedon`` is absent.
    """
    how = method(fields)
    bank_ref = _opt(fields, "bank_ref_num") or _opt(fields, "bank_ref_no")
    created = added_on(fields.get("addedon"), "addedon") or received
    return {
        "gateway": GATEWAY,
        "payment_id": _required(fields, "mihpayid"),
        "order_id": _required(fields, "txnid"),
        "status": status,
        # ``amount`` is what the merchant asked for and is covered by the hash;
        # ``net_amount_debit`` (amount + additionalCharges) is not.
        "amount": rupees(fields.get("amount"), "amount"),
        "currency": CURRENCY,
        "method": how,
        "fee": None,  # PayU's callbacks do not carry its fee (it is in settlement reports)
        "tax": None,
        "customer": {
            "name": _name(fields),
            "email": _email(_opt(fields, "email")),
            "phone": _phone(_opt(fields, "phone")),
        },
        "reference": {
            "rrn": bank_ref if how in _RRN_METHODS else None,
            "utr": None,
            "vpa": _vpa(fields) if how == "upi" else None,
            "upi_transaction_id": None,
            "bank_transaction_id": bank_ref if how not in _RRN_METHODS else None,
            "auth_code": None,
            "arn": None,
        },
        "error": _error(fields) if status == "failed" else None,
        "notes": _udf_notes(fields),
        "description": _opt(fields, "productinfo"),
        "created_at": created.isoformat(),
    }


def to_refund(fields: Mapping[str, str], status: str, received: datetime) -> dict[str, Any]:
    """A refund callback as ``hub/schemas/refund.json`` data.

    PayU's refund callback carries no timestamp (reference §4), so ``created_at``
    is when the hub received it. Values are stripped: a PayU sample has
    ``" 23907365951 "``.
    """
    mode = _opt(fields, "refund_mode")
    notes: dict[str, str | int | float | bool | None] = {}
    for source, name in (
        ("merchantTxnId", "txnid"),
        ("token", "refund_token"),
        ("remark", "remark"),
        ("refund_mode", "refund_mode"),
    ):
        value = _opt(fields, source)
        if value is not None:
            notes[name] = value
    return {
        "gateway": GATEWAY,
        "refund_id": _required(fields, "request_id"),
        "payment_id": _required(fields, "mihpayid"),
        "status": status,
        "amount": rupees(fields.get("amt"), "amt"),
        "currency": CURRENCY,
        "speed": None if mode is None else "instant" if "instant" in mode.lower() else "normal",
        "reference": {"arn": _opt(fields, "bank_arn"), "utr": _opt(fields, "bank_ref_num")},
        "notes": notes,
        "created_at": received.isoformat(),
    }


# --------------------------------------------------------------------------- fields


def _opt(fields: Mapping[str, str], key: str) -> str | None:
    """A field stripped of stray spaces; ``None`` when absent or blank."""
    value = fields.get(key, "").strip()
    return value or None


def _required(fields: Mapping[str, str], key: str) -> str:
    value = _opt(fields, key)
    if value is None:
        raise ParseError(f"{key} is missing: cannot tell which transaction this is about")
    return value


def _name(fields: Mapping[str, str]) -> str | None:
    parts = [p for p in (_opt(fields, "firstname"), _opt(fields, "lastname")) if p]
    return " ".join(parts) or None


def _email(value: str | None) -> str | None:
    if value is None or "@" not in value or len(value) > 320:
        return None
    return value


def _phone(value: str | None) -> str | None:
    """The phone without separators, or ``None`` if it is not a phone number."""
    if value is None:
        return None
    compact = _PHONE_SEPARATORS.sub("", value)
    return compact if _PHONE.match(compact) else None


def _vpa(fields: Mapping[str, str]) -> str | None:
    """The payer's VPA: "for UPI some fields hold VPAs" (reference §2, field0..field8)."""
    for i in range(9):  # field9 is the gateway's message
        value = _opt(fields, f"field{i}")
        if value is not None and _VPA.match(value):
            return value
    return None


def _udf_notes(fields: Mapping[str, str]) -> dict[str, str | int | float | bool | None]:
    """udf1..udf5: the merchant fields the reverse hash covers. udf6..udf10 are not
    covered (reference §3), so they stay in ``event.raw`` rather than in trusted data."""
    notes: dict[str, str | int | float | bool | None] = {}
    for i in range(1, 6):
        value = fields.get(f"udf{i}", "")
        if value:
            notes[f"udf{i}"] = value
    return notes


def _error(fields: Mapping[str, str]) -> dict[str, str | None]:
    code = _opt(fields, "error")
    reason = _opt(fields, "unmappedstatus")
    message = _opt(fields, "error_Message")
    if message is not None and message.lower() == "no error":
        message = None
    return {
        "code": code if code is not None and code != "E000" else (reason or "failure"),
        "description": message or _opt(fields, "field9") or "",
        "source": None,
        "step": None,
        "reason": reason,
    }
