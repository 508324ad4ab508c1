"""Salesforce OAuth 2.0 refresh-token flow: a cached, single-flight access token per connection.

Why it looks like this: Salesforce access tokens (session IDs) do not say when
they expire (the token response has ``issued_at`` but no ``expires_in``); they
die after the org's session timeout of inactivity, or when revoked. So:

- the token is cached and refreshed *ahead* of a configurable lifetime
  (``session_lifetime``, default 2 h, the default org session timeout), so
  requests rarely need to fail first;
- a 401 (``INVALID_SESSION_ID``) triggers one refresh and one retry: a 401
  means Salesforce did not process the request, so the retry is safe;
- refreshes are single-flight: 50 concurrent actions cause one token request,
  and waiters behind a failed refresh fail the same way instead of each asking
  again; under ``engine: celery`` the token (with its ``instance_url``) is
  shared through Redis (``hub.tokens``), so N workers make one request too.

The API base is the token response's ``instance_url`` (unless the config
overrides it). Tokens and secrets never appear in messages or logs:
``HttpClient`` redacts the form body and the token response in the attempt
log, and errors built here name only Salesforce's error code.
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
from hub.oauth import not_connected_error
from hub.secrets import Secret
from hub.shared import SharedState
from hub.tokens import Grant, TokenGate, secret_tag

from .config import SalesforceConfig

__all__ = ["ApiUsage", "SalesforceOAuth", "SalesforceSession", "parse_limit_info"]

Clock = Callable[[], float]

_SAFE_CODE = re.compile(r"^[A-Za-z0-9_ .-]{1,60}$")
_API_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
# Token-endpoint errors that mean "the client is misconfigured" rather than "re-consent".
_CLIENT_ERRORS = frozenset({"invalid_client_id", "invalid_client", "unauthorized_client"})

ApiUsage = tuple[int, int]


def _error_code(value: object) -> str:
    """Salesforce's error code, if it looks like one (never echo arbitrary vendor text)."""
    text = str(value)
    return text if _SAFE_CODE.match(text) else "unrecognised error"


