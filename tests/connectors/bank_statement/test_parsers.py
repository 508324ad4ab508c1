"""Statement parsers: every fixture to schema-valid data, ids that dedupe, clean refusals."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.bank_statement.parsers import (
    StatementError,
    detect_format,
    parse_bytes,
    parse_camt053,
    parse_csv,
    parse_file,
    parse_mt940,
)
from connectors.bank_statement.parsers.csv_profiles import PROFILES
from hub.errors import ParseError
from hub.schemas import validate_data

from .helpers import HDFC, STATEMENTS, config, read

ALL = sorted(p.name for p in STATEMENTS.iterdir())
OVERLAP = ("hdfc_20240415-16.sta", "hdfc_20240416-17.camt053.xml", "hdfc_20240415-17.csv")
# The six transfers the three overlapping HDFC statements describe (15-17 April 2024).
SIX = {
    ("2024-04-15", "credit", "25000.00", "upi", None, "410612873406"),
    ("2024-04-15", "credit", "98231.50", "neft", "YESBN12024041500123456", None),
    ("2024-04-16", "debit", "1500.00", "imps", None, "410716543210"),
    ("2024-04-16", "debit", "200000.00", "rtgs", "HDFCR52024041600987654", None),
    ("2024-04-17", "debit", "349.00", "upi", None, "410817777777"),
    ("2024-04-17", "credit", "12000.00", "upi", None, "410818765432"),
}


def brief(t: dict[str, object]) -> tuple[object, ...]:
    ref = t["reference"]
    assert isinstance(ref, dict)
    return (t["booked_on"], t["direction"], t["amount"], t["mode"], ref["utr"], ref["rrn"])


# ------------------------------------------------------------------ every fixture


@pytest.mark.parametrize("name", ALL)
def test_each_statement_gives_schema_valid_transactions(name: str) -> None:
    transactions = parse_bytes(read(name), config())
    assert transactions
    for t in transactions:
        validate_data("bank.transaction.posted", t)
        assert t["transaction_id"].startswith("bt_")
    assert len({t["transaction_id"] for t in transactions}) == len(transactions)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("hdfc_20240415-16.sta", "mt940"),
        ("sbi_20240610.mt940", "mt940"),
        ("hdfc_20240416-17.camt053.xml", "camt053"),
        ("axis_20240520.camt053v08.xml", "camt053"),
        ("hdfc_20240415-17.csv", "csv"),
    ],
)
def test_format_is_told_by_content(name: str, kind: str) -> None:
    assert detect_format(read(name)) == kind


# ------------------------------------------------------------------ MT940


def test_mt940_hdfc_two_statements_in_swift_envelopes() -> None:
    lines = parse_mt940(read("hdfc_20240415-16.sta"))
    assert [(str(x.booked_on), x.direction, x.amount, x.balance_after) for x in lines] == [
        ("2024-04-15", "credit", Decimal("25000.00"), Decimal("150000.00")),
        ("2024-04-15", "credit", Decimal("98231.50"), Decimal("248231.50")),
        ("2024-04-16", "debit", Decimal("1500.00"), Decimal("246731.50")),
        ("2024-04-16", "debit", Decimal("200000.00"), Decimal("46731.50")),
    ]
    assert {x.account for x in lines} == {HDFC}  # "HDFC0000001/5010…" → the account number
    assert lines[0].position == "line 6"
    # :86: wrapped at exactly 65 characters is re-joined without a space
    assert lines[1].narration == (
        "NEFT CR-YESB0000001-RAZORPAY SOFTWARE PVT LTD-HUB TRADERS PVT LTD-YESBN12024041500123456"
    )
    assert lines[0].narration.endswith("-INVOICE 1043")
    assert lines[1].bank_reference == "YESBN120240415001"


def test_mt940_intermediate_page_reversal_cheque_and_no_entry_date() -> None:
    data = parse_bytes(read("sbi_20240610.mt940"), config())
    cheque, reversal, interest = data
    assert cheque["mode"] == "cheque" and cheque["reference"]["cheque"] == "000457"
    assert cheque["direction"] == "debit" and cheque["balance_after"] == "121266.00"
    # RD = reversal of a debit: money comes back in
    assert reversal["direction"] == "credit" and reversal["reference"]["rrn"] == "412456789012"
    assert interest["mode"] == "internal" and interest["booked_on"] == "2024-06-10"
    assert interest["value_date"] == "2024-06-10" and interest["balance_after"] == "122540.00"


def test_mt940_bank_reference_longer_than_23_characters_is_kept_whole() -> None:
    text = (
        ":20:X\n:25:123456789\n:60F:C241231INR0,00\n"
        ":61:2412310101C40,00NTRFNONREF//HDFCR52024123100987654XYZ12\nRTGS IN\n"
        ":86:RTGS CR-SBIN0000123-ACME\n:62F:C250101INR40,00\n"
    )
    (line,) = parse_mt940(text.encode())
    assert line.bank_reference == "HDFCR52024123100987654XYZ12"
    assert str(line.booked_on) == "2025-01-01"  # entry date 0101 after value date 31 Dec


def test_mt940_overdrawn_opening_balance() -> None:
    text = (
        ":20:X\n:25:1234567\n:60F:D240910INR100,00\n:61:2409110911C150,00NTRFNONREF\n"
        ":86:CASH DEPOSIT\n:62F:C240911INR50,00\n"
    )
    (line,) = parse_mt940(text.encode())
    assert line.balance_after == Decimal("50.00")


def test_mt940_rc_is_a_debit() -> None:
    text = (
        ":20:X\n:25:123456789\n:28C:1/1\n:60F:C240101INR100,00\n"
        ":61:2401020102RC40,00NTRFNONREF//R1\n:86:REVERSAL OF CREDIT\n:62F:C240102INR60,00\n"
    )
    (line,) = parse_mt940(text.encode())
    assert line.direction == "debit" and line.amount == Decimal("40.00")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            b":20:X\n:25:1234567\n:28C:1/1\n:60F:C240101INR100,00\n:61:2401020102C40,00NTRF",
            r"no :62F:/:62M: closing balance \(the file looks truncated after line 5\)",
        ),
        (
            b":20:X\n:25:1234567\n:60F:C240101INR100,00\n:61:garbage\n:62F:C240101INR100,00\n",
            r"line 4: :61: does not follow the MT940 layout",
        ),
        (
            b":20:X\n:25:1234567\n:60F:C240101INR100,00\n:61:2401020102C40,00NTRF\n"
            b":62F:C240102INR999,00\n",
            r"gives 140\.00, but :62: says 999\.00",
        ),
        (b":20:X\n:60F:C240101INR100,00\n:62F:C240101INR100,00\n", r"no :25: account"),
        (b"hello\n", r"no profile"),  # not MT940 at all: falls through to CSV detection
        (b":20:X\n:25:1\n\x00\x00", r"NUL bytes"),
    ],
)
def test_mt940_refusals_say_where(text: bytes, reason: str) -> None:
    with pytest.raises(StatementError, match=reason):
        parse_bytes(text, config())


def test_statement_error_is_a_parse_error() -> None:
    assert issubclass(StatementError, ParseError)


# ------------------------------------------------------------------ camt.053


def test_camt053_v02_related_parties_and_agents() -> None:
    data = parse_bytes(read("hdfc_20240416-17.camt053.xml"), config())
    rtgs = data[1]
    assert rtgs["counterparty"] == {
        "name": "SHREE STEEL SUPPLIERS",
        "vpa": None,
        "account": "32145678901",
        "ifsc": "SBIN0000123",
    }
    assert rtgs["reference"]["utr"] == "HDFCR52024041600987654"
    assert [t["balance_after"] for t in data] == ["246731.50", "46731.50", "46382.50", "58382.50"]


def test_camt053_v08_batch_pending_and_datetime() -> None:
    data = parse_bytes(read("axis_20240520.camt053v08.xml"), config())
    assert [(t["amount"], t["mode"], t["reference"]["utr"]) for t in data] == [
        ("30000.00", "neft", "ICICN52024052000441122"),
        ("20000.00", "neft", "ICICN52024052000441123"),
        ("2500.00", "upi", None),
    ]  # the PDNG card entry is not posted yet
    assert data[0]["booked_on"] == "2024-05-20"  # BookgDt/DtTm
    assert data[0]["counterparty"]["ifsc"] == "ICIC0000004"
    assert data[0]["reference"]["bank_reference"] == "AXISCN0712345678"
    assert data[2]["counterparty"]["vpa"] == "zomato@yespay"


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>&lol9;</BkToCstmrStmt></Document>
"""


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (BOMB, r"refused an XML file with a DTD"),
        (b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://x/d.dtd"><d/>', r"DTD"),
        (b"<Document><unclosed></Document>", r"not well-formed XML at line 1"),
        (b'<?xml version="1.0" encoding="UTFX-8"?><Document/>', r"the XML cannot be decoded"),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"/>',
            r"not a camt.053.001.02-13 document",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt/>'
            b"</Document>",
            r"has no Stmt",
        ),
    ],
)
def test_camt053_refusals(xml: bytes, reason: str) -> None:
    with pytest.raises(StatementError, match=reason):
        parse_camt053(xml)


