"""The settings of one Salesforce connection (a connected app's refresh token in one org).

The token endpoint lives on the login host (``login.salesforce.com`` for
production, ``test.salesforce.com`` for sandbox orgs, or the org's My Domain);
the API lives on the org's instance, which the token response names in
``instance_url``. Both can be overridden, which is how the hub points a
connection at the local sandbox (or a proxy) instead of Salesforce.
"""

from __future__ import annotations

from urllib.parse import quote

from pydantic import Field

from hub.connector import ConnectorConfig
from hub.secrets import Secret

__all__ = ["API_NAME", "SalesforceConfig"]

# An sObject field's API name: letters, digits, underscores; custom fields end in __c.
API_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,79}$"


class SalesforceConfig(ConnectorConfig):
    """Settings for one Salesforce org reached through a connected app and a refresh token."""

    login_url: str = Field(
        default="https://login.salesforce.com",
        description=(
            "Where refresh tokens are exchanged: https://login.salesforce.com (production), "
            "https://test.salesforce.com (sandbox orgs) or the org's My Domain URL."
        ),
    )
    instance_url: str | None = Field(
        default=None,
        description=(
            "Override of the API base (normally the token response's instance_url, e.g. "
            "https://acme.my.salesforce.com); set it to reach the org through a proxy."
        ),
    )
    api_version: str = Field(
        default="v61.0",
        pattern=r"^v\d{2,3}\.0$",
        description="REST API version used in /services/data/{version}/..., e.g. v61.0.",
    )
    client_id: str = Field(
        min_length=1, description="Consumer Key of the connected app (starts with 3MVG)."
    )
    client_secret: Secret = Field(description="Consumer Secret of that connected app.")
    refresh_token: Secret | None = Field(
        default=None,
        description=(
            "Refresh token issued to the integration user (scopes: api refresh_token). "
            "Leave it empty and press Connect on the connection's page in the dashboard to get "
            "one; until then the connection is not connected and its steps fail saying so."
        ),
    )
    case_external_id_field: str = Field(
        default="Hub_Key__c",
        pattern=API_NAME,
        description=(
            "Case text field marked External ID + Unique that holds the hub's idempotency key; "
            "create it in Setup → Object Manager → Case before use."
        ),
    )
    contact_external_id_field: str = Field(
        default="Hub_External_Id__c",
        pattern=API_NAME,
        description=(
            "Contact text field marked External ID + Unique that upsert_contact matches on "
            "(e.g. a normalised email or a phone-derived id)."
        ),
    )
    session_lifetime: float = Field(
        default=7200.0,
        gt=0,
        description=(
            "Seconds an access token is trusted before it is refreshed proactively: the org's "
            "session timeout (Setup → Session Settings; Salesforce's default is 2 hours). "
            "A token that dies earlier is refreshed on its first 401."
        ),
    )
    timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds to wait for one Salesforce answer before treating the call as failed.",
    )

    def token_url(self) -> str:
        """The OAuth 2.0 token endpoint on the login host."""
        return f"{self.login_url.rstrip('/')}/services/oauth2/token"

    def data_path(self, rest: str) -> str:
        """``/services/data/{version}/{rest}`` (``rest`` without a leading slash)."""
        return f"/services/data/{self.api_version}/{rest.lstrip('/')}"

    def external_id_path(self, sobject: str, field: str, value: str) -> str:
        """The sObject Rows by External ID resource for one value, percent-encoded."""
        return self.data_path(f"sobjects/{sobject}/{field}/{quote(value, safe='')}")
