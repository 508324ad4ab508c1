"""The Zoho Books connector against its sandbox over real loopback HTTP (no mocks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.zoho_books import (
    ContactIn,
    PaymentIn,
    RecordPayment,
    UpsertContact,
    ZohoBooksConfig,
    ZohoBooksSession,
    connector,
)
from connectors.zoho_books.sandbox import SandboxState, create_sandbox_app, serve
from hub.connector import ActionContext
from hub.errors import AuthError, ConfigError, PermanentError, RateLimitError, TransientError
from hub.http import HttpClient, record_exchanges, stop_recording

KEY = "3f6c1e0b9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
KEY2 = "0123456789abcdef0123456789abcdef01234567"


class FakeClock:
    """Monotonic seconds that only move when told to (shared by client and sandbox)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Books:
    """One connection to the sandbox: config, HTTP client, session, and helpers."""

    def __init__(self, url: str, http: HttpClient, clock: Any = None, **config: Any) -> None:
        self.url = url
        self.http = http
        values: dict[str, Any] = {
            "accounts_url": url,
            "api_domain": url,
            "organization_id": "60012345678",
            "client_id": "1000.SANDBOX",
            "client_secret": "sandbox-secret",
            "refresh_token": "1000.sandbox.refresh",
        }
        values.update(config)
        self.config = ZohoBooksConfig(**values)
        extra = {"clock": clock} if clock is not None else {}
        self.session = ZohoBooksSession(self.config, "books", http, **extra)

    def ctx(self, key: str = KEY) -> ActionContext:
        return ActionContext(
            idempotency_key=key, connection="books", http=self.http, session=self.session
        )

    async def upsert(self, key: str = KEY, **item: Any) -> dict[str, Any]:
        return await UpsertContact(self.config, "books").run(ContactIn(**item), self.ctx(key))

    async def pay(self, key: str = KEY, **item: Any) -> dict[str, Any]:
        return await RecordPayment(self.config, "books").run(PaymentIn(**item), self.ctx(key))

    async def state(self) -> dict[str, Any]:
        resp = await self.http.get(f"{self.url}/__sandbox__/state")
        body: dict[str, Any] = resp.json()
        return body

    async def faults(self, *faults: dict[str, Any]) -> None:
        resp = await self.http.post(f"{self.url}/__sandbox__/faults", json_body=list(faults))
        assert resp.status == 200, resp.text()

    async def customer(self) -> str:
        result = await self.upsert(contact_name="Asha Traders", email="asha@example.in")
        return str(result["contact_id"])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state() -> SandboxState:
    return SandboxState()


@pytest.fixture
async def url(state: SandboxState) -> AsyncIterator[str]:
    async with serve(create_sandbox_app(state)) as base:
        yield base


@pytest.fixture
async def http(url: str) -> AsyncIterator[HttpClient]:
    async with HttpClient(base_url=url, timeout=10) as client:
        yield client


@pytest.fixture
def books(url: str, http: HttpClient) -> Books:
    return Books(url, http)


def payment(customer_id: str, **extra: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "amount": "1499.50", "date": "2026-11-20", **extra}


