"""The settings of one WhatsApp Cloud API connection (one Meta app, one sending number)."""

from __future__ import annotations

from pydantic import Field, field_validator

from hub.connector import ConnectorConfig
from hub.secrets import Secret

__all__ = ["DEFAULT_GRAPH_URL", "WhatsAppConfig"]

DEFAULT_GRAPH_URL = "https://graph.facebook.com"


class WhatsAppConfig(ConnectorConfig):
    """Settings for one Meta app's webhook and one WhatsApp business phone number.

    Meta allows one callback URL per app, so this connection receives every
    number subscribed to the app; ``phone_number_id`` is the number the
    ``whatsapp.send_message`` action sends from.
    """

    app_secret: Secret = Field(
        description=(
            "App Secret (App Dashboard → Settings → Basic): the key of X-Hub-Signature-256. "
            "Not the verify token and not the access token."
        )
    )
    verify_token: Secret = Field(
        description=(
            "The string typed in the App Dashboard's webhook 'Verify token' field; "
            "echoed back by Meta in the GET subscription check."
        )
    )
    access_token: Secret | None = Field(
        default=None,
        description=(
            "Bearer token for sending (a System User token with whatsapp_business_messaging); "
            "only needed by whatsapp.send_message."
        ),
    )
    phone_number_id: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,30}$",
        description=(
            "Phone-number ID to send from (WhatsApp Manager → API Setup; also "
            "metadata.phone_number_id in webhooks), not the display number."
        ),
    )
    graph_url: str = Field(
        default=DEFAULT_GRAPH_URL,
        pattern=r"^https?://[^\s/]+",
        description="Graph API root; point it at the sandbox (or a proxy) in tests.",
    )
    api_version: str = Field(
        default="v21.0",
        pattern=r"^v[0-9]+\.[0-9]+$",
        description="Graph API version in send URLs, e.g. v21.0 (Meta retires versions ~2 years on).",
    )
    timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds to wait for one Graph answer before treating the call as failed.",
    )

    @field_validator("app_secret", "verify_token", "access_token")
    @classmethod
    def _usable_secret(cls, value: Secret | None) -> Secret | None:
        # An empty app secret makes every signature forgeable; an empty verify token
        # would let anyone re-subscribe the callback URL.
        if value is None:
            return value
        if not value.reveal():
            raise ValueError("must not be empty")
        try:
            value.reveal().encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("must be valid Unicode text") from exc
        return value

    def graph_base(self) -> str:
        """The Graph root without a trailing slash (the HTTP client's base URL)."""
        return self.graph_url.rstrip("/")

    def messages_path(self) -> str:
        """``/{version}/{phone_number_id}/messages``, relative to ``graph_base``."""
        return f"/{self.api_version}/{self.phone_number_id}/messages"
