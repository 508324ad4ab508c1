"""Razorpay REST poller against the sandbox over loopback (the official SDK makes the calls).

Also: the sandbox itself, the backfill hooks, and the Smart Collect / QR credit
webhooks. The VA and QR payloads in ``payloads/`` are constructed from the
documented fields (reference/razorpay.md §4, §6), not recorded: their exact
shape is UNCONFIRMED.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from connectors.razorpay import (
    RazorpayConfig,
    RazorpayPayments,
    RazorpayWebhook,
    connector,
    polling,
    sandbox,
)
from connectors.razorpay.polling import FROM_MIN, POLL_TYPES
from connectors.razorpay.sandbox import Fault, SandboxState, create_sandbox_app, serve
from connectors.razorpay.sources import bank_credit_key, sign
from hub.connector import Page, PollContext, WebhookRequest
from hub.errors import (
    AuthError,
    ConfigError,
    ParseError,
    PermanentError,
    RateLimitError,
    TransientError,
)
from hub.events import Event
from hub.http import HttpClient
from hub.schemas import validate_data, validate_event
from hub.store import IngestItem
from tests import services

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "whsec_test_9f2b7c"
KEY_ID = "rzp_test_sandbox"
KEY_SECRET = "sandbox_key_secret"
NOW = 1_731_700_000  # 2024-11-15T19:46:40Z
OVERLAP = int(RazorpayPayments.overlap.total_seconds())


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture
def state() -> SandboxState:
    return SandboxState(key_id=KEY_ID, key_secret=KEY_SECRET, clock=lambda: float(NOW))


@pytest.fixture
async def url(state: SandboxState) -> AsyncIterator[str]:
    async with serve(create_sandbox_app(state)) as base:
        yield base


def poller(url: str, **config: Any) -> RazorpayPayments:
    settings = {
        "webhook_secret": SECRET,
        "key_id": KEY_ID,
        "key_secret": KEY_SECRET,
        "api_base_url": url,
        **config,
    }
    return RazorpayPayments(RazorpayConfig.model_validate(settings), connection="rzp-main")


def ctx(now: int = NOW) -> PollContext:
    return PollContext(
        connection="rzp-main", http=HttpClient(), now=datetime.fromtimestamp(now, UTC)
    )


async def drain(
    src: RazorpayPayments, cursor: Any, now: int = NOW, limit: int = 100
) -> tuple[list[Event], Any, list[Page[Any]]]:
    """Poll until ``more`` is false, as the hub's poller would (a page at a time)."""
    events: list[Event] = []
    pages: list[Page[Any]] = []
    for _ in range(limit):
        page = await src.poll(cursor, ctx(now))
        pages.append(page)
        events.extend(page.events)
        cursor = page.cursor
        if not page.more:
            return events, cursor, pages
    raise AssertionError(f"still more after {limit} pages")


def seed(state: SandboxState, n: int, first: int, step: int = 10) -> list[dict[str, Any]]:
    return state.seed(n, start=first, step=step)


def webhook(doc: dict[str, Any]) -> Event:
    body = json.dumps(doc).encode()
    src = RazorpayWebhook(RazorpayConfig(webhook_secret=SECRET), connection="rzp-main")
    req = WebhookRequest(
        method="POST",
        path="/hooks/rzp-main",
        headers=CIMultiDict({"X-Razorpay-Signature": sign(SECRET, body)}),
        query={},
        body=body,
    )
    src.verify(req)
    events = src.parse(req)
    assert len(events) == 1
    return events[0]


def webhook_for(payment: dict[str, Any]) -> Event:
    """What ``payment.<status>`` for this payment would give through the webhook."""
    hub_type = POLL_TYPES[payment["status"]]
    doc = {
        "entity": "event",
        "account_id": "acc_Hq7Lx2Wm9KpQrS",
        "event": hub_type if payment["status"] != "refunded" else "payment.captured",
        "contains": ["payment"],
        "payload": {"payment": {"entity": payment}},
        "created_at": payment["created_at"] + 5,
    }
    return webhook(doc)


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_bytes())
    return doc


# ------------------------------------------------------------------ registration


def test_connector_registers_poller_and_sandbox() -> None:
    assert connector.pollers == (RazorpayPayments,)
    assert connector.sandbox is create_sandbox_app
    assert RazorpayPayments.name == "razorpay.payments"
    assert set(RazorpayPayments.emits) == set(POLL_TYPES.values())
    assert set(RazorpayPayments.emits) <= set(connector.emits)
    assert "bank.transaction.posted" in connector.emits
    assert RazorpayConfig.model_json_schema()["properties"]["api_base_url"]["description"]


