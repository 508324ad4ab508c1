"""Indian bank narrations → payment rail, references and counterparty (pure, no I/O).

A narration is the bank's description of a line: ``UPI/431512873406/…``,
``NEFT CR-CITI0000004-ACME LTD-…-CITIN24401114659``, ``IMPS-…``. Layouts drift
between banks, channels and years, so this module does not trust positions
alone: it finds the rail from keywords, splits the text on the separator that
follows the rail keyword, and then recognises each field by its *shape*
(IFSC ``AAAA0XXXXXX``, VPA ``x@psp``, 12-digit RRN, UTR, masked account
``XXXXXXXX1234``). The counterparty name is the first free-text field that is
not a keyword or a bank name, except where a bank is known to put a remark
first (ICICI ``MMT/IMPS/<RRN>/<remark>/<name>/…``).

Formats handled (from reference/bank-statements.md §4 and published samples):

=========  ==============================================================
UPI        ``UPI/<RRN>/<name or note>/<VPA>/<bank>/…`` (ICICI, generic),
           ``UPI-<name>-<VPA>-<IFSC>-<RRN>-<note>`` (HDFC),
           ``UPI/CR|DR/<RRN>/<name>/<bank>/<VPA>/…`` (SBI, after
           ``BY TRANSFER-``/``TO TRANSFER-``), ``UPI/P2A|P2M/<RRN>/<name>/…``
NEFT       ``NEFT CR|DR-<IFSC>-<name>-…-<UTR>`` (HDFC), ``NEFT-<UTR>-<name>-…``,
           ``NEFT/<UTR>/<name>``, ``NEFT*<IFSC>*<UTR>*<name>`` (SBI)
RTGS       ``RTGS CR|DR-<IFSC>-<name>-…-<UTR>``, ``RTGS/<UTR>/<name>``
IMPS       ``IMPS-<RRN>-<name>-<bank>-XXXX1234-<note>`` (HDFC),
           ``MMT/IMPS/<RRN>/<note>/<name>/<IFSC>`` (ICICI), ``IMPS/P2A/<RRN>/…``
cheque     ``CHQ/CLG/<no>``, ``CLG/<name>/<no>``, ``CHQ DEP``, ``CHQ PAID``, ``CTS``
others     card (POS, ECOM, VPS/IPS/PCD), ACH, NACH/ECS, cash (ATM, ATW, NWD,
           CASH DEP), bank postings (interest, charges, GST, fund transfers)
           → ``internal``; anything else → ``other``
=========  ==============================================================

When the narration has no reference but the statement's reference column
does (HDFC ``Chq./Ref.No.`` repeats the RRN, zero-padded, or the NEFT UTR),
``parse(text, reference=…)`` takes it from there, if it has the right shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

__all__ = ["IFSC", "UTR", "Narration", "parse"]

IFSC: Final = re.compile(r"[A-Z]{4}0[A-Z0-9]{6}")
_VPA: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]{0,254}@[A-Za-z][A-Za-z0-9.]{1,63}")
_RRN: Final = re.compile(r"\d{12}")
# NEFT: bank code + N + 11 digits (16 chars) or + N + channel + YYYYMMDD + 8 (22 chars);
# RTGS: bank code + R + 17 digits; HDFC's own NEFT reference N + 15 digits.
UTR: Final = re.compile(r"[A-Z]{4}[NRH][0-9]{11}|[A-Z]{4}[NR][0-9]{17}|N[0-9]{15}")
_MASKED_ACCOUNT: Final = re.compile(r"[Xx*]{2,}[0-9]{3,6}|[0-9]{9,18}")
_NAME: Final = re.compile(r"[A-Za-z][A-Za-z .&'(),]*")
_CHEQUE_NO: Final = re.compile(r"(?<![0-9])([0-9]{6})(?![0-9])")
_TWELVE_DIGITS: Final = re.compile(r"(?<![0-9])([0-9]{12})(?![0-9])")
_UTR_ANYWHERE: Final = re.compile(r"(?<![A-Z0-9])(" + UTR.pattern + r")(?![A-Z0-9])")

_SBI_PREFIX: Final = re.compile(r"^(?:BY|TO)\s+TRANSFER\s*-\s*(?:INB\s+)?", re.IGNORECASE)
_KEYWORDS: Final = frozenset(
    {
        "UPI", "NEFT", "RTGS", "IMPS", "MMT", "CR", "DR", "P2A", "P2M", "P2P", "INB",
        "NA", "PAYMENT", "TRANSFER", "CREDIT", "DEBIT", "REF", "RRN", "UTR",
    }
)  # fmt: skip
_BANK_WORDS: Final = re.compile(r"\bBANK\b|\bBK\b", re.IGNORECASE)  # "AXIS BANK", "Yes Bk"

_RAIL: Final = re.compile(
    r"(?P<rail>UPI|NEFT|RTGS|IMPS)(?:\s+(?:CR|DR))?\s*(?P<sep>[/\-*:])", re.IGNORECASE
)
_CHARGES: Final = re.compile(
    r"\b(?:CHGS?|CHRGS?|CHARGES?|COMMISSION|FEES?|GST|IGST|CGST|SGST|TDS|"
    r"INT\.?\s*PD|INT\.?COLL|INTEREST|MIN\s+BAL|SMS\s+ALERT|CONSOLIDATED)\b",
    re.IGNORECASE,
)
_OTHER_MODES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("nach", re.compile(r"\bNACH\b|\bECS\b", re.IGNORECASE)),
    ("ach", re.compile(r"^ACH\b|\bACH\s*[CD]?\s*[-/]", re.IGNORECASE)),
    (
        "cheque",
        re.compile(
            r"\bCHQ\b|\bCHEQUE\b|\bCLG\b|\bCLEARING\b|\bCTS\b|\bMICR\b|\bINWARD\s+CLG\b",
            re.IGNORECASE,
        ),
    ),
    ("cash", re.compile(r"^ATW-|^NWD-|^EAW-|\bATM\b|\bCASH\b|\bCSH\b", re.IGNORECASE)),
    (
        "card",
        re.compile(
            r"^(?:POS|ECOM|VPS|IPS|PCD|MPS|VIN|ME DC|DC INTL)\b|\bPOS\b|\bDEBIT CARD\b|\bCARD\s+NO\b",
            re.IGNORECASE,
        ),
    ),
    (
        "internal",
        re.compile(
            r"\bFT\b|\bFUNDS?\s+TRANSFER\b|\bTRF\b|\bSWEEP\b|\bFD\b|\bTRANSFER\b", re.IGNORECASE
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Narration:
    """What a narration tells: the rail, its references, and the other side."""

    mode: str = "other"
    utr: str | None = None
    rrn: str | None = None
    cheque: str | None = None
    name: str | None = None
    vpa: str | None = None
    account: str | None = None
    ifsc: str | None = None


def parse(text: str, reference: str | None = None) -> Narration:
    """Read one narration; ``reference`` is the statement's reference column, if any."""
    flat = " ".join(text.split())
    body = _SBI_PREFIX.sub("", flat).rstrip("-").strip()
    rail = _RAIL.search(body)
    if rail and rail.start() <= 12:
        mode = rail.group("rail").lower()
        fields = [f.strip() for f in body[rail.end() :].split(rail.group("sep"))]
        return _with_reference(_rail_fields(mode, fields, body), reference)
    mode = "other"
    if _CHARGES.search(body) and not _TWELVE_DIGITS.search(body):
        mode = "internal"
    else:
        for name, pattern in _OTHER_MODES:
            if pattern.search(body):
                mode = name
                break
    result = Narration(mode=mode)
    if mode == "cheque":
        found = _CHEQUE_NO.search(body)
        result = Narration(mode=mode, cheque=found.group(1) if found else None)
    elif mode in ("card", "cash"):
        found = _TWELVE_DIGITS.search(body)
        result = Narration(mode=mode, rrn=found.group(1) if found else None)
    return _with_reference(result, reference)


