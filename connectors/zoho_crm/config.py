"""The settings of one Zoho CRM connection (org, data centre, OAuth client, hub-key fields).

The data-centre tables and the OAuth model are Zoho-wide, so they come from the
Books connector's config; only what is CRM-specific lives here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.zoho_books.config import ACCOUNTS_SERVERS, API_DOMAINS, DataCentre
from hub.connector import ConnectorConfig
from hub.secrets import Secret

__all__ = ["API_NAME_PATTERN", "Trigger", "ZohoCrmConfig"]

Trigger = Literal["workflow", "approval", "blueprint"]
# A field or module API name as Zoho shows it (Settings → Developer Hub → APIs).
API_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,99}$"


class ZohoCrmConfig(ConnectorConfig):
    """Settings for one Zoho CRM organization reached through a Self Client or OAuth app."""

    data_centre: DataCentre = Field(
        default="in",
        description=(
            "Zoho data centre of the organization: the domain suffix of the Zoho login URL "
            "(in, com, eu, com.au, jp, ca, sa, com.cn, uk)."
        ),
    )
    accounts_url: str | None = Field(
        default=None,
        description=(
            "Override of the accounts (OAuth) server, e.g. the sandbox's URL; "
            "default: the data centre's, e.g. https://accounts.zoho.in."
        ),
    )
    api_domain: str | None = Field(
        default=None,
        description=(
            "Override of the API domain (the token response's api_domain), e.g. the sandbox's "
            "URL; default: the data centre's www.zohoapis host (CRM refuses any other host)."
        ),
    )
    client_id: str = Field(
        description="OAuth client ID from api-console.zoho.<dc>, e.g. 1000.XXXX."
    )
    client_secret: Secret = Field(description="OAuth client secret of that client.")
    refresh_token: Secret | None = Field(
        default=None,
        description=(
            "Long-lived refresh token (access_type=offline) with ZohoCRM.modules.ALL "
            "and ZohoSearch.securesearch.READ. Leave it empty and press Connect on the "
            "connection's page in the dashboard to get one; until then the connection is not "
            "connected and its steps fail saying so."
        ),
    )
    deal_key_field: str = Field(
        default="Hub_Key",
        pattern=API_NAME_PATTERN,
        description=(
            "API name of a single-line custom field on Deals with 'Do not allow duplicate "
            "values' ticked; create_deal stores the step's idempotency key there and upserts on it."
        ),
    )
    triggers: list[Trigger] | None = Field(
        default=None,
        description=(
            "Automation to run on writes (workflow, approval, blueprint); an empty list runs "
            "none; default: Zoho's default for API writes."
        ),
    )
    timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds to wait for one Zoho answer before treating the call as failed.",
    )
    daily_api_credits: int | None = Field(
        default=None,
        ge=1,
        description=(
            "The org's API credits per rolling 24 h (Standard 50,000 + 250 per user, "
            "Enterprise 50,000 + 1,000 per user, ...); None: not tracked. Steps wait for "
            "budget instead of failing; ops see use and an alert at 80%."
        ),
    )

    def accounts_base(self) -> str:
        """The accounts server to refresh tokens at, without a trailing slash."""
        return (self.accounts_url or ACCOUNTS_SERVERS[self.data_centre]).rstrip("/")

    def api_base(self) -> str:
        """The API domain (CRM paths are ``/crm/v7/...`` under it), without a trailing slash."""
        return (self.api_domain or API_DOMAINS[self.data_centre]).rstrip("/")
