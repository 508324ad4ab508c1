"""Zoho OAuth 2.0 for server-to-server calls: a cached, single-flight access token.

``ZohoOAuth`` is written for any Zoho product (Books, CRM, Desk share the
accounts servers and the ``Zoho-oauthtoken`` header); ``ZohoBooksSession`` is
the Books connection's per-connection state that owns one.

Why it looks like this (reference/zoho.md §2): an access token lives one hour,
and one refresh token may mint only 10 access tokens per 10 minutes before
Zoho blocks it for the rest of the window. So the token is cached, refreshed
*ahead* of expiry (no request ever needs to fail first), and refreshed by one
task at a time: 50 concurrent actions cause one refresh, not 50. Under
``engine: celery`` the hub shares the token through Redis (``hub.tokens``):
one worker refreshes, the others wait and use its token. A 401 from the API
(token revoked or expired early) drops the shared copy and triggers one
refresh and one retry.

The Books budget (Zoho's per-minute limit and daily calls) is the
organization's, so it is keyed by ``organization_id``: two connections to one
organization, and every worker process, spend from the same budget.

Tokens and secrets never appear in messages or logs: ``HttpClient`` redacts the
form body and the token response in the attempt log, and errors built here
name only Zoho's error code.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from hub.connector import ConnectorConfig, ConnectorSession
from hub.errors import (
    AuthError,
    ConfigError,
    PermanentError,
    RateLimitError,
    TransientError,
)
from hub.http import HttpClient, Response, raise_for_status, retry_after_seconds
from hub.limits import Budget
from hub.oauth import not_connected_error
from hub.secrets import Secret
from hub.shared import LocalState, SharedState
from hub.tokens import Grant, TokenGate, secret_tag

from .config import ZohoBooksConfig

__all__ = ["ZohoBooksSession", "ZohoOAuth"]

Clock = Callable[[], float]

# Zoho blocks a refresh token for the rest of its 10-minute window once it has
# minted 10 access tokens; a minute is the shortest wait worth suggesting.
ACCESS_DENIED_RETRY_AFTER = 60.0
_CLIENT_ERRORS = frozenset({"invalid_client", "invalid_client_secret", "unauthorized_client"})
_SAFE_CODE = re.compile(r"^[A-Za-z0-9_ .-]{1,60}$")


def _error_code(value: object) -> str:
    """Zoho's error code, if it looks like one (never echo arbitrary vendor text)."""
    text = str(value)
    return text if _SAFE_CODE.match(text) else "unrecognised error"