def parse_limit_info(headers: Mapping[str, str]) -> ApiUsage | None:
    """``(used, limit)`` from ``Sforce-Limit-Info: api-usage=18/15000``, if present."""
    match = _API_USAGE.search(headers.get("Sforce-Limit-Info", ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


class SalesforceOAuth:
    """Access tokens for one Salesforce refresh token, refreshed ahead of time, one at a time.

    Args:
        http: the connection's client; the token endpoint is called by absolute URL.
        token_url: ``{login or My Domain}/services/oauth2/token``.
        client_id: the connected app's consumer key.
        client_secret: its consumer secret.
        refresh_token: the integration user's refresh token; ``None`` while the connection is
            not connected yet (every call then fails with an ``AuthError`` saying to press Connect).
        instance_url: API base override; ``None`` uses the token response's ``instance_url``.
        session_lifetime: seconds a token is trusted (no expiry is reported by Salesforce).
        refresh_margin: refresh this many seconds before ``session_lifetime`` runs out
            (capped at half of it).
        clock: seconds on a monotonic scale (injectable so tests can age tokens).
        timeout: per-request timeout in seconds (``None``: the client's default).
        state: the hub's shared state, where the token is cached for every process
            (``None``: this object only; ``share`` sets it later).
    """

    def __init__(
        self,
        http: HttpClient,
        *,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        refresh_token: Secret | None,
        instance_url: str | None = None,
        session_lifetime: float = 7200.0,
        refresh_margin: float = 300.0,
        clock: Clock = time.monotonic,
        timeout: float | None = None,
        state: SharedState | None = None,
    ) -> None:
        self.http = http
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._instance_override = instance_url.rstrip("/") if instance_url else None
        self.session_lifetime = session_lifetime
        self.refresh_margin = min(refresh_margin, session_lifetime / 2)
        self.clock = clock
        self.timeout = timeout
        self.refreshes = 0
        self.api_usage: ApiUsage | None = None
        tag = secret_tag(refresh_token) if refresh_token is not None else "not-connected"
        key = f"salesforce:{token_url}:{client_id}:{tag}"
        self.gate = TokenGate(key, self._exchange, clock=clock, state=state)

    @property
    def instance_url(self) -> str | None:
        """The API base: the override, else the latest token response's ``instance_url``."""
        grant = self.gate.grant
        return self._instance_override or (grant.extra.get("instance_url") if grant else None)

    def share(self, state: SharedState) -> None:
        """Cache tokens in ``state`` from now on, so every process uses one token."""
        self.gate.state = state

    def forget(self) -> None:
        """Drop this process's cached token, so the next call looks again."""
        self.gate.forget()

    async def access_token(self) -> str:
        """A token still inside its trusted lifetime; refreshes (once, for all callers) if not.

        Raises:
            AuthError: the connection is not connected yet (no refresh token), or
                Salesforce refused the refresh token or the client (re-authorize).
            RateLimitError, TransientError: the login host is limited, failing or slow.
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
            raise not_connected_error("Salesforce")

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
    ) -> Response:
        """One API request with the token; on a 401, refresh once and retry once.

        ``path`` is relative to the instance (``/services/data/...``) or absolute.
        The response is returned as is (the caller maps its status); only the
        token errors of ``access_token`` are raised here.
        """
        token = await self.access_token()
        resp = await self._send(method, path, token, params, json_body, timeout)
        if resp.status != 401:
            return resp
        token = await self.refresh(stale=token)
        return await self._send(method, path, token, params, json_body, timeout)

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        timeout: float | None,
    ) -> Response:
        base = self.instance_url
        url = path if path.startswith(("http://", "https://")) or not base else f"{base}{path}"
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        resp = await self.http.request(
            method,
            url,
            params=params,
            json_body=json_body,
            headers=headers,
            timeout=timeout or self.timeout,
        )
        usage = parse_limit_info(resp.headers)
        if usage is not None:
            self.api_usage = usage
        return resp

    async def _exchange(self) -> Grant:
        """Ask Salesforce for a new access token (the gate calls this, one at a time)."""
        if self._refresh_token is None:  # the gate is only reached after the check above
            raise not_connected_error("Salesforce")
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self._client_secret.reveal(),
            "refresh_token": self._refresh_token.reveal(),
            "format": "json",
        }
        resp = await self.http.request(
            "POST",
            self.token_url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=self.timeout,
        )
        self.refreshes += 1
        body = _json_or_none(resp)
        if isinstance(body, dict) and body.get("error"):
            self._raise_token_error(resp, body)
        raise_for_status(resp)  # 5xx → TransientError, 429 → RateLimitError, 4xx → Permanent
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise TransientError(
                f"POST {self.token_url} answered {resp.status} without an access_token; "
                "the Salesforce login host may be degraded, try again later",
                resp.status,
            )
        assert isinstance(body, dict)
        instance = body.get("instance_url")
        extra = (
            {"instance_url": instance.rstrip("/")} if isinstance(instance, str) and instance else {}
        )
        if self._instance_override is None and not extra:
            raise PermanentError(
                "Salesforce's token response named no instance_url; set instance_url in the "
                "connection config",
                resp.status,
            )
        return Grant(token, self.session_lifetime - self.refresh_margin, extra)

    def _raise_token_error(self, resp: Response, body: dict[str, Any]) -> None:
        """Map the token endpoint's ``{"error", "error_description"}`` by consequence."""
        error = str(body.get("error", ""))
        code = _error_code(error)
        detail = f"error={code}"
        if resp.status == 429:
            raise RateLimitError(
                f"Salesforce's login host is rate limiting token requests ({code}); try later",
                resp.status,
                detail,
                retry_after=retry_after_seconds(resp.headers),
            )
        if resp.status >= 500:
            raise TransientError(
                f"Salesforce's login host failed ({resp.status}, {code}); try again later",
                resp.status,
                detail,
            )
        if error in _CLIENT_ERRORS:
            raise AuthError(
                f"re-authorize the connection: Salesforce refused the connected app ({code}); "
                "check client_id, client_secret and login_url (production vs test.salesforce.com)",
                resp.status,
                detail,
            )
        raise AuthError(
            f"re-authorize the connection: Salesforce refused the refresh token ({code}); it was "
            "revoked, expired under the connected app's refresh token policy, or belongs to "
            "another login host",
            resp.status,
            detail,
        )


def _json_or_none(resp: Response) -> Any:
    try:
        return resp.json()
    except PermanentError:
        return None


class SalesforceSession(ConnectorSession):
    """One Salesforce connection's shared state: its ``SalesforceOAuth`` and API paths.

    The hub creates one per connection, so every action of that connection
    (and every concurrent run) shares one cached token.

    Args:
        config: a ``SalesforceConfig``.
        connection: the connection's name.
        http: the connection's client.
        clock: monotonic seconds for the token's trusted lifetime (tests pass a fake one).
    """

    config: SalesforceConfig

    def __init__(
        self,
        config: ConnectorConfig,
        connection: str,
        http: HttpClient,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        if not isinstance(config, SalesforceConfig):
            raise ConfigError(
                f"connection {connection!r}: SalesforceSession needs a SalesforceConfig, "
                f"got {type(config).__name__}"
            )
        super().__init__(config, connection, http)
        self.oauth = SalesforceOAuth(
            http,
            token_url=config.token_url(),
            client_id=config.client_id,
            client_secret=config.client_secret,
            refresh_token=config.refresh_token,
            instance_url=config.instance_url,
            session_lifetime=config.session_lifetime,
            clock=clock,
            timeout=config.timeout,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> Response:
        """One REST call on the instance: token attached, a 401 refreshed and retried once."""
        return await self.oauth.call(
            method, path, params=params, json_body=json_body, timeout=self.config.timeout
        )

    def share(self, state: SharedState) -> None:
        """Cache the token in the hub's shared state (Salesforce keeps no budget here)."""
        super().share(state)
        self.oauth.share(state)

    async def close(self) -> None:
        """Forget the token: nothing else to release (the hub owns the HTTP client)."""
        self.oauth.forget()