def test_poller_and_sandbox_agree_on_the_documented_from_range() -> None:
    assert (polling.FROM_MIN, polling.FROM_MAX) == (sandbox.FROM_MIN, sandbox.FROM_MAX)
    assert (polling.FROM_MIN, polling.FROM_MAX) == (946684800, 4765046400)


def test_api_base_url_is_validated_and_normalised() -> None:
    config = RazorpayConfig(webhook_secret=SECRET, api_base_url="http://127.0.0.1:9/razorpay/")
    assert config.api_base_url == "http://127.0.0.1:9/razorpay"
    assert RazorpayConfig(webhook_secret=SECRET).api_base_url == "https://api.razorpay.com"
    with pytest.raises(ValueError, match="http"):
        RazorpayConfig(webhook_secret=SECRET, api_base_url="api.razorpay.com")


# ------------------------------------------------------------------ paging and cursor


async def test_pages_through_more_than_250_payments_in_one_window(
    state: SandboxState, url: str
) -> None:
    # 270 payments in the last hour, several sharing a second (ties must not be lost).
    seeded = [
        state.add({"status": "captured", "created_at": NOW - 3000 + i // 3}) for i in range(270)
    ]
    src = poller(url)
    events, cursor, pages = await drain(src, None)
    assert [len(p.events) for p in pages] == [100, 100, 70]
    assert [p.more for p in pages] == [True, True, False]
    assert pages[0].cursor == {"from": NOW - 3600, "skip": 100, "window_end": NOW}
    assert pages[1].cursor == {"from": NOW - 3600, "skip": 200, "window_end": NOW}
    assert cursor == {"from": NOW - OVERLAP, "skip": 0, "window_end": None}
    assert sorted(e.subject for e in events) == sorted(p["id"] for p in seeded)
    assert len({e.idempotency_key for e in events}) == 270
    assert [r["skip"] for r in state.requests] == ["0", "100", "200"]
    assert {r["count"] for r in state.requests} == {"100"}
    assert {(r["from"], r["to"]) for r in state.requests} == {(str(NOW - 3600), str(NOW))}


async def test_resumes_from_its_cursor(state: SandboxState, url: str) -> None:
    seed(state, 150, NOW - 2000)
    first = await poller(url).poll(None, ctx())
    assert first.more and first.cursor is not None
    # A new instance (as after a restart) continues from the saved cursor.
    second = await poller(url).poll(json.loads(json.dumps(first.cursor)), ctx(NOW + 30))
    assert len(first.events) == 100 and len(second.events) == 50
    assert not {e.subject for e in first.events} & {e.subject for e in second.events}
    assert state.requests[-1] == {
        "from": str(NOW - 3600),
        "to": str(NOW),
        "count": "100",
        "skip": "100",
    }
    assert second.cursor == {"from": NOW - OVERLAP, "skip": 0, "window_end": None}
    assert not second.more


async def test_keeps_its_cursor_on_an_empty_page(state: SandboxState, url: str) -> None:
    cursor = {"from": NOW - 900, "skip": 0, "window_end": None}
    page = await poller(url).poll(cursor, ctx())
    assert page.events == [] and page.cursor == cursor and not page.more
    # Later, the same cursor's window simply ends later and finds the new payment.
    new = state.add({"status": "captured", "created_at": NOW + 100})
    page = await poller(url).poll(cursor, ctx(NOW + 300))
    assert [e.subject for e in page.events] == [new["id"]]
    assert page.cursor == {"from": NOW, "skip": 0, "window_end": None}


async def test_first_poll_with_nothing_pins_a_start(state: SandboxState, url: str) -> None:
    page = await poller(url).poll(None, ctx())
    assert page.events == [] and not page.more
    assert page.cursor == {"from": NOW - OVERLAP, "skip": 0, "window_end": None}


async def test_a_full_last_page_ends_the_window_on_the_next_empty_one(
    state: SandboxState, url: str
) -> None:
    seed(state, 100, NOW - 1000)
    _, cursor, pages = await drain(poller(url), None)
    assert [len(p.events) for p in pages] == [100, 0]
    assert cursor == {"from": NOW - OVERLAP, "skip": 0, "window_end": None}


async def test_empty_past_windows_are_crossed_while_catching_up(
    state: SandboxState, url: str
) -> None:
    late = state.add({"status": "failed", "created_at": NOW - 100})
    cursor = {"from": NOW - 3 * 86400 - 50, "skip": 0, "window_end": None}
    events, cursor, pages = await drain(poller(url), cursor)
    assert [p.more for p in pages] == [True, True, True, False]
    assert [e.subject for e in events] == [late["id"]]
    assert events[0].type == "payment.failed"


async def test_restart_emits_nothing_new_beyond_the_overlap(state: SandboxState, url: str) -> None:
    seeded = seed(state, 200, NOW - 3500, step=17)
    first, saved, _ = await drain(poller(url), None)
    assert len(first) == 200
    saved = json.loads(json.dumps(saved))  # through the store's JSON
    later = [state.add({"status": "captured", "created_at": NOW + 60 + i}) for i in range(3)]

    again, _, _ = await drain(poller(url), saved, now=NOW + 600)
    by_key = {e.idempotency_key: e for e in first}
    repeated = [e for e in again if e.idempotency_key in by_key]
    fresh = [e for e in again if e.idempotency_key not in by_key]
    assert sorted(e.subject for e in fresh) == sorted(p["id"] for p in later)
    overlap_ids = {p["id"] for p in seeded if p["created_at"] >= NOW - OVERLAP}
    assert overlap_ids and {e.subject for e in repeated} == overlap_ids
    for event in repeated:  # a duplicate is the same event, dropped by the store's key check
        assert event.data == by_key[event.idempotency_key].data
        assert event.type == by_key[event.idempotency_key].type


async def test_status_maps_to_hub_types(state: SandboxState, url: str) -> None:
    ids = {
        status: state.add({"status": status, "created_at": NOW - 60})["id"]
        for status in ("created", "authorized", "captured", "refunded", "failed")
    }
    page = await poller(url).poll(None, ctx())
    got = {e.subject: (e.type, e.data["status"]) for e in page.events}
    assert got == {
        ids["authorized"]: ("payment.authorized", "authorized"),
        ids["captured"]: ("payment.captured", "captured"),
        ids["refunded"]: ("payment.captured", "captured"),
        ids["failed"]: ("payment.failed", "failed"),
    }
    for event in page.events:
        validate_data(event.type, event.data)
        validate_event(event.bind("rzp-main", "razorpay").to_dict())
        assert event.time == datetime.fromtimestamp(NOW - 60, UTC)


async def test_a_malformed_payment_is_skipped_not_fatal(state: SandboxState, url: str) -> None:
    good = state.add({"status": "captured", "created_at": NOW - 60})
    state.add({"status": "captured", "created_at": NOW - 50, "amount": "12.00"})
    page = await poller(url).poll(None, ctx())
    assert [e.subject for e in page.events] == [good["id"]]


async def test_webhook_and_poll_of_one_payment_are_the_same_event(
    state: SandboxState, url: str
) -> None:
    doc = load("payment_captured_upi")
    entity = doc["payload"]["payment"]["entity"]
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/__sandbox__/payments", json=entity) as resp,
    ):
        assert resp.status == 201
        assert (await resp.json())["added"] == [entity["id"]]
    pushed = webhook(doc)
    cursor = RazorpayPayments.cursor_since(datetime.fromtimestamp(entity["created_at"] - 60, UTC))
    polled, _, _ = await drain(poller(url), cursor, now=entity["created_at"] + 600)
    assert len(polled) == 1
    assert polled[0].idempotency_key == pushed.idempotency_key == f"payment.captured:{entity['id']}"
    assert polled[0].data == pushed.data
    assert polled[0].type == pushed.type and polled[0].subject == pushed.subject


# ------------------------------------------------------------------ errors by consequence


async def test_wrong_key_is_an_auth_error(state: SandboxState, url: str) -> None:
    with pytest.raises(AuthError, match="check key_id and key_secret") as info:
        await poller(url, key_secret="wrong").poll(None, ctx())
    assert info.value.status == 401
    assert "The api key provided is invalid" in str(info.value)
    assert "wrong" not in str(info.value)


async def test_rate_limit_is_a_rate_limit_error_with_retry_after(
    state: SandboxState, url: str
) -> None:
    state.rate_limit = 1
    src = poller(url)
    await src.poll(None, ctx())
    with pytest.raises(RateLimitError) as info:
        await src.poll(None, ctx())
    assert info.value.status == 429 and info.value.retry_after == 60.0


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_transient(state: SandboxState, url: str, status: int) -> None:
    state.faults.append(Fault("/v1/payments", status=status, headers={"Retry-After": "7"}))
    with pytest.raises(TransientError) as info:
        await poller(url).poll(None, ctx())
    assert not isinstance(info.value, RateLimitError)
    assert info.value.status == status and info.value.retry_after == 7.0


async def test_fault_route_scripts_a_400_which_is_permanent(url: str) -> None:
    fault = {"path": "/v1/payments", "status": 400, "description": "The id provided does not exist"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/__sandbox__/faults", json=fault) as resp,
    ):
        assert (await resp.json()) == {"faults_pending": ["/v1/payments"]}
    with pytest.raises(PermanentError, match="does not exist") as info:
        await poller(url).poll(None, ctx())
    assert not isinstance(info.value, AuthError) and info.value.status == 400


async def test_unreachable_api_is_transient() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientError, match="ConnectionError") as info:
        await poller(f"http://127.0.0.1:{port}").poll(None, ctx())
    assert info.value.status is None


