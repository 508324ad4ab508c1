"""The Salesforce connector against its sandbox over real loopback HTTP (no mocks)."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from connectors.salesforce import (
    AddCaseComment,
    CaseCommentIn,
    CaseIn,
    ContactIn,
    CreateCase,
    SalesforceConfig,
    SalesforceSession,
    UpsertContact,
    connector,
)
from connectors.salesforce.actions import comment_marker, external_key
from connectors.salesforce.auth import parse_limit_info
from connectors.salesforce.sandbox import SandboxState, create_sandbox_app, serve
from hub.connector import Action, ActionContext
from hub.errors import AuthError, PermanentError, RateLimitError, TransientError
from hub.http import HttpClient, record_exchanges, stop_recording

KEY = "3f6c1e0b9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
KEY2 = "0123456789abcdef0123456789abcdef01234567"
CLIENT_SECRET = "sandbox-consumer-secret"
REFRESH = "5Aep861sandbox.refresh.token"
CASE = "/services/data/{version}/sobjects/Case/{field}/{value}"
COMMENT = "/services/data/{version}/sobjects/CaseComment"


class FakeClock:
    """Monotonic seconds that only move when told to (shared by client and sandbox)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Org:
    """One connection to the sandbox: config, HTTP client, session, and helpers."""

    def __init__(self, url: str, http: HttpClient, clock: Any = None, **config: Any) -> None:
        self.url = url
        self.http = http
        values: dict[str, Any] = {
            "login_url": url,
            "client_id": "3MVG9SANDBOX.hub.connected.app",
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH,
        }
        values.update(config)
        self.config = SalesforceConfig(**values)
        extra = {"clock": clock} if clock is not None else {}
        self.session = SalesforceSession(self.config, "sf", http, **extra)

    def ctx(self, key: str = KEY) -> ActionContext:
        return ActionContext(
            idempotency_key=key, connection="sf", http=self.http, session=self.session
        )

    async def _run(
        self, action: type[Action[Any, Any]], model: type[BaseModel], key: str, item: dict[str, Any]
    ) -> dict[str, Any]:
        return await action(self.config, "sf").run(model(**item), self.ctx(key))

    async def case(self, key: str = KEY, **item: Any) -> dict[str, Any]:
        return await self._run(CreateCase, CaseIn, key, item or {"Subject": "Refund not received"})

    async def comment(self, key: str = KEY, **item: Any) -> dict[str, Any]:
        return await self._run(AddCaseComment, CaseCommentIn, key, item)

    async def contact(self, key: str = KEY, **item: Any) -> dict[str, Any]:
        return await self._run(UpsertContact, ContactIn, key, item)

    async def state(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self.http.get(f"{self.url}/__sandbox__/state")).json()
        return body

    async def control(self, route: str, body: Any = None) -> Any:
        resp = await self.http.post(f"{self.url}/__sandbox__/{route}", json_body=body)
        assert resp.status < 300, resp.text()
        return resp.json()


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
def org(url: str, http: HttpClient) -> Org:
    return Org(url, http)


# --- config and registration ---------------------------------------------------------------


def test_config_defaults_and_paths() -> None:
    cfg = SalesforceConfig(client_id="3MVG9x", client_secret="s", refresh_token="r")
    assert cfg.token_url() == "https://login.salesforce.com/services/oauth2/token"
    assert cfg.api_version == "v61.0"
    assert cfg.case_external_id_field == "Hub_Key__c"
    assert cfg.contact_external_id_field == "Hub_External_Id__c"
    assert cfg.session_lifetime == 7200.0
    assert cfg.data_path("query") == "/services/data/v61.0/query"
    assert cfg.external_id_path("Contact", "Ext__c", "a/b c@x.in") == (
        "/services/data/v61.0/sobjects/Contact/Ext__c/a%2Fb%20c%40x.in"
    )
    sandbox_org = SalesforceConfig(
        login_url="https://test.salesforce.com/",
        client_id="c",
        client_secret="s",
        refresh_token="r",
    )
    assert sandbox_org.token_url() == "https://test.salesforce.com/services/oauth2/token"


