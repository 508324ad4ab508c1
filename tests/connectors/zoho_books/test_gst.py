"""GST: GSTIN checks, HSN/SAC codes, and invoices that carry the right tax split."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.zoho_books import InvoiceLineIn
from connectors.zoho_books.gst import (
    BASE36,
    STATES,
    GstinError,
    check_gstin,
    check_hsn_sac,
    gstin_check_char,
    state_of_gstin,
    tax_split,
)
from hub.errors import ConfigError, PermanentError

from .conftest import Kit

DOCUMENTED = "27AAPFU0939F1ZV"  # the GSTN example used across public documentation


def with_check(first14: str) -> str:
    return first14 + gstin_check_char(first14)


# --- GSTIN ---------------------------------------------------------------------------------


def test_documented_gstin_checksum_by_hand() -> None:
    # 2,7,A,A,P,F,U,0,9,3,9,F,1,Z -> values x factors 1,2,1,2,...; add quotient + remainder.
    values = [BASE36.index(c) for c in DOCUMENTED[:14]]
    products = [v * (2 if i % 2 else 1) for i, v in enumerate(values)]
    total = sum(p // 36 + p % 36 for p in products)
    assert total == 221 and (36 - total % 36) % 36 == 31 and BASE36[31] == "V"
    assert check_gstin(DOCUMENTED) == DOCUMENTED
    assert check_gstin(" 27aapfu0939f1zv ") == DOCUMENTED


def test_every_other_check_character_is_a_checksum_mismatch() -> None:
    for char in BASE36.replace("V", ""):
        with pytest.raises(GstinError) as info:
            check_gstin(DOCUMENTED[:14] + char)
        assert info.value.kind == "checksum" and "should be 'V'" in str(info.value)


def test_single_character_typos_in_the_body_are_caught() -> None:
    caught = 0
    for i in range(7, 11):  # the PAN's digits: any other digit keeps the format
        for digit in "0123456789":
            if digit == DOCUMENTED[i]:
                continue
            mutated = DOCUMENTED[:i] + digit + DOCUMENTED[i + 1 :]
            with pytest.raises(GstinError) as info:
                check_gstin(mutated)
            assert info.value.kind == "checksum"
            caught += 1
    assert caught == 36


@pytest.mark.parametrize(
    ("gstin", "kind", "words"),
    [
        ("27AAPFU0939F1Z", "length", "14 characters, not 15"),
        ("27AAPFU0939F1ZV1", "length", "16 characters"),
        ("27AAPFU0939F1Z-", "characters", "only digits and letters"),
        (with_check("00AAPFU0939F1Z"), "state", "'00' is not a GST state code"),
        (with_check("39AAPFU0939F1Z"), "state", "'39' is not a GST state code"),
        (with_check("27AAPF10939F1Z"), "pan", "is not a PAN"),
        (with_check("27AAPFU093AF1Z"), "pan", "is not a PAN"),
        (with_check("27AAPFU0939F0Z"), "entity", "entity number"),
        (with_check("27AAPFU0939F1Y"), "default_z", "must be 'Z'"),
        ("27AAPFU0939F1ZW", "checksum", "checksum mismatch"),
    ],
)
def test_each_gstin_failure_is_named(gstin: str, kind: str, words: str) -> None:
    with pytest.raises(GstinError) as info:
        check_gstin(gstin)
    assert info.value.kind == kind and words in str(info.value)


def test_state_table() -> None:
    assert STATES["29"][0] == "KA" and STATES["27"][0] == "MH" and STATES["01"][0] == "JK"
    assert STATES["37"][0] == "AP" and STATES["38"][0] == "LA"
    assert "97" in STATES and "99" in STATES
    assert all(f"{n:02d}" in STATES for n in range(1, 39))
    assert state_of_gstin(DOCUMENTED) == "MH"


async def test_upsert_refuses_each_bad_gstin_before_calling_books(kit: Kit) -> None:
    bad = {
        "length": "27AAPFU0939F1Z",
        "state": with_check("00AAPFU0939F1Z"),
        "pan": with_check("27AAPF10939F1Z"),
        "checksum": "27AAPFU0939F1ZW",
    }
    for kind, gstin in bad.items():
        with pytest.raises(PermanentError) as info:
            await kit.contact(contact_name="X", gst_treatment="business_gst", gst_no=gstin)
        assert f"invalid GSTIN ({kind})" in str(info.value)
    with pytest.raises(PermanentError, match="business_gst needs gst_no"):
        await kit.contact(contact_name="X", gst_treatment="business_gst")
    assert (await kit.state())["requests"]["total"] == 0


async def test_place_of_contact_defaults_from_the_gstin(kit: Kit) -> None:
    await kit.contact(contact_name="Umbrella", gst_treatment="business_gst", gst_no=DOCUMENTED)
    await kit.contact(
        "k2",
        contact_name="Kept",
        gst_treatment="business_gst",
        gst_no=with_check("29AAGCB7383J1Z"),
        place_of_contact="TN",
    )
    places = {c["contact_name"]: c["place_of_contact"] for c in (await kit.state())["contacts"]}
    assert places == {"Umbrella": "MH", "Kept": "TN"}


async def test_sandbox_rejects_a_bad_checksum_like_books(kit: Kit) -> None:
    resp = await kit.session.request(
        "POST",
        "/books/v3/contacts",
        json_body={"contact_name": "Y", "gst_treatment": "business_gst", "gst_no": DOCUMENTED[:14]},
    )
    assert resp.status == 400 and resp.json()["message"] == "Enter a valid GSTIN."


# --- HSN / SAC -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind", "ok"),
    [
        ("8471", "goods", True),
        ("847130", "goods", True),
        ("84713010", "goods", True),
        ("84713", "goods", False),
        ("8471A0", "goods", False),
        ("998314", "services", True),
        ("997212", "services", True),
        ("123456", "services", False),
        ("99831", "services", False),
        ("9983141", "services", False),
    ],
)
def test_hsn_and_sac_codes(code: str, kind: Any, ok: bool) -> None:
    line = {"name": "x", "rate": "1", "product_type": kind, "hsn_or_sac": code, "tax_rate": "18"}
    if ok:
        assert check_hsn_sac(code, kind) == code
        InvoiceLineIn.model_validate(line)
    else:
        with pytest.raises(ValueError, match="HSN" if kind == "goods" else "SAC"):
            check_hsn_sac(code, kind)
        with pytest.raises(ValidationError):
            InvoiceLineIn.model_validate(line)


def test_tax_rate_must_be_a_gst_slab() -> None:
    line = {"name": "x", "rate": "1", "product_type": "goods", "hsn_or_sac": "8471"}
    for slab in ("0", "0.1", "0.25", "1.5", "3", "5", "12", "18", "28"):
        InvoiceLineIn.model_validate({**line, "tax_rate": slab})
    with pytest.raises(ValidationError, match="not a GST slab"):
        InvoiceLineIn.model_validate({**line, "tax_rate": "15"})


def test_tax_split_is_pure() -> None:
    assert [(t.name, t.rate) for t in tax_split(Decimal(18), "KA", "KA")] == [
        ("CGST9", Decimal(9)),
        ("SGST9", Decimal(9)),
    ]
    assert [t.name for t in tax_split(Decimal(18), "MH", "KA")] == ["IGST18"]
    assert [t.name for t in tax_split(Decimal("0.25"), "KA", "KA")] == ["CGST0.125", "SGST0.125"]


# --- invoices ------------------------------------------------------------------------------


def goods(rate: str, tax: str, qty: str = "1", name: str = "Laptop") -> dict[str, Any]:
    return {
        "name": name,
        "rate": rate,
        "quantity": qty,
        "product_type": "goods",
        "hsn_or_sac": "847130",
        "tax_rate": tax,
    }


def service(rate: str, tax: str) -> dict[str, Any]:
    return {
        "name": "Support",
        "rate": rate,
        "product_type": "services",
        "hsn_or_sac": "998314",
        "tax_rate": tax,
    }


async def customers(kit: Kit) -> tuple[str, str]:
    ka = await kit.contact(
        "ka", contact_name="Bengaluru Buyer", gst_treatment="business_gst",
        gst_no=with_check("29AAGCB7383J1Z"),
    )  # fmt: skip
    mh = await kit.contact(
        "mh", contact_name="Mumbai Buyer", gst_treatment="business_gst", gst_no=DOCUMENTED
    )
    return str(ka["contact_id"]), str(mh["contact_id"])


async def invoice(kit: Kit, key: str, customer: str, place: str, *lines: Any) -> dict[str, Any]:
    return await kit.invoice(
        key, customer_id=customer, place_of_supply=place, date="2026-11-20", line_items=list(lines)
    )


@pytest.mark.parametrize(
    ("rate", "intra", "inter"),
    [
        ("18", [("CGST9", "90.00"), ("SGST9", "90.00")], [("IGST18", "180.00")]),
        ("12", [("CGST6", "60.00"), ("SGST6", "60.00")], [("IGST12", "120.00")]),
        ("5", [("CGST2.5", "25.00"), ("SGST2.5", "25.00")], [("IGST5", "50.00")]),
    ],
)
async def test_intra_and_inter_state_split(
    kit: Kit, rate: str, intra: list[tuple[str, str]], inter: list[tuple[str, str]]
) -> None:
    ka, mh = await customers(kit)
    local = await invoice(kit, "i1", ka, "KA", goods("1000.00", rate))
    other = await invoice(kit, "i2", mh, "MH", goods("1000.00", rate))
    assert [(t["name"], t["amount"]) for t in local["taxes"]] == intra
    assert [(t["name"], t["amount"]) for t in other["taxes"]] == inter
    tax = Decimal(rate) * 10
    assert local["tax_total"] == other["tax_total"] == f"{tax:.2f}"
    assert local["total"] == other["total"] == f"{1000 + tax:.2f}"
    assert local["created"] and local["invoice_number"] == "INV-000001"


async def test_mixed_lines_and_rounding_per_line(kit: Kit) -> None:
    ka, mh = await customers(kit)
    lines = [
        goods("1000.00", "18"),
        goods("250.00", "5", qty="2", name="Bag"),
        service("1500", "12"),
    ]
    local = await invoice(kit, "i1", ka, "29", *lines)  # a GST state code works too
    assert [(t["name"], t["amount"]) for t in local["taxes"]] == [
        ("CGST9", "90.00"),
        ("SGST9", "90.00"),
        ("CGST2.5", "12.50"),
        ("SGST2.5", "12.50"),
        ("CGST6", "90.00"),
        ("SGST6", "90.00"),
    ]
    assert (local["tax_total"], local["total"]) == ("385.00", "3385.00")
    other = await invoice(kit, "i2", mh, "MH", *lines)
    assert [(t["name"], t["amount"]) for t in other["taxes"]] == [
        ("IGST18", "180.00"),
        ("IGST5", "25.00"),
        ("IGST12", "180.00"),
    ]
    odd = await invoice(kit, "i3", ka, "KA", goods("99.99", "5", qty="3"))
    # 299.97 x 2.5% = 7.49925 -> 7.50 per tax, like Books
    assert [t["amount"] for t in odd["taxes"]] == ["7.50", "7.50"] and odd["total"] == "314.97"
    stored = (await kit.state())["invoices"][0]
    assert stored["place_of_supply"] == "KA" and stored["line_items"][0]["hsn_or_sac"] == "847130"


async def test_invoice_written_once_and_taxes_fetched_once(kit: Kit) -> None:
    ka, _ = await customers(kit)
    first = await invoice(kit, "key-1", ka, "KA", goods("1000", "18"))
    again = await invoice(kit, "key-1", ka, "KA", goods("1000", "18"))
    await invoice(kit, "key-2", ka, "KA", goods("1000", "28"))
    assert again == {**first, "created": False}
    state = await kit.state()
    assert len(state["invoices"]) == 2 and state["invoices"][0]["reference_number"] == "key-1"
    assert await kit.calls("GET /books/v3/settings/taxes") == 1


async def test_business_reference_is_the_idempotency_reference(kit: Kit) -> None:
    ka, _ = await customers(kit)
    one = await kit.invoice(
        "k1", customer_id=ka, place_of_supply="KA", date="2026-11-20",
        reference_number="SO-2026-0042", line_items=[goods("10", "18")],
    )  # fmt: skip
    two = await kit.invoice(
        "k2", customer_id=ka, place_of_supply="KA", date="2026-11-20",
        reference_number="SO-2026-0042", line_items=[goods("10", "18")],
    )  # fmt: skip
    assert one["invoice_id"] == two["invoice_id"] and not two["created"]


async def test_config_tax_ids_override_the_lookup(kit: Kit) -> None:
    ka, _ = await customers(kit)
    mapped = Kit(kit.url, kit.http, tax_ids={"GST18": "999"})
    with pytest.raises(PermanentError, match="Invalid value passed for tax_id"):
        await invoice(mapped, "k", ka, "KA", goods("10", "18"))
    assert len((await kit.state())["invoices"]) == 0


async def test_home_state_is_required(kit: Kit) -> None:
    ka, _ = await customers(kit)
    homeless = Kit(kit.url, kit.http, gst_home_state=None)
    with pytest.raises(ConfigError, match="gst_home_state"):
        await invoice(homeless, "k", ka, "KA", goods("10", "18"))
