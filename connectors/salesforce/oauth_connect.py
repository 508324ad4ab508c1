"""Salesforce's OAuth 2.0 web server flow for the dashboard's Connect button.

The browser goes to ``{login_url}/services/oauth2/authorize`` (the login
host: login.salesforce.com, test.salesforce.com for sandbox orgs, or the
org's My Domain), and the code is swapped at ``{login_url}/services/oauth2/token``
with the consumer secret and the PKCE ``code_verifier`` (Salesforce
recommends PKCE with the web server flow). The ``refresh_token`` scope is what
makes Salesforce return a refresh token; ``api`` is what the actions need.
The token response's ``instance_url`` is not stored: every refresh answers it
again (``SalesforceOAuth``).
"""

from __future__ import annotations

from typing import Any

from hub.oauth import OAuthApp, OAuthClient

from .config import SalesforceConfig

__all__ = ["SALESFORCE_SCOPES", "salesforce_oauth_app"]

SALESFORCE_SCOPES = ("api", "refresh_token")


def _client(config: Any) -> OAuthClient:
    assert isinstance(config, SalesforceConfig)
    return OAuthClient(
        authorize_url=f"{config.login_url.rstrip('/')}/services/oauth2/authorize",
        token_url=config.token_url(),
        client_id=config.client_id,
        client_secret=config.client_secret,
    )


def salesforce_oauth_app() -> OAuthApp:
    """The Connect flow of a Salesforce connection (PKCE, scopes ``api refresh_token``)."""
    return OAuthApp(
        vendor="Salesforce",
        client=_client,
        scopes=SALESFORCE_SCOPES,
        pkce=True,
        console=(
            "the connected app (Setup → App Manager → your app → Edit: Callback URL, "
            "Selected OAuth Scopes)"
        ),
        code_lifetime="15 minutes",
        refresh_token_hint=(
            "Add 'Perform requests at any time (refresh_token, offline_access)' to the "
            "connected app's Selected OAuth Scopes, then connect again."
        ),
    )
