"""Zoho Desk action inputs: the ticket, conversation-message and status models.

Each is a pydantic model (unknown keys rejected, every field described), so
recipes are validated against them before anything runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from .wire import FIELD_MAX

__all__ = ["ContactIn", "ConversationIn", "StatusIn", "TicketFields", "TicketIn"]


class ContactIn(BaseModel):
    """The customer a ticket is from; Desk reuses an existing contact with the same email."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    email: str | None = Field(default=None, description="Email; Desk's key for reusing a contact.")
    name: str | None = Field(
        default=None, description="Full name; split into first and last name when those are unset."
    )
    last_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices("last_name", "lastName"),
        description="Last name (lastName); Desk needs it or an email.",
    )
    first_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices("first_name", "firstName"),
        description="First name (firstName).",
    )
    phone: str | None = Field(default=None, description="Phone, e.g. 919845012345.")

    @model_validator(mode="after")
    def _identified(self) -> ContactIn:
        if not (self.email or self.name or self.last_name or self.phone):
            raise ValueError("a contact needs an email, a name or a phone")
        return self

    def desk(self) -> dict[str, Any]:
        """Desk's ``contact`` object."""
        first, last = self.first_name, self.last_name
        if not last and self.name:
            parts = self.name.strip().rsplit(" ", 1)
            last = parts[-1]
            first = first or (parts[0] if len(parts) == 2 else None)
        if not last and not self.email:
            last = self.phone
        body = {"lastName": last, "firstName": first, "email": self.email, "phone": self.phone}
        return {k: v for k, v in body.items() if v}


class TicketFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: ContactIn | None = Field(default=None, description="The customer (or contact_id).")
    contact_id: str | None = Field(default=None, description="An existing Desk contact ID.")
    department_id: str | None = Field(
        default=None, description="Desk department ID; default: the connection's department_id."
    )
    channel: str | None = Field(
        default=None,
        description=(
            "email, phone, web, chat, whatsapp (→ the connection's whatsapp_channel) or a Desk "
            "channel name as is."
        ),
    )

    @model_validator(mode="after")
    def _who(self) -> TicketFields:
        if self.contact is None and not self.contact_id:
            raise ValueError("give contact or contact_id")
        return self


class TicketIn(TicketFields):
    """A ticket to create once per idempotency key."""

    subject: str = Field(min_length=1, max_length=FIELD_MAX, description="Ticket subject.")
    description: str | None = Field(default=None, description="Ticket description (HTML allowed).")
    priority: str | None = Field(default=None, description="High, Medium, Low, ... (portal's).")
    status: str | None = Field(default=None, description="Open, On Hold, Escalated, Closed, ...")
    classification: str | None = Field(default=None, description="Question, Problem, ...")
    thread_key: str | None = Field(
        default=None, description="Conversation key stored in thread_field, for later threading."
    )


class ConversationIn(TicketFields):
    """One inbound message to thread into the conversation's open ticket, or a new one."""

    thread_key: str = Field(
        min_length=1,
        description="email.received thread_key, or whatsapp:<phone> for WhatsApp messages.",
    )
    content: str = Field(min_length=1, description="The message text (or HTML, see content_type).")
    subject: str = Field(
        default="", max_length=FIELD_MAX, description="Subject of a new ticket; derived if empty."
    )
    content_type: Literal["plainText", "html"] = Field(
        default="plainText", description="Desk contentType of the comment and description."
    )
    is_public: bool = Field(default=False, description="Whether the comment is public.")
    received_at: dt.datetime | None = Field(
        default=None, description="When the message arrived (default: now), for the chat window."
    )
    window_hours: float | None = Field(
        default=None, gt=0, description="Override of the connection's thread_window_hours."
    )


class StatusIn(BaseModel):
    """A ticket and the status to set."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: str = Field(min_length=1, description="Desk ticket ID.")
    status: str = Field(
        min_length=1, description="Open, On Hold, Escalated, Closed, or a custom status."
    )
