"""The settings of one Zoho Desk portal connection, and the Desk API root per data centre.

OAuth is the same as every Zoho product (the accounts server of the portal's
data centre, reused from ``connectors.zoho_books``); Desk's API lives on its
own host (``desk.zoho.<dc>/api/v1``), not on ``www.zohoapis.<dc>``. Both can be
overridden, which is how the hub points a connection at the local sandbox.
"""

from __future__ import annotations

from pydantic import Field

from connectors.zoho_books.config import ACCOUNTS_SERVERS, DataCentre
from hub.connector import ConnectorConfig
from hub.secrets import Secret

__all__ = ["DESK_API_ROOTS", "ZohoDeskConfig"]

# Desk API roots (reference/zoho.md §1). Only com and eu are confirmed; the
# others follow the pattern (UNCONFIRMED); Canada follows its accounts host.
DESK_API_ROOTS: dict[str, str] = {
    "in": "https://desk.zoho.in/api/v1",
    "com": "https://desk.zoho.com/api/v1",
    "eu": "https://desk.zoho.eu/api/v1",
    "com.au": "https://desk.zoho.com.au/api/v1",
    "jp": "https://desk.zoho.jp/api/v1",
    "ca": "https://desk.zohocloud.ca/api/v1",
    "sa": "https://desk.zoho.sa/api/v1",
    "com.cn": "https://desk.zoho.com.cn/api/v1",
    "uk": "https://desk.zoho.uk/api/v1",
}


class ZohoDeskConfig(ConnectorConfig):
    """Settings for one Zoho Desk portal reached through a Self Client or OAuth app."""

    data_centre: DataCentre = Field(
        default="in",
        description=(
            "Zoho data centre of the portal: the domain suffix of the Zoho login URL "
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
    api_url: str | None = Field(
        default=None,
        description=(
            "Override of the Desk API root including /api/v1, e.g. http://127.0.0.1:8091/api/v1; "
            "default: the data centre's, e.g. https://desk.zoho.in/api/v1."
        ),
    )
    org_id: str = Field(
        min_length=1,
        description="Desk portal organization ID (Setup → Developer Space → API), sent as orgId.",
    )
    department_id: str | None = Field(
        default=None,
        description="Department new tickets go to when a step gives none (Desk requires one).",
    )
    client_id: str = Field(
        description="OAuth client ID from api-console.zoho.<dc>, e.g. 1000.XXXX."
    )
    client_secret: Secret = Field(description="OAuth client secret of that client.")
    refresh_token: Secret | None = Field(
        default=None,
        description=(
            "Long-lived refresh token (access_type=offline) with Desk.tickets.CREATE, "
            "Desk.tickets.UPDATE, Desk.contacts.CREATE, Desk.search.READ (and READ) scopes. "
            "Leave it empty and press Connect on the connection's page in the dashboard to get "
            "one; until then the connection is not connected and its steps fail saying so."
        ),
    )
    thread_window_hours: float = Field(
        default=24.0,
        gt=0,
        description=(
            "Chat conversations (thread keys like whatsapp:<phone>) continue an open ticket "
            "only if its last activity is at most this many hours before the message."
        ),
    )
    thread_field: str = Field(
        default="cf_hub_thread",
        pattern=r"^cf_[A-Za-z0-9_]+$",
        description=(
            "API name of a single-line ticket custom field holding the conversation key "
            "(create it in Desk: Setup → Customization → Layouts and Fields)."
        ),
    )
    key_field: str = Field(
        default="cf_hub_key",
        pattern=r"^cf_[A-Za-z0-9_]+$",
        description=(
            "API name of a single-line ticket custom field holding the hub's idempotency key "
            "of the step that created the ticket (searched before creating)."
        ),
    )
    whatsapp_channel: str = Field(
        default="Chat",
        description=(
            "Desk channel recorded for WhatsApp tickets: Chat by default, or the name of a "
            "custom channel configured in the portal (e.g. WhatsApp)."
        ),
    )
    daily_api_credits: int | None = Field(
        default=None,
        ge=1,
        description=(
            "The portal's daily API credits (Free 5000; Express 25000 + 100/agent; Standard "
            "50000 + 250/agent; Professional 75000 + 500/agent; Enterprise 100000 + 1000/agent); "
            "None: not tracked. Steps wait for budget instead of failing."
        ),
    )
    timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds to wait for one Zoho answer before treating the call as failed.",
    )

    def accounts_base(self) -> str:
        """The accounts server to refresh tokens at, without a trailing slash."""
        return (self.accounts_url or ACCOUNTS_SERVERS[self.data_centre]).rstrip("/")

    def api_base(self) -> str:
        """The Desk API root (paths are ``/tickets``, ``/contacts`` under it), no trailing slash."""
        return (self.api_url or DESK_API_ROOTS[self.data_centre]).rstrip("/")
