"""Every recipe in recipes/ validates and runs end to end against the sandboxes.

Each source's real parser produces the event (signed webhooks through
``/hooks`` where the source is a webhook; the IMAP connector's own MIME
parser for mail), and each sink is its vendor sandbox on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from connectors.bank_statement.webhook import sign as bank_sign
from connectors.imap.sources import email_event
from connectors.whatsapp.sandbox import SandboxState, create_sandbox_app, serve
from hub.events import utcnow
from hub.recipes import validate_files
from hub.registry import Registry
from hub.router import route
from hub.store import IngestItem
from tests.connectors.payu.test_payu import KEY, SALT, as_form, fields_of
from tests.helpers import (
    ROOT,
    RunningHub,
    Sandbox,
    free_port,
    hub_config,
    payment_body,
    start_hub,
)
from tests.recipes.test_sink_recipes import crm_connection, desk_connection, salesforce_connection

RECIPES = ROOT / "recipes"
# The recipes these tests run; the sink recipes (CRM, Desk, Salesforce) have
# their own hub in test_sink_recipes.py, and would also fire on these events.
EXAMPLES = (
    "razorpay-payment-to-books",
    "payu-payment-to-books",
    "whatsapp-auto-reply",
    "bank-credit-to-books",
    "email-alert-on-whatsapp",
)
BANK_SECRET = "bank-advice-secret-7f3"


@pytest.fixture
async def whatsapp() -> AsyncIterator[tuple[str, SandboxState]]:
    state = SandboxState()
    state.templates.add(("new_email_alert", "en"))
    async with serve(create_sandbox_app(state)) as url:
        yield url, state


@pytest.fixture
async def hub(
    tmp_path: Path,
    http: aiohttp.ClientSession,
    sandbox: Sandbox,
    whatsapp: tuple[str, SandboxState],
) -> AsyncIterator[RunningHub]:
    wa_url, wa = whatsapp
    unused = f"http://127.0.0.1:{free_port()}"
    config = hub_config(tmp_path, sandbox.url, [RECIPES / f"{name}.yaml" for name in EXAMPLES])
    config["connections"].update(
        {
            "payu-main": {"connector": "payu", "config": {"key": KEY, "salt": SALT}},
            "bank": {"connector": "bank_statement", "config": {"webhook_secret": BANK_SECRET}},
            "whatsapp": {
                "connector": "whatsapp",
                "config": {
                    "app_secret": wa.app_secret,
                    "verify_token": wa.verify_token,
                    "access_token": wa.access_token,
                    "phone_number_id": wa.phone_number_id,
                    "graph_url": wa_url,
                },
            },
            # Not called here (their recipes are not loaded): they make every file validate.
            "crm": crm_connection(unused),
            "desk": desk_connection(unused),
            "salesforce": salesforce_connection(unused),
        }
    )
    running = await start_hub(tmp_path, http, config)
    yield running
    await running.stop()


def connection_map(hub: RunningHub) -> dict[str, str]:
    return hub.hub.connections.connector_names()


async def test_every_example_recipe_validates_against_the_real_connectors(hub: RunningHub) -> None:
    files = sorted(RECIPES.glob("*.yaml"))
    assert len(files) >= 5
    problems = validate_files(files, Registry.from_entry_points(), connection_map(hub))
    assert problems == []
    assert {r.name for r in hub.hub.recipes} >= set(EXAMPLES)


async def test_razorpay_payment_runs_only_the_razorpay_recipe(
    hub: RunningHub, sandbox: Sandbox
) -> None:
    assert (await hub.post(payment_body(1))).status == 202
    counts = await hub.settled(1)
    assert counts["runs_succeeded"] == 1 and counts["runs_dead"] == 0
    [payment] = await sandbox.payments()
    assert payment["description"].startswith("Razorpay pay_")


async def test_payu_callback_lands_in_books(hub: RunningHub, sandbox: Sandbox) -> None:
    body = as_form(fields_of("payment_success_upi"))
    async with hub.http.post(
        f"{hub.url}/hooks/payu-main",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ) as resp:
        assert resp.status == 202, await resp.text()
    counts = await hub.settled(1)
    assert counts["runs_succeeded"] == 1
    [payment] = await sandbox.payments()
    assert "PayU" in payment["description"]
    assert str(payment["amount"]).startswith(
        str(fields_of("payment_success_upi")["amount"]).split(".")[0]
    )


async def test_whatsapp_text_gets_one_auto_reply(
    hub: RunningHub, whatsapp: tuple[str, SandboxState]
) -> None:
    wa_url, wa = whatsapp
    async with hub.http.post(
        f"{wa_url}/__sandbox__/inbound",
        json={"from": "919845012345", "text": "Where is my order?", "name": "Ananya"},
    ) as resp:
        inbound = await resp.json()
    body = inbound["body"].encode()
    for _ in range(2):  # Meta redelivers: still one reply
        async with hub.http.post(
            f"{hub.url}/hooks/whatsapp", data=body, headers=inbound["headers"]
        ) as resp:
            assert resp.status == 202, await resp.text()
    await hub.settled(1)
    await asyncio.sleep(0.2)
    [sent] = wa.sent
    assert sent["to"] == "919845012345" and sent["status"] == "sent"
    assert "Ananya" in json.dumps(sent["body"])


async def test_bank_credit_advice_is_booked_against_the_payer(
    hub: RunningHub, sandbox: Sandbox
) -> None:
    credit = {
        "account": "50200012345678",
        "direction": "credit",
        "amount": "25000.00",
        "currency": "INR",
        "booked_on": "2026-11-20",
        "utr": "HDFCN52026112012345678",
        "narration": "NEFT CR-HDFC0000123-KAVYA TRADERS-INV 2291",
        "counterparty": {"name": "KAVYA TRADERS", "ifsc": "HDFC0000123"},
    }
    debit = {
        **credit,
        "direction": "debit",
        "utr": "HDFCN52026112087654321",
        "counterparty": {"name": "LANDLORD"},
    }
    for doc in (credit, debit):
        body = json.dumps(doc).encode()
        async with hub.http.post(
            f"{hub.url}/hooks/bank",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature": bank_sign(BANK_SECRET, body),
            },
        ) as resp:
            assert resp.status == 202, await resp.text()
    counts = await hub.settled(1)
    await asyncio.sleep(0.2)
    assert counts["events"] == 2 and (await hub.hub.store.counts())["runs_succeeded"] == 1
    [payment] = await sandbox.payments()
    [contact] = await sandbox.contacts()
    assert contact["contact_name"] == "KAVYA TRADERS"
    assert payment["customer_id"] == contact["contact_id"]
    assert "NEFT credit" in payment["description"]


URGENT = b"""From: Priya Sharma <priya@example.in>
To: support@example.in
Subject: =?UTF-8?B?VVJHRU5UOiBwYXltZW50IGdhdGV3YXkgZG93bg==?=
Message-ID: <incident-4471@example.in>
Date: Fri, 20 Nov 2026 09:15:00 +0530
Content-Type: text/plain; charset=utf-8

Checkout fails for every UPI payment since 09:00.
"""


async def test_urgent_email_pages_the_on_call_phone(
    hub: RunningHub, whatsapp: tuple[str, SandboxState]
) -> None:
    _, wa = whatsapp
    calm = URGENT.replace(
        b"=?UTF-8?B?VVJHRU5UOiBwYXltZW50IGdhdGV3YXkgZG93bg==?=", b"Invoice for October"
    )
    calm = calm.replace(b"incident-4471", b"invoice-10")
    items = []
    for raw in (URGENT, calm):
        event = email_event(raw, mailbox="INBOX", now=utcnow()).bind("mail", "imap")
        items.append(IngestItem(event, route(event, hub.hub.recipes, utcnow())))
    assert [len(i.runs) for i in items] == [1, 0]
    assert await hub.hub.store.ingest(items) == [True, True]
    assert hub.hub.dispatcher is not None
    hub.hub.dispatcher.notify()
    await hub.settled(1)
    [sent] = wa.sent
    assert sent["to"] == "919845000000" and sent["type"] == "template" and sent["status"] == "sent"
    assert "payment gateway down" in json.dumps(sent["body"])
