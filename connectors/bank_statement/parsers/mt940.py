"""SWIFT MT940 customer statements → ``Line`` objects, with the ``mt-940`` library.

Accepts one or many statements per file (each starts at ``:20:``), with or
without the SWIFT envelope (``{1:…}{2:…}{4:`` … ``-}``). Per statement:
``:25:`` account, ``:28C:`` number, ``:60F:``/``:60M:`` opening balance, one
``:61:`` per line (value date, optional entry date MMDD, ``C``/``D``/``RC``/``RD``,
comma-decimal amount, type code, references) with its ``:86:`` narration, and
``:62F:``/``:62M:`` closing balance.

Indian host-to-host files break the SWIFT character set (``@`` in VPAs,
``_``), put the whole UPI/NEFT narration in ``:86:`` and send bank
references longer than 16 characters: all accepted. A ``:86:`` wrapped at 65
characters is re-joined without a space where a line was cut at exactly 65.

Integrity: every statement must have ``:25:``, an opening and a closing
balance, and opening + lines = closing, or the file is refused (a truncated
or hand-edited file fails here, naming the statement and line).
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any, Final

import mt940

from ..transactions import Line, StatementError, normalize_account

__all__ = ["parse_mt940"]

# mt-940 logs the unparsable tag *with its text* (account holders' names) at ERROR;
# we report the failure ourselves, by line number, without the data.
logging.getLogger("mt940").setLevel(logging.CRITICAL)

_ENVELOPE_START: Final = re.compile(
    r"^\{1:[^}]*\}(?:\{2:[^}]*\})?(?:\{3:(?:\{[^}]*\})*\})?\{4:\s*$"
)
_TAG: Final = re.compile(r"^:([0-9]{2}[A-Z]?|NS):")
_MARKS: Final = {"C": "credit", "D": "debit", "RC": "debit", "RD": "credit"}
_SWIFT_LINE: Final = 65
_MAX_AMOUNT: Final = Decimal("1e15")
_LIB_REF: Final = 23  # mt-940's limit for the // reference
_LONG_REF: Final = re.compile(r"//(\S{24,})\s*$")


def _clean(text: str) -> list[tuple[int, str]]:
    """Strip the SWIFT envelope; return the kept lines with their 1-based numbers."""
    kept: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if _ENVELOPE_START.match(line) or line.startswith(("-}", "{5:")) or line == "-":
            continue
        if line.startswith("{1:") and ":20:" in line:
            line = line[line.index(":20:") :]
        kept.append((number, line))
    return kept


def _blocks(kept: list[tuple[int, str]]) -> list[tuple[str, list[int]]]:
    """One (text, line numbers) block per statement, each starting at ``:20:``."""
    blocks: list[tuple[list[str], list[int]]] = []
    for number, line in kept:
        if line.startswith(":20:") or not blocks:
            blocks.append(([], []))
        blocks[-1][0].append(line)
        blocks[-1][1].append(number)
    return [("\n".join(b), n) for b, n in blocks if b and b[0].startswith(":20:")]


def _tag_lines(block: str, numbers: list[int]) -> dict[str, list[int]]:
    where: dict[str, list[int]] = {}
    for line, number in zip(block.split("\n"), numbers, strict=True):
        found = _TAG.match(line)
        if found:
            where.setdefault(found.group(1), []).append(number)
    return where


def _narration(details: Any) -> str:
    if not isinstance(details, str):
        return ""
    parts = details.split("\n")
    out = parts[0] if parts else ""
    for prev, part in itertools.pairwise(parts):
        # A line cut at exactly 65 characters, or after a field separator, was
        # wrapped by the bank's formatter: no space was there.
        glued = len(prev) == _SWIFT_LINE or prev.endswith(("/", "-", "*"))
        out += ("" if glued else " ") + part
    return " ".join(out.split()) if "  " in out else out.strip()


def _balance(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if data.get(key) is not None:
            return data[key]
    return None


def _parse_block(block: str, numbers: list[int]) -> list[Line]:
    tags = _tag_lines(block, numbers)
    first = numbers[0]
    stmt_name = f"statement at line {first}"
    shortened, long_refs = _cut_long_references(block)
    try:
        parsed = mt940.parse(shortened, options=mt940.Options.all())
    except RuntimeError as exc:
        raise StatementError(_where(exc, block, numbers) + ": " + _what(exc)) from exc
    except Exception as exc:
        # Third-party code on untrusted input (it has raised ValueError, KeyError and
        # AttributeError on odd tags such as :90M:): any failure means "cannot parse".
        raise StatementError(f"{stmt_name}: cannot be read ({type(exc).__name__})") from exc
    data = parsed.data
    account = data.get("account_identification")
    if not isinstance(account, str) or not normalize_account(account):
        raise StatementError(f"{stmt_name}: no :25: account identification")
    opening = _balance(
        data, "final_opening_balance", "intermediate_opening_balance", "opening_balance"
    )
    closing = _balance(
        data, "final_closing_balance", "intermediate_closing_balance", "closing_balance"
    )
    if opening is None:
        raise StatementError(f"{stmt_name}: no :60F:/:60M: opening balance")
    if closing is None:
        raise StatementError(
            f"{stmt_name}: no :62F:/:62M: closing balance (the file looks truncated "
            f"after line {numbers[-1]})"
        )
    currency = str(opening.amount.currency or "")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise StatementError(
            f"{stmt_name}: opening balance currency {currency[:5]!r} is not ISO 4217"
        )
    running = Decimal(opening.amount.amount)
    out: list[Line] = []
    line_numbers = tags.get("61", [])
    for index, txn in enumerate(parsed):
        where = f"line {line_numbers[index]}" if index < len(line_numbers) else stmt_name
        fields = dict(txn.data)
        if index < len(long_refs) and long_refs[index]:
            fields["bank_reference"] = long_refs[index]
        out.append(_line(fields, normalize_account(account), currency, where))
        running += out[-1].amount if out[-1].direction == "credit" else -out[-1].amount
        out[-1] = _with_balance(out[-1], running)
    expected = Decimal(closing.amount.amount)
    if running != expected:
        raise StatementError(
            f"{stmt_name}: opening balance {opening.amount.amount} plus the :61: lines gives "
            f"{running}, but :62: says {expected} (missing or altered lines?)"
        )
    return out


def _cut_long_references(block: str) -> tuple[str, list[str | None]]:
    """Shorten ``//`` references past mt-940's 23 characters; return the full ones by ``:61:``.

    Indian banks send 22+ character UTRs there, and the library's ``:61:``
    pattern fails on a longer reference followed by a supplementary-details line.
    """
    full: list[str | None] = []
    lines = block.split("\n")
    for i, line in enumerate(lines):
        if not line.startswith(":61:"):
            continue
        found = _LONG_REF.search(line)
        full.append(found.group(1) if found else None)
        if found:
            lines[i] = line[: found.start(1)] + found.group(1)[:_LIB_REF]
    return "\n".join(lines), full


def _with_balance(line: Line, balance: Decimal) -> Line:
    return replace(line, balance_after=balance)


def _line(data: dict[str, Any], account: str, currency: str, where: str) -> Line:
    status = str(data.get("status") or "").upper()
    direction = _MARKS.get(status)
    if direction is None:
        raise StatementError(f"{where}: :61: debit/credit mark {status!r} is not C, D, RC or RD")
    amount_obj = data.get("amount")
    raw_amount = getattr(amount_obj, "amount", None)
    if not isinstance(raw_amount, Decimal) or not raw_amount.is_finite():
        raise StatementError(f"{where}: :61: amount is missing")
    amount = abs(raw_amount)
    if amount == 0 or amount >= _MAX_AMOUNT:
        raise StatementError(f"{where}: :61: amount {amount} is out of range")
    value_date = data.get("date")
    booked = data.get("entry_date") or data.get("guessed_entry_date") or value_date
    if not isinstance(value_date, date) or not isinstance(booked, date):
        raise StatementError(f"{where}: :61: value date is missing")
    narration = _narration(data.get("transaction_details"))
    extra = str(data.get("extra_details") or "").strip()
    if not narration:
        narration = extra
    customer = str(data.get("customer_reference") or "").strip()
    bank_ref = str(data.get("bank_reference") or "").strip() or None
    cheque = customer if data.get("id") == "NCHK" and customer.isdigit() else None
    return Line(
        account=account,
        booked_on=date(booked.year, booked.month, booked.day),
        value_date=date(value_date.year, value_date.month, value_date.day),
        direction="credit" if direction == "credit" else "debit",
        amount=amount,
        currency=currency,
        narration=narration,
        source_format="mt940",
        bank_reference=bank_ref,
        cheque=cheque,
        position=where,
    )


def _what(exc: RuntimeError) -> str:
    tag = exc.args[1] if len(exc.args) > 1 else None
    tag_id = getattr(tag, "id", "?")
    return f":{tag_id}: does not follow the MT940 layout"


def _where(exc: RuntimeError, block: str, numbers: list[int]) -> str:
    value = exc.args[2] if len(exc.args) > 2 and isinstance(exc.args[2], str) else ""
    first = value.split("\n", 1)[0]
    if first:
        for line, number in zip(block.split("\n"), numbers, strict=True):
            if first in line:
                return f"line {number}"
    return f"statement at line {numbers[0]}"


def parse_mt940(data: bytes) -> list[Line]:
    """All booked lines of an MT940 file, in file order.

    Raises:
        StatementError: no statement, a tag that does not parse, missing
            balances or account, or balances that do not add up.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if "\x00" in text:
        raise StatementError("MT940: the file contains NUL bytes (binary, not a statement)")
    blocks = _blocks(_clean(text))
    if not blocks:
        raise StatementError("MT940: no statement found (no line starts with :20:)")
    lines: list[Line] = []
    for block, block_numbers in blocks:
        lines.extend(_parse_block(block, block_numbers))
    return lines
