"""The Salesforce sandbox's web server flow: "Allow Access?" page, code grant, PKCE.

Driven like a browser and the hub would: the authorize URL is built by the
connector's ``OAuthApp``, the code swapped with ``hub.oauth.exchange_code``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from connectors.salesforce.config import SalesforceConfig
from connectors.salesforce.oauth_connect import salesforce_oauth_app
from connectors.salesforce.sandbox import SandboxState, create_sandbox_app
from hub.http import HttpClient
from hub.oauth import OAuthError, authorization_url, exchange_code, pkce_verifier
from hub.sandbox import serve
from tests.connectors.zoho_books.test_oauth_sandbox import REDIRECT, decide

APP = salesforce_oauth_app()


@pytest.fixture
async def org() -> AsyncIterator[tuple[str, SandboxState]]:
    state = SandboxState()
    async with serve(create_sandbox_app(state)) as url:
        yield url, state


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    async with HttpClient(timeout=5.0) as http:
        yield http


def _config(url: str) -> SalesforceConfig:
    state = SandboxState()
    return SalesforceConfig(
        login_url=url,
        client_id=state.client_id,
        client_secret=state.client_secret,  # type: ignore[arg-type]
        refresh_token="5Aep861old",  # type: ignore[arg-type]
    )


async def _swap(
    client: HttpClient, url: str, code: str, verifier: str | None, redirect: str = REDIRECT
) -> str:
    grant = await exchange_code(
        client,
        APP,
        APP.client(_config(url)),
        token_url=f"{url}/services/oauth2/token",
        code=code,
        redirect_uri=redirect,
        code_verifier=verifier,
    )
    assert grant.details["instance_url"] == url
    return grant.refresh_token.reveal()


async def test_allow_with_pkce_gives_a_refresh_token_that_refreshes(
    org: tuple[str, SandboxState], http: aiohttp.ClientSession, client: HttpClient
) -> None:
    url, state = org
    verifier = pkce_verifier()
    authorize = authorization_url(
        APP, APP.client(_config(url)), redirect_uri=REDIRECT, state="st", code_verifier=verifier
    )
    assert authorize.startswith(f"{url}/services/oauth2/authorize?")
    status, query, _ = await decide(http, authorize, "accept")
    assert status == 302 and query["state"] == ["st"]
    refresh = await _swap(client, url, query["code"][0], verifier)
    assert refresh in state.refresh_tokens
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "client_id": state.client_id,
        "client_secret": state.client_secret,
    }
    resp = await client.request("POST", f"{url}/services/oauth2/token", data=form)
    assert resp.status == 200 and resp.json()["instance_url"] == url


async def test_deny_sends_access_denied_back(
    org: tuple[str, SandboxState], http: aiohttp.ClientSession
) -> None:
    url, _ = org
    authorize = authorization_url(
        APP, APP.client(_config(url)), redirect_uri=REDIRECT, state="st", code_verifier="v" * 43
    )
    _, query, _ = await decide(http, authorize, "deny")
    assert query == {
        "error": ["access_denied"],
        "error_description": ["end-user denied authorization"],
        "state": ["st"],
    }


@pytest.mark.parametrize(
    ("verifier", "error"),
    [(None, "invalid_grant"), ("not-the-verifier-" + "x" * 30, "invalid_request")],
)
async def test_pkce_must_be_proved(
    org: tuple[str, SandboxState],
    http: aiohttp.ClientSession,
    client: HttpClient,
    verifier: str | None,
    error: str,
) -> None:
    url, _ = org
    authorize = authorization_url(
        APP,
        APP.client(_config(url)),
        redirect_uri=REDIRECT,
        state="st",
        code_verifier=pkce_verifier(),
    )
    _, query, _ = await decide(http, authorize, "accept")
    with pytest.raises(OAuthError) as refused:
        await _swap(client, url, query["code"][0], verifier)
    assert refused.value.code == error


async def test_code_lives_15_minutes_once_for_its_redirect_uri(
    org: tuple[str, SandboxState], http: aiohttp.ClientSession, client: HttpClient
) -> None:
    url, state = org
    now = [0.0]
    state.clock = lambda: now[0]
    verifier = pkce_verifier()
    authorize = authorization_url(
        APP, APP.client(_config(url)), redirect_uri=REDIRECT, state="st", code_verifier=verifier
    )
    _, first, _ = await decide(http, authorize, "accept")
    _, second, _ = await decide(http, authorize, "accept")
    with pytest.raises(OAuthError) as mismatch:
        await _swap(client, url, first["code"][0], verifier, redirect="http://127.0.0.1:9/x")
    assert mismatch.value.code == "redirect_uri_mismatch"
    assert "Callback URL" in str(mismatch.value)
    with pytest.raises(OAuthError) as spent:
        await _swap(client, url, first["code"][0], verifier)
    assert spent.value.code == "invalid_grant"
    now[0] += 15 * 60 + 1
    with pytest.raises(OAuthError, match="expired authorization code") as expired:
        await _swap(client, url, second["code"][0], verifier)
    assert "15 minutes" in str(expired.value)


async def test_without_the_refresh_token_scope_no_refresh_token(
    org: tuple[str, SandboxState], http: aiohttp.ClientSession, client: HttpClient
) -> None:
    url, _ = org
    verifier = pkce_verifier()
    authorize = authorization_url(
        APP, APP.client(_config(url)), redirect_uri=REDIRECT, state="st", code_verifier=verifier
    ).replace("scope=api+refresh_token", "scope=api")
    _, query, _ = await decide(http, authorize, "accept")
    with pytest.raises(OAuthError, match="Selected OAuth Scopes") as none:
        await _swap(client, url, query["code"][0], verifier)
    assert none.value.code == "no_refresh_token"


async def test_unknown_client_and_unregistered_callback_get_salesforces_error_page(
    http: aiohttp.ClientSession,
) -> None:
    state = SandboxState()
    state.consent.callback_urls = ("https://hub.example/oauth/callback",)
    async with serve(create_sandbox_app(state)) as url:
        authorize = authorization_url(
            APP, APP.client(_config(url)), redirect_uri=REDIRECT, state="s", code_verifier="v" * 43
        )
        status, _, body = await decide(http, authorize, "accept")
        assert status == 400 and "redirect_uri_mismatch" in body
        unknown = authorize.replace("client_id=3MVG9", "client_id=3MVGX")
        async with http.get(unknown) as resp:
            assert resp.status == 400 and "invalid_client_id" in await resp.text()
