"""Razorpay entities (payment, refund, settlement, credits) → the hub's common ``data`` shapes.

Pure functions, no I/O: the webhook source uses them today and a polling
source over the REST API can use them tomorrow, so both paths give the same
``data`` for the same object. Every field is type-checked on the way in,
because the body is untrusted JSON: a wrong type becomes a ``ParseError``
(400) naming the field, never a ``TypeError`` (500) in the ingress.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hub.errors import ParseError
from hub.events import from_epoch

__all__ = [
    "GATEWAY",
    "epoch",
    "minor_to_major",
    "to_bank_credit",
    "to_payment",
    "to_refund",
    "to_settlement",
]

GATEWAY = "razorpay"

# ISO 4217 minor-unit exponents that differ from 2. Razorpay sends every amount
# in the currency's smallest unit (paise for INR), so the divisor must follow
# the currency: 1000 fils make a Kuwaiti dinar, a yen has no subunit.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
}

_METHODS = frozenset(
    {
        "upi",
        "card",
        "netbanking",
        "wallet",
        "emi",
        "bank_transfer",
        "cardless_emi",
        "paylater",
        "cod",
    }
)
_PHONE = re.compile(r"^\+?[0-9]{6,15}$", re.ASCII)
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
# Razorpay fills in this address when the customer gave none at checkout.
_PLACEHOLDER_EMAILS = frozenset({"void@razorpay.com"})
_IFSC = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$", re.ASCII)
_BANK_MODES = frozenset({"neft", "rtgs", "imps", "upi"})
# Indian banks book in IST: a credit at 00:10 IST belongs to that day's statement.
_IST = timezone(timedelta(hours=5, minutes=30), "IST")
# datetime cannot go past year 9999; a larger timestamp is garbage, not a time.
_MAX_EPOCH = 253_402_300_799


def minor_to_major(amount: object, currency: str, where: str) -> str:
    """An integer amount in minor units as an exact decimal string in major units.

    ``minor_to_major(149900, "INR", ...) == "1499.00"``; KWD has 3 decimals,
    JPY none. Built from the digits with ``Decimal``'s tuple form, so it is
    exact for any integer (no float, no context rounding).

    Raises:
        ParseError: ``amount`` is not an integer (``where`` names the field).
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ParseError(f"{where} must be an integer in minor units, got {amount!r:.40}")
    exponent = _EXPONENTS.get(currency, 2)
    digits = tuple(int(d) for d in str(abs(amount)))
    return str(Decimal((1 if amount < 0 else 0, digits, -exponent)))


