"""The Zoho Books sandbox behaves like the vendor: OAuth, limits, validation, faults, control routes."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from connectors.zoho_books.sandbox import SandboxState, create_sandbox_app, serve

ORG = {"organization_id": "60012345678"}
REFRESH = {
    "grant_type": "refresh_token",
    "client_id": "1000.SANDBOX",
    "client_secret": "sandbox-secret",
    "refresh_token": "1000.sandbox.refresh",
}


@pytest.fixture
def state() -> SandboxState:
    return SandboxState()


@pytest.fixture
async def url(state: SandboxState) -> AsyncIterator[str]:
    async with serve(create_sandbox_app(state)) as base:
        yield base


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    client: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, Any, Any]:
    async with client.request(method, url, **kw) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body, resp.headers


async def token(client: aiohttp.ClientSession, url: str) -> dict[str, str]:
    status, body, _ = await call(client, "POST", f"{url}/oauth/v2/token", data=REFRESH)
    assert status == 200, body
    return {"Authorization": f"Zoho-oauthtoken {body['access_token']}"}


async def test_refresh_grant_answers_zoho_shape(client: aiohttp.ClientSession, url: str) -> None:
    status, body, _ = await call(client, "POST", f"{url}/oauth/v2/token", data=REFRESH)
    assert status == 200
    assert set(body) == {"access_token", "expires_in", "api_domain", "token_type", "scope"}
    assert body["expires_in"] == 3600 and body["api_domain"] == url
    # Zoho's docs pass the parameters in the query string; that works too.
    status, body, _ = await call(client, "POST", f"{url}/oauth/v2/token", params=REFRESH)
    assert status == 200 and body["access_token"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"refresh_token": "1000.nope"}, "invalid_code"),
        ({"client_id": "1000.OTHER"}, "invalid_client"),
        ({"client_secret": "nope"}, "invalid_client_secret"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
    ],
)
async def test_refresh_errors_come_with_http_200(
    client: aiohttp.ClientSession, url: str, change: dict[str, str], error: str
) -> None:
    status, body, _ = await call(
        client, "POST", f"{url}/oauth/v2/token", data={**REFRESH, **change}
    )
    assert (status, body) == (200, {"error": error})


async def test_ten_tokens_per_window_then_access_denied(
    client: aiohttp.ClientSession, url: str, state: SandboxState
) -> None:
    for _ in range(10):
        await token(client, url)
    status, body, _ = await call(client, "POST", f"{url}/oauth/v2/token", data=REFRESH)
    assert status == 400 and body["error"] == "Access Denied"
    assert "too many requests" in body["error_description"]
    assert state.tokens_issued == 10


async def test_authorization_code_flow(client: aiohttp.ClientSession, url: str) -> None:
    params = {
        "client_id": "1000.SANDBOX",
        "redirect_uri": "http://localhost/cb",
        "response_type": "code",
        "access_type": "offline",
        "state": "xyz",
    }
    async with client.get(f"{url}/oauth/v2/auth", params=params) as resp:
        assert resp.status == 200 and "Accept" in await resp.text()  # the consent page
    decision = {**params, "decision": "accept"}
    async with client.post(f"{url}/oauth/v2/auth", data=decision, allow_redirects=False) as resp:
        assert resp.status == 302
        query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["state"] == ["xyz"] and query["accounts-server"] == [url]
    form = {
        "grant_type": "authorization_code",
        "client_id": "1000.SANDBOX",
        "client_secret": "sandbox-secret",
        "redirect_uri": "http://localhost/cb",
        "code": query["code"][0],
    }
    status, body, _ = await call(client, "POST", f"{url}/oauth/v2/token", data=form)
    assert status == 200 and body["refresh_token"].startswith("1000.")
    # The code is single use; the new refresh token works.
    assert (await call(client, "POST", f"{url}/oauth/v2/token", data=form))[1] == {
        "error": "invalid_code"
    }
    again = {**REFRESH, "refresh_token": body["refresh_token"]}
    assert "access_token" in (await call(client, "POST", f"{url}/oauth/v2/token", data=again))[1]
    # Revoking it makes it fail like Zoho.
    await call(
        client, "POST", f"{url}/oauth/v2/token/revoke", params={"token": body["refresh_token"]}
    )
    assert (await call(client, "POST", f"{url}/oauth/v2/token", data=again))[1] == {
        "error": "invalid_code"
    }


async def test_books_gate(client: aiohttp.ClientSession, url: str, state: SandboxState) -> None:
    contacts = f"{url}/books/v3/contacts"
    status, body, _ = await call(client, "GET", contacts, params=ORG)
    assert (status, body["code"]) == (401, 57)
    auth = await token(client, url)
    status, body, _ = await call(client, "GET", contacts, headers=auth)
    assert (status, body["message"]) == (400, "organization_id is required")
    status, body, _ = await call(
        client, "GET", contacts, headers=auth, params={"organization_id": "1"}
    )
    assert status == 400 and body["code"] == 6041
    status, body, _ = await call(client, "GET", contacts, headers=auth, params=ORG)
    assert status == 200 and body["code"] == 0 and body["contacts"] == []
    assert body["page_context"] == {"page": 1, "per_page": 200, "has_more_page": False}
    state.token_ttl = 0  # new tokens are born expired
    status, _, _ = await call(client, "GET", contacts, headers=await token(client, url), params=ORG)
    assert status == 401


async def test_per_minute_limit(
    client: aiohttp.ClientSession, url: str, state: SandboxState
) -> None:
    state.requests_per_minute = 3
    auth = await token(client, url)
    for _ in range(3):
        assert (await call(client, "GET", f"{url}/books/v3/contacts", headers=auth, params=ORG))[
            0
        ] == 200
    status, body, headers = await call(
        client, "GET", f"{url}/books/v3/contacts", headers=auth, params=ORG
    )
    assert status == 429 and body["code"] == 45
    assert 1 <= int(headers["Retry-After"]) <= 60


async def test_contacts_validation_filters_and_paging(
    client: aiohttp.ClientSession, url: str
) -> None:
    auth = await token(client, url)
    contacts = f"{url}/books/v3/contacts"

    async def post(body: Any) -> tuple[int, Any]:
        status, answer, _ = await call(
            client, "POST", contacts, headers=auth, params=ORG, json=body
        )
        return status, answer

    assert (await post({}))[1]["message"] == "Please enter the contact name."
    status, body = await post({"contact_name": "G", "gst_treatment": "business_gst", "gst_no": "X"})
    assert (status, body["message"]) == (400, "Enter a valid GSTIN.")
    async with client.post(contacts, headers=auth, params=ORG, data=b"{nope") as resp:
        assert resp.status == 400 and (await resp.json())["code"] == 1038
    for i in range(3):
        person = {"email": f"p{i}@example.in", "phone": f"98{i}", "is_primary_contact": True}
        status, body = await post({"contact_name": f"Person {i}", "contact_persons": [person]})
        assert status == 201 and body["message"] == "The contact has been added."
    status, body = await post({"contact_name": "person 1"})
    assert (status, body["code"]) == (400, 3062)

    async def query(**params: str) -> Any:
        return (await call(client, "GET", contacts, headers=auth, params={**ORG, **params}))[1]

    assert [c["contact_name"] for c in (await query(email="P1@example.in"))["contacts"]] == [
        "Person 1"
    ]
    assert [c["contact_name"] for c in (await query(phone="982"))["contacts"]] == ["Person 2"]
    assert len((await query(contact_name_startswith="per"))["contacts"]) == 3
    page = await query(per_page="2", page="1")
    assert len(page["contacts"]) == 2 and page["page_context"]["has_more_page"] is True
    contact_id = page["contacts"][0]["contact_id"]
    status, body, _ = await call(
        client, "GET", f"{contacts}/{contact_id}", headers=auth, params=ORG
    )
    assert status == 200 and body["contact"]["contact_persons"][0]["email"] == "p0@example.in"
    status, body, _ = await call(client, "GET", f"{contacts}/404", headers=auth, params=ORG)
    assert (status, body["code"]) == (404, 1002)


async def test_payment_validation(client: aiohttp.ClientSession, url: str) -> None:
    auth = await token(client, url)
    _, body, _ = await call(
        client,
        "POST",
        f"{url}/books/v3/contacts",
        headers=auth,
        params=ORG,
        json={"contact_name": "C"},
    )
    customer = body["contact"]["contact_id"]
    _, body, _ = await call(
        client,
        "POST",
        f"{url}/books/v3/invoices",
        headers=auth,
        params=ORG,
        json={
            "customer_id": customer,
            "line_items": [{"name": "Plan", "rate": "250.00", "quantity": 2}],
        },
    )
    invoice = body["invoice"]
    assert invoice["total"] == 500 and invoice["balance"] == 500
    good = {"customer_id": customer, "amount": 100, "date": "2026-11-20", "payment_mode": "cash"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"customer_id": "1"}, "Customer does not exist."),
        ({"amount": 0}, "Please enter a valid amount."),
        ({"amount": "abc"}, "Please enter a valid amount."),
        ({"date": "20/11/2026"}, "Invalid value passed for date"),
        ({"payment_mode": "barter"}, "Invalid value passed for payment_mode"),
        ({"reference_number": "x" * 101}, "Invalid value passed for reference_number"),
        (
            {"invoices": [{"invoice_id": invoice["invoice_id"], "amount_applied": 150}]},
            "The amount applied to invoices exceeds the payment amount.",
        ),
        (
            {
                "amount": 900,
                "invoices": [{"invoice_id": invoice["invoice_id"], "amount_applied": 600}],
            },
            "Amount applied exceeds the balance of invoice INV-000001.",
        ),
    ]
    for change, message in cases:
        status, body, _ = await call(
            client,
            "POST",
            f"{url}/books/v3/customerpayments",
            headers=auth,
            params=ORG,
            json={**good, **change},
        )
        assert (status, body["message"]) == (400, message), change
    ok = {**good, "reference_number": "ref-1"}
    status, body, _ = await call(
        client, "POST", f"{url}/books/v3/customerpayments", headers=auth, params=ORG, json=ok
    )
    assert status == 201 and body["payment"]["payment_number"] == "1"
    _, body, _ = await call(
        client,
        "GET",
        f"{url}/books/v3/customerpayments",
        headers=auth,
        params={**ORG, "reference_number": "ref-1"},
    )
    assert [p["amount"] for p in body["customerpayments"]] == [100]
    _, body, _ = await call(
        client,
        "GET",
        f"{url}/books/v3/customerpayments",
        headers=auth,
        params={**ORG, "reference_number": "ref"},
    )
    assert body["customerpayments"] == []


async def test_faults_are_consumed_in_order_and_control_routes(
    client: aiohttp.ClientSession, url: str
) -> None:
    status, body, _ = await call(client, "POST", f"{url}/__sandbox__/faults", json=[{"nope": 1}])
    assert status == 400 and "path" in body["error"]
    faults = [
        {"path": "/books/v3/contacts", "method": "GET", "status": 503},
        {"path": "/books/v3/contacts", "status": 429, "headers": {"Retry-After": "7"}},
    ]
    status, body, _ = await call(client, "POST", f"{url}/__sandbox__/faults", json=faults)
    assert (status, body) == (200, {"pending": 2})
    auth = await token(client, url)
    contacts = f"{url}/books/v3/contacts"
    assert (await call(client, "GET", contacts, headers=auth, params=ORG))[0] == 503
    status, body, headers = await call(client, "GET", contacts, headers=auth, params=ORG)
    assert (status, body["code"], headers["Retry-After"]) == (429, 45, "7")
    assert (await call(client, "GET", contacts, headers=auth, params=ORG))[0] == 200
    state = (await call(client, "GET", f"{url}/__sandbox__/state"))[1]
    assert state["requests"]["by_status"] == {"200": 2, "503": 1, "429": 1}
    assert state["requests"]["by_route"]["GET /books/v3/contacts"] == 3
    assert state["tokens"] == {"issued": 1, "live": 1} and state["faults_pending"] == []
    assert (await call(client, "POST", f"{url}/__sandbox__/expire_tokens"))[1] == {"expired": 1}
    assert (await call(client, "GET", contacts, headers=auth, params=ORG))[0] == 401
    assert (await call(client, "POST", f"{url}/__sandbox__/reset"))[1] == {"reset": True}
    state = (await call(client, "GET", f"{url}/__sandbox__/state"))[1]
    assert state["requests"]["total"] == 0 and state["tokens"]["issued"] == 0
    status, body, _ = await call(
        client, "POST", f"{url}/__sandbox__/settings", json={"requests_per_minute": 5}
    )
    assert status == 200 and body["requests_per_minute"] == 5


async def test_reset_fault_closes_the_connection(client: aiohttp.ClientSession, url: str) -> None:
    await call(
        client,
        "POST",
        f"{url}/__sandbox__/faults",
        json={"path": "/oauth/v2/token", "kind": "reset"},
    )
    with pytest.raises(aiohttp.ClientError):
        await call(client, "POST", f"{url}/oauth/v2/token", data=REFRESH)
    assert (await call(client, "GET", f"{url}/__sandbox__/state"))[1]["tokens"]["issued"] == 0


def test_runs_standalone() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectors.zoho_books.sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert f"http://127.0.0.1:{port}" in proc.stdout.readline()

        async def probe() -> dict[str, Any]:
            async with aiohttp.ClientSession() as session:
                for _ in range(50):
                    try:
                        async with session.get(
                            f"http://127.0.0.1:{port}/__sandbox__/state"
                        ) as resp:
                            body: dict[str, Any] = await resp.json()
                            return body
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
            raise AssertionError("the sandbox did not start")

        assert asyncio.run(probe())["organization_id"] == "60012345678"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_mounted_under_a_prefix_like_hub_sandbox(client: aiohttp.ClientSession) -> None:
    root = web.Application()
    root.add_subapp("/zoho_books", create_sandbox_app())
    async with serve(root) as base:
        url = f"{base}/zoho_books"
        status, body, _ = await call(client, "POST", f"{url}/oauth/v2/token", data=REFRESH)
        assert status == 200 and body["api_domain"] == url
        auth = {"Authorization": f"Zoho-oauthtoken {body['access_token']}"}
        fault = {"path": "/books/v3/contacts", "method": "GET", "status": 500}
        assert (await call(client, "POST", f"{url}/__sandbox__/faults", json=fault))[0] == 200
        contacts = f"{url}/books/v3/contacts"
        assert (await call(client, "GET", contacts, headers=auth, params=ORG))[0] == 500
        assert (await call(client, "GET", contacts, headers=auth, params=ORG))[0] == 200
        state = (await call(client, "GET", f"{url}/__sandbox__/state"))[1]
        assert state["requests"]["by_route"] == {
            "POST /oauth/v2/token": 1,
            "GET /books/v3/contacts": 2,
        }
