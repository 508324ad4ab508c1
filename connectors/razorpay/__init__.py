"""Razorpay: payments, refunds and settlements from India's payment gateway.

Events (webhook ``razorpay.webhook``; Razorpay name → hub type):

- ``payment.authorized`` / ``payment.captured`` / ``payment.failed`` → same names
- ``order.paid`` → ``payment.captured`` (same idempotency key as the payment's own
  ``payment.captured``, so one capture is one event whichever arrives first)
- ``refund.processed`` / ``refund.failed`` → same names
- ``settlement.processed`` → ``settlement.processed``
- anything else (disputes, invoices, subscriptions, ...) is acknowledged and skipped

Amounts arrive in minor units (paise) and leave as exact decimal strings in
major units (``149900`` → ``"1499.00"``). The idempotency key is
``<hub type>:<entity id>``; the delivery id (``X-Razorpay-Event-Id``) is kept as
the ``razorpayeventid`` extension. Delivery is at-least-once and unordered.

Auth: each delivery is signed with the webhook secret (``X-Razorpay-Signature``,
hex HMAC-SHA256 of the raw body); during a rotation both the new and the
previous secret are accepted. ``key_id``/``key_secret`` (HTTP Basic) are for
polling the REST API.

Actions: none.

API docs:
    https://razorpay.com/docs/webhooks/
    https://razorpay.com/docs/webhooks/validate-test/
    https://razorpay.com/docs/api/payments/
    https://github.com/razorpay/razorpay-python
"""

from __future__ import annotations

from hub.connector import Connector

from .config import RazorpayConfig
from .sources import RazorpayWebhook

__all__ = ["RazorpayConfig", "RazorpayWebhook", "connector"]

connector = Connector(
    name="razorpay",
    title="Razorpay",
    config=RazorpayConfig,
    webhook=RazorpayWebhook,
    docs="https://razorpay.com/docs/webhooks/",
)
