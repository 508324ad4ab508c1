"""WhatsApp sink action: ``whatsapp.send_message`` (text or approved template).

Idempotency, honestly: the Cloud API has no idempotency header and no way to
search sent messages, so "search before send" is impossible and a retry after
a timeout (Meta accepted the message, the answer was lost) **sends a second
message**. What the action does instead:

- every message carries ``biz_opaque_callback_data`` = the step's idempotency
  key (hashed when over Meta's 512 characters). Meta echoes it in the
  ``sent``/``delivered``/``read`` statuses, so a duplicate is *detectable*:
  two wamids whose statuses carry the same key (``event.raw`` of the
  ``message.status`` events);
- only a timeout or a dropped connection is ambiguous; every Graph error
  answer means nothing was sent, so retrying those is safe.

A step that must never double-send should use ``retry: {max_attempts: 1}``
and let ops replay from the dead-letter view after checking the statuses.

Errors map by Graph error code first (Meta answers some rate limits and token
errors with HTTP 400), then by HTTP status through ``hub.http.raise_for_status``;
messages carry Meta's text, code and what to do.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.connector import Action, ActionContext
from hub.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    PermanentError,
    RateLimitError,
    TransientError,
)
from hub.http import Response, raise_for_status

from .config import WhatsAppConfig

__all__ = [
    "AUTH_CODES",
    "RATE_LIMIT_CODES",
    "TRANSIENT_CODES",
    "SendMessage",
    "SendMessageIn",
    "TemplateIn",
    "callback_data",
    "graph_result",
]

CALLBACK_MAX: Final = 512  # biz_opaque_callback_data limit (Meta changelog: 256 → 512)

# Graph error codes (Meta's WhatsApp error-code table, from memory: UNCONFIRMED
# beyond the reference). Used before the HTTP status because Meta answers
# several of these with 400.
RATE_LIMIT_CODES: Final = frozenset({4, 80007, 130429, 131048, 131056})
AUTH_CODES: Final = frozenset({0, 10, 190, 131005})
TRANSIENT_CODES: Final = frozenset({1, 2, 131000, 131016, 133004})

_HINTS: Final[dict[int, str]] = {
    190: "the access token expired or was revoked: create a new System User token "
    "and update the connection's access_token",
    10: "the token lacks the whatsapp_business_messaging permission for this number",
    131047: "more than 24 hours since the customer last wrote: send an approved template",
    131026: "the recipient cannot receive this message (no WhatsApp, old app, or blocked)",
    130429: "the number's throughput limit was hit: the retry will wait",
    131056: "too many messages to this recipient in a short time: the retry will wait",
    132001: "the template name/language does not exist or is not approved",
    100: "a parameter is invalid: check the step's inputs",
}


class TemplateIn(BaseModel):
    """An approved message template to send (business-initiated, outside the 24 h window)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512, description="Template name as approved.")
    language: str = Field(
        min_length=2,
        max_length=15,
        description="Language code of the approved translation, e.g. en_US.",
    )
    components: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Header/body/button parameters, in the Cloud API's `components` shape.",
    )


