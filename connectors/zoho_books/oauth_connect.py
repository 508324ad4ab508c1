"""Zoho's authorization-code flow for the dashboard's Connect button, shared by Books, CRM and Desk.

Every Zoho product authorizes at the accounts server of the organization's
data centre (``{accounts}/oauth/v2/auth``, scopes joined by commas) and
swaps the code at ``{accounts}/oauth/v2/token``; a refresh token is returned
only with ``access_type=offline``, and ``prompt=consent`` makes Zoho ask
again (and issue a new one) when the user consented before.

Multi-DC (zoho.com/accounts/protocol/oauth/multi-dc/client-authorization.html):
the callback names the user's data centre (``location=eu`` and
``accounts-server=https://accounts.zoho.eu``), and the code must be swapped
there. That parameter comes through the browser, so the hub only believes it
when it is one of Zoho's known accounts servers: the client secret is never
sent to a host a crafted callback names. The connection's ``data_centre``
then follows the user's, since the refresh token works only there. A
connection with an ``accounts_url`` override (the sandbox, a proxy) always
uses the override.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from hub.oauth import Callback, OAuthApp, OAuthClient, OAuthError
from hub.secrets import Secret

from .config import ACCOUNTS_SERVERS

__all__ = ["BOOKS_SCOPES", "zoho_oauth_app"]

# What the Books actions call: contacts, invoices, customer payments (and their
# refunds), tax settings, and journals (the "accountants" scope in Books' API docs).
BOOKS_SCOPES = (
    "ZohoBooks.contacts.CREATE",
    "ZohoBooks.contacts.READ",
    "ZohoBooks.invoices.CREATE",
    "ZohoBooks.invoices.READ",
    "ZohoBooks.customerpayments.CREATE",
    "ZohoBooks.customerpayments.READ",
    "ZohoBooks.settings.READ",
    "ZohoBooks.accountants.CREATE",
    "ZohoBooks.accountants.READ",
)

_CONSOLE = (
    "the Zoho API console (api-console.zoho.<dc>: your Server-based Application → "
    "Authorized Redirect URIs)"
)
_NO_REFRESH = (
    "Zoho returns one only with access_type=offline on a fresh consent: remove the hub "
    "under Zoho Accounts → Connected Apps, then connect again."
)


class ZohoClientConfig(Protocol):
    """What the flow needs of a Zoho connection's config (Books, CRM and Desk all have it)."""

    @property
    def data_centre(self) -> str: ...
    @property
    def accounts_url(self) -> str | None: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> Secret: ...
    def accounts_base(self) -> str: ...


def _client(config: Any) -> OAuthClient:
    cfg: ZohoClientConfig = config
    base = cfg.accounts_base()
    return OAuthClient(
        authorize_url=f"{base}/oauth/v2/auth",
        token_url=f"{base}/oauth/v2/token",
        client_id=cfg.client_id,
        client_secret=cfg.client_secret,
    )


def _callback(config: Any, client: OAuthClient, params: Mapping[str, str]) -> Callback:
    """Swap the code at the user's data centre, and move the connection there."""
    cfg: ZohoClientConfig = config
    server = params.get("accounts-server", "").rstrip("/")
    if cfg.accounts_url or not server:
        return Callback(client.token_url)
    centre = next((dc for dc, url in ACCOUNTS_SERVERS.items() if url == server), None)
    if centre is None:
        raise OAuthError(
            f"The callback named {server!r} as the Zoho accounts server, which is not one of "
            "Zoho's data centres, so the hub did not send it the client secret. Nothing was "
            "changed; click Connect again.",
            "untrusted_accounts_server",
        )
    patch: dict[str, Any] = {} if centre == cfg.data_centre else {"data_centre": centre}
    return Callback(f"{server}/oauth/v2/token", patch)


def zoho_oauth_app(scopes: tuple[str, ...]) -> OAuthApp:
    """The Connect flow of a Zoho product that needs ``scopes``."""
    return OAuthApp(
        vendor="Zoho",
        client=_client,
        scopes=scopes,
        scope_separator=",",
        extra_params={"access_type": "offline", "prompt": "consent"},
        callback=_callback,
        console=_CONSOLE,
        code_lifetime="2 minutes",
        refresh_token_hint=_NO_REFRESH,
    )