def test_config_rejects_unknown_keys_bad_values_and_masks_secrets() -> None:
    base = {"client_id": "c", "client_secret": "very-secret", "refresh_token": "refresh-secret"}
    with pytest.raises(ValidationError):
        SalesforceConfig.model_validate({**base, "org_id": "x"})
    with pytest.raises(ValidationError):
        SalesforceConfig(**base, api_version="61")
    with pytest.raises(ValidationError):
        SalesforceConfig(**base, case_external_id_field="Hub Key")
    cfg = SalesforceConfig(**base)
    dumped = str(cfg.model_dump()) + repr(cfg)
    assert "very-secret" not in dumped and "refresh-secret" not in dumped


def test_connector_registration() -> None:
    assert connector.name == "salesforce"
    assert connector.title == "Salesforce Service Cloud"
    assert {a.name for a in connector.actions} == {
        "salesforce.create_case",
        "salesforce.add_case_comment",
        "salesforce.upsert_contact",
    }
    assert connector.session is SalesforceSession
    assert connector.sandbox is create_sandbox_app
    assert "UNCONFIRMED" in connector.docs
    cfg = SalesforceConfig(client_id="c", client_secret="s", refresh_token="r")
    assert connector.base_url is not None
    assert connector.base_url(cfg) == "https://login.salesforce.com"


def test_helpers() -> None:
    assert parse_limit_info({"Sforce-Limit-Info": "api-usage=18/15000"}) == (18, 15000)
    assert parse_limit_info(
        {"Sforce-Limit-Info": "api-usage=25/5000; per-app-api-usage=17/250"}
    ) == (
        25,
        5000,
    )
    assert parse_limit_info({}) is None
    assert external_key(KEY) == KEY
    assert len(external_key("k" * 300)) == 64
    assert comment_marker(KEY) == comment_marker(KEY) != comment_marker(KEY2)
    with pytest.raises(ValidationError):
        CaseCommentIn(ParentId="not-an-id", CommentBody="x")
    with pytest.raises(ValidationError):
        CaseCommentIn(ParentId="5005g00000000001AAE", CommentBody="x" * 4000)


# --- create_case ---------------------------------------------------------------------------


async def test_create_case_writes_the_key_in_the_external_id_field(org: Org) -> None:
    out = await org.case(
        Subject="Refund not received",
        Description="Order 4411",
        Origin="WhatsApp",
        Priority="High",
        SuppliedName="Ananya Rao",
        SuppliedPhone="+919845012345",
        SuppliedEmail="ananya@example.in",
    )
    assert out["created"] is True and out["case_id"].startswith("500")
    (case,) = (await org.state())["cases"]
    assert case["Id"] == out["case_id"]
    assert case["Hub_Key__c"] == KEY
    assert case["Origin"] == "WhatsApp" and case["Status"] == "New"
    assert org.session.oauth.api_usage is not None and org.session.oauth.api_usage[1] == 15000


async def test_create_case_with_contact(org: Org) -> None:
    contact = await org.contact(external_id="wa:919845012345", LastName="Rao")
    out = await org.case(Subject="Hello", ContactId=contact["contact_id"])
    (case,) = (await org.state())["cases"]
    assert case["ContactId"] == contact["contact_id"] and out["created"]


async def test_create_case_same_key_twice_writes_once_and_keeps_agent_edits(org: Org) -> None:
    first = await org.case(Subject="First words")
    second = await org.case(Subject="Replayed words")
    assert second == {"case_id": first["case_id"], "created": False}
    (case,) = (await org.state())["cases"]
    assert case["Subject"] == "First words", "a retry must not overwrite the case"
    third = await org.case(KEY2, Subject="Another event")
    assert third["created"] and third["case_id"] != first["case_id"]
    assert len((await org.state())["cases"]) == 2


async def test_create_case_concurrent_retries_make_one_case_and_one_token(org: Org) -> None:
    results = await asyncio.gather(*(org.case(Subject=f"try {i}") for i in range(8)))
    assert len({r["case_id"] for r in results}) == 1
    state = await org.state()
    assert len(state["cases"]) == 1
    assert state["tokens"]["issued"] == 1, "refresh must be single-flight"


async def test_create_case_after_a_commit_then_timeout_writes_once(url: str) -> None:
    async with HttpClient(base_url=url, timeout=10) as http:
        org = Org(url, http, timeout=0.5)
        await org.control(
            "faults", [{"method": "PATCH", "path": CASE, "kind": "commit_then_timeout", "delay": 2}]
        )
        with pytest.raises(TransientError):
            await org.case(Subject="Slow day")
        out = await org.case(Subject="Slow day")
        assert out["created"] is False
        assert len((await org.state())["cases"]) == 1


