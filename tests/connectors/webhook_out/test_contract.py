"""The outbound webhook action passes the hub's standard action contract (hub.testing).

The sandbox receiver stores each ``webhook-id`` once, so "same idempotency
key writes once" checks the exactly-once mechanism end to end.
"""

from __future__ import annotations

from typing import Any

from connectors.webhook_out import SANDBOX_SECRET, SendWebhook, connector
from hub.testing import ActionContract


class TestSendWebhookContract(ActionContract):
    connector = connector
    action = SendWebhook
    valid_input = {
        "payload": {"data": {"payment_id": "pay_29QQoUBi66xm2f", "amount": "1499.00"}},
        "event_type": "payment.captured",
    }
    write = "POST /hooks/contract"
    records = staticmethod(lambda state: state["received"])

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        return {
            "url": f"{sandbox_url}/hooks/contract",
            "secret": SANDBOX_SECRET,
            "allow_insecure_http": True,
            "allow_private_networks": True,  # the sandbox listens on 127.0.0.1
        }
