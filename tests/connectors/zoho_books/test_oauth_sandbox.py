"""The Zoho sandboxes' consent page and authorization-code grant (Books, CRM and Desk share them).

Each test drives the sandbox like a browser and a hub would: GET the consent
page, submit its form (Accept or Deny), follow Zoho's redirect parameters, and
swap the code with ``hub.oauth.exchange_code`` (the hub's real client code).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
import pytest
from aiohttp import web

from connectors.zoho_books.config import ZohoBooksConfig
from connectors.zoho_books.oauth_connect import BOOKS_SCOPES, zoho_oauth_app
from connectors.zoho_books.sandbox import SandboxState as BooksState
from connectors.zoho_books.sandbox import create_sandbox_app as books_app
from connectors.zoho_crm.sandbox import SandboxState as CrmState
from connectors.zoho_crm.sandbox import create_sandbox_app as crm_app
from connectors.zoho_desk.sandbox import SandboxState as DeskState
from connectors.zoho_desk.sandbox import create_sandbox_app as desk_app
from hub.http import HttpClient
from hub.oauth import OAuthError, authorization_url, exchange_code
from hub.sandbox import serve
from hub.secrets import Secret

REDIRECT = "http://127.0.0.1:9/oauth/callback"


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("name"):
            self.buttons[a["value"]] = a.get("id", "")


def consent_form(page_url: str, text: str) -> tuple[str, dict[str, str]]:
    """The consent page's form: (absolute action URL, hidden fields)."""
    form = _Form()
    form.feed(text)
    assert {"accept", "deny"} <= set(form.buttons), "the page has Accept/Allow and Deny buttons"
    return urljoin(page_url, form.action), form.fields


async def decide(
    http: aiohttp.ClientSession, authorize: str, decision: str
) -> tuple[int, dict[str, list[str]], str]:
    """Open the consent page at ``authorize``, press a button; (status, redirect query, body)."""
    async with http.get(authorize) as resp:
        text = await resp.text()
        if resp.status != 200:
            return resp.status, {}, text
        action, fields = consent_form(str(resp.url), text)
    form = {**fields, "decision": decision}
    async with http.post(action, data=form, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        location = resp.headers["Location"]
    assert location.startswith(REDIRECT.split("?")[0])
    return 302, parse_qs(urlsplit(location).query), ""


SANDBOXES: dict[str, tuple[Callable[[], Any], Callable[[Any], web.Application]]] = {
    "books": (BooksState, books_app),
    "crm": (CrmState, crm_app),
    "desk": (DeskState, desk_app),
}


@pytest.fixture(params=sorted(SANDBOXES))
async def zoho(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Any]]:
    make_state, make_app = SANDBOXES[request.param]
    state = make_state()
    async with serve(make_app(state)) as url:
        yield url, state


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    async with HttpClient(timeout=5.0) as http:
        yield http


def _config(url: str) -> ZohoBooksConfig:
    return ZohoBooksConfig(
        accounts_url=url,
        api_domain=url,
        organization_id="60012345678",
        client_id="1000.SANDBOX",
        client_secret="sandbox-secret",  # type: ignore[arg-type]
        refresh_token="1000.old",  # type: ignore[arg-type]
    )


async def _authorize(url: str, state: str = "s-1") -> str:
    app = zoho_oauth_app(BOOKS_SCOPES)
    return authorization_url(app, app.client(_config(url)), redirect_uri=REDIRECT, state=state)


async def test_accept_issues_a_code_that_swaps_for_a_working_refresh_token(
    zoho: tuple[str, Any], http: aiohttp.ClientSession, client: HttpClient
) -> None:
    url, state = zoho
    status, query, _ = await decide(http, await _authorize(url), "accept")
    assert status == 302
    assert query["state"] == ["s-1"]
    assert query["location"] == ["in"] and query["accounts-server"] == [url]
    app = zoho_oauth_app(BOOKS_SCOPES)
    config = _config(url)
    grant = await exchange_code(
        client,
        app,
        app.client(config),
        token_url=f"{url}/oauth/v2/token",
        code=query["code"][0],
        redirect_uri=REDIRECT,
    )
    assert grant.refresh_token.reveal().startswith("1000.")
    assert "api_domain" in grant.details and "access_token" not in grant.details
    # The new refresh token works for later refresh grants.
    form = {
        "grant_type": "refresh_token",
        "refresh_token": grant.refresh_token.reveal(),
        "client_id": "1000.SANDBOX",
        "client_secret": "sandbox-secret",
    }
    resp = await client.request("POST", f"{url}/oauth/v2/token", data=form)
    assert "access_token" in resp.json()
    assert state.consent.granted == 1


async def test_deny_redirects_with_access_denied(
    zoho: tuple[str, Any], http: aiohttp.ClientSession
) -> None:
    url, state = zoho
    status, query, _ = await decide(http, await _authorize(url), "deny")
    assert status == 302
    assert query == {"error": ["access_denied"], "state": ["s-1"]}
    assert state.consent.codes == {}