async def test_expired_session_is_refreshed_once_and_the_call_retried(org: Org) -> None:
    await org.case(KEY)
    await org.control("expire_tokens")
    out = await org.case(KEY2, Subject="After expiry")
    assert out["created"] is True
    state = await org.state()
    assert state["tokens"]["issued"] == 2
    assert state["requests"]["by_status"]["401"] == 1
    assert len(state["cases"]) == 2


async def test_token_is_refreshed_ahead_of_the_session_lifetime(url: str, http: HttpClient) -> None:
    clock = FakeClock()
    org = Org(url, http, clock=clock, session_lifetime=1000)
    await org.case(KEY)
    clock.now += 600  # inside the lifetime minus the 300 s margin: reuse
    await org.case(KEY2)
    assert (await org.state())["tokens"]["issued"] == 1
    clock.now += 200  # past lifetime - margin: refresh before sending, no 401 needed
    await org.case("k3")
    state = await org.state()
    assert state["tokens"]["issued"] == 2
    assert "401" not in state["requests"]["by_status"]
    assert org.session.oauth.refreshes == 2


async def test_daily_api_limit_is_a_rate_limit_not_an_auth_error(
    org: Org, state: SandboxState
) -> None:
    await org.case(KEY)
    state.api_limit = state.api_used
    with pytest.raises(RateLimitError) as info:
        await org.case(KEY2, Subject="Over the limit")
    err = info.value
    assert err.status == 403 and not isinstance(err, AuthError)
    assert err.retry_after and err.retry_after > 0
    assert "limit" in str(err) and "REQUEST_LIMIT_EXCEEDED" in (err.detail or "")
    assert len((await org.state())["cases"]) == 1


async def test_other_403s_are_auth_errors(org: Org) -> None:
    body = [{"message": "Insufficient access", "errorCode": "INSUFFICIENT_ACCESS_OR_READONLY"}]
    await org.control("faults", [{"method": "PATCH", "path": CASE, "status": 403, "body": body}])
    with pytest.raises(AuthError):
        await org.case()


async def test_row_lock_contention_is_transient(org: Org) -> None:
    body = [
        {
            "message": "unable to obtain exclusive access to this record",
            "errorCode": "UNABLE_TO_LOCK_ROW",
        }
    ]
    await org.control("faults", [{"method": "PATCH", "path": CASE, "status": 400, "body": body}])
    with pytest.raises(TransientError) as info:
        await org.case()
    assert "UNABLE_TO_LOCK_ROW" in str(info.value)


async def test_required_field_missing_names_the_field(org: Org) -> None:
    await org.control("settings", {"required_fields": {"Case": ["Origin"]}})
    with pytest.raises(PermanentError) as info:
        await org.case(Subject="No origin")
    err = info.value
    assert not isinstance(err, TransientError | AuthError)
    assert err.status == 400
    assert "Origin" in str(err) and "REQUIRED_FIELD_MISSING" in str(err)
    assert (await org.state())["cases"] == []


async def test_unknown_contact_id_is_permanent(org: Org) -> None:
    with pytest.raises(PermanentError) as info:
        await org.case(Subject="x", ContactId="0035g00000ZZZZZAAA")
    assert "INVALID_CROSS_REFERENCE_KEY" in str(info.value) and "ContactId" in str(info.value)


async def test_missing_external_id_field_is_a_clear_permanent_error(
    url: str, http: HttpClient
) -> None:
    org = Org(url, http, case_external_id_field="Not_There__c")
    with pytest.raises(PermanentError) as info:
        await org.case()
    assert "Not_There__c" in str(info.value)


async def test_instance_url_override(url: str, http: HttpClient) -> None:
    org = Org(url, http, instance_url=url + "/")
    assert (await org.case())["created"]


async def test_old_api_versions_answer_updates_with_204(url: str, http: HttpClient) -> None:
    org = Org(url, http, api_version="v45.0")
    first = await org.contact(external_id="e1", LastName="Rao")
    second = await org.contact(external_id="e1", LastName="Rao", Phone="+91 98450 12345")
    assert second == {"contact_id": first["contact_id"], "created": False}


# --- auth failures -------------------------------------------------------------------------


