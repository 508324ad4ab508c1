"""The connector test kit: subclass a contract, get the standard checks.

::

    from hub.testing import WebhookSourceContract

    class TestAcmePayWebhook(WebhookSourceContract):
        source = AcmePayWebhook
        config = {"account_id": "acc_1", "webhook_secret": "whsec_test"}
        payloads = HERE / "payloads"

        def sign(self, body: bytes) -> dict[str, str]:
            return {"X-Acme-Signature": hmac_hex("whsec_test", body)}

The contracts check what the hub relies on (STYLE.md §5): unknown config keys
fail and secrets are masked; every payload gives schema-valid events of the
declared types, or ``SkipEvent``; a tampered body or a missing signature
raises ``SignatureError``; idempotency keys are stable across redeliveries;
``verify`` and ``parse`` do no I/O; polls resume from their cursor and keep it
on an empty page; actions write once per idempotency key, map 401/404/409/
422/429/5xx by consequence, and never retry or sleep on their own.

The kit registers itself as a pytest plugin (entry point ``pytest11``), which
adds the ``contract`` marker; the classes are plain mixins, so they work with
any pytest configuration.
"""

from __future__ import annotations

from hub.testing.actions import ActionContract
from hub.testing.polling import PollingSourceContract
from hub.testing.webhooks import WebhookSourceContract

__all__ = ["ActionContract", "PollingSourceContract", "WebhookSourceContract"]
