"""Indian GST rules the Books actions check before calling Books (pure: no I/O).

- ``check_gstin``: a GSTIN's shape, state code, PAN and GSTN mod-36 check character;
  ``GstinError.kind`` says which (``length``, ``state``, ``pan``, ``entity``,
  ``default_z``, ``checksum``).
- ``STATES``: GST state codes with the two-letter codes Books uses for
  ``place_of_contact`` / ``place_of_supply``.
- ``check_hsn_sac``: HSN (goods: 4, 6 or 8 digits) or SAC (services: 6 digits starting 99).
- ``tax_split``: intra-state supply -> CGST + SGST at half the rate each; inter-state -> IGST.

Checksum (GSTN, as implemented by public validators such as srikanthlogic/gstin-validator):
over the first 14 characters in base 36 ("0-9A-Z"), factor 1 at even and 2 at odd
positions; add quotient and remainder of ``value * factor`` by 36; the check
character is ``(36 - sum % 36) % 36``. "27AAPFU0939F1ZV" is a documented example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

__all__ = [
    "GST_SLABS",
    "STATES",
    "GstinError",
    "TaxShare",
    "check_gstin",
    "check_hsn_sac",
    "gstin_check_char",
    "slab_label",
    "state_of_gstin",
    "tax_split",
]

BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PAN = re.compile(r"^[A-Z]{5}\d{4}[A-Z]$")

# GST state code -> (Books' two-letter code, name). Codes follow the GSTN list;
# two-letter codes follow Books' place_of_supply values where documented. UK
# (Uttarakhand), OD (Odisha), TS (Telangana), OT and CJ are UNCONFIRMED spellings.
STATES: dict[str, tuple[str, str]] = {
    "01": ("JK", "Jammu and Kashmir"),
    "02": ("HP", "Himachal Pradesh"),
    "03": ("PB", "Punjab"),
    "04": ("CH", "Chandigarh"),
    "05": ("UK", "Uttarakhand"),
    "06": ("HR", "Haryana"),
    "07": ("DL", "Delhi"),
    "08": ("RJ", "Rajasthan"),
    "09": ("UP", "Uttar Pradesh"),
    "10": ("BR", "Bihar"),
    "11": ("SK", "Sikkim"),
    "12": ("AR", "Arunachal Pradesh"),
    "13": ("NL", "Nagaland"),
    "14": ("MN", "Manipur"),
    "15": ("MZ", "Mizoram"),
    "16": ("TR", "Tripura"),
    "17": ("ML", "Meghalaya"),
    "18": ("AS", "Assam"),
    "19": ("WB", "West Bengal"),
    "20": ("JH", "Jharkhand"),
    "21": ("OD", "Odisha"),
    "22": ("CG", "Chhattisgarh"),
    "23": ("MP", "Madhya Pradesh"),
    "24": ("GJ", "Gujarat"),
    "25": ("DD", "Daman and Diu"),
    "26": ("DN", "Dadra and Nagar Haveli and Daman and Diu"),
    "27": ("MH", "Maharashtra"),
    "28": ("AP", "Andhra Pradesh (before 2014)"),
    "29": ("KA", "Karnataka"),
    "30": ("GA", "Goa"),
    "31": ("LD", "Lakshadweep"),
    "32": ("KL", "Kerala"),
    "33": ("TN", "Tamil Nadu"),
    "34": ("PY", "Puducherry"),
    "35": ("AN", "Andaman and Nicobar Islands"),
    "36": ("TS", "Telangana"),
    "37": ("AP", "Andhra Pradesh"),
    "38": ("LA", "Ladakh"),
    "97": ("OT", "Other Territory"),
    "99": ("CJ", "Centre Jurisdiction"),
}
PLACE_CODES = frozenset(code for code, _ in STATES.values())

GST_SLABS: tuple[Decimal, ...] = tuple(
    Decimal(r) for r in ("0", "0.1", "0.25", "1.5", "3", "5", "12", "18", "28")
)

GstinProblem = Literal["length", "characters", "state", "pan", "entity", "default_z", "checksum"]


class GstinError(ValueError):
    """A GSTIN that cannot be right; ``kind`` names the failed check."""

    def __init__(self, kind: GstinProblem, message: str) -> None:
        super().__init__(message)
        self.kind: GstinProblem = kind


def gstin_check_char(first14: str) -> str:
    """The GSTN check character for the first 14 characters of a GSTIN."""
    total = 0
    for index, char in enumerate(first14[:14]):
        product = BASE36.index(char) * (2 if index % 2 else 1)
        total += product // 36 + product % 36
    return BASE36[(36 - total % 36) % 36]


def check_gstin(value: str) -> str:
    """The GSTIN, upper-cased and stripped, or ``GstinError`` naming the problem."""
    gstin = value.strip().upper()
    if len(gstin) != 15:
        raise GstinError("length", f"GSTIN {value!r} has {len(gstin)} characters, not 15")
    if any(char not in BASE36 for char in gstin):
        raise GstinError("characters", f"GSTIN {gstin} may hold only digits and letters")
    if gstin[:2] not in STATES:
        raise GstinError("state", f"GSTIN {gstin}: {gstin[:2]!r} is not a GST state code")
    if not PAN.match(gstin[2:12]):
        raise GstinError(
            "pan", f"GSTIN {gstin}: {gstin[2:12]!r} is not a PAN (5 letters, 4 digits, 1 letter)"
        )
    if gstin[12] == "0":
        raise GstinError("entity", f"GSTIN {gstin}: entity number must be 1-9 or A-Z, not 0")
    if gstin[13] != "Z":
        raise GstinError("default_z", f"GSTIN {gstin}: 14th character must be 'Z'")
    expected = gstin_check_char(gstin)
    if gstin[14] != expected:
        raise GstinError(
            "checksum",
            f"GSTIN {gstin}: checksum mismatch (check character should be {expected!r})",
        )
    return gstin


def state_of_gstin(gstin: str) -> str:
    """Books' two-letter place code for a (valid) GSTIN's state, e.g. ``KA`` for 29."""
    return STATES[gstin[:2]][0]


def check_hsn_sac(code: str, product_type: Literal["goods", "services"]) -> str:
    """The HSN (goods) or SAC (services) code, or ``ValueError`` saying what is wrong."""
    code = code.strip()
    if product_type == "goods":
        if not (code.isdigit() and len(code) in (4, 6, 8)):
            raise ValueError(f"HSN code {code!r} for goods must be 4, 6 or 8 digits")
    elif not (code.isdigit() and len(code) == 6 and code.startswith("99")):
        raise ValueError(f"SAC code {code!r} for services must be 6 digits starting with 99")
    return code


def slab_label(rate: Decimal) -> str:
    """``Decimal("18.00")`` -> ``"18"``; ``Decimal("0.25")`` -> ``"0.25"``."""
    text = format(rate.normalize(), "f")
    return text


@dataclass(frozen=True)
class TaxShare:
    """One tax on a line: its Books name (``CGST9``) and percentage."""

    name: str
    kind: Literal["CGST", "SGST", "IGST"]
    rate: Decimal


def tax_split(rate: Decimal, place_of_supply: str, home_state: str) -> tuple[TaxShare, ...]:
    """The taxes a GST slab becomes: CGST+SGST halves within the home state, else IGST."""
    if rate not in GST_SLABS:
        raise ValueError(f"{rate} is not a GST slab ({', '.join(map(slab_label, GST_SLABS))})")
    if place_of_supply == home_state:
        half = rate / 2
        return (
            TaxShare(f"CGST{slab_label(half)}", "CGST", half),
            TaxShare(f"SGST{slab_label(half)}", "SGST", half),
        )
    return (TaxShare(f"IGST{slab_label(rate)}", "IGST", rate),)