async def test_invalid_grant_is_an_auth_error_without_secrets(url: str, http: HttpClient) -> None:
    org = Org(url, http, refresh_token="5Aep-revoked-refresh-token")
    sink, token = record_exchanges()
    try:
        with pytest.raises(AuthError) as info:
            await org.case()
    finally:
        stop_recording(token)
    err = info.value
    text = f"{err} {err.detail} {err.args!r}"
    assert "re-authorize" in str(err) and "invalid_grant" in text
    for secret in ("5Aep-revoked-refresh-token", CLIENT_SECRET):
        assert secret not in text
        assert all(secret not in f"{x.url} {x.request} {x.response}" for x in sink)
    assert pickle.loads(pickle.dumps(err)).args == err.args
    assert (await org.state())["cases"] == []


async def test_invalid_client_points_at_the_connected_app(url: str, http: HttpClient) -> None:
    org = Org(url, http, client_secret="wrong")
    with pytest.raises(AuthError) as info:
        await org.case()
    assert "connected app" in str(info.value) and "wrong" not in str(info.value)


async def test_waiters_share_a_failed_refresh(
    url: str, http: HttpClient, state: SandboxState
) -> None:
    org = Org(url, http, refresh_token="bad")
    results = await asyncio.gather(*(org.case(f"k{i}") for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, AuthError) for r in results)
    assert org.session.oauth.refreshes == 1


async def test_token_endpoint_outage_is_transient(org: Org) -> None:
    await org.control(
        "faults", [{"method": "POST", "path": "/services/oauth2/token", "status": 503}]
    )
    with pytest.raises(TransientError):
        await org.case()
    assert (await org.case())["created"]


async def test_revoked_session_twice_is_an_auth_error(org: Org) -> None:
    fault = {"method": "PATCH", "path": CASE, "status": 401}
    await org.control("faults", [fault, fault])
    with pytest.raises(AuthError) as info:
        await org.case()
    assert "INVALID_SESSION_ID" in str(info.value)


# --- add_case_comment ----------------------------------------------------------------------


async def test_add_case_comment_once_per_key(org: Org) -> None:
    case = await org.case("case-key")
    first = await org.comment(
        ParentId=case["case_id"], CommentBody="Sent the UTR", IsPublished=True
    )
    again = await org.comment(
        ParentId=case["case_id"], CommentBody="Sent the UTR", IsPublished=True
    )
    assert first["created"] is True
    assert again == {"comment_id": first["comment_id"], "created": False}
    other = await org.comment(KEY2, ParentId=case["case_id"], CommentBody="Sent the UTR")
    assert other["created"] and other["comment_id"] != first["comment_id"]
    comments = (await org.state())["case_comments"]
    assert len(comments) == 2
    assert comments[0]["CommentBody"] == f"Sent the UTR\n\n{comment_marker(KEY)}"
    assert comments[0]["IsPublished"] is True and comments[1]["IsPublished"] is False


async def test_add_case_comment_on_a_missing_case_names_parent_id(org: Org) -> None:
    with pytest.raises(PermanentError) as info:
        await org.comment(ParentId="5005g00000ZZZZZAAA", CommentBody="hello")
    assert "ParentId" in str(info.value) and not isinstance(info.value, TransientError)


async def test_add_case_comment_after_expiry_and_under_limit(org: Org, state: SandboxState) -> None:
    case = await org.case("case-key")
    await org.control("expire_tokens")
    assert (await org.comment(ParentId=case["case_id"], CommentBody="one"))["created"]
    state.api_limit = state.api_used
    with pytest.raises(RateLimitError):
        await org.comment(KEY2, ParentId=case["case_id"], CommentBody="two")
    assert len((await org.state())["case_comments"]) == 1


async def test_comment_after_commit_then_timeout_is_found_not_duplicated(url: str) -> None:
    async with HttpClient(base_url=url, timeout=10) as http:
        org = Org(url, http, timeout=0.5)
        case = await org.case("case-key")
        await org.control(
            "faults",
            [{"method": "POST", "path": COMMENT, "kind": "commit_then_timeout", "delay": 2}],
        )
        with pytest.raises(TransientError):
            await org.comment(ParentId=case["case_id"], CommentBody="it's 'quoted' 100%_done")
        out = await org.comment(ParentId=case["case_id"], CommentBody="it's 'quoted' 100%_done")
        assert out["created"] is False
        assert len((await org.state())["case_comments"]) == 1


