"""The Books refund and invoicing recipes run end to end against the Books sandbox.

A real hub with only the recipes under test (fast-retry copies; the invoicing
variant, shipped disabled, is enabled in its copy), the Zoho Books sandbox on
127.0.0.1, and signed Razorpay webhooks through ``/hooks``. Assertions read the
sandbox's stored records; redelivered webhooks show that each writes once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import connectors.zoho_books.refunds as refunds_module
from tests.helpers import ROOT, RunningHub, Sandbox, fast_recipe, hub_config, start_hub
from tests.recipes.test_sink_recipes import enabled_copy, quiet

PAYLOADS = ROOT / "tests" / "connectors" / "razorpay" / "payloads"
PAYMENT_ID = "pay_P4tYk8mZq2LwXa"


def payload(name: str, **payment: Any) -> bytes:
    """A Razorpay webhook body from the shipped samples, the payment entity overridden."""
    doc = json.loads((PAYLOADS / name).read_text())
    doc["payload"]["payment"]["entity"].update(payment)
    return json.dumps(doc).encode()


async def records(sandbox: Sandbox, kind: str) -> list[dict[str, Any]]:
    state = await sandbox.state()
    rows = state[kind]
    return list(rows.values() if isinstance(rows, dict) else rows)


async def books_hub(
    tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox, recipes: list[Path]
) -> RunningHub:
    config = hub_config(tmp_path, sandbox.url, recipes, books={"gst_home_state": "KA"})
    return await start_hub(tmp_path, http, config)


@pytest.fixture
async def refund_hub(
    tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox
) -> AsyncIterator[RunningHub]:
    folder = tmp_path / "recipes"
    folder.mkdir()
    recipes = [
        fast_recipe(folder, ROOT / "recipes" / "razorpay-payment-to-books.yaml"),
        fast_recipe(folder, ROOT / "recipes" / "refund-to-books.yaml", max_attempts=40),
    ]
    running = await books_hub(tmp_path, http, sandbox, recipes)
    yield running
    await running.stop()


async def test_refund_after_payment_is_one_books_refund(
    refund_hub: RunningHub, sandbox: Sandbox
) -> None:
    assert (await refund_hub.post(payload("payment_captured_upi.json"))).status == 202
    await quiet(refund_hub, 1)
    [payment] = await sandbox.payments()
    assert PAYMENT_ID in payment["description"]
    refund = (PAYLOADS / "refund_processed.json").read_bytes()
    for _ in range(2):  # Razorpay redelivers
        assert (await refund_hub.post(refund)).status == 202
    await quiet(refund_hub, 2)
    [booked] = await records(sandbox, "refunds")
    assert booked["customerpayment_id"] == payment["payment_id"]
    assert str(booked["amount"]) in ("500.0", "500", "500.00")
    assert "rfnd_P5a2Gh7JkLm3Nq" in booked["description"]


async def test_refund_before_its_payment_waits_for_it(
    refund_hub: RunningHub, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(refunds_module, "WAIT_FOR_PAYMENT", 0.05)  # Books' wait, in milliseconds
    assert (await refund_hub.post((PAYLOADS / "refund_processed.json").read_bytes())).status == 202
    for _ in range(200):  # until the refund step has searched Books twice (and waited)
        routes = (await sandbox.state())["requests"]["by_route"]
        if routes.get("GET /books/v3/customerpayments", 0) >= 2:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"the refund never looked for its payment: {routes}")
    assert await records(sandbox, "refunds") == []
    assert (await refund_hub.hub.store.counts()).get("runs_succeeded", 0) == 0
    assert (await refund_hub.post(payload("payment_captured_upi.json"))).status == 202
    await quiet(refund_hub, 2)
    [payment] = await sandbox.payments()
    [booked] = await records(sandbox, "refunds")
    assert booked["customerpayment_id"] == payment["payment_id"]


@pytest.fixture
async def invoice_hub(
    tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox
) -> AsyncIterator[RunningHub]:
    folder = tmp_path / "recipes"
    folder.mkdir()
    recipes = [
        enabled_copy(folder, "payment-captured-to-books-invoice"),
        fast_recipe(folder, ROOT / "recipes" / "refund-to-books.yaml"),
    ]
    running = await books_hub(tmp_path, http, sandbox, recipes)
    yield running
    await running.stop()


def test_invoice_variant_ships_disabled() -> None:
    text = (ROOT / "recipes" / "payment-captured-to-books-invoice.yaml").read_text()
    assert "\nenabled: false\n" in text


async def test_captured_payment_is_one_paid_invoice(
    invoice_hub: RunningHub, sandbox: Sandbox
) -> None:
    body = payload("payment_captured_upi.json")
    for _ in range(2):  # Razorpay redelivers
        assert (await invoice_hub.post(body)).status == 202
    await quiet(invoice_hub, 1)
    [invoice] = await records(sandbox, "invoices")
    [payment] = await sandbox.payments()
    assert invoice["reference_number"] == "order_P4tXr1bN7cVdEf"
    assert invoice["is_inclusive_tax"] is True
    assert float(invoice["total"]) == 1499.0  # GST inside the amount paid
    assert round(float(invoice["sub_total"]) + float(invoice["tax_total"]), 2) == 1499.0
    assert {t["tax_name"] for t in invoice["taxes"]} == {"CGST9", "SGST9"}
    assert invoice["status"] == "paid" and float(invoice["balance"]) == 0
    assert [i["invoice_id"] for i in payment["invoices"]] == [invoice["invoice_id"]]
    assert PAYMENT_ID in payment["description"]


async def test_second_payment_for_the_order_finds_the_invoice(
    invoice_hub: RunningHub, sandbox: Sandbox
) -> None:
    assert (await invoice_hub.post(payload("payment_captured_upi.json"))).status == 202
    await quiet(invoice_hub, 1)
    second = payload("payment_captured_upi.json", id="pay_P4tZz9nQr3MxYb")
    assert (await invoice_hub.post(second)).status == 202
    await quiet(invoice_hub, 2)
    [invoice] = await records(sandbox, "invoices")
    first, extra = sorted(await sandbox.payments(), key=lambda p: p["payment_number"])
    assert [i["invoice_id"] for i in first["invoices"]] == [invoice["invoice_id"]]
    assert extra["invoices"] == [] and float(extra["unused_amount"]) == 1499.0
    assert invoice["status"] == "paid"


# The sandbox refunds applied money too (payment amount less earlier refunds);
# whether Books does, or wants a credit note refund instead, is UNCONFIRMED.
async def test_refund_of_an_invoiced_payment(invoice_hub: RunningHub, sandbox: Sandbox) -> None:
    assert (await invoice_hub.post(payload("payment_captured_upi.json"))).status == 202
    await quiet(invoice_hub, 1)
    assert (await invoice_hub.post((PAYLOADS / "refund_processed.json").read_bytes())).status == 202
    await quiet(invoice_hub, 2)
    [payment] = await sandbox.payments()
    [booked] = await records(sandbox, "refunds")
    assert booked["customerpayment_id"] == payment["payment_id"]
