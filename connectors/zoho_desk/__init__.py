"""Zoho Desk connector: open tickets and thread conversations into them, once each.

Actions:
    zoho_desk.create_ticket: create a ticket; the step's idempotency key is kept
        in a ticket custom field (``key_field``) and searched before creating.
    zoho_desk.add_to_conversation: add an inbound message (email.received,
        message.received) to its conversation's open ticket as a comment, or
        open a ticket that stores the conversation key (``thread_field``).
        Email keys continue the thread's open ticket; ``whatsapp:<phone>`` keys
        only within ``thread_window_hours`` of the ticket's last activity.
    zoho_desk.update_ticket_status: set a ticket's status (idempotent PATCH).

Events: none (Desk is a sink here).

Auth: OAuth 2.0 refresh token against the portal's data centre (the shared
``ZohoOAuth`` from ``connectors.zoho_books``); every call carries ``orgId``.
Portal setup: two single-line ticket custom fields (default API names
``cf_hub_key`` and ``cf_hub_thread``) and a default department.

Sandbox: ``create_sandbox_app`` (``python -m connectors.zoho_desk.sandbox``)
speaks Zoho Accounts and Desk v1 locally, with scripted faults for tests.

API docs: https://desk.zoho.com/DeskAPIDocument and
https://www.zoho.com/accounts/protocol/oauth.html
"""

from __future__ import annotations

from typing import Any

from connectors.zoho_books.oauth_connect import zoho_oauth_app
from hub.connector import Connector

from .actions import AddToConversation, CreateTicket, UpdateTicketStatus
from .auth import ZohoDeskSession
from .config import ZohoDeskConfig
from .inputs import ContactIn, ConversationIn, StatusIn, TicketIn
from .sandbox import SandboxState, create_sandbox_app

__all__ = [
    "AddToConversation",
    "ContactIn",
    "ConversationIn",
    "CreateTicket",
    "SandboxState",
    "StatusIn",
    "TicketIn",
    "UpdateTicketStatus",
    "ZohoDeskConfig",
    "ZohoDeskSession",
    "connector",
    "create_sandbox_app",
]


# The Connect button (docs/oauth.md): tickets and their comments, contacts, and search.
DESK_SCOPES = (
    "Desk.tickets.READ",
    "Desk.tickets.CREATE",
    "Desk.tickets.UPDATE",
    "Desk.contacts.READ",
    "Desk.contacts.CREATE",
    "Desk.search.READ",
)


def _base_url(cfg: Any) -> str:
    """The HTTP client's base: the Desk API root (paths are ``/tickets``, ``/contacts``)."""
    assert isinstance(cfg, ZohoDeskConfig)
    return cfg.api_base()


connector = Connector(
    name="zoho_desk",
    title="Zoho Desk",
    config=ZohoDeskConfig,
    actions=(CreateTicket, AddToConversation, UpdateTicketStatus),
    session=ZohoDeskSession,
    base_url=_base_url,
    sandbox=create_sandbox_app,
    docs=__doc__ or "",
    oauth=zoho_oauth_app(DESK_SCOPES),
)
