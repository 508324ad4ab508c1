"""Narration parsing: real-format lines of Indian banks (reference/bank-statements.md §4), table-driven.

Names, VPAs, numbers are made up; layouts are the banks' (HDFC, ICICI, SBI, Axis,
Kotak statement samples in public parsers and the reference's table).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.bank_statement.narration import Narration, parse

N = None
# (narration, reference column or None, expected: mode, utr, rrn, cheque, name, vpa, account, ifsc)
CASES: list[tuple[str, str | None, tuple[Any, ...]]] = [
    # ---- UPI
    ("UPI-ANANYA RAO-ANANYA.RAO@OKAXIS-UTIB0000123-410612873406-INVOICE 1043", "0000410612873406",
     ("upi", N, "410612873406", N, "ANANYA RAO", "ananya.rao@okaxis", N, "UTIB0000123")),
    ("UPI-SWIGGY-SWIGGY@ICICI-ICIC0DC0099-410817777777-UPI", N,
     ("upi", N, "410817777777", N, "SWIGGY", "swiggy@icici", N, "ICIC0DC0099")),
    ("UPI-ZEPTO MARKETPLACE PRIVA-ZEPTOMARKETPLACE.RZP@HDFCBANK-HDFC0MERUPI-413012345678-PAY", N,
     ("upi", N, "413012345678", N, "ZEPTO MARKETPLACE PRIVA", "zeptomarketplace.rzp@hdfcbank", N, "HDFC0MERUPI")),
    ("UPI/431512873406/Payment from Ananya/ananya.rao@okaxis/AXIS BANK/AXL8c1f0e6b2d9a4e7f9b3c5d1a2e4f6b8", N,
     ("upi", N, "431512873406", N, "Payment from Ananya", "ananya.rao@okaxis", N, N)),
    ("UPI/412311223344/Rent May/landlord.k@okhdfcbank/HDFC BANK/ICI1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6", N,
     ("upi", N, "412311223344", N, "Rent May", "landlord.k@okhdfcbank", N, N)),
    ("BY TRANSFER-UPI/CR/412345678901/PRIYA SHAH/HDFC/priya.shah@okhdfcbank/Payment--", N,
     ("upi", N, "412345678901", N, "PRIYA SHAH", "priya.shah@okhdfcbank", N, N)),
    ("TO TRANSFER-UPI/DR/412456789012/BESCOM/YESB/bescom@ybl/Bill--", N,
     ("upi", N, "412456789012", N, "BESCOM", "bescom@ybl", N, N)),
    ("UPI/P2A/412234567890/SUNIL KUMAR/Axis Bank/sunil.k@axl/UPI", N,
     ("upi", N, "412234567890", N, "SUNIL KUMAR", "sunil.k@axl", N, N)),
    ("UPI/P2M/412923456789/ZOMATO LTD/YES BANK/zomato@yespay/UPI", N,
     ("upi", N, "412923456789", N, "ZOMATO LTD", "zomato@yespay", N, N)),
    ("UPI/ARJUN MEHTA/412312312312/dinner", "UPI-412312312312",
     ("upi", N, "412312312312", N, "ARJUN MEHTA", N, N, N)),
    ("UPI/CR/413198765432/RAVI/SBIN/9876543210@ybl/UPI", N,
     ("upi", N, "413198765432", N, "RAVI", "9876543210@ybl", N, N)),
    # reference column only (the narration was cut short by the bank)
    ("UPI-MEERA TRADERS-MEERATRADERS@YBL-SBIN0001234", "0000410818765432",
     ("upi", N, "410818765432", N, "MEERA TRADERS", "meeratraders@ybl", N, "SBIN0001234")),
    # ---- NEFT
    ("NEFT CR-YESB0000001-RAZORPAY SOFTWARE PVT LTD-HUB TRADERS PVT LTD-YESBN12024041500123456", N,
     ("neft", "YESBN12024041500123456", N, N, "RAZORPAY SOFTWARE PVT LTD", N, N, "YESB0000001")),
    ("NEFT CR-CITI0000004-GLOBAL PAYROLL SERVICES-HUB TRADERS-CITIN24401114659", "CITIN24401114659",
     ("neft", "CITIN24401114659", N, N, "GLOBAL PAYROLL SERVICES", N, N, "CITI0000004")),
    ("NEFT DR-ICIC0000104-SAI LOGISTICS-NETBANK, MUM-N001242809098988-MAY FREIGHT", "N001242809098988",
     ("neft", "N001242809098988", N, N, "SAI LOGISTICS", N, N, "ICIC0000104")),
    ("NEFT DR-KKBK0000958-VENKAT RAMAN-NETBANK, MUM-VENDOR PAYMENT", "N123242809091111",
     ("neft", "N123242809091111", N, N, "VENKAT RAMAN", N, N, "KKBK0000958")),
    ("NEFT-SBINN52024050612345678-GLOBAL EXPORTS LTD-PAYMENT-00001234567890-SBIN0004567", N,
     ("neft", "SBINN52024050612345678", N, N, "GLOBAL EXPORTS LTD", N, "00001234567890", "SBIN0004567")),
    ("NEFT/CITIN52025082917691328/ACME CORPORATION", N,
     ("neft", "CITIN52025082917691328", N, N, "ACME CORPORATION", N, N, N)),
    ("BY TRANSFER-NEFT*HDFC0000240*HDFCN24127123456*ACME CORP--", N,
     ("neft", "HDFCN24127123456", N, N, "ACME CORP", N, N, "HDFC0000240")),
    ("NEFT CR-HDFCR52024111700123456-RAZORPAY SOFTWARE PVT LTD", N,
     ("neft", "HDFCR52024111700123456", N, N, "RAZORPAY SOFTWARE PVT LTD", N, N, N)),
    # ---- RTGS
    ("RTGS DR-SBIN0000123-SHREE STEEL SUPPLIERS-HDFCR52024041600987654", N,
     ("rtgs", "HDFCR52024041600987654", N, N, "SHREE STEEL SUPPLIERS", N, N, "SBIN0000123")),
    ("RTGS CR-UTIB0000004-BHARAT FORGE DISTRIBUTORS-HUB TRADERS-UTIBR52024052100445566", N,
     ("rtgs", "UTIBR52024052100445566", N, N, "BHARAT FORGE DISTRIBUTORS", N, N, "UTIB0000004")),
    ("RTGS/ICICR52024060300112233/MAHINDRA LOGISTICS LTD", N,
     ("rtgs", "ICICR52024060300112233", N, N, "MAHINDRA LOGISTICS LTD", N, N, N)),
    # ---- IMPS
    ("IMPS-410716543210-KAVYA IYER-ICIC-XXXXXXXX1234-REFUND ORDER 991", N,
     ("imps", N, "410716543210", N, "KAVYA IYER", N, "XXXXXXXX1234", N)),
    ("MMT/IMPS/412409876543/Invoice 88/RAHUL VERMA/HDFC0001234", N,
     ("imps", N, "412409876543", N, "RAHUL VERMA", N, N, "HDFC0001234")),
    ("TO TRANSFER-INB IMPS/P2A/412907654321/KIRANKUMAR/SBI/XXXXXXX4321--", N,
     ("imps", N, "412907654321", N, "KIRANKUMAR", N, "XXXXXXX4321", N)),
    ("IMPS/P2A/413112345678/NEHA GUPTA/KKBK0000811/salary advance", N,
     ("imps", N, "413112345678", N, "NEHA GUPTA", N, N, "KKBK0000811")),
    # ---- cheque
    ("CHQ DEP - CLG - 000457 - MUMBAI", N, ("cheque", N, N, "000457", N, N, N, N)),
    ("CLG/SHARMA ENTERPRISES/000789/SBI/07.05.2024", "000789", ("cheque", N, N, "000789", N, N, N, N)),
    ("CHQ PAID-MICR CTS-MUMBAI-ASHOK TRADING CO", "000457", ("cheque", N, N, "000457", N, N, N, N)),
    ("CHQ/CLG/123456", N, ("cheque", N, N, "123456", N, N, N, N)),
    ("INWARD CLG CHQ NO 654321", N, ("cheque", N, N, "654321", N, N, N, N)),
    # ---- card, cash, ACH/NACH, bank postings
    ("POS 512345XXXXXX6789 AMAZON PAY INDIA", N, ("card", N, N, N, N, N, N, N)),
    ("POS/512345XXXXXX6789/AMAZON PAY INDIA/412301234567", N, ("card", N, "412301234567", N, N, N, N, N)),
    ("ATW-512967XXXXXX1234-S1ANMU04-MUMBAI", N, ("cash", N, N, N, N, N, N, N)),
    ("NWD-512967XXXXXX1234-SPCNMU11-MUMBAI", N, ("cash", N, N, N, N, N, N, N)),
    ("CASH DEPOSIT BY SELF", N, ("cash", N, N, N, N, N, N, N)),
    ("ACH D- TP ACH ICICIPRULIFE-1234567", N, ("ach", N, N, N, N, N, N, N)),
    ("NACH-DR-BAJAJ FINANCE LTD-KKBK1234567890", N, ("nach", N, N, N, N, N, N, N)),
    ("Int.Pd:2712345678:01-02-2024 to 30-04-2024", N, ("internal", N, N, N, N, N, N, N)),
    ("CREDIT INTEREST", N, ("internal", N, N, N, N, N, N, N)),
    ("SMS ALERT CHARGES APR-JUN 24 INCL GST", N, ("internal", N, N, N, N, N, N, N)),
    ("NEFT CHGS INCL GST 0.36", N, ("internal", N, N, N, N, N, N, N)),
    ("BIL/ONL/000123456789/BESCOM/BESCOM BILL", N, ("other", N, N, N, N, N, N, N)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "reference", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_narration_table(text: str, reference: str | None, expected: tuple[Any, ...]) -> None:
    mode, utr, rrn, cheque, name, vpa, account, ifsc = expected
    assert parse(text, reference=reference) == Narration(
        mode=mode, utr=utr, rrn=rrn, cheque=cheque, name=name, vpa=vpa, account=account, ifsc=ifsc
    )


def test_table_covers_the_rails() -> None:
    modes = [c[2][0] for c in CASES]
    assert len(CASES) >= 30
    for rail in ("upi", "neft", "imps", "rtgs", "cheque"):
        assert modes.count(rail) >= 3, rail


def test_reference_column_only_used_when_it_has_the_right_shape() -> None:
    assert parse("UPI-A-a@ybl", reference="TRANSFER FROM 4697273044091").rrn is None
    assert parse("NEFT DR-KKBK0000958-VENKAT", reference="NOT A UTR").utr is None


@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=40)))
def test_any_text_gives_a_narration(text: str, reference: str | None) -> None:
    found = parse(text, reference=reference)
    assert found.mode in {
        "upi",
        "neft",
        "imps",
        "rtgs",
        "cheque",
        "card",
        "ach",
        "nach",
        "cash",
        "internal",
        "other",
    }
