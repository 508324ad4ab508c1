"""The settings of one Cashfree connection (one merchant account's PG webhooks)."""

from __future__ import annotations

from hub import ConnectorConfig, Secret
from pydantic import Field, field_validator

__all__ = ["CashfreeConfig"]


class CashfreeConfig(ConnectorConfig):
    """Settings for one Cashfree Payments merchant account.

    Cashfree signs Payment Gateway webhooks with the account's PG secret key
    (the "client secret" paired with the app id), not a separate webhook secret.
    Two keys may be set at once so a key can be rotated without losing events.
    """

    secret_key: Secret = Field(
        description=(
            "PG secret key (client secret) from Developers → API Keys in the Cashfree "
            "dashboard; it signs every webhook. Use the sandbox key for test mode."
        )
    )
    previous_secret_key: Secret | None = Field(
        default=None,
        description=(
            "The secret key before the last rotation; deliveries signed with it are still "
            "accepted. Remove it once Cashfree has stopped retrying older events."
        ),
    )
    max_skew_seconds: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description=(
            "How far x-webhook-timestamp may be from this server's clock, in seconds. "
            "Older (or future) deliveries are refused, so a captured request cannot be "
            "replayed later. Keep the server's clock in sync (NTP)."
        ),
    )

    @field_validator("secret_key", "previous_secret_key")
    @classmethod
    def _usable_secret(cls, value: Secret | None) -> Secret | None:
        # An empty key would make every signature forgeable by anyone.
        if value is None:
            return value
        if not value.reveal().strip():
            raise ValueError("must not be empty")
        try:
            value.reveal().encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("must be valid Unicode text") from exc
        return value
