"""The Zoho CRM connector against its sandbox over real loopback HTTP (no mocks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from connectors.zoho_crm import (
    AddNote,
    ContactIn,
    CreateDeal,
    CreateTask,
    DealIn,
    DealUpdateIn,
    LeadIn,
    NoteIn,
    Search,
    SearchIn,
    TaskIn,
    UpdateDeal,
    UpsertContact,
    UpsertLead,
    ZohoCrmConfig,
    ZohoCrmSession,
    connector,
)
from connectors.zoho_crm.results import hub_marker, split_name
from connectors.zoho_crm.sandbox import (
    SandboxState,
    create_sandbox_app,
    parse_criteria,
    serve,
)
from hub.connector import Action, ActionContext
from hub.errors import AuthError, ConfigError, PermanentError, RateLimitError, TransientError
from hub.http import HttpClient, record_exchanges, stop_recording

KEY = "3f6c1e0b9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
KEY2 = "0123456789abcdef0123456789abcdef01234567"


class Crm:
    """One connection to the sandbox: config, HTTP client, session, and helpers."""

    def __init__(self, url: str, http: HttpClient, **config: Any) -> None:
        self.url = url
        self.http = http
        values: dict[str, Any] = {
            "accounts_url": url,
            "api_domain": url,
            "client_id": "1000.SANDBOX",
            "client_secret": "sandbox-secret",
            "refresh_token": "1000.sandbox.refresh",
        }
        values.update(config)
        self.config = ZohoCrmConfig(**values)
        self.session = ZohoCrmSession(self.config, "crm", http)

    async def run(
        self, action: type[Action[Any, Any]], key: str = KEY, **item: Any
    ) -> dict[str, Any]:
        ctx = ActionContext(
            idempotency_key=key, connection="crm", http=self.http, session=self.session
        )
        model = action.input_model.model_validate(item)
        return await action(self.config, "crm").run(model, ctx)

    async def state(self) -> dict[str, Any]:
        resp = await self.http.get(f"{self.url}/__sandbox__/state")
        body: dict[str, Any] = resp.json()
        return body

    async def records(self, module: str) -> list[dict[str, Any]]:
        return list((await self.state())["records"][module])

    async def control(self, route: str, body: Any = None) -> Any:
        resp = await self.http.post(f"{self.url}/__sandbox__/{route}", json_body=body)
        assert resp.status == 200, resp.text()
        return resp.json()

    async def faults(self, *faults: dict[str, Any]) -> None:
        await self.control("faults", list(faults))

    async def contact(self, **extra: Any) -> str:
        item = {"name": "Asha Rao", "email": "asha@example.in", "phone": "+919845012345"}
        out = await self.run(UpsertContact, **{**item, **extra})
        return str(out["id"])


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
def crm(url: str, http: HttpClient) -> Crm:
    return Crm(url, http)


# --- config, registration, inputs ----------------------------------------------------------


def test_config_urls_defaults_and_secrets() -> None:
    cfg = ZohoCrmConfig(client_id="1000.X", client_secret="s3cr3t", refresh_token="r3fr3sh")
    assert cfg.accounts_base() == "https://accounts.zoho.in"
    assert cfg.api_base() == "https://www.zohoapis.in"
    assert cfg.deal_key_field == "Hub_Key" and cfg.triggers is None
    eu = ZohoCrmConfig(data_centre="ca", client_id="1000.X", client_secret="s", refresh_token="r")
    assert eu.accounts_base() == "https://accounts.zohocloud.ca"
    assert eu.api_base() == "https://www.zohoapis.ca"
    shown = repr(cfg) + cfg.model_dump_json()
    assert "s3cr3t" not in shown and "r3fr3sh" not in shown
    with pytest.raises(ValidationError):
        ZohoCrmConfig(client_id="x", client_secret="s", refresh_token="r", surprise=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ZohoCrmConfig(
            client_id="x", client_secret="s", refresh_token="r", deal_key_field="no spaces"
        )


def test_connector_export() -> None:
    assert connector.name == "zoho_crm" and connector.title == "Zoho CRM"
    assert connector.session is ZohoCrmSession and connector.sandbox is create_sandbox_app
    assert [a.name for a in connector.actions] == [
        "zoho_crm.upsert_lead",
        "zoho_crm.upsert_contact",
        "zoho_crm.create_deal",
        "zoho_crm.update_deal",
        "zoho_crm.add_note",
        "zoho_crm.create_task",
        "zoho_crm.search",
    ]
    for action in connector.actions:
        schema = action.input_model.model_json_schema()
        assert schema.get("additionalProperties") is False, action.name
        for name, prop in schema["properties"].items():
            assert prop.get("description"), f"{action.name}.{name} is not described"


@pytest.mark.parametrize(
    ("full", "first", "last"),
    [
        ("Asha Rao", "Asha", "Rao"),
        ("Asha K. Rao", "Asha K.", "Rao"),
        ("Madonna", None, "Madonna"),
        ("  Ravi   Kumar  ", "Ravi", "Kumar"),
    ],
)
def test_split_name(full: str, first: str | None, last: str) -> None:
    assert split_name(full) == (first, last)


def test_person_record_and_validation() -> None:
    lead = LeadIn(
        name="Asha Rao", email="asha@example.in", company="Rao Traders", fields={"Score__c": 7}
    )
    assert lead.record() == {
        "Last_Name": "Rao",
        "First_Name": "Asha",
        "Email": "asha@example.in",
        "Company": "Rao Traders",
        "Score__c": 7,
    }
    explicit = ContactIn(name="Asha Rao", last_name="Rao-Menon", email="a@b.in")
    assert explicit.record()["Last_Name"] == "Rao-Menon" and "First_Name" not in explicit.record()
    with pytest.raises(ValidationError, match="Last_Name"):
        ContactIn(email="a@b.in")
    with pytest.raises(ValidationError, match="retry could not find"):
        ContactIn(name="Asha", phone="+91 98450 12345")  # checks on Email by default
    ContactIn(name="Asha", phone="+919845012345", duplicate_check_fields=["Phone"])
    with pytest.raises(ValidationError, match="own input field"):
        ContactIn(name="Asha", email="a@b.in", fields={"Email": "x@y.in"})
    with pytest.raises(ValidationError, match="API name"):
        ContactIn(name="Asha", email="a@b.in", fields={"bad name": 1})
    with pytest.raises(ValidationError):
        ContactIn(name="Asha", email="a@b.in", company="not for contacts")  # type: ignore[call-arg]


def test_other_inputs_validate() -> None:
    with pytest.raises(ValidationError):
        DealIn(deal_name="x", stage="s", amount="-1")
    with pytest.raises(ValidationError, match="at least one"):
        DealUpdateIn(deal_id="1")
    with pytest.raises(ValidationError, match="what_module"):
        TaskIn(subject="Call", what_id="1")
    with pytest.raises(ValidationError, match="email or phone"):
        SearchIn()
    with pytest.raises(ValidationError):
        SearchIn(email="a@b.in", modules=["Deals"])
    with pytest.raises(ValidationError):
        NoteIn(record_id="1", content="")


def test_criteria_parser() -> None:
    assert parse_criteria("(Email:equals:a@b.in)") == ("Email", "equals", "a@b.in")
    assert parse_criteria(r"(Subject:equals:Call \(urgent\)\, today)") == (
        "Subject",
        "equals",
        "Call (urgent), today",
    )
    assert parse_criteria("((A:equals:1)and(B:starts_with:2))") == (
        "and",
        [("A", "equals", "1"), ("B", "starts_with", "2")],
    )
    assert parse_criteria("((A:equals:1)or((B:equals:2)and(C:equals:3)))")[0] == "or"
    for bad in ("Email:equals:x", "(Email:like:x)", "((A:equals:1)and(B:equals:2)", "(A)"):
        with pytest.raises(ValueError):
            parse_criteria(bad)
    with pytest.raises(ValueError, match="mix"):
        parse_criteria("((A:equals:1)and(B:equals:2)or(C:equals:3))")


# --- leads and contacts --------------------------------------------------------------------


async def test_upsert_lead_inserts_then_updates_one_record(crm: Crm) -> None:
    first = await crm.run(UpsertLead, name="Ravi Kumar", email="ravi@example.in", company="RK")
    assert first["created"] is True and first["module"] == "Leads"
    second = await crm.run(
        UpsertLead, name="Ravi Kumar", email="RAVI@example.in", company="RK Exports", key=KEY2
    )
    assert second == {**first, "created": False}
    leads = await crm.records("Leads")
    assert len(leads) == 1
    assert leads[0]["Company"] == "RK Exports" and leads[0]["First_Name"] == "Ravi"
    assert leads[0]["Last_Name"] == "Kumar"


async def test_upsert_contact_on_phone_and_on_a_custom_unique_field(
    state: SandboxState, crm: Crm
) -> None:
    item: dict[str, Any] = {
        "name": "Madonna",
        "phone": "+919800000001",
        "duplicate_check_fields": ["Phone"],
    }
    first = await crm.run(UpsertContact, **item)
    again = await crm.run(UpsertContact, **item, description="VIP")
    assert first["id"] == again["id"] and again["created"] is False
    contacts = await crm.records("Contacts")
    assert len(contacts) == 1 and contacts[0]["Last_Name"] == "Madonna"
    assert contacts[0]["Description"] == "VIP" and "First_Name" not in contacts[0]

    state.unique_fields["Contacts"] = (*state.unique_fields["Contacts"], "PAN__c")
    custom: dict[str, Any] = {"name": "Lata Shah", "fields": {"PAN__c": "ABCDE1234F"}}
    one = await crm.run(UpsertContact, **custom, duplicate_check_fields=["PAN__c"])
    two = await crm.run(UpsertContact, **custom, duplicate_check_fields=["PAN__c"])
    assert one["id"] == two["id"] and len(await crm.records("Contacts")) == 2


async def test_upsert_body_carries_duplicate_checks_and_triggers(
    url: str, http: HttpClient
) -> None:
    crm = Crm(url, http, triggers=[])
    exchanges, token = record_exchanges()
    try:
        await crm.run(
            UpsertLead, name="A B", email="ab@example.in", duplicate_check_fields=["Email", "Phone"]
        )
    finally:
        stop_recording(token)
    upsert = next(e for e in exchanges if e.url.endswith("/crm/v7/Leads/upsert"))
    assert upsert.request is not None
    assert '"duplicate_check_fields": ["Email", "Phone"]' in upsert.request
    assert '"trigger": []' in upsert.request


async def test_invalid_email_is_permanent_naming_the_field(crm: Crm) -> None:
    with pytest.raises(PermanentError) as info:
        await crm.run(UpsertContact, name="Asha Rao", email="not-an-email")
    assert not isinstance(info.value, TransientError)
    assert "field Email" in str(info.value) and "invalid data" in str(info.value)
    assert "INVALID_DATA" in str(info.value)
    assert await crm.records("Contacts") == []


async def test_not_unique_duplicate_check_field_is_permanent(crm: Crm) -> None:
    with pytest.raises(PermanentError, match="field Description"):
        await crm.run(
            UpsertContact,
            name="Asha Rao",
            description="x",
            duplicate_check_fields=["Description"],
        )


async def test_per_item_error_inside_a_207_is_the_truth(crm: Crm) -> None:
    item = {
        "code": "MANDATORY_NOT_FOUND",
        "details": {"api_name": "Last_Name", "json_path": "$.data[0].Last_Name"},
        "message": "required field not found",
        "status": "error",
    }
    await crm.faults(
        {"method": "POST", "path": "/crm/v7/Leads/upsert", "status": 207, "body": {"data": [item]}}
    )
    with pytest.raises(PermanentError, match="required field not found \\(field Last_Name\\)"):
        await crm.run(UpsertLead, name="Asha Rao", email="asha@example.in")


async def test_duplicate_data_names_the_existing_record(crm: Crm) -> None:
    item = {
        "code": "DUPLICATE_DATA",
        "details": {"api_name": "Email", "duplicate_record": {"id": "4876876000000000001"}},
        "message": "duplicate data",
        "status": "error",
    }
    await crm.faults(
        {"method": "POST", "path": "/crm/v7/Leads/upsert", "status": 400, "body": {"data": [item]}}
    )
    with pytest.raises(PermanentError, match="existing record 4876876000000000001"):
        await crm.run(UpsertLead, name="Asha Rao", email="asha@example.in")


# --- tokens, limits, transport -------------------------------------------------------------


async def test_expired_token_is_refreshed_and_the_call_succeeds(crm: Crm) -> None:
    await crm.contact()
    await crm.control("expire_tokens")
    out = await crm.run(UpsertLead, name="Ravi Kumar", email="ravi@example.in")
    assert out["created"] is True
    state = await crm.state()
    assert state["tokens"]["issued"] == 2
    assert state["requests"]["by_status"]["401"] == 1


async def test_invalid_token_body_is_zohos(crm: Crm) -> None:
    resp = await crm.http.get(
        "/crm/v7/Leads/search",
        params={"email": "a@b.in"},
        headers={"Authorization": "Zoho-oauthtoken nope"},
    )
    assert resp.status == 401
    assert resp.json() == {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }


async def test_persistent_401_is_auth_error(crm: Crm) -> None:
    fault = {"method": "POST", "path": "/crm/v7/Tasks", "status": 401}
    await crm.faults(fault, fault)
    with pytest.raises(AuthError):
        await crm.run(CreateTask, subject="Call")


async def test_credits_exhausted_is_rate_limit_with_retry_after(crm: Crm) -> None:
    await crm.contact()
    await crm.control("settings", {"credits_per_day": 1})
    with pytest.raises(RateLimitError) as info:
        await crm.run(UpsertLead, name="Ravi Kumar", email="ravi@example.in")
    assert info.value.retry_after is not None and info.value.retry_after > 3600
    assert "TOO_MANY_REQUESTS" in str(info.value)
    assert await crm.records("Leads") == []


async def test_concurrency_cap_is_rate_limit_with_a_default_wait(
    state: SandboxState, crm: Crm
) -> None:
    await crm.contact()
    await crm.control("settings", {"concurrency": 1})
    await crm.faults(
        {"method": "GET", "path": "/crm/v7/Contacts/search", "kind": "delay", "delay": 1.0}
    )
    slow = asyncio.create_task(crm.run(Search, email="asha@example.in"))
    for _ in range(200):  # until the slow call holds the one slot
        if state.in_flight:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(RateLimitError) as info:
        await crm.run(Search, email="asha@example.in", key=KEY2)
    assert info.value.retry_after == 60.0  # Zoho sends no Retry-After here
    assert (await slow)["found"] is True


async def test_server_error_is_transient_and_a_reset_too(crm: Crm) -> None:
    await crm.faults({"method": "POST", "path": "/crm/v7/Leads/upsert", "status": 500})
    with pytest.raises(TransientError):
        await crm.run(UpsertLead, name="Ravi Kumar", email="ravi@example.in")
    await crm.faults(
        {"method": "POST", "path": "/crm/v7/Leads/upsert", "kind": "reset", "commit": True}
    )
    with pytest.raises(TransientError):
        await crm.run(UpsertLead, name="Ravi Kumar", email="ravi@example.in")
    out = await crm.run(UpsertLead, name="Ravi Kumar", email="ravi@example.in")
    assert out["created"] is False and len(await crm.records("Leads")) == 1


async def test_missing_session_is_a_config_error(crm: Crm) -> None:
    ctx = ActionContext(idempotency_key=KEY, connection="crm", http=crm.http)
    with pytest.raises(ConfigError):
        await UpsertLead(crm.config, "crm").run(LeadIn(name="A", email="a@b.in"), ctx)


async def test_no_secrets_in_the_attempt_log(crm: Crm) -> None:
    exchanges, token = record_exchanges()
    try:
        await crm.contact()
    finally:
        stop_recording(token)
    text = repr(exchanges)
    assert "sandbox-secret" not in text and "1000.sandbox.refresh" not in text
    assert crm.session.oauth.refreshes == 1


async def test_sandbox_caps_a_write_at_100_records(crm: Crm) -> None:
    await crm.contact()
    token = await crm.session.oauth.access_token()
    body = {"data": [{"Last_Name": f"L{i}"} for i in range(101)]}
    resp = await crm.http.post(
        "/crm/v7/Leads", json_body=body, headers={"Authorization": f"Zoho-oauthtoken {token}"}
    )
    assert resp.status == 400 and resp.json()["code"] == "LIMIT_EXCEEDED"
    mixed = {"data": [{"Last_Name": "Ok"}, {"First_Name": "No last"}]}
    resp = await crm.http.post(
        "/crm/v7/Leads", json_body=mixed, headers={"Authorization": f"Zoho-oauthtoken {token}"}
    )
    assert resp.status == 207
    codes = [i["code"] for i in resp.json()["data"]]
    assert codes == ["SUCCESS", "MANDATORY_NOT_FOUND"]


# --- deals ---------------------------------------------------------------------------------


async def test_create_deal_twice_with_one_key_writes_once(crm: Crm) -> None:
    contact = await crm.contact()
    item = {
        "deal_name": "Annual plan",
        "stage": "Qualification",
        "amount": "25000.50",
        "closing_date": "2026-12-31",
        "contact_id": contact,
    }
    first = await crm.run(CreateDeal, **item)
    second = await crm.run(CreateDeal, **item)
    assert first["created"] is True and second == {**first, "created": False}
    deals = await crm.records("Deals")
    assert len(deals) == 1
    deal = deals[0]
    assert deal["Hub_Key"] == KEY and deal["Amount"] == 25000.5
    assert deal["Contact_Name"] == {"id": contact} and deal["Closing_Date"] == "2026-12-31"
    other = await crm.run(CreateDeal, key=KEY2, **item)
    assert other["id"] != first["id"] and len(await crm.records("Deals")) == 2


async def test_replayed_create_deal_does_not_undo_a_later_change(crm: Crm) -> None:
    deal = await crm.run(CreateDeal, deal_name="Pilot", stage="Qualification")
    await crm.run(UpdateDeal, deal_id=deal["id"], stage="Closed Won")
    again = await crm.run(CreateDeal, deal_name="Pilot", stage="Qualification")
    assert again["id"] == deal["id"]
    assert (await crm.records("Deals"))[0]["Stage"] == "Closed Won"


async def test_create_deal_search_lag_still_writes_once(crm: Crm) -> None:
    first = await crm.run(CreateDeal, deal_name="Pilot", stage="Qualification")
    # The search index has not caught up yet: 204. The upsert on Hub_Key still matches.
    await crm.faults({"method": "GET", "path": "/crm/v7/Deals/search", "status": 204, "body": ""})
    second = await crm.run(CreateDeal, deal_name="Pilot", stage="Qualification")
    assert second == {**first, "created": False}
    assert len(await crm.records("Deals")) == 1


async def test_create_deal_with_a_non_unique_key_field_is_permanent(
    url: str, http: HttpClient
) -> None:
    crm = Crm(url, http, deal_key_field="Other_Key")
    with pytest.raises(PermanentError, match="field Other_Key"):
        await crm.run(CreateDeal, deal_name="Pilot", stage="Qualification")
    with pytest.raises(ConfigError, match="Other_Key"):
        await crm.run(
            CreateDeal, deal_name="Pilot", stage="Qualification", fields={"Other_Key": "x"}
        )


async def test_update_deal_sets_fields_and_unknown_id_is_permanent(crm: Crm) -> None:
    deal = await crm.run(CreateDeal, deal_name="Pilot", stage="Qualification")
    out = await crm.run(UpdateDeal, deal_id=deal["id"], amount="999.99", closing_date="2026-12-01")
    assert out == {"id": deal["id"], "updated": True}
    stored = (await crm.records("Deals"))[0]
    assert stored["Amount"] == 999.99 and stored["Stage"] == "Qualification"
    with pytest.raises(PermanentError, match="field id"):
        await crm.run(UpdateDeal, deal_id="4876876999999999999", stage="Lost")


# --- notes and tasks -----------------------------------------------------------------------


async def test_add_note_twice_with_one_key_writes_once(crm: Crm) -> None:
    contact = await crm.contact()
    item = {
        "module": "Contacts",
        "record_id": contact,
        "title": "Payment",
        "content": "Paid ₹1,499",
    }
    first = await crm.run(AddNote, **item)
    second = await crm.run(AddNote, **item)
    assert first["created"] is True and second == {**first, "created": False}
    notes = await crm.records("Notes")
    assert len(notes) == 1
    assert notes[0]["Note_Content"] == f"Paid ₹1,499\n\n{hub_marker(KEY)}"
    assert notes[0]["Parent_Id"] == {"module": {"api_name": "Contacts"}, "id": contact}
    await crm.run(AddNote, key=KEY2, **item)
    assert len(await crm.records("Notes")) == 2


async def test_add_note_to_a_missing_record_is_permanent(crm: Crm) -> None:
    with pytest.raises(PermanentError):
        await crm.run(AddNote, module="Leads", record_id="4876876999999999999", content="x")
    assert await crm.records("Notes") == []


async def test_create_task_twice_with_one_key_writes_once(crm: Crm) -> None:
    contact = await crm.contact()
    deal = await crm.run(CreateDeal, deal_name="Pilot", stage="Qualification")
    item = {
        "subject": "Call (about renewal), today",
        "due_date": "2026-11-25",
        "status": "Not Started",
        "priority": "High",
        "who_id": contact,
        "what_id": deal["id"],
        "what_module": "Deals",
        "description": "Ask about the annual plan",
    }
    first = await crm.run(CreateTask, **item)
    second = await crm.run(CreateTask, **item)
    assert first["created"] is True and second == {**first, "created": False}
    tasks = await crm.records("Tasks")
    assert len(tasks) == 1
    task = tasks[0]
    assert task["Description"].endswith(f"\n\n{hub_marker(KEY)}")
    assert task["What_Id"] == {"id": deal["id"]} and task["$se_module"] == "Deals"
    assert task["Who_Id"] == {"id": contact} and task["Due_Date"] == "2026-11-25"
    await crm.run(CreateTask, key=KEY2, **item)
    assert len(await crm.records("Tasks")) == 2


async def test_create_task_finds_its_marker_past_the_first_page(crm: Crm) -> None:
    token = await crm.session.oauth.access_token()
    auth = {"Authorization": f"Zoho-oauthtoken {token}"}
    for batch in range(3):
        filler = {
            "data": [{"Subject": "Call back", "Description": f"#{batch}-{i}"} for i in range(70)]
        }
        resp = await crm.http.post("/crm/v7/Tasks", json_body=filler, headers=auth)
        assert resp.status == 201
    first = await crm.run(CreateTask, subject="Call back")
    second = await crm.run(CreateTask, subject="Call back")
    assert second == {**first, "created": False}
    assert len(await crm.records("Tasks")) == 211


async def test_task_with_a_bad_due_date_is_permanent(crm: Crm) -> None:
    fault_body = {
        "data": [
            {
                "code": "INVALID_DATA",
                "details": {"api_name": "Due_Date", "expected_data_type": "date"},
                "message": "invalid data",
                "status": "error",
            }
        ]
    }
    await crm.faults({"method": "POST", "path": "/crm/v7/Tasks", "status": 400, "body": fault_body})
    with pytest.raises(PermanentError, match="field Due_Date"):
        await crm.run(CreateTask, subject="Call")


def test_long_keys_are_hashed_into_the_marker() -> None:
    assert hub_marker("k") == "hub:k"
    marker = hub_marker("x" * 400)
    assert marker.startswith("hub:") and len(marker) == 4 + 64


# --- search --------------------------------------------------------------------------------


async def test_search_finds_a_contact_by_email(crm: Crm) -> None:
    contact = await crm.contact()
    # a near miss that CRM's contains-like "equals" also returns
    await crm.run(UpsertContact, name="Asha R", email="xasha@example.in")
    out = await crm.run(Search, email="ASHA@example.in")
    assert out == {
        "found": True,
        "id": contact,
        "module": "Contacts",
        "record": {
            "First_Name": "Asha",
            "Last_Name": "Rao",
            "Full_Name": "Asha Rao",
            "Email": "asha@example.in",
            "Phone": "+919845012345",
        },
    }


async def test_search_falls_back_to_leads_and_by_phone(crm: Crm) -> None:
    lead = await crm.run(
        UpsertLead, name="Ravi Kumar", mobile="+91 98450 99999", duplicate_check_fields=["Mobile"]
    )
    out = await crm.run(Search, phone="9845099999")
    assert out["found"] is True and out["id"] == lead["id"] and out["module"] == "Leads"
    assert out["record"]["Mobile"] == "+91 98450 99999"


async def test_search_without_hits_is_not_found(crm: Crm) -> None:
    out = await crm.run(Search, email="nobody@example.in")
    assert out == {"found": False, "id": None, "module": None, "record": {}}
    routes = (await crm.state())["requests"]["by_route"]
    assert routes["GET /crm/v7/Contacts/search"] == 1 and routes["GET /crm/v7/Leads/search"] == 1
    statuses = (await crm.state())["requests"]["by_status"]
    assert statuses["204"] == 2


async def test_search_only_the_modules_asked(crm: Crm) -> None:
    await crm.run(UpsertLead, name="Ravi Kumar", email="ravi@example.in")
    out = await crm.run(Search, email="ravi@example.in", modules=["Contacts"])
    assert out["found"] is False


async def test_sandbox_mounted_under_a_prefix_as_hub_sandbox_does() -> None:
    root = web.Application()
    root.add_subapp("/zoho_crm", create_sandbox_app())
    async with serve(root) as base, HttpClient(base_url=f"{base}/zoho_crm", timeout=10) as http:
        crm = Crm(f"{base}/zoho_crm", http)
        contact = await crm.contact()
        assert (await crm.run(Search, email="asha@example.in"))["id"] == contact
        routes = (await crm.state())["requests"]["by_route"]
        assert routes["POST /crm/v7/Contacts/upsert"] == 1


async def test_sandbox_accepts_legacy_note_parents(crm: Crm) -> None:
    contact = await crm.contact()
    token = await crm.session.oauth.access_token()
    note = {"Note_Content": "old style", "Parent_Id": contact, "$se_module": "Contacts"}
    resp = await crm.http.post(
        "/crm/v7/Notes",
        json_body={"data": [note]},
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
    )
    assert resp.status == 201, resp.text()
    listed = await crm.http.get(
        f"/crm/v7/Contacts/{contact}/Notes",
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
    )
    assert [n["Note_Content"] for n in listed.json()["data"]] == ["old style"]
