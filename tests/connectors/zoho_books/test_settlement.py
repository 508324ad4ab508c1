"""book_settlement: a gateway settlement becomes one balanced journal, written once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.zoho_books import SettlementIn
from hub.errors import ConfigError, PermanentError

from .conftest import Kit

ACCOUNTS = {
    "clearing_account_id": "4600000000000901",
    "settlement_bank_account_id": "4600000000000902",
    "fee_expense_account_id": "4600000000000903",
    "gst_input_account_id": "4600000000000904",
}
SETTLEMENT: dict[str, Any] = {
    "settlement_id": "setl_P6b3Hi8KlMn4Or",
    "gateway": "razorpay",
    "amount": "97640.00",
    "fees": "2360.00",
    "tax": "360.00",
    "utr": "UTIBR72026112100012345",
    "date": "2026-11-21",
}


def sides(journal: dict[str, Any]) -> dict[str, Decimal]:
    totals = {"debit": Decimal(0), "credit": Decimal(0)}
    for line in journal["line_items"]:
        totals[line["debit_or_credit"]] += Decimal(str(line["amount"]))
    return totals


async def test_settlement_journal_balances_and_is_written_once(kit: Kit) -> None:
    books = Kit(kit.url, kit.http, **ACCOUNTS)
    first = await books.settle("setl-key", **SETTLEMENT)
    again = await books.settle("setl-key", **SETTLEMENT)
    assert first == {
        "journal_id": first["journal_id"],
        "gross": "100000.00",
        "net": "97640.00",
        "fees": "2000.00",
        "tax": "360.00",
        "created": True,
    }
    assert again == {**first, "created": False}
    journals = (await kit.state())["journals"]
    assert len(journals) == 1
    journal = journals[0]
    assert sides(journal) == {"debit": Decimal(100000), "credit": Decimal(100000)}
    lines = {(x["account_id"], x["debit_or_credit"]): x["amount"] for x in journal["line_items"]}
    assert lines == {
        ("4600000000000902", "debit"): 97640.0,
        ("4600000000000903", "debit"): 2000.0,
        ("4600000000000904", "debit"): 360.0,
        ("4600000000000901", "credit"): 100000.0,
    }
    assert (
        journal["reference_number"] == "setl-key" and "UTIBR72026112100012345" in journal["notes"]
    )


async def test_fees_reported_without_tax(kit: Kit) -> None:
    books = Kit(kit.url, kit.http, **ACCOUNTS)
    out = await books.settle("k", **{**SETTLEMENT, "fees": "2000.00", "fees_include_tax": False})
    assert (out["gross"], out["fees"], out["tax"]) == ("100000.00", "2000.00", "360.00")


async def test_accounts_are_required(kit: Kit) -> None:
    with pytest.raises(ConfigError, match="clearing_account_id"):
        await kit.settle("k", **SETTLEMENT)
    with pytest.raises(ValidationError, match="exceeds fees"):
        SettlementIn.model_validate({**SETTLEMENT, "tax": "3000"})


async def test_sandbox_refuses_an_unbalanced_journal(kit: Kit) -> None:
    resp = await kit.session.request(
        "POST",
        "/books/v3/journals",
        json_body={
            "journal_date": "2026-11-21",
            "line_items": [
                {"account_id": "1", "debit_or_credit": "debit", "amount": 10},
                {"account_id": "2", "debit_or_credit": "credit", "amount": 9},
            ],
        },
    )
    assert resp.status == 400
    with pytest.raises(PermanentError, match="not balanced"):
        from connectors.zoho_books.actions import books_result

        books_result(resp, "the journal")
