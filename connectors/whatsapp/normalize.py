"""WhatsApp webhook items (messages, statuses) → ``message.received`` / ``message.status`` data.

Pure functions, no I/O. The body is untrusted JSON, so every field is
type-checked on the way in: a wrong type becomes a ``ParseError`` naming the
field, never a ``TypeError`` in the ingress.

Message kinds the hub does not know (Meta adds some every year) become kind
``unsupported`` with the vendor's item kept in ``event.raw``: forward
compatible, never a crash. A *known* kind with a malformed body is a
``ParseError`` (400): Meta then retries for up to 7 days, so a fix deployed in
that time still receives the messages.

Status ordering ("a late ``delivered`` never overwrites ``read``")
-------------------------------------------------------------------
``parse`` is pure and cannot see earlier deliveries, and the core's
``message_status`` schema has no room for a rank, so the order lives in this
module: ``STATUS_RANK`` and ``status_supersedes(new, old)``. Every status
Meta sends is emitted as its own event (key ``message.status:{wamid}:{status}``:
a redelivered status is one event, two statuses of a message are two), in
payload order, unmarked; the order of events carries no meaning, because
Meta sends statuses out of order and the dispatcher runs steps concurrently.

A consumer that keeps "the status of message X" (a Desk ticket field, a CRM
activity) must write only when ``status_supersedes(event.data.status,
stored_status)`` is true, i.e. fold with ``max`` by rank:
``sent < delivered < read < deleted < failed``. The order is total, so every
arrival order converges on the same final status. ``failed`` ranks highest
because Meta calls it terminal; ``delivered`` may never arrive (a message read
at once reports only ``read``), which a rank handles and a state machine would not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from hub.errors import ParseError
from hub.events import from_epoch

__all__ = [
    "CHANNEL",
    "MESSAGE_KINDS",
    "STATUS_RANK",
    "epoch",
    "latest_status",
    "status_supersedes",
    "to_message",
    "to_status",
]

CHANNEL: Final = "whatsapp"

#: The ``kind`` values of ``hub/schemas/message.json``; any other WhatsApp type is ``unsupported``.
MESSAGE_KINDS: Final = frozenset(
    {
        "text",
        "image",
        "document",
        "audio",
        "video",
        "sticker",
        "location",
        "contacts",
        "button",
        "interactive",
        "reaction",
        "order",
        "system",
        "unsupported",
    }
)
_MEDIA_KINDS: Final = frozenset({"image", "document", "audio", "video", "sticker"})

#: Status → rank; a higher rank supersedes a lower one (see the module docstring).
STATUS_RANK: Final[Mapping[str, int]] = {
    "sent": 1,
    "delivered": 2,
    "read": 3,
    "deleted": 4,
    "failed": 5,
}

# datetime cannot go past year 9999; a larger timestamp is garbage, not a time.
_MAX_EPOCH = 253_402_300_799


def status_supersedes(new: str, old: str | None) -> bool:
    """Whether a consumer holding status ``old`` should replace it with ``new``.

    ``status_supersedes("delivered", "read")`` is false: a late ``delivered``
    never overwrites ``read``. An equal status does not supersede (a redelivery
    changes nothing); nothing known (``old`` is ``None``) is always superseded.
    An unknown ``new`` status never supersedes a known one; a known one
    supersedes an unknown ``old``.
    """
    if old is None:
        return new in STATUS_RANK
    return STATUS_RANK.get(new, 0) > STATUS_RANK.get(old, 0)


def latest_status(statuses: Iterable[str]) -> str | None:
    """The status that wins among ``statuses`` whatever their arrival order (``None`` if empty)."""
    best: str | None = None
    for status in statuses:
        if best is None or status_supersedes(status, best):
            best = status
    return best


def epoch(value: object, where: str) -> datetime:
    """A WhatsApp timestamp (Unix seconds, sent as a string) as an aware UTC datetime.

    Raises:
        ParseError: not digits (string or integer), or past year 9999.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit():
        seconds = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        raise ParseError(f"{where} must be Unix seconds, got {value!r:.40}")
    if not 0 <= seconds <= _MAX_EPOCH:
        raise ParseError(f"{where} is out of range: {seconds}")
    return from_epoch(seconds)


