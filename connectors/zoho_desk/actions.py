"""Zoho Desk sink actions: create a ticket, thread a conversation into tickets, set a status.

Desk has no idempotency header, so each write is made harmless to retry by
searching before it writes (reference/zoho.md §5):

- a ticket the hub creates carries the step's idempotency key in a ticket
  custom field (``key_field``, default ``cf_hub_key``); before creating, the
  action searches tickets on that field;
- a comment the hub adds ends with a ``[hub:<key>]`` tag; before commenting,
  the action reads the ticket's comments for the tag;
- a status change is a PATCH to the same value: naturally idempotent.

Threading (``zoho_desk.add_to_conversation``): the conversation key lives in
another custom field (``thread_field``). Email thread keys continue the newest
open ticket of that thread; chat keys (``whatsapp:<phone>``) continue it only
when its last activity (creation or latest comment) is within the window.
Closed tickets are never continued.

UNCONFIRMED against live Desk: the ``customField1=<api_name>:<value>`` search
parameter, whether search results include ``cf``, ``contacts/search?phone=``,
and that Desk keeps a plain ``[hub:…]`` text tag in comment content.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.connector import Action, ActionContext
from hub.errors import ConfigError, PermanentError

from .auth import ZohoDeskSession
from .config import ZohoDeskConfig
from .inputs import ConversationIn, StatusIn, TicketFields, TicketIn
from .wire import (
    CHAT_PREFIXES,
    FIELD_MAX,
    comment_tag,
    desk_result,
    field_value,
    is_open,
    parse_time,
    thread_value,
)

__all__ = ["AddToConversation", "CreateTicket", "UpdateTicketStatus"]

TICKETS = "/tickets"
SEARCH = "/tickets/search"
CONTACT_SEARCH = "/contacts/search"
PAGE = 100  # Desk's largest page (reference: cap UNCONFIRMED)
CHANNELS = {"email": "Email", "phone": "Phone", "web": "Web", "chat": "Chat"}


def _session(ctx: ActionContext) -> ZohoDeskSession:
    if not isinstance(ctx.session, ZohoDeskSession):
        raise ConfigError(
            f"connection {ctx.connection!r}: zoho_desk actions need the connection's "
            "ZohoDeskSession (the hub creates it from the connector's `session`)"
        )
    return ctx.session


class _DeskAction:
    config: ZohoDeskConfig

    def _channel(self, channel: str | None) -> str | None:
        if channel is None:
            return None
        if channel.lower() == "whatsapp":
            return self.config.whatsapp_channel
        return CHANNELS.get(channel.lower(), channel)

    async def _by_key(
        self, session: ZohoDeskSession, field: str, value: str
    ) -> list[dict[str, Any]]:
        """Tickets whose custom ``field`` equals ``value`` (search, then an exact check)."""
        params = {"customField1": f"{field}:{value}", "from": 0, "limit": PAGE}
        body = desk_result(await session.request("GET", SEARCH, params=params), "the ticket search")
        rows = (body or {}).get("data") or []
        return [
            row
            for row in rows
            if isinstance(row, dict)
            and row.get("id")
            and (row.get("cf") or {}).get(field, value) == value
        ]

    async def _contact(self, session: ZohoDeskSession, item: TicketFields) -> dict[str, Any]:
        if item.contact_id:
            return {"contactId": item.contact_id}
        assert item.contact is not None
        if not item.contact.email and item.contact.phone:
            # Desk reuses contacts by email only; find a phone-only customer first.
            params = {"phone": item.contact.phone, "limit": 1}
            resp = await session.request("GET", CONTACT_SEARCH, params=params)
            rows = (desk_result(resp, "the contact search") or {}).get("data") or []
            if rows and isinstance(rows[0], dict) and rows[0].get("id"):
                return {"contactId": str(rows[0]["id"])}
        return {"contact": item.contact.desk()}

    async def _create(
        self, session: ZohoDeskSession, item: TicketFields, fields: dict[str, Any]
    ) -> dict[str, Any]:
        department = item.department_id or self.config.department_id
        if not department:
            raise ConfigError(
                "no department for the ticket: set department_id on the step, or a default "
                "department_id on the zoho_desk connection"
            )
        body = {"departmentId": department, **await self._contact(session, item)}
        channel = self._channel(item.channel)
        if channel:
            body["channel"] = channel
        body.update({k: v for k, v in fields.items() if v is not None})
        ticket = desk_result(await session.request("POST", TICKETS, json_body=body), "the ticket")
        if not ticket or not ticket.get("id"):
            raise PermanentError("Zoho Desk answered the ticket without an id")
        return ticket


def _ticket_out(ticket: dict[str, Any], created: bool) -> dict[str, Any]:
    return {
        "ticket_id": str(ticket["id"]),
        "ticket_number": str(ticket.get("ticketNumber", "")),
        "created": created,
        "web_url": str(ticket.get("webUrl", "")),
    }


class CreateTicket(_DeskAction, Action[ZohoDeskConfig, TicketIn]):
    """Create a Desk ticket once per idempotency key (kept in the ``key_field`` custom field)."""

    name = "zoho_desk.create_ticket"
    input_model = TicketIn
    description = "Create a Zoho Desk ticket, once per idempotency key."

    async def run(self, item: TicketIn, ctx: ActionContext) -> dict[str, Any]:
        session = _session(ctx)
        key = field_value(ctx.idempotency_key)
        found = await self._by_key(session, self.config.key_field, key)
        if found:
            return _ticket_out(found[0], created=False)
        cf = {self.config.key_field: key}
        if item.thread_key:
            cf[self.config.thread_field] = thread_value(item.thread_key)
        fields = {
            "subject": item.subject,
            "description": item.description,
            "priority": item.priority,
            "status": item.status,
            "classification": item.classification,
            "cf": cf,
        }
        return _ticket_out(await self._create(session, item, fields), created=True)


class AddToConversation(_DeskAction, Action[ZohoDeskConfig, ConversationIn]):
    """Add a message to its conversation's open ticket as a comment, or open a new ticket.

    Email keys continue the newest open ticket of the thread; chat keys
    (``whatsapp:<phone>``) only when that ticket's last activity is within
    the window. A retry finds its own ticket (``key_field``) or comment (tag).
    """

    name = "zoho_desk.add_to_conversation"
    input_model = ConversationIn
    description = "Thread a message into the conversation's open Zoho Desk ticket, or open one."

    async def run(self, item: ConversationIn, ctx: ActionContext) -> dict[str, Any]:
        session = _session(ctx)
        key = field_value(ctx.idempotency_key)
        mine = await self._by_key(session, self.config.key_field, key)
        if mine:
            return {"ticket_id": str(mine[0]["id"]), "created_ticket": True, "comment_id": None}
        thread = thread_value(item.thread_key)
        tickets = await self._by_key(session, self.config.thread_field, thread)
        tickets = sorted(filter(is_open, tickets), key=_created, reverse=True)
        if tickets:
            ticket_id = str(tickets[0]["id"])
            comments = await self._comments(session, ticket_id)
            tag = comment_tag(ctx.idempotency_key)
            for comment in comments:
                if tag in str(comment.get("content", "")):
                    return self._out(ticket_id, False, comment)
            if self._continues(item, session, tickets[0], comments, thread):
                body = {
                    "content": self._content(item, tag),
                    "contentType": item.content_type,
                    "isPublic": item.is_public,
                }
                path = f"{TICKETS}/{ticket_id}/comments"
                resp = await session.request("POST", path, json_body=body)
                return self._out(ticket_id, False, desk_result(resp, "the comment") or {})
        fields = {
            "subject": item.subject or self._subject(item),
            "description": item.content,
            "cf": {self.config.key_field: key, self.config.thread_field: thread},
        }
        ticket = await self._create(session, item, fields)
        return {"ticket_id": str(ticket["id"]), "created_ticket": True, "comment_id": None}

    def _continues(
        self,
        item: ConversationIn,
        session: ZohoDeskSession,
        ticket: dict[str, Any],
        comments: list[dict[str, Any]],
        thread: str,
    ) -> bool:
        """Email threads always continue; chats only within the window of the last activity."""
        if not thread.startswith(CHAT_PREFIXES):
            return True
        times = [parse_time(ticket.get("createdTime"))]
        times += [parse_time(c.get("commentedTime")) for c in comments]
        seen = [t for t in times if t is not None]
        if not seen:
            return True
        when = item.received_at or session.now()
        when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        hours = item.window_hours or self.config.thread_window_hours
        return when - max(seen) <= dt.timedelta(hours=hours)

    async def _comments(self, session: ZohoDeskSession, ticket_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        start = 0
        while True:
            params = {"from": start, "limit": PAGE}
            resp = await session.request("GET", f"{TICKETS}/{ticket_id}/comments", params=params)
            rows = (desk_result(resp, "the comment list") or {}).get("data") or []
            found += [r for r in rows if isinstance(r, dict)]
            if len(rows) < PAGE:
                return found
            start += PAGE

    @staticmethod
    def _content(item: ConversationIn, tag: str) -> str:
        if item.content_type == "html":
            return f"{item.content}<p>{tag}</p>"
        return f"{item.content}\n\n{tag}"

    @staticmethod
    def _subject(item: ConversationIn) -> str:
        who = ""
        if item.contact is not None:
            who = item.contact.name or item.contact.email or item.contact.phone or ""
        if item.thread_key.lower().startswith("whatsapp:"):
            return f"WhatsApp conversation with {who or item.thread_key[9:]}"[:FIELD_MAX]
        return f"Conversation with {who}"[:FIELD_MAX] if who else "(no subject)"

    @staticmethod
    def _out(ticket_id: str, created: bool, comment: dict[str, Any]) -> dict[str, Any]:
        comment_id = comment.get("id")
        return {
            "ticket_id": ticket_id,
            "created_ticket": created,
            "comment_id": str(comment_id) if comment_id else None,
        }


def _created(ticket: dict[str, Any]) -> dt.datetime:
    return parse_time(ticket.get("createdTime")) or dt.datetime.min.replace(tzinfo=dt.UTC)


class UpdateTicketStatus(_DeskAction, Action[ZohoDeskConfig, StatusIn]):
    """Set a ticket's status (a PATCH to a value: repeating it changes nothing)."""

    name = "zoho_desk.update_ticket_status"
    input_model = StatusIn
    description = "Set the status of a Zoho Desk ticket (Open, On Hold, Escalated, Closed, ...)."

    async def run(self, item: StatusIn, ctx: ActionContext) -> dict[str, Any]:
        session = _session(ctx)
        path = f"{TICKETS}/{item.ticket_id}"
        resp = await session.request("PATCH", path, json_body={"status": item.status})
        ticket = desk_result(resp, f"the status of ticket {item.ticket_id}") or {}
        return {
            "ticket_id": str(ticket.get("id", item.ticket_id)),
            "status": str(ticket.get("status", item.status)),
        }
