"""The OAuth 2.0 authorization-code flow that gives a connection its refresh token (the Connect button).

A connector that supports it declares an ``OAuthApp`` (``Connector.oauth``):
how to build its client (authorize and token URLs, client ID and secret) from
a connection's config, the scopes to ask for, the vendor's extra parameters
(Zoho's ``access_type=offline`` and ``prompt=consent``), whether to use PKCE
(Salesforce), and how to read the callback (Zoho names the user's data centre
there). The dashboard (``hub.web.oauth``) drives the flow with the pieces here:

1. ``AuthorizationStates.issue``: a random ``state``, single use, bound to the
   dashboard user, their session and the connection, expiring after
   10 minutes (plus a PKCE verifier when the app uses PKCE);
2. ``authorization_url``: where to send the browser;
3. ``AuthorizationStates.take``: the callback's ``state`` checked and spent;
4. ``exchange_code``: the code swapped for tokens server-side, through
   ``HttpClient`` (the client secret never reaches the browser);
5. the refresh token handed to ``Ops`` to be sealed in the store.

Vendor errors (on the callback or from the token endpoint) become an
``OAuthError`` whose message says what to fix. Tokens, codes and the client
secret never appear in messages or logs.

Nothing here does I/O except ``exchange_code``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from hub.errors import AuthError, ConnectorError, HubError, PermanentError
from hub.http import HttpClient, Response
from hub.secrets import Secret

__all__ = [
    "STATE_TTL",
    "AuthorizationStates",
    "Callback",
    "Grant",
    "OAuthApp",
    "OAuthClient",
    "OAuthError",
    "PendingAuthorization",
    "authorization_url",
    "callback_error",
    "exchange_code",
    "not_connected",
    "not_connected_error",
    "not_connected_message",
    "pkce_challenge",
    "pkce_verifier",
]

#: How long a started authorization may take before its ``state`` is refused (seconds).
STATE_TTL = 600.0
#: Pending authorizations kept at most; the oldest are dropped first (bounds memory).
MAX_PENDING = 1000

Clock = Callable[[], float]

_SAFE_CODE = re.compile(r"^[A-Za-z0-9_ .-]{1,60}$")


class OAuthError(HubError):
    """The connect flow failed; the message says what happened and what to do.

    Attributes:
        code: the vendor's error code (``invalid_code``, ``access_denied``, ...)
            or the hub's own (``state_unknown``, ``state_expired``, ...).
        status: the HTTP status the dashboard answers with.
    """

    def __init__(self, message: str, code: str = "oauth_error", status: int = 400) -> None:
        super().__init__(message, code, status)
        self.code = code
        self.status = status

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """One connection's OAuth client: the vendor's endpoints and the registered client."""

    authorize_url: str
    token_url: str
    client_id: str
    client_secret: Secret


@dataclass(frozen=True, slots=True)
class Callback:
    """What a vendor's callback parameters decide: where to swap the code, and config to change.

    Zoho sends the user's data centre back (``location``, ``accounts-server``):
    the code must be exchanged there, and the connection's ``data_centre``
    follows it, since a refresh token works only in the centre that issued it.
    """

    token_url: str
    config_patch: dict[str, Any] = field(default_factory=dict)


def _default_callback(client: OAuthClient, params: Mapping[str, str]) -> Callback:
    return Callback(client.token_url)


@dataclass(frozen=True)
class OAuthApp:
    """A connector's declaration of its vendor's authorization-code flow.

    Attributes:
        vendor: the name people know (``Zoho``, ``Salesforce``), used in messages.
        client: builds the ``OAuthClient`` from a connection's config.
        scopes: what to ask for; the refresh token's rights.
        scope_separator: how the vendor joins scopes (Zoho: ``,``; OAuth's default: space).
        extra_params: more authorize-URL parameters (Zoho: ``access_type=offline``).
        pkce: send an S256 ``code_challenge`` and prove it with ``code_verifier``.
        callback: reads the callback's parameters (default: the client's token URL, no change).
        refresh_token_field: the config field the refresh token is stored in.
        console: where the client is registered, for "add the redirect URI there" hints.
        code_lifetime: how long the vendor's codes live, in words, for error messages.
        refresh_token_hint: what to do when the vendor grants access without a refresh token.
    """

    vendor: str
    client: Callable[[Any], OAuthClient]
    scopes: tuple[str, ...]
    scope_separator: str = " "
    extra_params: Mapping[str, str] = field(default_factory=dict)
    pkce: bool = False
    callback: Callable[[Any, OAuthClient, Mapping[str, str]], Callback] | None = None
    refresh_token_field: str = "refresh_token"
    console: str = "the vendor's developer console"
    code_lifetime: str = "a few minutes"
    refresh_token_hint: str = (
        "Check that the client may be granted offline access, then connect again."
    )

    def resolve_callback(self, config: Any, params: Mapping[str, str]) -> Callback:
        """The token URL and config changes for this callback.

        Raises:
            OAuthError: the callback names a server the hub will not send the client secret to.
        """
        client = self.client(config)
        if self.callback is None:
            return _default_callback(client, params)
        return self.callback(config, client, params)


# --- not connected yet ----------------------------------------------------------------------


def not_connected_message(vendor: str) -> str:
    """Why a connection without a refresh token cannot call ``vendor``, and what to do.

    The same words are the connection's re-auth reason in the dashboard, the API
    and ``hub connections list``, and the message of the ``AuthError`` its steps fail with.
    """
    return (
        f"not connected: press Connect on the connection's page in the dashboard to authorize "
        f"{vendor} (no refresh token is stored yet)"
    )


def not_connected(app: OAuthApp | None, config: Any) -> str | None:
    """``not_connected_message`` if ``config`` (a config model or its raw or sealed dict)
    has no refresh token for ``app`` yet; None when it has one or the connector has no Connect flow.

    A Zoho or Salesforce connection may be saved before its Connect button is pressed
    (the refresh token is what Connect obtains), so an empty token means "not yet", not "invalid".
    """
    if app is None:
        return None
    field_name = app.refresh_token_field
    value = (
        config.get(field_name) if isinstance(config, Mapping) else getattr(config, field_name, None)
    )
    return None if value else not_connected_message(app.vendor)


def not_connected_error(vendor: str) -> AuthError:
    """The ``AuthError`` a step against a connection without a refresh token fails with.

    An ``AuthError`` because it is one in effect: the runner dead-letters the step
    (no retries until someone acts) and flags the connection for re-authorization.
    """
    return AuthError(not_connected_message(vendor))


# --- PKCE (RFC 7636) ----------------------------------------------------------------------


def pkce_verifier() -> str:
    """A fresh ``code_verifier``: 64 random bytes, base64url (86 characters, within 43..128)."""
    return secrets.token_urlsafe(64)


def pkce_challenge(verifier: str) -> str:
    """The S256 ``code_challenge`` of ``verifier``: base64url(SHA-256), no padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- the authorize URL --------------------------------------------------------------------


