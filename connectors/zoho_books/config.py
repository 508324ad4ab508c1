"""The settings of one Zoho Books connection, and the data-centre URL table.

Zoho runs separate data centres (DCs); a refresh token is only valid in the DC
that issued it, so the accounts server (OAuth) and the API domain must both
match the organization's DC. Both can be overridden, which is how the hub
points a connection at the local sandbox (or a proxy) instead of Zoho.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.connector import ConnectorConfig
from hub.secrets import Secret

__all__ = ["ACCOUNTS_SERVERS", "API_DOMAINS", "DataCentre", "ZohoBooksConfig"]

DataCentre = Literal["in", "com", "eu", "com.au", "jp", "ca", "sa", "com.cn", "uk"]

# Accounts servers per DC (reference/zoho.md §1). Canada is the odd one out:
# its accounts server lives on zohocloud.ca, while its API domain follows the pattern.
ACCOUNTS_SERVERS: dict[str, str] = {
    "in": "https://accounts.zoho.in",
    "com": "https://accounts.zoho.com",
    "eu": "https://accounts.zoho.eu",
    "com.au": "https://accounts.zoho.com.au",
    "jp": "https://accounts.zoho.jp",
    "ca": "https://accounts.zohocloud.ca",
    "sa": "https://accounts.zoho.sa",
    "com.cn": "https://accounts.zoho.com.cn",
    "uk": "https://accounts.zoho.uk",
}

# API domains per DC: always www.zohoapis.{dc} (the UK entry is unconfirmed upstream).
API_DOMAINS: dict[str, str] = {dc: f"https://www.zohoapis.{dc}" for dc in ACCOUNTS_SERVERS}


class ZohoBooksConfig(ConnectorConfig):
    """Settings for one Zoho Books organization reached through a Self Client or OAuth app."""

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
            "URL; default: the data centre's, e.g. https://www.zohoapis.in."
        ),
    )
    organization_id: str = Field(
        description="Books organization ID (Settings → Organization Profile, GET /organizations)."
    )
    client_id: str = Field(
        description="OAuth client ID from api-console.zoho.<dc>, e.g. 1000.XXXX."
    )
    client_secret: Secret = Field(description="OAuth client secret of that client.")
    refresh_token: Secret | None = Field(
        default=None,
        description=(
            "Long-lived refresh token (access_type=offline) with the ZohoBooks scopes. "
            "Leave it empty and press Connect on the connection's page in the dashboard to get "
            "one; until then the connection is not connected and its steps fail saying so."
        ),
    )
    payment_mode: str = Field(
        default="banktransfer",
        description=(
            "Payment mode used when a step gives none: cash, check, creditcard, banktransfer, "
            "bankremittance, autotransaction, others, or a custom mode defined in Books."
        ),
    )
    deposit_account_id: str | None = Field(
        default=None,
        description=(
            "Books account (bank or cash) that payments are deposited to when a step gives none; "
            "default: the organization's default deposit account."
        ),
    )
    gst_home_state: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description=(
            "Two-letter state code of the organization's GST registration, e.g. KA; "
            "invoices to this place of supply get CGST+SGST, others IGST. Needed by create_invoice."
        ),
    )
    tax_ids: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Books tax IDs by name, e.g. {'GST18': '4600...', 'IGST18': '4600...'}; names not "
            "listed are looked up once per connection via GET /settings/taxes."
        ),
    )
    clearing_account_id: str | None = Field(
        default=None,
        description="Payment-gateway clearing account (gross sales collected), for book_settlement.",
    )
    settlement_bank_account_id: str | None = Field(
        default=None,
        description="Bank account a gateway settlement lands in; default: deposit_account_id.",
    )
    fee_expense_account_id: str | None = Field(
        default=None, description="Expense account for gateway fees, for book_settlement."
    )
    gst_input_account_id: str | None = Field(
        default=None,
        description="GST input credit account for the GST charged on gateway fees.",
    )
    timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds to wait for one Zoho answer before treating the call as failed.",
    )
    requests_per_minute: int = Field(
        default=100,
        ge=1,
        description="Books' per-organization limit (100/minute); the hub keeps under it.",
    )
    daily_api_calls: int | None = Field(
        default=None,
        ge=1,
        description=(
            "The organization's daily API calls by plan (Free 1000, Standard 2000, "
            "Professional 5000, Premium and above 10000); None: not tracked. "
            "Steps wait for the next day's budget instead of failing; ops see use at 80%."
        ),
    )

    def accounts_base(self) -> str:
        """The accounts server to refresh tokens at, without a trailing slash."""
        return (self.accounts_url or ACCOUNTS_SERVERS[self.data_centre]).rstrip("/")

    def api_base(self) -> str:
        """The API domain (Books paths are ``/books/v3/...`` under it), without a trailing slash."""
        return (self.api_domain or API_DOMAINS[self.data_centre]).rstrip("/")