async def test_code_is_single_use_and_bound_to_its_redirect_uri(
    zoho: tuple[str, Any], http: aiohttp.ClientSession, client: HttpClient
) -> None:
    url, _ = zoho
    app = zoho_oauth_app(BOOKS_SCOPES)
    oauth_client = app.client(_config(url))
    token_url = f"{url}/oauth/v2/token"

    _, query, _ = await decide(http, await _authorize(url), "accept")
    with pytest.raises(OAuthError) as wrong_uri:
        await exchange_code(
            client,
            app,
            oauth_client,
            token_url=token_url,
            code=query["code"][0],
            redirect_uri="http://127.0.0.1:9/elsewhere",
        )
    assert wrong_uri.value.code == "invalid_redirect_uri"
    assert "http://127.0.0.1:9/elsewhere" in str(wrong_uri.value)
    assert "Authorized Redirect URIs" in str(wrong_uri.value)
    # That attempt spent the code: the right redirect URI is too late now.
    with pytest.raises(OAuthError) as spent:
        await exchange_code(
            client,
            app,
            oauth_client,
            token_url=token_url,
            code=query["code"][0],
            redirect_uri=REDIRECT,
        )
    assert spent.value.code == "invalid_code"
    assert "work once" in str(spent.value)


async def test_code_expires_after_two_minutes(
    zoho: tuple[str, Any], http: aiohttp.ClientSession, client: HttpClient
) -> None:
    url, state = zoho
    now = [1000.0]
    state.clock = lambda: now[0]
    _, query, _ = await decide(http, await _authorize(url), "accept")
    now[0] += 121
    app = zoho_oauth_app(BOOKS_SCOPES)
    with pytest.raises(OAuthError, match="expire after 2 minutes") as expired:
        await exchange_code(
            client,
            app,
            app.client(_config(url)),
            token_url=f"{url}/oauth/v2/token",
            code=query["code"][0],
            redirect_uri=REDIRECT,
        )
    assert expired.value.code == "invalid_code"


async def test_online_access_returns_no_refresh_token(
    zoho: tuple[str, Any], http: aiohttp.ClientSession, client: HttpClient
) -> None:
    url, _ = zoho
    authorize = (await _authorize(url)).replace("access_type=offline", "access_type=online")
    _, query, _ = await decide(http, authorize, "accept")
    app = zoho_oauth_app(BOOKS_SCOPES)
    with pytest.raises(OAuthError, match="Connected Apps") as none:
        await exchange_code(
            client,
            app,
            app.client(_config(url)),
            token_url=f"{url}/oauth/v2/token",
            code=query["code"][0],
            redirect_uri=REDIRECT,
        )
    assert none.value.code == "no_refresh_token"


async def test_wrong_client_secret_is_explained(
    zoho: tuple[str, Any], http: aiohttp.ClientSession, client: HttpClient
) -> None:
    url, _ = zoho
    _, query, _ = await decide(http, await _authorize(url), "accept")
    app = zoho_oauth_app(BOOKS_SCOPES)
    bad = _config(url).model_copy(update={"client_secret": Secret("nope")})
    with pytest.raises(OAuthError, match="client_id and client_secret") as refused:
        await exchange_code(
            client,
            app,
            app.client(bad),
            token_url=f"{url}/oauth/v2/token",
            code=query["code"][0],
            redirect_uri=REDIRECT,
        )
    assert refused.value.code == "invalid_client_secret"


async def test_unknown_client_or_unregistered_redirect_uri_get_zohos_error_page(
    http: aiohttp.ClientSession,
) -> None:
    state = BooksState()
    async with serve(books_app(state)) as url:
        async with http.post(
            f"{url}/__sandbox__/settings", json={"redirect_uris": ["https://hub.example/cb"]}
        ) as resp:
            assert (await resp.json())["redirect_uris"] == ["https://hub.example/cb"]
        status, query, body = await decide(http, await _authorize(url), "accept")
        assert status == 400 and query == {}
        assert "Invalid Redirect Uri" in body
        unknown = (await _authorize(url)).replace("client_id=1000.SANDBOX", "client_id=1000.X")
        async with http.get(unknown) as resp:
            assert resp.status == 400 and "Invalid Client" in await resp.text()
        # The registered one is accepted.
        good = (await _authorize(url)).replace(
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Foauth%2Fcallback",
            "redirect_uri=https%3A%2F%2Fhub.example%2Fcb",
        )
        async with http.get(good) as resp:
            assert resp.status == 200 and "ZohoBooks.invoices.CREATE" in await resp.text()


async def test_consent_page_escapes_what_it_echoes(http: aiohttp.ClientSession) -> None:
    async with serve(books_app(BooksState())) as url:
        authorize = (await _authorize(url, state="\"'><script>x</script>")).replace(
            "scope=", "scope=%3Cb%3Ebold%3C%2Fb%3E,"
        )
        async with http.get(authorize) as resp:
            text = await resp.text()
        assert "<script>" not in text and "<b>bold" not in text
        _, fields = consent_form(url, text)
        assert fields["state"] == "\"'><script>x</script>"