def authorization_url(
    app: OAuthApp,
    client: OAuthClient,
    *,
    redirect_uri: str,
    state: str,
    code_verifier: str | None = None,
) -> str:
    """Where to send the browser: the vendor's consent page for this client and these scopes."""
    params: dict[str, str] = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": app.scope_separator.join(app.scopes),
        "state": state,
        **app.extra_params,
    }
    if app.pkce:
        if code_verifier is None:
            raise ValueError(f"{app.vendor} uses PKCE: pass the code_verifier")
        params["code_challenge"] = pkce_challenge(code_verifier)
        params["code_challenge_method"] = "S256"
    sep = "&" if urlsplit(client.authorize_url).query else "?"
    return f"{client.authorize_url}{sep}{urlencode(params)}"


# --- state: random, single use, bound, expiring --------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """One started authorization, kept server side until its callback (or expiry).

    ``browser`` is a hash of a value only the starting browser holds (the
    dashboard passes its session id, kept in an encrypted cookie): a ``state``
    that leaks (logs, screenshots, a shared link) is useless in another session.
    """

    state: str
    connection: str
    user: str
    browser: str
    redirect_uri: str
    created_at: float
    code_verifier: str | None = None

    def matches_browser(self, nonce: str) -> bool:
        return hmac.compare_digest(self.browser, _digest(nonce))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class AuthorizationStates:
    """Pending authorizations of one hub process, by ``state`` (in memory).

    A state is spent by its first ``take``, whatever the outcome, so a
    replayed callback is refused. In memory means one process: a callback must
    reach the ``hub serve`` that started the flow (sticky sessions behind a
    load balancer), and a restart in between asks the user to click Connect again.
    """

    def __init__(self, ttl: float = STATE_TTL, clock: Clock = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._pending: dict[str, PendingAuthorization] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def issue(
        self,
        *,
        connection: str,
        user: str,
        browser_nonce: str,
        redirect_uri: str,
        pkce: bool,
    ) -> PendingAuthorization:
        """A new pending authorization with a 256-bit random ``state``."""
        self._purge()
        pending = PendingAuthorization(
            state=secrets.token_urlsafe(32),
            connection=connection,
            user=user,
            browser=_digest(browser_nonce),
            redirect_uri=redirect_uri,
            created_at=self.clock(),
            code_verifier=pkce_verifier() if pkce else None,
        )
        self._pending[pending.state] = pending
        return pending

    def take(self, state: str, *, user: str, browser_nonce: str) -> PendingAuthorization:
        """Spend ``state``: its pending authorization, if live and this user's in this session.

        Raises:
            OAuthError: ``state_unknown`` (never issued, or already used),
                ``state_expired``, or ``state_mismatch`` (another user or browser).
        """
        pending = self._pending.pop(state, None)
        if pending is None:
            raise OAuthError(
                "This authorization link is unknown or was already used (each works once). "
                "Nothing was changed; start again with Connect on the connection's page.",
                "state_unknown",
            )
        age = self.clock() - pending.created_at
        if age > self.ttl:
            raise OAuthError(
                f"This authorization took longer than {self.ttl / 60:g} minutes and expired. "
                "Nothing was changed; start again with Connect on the connection's page.",
                "state_expired",
            )
        if pending.user != user or not pending.matches_browser(browser_nonce):
            raise OAuthError(
                "This authorization was started by another user or in another browser, "
                "so it cannot be finished here. Nothing was changed.",
                "state_mismatch",
                403,
            )
        return pending

    def _purge(self) -> None:
        now = self.clock()
        for key in [k for k, p in self._pending.items() if now - p.created_at > self.ttl]:
            del self._pending[key]
        while len(self._pending) >= MAX_PENDING:
            del self._pending[next(iter(self._pending))]  # dicts keep insertion order


# --- vendor errors -------------------------------------------------------------------------


def _code(value: object) -> str:
    """A vendor's error code if it looks like one (never echo arbitrary text as a code)."""
    text = str(value)
    return text if _SAFE_CODE.match(text) else "unrecognised_error"


