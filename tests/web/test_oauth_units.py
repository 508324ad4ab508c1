"""``hub.oauth`` without a network: authorize URLs per data centre, state handling, PKCE, errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.salesforce import connector as salesforce
from connectors.salesforce.config import SalesforceConfig
from connectors.zoho_books import connector as books
from connectors.zoho_books.config import ACCOUNTS_SERVERS, ZohoBooksConfig
from connectors.zoho_crm import connector as crm
from connectors.zoho_desk import connector as desk
from hub.oauth import (
    MAX_PENDING,
    AuthorizationStates,
    OAuthApp,
    OAuthError,
    authorization_url,
    callback_error,
    pkce_challenge,
    pkce_verifier,
)

REDIRECT = "https://hub.example.com/oauth/callback"


def _zoho(**overrides: Any) -> ZohoBooksConfig:
    values: dict[str, Any] = {
        "organization_id": "600",
        "client_id": "1000.ABC",
        "client_secret": "s3cret",
        "refresh_token": "1000.old",
        **overrides,
    }
    return ZohoBooksConfig.model_validate(values)


def _sf(**overrides: Any) -> SalesforceConfig:
    values: dict[str, Any] = {
        "client_id": "3MVG9abc",
        "client_secret": "s3cret",
        "refresh_token": "5Aep",
        **overrides,
    }
    return SalesforceConfig.model_validate(values)


def _app(connector: Any) -> OAuthApp:
    app = connector.oauth
    assert isinstance(app, OAuthApp)
    return app


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize("dc", sorted(ACCOUNTS_SERVERS))
def test_zoho_authorize_url_is_on_the_data_centres_accounts_server(dc: str) -> None:
    app = _app(books)
    url = authorization_url(
        app, app.client(_zoho(data_centre=dc)), redirect_uri=REDIRECT, state="st"
    )
    assert url.startswith(f"{ACCOUNTS_SERVERS[dc]}/oauth/v2/auth?")
    q = _query(url)
    assert q == {
        "response_type": "code",
        "client_id": "1000.ABC",
        "redirect_uri": REDIRECT,
        "scope": ",".join(app.scopes),
        "state": "st",
        "access_type": "offline",
        "prompt": "consent",
    }
    assert "s3cret" not in url and "1000.old" not in url


def test_zoho_products_ask_for_their_own_scopes_and_the_override_wins() -> None:
    assert "ZohoBooks.customerpayments.CREATE" in _app(books).scopes
    assert _app(crm).scopes == ("ZohoCRM.modules.ALL", "ZohoSearch.securesearch.READ")
    assert "Desk.tickets.CREATE" in _app(desk).scopes
    app = _app(books)
    client = app.client(_zoho(accounts_url="http://127.0.0.1:9/zoho_books/"))
    assert client.authorize_url == "http://127.0.0.1:9/zoho_books/oauth/v2/auth"
    assert client.token_url == "http://127.0.0.1:9/zoho_books/oauth/v2/token"


def test_salesforce_authorize_url_uses_the_login_host_and_pkce() -> None:
    app = _app(salesforce)
    assert app.pkce
    verifier = pkce_verifier()
    for login in ("https://login.salesforce.com", "https://test.salesforce.com/"):
        client = app.client(_sf(login_url=login))
        url = authorization_url(
            app, client, redirect_uri=REDIRECT, state="st", code_verifier=verifier
        )
        assert url.startswith(f"{login.rstrip('/')}/services/oauth2/authorize?")
        assert client.token_url == f"{login.rstrip('/')}/services/oauth2/token"
        q = _query(url)
        assert q["scope"] == "api refresh_token"
        assert q["code_challenge"] == pkce_challenge(verifier)
        assert q["code_challenge_method"] == "S256"
        assert verifier not in url
    with pytest.raises(ValueError, match="PKCE"):
        authorization_url(app, client, redirect_uri=REDIRECT, state="st")


def test_pkce_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    fresh = {pkce_verifier() for _ in range(20)}
    assert len(fresh) == 20 and all(43 <= len(v) <= 128 for v in fresh)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _issue(states: AuthorizationStates, **kw: Any) -> str:
    args: dict[str, Any] = {
        "connection": "books",
        "user": "alice",
        "browser_nonce": "sid-1",
        "redirect_uri": REDIRECT,
        "pkce": False,
        **kw,
    }
    return states.issue(**args).state


def test_state_is_random_and_single_use() -> None:
    states = AuthorizationStates()
    first, second = _issue(states), _issue(states)
    assert first != second and len(first) >= 43
    pending = states.take(first, user="alice", browser_nonce="sid-1")
    assert pending.connection == "books" and pending.redirect_uri == REDIRECT
    assert pending.code_verifier is None
    with pytest.raises(OAuthError) as replay:
        states.take(first, user="alice", browser_nonce="sid-1")
    assert replay.value.code == "state_unknown"
    assert states.take(second, user="alice", browser_nonce="sid-1").state == second


def test_state_expires_after_ten_minutes() -> None:
    clock = Clock()
    states = AuthorizationStates(clock=clock)
    fresh, stale = _issue(states), _issue(states)
    clock.now += 599
    assert states.take(fresh, user="alice", browser_nonce="sid-1")
    clock.now += 2
    with pytest.raises(OAuthError, match="10 minutes") as expired:
        states.take(stale, user="alice", browser_nonce="sid-1")
    assert expired.value.code == "state_expired"


@pytest.mark.parametrize(("user", "nonce"), [("mallory", "sid-1"), ("alice", "sid-2")])
def test_state_is_bound_to_the_user_and_the_session(user: str, nonce: str) -> None:
    states = AuthorizationStates()
    state = _issue(states)
    with pytest.raises(OAuthError) as refused:
        states.take(state, user=user, browser_nonce=nonce)
    assert refused.value.code == "state_mismatch" and refused.value.status == 403
    # A refused attempt spends it too: a leaked state cannot be retried.
    with pytest.raises(OAuthError, match="already used"):
        states.take(state, user="alice", browser_nonce="sid-1")


def test_pending_authorizations_are_bounded_and_purged() -> None:
    clock = Clock()
    states = AuthorizationStates(clock=clock)
    _issue(states)
    clock.now += 601
    _issue(states)
    assert len(states) == 1  # the expired one went
    for _ in range(MAX_PENDING + 5):
        _issue(states)
    assert len(states) == MAX_PENDING


def test_pkce_verifier_is_kept_server_side() -> None:
    states = AuthorizationStates()
    pending = states.issue(
        connection="sf", user="alice", browser_nonce="n", redirect_uri=REDIRECT, pkce=True
    )
    assert pending.code_verifier and pending.code_verifier not in pending.state


def test_zoho_callback_follows_the_users_data_centre() -> None:
    app = _app(books)
    plan = app.resolve_callback(
        _zoho(data_centre="in"), {"location": "eu", "accounts-server": "https://accounts.zoho.eu"}
    )
    assert plan.token_url == "https://accounts.zoho.eu/oauth/v2/token"
    assert plan.config_patch == {"data_centre": "eu"}
    same = app.resolve_callback(_zoho(), {"accounts-server": "https://accounts.zoho.in"})
    assert same.token_url == "https://accounts.zoho.in/oauth/v2/token" and same.config_patch == {}
    none = app.resolve_callback(_zoho(data_centre="com"), {})
    assert none.token_url == "https://accounts.zoho.com/oauth/v2/token"


def test_zoho_callback_never_sends_the_secret_to_a_server_it_names() -> None:
    app = _app(books)
    with pytest.raises(OAuthError) as refused:
        app.resolve_callback(_zoho(), {"accounts-server": "https://accounts.zoho.evil.example"})
    assert refused.value.code == "untrusted_accounts_server"
    # With an accounts_url override (the sandbox, a proxy) the override is always used.
    pinned = app.resolve_callback(
        _zoho(accounts_url="http://127.0.0.1:9"), {"accounts-server": "https://elsewhere"}
    )
    assert pinned.token_url == "http://127.0.0.1:9/oauth/v2/token" and pinned.config_patch == {}


def test_callback_errors_say_what_to_do() -> None:
    zoho = _app(books)
    denied = callback_error(zoho, "access_denied")
    assert "denied" in str(denied) and "Nothing was changed" in str(denied)
    uri = callback_error(_app(salesforce), "redirect_uri_mismatch", "must match", REDIRECT)
    assert REDIRECT in str(uri) and "Callback URL" in str(uri) and "must match" in str(uri)
    odd = callback_error(zoho, "<script>", "x" * 500)
    assert odd.code == "unrecognised_error" and "<script>" not in str(odd)
    assert len(str(odd)) < 400
