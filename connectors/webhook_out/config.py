"""The settings of one outbound webhook endpoint: URL, signing secrets, network policy."""

from __future__ import annotations

import re
from typing import Self

from pydantic import ConfigDict, Field, field_validator, model_validator
from yarl import URL

from hub.connector import ConnectorConfig
from hub.secrets import Secret

from .safety import host_allowed
from .signature import decode_secret

__all__ = ["RESERVED_HEADERS", "WebhookOutConfig"]

# Set by the action; a static header must not replace them.
RESERVED_HEADERS = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
    }
)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 field-name
_SENSITIVE = re.compile(
    r"(authorization|cookie|token|secret|password|passwd|api[_-]?key|signature)", re.IGNORECASE
)


class WebhookOutConfig(ConnectorConfig):
    """One receiver of signed Standard Webhooks requests."""

    # A rejected secret must not reappear in str(ValidationError).
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: str = Field(
        description=(
            "Receiver URL, e.g. https://example.com/hooks/hub; https unless "
            "allow_insecure_http. Redirects are not followed: give the final URL."
        )
    )
    secret: Secret = Field(
        description=(
            "Signing secret shared with the receiver: whsec_ + base64 of 24-64 random bytes "
            "(Standard Webhooks)."
        )
    )
    previous_secret: Secret | None = Field(
        default=None,
        description=(
            "The secret being rotated out; while set, every request carries a second "
            "signature made with it, so the receiver can switch keys without downtime."
        ),
    )
    allow_insecure_http: bool = Field(
        default=False,
        description="Allow an http:// URL (payloads then travel unencrypted).",
    )
    allow_private_networks: bool = Field(
        default=False,
        description=(
            "Allow loopback, private (RFC 1918), link-local and other non-public addresses; "
            "only for a receiver on your own network (SSRF guard)."
        ),
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "Optional allow-list of host names the URL may point at, e.g. "
            "['hooks.example.com', '*.example.org']; empty: any public host."
        ),
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Extra static request headers, e.g. {'X-Source': 'hub'}; stored in plain text, "
            "so no credentials (the signature authenticates the request)."
        ),
    )
    timeout: float = Field(
        default=30.0,
        gt=0,
        le=120,
        description="Seconds to wait for the receiver (the spec recommends 15-30).",
    )

    @field_validator("secret", "previous_secret")
    @classmethod
    def _whsec(cls, value: Secret | None) -> Secret | None:
        if value is not None:
            decode_secret(value)  # ValueError names the problem and how to generate one
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            name = host[2:] if host.startswith("*.") else host
            if not name or any(ch in name for ch in "/:@?# "):
                raise ValueError(f"{host!r} is not a host name (no scheme, port or path)")
        return [h.lower().rstrip(".") for h in value]

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"{name} is set by webhook_out itself and cannot be overridden")
            if _SENSITIVE.search(name):
                raise ValueError(
                    f"{name} looks like a credential; headers are stored in plain text, and "
                    "the receiver should authenticate requests by webhook-signature"
                )
            if "\r" in text or "\n" in text:
                raise ValueError(f"the value of {name} contains a line break")
        return value

    @model_validator(mode="after")
    def _url(self) -> Self:
        try:
            url = URL(self.url)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"url is not a URL: {exc}") from None
        if url.scheme not in ("https", "http") or not url.host:
            raise ValueError("url must be an absolute https:// URL, e.g. https://example.com/hook")
        if url.scheme == "http" and not self.allow_insecure_http:
            raise ValueError(
                "url uses http://, which sends payloads unencrypted; use https:// or set "
                "allow_insecure_http: true"
            )
        if url.user or url.password:
            raise ValueError("url must not carry credentials (user:password@)")
        if url.fragment:
            raise ValueError("url must not have a #fragment")
        if not host_allowed(url.host, self.allowed_hosts):
            raise ValueError(f"url host {url.host} is not in allowed_hosts")
        return self
