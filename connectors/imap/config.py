"""The settings of one IMAP connection (one account, one watched folder)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from hub.connector import ConnectorConfig
from hub.secrets import Secret

__all__ = ["ImapConfig"]


class ImapConfig(ConnectorConfig):
    """Settings for one IMAP folder, polled for new mail (oldest first)."""

    host: str = Field(description="IMAP server host name, e.g. imap.example.in.")
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="TCP port; default 993 for security=ssl, 143 otherwise.",
    )
    security: Literal["ssl", "starttls", "none"] = Field(
        default="ssl",
        description=(
            "ssl: implicit TLS (port 993); starttls: plain connection upgraded with "
            "STARTTLS (port 143); none: no encryption at all (only for a server on "
            "loopback, e.g. tests)."
        ),
    )
    username: str = Field(min_length=1, description="Login name, usually the address.")
    password: Secret = Field(description="Password or app password for LOGIN.")
    folder: str = Field(
        default="INBOX",
        min_length=1,
        description=(
            "The folder to watch, as the server names it (modified UTF-7 for non-ASCII "
            "names, e.g. 'Entw&APw-rfe' for 'Entwürfe')."
        ),
    )
    label: str | None = Field(
        default=None,
        description=(
            "How events name this mailbox (data.mailbox and idempotency keys), e.g. "
            "support@example.in. Default '<username>/<folder>'. Changing it changes "
            "every idempotency key, so set it once."
        ),
    )
    mark_seen: bool = Field(
        default=False,
        description=(
            "Set the \\Seen flag on mail after fetching it. Off by default: the folder "
            "is opened read-only and fetched with BODY.PEEK[], so people reading the "
            "same mailbox still see it as unread."
        ),
    )
    import_existing: bool = Field(
        default=True,
        description=(
            "On the first poll, import the mail already in the folder (oldest first, "
            "page by page). False: start with mail that arrives after the first poll."
        ),
    )
    page_size: int = Field(default=50, ge=1, le=500, description="Most messages fetched per poll.")
    max_message_bytes: int = Field(
        default=25 * 1024 * 1024,
        ge=1024,
        description=(
            "Messages larger than this (RFC822.SIZE) are fetched headers only: their "
            "event has text/html null, no attachments, and headers['x-hub-oversized'] "
            "set to the size."
        ),
    )
    max_body_chars: int = Field(
        default=200_000,
        ge=100,
        description=(
            "text and html longer than this are cut; headers['x-hub-truncated'] then "
            "names which ('text', 'html' or 'text,html')."
        ),
    )
    timeout: float = Field(
        default=60.0, gt=0, le=600, description="Socket timeout in seconds for each IMAP call."
    )

    @field_validator("host")
    @classmethod
    def _bare_host(cls, value: str) -> str:
        value = value.strip()
        if not value or "/" in value or " " in value:
            raise ValueError("must be a host name such as imap.example.in (no scheme, no path)")
        return value

    @field_validator("password")
    @classmethod
    def _usable_secret(cls, value: Secret) -> Secret:
        if not value.reveal():
            raise ValueError("must not be empty")
        return value

    @property
    def mailbox(self) -> str:
        """The name events carry in ``data.mailbox`` and idempotency keys."""
        return self.label or f"{self.username}/{self.folder}"

    @property
    def server_port(self) -> int:
        """The port to connect to (the configured one, else the security's default)."""
        if self.port is not None:
            return self.port
        return 993 if self.security == "ssl" else 143
