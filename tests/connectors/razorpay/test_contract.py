"""The Razorpay webhook source passes the hub's standard webhook contract (hub.testing)."""

from __future__ import annotations

from pathlib import Path

from connectors.razorpay import RazorpayWebhook
from hub.signing import hmac_hex
from hub.testing import WebhookSourceContract

SECRET = "whsec_contract_5d1e"


class TestRazorpayWebhookContract(WebhookSourceContract):
    source = RazorpayWebhook
    config = {"webhook_secret": SECRET}
    payloads = Path(__file__).parent / "payloads"
    skipped = frozenset({"payment_dispute_created"})

    def sign(self, body: bytes) -> dict[str, str]:
        return {"X-Razorpay-Signature": hmac_hex(SECRET, body)}

    def headers_for(self, name: str, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-Razorpay-Event-Id": f"evt_{name}_1"}

    def redelivery_headers(self, name: str, body: bytes) -> dict[str, str]:
        return {"X-Razorpay-Event-Id": f"evt_{name}_2"}