async def test_missing_key_and_foreign_cursor_are_config_errors(url: str) -> None:
    src = RazorpayPayments(RazorpayConfig(webhook_secret=SECRET, api_base_url=url))
    with pytest.raises(ConfigError, match="needs key_id and key_secret"):
        await src.poll(None, ctx())
    for bad in ({"from": "yesterday"}, {"from": NOW, "skip": -1}, {"skip": 0}):
        with pytest.raises(ConfigError, match="reset the connection's cursor"):
            await poller(url).poll(bad, ctx())


# ------------------------------------------------------------------ backfill hooks


def test_cursor_since_and_progress() -> None:
    since = datetime(2024, 11, 1, tzinfo=UTC)
    now = since + timedelta(days=4)
    cursor = RazorpayPayments.cursor_since(since, now=now)
    start = int(since.timestamp())
    assert cursor == {
        "from": start,
        "skip": 0,
        "window_end": None,
        "since": start,
        "until": start + 4 * 86400,
    }
    src = RazorpayPayments(RazorpayConfig(webhook_secret=SECRET))
    assert src.progress(cursor) == (0.0, 4 * 86400.0)
    assert src.progress({**cursor, "from": start + 86400}) == (86400.0, 4 * 86400.0)
    assert src.progress({**cursor, "from": start + 4 * 86400 - OVERLAP}) == (4 * 86400.0,) * 2
    assert src.progress(None) is None
    assert src.progress({"from": start, "skip": 0, "window_end": None}) is None
    # Naive means UTC; before the API's floor (2000-01-01) is clamped to it.
    assert RazorpayPayments.cursor_since(datetime(2024, 11, 1), now=now)["from"] == start
    assert RazorpayPayments.cursor_since(datetime(1990, 1, 1, tzinfo=UTC))["from"] == FROM_MIN


