"""The settings of one Razorpay connection (one merchant account, one webhook)."""

from __future__ import annotations

from pydantic import Field, field_validator

from hub.connector import ConnectorConfig
from hub.secrets import Secret

__all__ = ["RazorpayConfig"]


class RazorpayConfig(ConnectorConfig):
    """Settings for one Razorpay merchant account.

    Two webhook secrets may be set at once so that a secret can be rotated
    without losing events: Razorpay retries events created before the change
    with the old secret for up to 24 hours.
    """

    webhook_secret: Secret = Field(
        description=(
            "Secret typed when creating the webhook in Dashboard → Account & Settings → "
            "Webhooks (not the API key secret). Signs every delivery."
        )
    )
    previous_webhook_secret: Secret | None = Field(
        default=None,
        description=(
            "The secret before the last rotation; deliveries signed with it are still "
            "accepted. Remove it 24 hours after rotating (Razorpay stops retrying then)."
        ),
    )
    key_id: str | None = Field(
        default=None,
        description="API key id (rzp_live_… or rzp_test_…), for polling the REST API.",
    )
    key_secret: Secret | None = Field(
        default=None, description="API key secret paired with key_id, for polling the REST API."
    )
    api_base_url: str = Field(
        default="https://api.razorpay.com",
        description=(
            "Base URL of the REST API, without /v1 (the SDK adds it). Change it only to "
            "point the poller at the sandbox (hub sandbox) or a recording proxy."
        ),
    )
    account_id: str | None = Field(
        default=None,
        description=(
            "Merchant account id (acc_…). When set, events for any other account are "
            "refused, which catches a webhook URL pasted into the wrong account."
        ),
    )

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, e.g. https://api.razorpay.com")
        return value.rstrip("/")

    @field_validator("webhook_secret", "previous_webhook_secret", "key_secret")
    @classmethod
    def _usable_secret(cls, value: Secret | None) -> Secret | None:
        # An empty key would make every signature trivially forgeable by anyone who
        # guesses it; lone surrogates could not be encoded to the UTF-8 key bytes.
        if value is None:
            return value
        if not value.reveal():
            raise ValueError("must not be empty")
        try:
            value.reveal().encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("must be valid Unicode text") from exc
        return value
