"""WhatsApp Cloud API (Meta): inbound messages and delivery statuses in, messages out.

Events (webhook ``whatsapp.webhook``; one POST may batch many, one event each):

- ``messages[]`` → ``message.received`` (kinds text, image, document, audio,
  video, sticker, location, contacts, button, interactive, reaction, order,
  system; any other or future type → kind ``unsupported``, never an error).
  Key ``message.received:{wamid}``; the sender's profile name → ``from.name``.
- ``statuses[]`` → ``message.status`` (sent, delivered, read, failed with
  ``error``). Key ``message.status:{wamid}:{status}``. Statuses arrive out of
  order: consumers keep the latest with ``normalize.status_supersedes``
  (``sent < delivered < read < deleted < failed``), so a late ``delivered``
  never overwrites ``read``. ``played`` (voice notes) has no hub status: skipped.
- other webhook fields (account_update, template reviews, ...) are skipped.

``event.raw`` is the notification narrowed to the event's one item.

Actions: ``whatsapp.send_message`` (text or template, optional quoted reply):
returns ``{"message_id": wamid, "wa_id": ...}``. The Cloud API has no
idempotency key: the step's key travels in ``biz_opaque_callback_data`` and
comes back on the statuses, so a duplicate after a timeout is detectable, not
prevented (see ``actions``).

Auth: ``GET`` subscription check with the verify token (``hub.challenge``
echoed as text/plain, else 403); each POST signed with the App Secret
(``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``); sends use
a Bearer access token (System User token).

Sandbox: ``create_sandbox_app`` (``python -m connectors.whatsapp.sandbox``)
speaks the send API locally with Meta's error shapes, plus signed-webhook builders.

API docs:
    https://developers.facebook.com/docs/graph-api/webhooks/getting-started
    https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components
    https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
    https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
"""

from __future__ import annotations

from typing import Any

from hub.connector import Connector

from .actions import SendMessage, SendMessageIn, TemplateIn
from .config import WhatsAppConfig
from .normalize import STATUS_RANK, latest_status, status_supersedes
from .sandbox import SandboxState, create_sandbox_app
from .sources import WhatsAppWebhook

__all__ = [
    "STATUS_RANK",
    "SandboxState",
    "SendMessage",
    "SendMessageIn",
    "TemplateIn",
    "WhatsAppConfig",
    "WhatsAppWebhook",
    "connector",
    "create_sandbox_app",
    "latest_status",
    "status_supersedes",
]


def _base_url(cfg: Any) -> str:
    """The HTTP client's base: the Graph root (send paths are ``/{version}/{id}/messages``)."""
    assert isinstance(cfg, WhatsAppConfig)
    return cfg.graph_base()


connector = Connector(
    name="whatsapp",
    title="WhatsApp Cloud API",
    config=WhatsAppConfig,
    webhook=WhatsAppWebhook,
    actions=(SendMessage,),
    base_url=_base_url,
    sandbox=create_sandbox_app,
    docs=__doc__ or "",
)
