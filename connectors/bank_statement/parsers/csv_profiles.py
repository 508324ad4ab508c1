"""Indian net-banking CSV exports → ``Line`` objects, through column profiles.

A profile names the columns a bank's export uses (reference/bank-statements.md
§3): HDFC, ICICI, SBI, Axis, Kotak, or a ``custom`` one from the config. The
header row is found by content (exports start with account details and end
with summaries); header cells match case-insensitively, ignoring spaces and
punctuation. Without a configured profile the first one whose required
columns are all in a header row wins.

Amounts: ``1,23,456.78`` (Indian grouping), blanks for zero, ``Dr``/``Cr``
suffixes (a ``Dr`` balance is negative). A row with no date and no amounts
but some text continues the previous row's narration; balance-only rows
(``B/F``, opening balance) and footers are skipped.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from ..config import CsvProfileConfig
from ..transactions import Line, StatementError, normalize_account

__all__ = ["PROFILES", "CsvProfile", "parse_csv", "profile_from_config"]

_HEADER_SCAN: Final = 60
_MAX_FIELD: Final = 100_000
_ACCOUNT_LINE: Final = re.compile(
    r"(?:account|a/c)\s*(?:no|number|num)?\.?\s*[:\-]?\s*([0-9][0-9 ]{5,24}[0-9])", re.IGNORECASE
)
# ICICI: "Transactions List - <NAME> (INR) - 001405012345"
_LISTING_LINE: Final = re.compile(r"transactions\s+list\b.*?\b([0-9]{9,18})\b", re.IGNORECASE)
_AMOUNT: Final = re.compile(
    r"(-)?(\d{1,3}(?:,\d{2,3})*|\d+)(\.\d{1,4})?\s*\(?(DR|CR)?\)?", re.IGNORECASE
)


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


@dataclass(frozen=True)
class CsvProfile:
    """Which header holds what (each role lists accepted spellings) and the date formats."""

    name: str
    columns: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    date_formats: tuple[str, ...]
    delimiter: str | None = None
    skip_rows: int | None = None
    encoding: str = "utf-8-sig"
    extra: dict[str, str] = field(default_factory=dict)

    def locate(self, header: Sequence[str]) -> dict[str, int] | None:
        """Role → column index when every required role is in ``header``."""
        keys = [_key(cell) for cell in header]
        found: dict[str, int] = {}
        for role, names in self.columns.items():
            for name in names:
                if _key(name) in keys:
                    found[role] = keys.index(_key(name))
                    break
        return found if all(role in found for role in self.required) else None


def _p(
    name: str, fmts: tuple[str, ...], required: tuple[str, ...], **cols: tuple[str, ...]
) -> CsvProfile:
    return CsvProfile(name=name, columns=cols, required=required, date_formats=fmts)


PROFILES: Final[dict[str, CsvProfile]] = {
    p.name: p
    for p in (
        _p(
            "hdfc", ("%d/%m/%y", "%d/%m/%Y"), ("date", "narration", "debit", "credit", "value_date"),
            date=("Date",), narration=("Narration",), reference=("Chq./Ref.No.", "Chq/Ref Number"),
            value_date=("Value Dt", "Value Date"), debit=("Withdrawal Amt.", "Withdrawal Amount"),
            credit=("Deposit Amt.", "Deposit Amount"), balance=("Closing Balance",),
        ),
        _p(
            "icici", ("%d/%m/%Y", "%d-%m-%Y", "%d/%m/%y"), ("date", "narration", "debit", "credit"),
            date=("Transaction Date",), value_date=("Value Date",), cheque=("Cheque Number",),
            narration=("Transaction Remarks",), debit=("Withdrawal Amount (INR )", "Withdrawal Amount (INR)"),
            credit=("Deposit Amount (INR )", "Deposit Amount (INR)"), balance=("Balance (INR )", "Balance (INR)"),
        ),
        _p(
            "sbi", ("%d %b %Y", "%d-%b-%Y", "%d %b %y", "%d-%b-%y", "%d/%m/%Y"),
            ("date", "narration", "debit", "credit"),
            date=("Txn Date",), value_date=("Value Date",), narration=("Description",),
            reference=("Ref No./Cheque No.", "Ref No/Cheque No"), debit=("Debit",),
            credit=("Credit",), balance=("Balance",),
        ),
        _p(
            "axis", ("%d-%m-%Y", "%d/%m/%Y", "%d-%m-%y"), ("date", "narration", "debit", "credit"),
            date=("Tran Date", "Transaction Date"), cheque=("CHQNO", "Chq No"),
            narration=("PARTICULARS",), debit=("DR", "Debit"), credit=("CR", "Credit"),
            balance=("BAL", "Balance"),
        ),
        _p(
            "kotak", ("%d-%m-%Y", "%d/%m/%Y", "%d-%m-%y"),
            ("date", "narration", "debit", "credit", "serial"),
            serial=("Sl. No.", "Sl No"), date=("Transaction Date",), value_date=("Value Date",),
            narration=("Description",), reference=("Chq / Ref No.", "Chq/Ref No"),
            debit=("Debit",), credit=("Credit",), balance=("Balance",),
        ),
    )
}  # fmt: skip


def profile_from_config(conf: CsvProfileConfig) -> CsvProfile:
    """The ``custom`` profile a connection configures."""
    cols: dict[str, tuple[str, ...]] = {"date": (conf.date,), "narration": (conf.narration,)}
    for role in (
        "debit",
        "credit",
        "amount",
        "direction",
        "balance",
        "value_date",
        "reference",
        "cheque",
    ):
        value = getattr(conf, role)
        if value:
            cols[role] = (value,)
    required = tuple(r for r in cols if r in ("date", "narration", "debit", "credit", "amount"))
    return CsvProfile(
        name="custom",
        columns=cols,
        required=required,
        date_formats=(conf.date_format,),
        delimiter=conf.delimiter,
        skip_rows=conf.skip_rows,
        encoding=conf.encoding,
    )


def _decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding.lower().replace("-", "").startswith("utf8"):
            try:
                return data.decode("cp1252")
            except UnicodeDecodeError:
                pass
        raise StatementError(
            f"CSV: byte {exc.start} is not {encoding}; set custom_csv.encoding"
        ) from exc


def _rows(text: str, delimiter: str) -> list[list[str]]:
    if "\x00" in text:
        raise StatementError("CSV: the file contains NUL bytes (binary, not a CSV export)")
    csv.field_size_limit(_MAX_FIELD)
    try:
        return [list(row) for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise StatementError(f"CSV: {exc}") from exc


def _find_header(
    rows: list[list[str]], profiles: Sequence[CsvProfile], skip: int | None
) -> tuple[int, CsvProfile, dict[str, int]] | None:
    candidates = [skip] if skip is not None else range(min(len(rows), _HEADER_SCAN))
    for index in candidates:
        if index >= len(rows):
            break
        for profile in profiles:
            located = profile.locate(rows[index])
            if located is not None:
                return index, profile, located
    return None


def _amount(text: str, where: str, column: str) -> tuple[Decimal, str | None] | None:
    cleaned = text.strip().replace("\u20b9", "").replace("INR", "").strip()
    if cleaned in ("", "-", "0", "0.0", "0.00", ".00"):
        return None
    found = _AMOUNT.fullmatch(cleaned.replace(" ", "") if "," in cleaned else cleaned)
    if not found:
        raise StatementError(f"{where}: {column} {text[:30]!r} is not an amount")
    sign, whole, frac, suffix = found.groups()
    value = Decimal(whole.replace(",", "") + (frac or ""))
    if sign:
        value = -value
    return value, suffix.upper() if suffix else None


def _date(text: str, formats: Sequence[str]) -> date | None:
    cleaned = " ".join(text.split())
    for fmt in formats:
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    return None


def _cell(row: list[str], cols: dict[str, int], role: str) -> str:
    index = cols.get(role)
    return row[index].strip() if index is not None and index < len(row) else ""


def parse_csv(
    data: bytes,
    *,
    profile: CsvProfile | None = None,
    account: str | None = None,
    currency: str = "INR",
) -> list[Line]:
    """All lines of a bank CSV export, in file order.

    Raises:
        StatementError: no header row matches a profile, a date or amount
            that does not parse (with its line), or no account to file it under.
    """
    profiles = [profile] if profile else list(PROFILES.values())
    text = _decode(data, profile.encoding if profile else "utf-8-sig")
    delimiters = [profile.delimiter] if profile and profile.delimiter else [",", "\t", ";", "|"]
    located = None
    rows: list[list[str]] = []
    shown_rows: list[list[str]] | None = None
    for delimiter in delimiters:
        rows = _rows(text, delimiter)
        shown_rows = shown_rows or rows
        located = _find_header(rows, profiles, profile.skip_rows if profile else None)
        if located:
            break
    if located is None:
        first = next((r for r in shown_rows or [] if any(c.strip() for c in r)), [])
        shown = [c.strip()[:40] for c in first[:12]]
        names = ", ".join(p.name for p in profiles)
        raise StatementError(
            f"CSV: no profile ({names}) matches a header row; first non-empty row is {shown}; "
            "configure csv_profile (or custom_csv)"
        )
    header_index, chosen, cols = located
    if account is None:
        for row in rows[:header_index]:
            joined = " ".join(row)
            found = _ACCOUNT_LINE.search(joined) or _LISTING_LINE.search(joined)
            if found:
                account = found.group(1)
                break
    if account is None or not normalize_account(account):
        raise StatementError(
            f"CSV ({chosen.name}): the file does not name its account; set account in the config"
        )
    acct = normalize_account(account)
    body = rows[header_index + 1 :]
    dated = [bool(_date(_cell(row, cols, "date"), chosen.date_formats)) for row in body]
    last_dated = max((i for i, ok in enumerate(dated) if ok), default=-1)
    out: list[Line] = []
    for index, row in enumerate(body):
        where = f"line {header_index + 2 + index}"
        if index > last_dated:
            break  # footers: "STATEMENT SUMMARY", totals, disclaimers
        if not any(c.strip() for c in row) or all(set(c.strip()) <= {"*", "-", "="} for c in row):
            continue
        raw_date = _cell(row, cols, "date")
        amounts = {
            role: _amount(_cell(row, cols, role), where, role)
            for role in ("debit", "credit", "amount")
            if role in cols
        }
        if not raw_date:
            text = _cell(row, cols, "narration")
            if out and not any(amounts.values()) and text:
                out[-1] = replace(out[-1], narration=f"{out[-1].narration} {text}")
            continue
        booked = _date(raw_date, chosen.date_formats)
        if booked is None:
            if not any(amounts.values()):
                continue  # a sub-heading or balance line between dated rows
            raise StatementError(
                f"{where}: date {raw_date[:30]!r} does not match {' or '.join(chosen.date_formats)}"
            )
        debit, credit, single = amounts.get("debit"), amounts.get("credit"), amounts.get("amount")
        if debit and credit:
            raise StatementError(f"{where}: both debit and credit amounts are filled")
        direction: str
        if debit is not None:
            value, direction = debit[0], "debit"
        elif credit is not None:
            value, direction = credit[0], "credit"
        elif single is not None:
            value, suffix = single
            marker = (_cell(row, cols, "direction") or suffix or "").upper()
            if marker.startswith("D") or (not marker and value < 0):
                direction = "debit"
            elif marker.startswith("C") or (not marker and value > 0):
                direction = "credit"
            else:
                raise StatementError(f"{where}: cannot tell debit from credit ({marker[:10]!r})")
        else:
            continue  # a balance-only row (B/F, opening balance)
        value = abs(value)
        if value >= Decimal("1e15"):
            raise StatementError(f"{where}: amount {value} is out of range")
        balance = (
            _amount(_cell(row, cols, "balance"), where, "balance") if "balance" in cols else None
        )
        balance_after = None
        if balance is not None:
            balance_after = -balance[0] if balance[1] == "DR" else balance[0]
        elif "balance" in cols and _cell(row, cols, "balance").strip() in ("0", "0.00"):
            balance_after = Decimal("0.00")
        value_raw = _cell(row, cols, "value_date")
        value_date = _date(value_raw, chosen.date_formats) if value_raw else None
        cheque = _cell(row, cols, "cheque") or None
        out.append(
            Line(
                account=acct,
                booked_on=booked,
                value_date=value_date,
                direction="credit" if direction == "credit" else "debit",
                amount=value,
                currency=currency,
                narration=" ".join(_cell(row, cols, "narration").split()),
                source_format="csv",
                balance_after=balance_after,
                bank_reference=_cell(row, cols, "reference") or cheque,
                cheque=cheque if cheque and cheque.strip("0").isdigit() else None,
                position=where,
            )
        )
    return out