async def test_backfill_walks_day_windows_with_rising_progress(
    state: SandboxState, url: str
) -> None:
    since = NOW - 3 * 86400 - 3600
    old = [
        state.add({"status": "captured", "created_at": since + i * 997}) for i in range(300)
    ]  # ~3.5 days, about 87 a day
    state.add({"status": "captured", "created_at": since - 10})  # before --since: not wanted
    src = poller(url)
    cursor = RazorpayPayments.cursor_since(datetime.fromtimestamp(since, UTC), now=ctx().now)
    events, final, pages = await drain(src, cursor)
    assert {e.subject for e in events} == {p["id"] for p in old if p["created_at"] <= NOW}
    done = [src.progress(p.cursor) for p in pages]
    assert all(d is not None for d in done)
    fractions = [d[0] / d[1] for d in done if d is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert final["since"] == since and not pages[-1].more
    # Every request asked for at most one day and at most 100 payments.
    for req in state.requests:
        assert int(req["to"]) - int(req["from"]) <= 86400 and req["count"] == "100"


# ------------------------------------------------------------------ the sandbox itself


def basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def sandbox_get(url: str, auth: tuple[str, str] = (KEY_ID, KEY_SECRET), **query: Any) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{url}/v1/payments",
            params={k: str(v) for k, v in query.items()},
            headers={"Authorization": basic(*auth)},
        ) as resp,
    ):
        return resp.status, await resp.json()


