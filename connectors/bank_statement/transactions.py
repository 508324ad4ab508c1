"""One statement line → the hub's ``bank_transaction`` data, and the stable transaction id.

Pure: parsers build ``Line`` objects, ``to_data`` merges what the line says in
structured fields with what its narration says (``narration.parse``), and
``assign_ids`` gives every line of one file its ``transaction_id``.

Transaction id rule (``transaction_key``), strongest evidence first:

1. **Rail reference** — the UTR (NEFT/RTGS) or RRN (UPI/IMPS/card), from a
   structured field or the narration: ``(account, direction, amount, "utr"|"rrn",
   ref)``. No date and no format: the same transfer shows the same UTR/RRN in
   MT940, camt.053, the net-banking CSV and a credit-advice webhook, while the
   dates do not always agree (MT940 may carry only a value date; CSV ``Date``
   vs ``Value Dt``). The reference already encodes its date (NEFT/RTGS UTRs
   carry year and day; RRNs start with year digit + Julian day).
2. **Bank reference** — the bank's own id for the line (camt ``AcctSvcrRef``,
   MT940 ``//`` reference, CSV ``Chq./Ref.No.``), placeholders such as
   ``NONREF`` or all zeros ignored: ``(account, direction, amount, booked_on,
   "bank", ref)``. Stable across re-downloads of one format; across formats
   only when the bank prints the same reference in each.
3. **Fallback** — ``(account, booked_on, direction, amount, narration folded to
   A-Z, 0-9)``.

Lines of one file that end up with the same key get ``#2``, ``#3``… in file
order, so two identical ₹10 charges on one day stay two transactions.

Limits: (3) dedupes two files only when both hold *all* the identical lines
(an overlap that cuts through a run of identical lines can shift the
sequence); a bank that changes its narration text between downloads breaks
(3); and the account must normalize to the same string in every format (the
part after the last ``/`` of MT940 ``:25:``, alphanumerics only, upper case).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final, Literal

from hub.errors import ParseError

from . import narration as narr

__all__ = [
    "Line",
    "StatementError",
    "assign_ids",
    "format_amount",
    "normalize_account",
    "transaction_key",
]

Direction = Literal["credit", "debit"]

_PLACEHOLDER_REFS: Final = frozenset({"NONREF", "NOTPROVIDED", "NA", "N/A", "NONE", "NULL", "-"})
_NOT_ALNUM = re.compile(r"[^A-Z0-9]")
_TWO_PLACES = Decimal("0.01")


class StatementError(ParseError):
    """A statement file cannot be read; the message says where (line, element) and why."""


@dataclass(frozen=True, slots=True)
class Line:
    """One posted line as a parser read it, before narration parsing and ids.

    ``bank_reference`` is the bank's reference for the line; ``utr``/``rrn``/
    ``cheque`` and the counterparty fields are set only when the format has a
    structured field for them (the narration fills the rest).
    """

    account: str
    booked_on: date
    value_date: date | None
    direction: Direction
    amount: Decimal
    currency: str
    narration: str
    source_format: str
    balance_after: Decimal | None = None
    bank_reference: str | None = None
    utr: str | None = None
    rrn: str | None = None
    cheque: str | None = None
    name: str | None = None
    vpa: str | None = None
    counterparty_account: str | None = None
    ifsc: str | None = None
    position: str = ""


def normalize_account(raw: str) -> str:
    """``HDFCINBB/50100123456789`` and ``5010 0123 456789`` → ``50100123456789``."""
    tail = raw.strip().rsplit("/", 1)[-1]
    return _NOT_ALNUM.sub("", tail.upper())


def format_amount(value: Decimal) -> str:
    """A decimal string with at least two places (``25000`` → ``"25000.00"``)."""
    if value == value.to_integral_value() or value.as_tuple().exponent == -1:
        value = value.quantize(_TWO_PLACES)
    return format(value, "f")


def clean_reference(value: str | None) -> str | None:
    """A usable reference, or None for blanks and placeholders (``NONREF``, ``000000``)."""
    if value is None:
        return None
    ref = value.strip()
    if not ref or ref.upper() in _PLACEHOLDER_REFS or set(ref) <= {"0"}:
        return None
    return ref


def transaction_key(data: dict[str, Any]) -> str:
    """The dedupe key of a normalized line (the module docstring has the rule)."""
    account = normalize_account(data["account"])
    amount = format(Decimal(data["amount"]).normalize(), "f")
    ref = data["reference"]
    parts: tuple[str, ...]
    if ref["utr"]:
        parts = (account, data["direction"], amount, "utr", ref["utr"].upper())
    elif ref["rrn"]:
        parts = (account, data["direction"], amount, "rrn", ref["rrn"])
    elif ref["bank_reference"]:
        parts = (
            account,
            data["direction"],
            amount,
            data["booked_on"],
            "bank",
            ref["bank_reference"].upper(),
        )
    else:
        folded = _NOT_ALNUM.sub("", data["narration"].upper())
        parts = (account, data["booked_on"], data["direction"], amount, "text", folded)
    return "\x1f".join(parts)


def _id(key: str) -> str:
    return "bt_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def to_data(line: Line) -> dict[str, Any]:
    """The line as ``hub/schemas/bank_transaction.json`` data, without its id yet."""
    bank_ref = clean_reference(line.bank_reference)
    parsed = narr.parse(line.narration, reference=bank_ref)
    ifsc = line.ifsc if line.ifsc and narr.IFSC.fullmatch(line.ifsc) else parsed.ifsc
    utr = clean_reference(line.utr) or parsed.utr
    mode = parsed.mode
    if mode == "other" and utr:
        # A structured UTR tells the rail even when the text does not: bank + N/R + digits.
        mode = "rtgs" if utr[4:5] == "R" else "neft"
    return {
        "account": line.account,
        "transaction_id": "",
        "booked_on": line.booked_on.isoformat(),
        "value_date": line.value_date.isoformat() if line.value_date else None,
        "direction": line.direction,
        "amount": format_amount(line.amount),
        "currency": line.currency,
        "balance_after": (
            format_amount(line.balance_after) if line.balance_after is not None else None
        ),
        "narration": line.narration,
        "mode": mode,
        "reference": {
            "utr": utr,
            "rrn": clean_reference(line.rrn) or parsed.rrn,
            "cheque": clean_reference(line.cheque) or parsed.cheque,
            "bank_reference": bank_ref,
        },
        "counterparty": {
            "name": line.name or parsed.name,
            "vpa": line.vpa or parsed.vpa,
            "account": line.counterparty_account or parsed.account,
            "ifsc": ifsc,
        },
        "source_format": line.source_format,
    }


def assign_ids(lines: list[Line]) -> list[dict[str, Any]]:
    """Normalize the lines of one file and give each its stable ``transaction_id``."""
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line in lines:
        data = to_data(line)
        key = transaction_key(data)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key}#{seen[key]}"
        data["transaction_id"] = _id(key)
        out.append(data)
    return out
