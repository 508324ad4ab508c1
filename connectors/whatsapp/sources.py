"""WhatsApp Cloud API webhooks: the GET handshake, ``X-Hub-Signature-256``, and batch parsing."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any, Final

from hub.connector import WebhookReply, WebhookRequest, WebhookSource
from hub.errors import ParseError, SignatureError, SkipEvent
from hub.events import Event
from hub.schemas import SchemaViolation

from .config import WhatsAppConfig
from .normalize import to_message, to_status

__all__ = [
    "SIGNATURE_HEADER",
    "WhatsAppWebhook",
    "message_key",
    "sign",
    "status_key",
]

SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
_PREFIX: Final = "sha256="

log = logging.getLogger(__name__)


def sign(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return _PREFIX + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def message_key(wamid: str) -> str:
    """Idempotency key of an inbound message: ``message.received:{wamid}``."""
    return f"message.received:{wamid}"


def status_key(wamid: str, status: str) -> str:
    """Idempotency key of a status: ``message.status:{wamid}:{status}``.

    A redelivered status is one event; ``delivered`` and ``read`` of one
    message are two (see ``normalize.status_supersedes`` for which one wins).
    """
    return f"message.status:{wamid}:{status}"


class WhatsAppWebhook(WebhookSource[WhatsAppConfig]):
    """Inbound messages and delivery statuses Meta pushes to ``/hooks/{connection}``.

    One POST may batch several entries, changes, messages and statuses: it
    gives one event per message and per status. ``event.raw`` is not the whole
    batch (up to 3 MB, which would be stored once per event) but the same
    payload narrowed to that one item: a valid WhatsApp notification that
    ``parse`` turns into the same event again.
    """

    name = "whatsapp.webhook"
    emits = ("message.received", "message.status")

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        """Meta's subscription check: echo ``hub.challenge`` when the verify token matches.

        ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`` → 200 with
        the challenge as plain text; any other GET → 403. Other methods → 405.
        """
        if request.method != "GET":
            return None
        mode = request.query.get("hub.mode")
        sent = request.query.get("hub.verify_token", "")
        challenge = request.query.get("hub.challenge", "")
        expected = self.config.verify_token.reveal().encode("utf-8")
        token_ok = hmac.compare_digest(expected, sent.encode("utf-8", "surrogatepass"))
        if mode == "subscribe" and token_ok and challenge:
            return WebhookReply(status=200, body=challenge, content_type="text/plain")
        log.warning("whatsapp verification refused on %s (mode %.20r)", self.connection, mode)
        return WebhookReply(
            status=403,
            body="verification refused: hub.mode must be subscribe and hub.verify_token must "
            "match the connection's verify_token",
        )

    def verify(self, request: WebhookRequest) -> None:
        """Check ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body under the App Secret).

        Raises:
            SignatureError: the header is missing, not ``sha256=<hex>``, or wrong.
        """
        sent = request.headers.get(SIGNATURE_HEADER)
        if sent is None:
            raise SignatureError(f"{SIGNATURE_HEADER} header is missing")
        sent = sent.strip()
        if not (sent.isascii() and sent[: len(_PREFIX)].lower() == _PREFIX):
            raise SignatureError(f"{SIGNATURE_HEADER} is not of the form sha256=<hex>")
        expected = sign(self.config.app_secret.reveal(), request.body)[len(_PREFIX) :]
        if not hmac.compare_digest(expected, sent[len(_PREFIX) :].lower()):
            raise SignatureError(
                f"{SIGNATURE_HEADER} does not match the body: check app_secret "
                "(the App Secret from Settings → Basic, not the verify or access token)"
            )

    def parse(self, request: WebhookRequest) -> list[Event]:
        """One event per inbound message and per status in the batch.

        Raises:
            ParseError: not a WhatsApp Business Account notification, or a
                message/status whose fields have the wrong type or shape.
            SkipEvent: nothing in the batch is a message or a status the hub
                handles (account updates, template reviews, ``played``, ...).
        """
        body = _load(request)
        if not isinstance(body, dict):
            raise ParseError("expected a JSON object")
        if body.get("object") != "whatsapp_business_account":
            raise ParseError('not a WhatsApp webhook: "object" is not "whatsapp_business_account"')
        entries = body.get("entry")
        if not isinstance(entries, list):
            raise ParseError("entry must be a list")
        events: list[Event] = []
        skipped: list[str] = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ParseError(f"entry[{i}] must be an object")
            changes = entry.get("changes")
            if not isinstance(changes, list):
                raise ParseError(f"entry[{i}].changes must be a list")
            for j, change in enumerate(changes):
                where = f"entry[{i}].changes[{j}]"
                if not isinstance(change, dict):
                    raise ParseError(f"{where} must be an object")
                field = change.get("field")
                if field != "messages":
                    skipped.append(f"field {str(field)[:40]}")
                    continue
                events.extend(self._change(body, entry, change, where, skipped))
        if not events:
            reason = ", ".join(sorted(set(skipped))) or "an empty batch"
            raise SkipEvent(f"nothing the hub handles: {reason}")
        return events

    def _change(
        self,
        body: dict[str, Any],
        entry: dict[str, Any],
        change: dict[str, Any],
        where: str,
        skipped: list[str],
    ) -> list[Event]:
        value = change.get("value")
        if not isinstance(value, dict):
            raise ParseError(f"{where}.value must be an object")
        metadata = value.get("metadata")
        phone_number_id = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
        if isinstance(phone_number_id, int) and not isinstance(phone_number_id, bool):
            phone_number_id = str(phone_number_id)
        if not isinstance(phone_number_id, str) or not phone_number_id:
            raise ParseError(f"{where}.value.metadata.phone_number_id is missing")
        messages = _list(value, "messages", f"{where}.value")
        statuses = _list(value, "statuses", f"{where}.value")
        contacts = _list(value, "contacts", f"{where}.value")
        names: dict[str, str | None] = {}
        for contact in contacts:
            if isinstance(contact, dict) and isinstance(contact.get("wa_id"), str):
                profile = contact.get("profile")
                name = profile.get("name") if isinstance(profile, dict) else None
                names[contact["wa_id"]] = name if isinstance(name, str) and name else None
        if value.get("errors"):
            # Out-of-band errors (no message, no status): the hub has no event type for them.
            skipped.append("value.errors")
        events: list[Event] = []
        for k, item in enumerate(messages):
            item_where = f"{where}.value.messages[{k}]"
            if not isinstance(item, dict):
                raise ParseError(f"{item_where} must be an object")
            data, at = to_message(
                item, phone_number_id, names.get(str(item.get("from"))), item_where
            )
            card = [
                c for c in contacts if isinstance(c, dict) and c.get("wa_id") == item.get("from")
            ]
            raw = _narrow(body, entry, change, value, {"contacts": card[:1], "messages": [item]})
            events.append(
                _event("message.received", data["message_id"], message_key(data["message_id"]),
                       data, at, raw, item_where)
            )  # fmt: skip
        for k, item in enumerate(statuses):
            item_where = f"{where}.value.statuses[{k}]"
            if not isinstance(item, dict):
                raise ParseError(f"{item_where} must be an object")
            normalized = to_status(item, item_where)
            if normalized is None:
                skipped.append(f"status {str(item.get('status'))[:20]}")
                continue
            data, at = normalized
            wamid, status = data["message_id"], data["status"]
            raw = _narrow(body, entry, change, value, {"statuses": [item]})
            events.append(
                _event(
                    "message.status", wamid, status_key(wamid, status), data, at, raw, item_where
                )
            )
        return events


def _event(
    type_: str, subject: str, key: str, data: dict[str, Any], at: Any, raw: Any, where: str
) -> Event:
    try:
        return Event.create(
            type=type_, subject=subject, idempotency_key=key, time=at, data=data, raw=raw
        )
    except SchemaViolation as exc:
        raise ParseError(f"whatsapp {where}: {exc}") from exc


def _narrow(
    body: dict[str, Any],
    entry: dict[str, Any],
    change: dict[str, Any],
    value: dict[str, Any],
    items: dict[str, Any],
) -> dict[str, Any]:
    """The notification as Meta would have sent it with only ``items`` in it."""
    kept = {
        k: v for k, v in value.items() if k not in ("messages", "statuses", "contacts", "errors")
    }
    kept.update({k: v for k, v in items.items() if v})
    return {
        **{k: v for k, v in body.items() if k != "entry"},
        "entry": [
            {
                **{k: v for k, v in entry.items() if k != "changes"},
                "changes": [{**{k: v for k, v in change.items() if k != "value"}, "value": kept}],
            }
        ],
    }


def _list(value: dict[str, Any], key: str, where: str) -> list[Any]:
    found = value.get(key)
    if found is None:
        return []
    if not isinstance(found, list):
        raise ParseError(f"{where}.{key} must be a list")
    return found


def _reject_constant(name: str) -> Any:
    raise ParseError(f"body is not valid JSON: {name} is not a JSON number")


def _load(request: WebhookRequest) -> Any:
    """The body as JSON, refusing ``NaN``/``Infinity`` (Python accepts them, JSON does not)."""
    text = request.text()
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise ParseError("body is nested too deeply") from exc