async def test_sandbox_speaks_razorpay_shapes(state: SandboxState, url: str) -> None:
    seed(state, 12, NOW - 500)
    status, body = await sandbox_get(url)
    assert status == 200 and body["entity"] == "collection" and body["count"] == 10
    assert [p["created_at"] for p in body["items"]] == sorted(
        (p["created_at"] for p in body["items"]), reverse=True
    )
    status, body = await sandbox_get(url, auth=(KEY_ID, "nope"))
    assert status == 401
    assert body["error"]["code"] == "BAD_REQUEST_ERROR"
    assert body["error"]["description"] == "The api key provided is invalid"
    for query in ({"count": 101}, {"from": 946684799}, {"from": 4765046401}, {"skip": "x"}):
        status, body = await sandbox_get(url, **query)
        assert status == 400 and body["error"]["code"] == "BAD_REQUEST_ERROR", query
    async with aiohttp.ClientSession() as http, http.get(f"{url}/__sandbox__/state") as resp:
        snap = await resp.json()
    assert snap["payments"] == 12 and snap["requests"]["by_status"] == {
        "200": 1,
        "401": 1,
        "400": 4,
    }


async def test_default_sandbox_is_seeded_and_mounts_under_a_prefix() -> None:
    from aiohttp import web

    root = web.Application()
    root.add_subapp("/razorpay", create_sandbox_app())
    async with serve(root) as base:
        src = RazorpayPayments(
            RazorpayConfig(
                webhook_secret=SECRET,
                key_id=KEY_ID,
                key_secret=KEY_SECRET,
                api_base_url=f"{base}/razorpay",
            )
        )
        page = await src.poll(None, PollContext("rzp", HttpClient(), datetime.now(UTC)))
    assert len(page.events) == 3


# ------------------------------------------------------------------ VA and QR credits


def test_virtual_account_neft_credit_is_a_bank_transaction() -> None:
    event = webhook(load("virtual_account_credited_neft"))
    assert event.type == "bank.transaction.posted"
    assert event.subject == "pay_P6bVt2KmW9xQaR"
    assert event.idempotency_key == bank_credit_key("pay_P6bVt2KmW9xQaR")
    assert event.idempotency_key == "bank.transaction.posted:razorpay:pay_P6bVt2KmW9xQaR"
    validate_data(event.type, event.data)
    validate_event(event.bind("rzp-main", "razorpay").to_dict())
    assert event.data == {
        "account": "va_P6aQm3RtY7uWxZ",
        "transaction_id": "bt_P6bVt3LnX0yRbS",
        "booked_on": "2024-11-16",  # 07:00 UTC is 12:30 IST the same day
        "value_date": None,
        "direction": "credit",
        "amount": "25000.00",
        "currency": "INR",
        "balance_after": None,
        "narration": (
            "NEFT credit to Razorpay virtual account va_P6aQm3RtY7uWxZ "
            "ref HDFCN52024111612345678 from Meera Textiles LLP"
        ),
        "mode": "neft",
        "reference": {
            "utr": "HDFCN52024111612345678",
            "rrn": None,
            "cheque": None,
            "bank_reference": None,
        },
        "counterparty": {
            "name": "Meera Textiles LLP",
            "vpa": None,
            "account": "50100987654321",
            "ifsc": "HDFC0001234",
        },
        "source_format": "webhook",
    }


def test_qr_code_upi_credit_is_a_bank_transaction() -> None:
    event = webhook(load("qr_code_credited_upi"))
    validate_data(event.type, event.data)
    assert event.idempotency_key == "bank.transaction.posted:razorpay:pay_P6cWu5NpZ2aTdU"
    data = event.data
    assert data["account"] == "qr_P6aRn5TvA9wYzB"
    assert data["transaction_id"] == "pay_P6cWu5NpZ2aTdU"
    assert (data["mode"], data["amount"], data["direction"]) == ("upi", "350.00", "credit")
    assert data["reference"] == {
        "utr": None,
        "rrn": "432112345678",
        "cheque": None,
        "bank_reference": None,
    }
    assert data["counterparty"] == {
        "name": None,
        "vpa": "rohan.k@okicici",
        "account": None,
        "ifsc": None,
    }
    assert data["booked_on"] == "2024-11-16"
    assert "ref 432112345678 from rohan.k@okicici" in data["narration"]