class SendMessageIn(BaseModel):
    """A WhatsApp message to one customer."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(
        pattern=r"^\+?[1-9][0-9]{5,14}$",
        description="Recipient's number in E.164 (country code, digits, optional +), or wa_id.",
    )
    kind: Literal["text", "template"] = Field(
        default="text", description="text (inside the 24 h window) or template."
    )
    text: str | None = Field(
        default=None, min_length=1, max_length=4096, description="Body of a text message."
    )
    preview_url: bool = Field(default=False, description="Render a preview of the first URL.")
    template: TemplateIn | None = Field(default=None, description="The template of kind template.")
    reply_to: str | None = Field(
        default=None,
        min_length=1,
        description="wamid of the customer's message to quote (context.message_id).",
    )

    @model_validator(mode="after")
    def _one_body(self) -> Self:
        if self.kind == "text" and (self.text is None or self.template is not None):
            raise ValueError("kind text needs `text` and no `template`")
        if self.kind == "template" and (self.template is None or self.text is not None):
            raise ValueError("kind template needs `template` and no `text`")
        return self


def callback_data(idempotency_key: str) -> str:
    """The ``biz_opaque_callback_data`` of a send: the key itself, hashed if over 512 characters."""
    if len(idempotency_key) <= CALLBACK_MAX:
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def _graph_error(resp: Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except PermanentError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _describe(error: dict[str, Any], status: int) -> tuple[str, int | None]:
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    text = message or f"HTTP {status}"
    if isinstance(details, str) and details and details not in text:
        text = f"{text} ({details})"
    if code is not None:
        text = f"{text} [code {code}]"
    hint = _HINTS.get(code) if code is not None else None
    return (f"{text}; {hint}" if hint else text), code


def graph_result(resp: Response, what: str) -> dict[str, Any]:
    """The JSON body of a successful Graph call, or the error it stands for.

    Raises:
        RateLimitError, AuthError, TransientError: by Graph error code when it
            is a known one, else by HTTP status (``raise_for_status``).
        PermanentError: other errors, worded "WhatsApp refused <what>: <Meta's
            message> [code N]; <what to do>".
    """
    try:
        raise_for_status(resp)
    except ConnectorError as exc:
        message, code = _describe(_graph_error(resp), resp.status)
        retry_after = getattr(exc, "retry_after", None)
        text = f"WhatsApp refused {what}: {message}"
        if code in RATE_LIMIT_CODES or isinstance(exc, RateLimitError):
            raise RateLimitError(text, exc.status, exc.detail, retry_after=retry_after) from exc
        if code in AUTH_CODES or isinstance(exc, AuthError):
            raise AuthError(f"{text}; re-authorize the connection", exc.status, exc.detail) from exc
        if code in TRANSIENT_CODES or isinstance(exc, TransientError):
            raise TransientError(text, exc.status, exc.detail, retry_after=retry_after) from exc
        raise PermanentError(text, exc.status, exc.detail) from exc
    body = resp.json()
    if not isinstance(body, dict):
        raise PermanentError(f"WhatsApp answered {what} with something that is not an object")
    return body


class SendMessage(Action[WhatsAppConfig, SendMessageIn]):
    """Send a text or template message from the connection's number.

    Returns ``{"message_id": wamid, "wa_id": recipient}``; the wamid is the
    ``message_id`` of the ``message.status`` events that follow. Not idempotent
    across a timeout (see the module docstring).
    """

    name = "whatsapp.send_message"
    input_model = SendMessageIn
    description = "Send a WhatsApp text or template message (key in biz_opaque_callback_data)."

    async def run(self, item: SendMessageIn, ctx: ActionContext) -> dict[str, Any]:
        token = self.config.access_token
        if token is None or not self.config.phone_number_id:
            raise ConfigError(
                f"connection {ctx.connection!r}: whatsapp.send_message needs access_token "
                "and phone_number_id in the connection's config"
            )
        headers = {"Authorization": f"Bearer {token.reveal()}"}
        resp = await ctx.http.post(
            self.config.messages_path(),
            json_body=self.body(item, ctx.idempotency_key),
            headers=headers,
        )
        body = graph_result(resp, f"the message to {item.to}")
        messages = body.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        wamid = first.get("id") if isinstance(first, dict) else None
        if not isinstance(wamid, str) or not wamid:
            raise PermanentError(
                "WhatsApp accepted the message but answered without messages[0].id"
            )
        contacts = body.get("contacts")
        contact = contacts[0] if isinstance(contacts, list) and contacts else None
        wa_id = contact.get("wa_id") if isinstance(contact, dict) else None
        return {
            "message_id": wamid,
            "wa_id": wa_id if isinstance(wa_id, str) else item.to.lstrip("+"),
        }

    @staticmethod
    def body(item: SendMessageIn, idempotency_key: str) -> dict[str, Any]:
        """The Cloud API request body for ``item``."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": item.to.lstrip("+"),
            "type": item.kind,
            "biz_opaque_callback_data": callback_data(idempotency_key),
        }
        if item.kind == "text":
            body["text"] = {"body": item.text, "preview_url": item.preview_url}
        else:
            assert item.template is not None  # the model's validator guarantees it
            body["template"] = {
                "name": item.template.name,
                "language": {"code": item.template.language},
                "components": item.template.components,
            }
        if item.reply_to:
            body["context"] = {"message_id": item.reply_to}
        return body