def test_camt053_bad_element_is_named_by_path() -> None:
    xml = read("hdfc_20240416-17.camt053.xml").replace(
        b"<CdtDbtInd>DBIT</CdtDbtInd>", b"<CdtDbtInd>X</CdtDbtInd>", 1
    )
    with pytest.raises(
        StatementError, match=r"Stmt\[1\]/Ntry\[1\]/CdtDbtInd: 'X' is not CRDT or DBIT"
    ):
        parse_camt053(xml)
    xml = read("hdfc_20240416-17.camt053.xml").replace(b"58382.50", b"58382.49")
    with pytest.raises(StatementError, match=r"CLBD says 58382.49"):
        parse_camt053(xml)


# ------------------------------------------------------------------ CSV


@pytest.mark.parametrize(
    ("name", "profile", "account", "count"),
    [
        ("hdfc_20240415-17.csv", "hdfc", HDFC, 6),
        ("icici_202405.csv", "icici", "001405012345", 4),
        ("sbi_202405.csv", "sbi", "00000034567890123", 4),
        ("axis_202405.csv", "axis", "918020012345678", 4),
        ("kotak_202405.csv", "kotak", "2712345678", 3),
    ],
)
def test_csv_profile_is_detected_from_the_header(
    name: str, profile: str, account: str, count: int
) -> None:
    auto = parse_csv(read(name))
    assert len(auto) == count and {x.account for x in auto} == {account}
    assert parse_csv(read(name), profile=PROFILES[profile]) == auto


