"""Razorpay: payments, refunds and settlements from India's payment gateway.

Events (webhook ``razorpay.webhook``; Razorpay name → hub type):

- ``payment.authorized`` / ``payment.captured`` / ``payment.failed`` → same names
- ``order.paid`` → ``payment.captured`` (same idempotency key as the payment's own
  ``payment.captured``, so one capture is one event whichever arrives first)
- ``refund.processed`` / ``refund.failed`` → same names
- ``settlement.processed`` → ``settlement.processed``
- ``virtual_account.credited`` / ``qr_code.credited`` → ``bank.transaction.posted``
  (account = the ``va_…``/``qr_…`` id; key ``bank.transaction.posted:razorpay:<payment id>``)
- anything else (disputes, invoices, subscriptions, ...) is acknowledged and skipped

Amounts arrive in minor units (paise) and leave as exact decimal strings in
major units (``149900`` → ``"1499.00"``). The idempotency key is
``<hub type>:<entity id>``; the delivery id (``X-Razorpay-Event-Id``) is kept as
the ``razorpayeventid`` extension. Delivery is at-least-once and unordered.

Polling (``razorpay.payments``, every 5 minutes): ``GET /v1/payments`` through the
official SDK, in time windows paged with ``skip``; ``captured``/``refunded`` →
``payment.captured``, ``authorized`` → ``payment.authorized``, ``failed`` →
``payment.failed``, with the webhook's keys and data, so a payment seen both
ways is one event. Backfill hooks: ``RazorpayPayments.cursor_since`` and
``progress`` (see ``polling.py``).

Auth: each delivery is signed with the webhook secret (``X-Razorpay-Signature``,
hex HMAC-SHA256 of the raw body); during a rotation both the new and the
previous secret are accepted. ``key_id``/``key_secret`` (HTTP Basic) are for
polling the REST API.

Actions: none.

Sandbox: ``create_sandbox_app`` (``python -m connectors.razorpay.sandbox``);
point ``api_base_url`` at it.

API docs:
    https://razorpay.com/docs/webhooks/
    https://razorpay.com/docs/webhooks/validate-test/
    https://razorpay.com/docs/api/payments/
    https://github.com/razorpay/razorpay-python
"""

from __future__ import annotations

from hub.connector import Connector

from .config import RazorpayConfig
from .polling import RazorpayPayments
from .sandbox import create_sandbox_app
from .sources import RazorpayWebhook

__all__ = ["RazorpayConfig", "RazorpayPayments", "RazorpayWebhook", "connector"]

connector = Connector(
    name="razorpay",
    title="Razorpay",
    config=RazorpayConfig,
    webhook=RazorpayWebhook,
    pollers=(RazorpayPayments,),
    sandbox=create_sandbox_app,
    docs="https://razorpay.com/docs/webhooks/",
)
