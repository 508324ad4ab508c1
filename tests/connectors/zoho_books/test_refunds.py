"""``zoho_books.record_refund`` against the Books sandbox: once per key, waits for its payment."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connectors.zoho_books import RefundIn
from hub.errors import PermanentError, TransientError

from .conftest import Kit

TODAY = "2026-11-21"


async def paid(kit: Kit, key: str = "pay-1", amount: str = "1000.00") -> dict[str, Any]:
    contact = await kit.contact(contact_name="Ananya Rao", email="ananya@example.in")
    return await kit.pay(
        key,
        customer_id=contact["contact_id"],
        amount=amount,
        date="2026-11-20",
        description="Razorpay pay_P4tYk8mZq2LwXa (upi)",
    )


async def refunds(kit: Kit) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (await kit.state())["refunds"]
    return rows


async def test_refund_by_payment_id(kit: Kit) -> None:
    payment = await paid(kit)
    out = await kit.refund(
        "rf-1",
        payment_id=payment["payment_id"],
        amount="400.00",
        date=TODAY,
        reference="rfnd_P5a2Gh7JkLm3Nq",
        description="item out of stock",
    )
    assert out["created"] is True and out["amount"] == "400.00"
    assert out["payment_id"] == payment["payment_id"]
    [refund] = await refunds(kit)
    assert refund["payment_refund_id"] == out["refund_id"]
    assert refund["reference_number"] == "rf-1"
    assert "rfnd_P5a2Gh7JkLm3Nq" in refund["description"]
    assert refund["date"] == TODAY and refund["refund_mode"] == "banktransfer"


async def test_refund_by_reference_and_by_search(kit: Kit) -> None:
    await paid(kit)
    by_ref = await kit.refund("rf-1", payment_reference="pay-1", amount="100", date=TODAY)
    by_text = await kit.refund(
        "rf-2", payment_search="pay_P4tYk8mZq2LwXa", amount="100", date=TODAY
    )
    assert by_ref["payment_id"] == by_text["payment_id"]
    assert len(await refunds(kit)) == 2


async def test_same_key_refunds_once(kit: Kit) -> None:
    payment = await paid(kit)
    item = {"payment_id": payment["payment_id"], "amount": "250.00", "date": TODAY}
    first = await kit.refund("rf-1", **item)
    again = await kit.refund("rf-1", **item)
    assert again == {**first, "created": False}
    assert len(await refunds(kit)) == 1


async def test_refund_before_its_payment_waits_then_succeeds(kit: Kit) -> None:
    item = {"payment_search": "pay_P4tYk8mZq2LwXa", "amount": "500.00", "date": TODAY}
    with pytest.raises(TransientError) as info:
        await kit.refund("rf-1", **item)
    assert info.value.retry_after == 60
    assert "no a payment" not in str(info.value) and "pay_P4tYk8mZq2LwXa" in str(info.value)
    assert await refunds(kit) == []
    await paid(kit)
    out = await kit.refund("rf-1", **item)
    assert out["created"] is True


async def test_unknown_payment_id_is_transient(kit: Kit) -> None:
    with pytest.raises(TransientError):
        await kit.refund("rf-1", payment_id="460000000000000999", amount="1", date=TODAY)


async def test_over_refund_is_rejected_with_books_message(kit: Kit) -> None:
    payment = await paid(kit)
    await kit.refund("rf-1", payment_id=payment["payment_id"], amount="800.00", date=TODAY)
    with pytest.raises(PermanentError) as info:
        await kit.refund("rf-2", payment_id=payment["payment_id"], amount="300.00", date=TODAY)
    assert "Zoho Books rejected the refund" in str(info.value)
    assert "more than the balance amount that can be refunded" in str(info.value)
    assert len(await refunds(kit)) == 1


async def test_refund_above_the_payment_is_refused_before_books(kit: Kit) -> None:
    payment = await paid(kit)
    with pytest.raises(PermanentError, match="is only 1000"):
        await kit.refund("rf-1", payment_id=payment["payment_id"], amount="1000.01", date=TODAY)
    assert await refunds(kit) == []


def test_exactly_one_way_to_the_payment() -> None:
    with pytest.raises(ValidationError):
        RefundIn(amount="1", date=TODAY)
    with pytest.raises(ValidationError):
        RefundIn(payment_id="1", payment_reference="k", amount="1", date=TODAY)