def test_csv_amounts_dates_and_balances() -> None:
    hdfc = parse_csv(read("hdfc_20240415-17.csv"))
    assert hdfc[3].amount == Decimal("200000.00") and hdfc[3].balance_after == Decimal("46731.50")
    sbi = parse_csv(read("sbi_202405.csv"))
    assert str(sbi[0].booked_on) == "2024-05-02"  # "2 May 2024"
    kotak = parse_csv(read("kotak_202405.csv"))
    assert [x.balance_after for x in kotak] == [
        Decimal("10850.00"),
        Decimal("-1650.00"),  # "1,650.00 Dr"
        Decimal("50.00"),
    ]


def test_csv_custom_profile_from_config() -> None:
    text = (
        "Co-op Bank export;;;;\n"
        "Posting Date;Details;Amount;Type;Running Balance\n"
        "2024-07-01;NEFT-HDFCN24183000111-ALPHA TRADERS-INV 9;12500.00;CR;112500.00\n"
        "2024-07-02;Bank charges;59.00;DR;112441.00\n"
    ).encode("cp1252")
    custom = {
        "date": "Posting Date",
        "narration": "Details",
        "amount": "Amount",
        "direction": "Type",
        "balance": "Running Balance",
        "date_format": "%Y-%m-%d",
        "delimiter": ";",
        "encoding": "cp1252",
        "skip_rows": 1,
    }
    data = parse_bytes(text, config(account="777", csv_profile="custom", custom_csv=custom))
    assert [(t["direction"], t["amount"], t["mode"]) for t in data] == [
        ("credit", "12500.00", "neft"),
        ("debit", "59.00", "internal"),
    ]
    assert data[0]["reference"]["utr"] == "HDFCN24183000111"


def test_unknown_csv_header_is_explained() -> None:
    text = b"Foo,Bar,Baz\n1,2,3\n"
    with pytest.raises(
        StatementError,
        match=r"no profile \(hdfc, icici, sbi, axis, kotak\) matches a header row; first non-empty "
        r"row is \['Foo', 'Bar', 'Baz'\]; configure csv_profile",
    ):
        parse_bytes(text, config(account="1"))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda t: t.replace(b"16/04/24,IMPS", b"31/13/24,IMPS"), r"line 10: date '31/13/24'"),
        (
            lambda t: t.replace(b'"1,500.00"', b'"1,5x0.00"'),
            r"line 10: debit '1,5x0.00' is not an amount",
        ),
        (lambda t: t.replace(b',"98,231.50"', b'"1.00","98,231.50"'), r"both debit and credit"),
        (lambda t: t.replace(b"Account No :50100123456789", b""), r"does not name its account"),
    ],
)
def test_broken_csv_says_which_line(mutate: object, reason: str) -> None:
    assert callable(mutate)
    with pytest.raises(StatementError, match=reason):
        parse_bytes(mutate(read("hdfc_20240415-17.csv")), config())