def _description(value: object) -> str:
    """The vendor's error description, short and on one line (it is shown to the admin)."""
    text = " ".join(str(value or "").split())
    return text[:200]


def callback_error(
    app: OAuthApp, error: str, description: str | None = None, redirect_uri: str = ""
) -> OAuthError:
    """The ``OAuthError`` for a callback that came back with ``error=...`` instead of a code."""
    return _vendor_error(app, _code(error), _description(description), redirect_uri, "callback")


def _vendor_error(
    app: OAuthApp, code: str, description: str, redirect_uri: str, where: str
) -> OAuthError:
    v = app.vendor
    said = f" ({v} said: {description})" if description else ""
    lowered = code.lower()
    if lowered == "access_denied":
        return OAuthError(
            f"Access was denied on {v}'s consent page{said}. Nothing was changed; "
            "click Connect again and choose Accept to connect.",
            code,
        )
    if lowered in ("invalid_redirect_uri", "redirect_uri_mismatch"):
        return OAuthError(
            f"{v} refused the redirect URI {redirect_uri}{said}. Register exactly this URI "
            f"for the client in {app.console}, or set public_url in hub.yaml to the address "
            "that is registered.",
            code,
        )
    if lowered in (
        "invalid_client",
        "invalid_client_id",
        "invalid_client_secret",
        "unauthorized_client",
    ):
        return OAuthError(
            f"{v} refused the OAuth client ({code}){said}. Check the connection's client_id "
            f"and client_secret against {app.console}"
            + (" and its data centre." if v == "Zoho" else "."),
            code,
        )
    if lowered in ("invalid_code", "invalid_grant") and where == "token":
        return OAuthError(
            f"{v} refused the authorization code ({code}){said}: codes work once and expire "
            f"after {app.code_lifetime}. Nothing was changed; click Connect again.",
            code,
        )
    if lowered == "invalid_scope":
        return OAuthError(
            f"{v} refused the requested scopes ({' '.join(app.scopes)}){said}. Allow them "
            f"for the client in {app.console}.",
            code,
        )
    step = "the consent step" if where == "callback" else "the code exchange"
    return OAuthError(f"{v} refused {step} with error {code}{said}.", code)


# --- the code exchange ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grant:
    """What the token endpoint granted: the refresh token (never shown) and harmless details.

    ``details`` keeps only non-secret fields (``scope``, ``api_domain``,
    ``instance_url``) for the audit log and the success message.
    """

    refresh_token: Secret
    details: dict[str, str]


_DETAILS = ("scope", "api_domain", "instance_url", "token_type")


async def exchange_code(
    http: HttpClient,
    app: OAuthApp,
    client: OAuthClient,
    *,
    token_url: str,
    code: str,
    redirect_uri: str,
    code_verifier: str | None = None,
    timeout: float | None = None,
) -> Grant:
    """Swap an authorization ``code`` for tokens at ``token_url`` (form POST, server side).

    Raises:
        OAuthError: the vendor refused (its code and what to do), answered
            without a refresh token, or could not be reached.
    """
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client.client_id,
        "client_secret": client.client_secret.reveal(),
        "redirect_uri": redirect_uri,
    }
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    try:
        resp = await http.request(
            "POST",
            token_url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=timeout,
        )
    except ConnectorError as exc:
        raise OAuthError(
            f"Could not reach {app.vendor}'s token endpoint {token_url}: {exc}. "
            "Nothing was changed; try Connect again.",
            "unreachable",
            502,
        ) from exc
    body = _json(resp)
    if isinstance(body, dict) and body.get("error"):
        raise _vendor_error(
            app,
            _code(body["error"]),
            _description(body.get("error_description")),
            redirect_uri,
            "token",
        )
    if resp.status >= 400 or not isinstance(body, dict):
        raise OAuthError(
            f"{app.vendor}'s token endpoint answered {resp.status} without a usable JSON "
            "body. Nothing was changed; try Connect again later.",
            "bad_response",
            502,
        )
    refresh = body.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise OAuthError(
            f"{app.vendor} granted access but returned no refresh token. {app.refresh_token_hint}",
            "no_refresh_token",
            502,
        )
    details = {k: str(body[k]) for k in _DETAILS if isinstance(body.get(k), str)}
    return Grant(Secret(refresh), details)


def _json(resp: Response) -> Any:
    try:
        return resp.json()
    except PermanentError:
        return None
