"""Cashfree Payments: payment and refund webhooks as hub events (an out-of-tree connector).

Events (webhook ``cashfree.webhook``; Cashfree ``type`` → hub type):

- ``PAYMENT_SUCCESS_WEBHOOK`` → ``payment.captured``
- ``PAYMENT_FAILED_WEBHOOK`` → ``payment.failed``
- ``REFUND_STATUS_WEBHOOK`` with ``refund_status`` ``SUCCESS`` → ``refund.processed``,
  ``CANCELLED`` → ``refund.failed`` (other statuses are not final: skipped)
- anything else (user dropped, settlements, disputes, ...) is acknowledged and skipped

Amounts arrive in major units as JSON numbers and leave as exact 2-dp strings
(``1.8`` → ``"1.80"``; never through ``float``). The idempotency key is
``<hub type>:<cf_payment_id>`` (or ``:<cf_refund_id>``).

Auth: ``x-webhook-signature`` = base64(HMAC-SHA256(secret key,
``x-webhook-timestamp`` + raw body)); the timestamp (milliseconds) must be
within ``max_skew_seconds`` of the server clock, which stops replays. During a
key rotation both ``secret_key`` and ``previous_secret_key`` are accepted.

Actions: none.

API docs:
    https://www.cashfree.com/docs/payments/online/webhooks/signature-verification
    https://www.cashfree.com/docs/api-reference/payments/latest/payments/webhooks
    https://www.cashfree.com/docs/api-reference/payments/latest/refunds/webhooks
"""

from __future__ import annotations

from hub import Connector

from .config import CashfreeConfig
from .sources import CashfreeWebhook

__all__ = ["CashfreeConfig", "CashfreeWebhook", "connector"]

__version__ = "0.1.0"

connector = Connector(
    name="cashfree",
    title="Cashfree Payments",
    config=CashfreeConfig,
    webhook=CashfreeWebhook,
    docs="https://www.cashfree.com/docs/api-reference/payments/latest/payments/webhooks",
)