def to_message(
    item: Mapping[str, Any], to: str, name: str | None, where: str
) -> tuple[dict[str, Any], datetime]:
    """One ``messages[]`` item as ``hub/schemas/message.json`` data, and its time.

    Args:
        item: the message object.
        to: ``metadata.phone_number_id`` of the business number that received it.
        name: the sender's profile name from ``contacts[]``, if any.
        where: the item's path in the body, for error messages.
    """
    wamid = _str(item, "id", where)
    sender = _str(item, "from", where)
    if not (sender.isascii() and sender.isdigit() and 6 <= len(sender) <= 15):
        raise ParseError(f"{where}.from is not a WhatsApp id (6 to 15 digits): {sender!r:.40}")
    at = epoch(item.get("timestamp"), f"{where}.timestamp")
    vendor_type = item.get("type")
    kind = vendor_type if isinstance(vendor_type, str) and vendor_type in MESSAGE_KINDS else None
    kind = kind or "unsupported"  # includes the older "unknown" and types newer than this code

    context = _opt_obj(item, "context", where)
    data: dict[str, Any] = {
        "channel": CHANNEL,
        "message_id": wamid,
        "from": {"phone": sender, "name": name},
        "to": to,
        "kind": kind,
        "text": None,
        "media": None,
        "location": None,
        "reply_to": _opt_str(context, "id", f"{where}.context") if context else None,
        "reaction": None,
        "context": context,
        "interactive": None,
        "received_at": at.isoformat(),
    }
    part_where = f"{where}.{kind}"
    part: dict[str, Any] = {}
    if kind not in ("unsupported", "contacts"):  # contacts carries a list of cards
        found = item.get(kind)
        if not isinstance(found, dict):
            raise ParseError(f"{where} of type {kind} has no {kind!r} object")
        part = found
    if kind == "text":
        data["text"] = _str(part, "body", part_where, empty_ok=True)
    elif kind in _MEDIA_KINDS:
        caption = _opt_str(part, "caption", part_where)
        data["text"] = caption
        data["media"] = {
            "id": _str(part, "id", part_where),
            "mime_type": _opt_str(part, "mime_type", part_where),
            "sha256": _opt_str(part, "sha256", part_where),
            "caption": caption,
            "filename": _opt_str(part, "filename", part_where),
        }
    elif kind == "location":
        data["location"] = {
            "latitude": _coordinate(part, "latitude", 90, part_where),
            "longitude": _coordinate(part, "longitude", 180, part_where),
            "name": _opt_str(part, "name", part_where),
            "address": _opt_str(part, "address", part_where),
        }
    elif kind == "button":
        # A tap on a template quick-reply: the payload is what recipes branch on.
        data["text"] = _opt_str(part, "text", part_where)
        data["interactive"] = dict(part)
    elif kind == "interactive":
        data["interactive"] = dict(part)
        data["text"] = _interactive_text(part, part_where)
    elif kind == "reaction":
        data["reaction"] = {
            "message_id": _str(part, "message_id", part_where),
            # Meta omits the emoji when a reaction is removed.
            "emoji": _opt_str(part, "emoji", part_where) or "",
        }
    elif kind in ("order", "system"):
        data["text"] = _opt_str(part, "text" if kind == "order" else "body", part_where)
    # contacts (shared contact cards) and unsupported: nothing beyond the common fields;
    # the cards and the error details stay in event.raw.
    return data, at


def to_status(item: Mapping[str, Any], where: str) -> tuple[dict[str, Any], datetime] | None:
    """One ``statuses[]`` item as ``hub/schemas/message_status.json`` data, and its time.

    Returns ``None`` for a status the hub's schema has no word for (voice notes'
    ``played``, future ones): the caller skips it.
    """
    wamid = _str(item, "id", where)
    status = _str(item, "status", where)
    if status not in STATUS_RANK:
        return None
    at = epoch(item.get("timestamp"), f"{where}.timestamp")
    conversation = _opt_obj(item, "conversation", where)
    origin = _opt_obj(conversation, "origin", f"{where}.conversation") if conversation else None
    return {
        "channel": CHANNEL,
        "message_id": wamid,
        "recipient": _str(item, "recipient_id", where),
        "status": status,
        "error": _status_error(item, where),
        "conversation": None
        if conversation is None
        else {
            "id": _opt_str(conversation, "id", f"{where}.conversation"),
            "category": _opt_str(origin, "type", f"{where}.conversation.origin")
            if origin
            else None,
        },
        "pricing": _opt_obj(item, "pricing", where),
        "at": at.isoformat(),
    }, at


# --------------------------------------------------------------------------- fields


def _interactive_text(part: Mapping[str, Any], where: str) -> str | None:
    reply_type = part.get("type")
    if isinstance(reply_type, str) and reply_type in ("button_reply", "list_reply"):
        reply = part.get(reply_type)
        if not isinstance(reply, dict):
            raise ParseError(f"{where} of type {reply_type} has no {reply_type!r} object")
        return _opt_str(reply, "title", f"{where}.{reply_type}")
    if reply_type == "nfm_reply":  # a WhatsApp Flow's answer; its response_json stays in raw
        reply = part.get("nfm_reply")
        return _opt_str(reply, "body", f"{where}.nfm_reply") if isinstance(reply, dict) else None
    return None


def _status_error(item: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    errors = item.get("errors")
    if errors is None or errors == []:
        return None
    if not isinstance(errors, list) or not isinstance(errors[0], dict):
        raise ParseError(f"{where}.errors must be a list of objects")
    first: dict[str, Any] = errors[0]
    code = first.get("code")
    if isinstance(code, bool) or not isinstance(code, int | str):
        raise ParseError(f"{where}.errors[0].code must be an integer")
    details = _opt_obj(first, "error_data", f"{where}.errors[0]")
    detail = _opt_str(details, "details", f"{where}.errors[0].error_data") if details else None
    message = _opt_str(first, "message", f"{where}.errors[0]")
    title = _opt_str(first, "title", f"{where}.errors[0]")
    return {
        "code": code,
        "title": title or message or f"error {code}",
        "message": detail or message,
    }


def _str(obj: Mapping[str, Any], key: str, where: str, empty_ok: bool = False) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or (not value and not empty_ok):
        raise ParseError(f"{where}.{key} is missing or not a string")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    """A string field, ``None`` when absent, null or empty; ids sent as numbers become text."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ParseError(f"{where}.{key} must be a string, got {type(value).__name__}")


def _opt_obj(obj: Mapping[str, Any], key: str, where: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ParseError(f"{where}.{key} must be an object, got {type(value).__name__}")
    return value


def _coordinate(obj: Mapping[str, Any], key: str, limit: int, where: str) -> float:
    value = obj.get(key)
    if isinstance(value, str):  # some BSPs relay coordinates as strings
        try:
            value = float(value)
        except ValueError:
            value = None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not -limit <= value <= limit
    ):
        raise ParseError(f"{where}.{key} must be a number within ±{limit}")
    return float(value)
