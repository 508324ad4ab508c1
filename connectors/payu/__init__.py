"""PayU India: payment responses and refund webhooks from PayU's payment gateway.

Events (webhook ``payu.webhook``; PayU ``status`` → hub type):

- payment response / "Successful" webhook, ``status=success`` → ``payment.captured``
  (``payment.authorized`` when ``unmappedstatus=auth``, a pre-authorization)
- payment response / "Failed" webhook, ``status=failure`` → ``payment.failed``
- "Refund" webhook (JSON, ``action=refund``), ``status=success`` → ``refund.processed``,
  ``status=failure`` → ``refund.failed``
- ``pending`` payments or refunds, disputes, refund ARN callbacks, anything else
  → acknowledged and skipped

Bodies are read by ``Content-Type`` (form-encoded or JSON), or sniffed when it
is missing. Amounts arrive as decimal rupee strings and leave as exact 2-dp
strings (``"1499"`` → ``"1499.00"``; ``Decimal``, never float).

Idempotency: ``<hub type>:<txnid>`` for payments and ``<hub type>:<request_id>``
for refunds. ``txnid`` (not ``mihpayid``) because it is the same on every
redelivery and on the S2S-callback vs. dashboard-webhook paths *and* is covered
by the reverse hash, while ``mihpayid`` is not: a replayed callback with an
edited ``mihpayid`` would otherwise become a second payment. The merchant's
``txnid`` is unique per attempt, so a failed attempt and a later success are two
events (different types); repeated failures of one ``txnid`` are one event.

Auth: payment responses carry ``hash``, PayU's reverse hash (docs "Generate
Hash", reference payu.md §3)::

    sha512(SALT|status||||||udf5|udf4|udf3|udf2|udf1|email|firstname|productinfo|amount|txnid|key)
    sha512(additionalCharges|SALT|status|...|key)   # when additionalCharges is present

checked against ``salt`` and, while changing it, ``previous_salt``. Only those
fields are authenticated; ``mihpayid``, ``mode``, ``bank_ref_num``, ``addedon``,
udf6..udf10 are not, and PayU asks merchants to confirm with its Verify Payment
API before acting. Refund and dispute webhooks are unsigned (no hash is
documented), so they are accepted only on a webhook URL carrying
``?token=<webhook_token>``.

Actions: none.

API docs:
    https://docs.payu.in/docs/webhook-events-and-sample-payloads
    https://docs.payu.in/docs/hashing-request-and-response
    https://docs.payu.in/reference-link/refund-status-callback
    https://github.com/payu-intrepos/web-sdk-nodejs (lib/utils/hasher.js)
"""

from __future__ import annotations

from hub.connector import Connector

from .config import PayUConfig
from .sources import PayUWebhook

__all__ = ["PayUConfig", "PayUWebhook", "connector"]

connector = Connector(
    name="payu",
    title="PayU",
    config=PayUConfig,
    webhook=PayUWebhook,
    docs="https://docs.payu.in/docs/webhook-events-and-sample-payloads",
)
