"""``ZohoCrmSession``: one CRM connection's shared state, an OAuth token cache (``ZohoOAuth``).

The token logic (cached, refreshed ahead of expiry, single-flight, one refresh
and retry on a 401) is Zoho-wide and lives in ``connectors.zoho_books.auth``;
this session only points it at the connection's accounts server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from connectors.zoho_books.auth import ZohoOAuth
from hub.connector import ConnectorConfig, ConnectorSession
from hub.errors import ConfigError
from hub.http import HttpClient, Response
from hub.limits import Budget
from hub.shared import LocalState, SharedState

from .config import ZohoCrmConfig

__all__ = ["ZohoCrmSession"]

Clock = Callable[[], float]


class ZohoCrmSession(ConnectorSession):
    """Per-connection state: every action of one CRM connection shares one cached token.

    Args:
        config: a ``ZohoCrmConfig``.
        connection: the connection's name.
        http: the connection's client, based at ``config.api_base()``.
        clock: monotonic seconds for token expiry (tests pass a fake one).
    """

    config: ZohoCrmConfig

    def __init__(
        self,
        config: ConnectorConfig,
        connection: str,
        http: HttpClient,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        if not isinstance(config, ZohoCrmConfig):
            raise ConfigError(
                f"connection {connection!r}: ZohoCrmSession needs a ZohoCrmConfig, "
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
        # Credits are the CRM organization's; the config names no organization, so the
        # connection stands for it. Counted here until the hub shares its state.
        self.budget = Budget(
            f"zoho_crm:{connection}", LocalState(clock), per_day=config.daily_api_credits
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> Response:
        """One CRM API call within the org's credits, token attached; a 401 is refreshed and retried once."""
        assert self.budget is not None
        await self.budget.take(1, f"Zoho CRM connection {self.connection}")
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return await self.oauth.call(
            method, path, params=query or None, json_body=json_body, timeout=self.config.timeout
        )

    def share(self, state: SharedState) -> None:
        """Spend the credits and cache the token in the hub's shared state."""
        super().share(state)
        self.oauth.share(state)

    async def close(self) -> None:
        """Forget the token: nothing else to release (the hub owns the HTTP client)."""
        self.oauth.forget()
