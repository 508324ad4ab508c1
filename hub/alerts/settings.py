"""The ``alerts:`` section of hub.yaml: which rules fire, the storm window, and where messages go.

Secrets (the SMTP password, the webhook signing secret) are typed ``Secret``
and written as ``${env:NAME}`` in the file, so they never print. Every setting
has a default; with no channel configured the rules still run (and count in
``/metrics``) but nothing is sent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.secrets import Secret

__all__ = [
    "AlertsConfig",
    "CreditRule",
    "ErrorRateRule",
    "SmtpSettings",
    "WebhookSettings",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SmtpSettings(_Strict):
    """Email through an SMTP relay (``alerts.smtp``)."""

    host: str = Field(description="SMTP server, e.g. smtp.example.com.")
    port: int | None = Field(
        None, ge=1, le=65_535, description="Default: 465 with security ssl, else 587 (25 for none)."
    )
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls",
        description="starttls: upgrade a plain connection (port 587); ssl: TLS from the start "
        "(port 465); none: plain text, only for a relay on the same host.",
    )
    username: str | None = Field(None, description="Login name, if the server wants one.")
    password: Secret | None = Field(None, description="Login password: write ${env:NAME}.")
    sender: str = Field(description="The From address, e.g. hub@example.com.")
    to: list[str] = Field(min_length=1, description="Recipients.")
    subject_prefix: str = Field("[hub]", description="Put before every subject line.")
    timeout: float = Field(15.0, gt=0, le=300, description="Seconds for the whole conversation.")
    ca_file: str | None = Field(
        None, description="PEM bundle to verify the server's certificate (default: the system's)."
    )

    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"ssl": 465, "starttls": 587, "none": 25}[self.security]


class WebhookSettings(_Strict):
    """A JSON POST to a chat bridge, incident tool or your own endpoint (``alerts.webhook``)."""

    url: str = Field(description="Where to POST, e.g. https://alerts.example.com/hub.")
    secret: Secret | None = Field(
        None,
        description="If set, the body is signed: X-Hub-Signature-256: sha256=<hex HMAC of "
        "'<X-Hub-Timestamp>.<body>'>. Write ${env:NAME}.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra headers (no secrets: they are not masked)."
    )
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds for one POST.")
    attempts: int = Field(
        3, ge=1, le=10, description="POSTs before giving up until the next window."
    )

    @model_validator(mode="after")
    def _http_url(self) -> WebhookSettings:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self


class ErrorRateRule(_Strict):
    """Alert when a sink connection's failed attempts pass a share of all its attempts."""

    enabled: bool = Field(True, description="Run this rule.")
    threshold: float = Field(
        0.5, gt=0, le=1, description="Share of attempts that failed (0.5 = half) to alert at."
    )
    window: float = Field(300.0, gt=0, description="Seconds of attempts to look back over.")
    min_attempts: int = Field(
        20,
        ge=1,
        description="Fewer attempts than this in the window never alert (too few to tell).",
    )


class CreditRule(_Strict):
    """Alert when a connection has used a share of its vendor's daily API credits."""

    enabled: bool = Field(True, description="Run this rule.")
    fraction: float = Field(0.8, gt=0, le=1, description="Share of the daily budget to alert at.")


class AlertsConfig(_Strict):
    """When to alert and where to send it. A storm sends one message and a digest, not thousands."""

    enabled: bool = Field(True, description="Evaluate the rules at all.")
    window: float = Field(
        600.0,
        gt=0,
        description="Storm window in seconds: the first alert of a rule and connection is sent "
        "at once, later ones within the window are counted and sent as one digest at its end.",
    )
    samples: int = Field(
        5, ge=0, le=50, description="Alerts quoted in a digest besides the count and the first."
    )
    check_interval: float = Field(
        60.0, gt=0, description="Seconds between checks of error rates, credits and re-auth flags."
    )
    dead_letter: bool = Field(True, description="Alert when a delivery is dead-lettered.")
    needs_reauth: bool = Field(True, description="Alert when a connection needs re-authorization.")
    error_rate: ErrorRateRule = Field(default_factory=ErrorRateRule)
    api_credits: CreditRule = Field(default_factory=CreditRule)
    smtp: SmtpSettings | None = Field(None, description="Send alerts by email.")
    webhook: WebhookSettings | None = Field(None, description="Send alerts as a JSON POST.")
