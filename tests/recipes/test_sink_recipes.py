"""The sink recipes (CRM, Desk, Salesforce, Books) run end to end against their sandboxes.

Each test starts a real hub with only the recipes under test (copied with
millisecond retries; bank-credit-reconcile, shipped disabled, is enabled in its
copy), the Zoho CRM, Zoho Desk, Salesforce and Zoho Books sandboxes on
127.0.0.1, and delivers the triggering event the way it arrives in production:
signed Razorpay, WhatsApp and bank webhooks through ``/hooks``, mail through the
IMAP connector's parser and ``store.ingest`` + ``route``. Assertions read the
sandboxes' stored records; redelivered events show that each writes once.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from connectors.bank_statement.webhook import sign as bank_sign
from connectors.imap.sources import email_event
from connectors.salesforce.sandbox import SandboxState as SalesforceState
from connectors.salesforce.sandbox import create_sandbox_app as salesforce_app
from connectors.whatsapp.notifications import signed
from connectors.whatsapp.sandbox import SandboxState as WhatsAppState
from connectors.whatsapp.sandbox import create_sandbox_app as whatsapp_app
from connectors.zoho_books.sandbox import serve
from connectors.zoho_crm.sandbox import SandboxState as CrmState
from connectors.zoho_crm.sandbox import create_sandbox_app as crm_app
from connectors.zoho_desk.sandbox import SandboxState as DeskState
from connectors.zoho_desk.sandbox import create_sandbox_app as desk_app
from hub.events import utcnow
from hub.recipes import validate_files
from hub.registry import Registry
from hub.router import route
from hub.store import IngestItem
from tests.helpers import (
    ROOT,
    RunningHub,
    Sandbox,
    fast_recipe,
    hub_config,
    payment_body,
    start_hub,
)

RECIPES = ROOT / "recipes"
RAZORPAY_PAYLOADS = ROOT / "tests" / "connectors" / "razorpay" / "payloads"
WHATSAPP_PAYLOADS = ROOT / "tests" / "connectors" / "whatsapp" / "payloads"
SINK_RECIPES = (
    "payment-captured-to-crm",
    "payment-failed-to-crm-task",
    "whatsapp-to-desk",
    "email-to-desk",
    "email-to-salesforce-case",
    "message-status-failed-to-crm-note",
)


def crm_connection(url: str) -> dict[str, Any]:
    """A zoho_crm connection on the CRM sandbox at ``url`` (its default credentials)."""
    return {
        "connector": "zoho_crm",
        "config": {
            "accounts_url": url,
            "api_domain": url,
            "client_id": "1000.SANDBOX",
            "client_secret": "sandbox-secret",
            "refresh_token": "1000.sandbox.refresh",
            "timeout": 5.0,
        },
    }


def desk_connection(url: str) -> dict[str, Any]:
    """A zoho_desk connection on the Desk sandbox at ``url``."""
    state = DeskState()
    return {
        "connector": "zoho_desk",
        "config": {
            "accounts_url": url,
            "api_url": f"{url}/api/v1",
            "org_id": state.org_id,
            "department_id": state.department_id,
            "client_id": state.client_id,
            "client_secret": state.client_secret,
            "refresh_token": state.refresh_token,
            "timeout": 5.0,
        },
    }


def salesforce_connection(url: str) -> dict[str, Any]:
    """A salesforce connection on the Salesforce sandbox at ``url``."""
    state = SalesforceState()
    return {
        "connector": "salesforce",
        "config": {
            "login_url": url,
            "client_id": state.client_id,
            "client_secret": state.client_secret,
            "refresh_token": state.refresh_token,
            "timeout": 5.0,
        },
    }


def whatsapp_connection(url: str, wa: WhatsAppState) -> dict[str, Any]:
    """A whatsapp connection (webhook source) whose Graph API is the sandbox at ``url``."""
    return {
        "connector": "whatsapp",
        "config": {
            "app_secret": wa.app_secret,
            "verify_token": wa.verify_token,
            "access_token": wa.access_token,
            "phone_number_id": wa.phone_number_id,
            "graph_url": url,
        },
    }


class Sinks:
    """The running sandboxes and their control routes."""

    def __init__(self, http: aiohttp.ClientSession, urls: dict[str, str]) -> None:
        self.http = http
        self.urls = urls
        self.crm_state = CrmState()
        self.wa = WhatsAppState()

    async def state(self, name: str) -> dict[str, Any]:
        async with self.http.get(f"{self.urls[name]}/__sandbox__/state") as resp:
            assert resp.status == 200
            doc: dict[str, Any] = await resp.json()
            return doc

    async def crm(self, module: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = (await self.state("crm"))["records"][module]
        return rows

    def crm_record(self, module: str, **record: Any) -> str:
        """Store a record directly in the CRM sandbox (an existing customer); its id."""
        record_id = self.crm_state.new_id()
        self.crm_state.records[module][record_id] = {"id": record_id, **record}
        return record_id


@pytest.fixture
async def sinks(http: aiohttp.ClientSession) -> AsyncIterator[Sinks]:
    box = Sinks(http, {})
    async with (
        serve(crm_app(box.crm_state)) as crm,
        serve(desk_app(DeskState())) as desk,
        serve(salesforce_app(SalesforceState())) as sf,
        serve(whatsapp_app(box.wa)) as wa,
    ):
        box.urls.update(crm=crm, desk=desk, salesforce=sf, whatsapp=wa)
        yield box


def sink_connections(sinks: Sinks) -> dict[str, Any]:
    return {
        "crm": crm_connection(sinks.urls["crm"]),
        "desk": desk_connection(sinks.urls["desk"]),
        "salesforce": salesforce_connection(sinks.urls["salesforce"]),
        "whatsapp": whatsapp_connection(sinks.urls["whatsapp"], sinks.wa),
    }


@pytest.fixture
async def hub(
    tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox, sinks: Sinks
) -> AsyncIterator[RunningHub]:
    folder = tmp_path / "recipes"
    folder.mkdir()
    recipes = [fast_recipe(folder, RECIPES / f"{name}.yaml") for name in SINK_RECIPES]
    config = hub_config(tmp_path, sandbox.url, recipes)
    config["connections"].update(sink_connections(sinks))
    running = await start_hub(tmp_path, http, config)
    yield running
    await running.stop()


async def quiet(hub: RunningHub, runs: int) -> dict[str, int]:
    """Wait for ``runs`` finished runs, then a moment for any stray extra run to show."""
    counts = await hub.settled(runs)
    await asyncio.sleep(0.3)
    counts = await hub.hub.store.counts()
    assert counts.get("runs_dead", 0) == 0, counts
    return counts


async def dead_letters(hub: RunningHub) -> int:
    return (await hub.hub.store.counts()).get("runs_dead", 0)


# --- validation -----------------------------------------------------------------------------


async def test_every_recipe_validates_with_the_sink_connections(hub: RunningHub) -> None:
    files = sorted(RECIPES.glob("*.yaml"))
    connections = hub.hub.connections.connector_names()
    connections.update({"payu-main": "payu", "bank": "bank_statement"})
    problems = validate_files(files, Registry.from_entry_points(), connections)
    assert problems == []
    assert {r.name for r in hub.hub.recipes} == set(SINK_RECIPES)


# --- payments -------------------------------------------------------------------------------


async def test_captured_payment_upserts_the_contact_and_one_closed_won_deal(
    hub: RunningHub, sinks: Sinks
) -> None:
    body = payment_body(3)
    doc = json.loads(body)["payload"]["payment"]["entity"]
    for _ in range(2):  # Razorpay redelivers: still one contact, one deal
        assert (await hub.post(body)).status == 202
    await quiet(hub, 1)
    [contact] = await sinks.crm("Contacts")
    assert contact["Email"] == doc["email"]
    assert contact["Phone"] == doc["contact"]
    [deal] = await sinks.crm("Deals")
    assert deal["Stage"] == "Closed Won"
    assert deal["Amount"] == doc["amount"] / 100
    assert deal["Contact_Name"]["id"] == contact["id"]
    assert deal["Hub_Key"]  # the step's idempotency key, looked up before any write
    assert doc["id"] in deal["Deal_Name"]


def razorpay_failed(email: str | None = "kavya.iyer@example.in") -> bytes:
    doc = json.loads((RAZORPAY_PAYLOADS / "payment_failed_netbanking.json").read_text())
    doc["payload"]["payment"]["entity"]["email"] = email
    return json.dumps(doc).encode()


def tomorrow_ist() -> str:
    return (dt.datetime.now(ZoneInfo("Asia/Kolkata")).date() + dt.timedelta(days=1)).isoformat()


async def test_failed_payment_opens_one_task_on_the_known_contact(
    hub: RunningHub, sinks: Sinks
) -> None:
    contact_id = sinks.crm_record(
        "Contacts", Last_Name="Iyer", First_Name="Kavya", Email="kavya.iyer@example.in"
    )
    body = razorpay_failed()
    for _ in range(2):
        assert (await hub.post(body)).status == 202
    await quiet(hub, 1)
    [task] = await sinks.crm("Tasks")
    assert task["Subject"] == "Follow up failed payment pay_P4w2De3Fg4Hi5K"
    assert task["Due_Date"] == tomorrow_ist()
    assert task["Who_Id"] == {"id": contact_id}
    assert "Payment was cancelled by the customer." in task["Description"]
    assert "BAD_REQUEST_ERROR" in task["Description"] and "not in CRM" not in task["Description"]


async def test_failed_payment_of_a_stranger_still_gets_a_task(
    hub: RunningHub, sinks: Sinks
) -> None:
    assert (await hub.post(razorpay_failed(email=None))).status == 202  # found by phone: nobody
    await quiet(hub, 1)
    [task] = await sinks.crm("Tasks")
    assert "Who_Id" not in task and "What_Id" not in task
    assert "(not in CRM)" in task["Description"] and "+919845011111" in task["Description"]
    assert await sinks.crm("Contacts") == []  # nobody is created


# --- WhatsApp -------------------------------------------------------------------------------


async def post_whatsapp(hub: RunningHub, sinks: Sinks, doc: dict[str, Any]) -> None:
    body, headers = signed(sinks.wa.app_secret, doc)
    async with hub.http.post(f"{hub.url}/hooks/whatsapp", data=body, headers=headers) as resp:
        assert resp.status == 202, await resp.text()


def whatsapp_payload(name: str, **message: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((WHATSAPP_PAYLOADS / name).read_text())
    value = doc["entry"][0]["changes"][0]["value"]
    for item in value.get("messages", []):
        item.update(message)
        item["timestamp"] = str(int(utcnow().timestamp()))  # inside the chat window
    for item in value.get("statuses", []):
        item["timestamp"] = str(int(utcnow().timestamp()))
    return doc


async def test_whatsapp_messages_thread_into_one_desk_ticket_named_from_crm(
    hub: RunningHub, sinks: Sinks
) -> None:
    sinks.crm_record(
        "Contacts",
        Last_Name="Menon",
        First_Name="Ananya",
        Full_Name="Ananya Menon",
        Email="ananya@acme.example.in",
        Mobile="+91 98450 12345",
    )
    text = whatsapp_payload("text.json", id="wamid.text-1")
    image = whatsapp_payload("image.json", id="wamid.image-1")
    document = whatsapp_payload("document.json", id="wamid.doc-1")
    # One at a time, as a customer types; the image is redelivered (no new run).
    for doc, runs in ((text, 1), (image, 2), (document, 3), (image, 3)):
        await post_whatsapp(hub, sinks, doc)
        await quiet(hub, runs)
    state = await sinks.state("desk")
    [ticket] = state["tickets"]
    assert ticket["cf"]["cf_hub_thread"] == "whatsapp:919845012345"
    assert ticket["channel"] == "Chat"
    [contact] = state["contacts"]
    assert (contact["firstName"], contact["lastName"]) == ("Ananya", "Menon")  # not "Ananya Rao"
    assert contact["email"] == "ananya@acme.example.in"
    comments = state["comments"]
    assert len(comments) == 2
    assert comments[0]["content"].startswith(
        "[image received on WhatsApp; open it there] damaged box"
    )
    assert comments[1]["content"].startswith("[document")


async def test_whatsapp_stranger_is_named_by_profile(hub: RunningHub, sinks: Sinks) -> None:
    await post_whatsapp(hub, sinks, whatsapp_payload("text.json", id="wamid.text-2"))
    await quiet(hub, 1)
    state = await sinks.state("desk")
    [ticket] = state["tickets"]
    [contact] = state["contacts"]
    assert contact["phone"] == "919845012345"
    assert "WhatsApp conversation with" in ticket["subject"]
    assert contact["lastName"] == "Rao" and contact["email"] is None  # the profile name


async def test_reactions_do_not_reach_desk(hub: RunningHub, sinks: Sinks) -> None:
    await post_whatsapp(hub, sinks, whatsapp_payload("reaction.json"))
    await asyncio.sleep(0.5)
    assert (await hub.hub.store.counts()).get("runs_succeeded", 0) == 0
    assert (await sinks.state("desk"))["tickets"] == []


async def test_failed_delivery_notes_the_crm_contact_once(hub: RunningHub, sinks: Sinks) -> None:
    contact_id = sinks.crm_record("Contacts", Last_Name="Rao", Phone="+919845012345")
    failed = whatsapp_payload("status_failed.json")
    for _ in range(2):
        await post_whatsapp(hub, sinks, failed)
    await quiet(hub, 1)
    [note] = await sinks.crm("Notes")
    assert note["Parent_Id"]["id"] == contact_id
    assert note["Note_Title"] == "Whatsapp message not delivered"
    assert "Error 131047: Re-engagement message" in note["Note_Content"]
    # Delivered statuses are not failures; unknown recipients get no note.
    await post_whatsapp(hub, sinks, whatsapp_payload("status_delivered.json"))
    stranger = copy.deepcopy(failed)
    status = stranger["entry"][0]["changes"][0]["value"]["statuses"][0]
    status.update(id="wamid.other", recipient_id="919800000000")
    await post_whatsapp(hub, sinks, stranger)
    await quiet(hub, 2)
    assert len(await sinks.crm("Notes")) == 1


# --- email ----------------------------------------------------------------------------------


def mail(
    message_id: str,
    *,
    to: str = "support@example.in",
    refs: str = "",
    html: bool = False,
    subject: str = "Refund for order A-10432",
) -> bytes:
    headers = [
        "From: Priya Sharma <priya@example.in>",
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: <{message_id}@example.in>",
        "Date: Fri, 20 Nov 2026 09:15:00 +0530",
    ]
    if refs:
        headers += [f"In-Reply-To: <{refs}@example.in>", f"References: <{refs}@example.in>"]
    if html:
        headers.append("Content-Type: text/html; charset=utf-8")
        body = "<p>Still <b>waiting</b>.</p>"
    else:
        headers.append("Content-Type: text/plain; charset=utf-8")
        body = f"Message {message_id}: still waiting for the refund."
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


async def ingest_mail(hub: RunningHub, *raws: bytes) -> list[int]:
    """Parse like the IMAP source and ingest; how many runs each message started."""
    items = []
    for raw in raws:
        event = email_event(raw, mailbox="INBOX", now=utcnow()).bind("mail", "imap")
        items.append(IngestItem(event, route(event, hub.hub.recipes, utcnow())))
    await hub.hub.store.ingest(items)
    assert hub.hub.dispatcher is not None
    hub.hub.dispatcher.notify()
    return [len(i.runs) for i in items]


async def test_email_thread_is_one_desk_ticket_and_one_salesforce_case(
    hub: RunningHub, sinks: Sinks
) -> None:
    first = mail("thread-1")
    assert await ingest_mail(hub, first) == [2]  # Desk and Salesforce
    await quiet(hub, 2)
    reply = mail("thread-2", refs="thread-1", subject="Re: Refund for order A-10432")
    html_reply = mail("thread-3", refs="thread-1", html=True, subject="Re: Refund")
    assert await ingest_mail(hub, reply, html_reply) == [1, 1]  # replies: Desk only
    await quiet(hub, 4)
    assert await ingest_mail(hub, first, reply) == [2, 1]  # fetched again
    await quiet(hub, 4)

    desk = await sinks.state("desk")
    [ticket] = desk["tickets"]
    assert ticket["subject"] == "Refund for order A-10432"
    assert ticket["cf"]["cf_hub_thread"] == "<thread-1@example.in>"
    assert ticket["channel"] == "Email" and ticket["email"] == "priya@example.in"
    assert "Message thread-1" in ticket["description"]
    comments = [c["content"] for c in desk["comments"]]
    assert len(comments) == 2
    assert "Message thread-2" in comments[0]
    assert "only an HTML body" in comments[1] and "<thread-3@example.in>" in comments[1]

    sf = await sinks.state("salesforce")
    [case] = sf["cases"]
    assert case["Origin"] == "Email" and case["Subject"] == "Refund for order A-10432"
    assert case["SuppliedEmail"] == "priya@example.in" and case["SuppliedName"] == "Priya Sharma"
    assert "Message thread-1" in case["Description"]


async def test_mail_to_other_mailboxes_opens_no_case(hub: RunningHub, sinks: Sinks) -> None:
    for to in ("sales@example.in", "customersupport@example.in"):
        assert await ingest_mail(hub, mail(f"sales-{to[:5]}", to=to)) == [1]  # Desk only
    await quiet(hub, 2)
    assert (await sinks.state("salesforce"))["cases"] == []
    assert len((await sinks.state("desk"))["tickets"]) == 2


# --- bank credits and settlements (Zoho Books) ------------------------------------------------

BANK_SECRET = "bank-advice-secret-7f3"
ACCOUNTS = {
    "clearing_account_id": "4600000000101",
    "settlement_bank_account_id": "4600000000102",
    "fee_expense_account_id": "4600000000103",
    "gst_input_account_id": "4600000000104",
}
ORG = "60012345678"


def enabled_copy(folder: Path, name: str) -> Path:
    """A fast-retry copy of recipe ``name`` with ``enabled: true`` (shipped disabled or not)."""
    path = fast_recipe(folder, RECIPES / f"{name}.yaml")
    text = path.read_text().replace("enabled: false", "enabled: true")
    path.write_text(text)
    return path


@pytest.fixture
async def books_hub(
    tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox
) -> AsyncIterator[RunningHub]:
    folder = tmp_path / "recipes"
    folder.mkdir()
    recipes = [
        enabled_copy(folder, "bank-credit-reconcile"),
        enabled_copy(folder, "settlement-to-books"),
    ]
    config = hub_config(tmp_path, sandbox.url, recipes, books=ACCOUNTS)
    config["connections"]["bank"] = {
        "connector": "bank_statement",
        "config": {"webhook_secret": BANK_SECRET},
    }
    running = await start_hub(tmp_path, http, config)
    yield running
    await running.stop()


class Books:
    """Seeds the Books sandbox through its API (as a person would, in Books)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.token = ""

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        http, url = self.sandbox.http, self.sandbox.url
        if not self.token:
            form = {
                "grant_type": "refresh_token",
                "client_id": "1000.SANDBOX",
                "client_secret": "sandbox-secret",
                "refresh_token": "1000.sandbox.refresh",
            }
            async with http.post(f"{url}/oauth/v2/token", data=form) as resp:
                self.token = (await resp.json())["access_token"]
        async with http.post(
            f"{url}/books/v3/{path}",
            params={"organization_id": ORG},
            json=body,
            headers={"Authorization": f"Zoho-oauthtoken {self.token}"},
        ) as resp:
            assert resp.status in (200, 201), await resp.text()
            doc: dict[str, Any] = await resp.json()
            return doc

    async def invoice(self, customer: str, amount: str) -> dict[str, Any]:
        contact = (await self.call("contacts", {"contact_name": customer}))["contact"]
        line = {"name": "Consulting, October", "rate": amount, "quantity": 1}
        body = {"customer_id": contact["contact_id"], "line_items": [line], "date": "2026-11-01"}
        invoice: dict[str, Any] = (await self.call("invoices", body))["invoice"]
        return invoice


