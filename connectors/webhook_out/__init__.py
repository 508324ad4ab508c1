"""Outbound webhook connector: POST signed Standard Webhooks requests to any receiver.

Actions:
    webhook_out.send: POST a JSON object, signed per Standard Webhooks, to the
        connection's URL (plus an optional ``url_path``). ``webhook-id`` is the
        step's idempotency key, constant across retries, so a receiver that
        dedupes by it (as the spec requires) applies each step once: this is
        how an outbound webhook is exactly once in effect.

Events: none (a sink).

Auth: HMAC-SHA256 signatures. ``secret`` is ``whsec_`` + base64 of 24-64
random bytes, shared with the receiver; while ``previous_secret`` is set each
request carries two signatures (zero-downtime rotation). Receivers written in
Python can use ``verify`` from this package; any Standard Webhooks library works.

Security: the host is resolved once and every address is checked; loopback,
private, link-local (cloud metadata), unique-local, multicast and other
non-public addresses are refused unless ``allow_private_networks``; the
connection goes to the checked addresses (no DNS rebinding) and redirects are
never followed (``safety``). https is required unless ``allow_insecure_http``.

Sandbox: ``create_sandbox_app`` (``python -m connectors.webhook_out.sandbox``)
is a receiver at ``POST /hooks/{name}`` that verifies and dedupes, with
scripted faults for tests.

Spec: Standard Webhooks 1.0.0, https://www.standardwebhooks.com and
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
(signature scheme, ``webhook-*`` headers, rotation, verification, status handling, SSRF).
"""

from __future__ import annotations

from typing import Any

from hub.connector import Connector

from .actions import SendWebhook, WebhookIn
from .config import WebhookOutConfig
from .sandbox import SANDBOX_SECRET, SandboxState, create_sandbox_app
from .signature import generate_secret, sign, verify

__all__ = [
    "SANDBOX_SECRET",
    "SandboxState",
    "SendWebhook",
    "WebhookIn",
    "WebhookOutConfig",
    "connector",
    "create_sandbox_app",
    "generate_secret",
    "sign",
    "verify",
]


def _base_url(cfg: Any) -> str | None:
    """No shared base URL: ``webhook_out.send`` builds the full URL and its own pinned client."""
    assert isinstance(cfg, WebhookOutConfig)
    return None


connector = Connector(
    name="webhook_out",
    title="Outbound webhook",
    config=WebhookOutConfig,
    actions=(SendWebhook,),
    base_url=_base_url,
    sandbox=create_sandbox_app,
    docs=__doc__ or "",
)
