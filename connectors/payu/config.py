"""The settings of one PayU connection (one merchant key, its salt, its webhook URL)."""

from __future__ import annotations

from pydantic import Field, field_validator

from hub.connector import ConnectorConfig
from hub.secrets import Secret

__all__ = ["PayUConfig"]


class PayUConfig(ConnectorConfig):
    """Settings for one PayU India merchant key.

    Two salts may be set at once so that the salt can be changed in the PayU
    Dashboard without refusing callbacks hashed with the old one while both are
    in flight.
    """

    key: str = Field(
        min_length=1,
        description=(
            "Merchant key from PayU Dashboard → Developers → API Keys (e.g. AbC123). "
            "It is part of every reverse hash; callbacks for another key are refused."
        ),
    )
    salt: Secret = Field(
        description=(
            "Merchant salt paired with key (Salt v1 or v2, as configured in the Dashboard). "
            "Verifies the reverse hash of payment callbacks; never sent to a browser."
        )
    )
    previous_salt: Secret | None = Field(
        default=None,
        description=(
            "The salt before the last change; callbacks hashed with it are still accepted. "
            "Remove it once PayU has delivered everything created before the change."
        ),
    )
    webhook_token: Secret | None = Field(
        default=None,
        description=(
            "A long random string you add to the webhook URL as ?token=… in the PayU "
            "Dashboard. PayU signs payment callbacks (the hash field) but documents no "
            "signature for refund and dispute webhooks, so those are accepted only from "
            "a URL that carries this token; without it they are refused (401)."
        ),
    )

    @field_validator("salt", "previous_salt", "webhook_token")
    @classmethod
    def _usable_secret(cls, value: Secret | None) -> Secret | None:
        # An empty salt or token would make every callback trivially forgeable;
        # lone surrogates could not be encoded into the hashed UTF-8 string.
        if value is None:
            return value
        if not value.reveal():
            raise ValueError("must not be empty")
        try:
            value.reveal().encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("must be valid Unicode text") from exc
        return value

    @field_validator("key")
    @classmethod
    def _plain_key(cls, value: str) -> str:
        if value != value.strip() or "|" in value:
            raise ValueError("must be the merchant key as shown, without spaces or '|'")
        return value