async def post_bank(hub: RunningHub, doc: dict[str, Any]) -> None:
    body = json.dumps(doc).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature": bank_sign(BANK_SECRET, body)}
    async with hub.http.post(f"{hub.url}/hooks/bank", data=body, headers=headers) as resp:
        assert resp.status == 202, await resp.text()


def bank_credit(amount: str, narration: str, utr: str) -> dict[str, Any]:
    return {
        "account": "50200012345678",
        "direction": "credit",
        "amount": amount,
        "currency": "INR",
        "booked_on": "2026-11-20",
        "utr": utr,
        "narration": narration,
        "counterparty": {"name": "KAVYA TRADERS", "ifsc": "HDFC0000123"},
    }


async def test_bank_credit_is_applied_to_the_invoice_it_pays_once(
    books_hub: RunningHub, sandbox: Sandbox
) -> None:
    invoice = await Books(sandbox).invoice("KAVYA TRADERS", "25000.00")
    number = invoice["invoice_number"]
    credit = bank_credit(
        "25000.00", f"NEFT CR-HDFC0000123-KAVYA TRADERS-{number}", "HDFCN5202611201"
    )
    for _ in range(2):  # the bank sends the advice twice
        await post_bank(books_hub, credit)
    await quiet(books_hub, 1)
    [payment] = await sandbox.payments()
    assert payment["customer_id"] == invoice["customer_id"]
    assert [i["invoice_id"] for i in payment["invoices"]] == [invoice["invoice_id"]]
    assert "match:" in payment["description"]