def test_configured_account_refuses_another_accounts_statement() -> None:
    with pytest.raises(
        StatementError, match=r"statement is for account 50100123456789, this connection is for 999"
    ):
        parse_bytes(read("hdfc_20240415-16.sta"), config(account="999"))


# ------------------------------------------------------------------ ids and dedupe


def test_overlapping_mt940_camt_and_csv_give_each_transaction_once() -> None:
    seen: dict[str, tuple[object, ...]] = {}
    per_file = []
    for name in OVERLAP:
        data = parse_bytes(read(name), config(account=HDFC))
        per_file.append({t["transaction_id"] for t in data})
        for t in data:
            assert seen.setdefault(t["transaction_id"], brief(t)) == brief(t)
    assert set(seen.values()) == SIX  # 4 + 4 + 6 lines, 6 transactions
    mt940_ids, camt_ids, csv_ids = per_file
    assert len(mt940_ids & camt_ids) == 2 and csv_ids == mt940_ids | camt_ids


def test_redownloaded_mt940_with_a_different_window_gives_the_same_ids() -> None:
    full = parse_bytes(read("hdfc_20240415-16.sta"), config())
    text = read("hdfc_20240415-16.sta").decode()
    second_day_only = text[text.index("{1:", 10) :]  # just the 16 April statement
    again = parse_bytes(second_day_only.encode(), config())
    assert [t["transaction_id"] for t in again] == [t["transaction_id"] for t in full[2:]]


def test_fallback_id_keeps_identical_lines_apart_and_stable() -> None:
    text = (
        b"Date,Narration,Chq./Ref.No.,Value Dt,Withdrawal Amt.,Deposit Amt.,Closing Balance\n"
        b"01/06/24,SMS CHARGES,,01/06/24,10.00,,990.00\n"
        b"01/06/24,SMS CHARGES,,01/06/24,10.00,,980.00\n"
        b"02/06/24,SMS CHARGES,,02/06/24,10.00,,970.00\n"
    )
    first = [t["transaction_id"] for t in parse_bytes(text, config(account="1"))]
    assert len(set(first)) == 3
    assert [t["transaction_id"] for t in parse_bytes(text, config(account="1"))] == first
    # the same lines downloaded again with the narration's spacing changed: same ids
    respaced = text.replace(b"SMS CHARGES", b"SMS  CHARGES ")
    assert [t["transaction_id"] for t in parse_bytes(respaced, config(account="1"))] == first


# ------------------------------------------------------------------ size limit


def test_a_100_mb_statement_is_refused_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "huge.sta"
    with open(big, "wb") as handle:
        handle.truncate(100 * 2**20)  # sparse: no 100 MB written to disk
    monkeypatch.setattr("builtins.open", None)  # reading it would crash the test
    with pytest.raises(StatementError, match=r"^statement is 100 MB, over the 20 MB limit$"):
        parse_file(big, config())


def test_size_limit_applies_to_bytes_too() -> None:
    with pytest.raises(StatementError, match=r"over the 0.0 MB limit"):
        parse_bytes(b"x" * 2048, config(max_file_bytes=1024))


def test_parse_file_returns_the_fingerprint(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(read("hdfc_20240415-17.csv"))
    digest, data = parse_file(path, config())
    assert len(digest) == 64 and len(data) == 6


# ------------------------------------------------------------------ never another exception

PARSERS = [
    parse_mt940,
    parse_camt053,
    parse_csv,
    lambda b: parse_bytes(b, config(account="1")),
]


@pytest.mark.parametrize("parser", PARSERS, ids=["mt940", "camt053", "csv", "any"])
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_give_lines_or_statement_error(parser: object, data: bytes) -> None:
    assert callable(parser)
    try:
        result = parser(data)
    except StatementError:
        return
    assert isinstance(result, list)


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.integers(1, 8))
def test_mangled_fixtures_give_transactions_or_statement_error(
    name: str, seed: int, cuts: int
) -> None:
    rng = random.Random(seed)
    data = bytearray(read(name))
    for _ in range(cuts):
        if not data:
            break
        at = rng.randrange(len(data))
        choice = rng.random()
        if choice < 0.4:
            del data[at : at + rng.randint(1, 40)]
        elif choice < 0.7:
            data[at:at] = bytes(
                rng.choice(b":/-,<>&\n0123456789CDRX ") for _ in range(rng.randint(1, 6))
            )
        else:
            data = data[:at]  # truncated download
    try:
        transactions = parse_bytes(bytes(data), config(account=None))
    except StatementError:
        return
    for t in transactions:
        validate_data("bank.transaction.posted", t)
