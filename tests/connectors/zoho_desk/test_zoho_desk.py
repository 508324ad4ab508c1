"""The Zoho Desk connector against its sandbox over real loopback HTTP (no mocks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from connectors.zoho_desk import (
    AddToConversation,
    ContactIn,
    ConversationIn,
    CreateTicket,
    StatusIn,
    TicketIn,
    UpdateTicketStatus,
    ZohoDeskConfig,
    ZohoDeskSession,
    connector,
)
from connectors.zoho_desk.sandbox import SandboxState, create_sandbox_app, serve
from connectors.zoho_desk.wire import thread_value
from hub.connector import ActionContext
from hub.errors import AuthError, ConfigError, PermanentError, RateLimitError, TransientError
from hub.http import HttpClient

KEY = "3f6c1e0b9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
ROOT = "<CAF=root001@mail.example.in>"
PHONE = "919845012345"
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


class FakeClock:
    """Monotonic seconds that only move when told to (shared by client and sandbox)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeWall:
    """A wall clock that only moves when told to (shared by client and sandbox)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class Desk:
    """One connection to the sandbox: config, HTTP client, session, and helpers."""

    def __init__(
        self, url: str, http: HttpClient, wall: FakeWall, clock: Any = None, **config: Any
    ) -> None:
        self.url = url
        self.http = http
        values: dict[str, Any] = {
            "accounts_url": url,
            "api_url": f"{url}/api/v1",
            "org_id": "60001234567",
            "department_id": "7000000000101",
            "client_id": "1000.SANDBOX",
            "client_secret": "sandbox-secret",
            "refresh_token": "1000.sandbox.refresh",
        }
        values.update(config)
        self.config = ZohoDeskConfig(**values)
        extra = {"clock": clock} if clock is not None else {}
        self.session = ZohoDeskSession(self.config, "desk", http, now=wall, **extra)

    def ctx(self, key: str = KEY) -> ActionContext:
        return ActionContext(
            idempotency_key=key, connection="desk", http=self.http, session=self.session
        )

    async def ticket(self, key: str = KEY, **item: Any) -> dict[str, Any]:
        item = {"subject": "Refund", "contact": {"email": "ananya@example.in"}, **item}
        return await CreateTicket(self.config, "desk").run(TicketIn(**item), self.ctx(key))

    async def say(self, key: str, **item: Any) -> dict[str, Any]:
        action = AddToConversation(self.config, "desk")
        return await action.run(ConversationIn(**item), self.ctx(key))

    async def email(self, key: str, thread: str = ROOT, **item: Any) -> dict[str, Any]:
        values = {
            "thread_key": thread,
            "subject": "Order A-10432",
            "content": f"message {key}",
            "contact": {"email": "ananya.rao@example.in", "name": "Ananya Rao"},
            "channel": "email",
            **item,
        }
        return await self.say(key, **values)

    async def whatsapp(self, key: str, **item: Any) -> dict[str, Any]:
        values = {
            "thread_key": f"whatsapp:{PHONE}",
            "content": f"hi {key}",
            "contact": {"name": "Vikram Iyer", "phone": PHONE},
            "channel": "whatsapp",
            **item,
        }
        return await self.say(key, **values)

    async def status(self, ticket_id: str, status: str, key: str = KEY) -> dict[str, Any]:
        action = UpdateTicketStatus(self.config, "desk")
        return await action.run(StatusIn(ticket_id=ticket_id, status=status), self.ctx(key))

    async def state(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self.http.get(f"{self.url}/__sandbox__/state")).json()
        return body

    async def control(self, route: str, body: Any = None) -> None:
        resp = await self.http.post(f"{self.url}/__sandbox__/{route}", json_body=body)
        assert resp.status == 200, resp.text()


@pytest.fixture
def wall() -> FakeWall:
    return FakeWall()


@pytest.fixture
def state(wall: FakeWall) -> SandboxState:
    return SandboxState(now=wall)


@pytest.fixture
async def url(state: SandboxState) -> AsyncIterator[str]:
    async with serve(create_sandbox_app(state)) as base:
        yield base


@pytest.fixture
async def http(url: str) -> AsyncIterator[HttpClient]:
    async with HttpClient(base_url=f"{url}/api/v1", timeout=10) as client:
        yield client


@pytest.fixture
def desk(url: str, http: HttpClient, wall: FakeWall) -> Desk:
    return Desk(url, http, wall)


# --- config and registration ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("dc", "accounts", "api"),
    [
        ("in", "https://accounts.zoho.in", "https://desk.zoho.in/api/v1"),
        ("com", "https://accounts.zoho.com", "https://desk.zoho.com/api/v1"),
        ("eu", "https://accounts.zoho.eu", "https://desk.zoho.eu/api/v1"),
    ],
)
def test_data_centre_picks_accounts_and_desk_hosts(dc: str, accounts: str, api: str) -> None:
    cfg = ZohoDeskConfig(
        data_centre=dc, org_id="1", client_id="c", client_secret="s", refresh_token="r"
    )
    assert (cfg.accounts_base(), cfg.api_base()) == (accounts, api)
    assert connector.base_url is not None and connector.base_url(cfg) == api


def test_config_rejects_unknown_keys_and_masks_secrets() -> None:
    base = {"org_id": "1", "client_id": "c", "client_secret": "s3cr3t", "refresh_token": "r"}
    with pytest.raises(ValidationError):
        ZohoDeskConfig(**{**base, "orgid": "x"})
    assert "s3cr3t" not in repr(ZohoDeskConfig(**base))


def test_connector_lists_the_three_actions() -> None:
    names = [a.name for a in connector.actions]
    assert names == [
        "zoho_desk.create_ticket",
        "zoho_desk.add_to_conversation",
        "zoho_desk.update_ticket_status",
    ]
    assert connector.session is ZohoDeskSession and connector.sandbox is not None


def test_inputs_need_a_contact() -> None:
    with pytest.raises(ValidationError, match="contact or contact_id"):
        TicketIn(subject="x")
    with pytest.raises(ValidationError, match="email, a name or a phone"):
        ContactIn()


def test_thread_values() -> None:
    assert thread_value("whatsapp:+91 98450-12345") == "whatsapp:919845012345"
    assert thread_value(ROOT) == ROOT
    assert thread_value("x" * 300).startswith("sha256:")


def test_contact_names_split() -> None:
    assert ContactIn(name="Ananya Rao").desk() == {"firstName": "Ananya", "lastName": "Rao"}
    assert ContactIn(phone=PHONE).desk() == {"lastName": PHONE, "phone": PHONE}
    assert ContactIn(email="a@b.in").desk() == {"email": "a@b.in"}


# --- create_ticket ---------------------------------------------------------------------------


async def test_create_ticket(desk: Desk) -> None:
    out = await desk.ticket(description="<p>Order</p>", channel="email", priority="High")
    assert out["created"] is True and out["ticket_number"] == "101"
    assert out["web_url"].endswith(out["ticket_id"])
    ticket = (await desk.state())["tickets"][0]
    assert ticket["cf"]["cf_hub_key"] == KEY
    assert (ticket["channel"], ticket["priority"], ticket["status"]) == ("Email", "High", "Open")


async def test_same_key_creates_one_ticket(desk: Desk) -> None:
    first = await desk.ticket()
    second = await desk.ticket()
    assert second == {**first, "created": False}
    assert len((await desk.state())["tickets"]) == 1


async def test_existing_email_reuses_the_contact(desk: Desk) -> None:
    await desk.ticket("k1")
    await desk.ticket("k2")
    state = await desk.state()
    assert len(state["contacts"]) == 1
    assert {t["contactId"] for t in state["tickets"]} == {state["contacts"][0]["id"]}


async def test_timeout_after_commit_retries_without_a_duplicate(desk: Desk) -> None:
    slow = Desk(desk.url, desk.http, FakeWall(), timeout=0.5)
    fault = {"method": "POST", "path": "/api/v1/tickets", "kind": "commit_then_timeout"}
    await desk.control("faults", [{**fault, "delay": 2}])
    with pytest.raises(TransientError):
        await slow.ticket()
    again = await slow.ticket()
    assert again["created"] is False
    assert len((await desk.state())["tickets"]) == 1


async def test_expired_token_is_refreshed_once(desk: Desk) -> None:
    await desk.ticket("k1")
    await desk.control("expire_tokens")
    out = await desk.ticket("k2")
    assert out["created"] is True
    state = await desk.state()
    assert state["tokens"]["issued"] == 2
    assert state["requests"]["by_status"]["401"] == 1


async def test_token_refreshed_ahead_of_the_hour(url: str, http: HttpClient) -> None:
    clock = FakeClock()
    desk = Desk(url, http, FakeWall(), clock=clock)
    await desk.ticket("k1")
    clock.now += 3400  # inside the 5-minute margin: refresh before any call fails
    await desk.ticket("k2")
    assert desk.session.oauth.refreshes == 2
    state = await desk.state()
    assert state["tokens"]["issued"] == 2 and "401" not in state["requests"]["by_status"]


async def test_revoked_credentials_are_an_auth_error(url: str, http: HttpClient) -> None:
    desk = Desk(url, http, FakeWall(), refresh_token="1000.revoked")
    with pytest.raises(AuthError, match="re-authorize"):
        await desk.ticket()


async def test_wrong_org_is_an_auth_error_naming_org_id(url: str, http: HttpClient) -> None:
    desk = Desk(url, http, FakeWall(), org_id="999")
    with pytest.raises(AuthError, match="org_id"):
        await desk.ticket()


async def test_missing_org_header_is_refused(desk: Desk) -> None:
    token = await desk.session.oauth.access_token()
    resp = await desk.http.get(
        "/tickets/search", headers={"Authorization": f"Zoho-oauthtoken {token}"}
    )
    assert resp.status == 400 and resp.json()["errorCode"] == "INVALID_DATA"


async def test_rate_limit_is_a_rate_limit_error(desk: Desk) -> None:
    fault = {"path": "/api/v1/tickets/search", "status": 429, "headers": {"Retry-After": "7"}}
    await desk.control("faults", [fault])
    with pytest.raises(RateLimitError) as info:
        await desk.ticket()
    assert info.value.retry_after == 7


async def test_spent_daily_credits_are_a_rate_limit_error(desk: Desk) -> None:
    await desk.control("settings", {"credits_per_day": 2})
    await desk.ticket("k1")  # search + create: two credits
    with pytest.raises(RateLimitError) as info:
        await desk.ticket("k2")
    assert info.value.retry_after is not None and info.value.retry_after > 0
    assert "TOO_MANY_REQUESTS" in str(info.value)


async def test_the_hubs_credit_budget_waits_before_desk_refuses(
    url: str, http: HttpClient, wall: FakeWall
) -> None:
    desk = Desk(url, http, wall, daily_api_credits=3)
    await desk.ticket("k1")  # search + create
    before = (await desk.state())["requests"]["total"]
    with pytest.raises(RateLimitError, match="budget") as info:
        await desk.ticket("k2")  # search (third credit), then create: over budget
    assert info.value.retry_after is not None and info.value.retry_after > 0
    assert (await desk.state())["requests"]["total"] == before + 1


async def test_unprocessable_names_the_field(desk: Desk) -> None:
    with pytest.raises(PermanentError, match="departmentId is invalid") as info:
        await desk.ticket(department_id="123")
    assert not isinstance(info.value, TransientError)
    assert "UNPROCESSABLE_ENTITY" in str(info.value)


async def test_sandbox_reports_missing_subject_and_department(desk: Desk) -> None:
    token = await desk.session.oauth.access_token()
    headers = {"Authorization": f"Zoho-oauthtoken {token}", "orgId": "60001234567"}
    resp = await desk.http.post("/tickets", json_body={"contactId": "1"}, headers=headers)
    assert resp.status == 422
    errors = {(e["fieldName"], e["errorType"]) for e in resp.json()["errors"]}
    assert {("subject", "missing"), ("departmentId", "missing")} <= errors


async def test_no_department_anywhere_is_a_config_error(url: str, http: HttpClient) -> None:
    desk = Desk(url, http, FakeWall(), department_id=None)
    with pytest.raises(ConfigError, match="department_id"):
        await desk.ticket()


# --- add_to_conversation: email threads ------------------------------------------------------


async def test_three_emails_of_one_thread_make_one_ticket_with_two_comments(desk: Desk) -> None:
    first = await desk.email("m1")
    second = await desk.email("m2")
    third = await desk.email("m3", content_type="html", content="<p>third</p>")
    assert first["created_ticket"] is True and first["comment_id"] is None
    assert second["ticket_id"] == third["ticket_id"] == first["ticket_id"]
    assert second["created_ticket"] is third["created_ticket"] is False
    state = await desk.state()
    assert len(state["tickets"]) == 1
    assert state["tickets"][0]["cf"]["cf_hub_thread"] == ROOT
    assert state["tickets"][0]["description"] == "message m1"
    comments = state["comments"]
    assert [c["id"] for c in comments] == [second["comment_id"], third["comment_id"]]
    assert comments[0]["content"] == "message m2\n\n[hub:m2]"
    assert comments[1]["contentType"] == "html" and comments[1]["isPublic"] is False


async def test_another_thread_gets_a_new_ticket(desk: Desk) -> None:
    first = await desk.email("m1")
    other = await desk.email("m2", thread="<CAF=other@mail.example.in>", subject="Re: other")
    assert other["created_ticket"] is True and other["ticket_id"] != first["ticket_id"]
    assert len((await desk.state())["tickets"]) == 2


async def test_a_retried_message_is_added_once(desk: Desk) -> None:
    created = await desk.email("m1")
    assert await desk.email("m1") == created
    commented = await desk.email("m2")
    assert await desk.email("m2") == commented
    state = await desk.state()
    assert (len(state["tickets"]), len(state["comments"])) == (1, 1)


async def test_a_closed_ticket_is_not_continued(desk: Desk) -> None:
    first = await desk.email("m1")
    assert (await desk.status(first["ticket_id"], "Closed"))["status"] == "Closed"
    again = await desk.email("m2")
    assert again["created_ticket"] is True and again["ticket_id"] != first["ticket_id"]
    later = await desk.email("m3")
    assert later["ticket_id"] == again["ticket_id"] and later["comment_id"]


async def test_comment_rejected_is_a_permanent_error(desk: Desk) -> None:
    first = await desk.email("m1")
    path = f"/api/v1/tickets/{first['ticket_id']}/comments"
    body = {
        "errorCode": "UNPROCESSABLE_ENTITY",
        "message": "An invalid value is given",
        "errors": [{"fieldName": "content", "errorType": "invalid"}],
    }
    await desk.control("faults", [{"method": "POST", "path": path, "status": 422, "body": body}])
    with pytest.raises(PermanentError, match="content is invalid"):
        await desk.email("m2")


# --- add_to_conversation: WhatsApp window ----------------------------------------------------


async def test_whatsapp_messages_within_the_window_share_a_ticket(
    desk: Desk, wall: FakeWall
) -> None:
    first = await desk.whatsapp("w1")
    wall.advance(hours=5)
    second = await desk.whatsapp("w2")
    wall.advance(hours=20)  # 25 h after the ticket, 20 h after the last comment
    third = await desk.whatsapp("w3")
    assert first["created_ticket"] is True
    assert second["ticket_id"] == third["ticket_id"] == first["ticket_id"]
    state = await desk.state()
    ticket = state["tickets"][0]
    assert ticket["subject"] == "WhatsApp conversation with Vikram Iyer"
    assert ticket["channel"] == "Chat" and ticket["cf"]["cf_hub_thread"] == f"whatsapp:{PHONE}"
    assert len(state["comments"]) == 2


async def test_whatsapp_after_the_window_opens_a_new_ticket(desk: Desk, wall: FakeWall) -> None:
    first = await desk.whatsapp("w1")
    wall.advance(hours=25)
    second = await desk.whatsapp("w2")
    assert second["created_ticket"] is True and second["ticket_id"] != first["ticket_id"]
    wall.advance(minutes=5)
    third = await desk.whatsapp("w3")
    assert third["ticket_id"] == second["ticket_id"] and third["created_ticket"] is False
    state = await desk.state()
    assert len(state["contacts"]) == 1, "the phone-only contact is found, not created again"


async def test_received_at_and_window_override_decide(desk: Desk) -> None:
    first = await desk.whatsapp("w1")
    late = T0 + dt.timedelta(hours=3)
    same = await desk.whatsapp("w2", received_at=late.isoformat(), window_hours=4)
    assert same["ticket_id"] == first["ticket_id"]
    later = T0 + dt.timedelta(hours=8)
    new = await desk.whatsapp("w3", received_at=later.isoformat(), window_hours=4)
    assert new["created_ticket"] is True and new["ticket_id"] != first["ticket_id"]


async def test_whatsapp_channel_is_configurable(url: str, http: HttpClient, wall: FakeWall) -> None:
    desk = Desk(url, http, wall, whatsapp_channel="WhatsApp")
    await desk.whatsapp("w1")
    assert (await desk.state())["tickets"][0]["channel"] == "WhatsApp"


# --- update_ticket_status --------------------------------------------------------------------


async def test_update_status_is_idempotent(desk: Desk) -> None:
    ticket = await desk.ticket()
    for _ in range(2):
        out = await desk.status(ticket["ticket_id"], "On Hold")
        assert out == {"ticket_id": ticket["ticket_id"], "status": "On Hold"}
    state = await desk.state()
    assert len(state["history"]) == 1 and state["tickets"][0]["statusType"] == "On Hold"


async def test_update_unknown_status_names_the_field(desk: Desk) -> None:
    ticket = await desk.ticket()
    with pytest.raises(PermanentError, match="status is invalid"):
        await desk.status(ticket["ticket_id"], "Pending")


async def test_update_unknown_ticket_is_permanent(desk: Desk) -> None:
    with pytest.raises(PermanentError, match="ticket 42") as info:
        await desk.status("42", "Closed")
    assert info.value.status == 404


async def test_sandbox_works_mounted_under_a_prefix(wall: FakeWall) -> None:
    root = web.Application()
    root.add_subapp("/zoho_desk", create_sandbox_app(SandboxState(now=wall)))
    async with serve(root) as base:
        url = f"{base}/zoho_desk"
        async with HttpClient(base_url=f"{url}/api/v1", timeout=10) as http:
            desk = Desk(url, http, wall)
            first = await desk.email("m1")
            second = await desk.email("m2")
            assert second["ticket_id"] == first["ticket_id"]
            routes = (await desk.state())["requests"]["by_route"]
            assert routes["POST /api/v1/tickets/{ticket_id}/comments"] == 1