async def test_unmatched_bank_credit_writes_nothing(
    books_hub: RunningHub, sandbox: Sandbox
) -> None:
    await Books(sandbox).invoice("KAVYA TRADERS", "25000.00")
    await post_bank(books_hub, bank_credit("777.00", "UPI CR-SOMEONE", "HDFCN5202611202"))
    await quiet(books_hub, 1)
    assert await sandbox.payments() == []  # status "review": for ops, in the delivery log


async def test_settlement_is_one_balanced_journal(books_hub: RunningHub, sandbox: Sandbox) -> None:
    body = (RAZORPAY_PAYLOADS / "settlement_processed.json").read_bytes()
    for _ in range(2):
        assert (await books_hub.post(body)).status == 202
    await quiet(books_hub, 1)
    state = await sandbox.state()
    [journal] = list(
        state["journals"].values() if isinstance(state["journals"], dict) else state["journals"]
    )
    lines = {
        (x["account_id"], x["debit_or_credit"]): str(x["amount"]) for x in journal["line_items"]
    }
    assert lines[(ACCOUNTS["settlement_bank_account_id"], "debit")].startswith("98231.5")
    assert lines[(ACCOUNTS["gst_input_account_id"], "debit")].startswith("316.33")
    assert lines[(ACCOUNTS["fee_expense_account_id"], "debit")].startswith("1757.41")
    # gross = net 98231.50 + fees 2073.74 (GST included)
    assert lines[(ACCOUNTS["clearing_account_id"], "credit")].startswith("100305.24")
    assert "setl_P6b3Hi8KlMn4Or" in journal["notes"]


async def test_shipped_bank_recipes_never_both_book_a_credit(
    tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    files = [RECIPES / "bank-credit-to-books.yaml", RECIPES / "bank-credit-reconcile.yaml"]
    config = hub_config(tmp_path, sandbox.url, files)
    config["connections"]["bank"] = {
        "connector": "bank_statement",
        "config": {"webhook_secret": BANK_SECRET},
    }
    hub = await start_hub(tmp_path, http, config)
    try:
        await post_bank(hub, bank_credit("25000.00", "NEFT CR-KAVYA TRADERS", "HDFCN5202611203"))
        await quiet(hub, 1)
        assert (await hub.hub.store.counts())["runs_succeeded"] == 1
        [payment] = await sandbox.payments()
        assert "NEFT credit" in payment["description"]  # bank-credit-to-books' wording
    finally:
        await hub.stop()