# --- upsert_contact ------------------------------------------------------------------------


async def test_upsert_contact_creates_then_updates(org: Org) -> None:
    first = await org.contact(
        external_id="ananya@example.in",
        LastName="Rao",
        FirstName="Ananya",
        Email="ananya@example.in",
    )
    assert first["created"] is True and first["contact_id"].startswith("003")
    second = await org.contact(
        KEY2, external_id="ananya@example.in", LastName="Rao", Phone="+919845012345"
    )
    assert second == {"contact_id": first["contact_id"], "created": False}
    (contact,) = (await org.state())["contacts"]
    assert contact["Hub_External_Id__c"] == "ananya@example.in"
    assert contact["Phone"] == "+919845012345" and contact["FirstName"] == "Ananya"


async def test_upsert_contact_validation_names_the_field(org: Org) -> None:
    with pytest.raises(PermanentError) as info:
        await org.contact(external_id="x1", LastName="Rao", Email="not-an-email")
    assert "Email" in str(info.value) and "INVALID_EMAIL_ADDRESS" in str(info.value)
    await org.control("settings", {"required_fields": {"Contact": ["LastName", "Phone"]}})
    with pytest.raises(PermanentError) as info:
        await org.contact(external_id="x1", LastName="Rao")
    assert "Phone" in str(info.value) and "REQUIRED_FIELD_MISSING" in str(info.value)


async def test_upsert_contact_several_matches_is_permanent(org: Org) -> None:
    for first in ("A", "B"):
        await org.control(
            "records",
            {"sobject": "Contact", "fields": {"LastName": first, "Hub_External_Id__c": "dup"}},
        )
    with pytest.raises(PermanentError) as info:
        await org.contact(external_id="dup", LastName="Rao")
    assert info.value.status == 300 and "several records" in str(info.value)


async def test_upsert_contact_after_expiry_and_under_limit(org: Org, state: SandboxState) -> None:
    await org.contact(external_id="e1", LastName="Rao")
    await org.control("expire_tokens")
    assert (await org.contact(external_id="e2", LastName="Iyer"))["created"]
    state.api_limit = state.api_used
    with pytest.raises(RateLimitError):
        await org.contact(external_id="e3", LastName="Nair")
    assert len((await org.state())["contacts"]) == 2


# --- the sandbox itself --------------------------------------------------------------------


async def test_sandbox_token_response_and_limit_header(url: str, http: HttpClient) -> None:
    form = {
        "grant_type": "refresh_token",
        "client_id": "3MVG9SANDBOX.hub.connected.app",
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH,
    }
    resp = await http.post(f"{url}/services/oauth2/token", data=form)
    body = resp.json()
    assert set(body) == {
        "access_token", "signature", "scope", "instance_url", "id", "token_type", "issued_at"
    }  # fmt: skip
    assert body["instance_url"] == url and body["token_type"] == "Bearer"
    q = await http.get(
        f"{url}/services/data/v61.0/query",
        params={"q": "SELECT Id FROM Case"},
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert q.status == 200 and q.json() == {"totalSize": 0, "done": True, "records": []}
    assert parse_limit_info(q.headers) == (1, 15000)
    bad = await http.get(
        f"{url}/services/data/v61.0/query",
        params={"q": "DELETE FROM Case"},
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert bad.status == 400 and bad.json()[0]["errorCode"] == "MALFORMED_QUERY"
    expired = await http.get(
        f"{url}/services/data/v61.0/query", params={"q": "SELECT Id FROM Case"}
    )
    assert expired.status == 401
    assert expired.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


async def test_sandbox_reset(org: Org) -> None:
    await org.case()
    await org.control("reset")
    state = await org.state()
    assert state["cases"] == [] and state["tokens"]["issued"] == 0


async def test_sandbox_works_mounted_under_a_prefix_like_hub_sandbox() -> None:
    from aiohttp import web

    root = web.Application()
    root.add_subapp("/salesforce", create_sandbox_app())
    async with serve(root) as base, HttpClient(timeout=10) as http:
        org = Org(f"{base}/salesforce", http)
        out = await org.case()
        assert out["created"]
        again = await org.case()
        assert again == {"case_id": out["case_id"], "created": False}
        state = await org.state()
        assert state["requests"]["by_route"]["PATCH " + CASE] == 1