class ZohoOAuth:
    """Access tokens for one Zoho refresh token, refreshed ahead of expiry, one refresh at a time.

    Args:
        http: the connection's client; the token endpoint is called by absolute URL.
        accounts_url: the accounts server of the connection's data centre.
        client_id: the OAuth client's ID.
        client_secret: the OAuth client's secret.
        refresh_token: the long-lived refresh token; ``None`` while the connection is not
            connected yet (every call then fails with an ``AuthError`` saying to press Connect).
        clock: seconds on a monotonic scale (injectable so tests can age tokens).
        refresh_margin: refresh this many seconds before ``expires_in`` runs out
            (capped at half the token's lifetime, so short-lived tokens stay usable).
        timeout: per-request timeout in seconds (``None``: the client's default).
        state: the hub's shared state, where the token is cached for every process
            (``None``: this object only; ``share`` sets it later).
    """

    def __init__(
        self,
        http: HttpClient,
        *,
        accounts_url: str,
        client_id: str,
        client_secret: Secret,
        refresh_token: Secret | None,
        clock: Clock = time.monotonic,
        refresh_margin: float = 300.0,
        timeout: float | None = None,
        state: SharedState | None = None,
    ) -> None:
        self.http = http
        self.accounts_url = accounts_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self.clock = clock
        self.refresh_margin = refresh_margin
        self.timeout = timeout
        self.refreshes = 0
        # One refresh token's tokens are one pot, whichever product or connection uses it:
        # Zoho counts the 10-per-10-minutes limit per refresh token.
        tag = secret_tag(refresh_token) if refresh_token is not None else "not-connected"
        key = f"zoho:{self.accounts_url}:{client_id}:{tag}"
        self.gate = TokenGate(key, self._exchange, clock=clock, state=state)

    @property
    def token_url(self) -> str:
        """Where refresh tokens are exchanged."""
        return f"{self.accounts_url}/oauth/v2/token"

    @property
    def api_domain(self) -> str | None:
        """The ``api_domain`` of the latest token response, if it named one."""
        grant = self.gate.grant
        return grant.extra.get("api_domain") if grant is not None else None

    @property
    def _token(self) -> str | None:
        """The token in use (tests check it never reaches a log)."""
        grant = self.gate.grant
        return grant.token if grant is not None else None

    def share(self, state: SharedState) -> None:
        """Cache tokens in ``state`` from now on, so every process uses one token."""
        self.gate.state = state

    def forget(self) -> None:
        """Drop this process's cached token, so the next call looks again."""
        self.gate.forget()

    async def access_token(self) -> str:
        """A token good for at least the refresh margin; refreshes (once, for all callers) if not.

        Raises:
            AuthError: the connection is not connected yet (no refresh token), or Zoho
                refused the refresh token or the client (re-authorize).
            RateLimitError: Zoho's token-minting limit is hit.
            TransientError: the accounts server failed or timed out.
        """
        self._require_refresh_token()
        return (await self.gate.get()).token

    async def refresh(self, stale: str | None = None) -> str:
        """Replace ``stale`` (a token the API refused), unless another task or process already did."""
        self._require_refresh_token()
        return (await self.gate.replace(stale)).token

    def _require_refresh_token(self) -> None:
        """Fail before any request when there is nothing to exchange (Connect not pressed yet)."""
        if self._refresh_token is None:
            raise not_connected_error("Zoho")

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send one API request with the token; on a 401, refresh once and retry once.

        The retry is safe: a 401 means Zoho did not process the request. The
        response is returned as is (the caller maps its status); only the
        token errors above are raised here.
        """
        token = await self.access_token()
        resp = await self._send(method, path, token, params, json_body, headers, timeout)
        if resp.status != 401:
            return resp
        token = await self.refresh(stale=token)
        return await self._send(method, path, token, params, json_body, headers, timeout)

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> Response:
        sent = {**(headers or {}), "Authorization": f"Zoho-oauthtoken {token}"}
        return await self.http.request(
            method,
            path,
            params=params,
            json_body=json_body,
            headers=sent,
            timeout=timeout or self.timeout,
        )

    async def _exchange(self) -> Grant:
        """Ask Zoho for a new access token (the gate calls this, one at a time)."""
        if self._refresh_token is None:  # the gate is only reached after the check above
            raise not_connected_error("Zoho")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token.reveal(),
            "client_id": self.client_id,
            "client_secret": self._client_secret.reveal(),
        }
        resp = await self.http.request("POST", self.token_url, data=form, timeout=self.timeout)
        self.refreshes += 1
        body = _json_or_none(resp)
        if isinstance(body, dict) and body.get("error"):
            self._raise_token_error(resp, body)
        raise_for_status(resp)  # 5xx → TransientError, 429 → RateLimitError, 4xx → Permanent
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise TransientError(
                f"POST {self.token_url} answered {resp.status} without an access_token; "
                "Zoho's accounts server may be degraded, try again later",
                resp.status,
            )
        assert isinstance(body, dict)
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        margin = min(self.refresh_margin, lifetime / 2)
        domain = body.get("api_domain")
        extra = {"api_domain": domain} if isinstance(domain, str) else {}
        return Grant(token, lifetime - margin, extra)

    def _raise_token_error(self, resp: Response, body: dict[str, Any]) -> None:
        """Map Zoho's token-endpoint errors (often with HTTP 200 or 400) by consequence."""
        error = str(body.get("error", ""))
        code = _error_code(error)
        detail = f"error={code}"
        if error.lower() == "access denied" or resp.status == 429:
            raise RateLimitError(
                "Zoho refused to mint another access token (Access Denied: too many token "
                "requests for this refresh token); wait for the 10-minute window to pass",
                resp.status,
                detail,
                retry_after=retry_after_seconds(resp.headers) or ACCESS_DENIED_RETRY_AFTER,
            )
        if resp.status >= 500:
            raise TransientError(
                f"Zoho's accounts server failed ({resp.status}, {code}); try again later",
                resp.status,
                detail,
            )
        if error in _CLIENT_ERRORS:
            raise AuthError(
                f"re-authorize the connection: Zoho refused the OAuth client ({code}); "
                "check client_id, client_secret and the data centre",
                resp.status,
                detail,
            )
        raise AuthError(
            f"re-authorize the connection: Zoho refused the refresh token ({code})",
            resp.status,
            detail,
        )


def _json_or_none(resp: Response) -> Any:
    try:
        return resp.json()
    except PermanentError:
        return None


class ZohoBooksSession(ConnectorSession):
    """One Books connection's shared state: its ``ZohoOAuth`` and the organization's request shape.

    The hub creates one per connection, so every action of that connection
    (and every concurrent run) shares one cached token.

    Args:
        config: a ``ZohoBooksConfig``.
        connection: the connection's name.
        http: the connection's client, based at ``config.api_base()``.
        clock: monotonic seconds for token expiry (tests pass a fake one).
    """

    config: ZohoBooksConfig

    def __init__(
        self,
        config: ConnectorConfig,
        connection: str,
        http: HttpClient,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        if not isinstance(config, ZohoBooksConfig):
            raise ConfigError(
                f"connection {connection!r}: ZohoBooksSession needs a ZohoBooksConfig, "
                f"got {type(config).__name__}"
            )
        super().__init__(config, connection, http)
        self.oauth = ZohoOAuth(
            http,
            accounts_url=config.accounts_base(),
            client_id=config.client_id,
            client_secret=config.client_secret,
            refresh_token=config.refresh_token,
            clock=clock,
            timeout=config.timeout,
        )
        # Counted in this process until the hub shares its state (``share``).
        self.budget = Budget(
            f"zoho_books:{config.organization_id}",
            LocalState(clock),
            per_minute=config.requests_per_minute,
            per_day=config.daily_api_calls,
        )
        # Books tax name -> tax_id, from GET /settings/taxes (taxes rarely change;
        # the config's ``tax_ids`` overrides it). None: not fetched yet.
        self.tax_ids: dict[str, str] | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> Response:
        """One Books API call: within the org's budget, ``organization_id`` added,
        token attached, 401 retried once."""
        assert self.budget is not None
        await self.budget.take(1, f"Zoho Books organization {self.config.organization_id}")
        query = {k: v for k, v in (params or {}).items() if v is not None}
        query["organization_id"] = self.config.organization_id
        return await self.oauth.call(
            method, path, params=query, json_body=json_body, timeout=self.config.timeout
        )

    def share(self, state: SharedState) -> None:
        """Spend the organization's budget and cache the token in the hub's shared state."""
        super().share(state)
        self.oauth.share(state)

    async def close(self) -> None:
        """Forget the token: nothing else to release (the hub owns the HTTP client)."""
        self.oauth.forget()