def _rail_fields(mode: str, fields: list[str], body: str) -> Narration:
    vpa = ifsc = rrn = utr = account = None
    names: list[str] = []
    for field in fields:
        upper = field.upper()
        if vpa is None and _VPA.fullmatch(field):
            vpa = field.lower()  # VPAs are case-insensitive; HDFC prints them upper case
        elif ifsc is None and IFSC.fullmatch(upper):
            ifsc = upper
        elif rrn is None and mode in ("upi", "imps") and _RRN.fullmatch(field):
            rrn = field
        elif utr is None and mode in ("neft", "rtgs") and UTR.fullmatch(upper):
            utr = upper
        elif account is None and _MASKED_ACCOUNT.fullmatch(field):
            account = field
        elif _NAME.fullmatch(field) and upper not in _KEYWORDS and not _BANK_WORDS.search(field):
            names.append(field)
    if mode in ("upi", "imps") and rrn is None:
        found = _TWELVE_DIGITS.search(body)
        rrn = found.group(1) if found else None
    if mode in ("neft", "rtgs") and utr is None:
        found = _UTR_ANYWHERE.search(body.upper())
        utr = found.group(1) if found else None
    name = names[0] if names else None
    # ICICI IMPS puts the remark before the name: MMT/IMPS/<RRN>/<remark>/<name>/<IFSC>.
    if mode == "imps" and body.upper().startswith("MMT/") and len(names) >= 2:
        name = names[1]
    return Narration(
        mode=mode,
        utr=utr,
        rrn=rrn,
        name=" ".join(name.split()) if name else None,
        vpa=vpa,
        account=account,
        ifsc=ifsc,
    )


def _with_reference(found: Narration, reference: str | None) -> Narration:
    """Fill the rail reference from the statement's reference column when it has the shape."""
    if not reference:
        return found
    ref = reference.strip().upper()
    if found.mode in ("upi", "imps", "card") and found.rrn is None and ref.isdigit():
        tail = ref.lstrip("0").rjust(12, "0")
        if len(tail) == 12:
            return replace(found, rrn=tail)
    if found.mode in ("neft", "rtgs") and found.utr is None and UTR.fullmatch(ref):
        return replace(found, utr=ref)
    if found.mode == "cheque" and found.cheque is None and ref.isdigit():
        return replace(found, cheque=ref.lstrip("0").rjust(6, "0"))
    return found
