"""ISO 20022 camt.053 (BankToCustomerStatement) → ``Line`` objects, with defusedxml.

Versions ``camt.053.001.02`` to ``.13`` (the namespace is read from the root,
not hard-coded; ``.02``/``.08`` are tested). DTDs, entity declarations and
external references are refused before anything is expanded, so a "billion
laughs" file is a clean ``StatementError``, not a memory blow-up.

One line per booked ``Ntry`` (``Sts`` ``BOOK``, or ``Sts/Cd`` from v.08;
pending and information-only entries are not posted and are skipped). An
entry whose ``NtryDtls`` holds several ``TxDtls`` *with their own amounts*
(a batch) gives one line per ``TxDtls``. Per line: ``Amt@Ccy`` (always
positive) + ``CdtDbtInd``, ``BookgDt``/``ValDt`` (``Dt`` or ``DtTm``),
bank reference = ``AcctSvcrRef`` (transaction's, else entry's), else ``UETR``,
``TxId``, ``NtryRef``; a UTR-shaped ``TxId``/``EndToEndId`` is the UTR; ``RmtInf/Ustrd``, ``AddtlNtryInf`` / ``AddtlTxInf``, ``RltdPties``
(``Dbtr``/``Cdtr`` ``Nm`` and account ``IBAN`` or ``Othr/Id``, the other side
being the debtor of a credit and the creditor of a debit) and ``RltdAgts``
(``BIC``/``BICFI``, ``ClrSysMmbId/MmbId`` = IFSC in India).

``balance_after`` is the opening booked balance (``OPBD``, else ``PRCD``)
plus the lines so far, when the statement has one; when it also has a
closing booked balance (``CLBD``) the two must agree.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Final
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XmlParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

from ..narration import UTR
from ..transactions import Line, StatementError, normalize_account

__all__ = ["parse_camt053"]

_NAMESPACE: Final = re.compile(
    r"^\{urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d{2})\}Document$"
)
_AMOUNT: Final = re.compile(r"[0-9]{1,18}(\.[0-9]{1,5})?")


class _Reader:
    def __init__(self, ns: str) -> None:
        self.ns = ns

    def path(self, steps: str) -> str:
        return "/".join(f"{{{self.ns}}}{step}" for step in steps.split("/"))

    def find(self, node: Element | None, steps: str) -> Element | None:
        return None if node is None else node.find(self.path(steps))

    def all(self, node: Element, steps: str) -> list[Element]:
        return node.findall(self.path(steps))

    def text(self, node: Element | None, *paths: str) -> str | None:
        for steps in paths:
            found = self.find(node, steps)
            if found is not None and found.text and found.text.strip():
                return found.text.strip()
        return None


def _amount(node: Element | None, where: str) -> tuple[Decimal, str]:
    if node is None:
        raise StatementError(f"{where}: Amt is missing")
    text = (node.text or "").strip()
    if not _AMOUNT.fullmatch(text):
        raise StatementError(f"{where}: Amt {text[:30]!r} is not a positive decimal")
    currency = node.get("Ccy", "")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise StatementError(f"{where}: Amt@Ccy {currency[:5]!r} is not an ISO 4217 code")
    return Decimal(text), currency


def _date(r: _Reader, node: Element | None, element: str, where: str) -> date | None:
    text = r.text(node, "Dt", "DtTm")
    if text is None:
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError as exc:
        raise StatementError(f"{where}: {element} {text[:30]!r} is not an ISO date") from exc


def _balances(r: _Reader, stmt: Element, where: str) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for index, bal in enumerate(r.all(stmt, "Bal"), start=1):
        code = r.text(bal, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry")
        if code is None:
            continue
        value, _ = _amount(r.find(bal, "Amt"), f"{where}/Bal[{index}]")
        sign = -1 if r.text(bal, "CdtDbtInd") == "DBIT" else 1
        out.setdefault(code, sign * value)
    return out


def _party(r: _Reader, tx: Element | None, role: str) -> dict[str, str | None]:
    party = r.find(tx, f"RltdPties/{role}")
    name = r.text(party, "Nm", "Pty/Nm")
    account = r.text(tx, f"RltdPties/{role}Acct/Id/IBAN", f"RltdPties/{role}Acct/Id/Othr/Id")
    agent = r.find(tx, f"RltdAgts/{role}Agt/FinInstnId")
    ifsc = r.text(agent, "ClrSysMmbId/MmbId")
    return {"name": name, "account": account, "ifsc": ifsc}


def _tx_amount(r: _Reader, tx: Element | None) -> Element | None:
    found = r.find(tx, "Amt")
    return found if found is not None else r.find(tx, "AmtDtls/TxAmt/Amt")


def _utr(r: _Reader, tx: Element | None) -> str | None:
    """A UTR-shaped TxId/EndToEndId (Indian banks' camt carries the NEFT/RTGS UTR there)."""
    for steps in ("Refs/TxId", "Refs/EndToEndId", "Refs/ClrSysRef"):
        value = r.text(tx, steps)
        if value and UTR.fullmatch(value.upper()):
            return value.upper()
    return None


def _entry_lines(r: _Reader, ntry: Element, account: str, where: str) -> list[Line]:
    status = r.text(ntry, "Sts/Cd", "Sts")
    if status is not None and status != "BOOK":
        return []
    indicator = r.text(ntry, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise StatementError(f"{where}/CdtDbtInd: {str(indicator)[:10]!r} is not CRDT or DBIT")
    # With RvslInd the indicator is already the direction of this (reversing) entry.
    credit = indicator == "CRDT"
    amount, currency = _amount(r.find(ntry, "Amt"), f"{where}/Amt")
    booked = _date(r, r.find(ntry, "BookgDt"), "BookgDt", where)
    value = _date(r, r.find(ntry, "ValDt"), "ValDt", where)
    if booked is None:
        booked = value
    if booked is None:
        raise StatementError(f"{where}: neither BookgDt nor ValDt is given")
    entry_svcr_ref = r.text(ntry, "AcctSvcrRef")
    entry_info = r.text(ntry, "AddtlNtryInf")
    details = r.all(ntry, "NtryDtls/TxDtls")
    batch = len(details) > 1 and all(_tx_amount(r, tx) is not None for tx in details)
    targets: list[Element | None] = list(details) if batch else [details[0] if details else None]
    out: list[Line] = []
    for index, tx in enumerate(targets, start=1):
        tx_where = f"{where}/NtryDtls/TxDtls[{index}]" if batch else where
        tx_amount, tx_currency = (
            _amount(_tx_amount(r, tx), tx_where) if batch else (amount, currency)
        )
        ustrd = (
            [u.text.strip() for u in r.all(tx, "RmtInf/Ustrd") if u.text] if tx is not None else []
        )
        narration_parts = [p for p in (entry_info if not batch else None, *ustrd) if p]
        if not narration_parts:
            extra = r.text(tx, "AddtlTxInf")
            narration_parts = [extra] if extra else []
        other = _party(r, tx, "Dbtr" if credit else "Cdtr")
        out.append(
            Line(
                account=account,
                booked_on=booked,
                value_date=value,
                direction="credit" if credit else "debit",
                amount=tx_amount,
                currency=tx_currency,
                narration=" ".join(" ".join(narration_parts).split()),
                source_format="camt053",
                bank_reference=(
                    r.text(tx, "Refs/AcctSvcrRef")
                    or entry_svcr_ref
                    or r.text(tx, "Refs/UETR", "Refs/TxId")
                    or r.text(ntry, "NtryRef")
                ),
                utr=_utr(r, tx),
                name=other["name"],
                counterparty_account=other["account"],
                ifsc=other["ifsc"],
                position=tx_where,
            )
        )
    return out


def parse_camt053(data: bytes) -> list[Line]:
    """All booked lines of a camt.053 file, in file order.

    Raises:
        StatementError: not XML, a DTD or entities, not camt.053, or an
            element that is missing or malformed (named by its path).
    """
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise StatementError(
            f"camt.053: refused an XML file with a DTD or entity declarations ({type(exc).__name__}); "
            "statements never need them and they are how XML bombs work"
        ) from exc
    except XmlParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise StatementError(
            f"camt.053: not well-formed XML at line {line}, column {column}"
        ) from exc
    except (ValueError, UnicodeError, LookupError) as exc:  # LookupError: unknown encoding=
        raise StatementError(f"camt.053: the XML cannot be decoded ({type(exc).__name__})") from exc
    found = _NAMESPACE.match(root.tag)
    if not found or not 2 <= int(found.group(1)) <= 13:
        raise StatementError(
            f"not a camt.053.001.02-13 document: root element is {root.tag[:120]!r}"
        )
    r = _Reader(root.tag[1 : root.tag.index("}")])
    statements = r.all(root, "BkToCstmrStmt/Stmt")
    if not statements:
        raise StatementError("camt.053: Document/BkToCstmrStmt has no Stmt")
    out: list[Line] = []
    for s_index, stmt in enumerate(statements, start=1):
        where = f"Stmt[{s_index}]"
        raw_account = r.text(stmt, "Acct/Id/IBAN", "Acct/Id/Othr/Id")
        if raw_account is None or not normalize_account(raw_account):
            raise StatementError(f"{where}/Acct/Id: no IBAN or Othr/Id")
        account = normalize_account(raw_account)
        balances = _balances(r, stmt, where)
        opening = balances.get("OPBD", balances.get("PRCD"))
        lines: list[Line] = []
        for n_index, ntry in enumerate(r.all(stmt, "Ntry"), start=1):
            lines.extend(_entry_lines(r, ntry, account, f"{where}/Ntry[{n_index}]"))
        if opening is not None:
            running = opening
            for i, line in enumerate(lines):
                running += line.amount if line.direction == "credit" else -line.amount
                lines[i] = replace(line, balance_after=running)
            closing = balances.get("CLBD")
            if closing is not None and closing != running:
                raise StatementError(
                    f"{where}: opening booked balance {opening} plus the entries gives "
                    f"{running}, but CLBD says {closing} (missing or altered entries?)"
                )
        out.extend(lines)
    return out
