"""The Zoho Desk connection's session: the shared ``ZohoOAuth``, Desk's ``orgId`` header, credits.

OAuth is Zoho's generic refresh-token flow (``connectors.zoho_books.auth.ZohoOAuth``:
cached, refreshed ahead of expiry, single-flight, one refresh and retry on a 401).
Desk adds one rule (reference/zoho.md §5): every call but ``/organizations``
carries the portal's ``orgId`` header.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any

from connectors.zoho_books.auth import ZohoOAuth
from hub.connector import ConnectorConfig, ConnectorSession
from hub.errors import ConfigError
from hub.http import HttpClient, Response
from hub.limits import Budget
from hub.shared import LocalState, SharedState

from .config import ZohoDeskConfig

__all__ = ["WallClock", "ZohoDeskSession", "utc_now"]

WallClock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC (the default wall clock)."""
    return dt.datetime.now(dt.UTC)


class ZohoDeskSession(ConnectorSession):
    """One Desk connection's shared state: its ``ZohoOAuth`` and the portal's request shape.

    Args:
        config: a ``ZohoDeskConfig``.
        connection: the connection's name.
        http: the connection's client, based at ``config.api_base()``.
        clock: monotonic seconds for token expiry (tests pass a fake one).
        now: the wall clock that dates a chat message without ``received_at``
            (tests pass a fake one to step past the conversation window).
    """

    config: ZohoDeskConfig

    def __init__(
        self,
        config: ConnectorConfig,
        connection: str,
        http: HttpClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: WallClock = utc_now,
    ) -> None:
        if not isinstance(config, ZohoDeskConfig):
            raise ConfigError(
                f"connection {connection!r}: ZohoDeskSession needs a ZohoDeskConfig, "
                f"got {type(config).__name__}"
            )
        super().__init__(config, connection, http)
        self.now = now
        self.oauth = ZohoOAuth(
            http,
            accounts_url=config.accounts_base(),
            client_id=config.client_id,
            client_secret=config.client_secret,
            refresh_token=config.refresh_token,
            clock=clock,
            timeout=config.timeout,
        )
        # Desk documents daily credits, not a per-minute rate (reference/zoho.md §5).
        # Credits are the portal's, shared by every connection to it and every worker
        # process once the hub shares its state (``share``).
        self.budget = Budget(
            f"zoho_desk:{config.org_id}", LocalState(clock), per_day=config.daily_api_credits
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> Response:
        """One Desk API call: credit taken, ``orgId`` header added, token attached, 401 retried once.

        Every call counts one credit here; Desk charges heavier calls more (UNCONFIRMED how much).
        """
        assert self.budget is not None
        await self.budget.take(1, f"Zoho Desk portal {self.config.org_id}")
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return await self.oauth.call(
            method,
            path,
            params=query or None,
            json_body=json_body,
            headers={"orgId": self.config.org_id},
            timeout=self.config.timeout,
        )

    def share(self, state: SharedState) -> None:
        """Spend the credits and cache the token in the hub's shared state."""
        super().share(state)
        self.oauth.share(state)

    async def close(self) -> None:
        """Forget the token: nothing else to release (the hub owns the HTTP client)."""
        self.oauth.forget()