def epoch(value: object, where: str) -> datetime:
    """A Razorpay Unix timestamp (seconds) as an aware UTC datetime.

    Raises:
        ParseError: not an integer, or outside years 1970..9999.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_EPOCH:
        raise ParseError(f"{where} must be a Unix timestamp in seconds, got {value!r:.40}")
    return from_epoch(value)


def to_payment(entity: Mapping[str, object], status: str, where: str) -> dict[str, Any]:
    """A payment entity as ``hub/schemas/payment.json`` data.

    Args:
        entity: ``payload.payment.entity``, a snapshot at the time of the event.
        status: the hub status the event reports (``captured`` for ``order.paid``):
            taken from the event, not the snapshot, so the type and data agree.
        where: the entity's path in the body, for error messages.
    """
    currency = _str(entity, "currency", where)
    notes = _notes(entity.get("notes"), f"{where}.notes")
    acquirer = entity.get("acquirer_data")
    acquirer = acquirer if isinstance(acquirer, dict) else {}
    upi = entity.get("upi")
    upi = upi if isinstance(upi, dict) else {}
    card = entity.get("card")
    card = card if isinstance(card, dict) else {}
    method = _opt_str(entity, "method", where)
    name = notes.get("name") if isinstance(notes.get("name"), str) else None
    fee = entity.get("fee")
    tax = entity.get("tax")
    return {
        "gateway": GATEWAY,
        "payment_id": _str(entity, "id", where),
        "order_id": _opt_str(entity, "order_id", where),
        "status": status,
        "amount": minor_to_major(entity.get("amount"), currency, f"{where}.amount"),
        "currency": currency,
        "method": method if method in _METHODS else "other",
        # fee includes GST and tax is the GST part; both null until capture.
        "fee": None if fee is None else minor_to_major(fee, currency, f"{where}.fee"),
        "tax": None if tax is None else minor_to_major(tax, currency, f"{where}.tax"),
        "customer": {
            "name": name or _opt_str(card, "name", f"{where}.card"),
            "email": _email(_opt_str(entity, "email", where)),
            "phone": _phone(_opt_str(entity, "contact", where)),
        },
        "reference": {
            "rrn": _opt_str(acquirer, "rrn", f"{where}.acquirer_data"),
            "utr": _opt_str(acquirer, "utr", f"{where}.acquirer_data"),
            "vpa": _opt_str(entity, "vpa", where) or _opt_str(upi, "vpa", f"{where}.upi"),
            "upi_transaction_id": _opt_str(
                acquirer, "upi_transaction_id", f"{where}.acquirer_data"
            ),
            "bank_transaction_id": _opt_str(
                acquirer, "bank_transaction_id", f"{where}.acquirer_data"
            ),
            "auth_code": _opt_str(acquirer, "auth_code", f"{where}.acquirer_data"),
            "arn": _opt_str(acquirer, "arn", f"{where}.acquirer_data"),
        },
        "error": _error(entity, where),
        "notes": notes,
        "description": _opt_str(entity, "description", where),
        "created_at": epoch(entity.get("created_at"), f"{where}.created_at").isoformat(),
    }


def to_refund(entity: Mapping[str, object], status: str, where: str) -> dict[str, Any]:
    """A refund entity as ``hub/schemas/refund.json`` data (status from the event)."""
    currency = _str(entity, "currency", where)
    acquirer = entity.get("acquirer_data")
    acquirer = acquirer if isinstance(acquirer, dict) else {}
    speed = _opt_str(entity, "speed_processed", where) or _opt_str(entity, "speed_requested", where)
    return {
        "gateway": GATEWAY,
        "refund_id": _str(entity, "id", where),
        "payment_id": _str(entity, "payment_id", where),
        "status": status,
        "amount": minor_to_major(entity.get("amount"), currency, f"{where}.amount"),
        "currency": currency,
        "speed": speed,
        "reference": {
            "arn": _opt_str(acquirer, "arn", f"{where}.acquirer_data"),
            "utr": _opt_str(acquirer, "utr", f"{where}.acquirer_data"),
        },
        "notes": _notes(entity.get("notes"), f"{where}.notes"),
        "created_at": epoch(entity.get("created_at"), f"{where}.created_at").isoformat(),
    }


def to_settlement(entity: Mapping[str, object], where: str) -> dict[str, Any]:
    """A settlement entity as ``hub/schemas/settlement.json`` data.

    Razorpay settles into an Indian bank account and the entity carries no
    currency, so INR is assumed unless one is given.
    """
    currency = _opt_str(entity, "currency", where) or "INR"
    return {
        "gateway": GATEWAY,
        "settlement_id": _str(entity, "id", where),
        "status": _str(entity, "status", where),
        "amount": minor_to_major(entity.get("amount"), currency, f"{where}.amount"),
        "fees": minor_to_major(entity.get("fees"), currency, f"{where}.fees"),
        "tax": minor_to_major(entity.get("tax"), currency, f"{where}.tax"),
        "currency": currency,
        "utr": _opt_str(entity, "utr", where),
        "created_at": epoch(entity.get("created_at"), f"{where}.created_at").isoformat(),
    }


def to_bank_credit(
    payment: Mapping[str, object],
    *,
    account: str,
    label: str,
    bank_transfer: Mapping[str, object] | None = None,
    upi_transfer: Mapping[str, object] | None = None,
    where: str = "payload.payment.entity",
) -> dict[str, Any]:
    """A Smart Collect (virtual account) or QR code credit as ``bank_transaction.json`` data.

    Args:
        payment: ``payload.payment.entity``: the captured payment the credit created.
        account: the virtual account (``va_…``) or QR code (``qr_…``) id credited.
        label: ``virtual account`` or ``QR code``, for the narration.
        bank_transfer: ``payload.bank_transfer.entity`` (NEFT/RTGS/IMPS to a VA).
        upi_transfer: ``payload.upi_transfer.entity`` (UPI to a VA's VPA; shape UNCONFIRMED).

    UPI references go to ``rrn`` (the schema keeps ``utr`` for NEFT/RTGS/IMPS);
    an IMPS ``bank_reference`` is both (IMPS references are RRNs).
    """
    payment_id = _str(payment, "id", where)
    currency = _str(payment, "currency", where)
    acquirer = payment.get("acquirer_data")
    acquirer = acquirer if isinstance(acquirer, dict) else {}
    rrn = _opt_str(acquirer, "rrn", f"{where}.acquirer_data")
    utr: str | None = None
    name = vpa = number = ifsc = None
    transaction_id = payment_id
    method = _opt_str(payment, "method", where)
    upi = payment.get("upi")
    upi = upi if isinstance(upi, dict) else {}
    if bank_transfer is not None:
        bt = "payload.bank_transfer.entity"
        transaction_id = _opt_str(bank_transfer, "id", bt) or payment_id
        mode = (_opt_str(bank_transfer, "mode", bt) or "").lower()
        mode = mode if mode in _BANK_MODES else "other"
        utr = _opt_str(bank_transfer, "bank_reference", bt)
        if mode == "imps" and rrn is None:
            rrn = utr
        payer = bank_transfer.get("payer_bank_account")
        if isinstance(payer, dict):
            where_payer = f"{bt}.payer_bank_account"
            name = _opt_str(payer, "name", where_payer)
            number = _opt_str(payer, "account_number", where_payer)
            ifsc = _opt_str(payer, "ifsc", where_payer)
    elif upi_transfer is not None:
        ut = "payload.upi_transfer.entity"
        transaction_id = _opt_str(upi_transfer, "id", ut) or payment_id
        mode = "upi"
        rrn = _opt_str(upi_transfer, "npci_reference_id", ut) or rrn
        vpa = _opt_str(upi_transfer, "payer_vpa", ut)
        number = _opt_str(upi_transfer, "payer_account", ut)
        ifsc = _opt_str(upi_transfer, "payer_ifsc", ut)
    else:  # a QR code credit: the payment itself is all there is
        mode = {"upi": "upi", "card": "card"}.get(method or "", "other")
        card = payment.get("card")
        if mode == "card" and isinstance(card, dict):
            name = _opt_str(card, "name", f"{where}.card")
    vpa = vpa or _opt_str(payment, "vpa", where) or _opt_str(upi, "vpa", f"{where}.upi")
    ifsc = ifsc.strip().upper() if ifsc else None
    rail = mode.upper() if mode != "other" else (method or "payment").upper()
    ref = utr or rrn
    payer_shown = name or vpa or number
    narration = f"{rail} credit to Razorpay {label} {account}"
    narration += f" ref {ref}" if ref else ""
    narration += f" from {payer_shown}" if payer_shown else ""
    created = epoch(payment.get("created_at"), f"{where}.created_at")
    return {
        "account": account,
        "transaction_id": transaction_id,
        "booked_on": created.astimezone(_IST).date().isoformat(),
        "value_date": None,
        "direction": "credit",
        "amount": minor_to_major(payment.get("amount"), currency, f"{where}.amount"),
        "currency": currency,
        "balance_after": None,
        "narration": narration,
        "mode": mode,
        "reference": {"utr": utr, "rrn": rrn, "cheque": None, "bank_reference": None},
        "counterparty": {
            "name": name,
            "vpa": vpa,
            "account": number,
            # A malformed IFSC is dropped rather than failing the whole credit.
            "ifsc": ifsc if ifsc and _IFSC.match(ifsc) else None,
        },
        "source_format": "webhook",
    }


# --------------------------------------------------------------------------- fields


def _str(obj: Mapping[str, object], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ParseError(f"{where}.{key} is missing or not a string")
    return value


def _opt_str(obj: Mapping[str, object], key: str, where: str) -> str | None:
    """A string field, ``None`` when absent, null or empty; ids sent as numbers become text."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ParseError(f"{where}.{key} must be a string, got {type(value).__name__}")


def _notes(value: object, where: str) -> dict[str, str | int | float | bool | None]:
    """Merchant notes; Razorpay sends ``[]`` (PHP's empty array) when there are none."""
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise ParseError(f"{where} must be an object, got {type(value).__name__}")
    out: dict[str, str | int | float | bool | None] = {}
    for key, item in value.items():
        if isinstance(item, float) and not math.isfinite(item):
            out[key] = str(item)  # Python's json accepts NaN; JSON consumers downstream do not
        elif item is None or isinstance(item, str | int | float | bool):
            out[key] = item
        else:  # nested values are not documented; keep them readable rather than fail
            out[key] = json.dumps(item, ensure_ascii=False, sort_keys=True)
    return out


def _email(value: str | None) -> str | None:
    if value is None or value.lower() in _PLACEHOLDER_EMAILS or "@" not in value:
        return None
    return value


def _phone(value: str | None) -> str | None:
    """The contact number without separators, or ``None`` if it is not a phone number."""
    if value is None:
        return None
    compact = _PHONE_SEPARATORS.sub("", value)
    return compact if _PHONE.match(compact) else None


def _error(entity: Mapping[str, object], where: str) -> dict[str, str | None] | None:
    code = _opt_str(entity, "error_code", where)
    if code is None:
        return None
    return {
        "code": code,
        "description": _opt_str(entity, "error_description", where) or "",
        "source": _opt_str(entity, "error_source", where),
        "step": _opt_str(entity, "error_step", where),
        "reason": _opt_str(entity, "error_reason", where),
    }