# --- config and registration ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("dc", "accounts", "api"),
    [
        ("in", "https://accounts.zoho.in", "https://www.zohoapis.in"),
        ("com", "https://accounts.zoho.com", "https://www.zohoapis.com"),
        ("eu", "https://accounts.zoho.eu", "https://www.zohoapis.eu"),
        ("com.au", "https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
        ("jp", "https://accounts.zoho.jp", "https://www.zohoapis.jp"),
        ("ca", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
        ("sa", "https://accounts.zoho.sa", "https://www.zohoapis.sa"),
        ("com.cn", "https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
        ("uk", "https://accounts.zoho.uk", "https://www.zohoapis.uk"),
    ],
)
def test_data_centre_urls(dc: str, accounts: str, api: str) -> None:
    cfg = ZohoBooksConfig(
        data_centre=dc,
        organization_id="1",
        client_id="c",
        client_secret="s",
        refresh_token="r",
    )
    assert cfg.accounts_base() == accounts
    assert cfg.api_base() == api
    assert connector.base_url is not None and connector.base_url(cfg) == api


def test_config_defaults_overrides_and_secrets() -> None:
    cfg = ZohoBooksConfig(
        organization_id="1",
        client_id="c",
        client_secret="top-secret",
        refresh_token="1000.refresh",
        accounts_url="http://127.0.0.1:9/",
        api_domain="http://127.0.0.1:9/",
    )
    assert cfg.data_centre == "in" and cfg.payment_mode == "banktransfer" and cfg.timeout == 30
    assert cfg.accounts_base() == "http://127.0.0.1:9" == cfg.api_base()
    dumped = cfg.model_dump_json()
    assert "top-secret" not in dumped and "1000.refresh" not in dumped
    with pytest.raises(ValidationError):
        ZohoBooksConfig.model_validate(
            {
                "organization_id": "1",
                "client_id": "c",
                "client_secret": "s",
                "refresh_token": "r",
                "x": 1,
            }
        )
    with pytest.raises(ValidationError):
        ZohoBooksConfig(
            data_centre="us",
            organization_id="1",
            client_id="c",
            client_secret="s",
            refresh_token="r",
        )
    for name, field in ZohoBooksConfig.model_fields.items():
        assert field.description, f"{name} is not described"


def test_connector_export() -> None:
    assert connector.name == "zoho_books" and connector.title == "Zoho Books"
    assert [a.name for a in connector.actions] == [
        "zoho_books.upsert_contact",
        "zoho_books.record_payment",
        "zoho_books.create_invoice",
        "zoho_books.reconcile_credit",
        "zoho_books.book_settlement",
        "zoho_books.record_refund",
    ]
    assert connector.session is ZohoBooksSession and connector.config is ZohoBooksConfig
    assert connector.sandbox is create_sandbox_app and "reference_number" in connector.docs


def test_input_models_reject_bad_values() -> None:
    with pytest.raises(ValidationError):
        PaymentIn.model_validate({"customer_id": "1", "amount": "0", "date": "2026-11-20"})
    with pytest.raises(ValidationError):
        PaymentIn.model_validate({"customer_id": "1", "amount": "10"})  # no silent "today"
    with pytest.raises(ValidationError):
        ContactIn(contact_name="A", place_of_contact="Karnataka")
    with pytest.raises(ValidationError):
        ContactIn.model_validate({"contact_name": "A", "surprise": True})
    ok = PaymentIn.model_validate({"customer_id": "1", "amount": "10.10", "date": "2026-11-20"})
    assert ok.amount == Decimal("10.10")


# --- contacts ------------------------------------------------------------------------------


async def test_upsert_contact_creates_then_finds(books: Books) -> None:
    item = {
        "contact_name": "Asha Traders",
        "email": "asha@example.in",
        "phone": "+919800000001",
        "company_name": "Asha Traders LLP",
        "gst_treatment": "business_gst",
        "gst_no": "29ABCDE1234F1ZW",
        "place_of_contact": "KA",
        "customer_sub_type": "business",
    }
    first = await books.upsert(**item)
    second = await books.upsert(**item)
    assert first["created"] is True and second == {
        "contact_id": first["contact_id"],
        "created": False,
    }
    contacts = (await books.state())["contacts"]
    assert len(contacts) == 1
    stored = contacts[0]
    assert stored["contact_type"] == "customer" and stored["gst_no"] == "29ABCDE1234F1ZW"
    assert stored["contact_persons"][0]["email"] == "asha@example.in"
    assert stored["contact_persons"][0]["is_primary_contact"] is True


async def test_upsert_contact_by_phone_then_by_name(books: Books) -> None:
    by_phone = await books.upsert(contact_name="Ravi", phone="+919800000002")
    assert (await books.upsert(contact_name="Ravi K", phone="+919800000002"))["contact_id"] == (
        by_phone["contact_id"]
    )
    by_name = await books.upsert(contact_name="Walk-in Customer")
    again = await books.upsert(contact_name="walk-in customer")
    assert by_name["created"] and not again["created"]
    assert again["contact_id"] == by_name["contact_id"]
    assert len((await books.state())["contacts"]) == 2


async def test_invalid_gstin_is_permanent_before_any_call(books: Books) -> None:
    with pytest.raises(PermanentError) as info:
        await books.upsert(contact_name="X", gst_treatment="business_gst", gst_no="29ABC")
    assert not isinstance(info.value, AuthError)
    assert "invalid GSTIN (length)" in str(info.value)
    assert (await books.state())["requests"]["total"] == 0


async def test_non_zero_code_in_a_200_body_is_permanent(books: Books) -> None:
    await books.faults(
        {
            "path": "/books/v3/contacts",
            "method": "GET",
            "status": 200,
            "body": {"code": 1001, "message": "Something went wrong in Books"},
        }
    )
    with pytest.raises(PermanentError, match=r"Something went wrong in Books \(code 1001\)"):
        await books.upsert(contact_name="Y", email="y@example.in")


# --- payments ------------------------------------------------------------------------------


async def test_record_payment_twice_with_one_key_writes_once(books: Books) -> None:
    customer = await books.customer()
    item = payment(customer, reference="431512345678", description="Order 42")
    first = await books.pay(**item)
    second = await books.pay(**item)
    assert first["created"] is True and second["created"] is False
    assert second["payment_id"] == first["payment_id"]
    assert second["payment_number"] == first["payment_number"] == "1"
    payments = (await books.state())["payments"]
    assert len(payments) == 1
    stored = payments[0]
    assert stored["reference_number"] == KEY
    assert stored["description"] == f"Order 42 | UTR 431512345678 | hub:{KEY}"
    assert stored["amount"] == 1499.5 and stored["payment_mode"] == "banktransfer"
    assert stored["date"] == "2026-11-20"
    other = await books.pay(key=KEY2, **item)  # another step's key is another payment
    assert other["created"] and len((await books.state())["payments"]) == 2


async def test_payment_defaults_and_invoice_application(url: str, http: HttpClient) -> None:
    books = Books(url, http, payment_mode="cash", deposit_account_id="460000000000361")
    customer = await books.customer()
    resp = await books.session.request(
        "POST",
        "/books/v3/invoices",
        json_body={"customer_id": customer, "line_items": [{"name": "Plan", "rate": 1000}]},
    )
    invoice_id = resp.json()["invoice"]["invoice_id"]
    item = payment(
        customer, amount="1000", invoices=[{"invoice_id": invoice_id, "amount_applied": "600"}]
    )
    await books.pay(**item)
    state = await books.state()
    stored = state["payments"][0]
    assert stored["payment_mode"] == "cash" and stored["account_id"] == "460000000000361"
    assert stored["invoices"][0]["amount_applied"] == 600 and stored["unused_amount"] == 400
    assert (
        state["invoices"][0]["balance"] == 400
        and state["invoices"][0]["status"] == "partially_paid"
    )


async def test_server_error_is_transient_and_the_retry_writes_once(books: Books) -> None:
    customer = await books.customer()
    await books.faults({"path": "/books/v3/customerpayments", "method": "POST", "status": 500})
    with pytest.raises(TransientError) as info:
        await books.pay(**payment(customer))
    assert info.value.status == 500 and not isinstance(info.value, RateLimitError)
    assert (await books.state())["payments"] == []
    assert (await books.pay(**payment(customer)))["created"] is True
    assert len((await books.state())["payments"]) == 1


async def test_commit_then_timeout_then_retry_finds_the_payment(url: str, http: HttpClient) -> None:
    books = Books(url, http, timeout=0.3)
    customer = await books.customer()
    await books.faults(
        {
            "path": "/books/v3/customerpayments",
            "method": "POST",
            "kind": "commit_then_timeout",
            "delay": 2,
        }
    )
    with pytest.raises(TransientError, match="timed out"):
        await books.pay(**payment(customer))
    assert len((await books.state())["payments"]) == 1  # Books committed it
    retry = await books.pay(**payment(customer))
    assert retry["created"] is False
    assert len((await books.state())["payments"]) == 1


async def test_connection_reset_is_transient(books: Books) -> None:
    customer = await books.customer()
    await books.faults(
        {"path": "/books/v3/customerpayments", "method": "POST", "kind": "reset", "commit": True}
    )
    with pytest.raises(TransientError):
        await books.pay(**payment(customer))
    assert (await books.pay(**payment(customer)))["created"] is False
    assert len((await books.state())["payments"]) == 1


async def test_unknown_customer_is_permanent_with_vendor_message(books: Books) -> None:
    with pytest.raises(PermanentError) as info:
        await books.pay(**payment("460000000099999"))
    assert not isinstance(info.value, AuthError)
    assert (
        str(info.value) == "Zoho Books rejected the payment: Customer does not exist. (code 1002)"
    )


async def test_zero_amount_rejected_by_books_when_the_model_is_bypassed(books: Books) -> None:
    customer = await books.customer()
    item = PaymentIn.model_construct(
        customer_id=customer,
        amount=Decimal("0"),
        date=PaymentIn(**payment(customer)).date,
        invoices=[],
        payment_mode=None,
        reference=None,
        description=None,
        account_id=None,
        bank_charges=None,
    )
    with pytest.raises(PermanentError, match="Please enter a valid amount"):
        await RecordPayment(books.config, "books").run(item, books.ctx())


async def test_rate_limit_is_rate_limit_error_with_retry_after(
    state: SandboxState, books: Books
) -> None:
    state.requests_per_minute = 2
    await books.upsert(contact_name="A", email="a@example.in")  # GET + POST
    with pytest.raises(RateLimitError) as info:
        await books.upsert(contact_name="B", email="b@example.in")
    assert info.value.retry_after is not None and 1 <= info.value.retry_after <= 60
    assert info.value.status == 429


async def test_missing_session_is_a_config_error(books: Books) -> None:
    ctx = ActionContext(idempotency_key=KEY, connection="books", http=books.http)
    with pytest.raises(ConfigError, match="ZohoBooksSession"):
        await UpsertContact(books.config, "books").run(ContactIn(contact_name="A"), ctx)


# --- OAuth ---------------------------------------------------------------------------------


async def test_expired_token_is_refreshed_transparently(books: Books) -> None:
    await books.customer()
    resp = await books.http.post(f"{books.url}/__sandbox__/expire_tokens")
    assert resp.json() == {"expired": 1}
    assert (await books.upsert(contact_name="Asha Traders", email="asha@example.in"))[
        "created"
    ] is False
    state = await books.state()
    assert state["requests"]["by_status"]["401"] == 1  # seen once, retried after one refresh
    assert state["tokens"]["issued"] == 2 and books.session.oauth.refreshes == 2


async def test_short_lived_tokens_are_refreshed(
    state: SandboxState, url: str, http: HttpClient
) -> None:
    state.token_ttl = 0.2
    books = Books(url, http)
    customer = await books.customer()
    await asyncio.sleep(0.3)
    assert (await books.pay(**payment(customer)))["created"] is True


async def test_token_is_refreshed_ahead_of_expiry(
    url: str, http: HttpClient, state: SandboxState, clock: FakeClock
) -> None:
    state.clock = clock  # the sandbox ages tokens on the same clock as the client
    books = Books(url, http, clock=clock)
    await books.customer()
    clock.now += 3600 - 301  # still outside the 5-minute margin: keep the token
    await books.upsert(contact_name="B", email="b@example.in")
    assert (await books.state())["tokens"]["issued"] == 1
    clock.now += 2  # inside the margin (token still valid for 299 s): refresh first
    await books.upsert(contact_name="C", email="c@example.in")
    clock.now += 299  # the first token has now expired; the second is in use
    await books.upsert(contact_name="D", email="d@example.in")
    snapshot = await books.state()
    assert snapshot["tokens"]["issued"] == 2
    assert snapshot["requests"]["by_status"].get("401", 0) == 0


async def test_fifty_concurrent_actions_share_one_refresh(
    state: SandboxState, books: Books
) -> None:
    state.requests_per_minute = 1000
    results = await asyncio.gather(
        *(
            books.upsert(key=f"{i:040x}", contact_name=f"C{i}", email=f"c{i}@example.in")
            for i in range(50)
        )
    )
    assert all(r["created"] for r in results)
    snapshot = await books.state()
    assert snapshot["tokens"]["issued"] == 1 and books.session.oauth.refreshes == 1
    assert len(snapshot["contacts"]) == 50


async def test_fifty_concurrent_401s_share_one_refresh(state: SandboxState, books: Books) -> None:
    state.requests_per_minute = 1000
    assert books.session.budget is not None
    books.session.budget.per_minute = 1000  # the hub's own limit too: this test is about tokens
    await books.customer()
    await books.http.post(f"{books.url}/__sandbox__/expire_tokens")
    await asyncio.gather(
        *(books.upsert(contact_name=f"C{i}", email=f"c{i}@example.in") for i in range(50))
    )
    assert (await books.state())["tokens"]["issued"] == 2


async def test_waiters_share_a_failed_refresh(state: SandboxState, books: Books) -> None:
    state.requests_per_minute = 1000
    await books.faults({"path": "/oauth/v2/token", "status": 503})
    results = await asyncio.gather(
        *(books.upsert(contact_name=f"C{i}", email=f"c{i}@example.in") for i in range(50)),
        return_exceptions=True,
    )
    assert all(isinstance(r, TransientError) and r.status == 503 for r in results), {
        repr(r) for r in results
    }
    snapshot = await books.state()
    assert snapshot["requests"]["by_route"]["POST /oauth/v2/token"] == 1  # not 50
    assert (await books.customer()) != ""  # the next attempt refreshes afresh


async def test_bad_refresh_token_is_auth_error_without_secrets(url: str, http: HttpClient) -> None:
    books = Books(url, http, refresh_token="1000.revoked.refresh-token-value")
    with pytest.raises(AuthError) as info:
        await books.customer()
    text = f"{info.value} {info.value.detail} {info.value!r}"
    assert "re-authorize the connection" in text and "invalid_code" in text
    assert "revoked.refresh-token-value" not in text and "sandbox-secret" not in text


async def test_bad_client_secret_is_auth_error(url: str, http: HttpClient) -> None:
    books = Books(url, http, client_secret="wrong-secret-value")
    with pytest.raises(AuthError, match="re-authorize") as info:
        await books.customer()
    assert "wrong-secret-value" not in str(info.value)


async def test_token_minting_limit_is_rate_limit_error(state: SandboxState, books: Books) -> None:
    state.token_limit = 1
    await books.customer()
    await books.http.post(f"{books.url}/__sandbox__/expire_tokens")
    with pytest.raises(RateLimitError, match="Access Denied") as info:
        await books.customer()
    assert info.value.retry_after == 60


async def test_token_endpoint_outage_is_transient(books: Books) -> None:
    await books.faults({"path": "/oauth/v2/token", "status": 503})
    with pytest.raises(TransientError) as info:
        await books.customer()
    assert info.value.status == 503
    assert (await books.customer()) != ""  # the next attempt succeeds


async def test_persistent_401_becomes_auth_error_after_one_refresh(books: Books) -> None:
    await books.faults(
        {"path": "/books/v3/contacts", "method": "GET", "status": 401},
        {"path": "/books/v3/contacts", "method": "GET", "status": 401},
    )
    with pytest.raises(AuthError, match="re-authorize"):
        await books.customer()
    assert books.session.oauth.refreshes == 2  # the first token, then exactly one refresh


async def test_tokens_and_secrets_stay_out_of_the_attempt_log(books: Books) -> None:
    sink, token = record_exchanges()
    try:
        await books.customer()
    finally:
        stop_recording(token)
    assert sink and any("/oauth/v2/token" in e.url for e in sink)
    logged = " ".join(f"{e.url} {e.request} {e.response}" for e in sink)
    assert "sandbox-secret" not in logged and "1000.sandbox.refresh" not in logged
    assert books.session.oauth._token is not None and books.session.oauth._token not in logged


async def test_two_runs_for_one_new_customer_at_once_end_with_one_contact(books: Books) -> None:
    """Both search, both create: the loser of the race finds the winner's contact."""
    item = ContactIn(contact_name="Meera Nair", email="meera@example.in")
    action = UpsertContact(books.config, "books")
    results = await asyncio.gather(
        *(action.run(item, books.ctx(f"k{n}")) for n in range(2)), return_exceptions=True
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    ids = {r["contact_id"] for r in results if isinstance(r, dict)}
    assert len(ids) == 1
    state = await books.state()
    assert [c["email"] for c in state["contacts"]] == ["meera@example.in"]


async def test_another_customer_with_the_same_name_gets_a_distinct_contact(books: Books) -> None:
    action = UpsertContact(books.config, "books")
    first = await action.run(
        ContactIn(contact_name="Asha Rao", email="asha1@example.in"), books.ctx("a")
    )
    second = await action.run(
        ContactIn(contact_name="Asha Rao", email="asha2@example.in"), books.ctx("b")
    )
    assert first["contact_id"] != second["contact_id"]
    names = sorted(c["contact_name"] for c in (await books.state())["contacts"])
    assert names == ["Asha Rao", "Asha Rao (asha2@example.in)"]