@pytest.mark.parametrize(
    ("mode", "expected", "rrn"),
    [("RTGS", "rtgs", None), ("IMPS", "imps", "HDFCN52024111612345678"), ("CHEQUE", "other", None)],
)
def test_bank_transfer_modes(mode: str, expected: str, rrn: str | None) -> None:
    doc = load("virtual_account_credited_neft")
    doc["payload"]["bank_transfer"]["entity"]["mode"] = mode
    data = webhook(doc).data
    assert data["mode"] == expected and data["reference"]["rrn"] == rrn
    validate_data("bank.transaction.posted", data)


def test_upi_transfer_to_a_virtual_account() -> None:
    # `upi_transfer` in the payload is UNCONFIRMED; fields as in Razorpay's UPI transfer entity.
    doc = load("virtual_account_credited_neft")
    payload = doc["payload"]
    del payload["bank_transfer"]
    doc["contains"] = ["payment", "virtual_account", "upi_transfer"]
    payload["payment"]["entity"]["method"] = "upi"
    payload["upi_transfer"] = {
        "entity": {
            "id": "ut_P6dXv6OqA3bUeV",
            "entity": "upi_transfer",
            "amount": 2500000,
            "payer_vpa": "meera.textiles@okhdfcbank",
            "payer_account": "50100987654321",
            "payer_bank": "HDFC Bank",
            "payer_ifsc": "hdfc0001234",
            "npci_reference_id": "432198765432",
            "payment_id": "pay_P6bVt2KmW9xQaR",
            "virtual_account_id": "va_P6aQm3RtY7uWxZ",
        }
    }
    data = webhook(doc).data
    validate_data("bank.transaction.posted", data)
    assert data["transaction_id"] == "ut_P6dXv6OqA3bUeV" and data["mode"] == "upi"
    assert data["reference"]["rrn"] == "432198765432"
    assert data["counterparty"] == {
        "name": None,
        "vpa": "meera.textiles@okhdfcbank",
        "account": "50100987654321",
        "ifsc": "HDFC0001234",
    }


def test_credit_without_a_payment_is_a_parse_error() -> None:
    doc = load("qr_code_credited_upi")
    del doc["payload"]["payment"]
    with pytest.raises(ParseError, match=r"qr_code\.credited without payload\.payment\.entity"):
        webhook(doc)


def test_bad_payer_ifsc_is_dropped_not_fatal() -> None:
    doc = load("virtual_account_credited_neft")
    doc["payload"]["bank_transfer"]["entity"]["payer_bank_account"]["ifsc"] = "HDFC1234"
    data = webhook(doc).data
    assert data["counterparty"]["ifsc"] is None
    validate_data("bank.transaction.posted", data)


# ------------------------------------------------------------------ through the hub's backfill


async def test_hub_backfill_dedupes_against_the_webhook(tmp_path: Path) -> None:
    """``hub.backfill`` (the CLI's engine) drives the hooks; a webhook-seen payment is a duplicate."""
    from hub.app import load_hub
    from hub.backfill import backfill
    from hub.config import HubConfig
    from hub.registry import Registry

    now = int(time.time())
    state = SandboxState(key_id=KEY_ID, key_secret=KEY_SECRET)
    payments = state.seed(250, start=now - 2 * 86400, step=600)  # ~1.7 days, 10 minutes apart
    async with serve(create_sandbox_app(state)) as base:
        config = HubConfig.model_validate(
            {
                "store": services.store_url(tmp_path),
                "data_dir": str(tmp_path),
                "recipes": [],
                "connections": {
                    "rzp-main": {
                        "connector": "razorpay",
                        "config": {
                            "webhook_secret": SECRET,
                            "key_id": KEY_ID,
                            "key_secret": KEY_SECRET,
                            "api_base_url": base,
                        },
                    }
                },
            }
        )
        hub = load_hub(config, Registry([connector]))
        await hub.start(run_engine=False, run_pollers=False)
        try:
            pushed = webhook_for(payments[0])
            stored = await hub.store.save_poll(
                "rzp-main",
                "test-webhook",
                [IngestItem(pushed.bind("rzp-main", "razorpay"), [])],
                None,
            )
            assert stored == [True]
            seen: list[tuple[float, float] | None] = []
            report = await backfill(
                hub,
                "rzp-main",
                datetime.fromtimestamp(now - 3 * 86400, UTC),
                on_page=lambda r: seen.append(r.progress),
            )
        finally:
            await hub.stop()
    assert report.source == "razorpay.payments"
    assert report.stored + report.duplicates >= 250
    assert report.stored == 249  # everything but the payment the webhook already brought
    assert seen and seen[-1] is not None and seen[-1][0] == seen[-1][1]
