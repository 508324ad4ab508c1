"""WhatsApp webhook notifications built the way Meta sends them, signed: for the sandbox and tests.

Pure: no I/O. ``signed`` serializes like Meta (ASCII with ``\\uXXXX`` escapes)
and signs those exact bytes with the App Secret.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any, Protocol

from .sources import SIGNATURE_HEADER, sign

__all__ = ["NumberInfo", "message_notification", "new_wamid", "signed", "status_notification"]


class NumberInfo(Protocol):
    """What a notification needs to know about the business number (``SandboxState`` fits)."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str


def new_wamid() -> str:
    """A fresh wamid-looking message id (base64 of random bytes behind a protobuf-ish prefix)."""
    return (
        "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" + secrets.token_bytes(18)).decode()
    )


def _envelope(state: NumberInfo, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": state.waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": state.display_phone_number,
                                "phone_number_id": state.phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def message_notification(
    state: NumberInfo, wa_id: str, text: str, *, name: Any = None, at: int | None = None
) -> dict[str, Any]:
    """The notification Meta sends when customer ``wa_id`` writes ``text``."""
    when = at if at is not None else int(time.time())
    return _envelope(
        state,
        {
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}] if name else [],
            "messages": [
                {
                    "from": wa_id,
                    "id": new_wamid(),
                    "timestamp": str(when),
                    "type": "text",
                    "text": {"body": text},
                }
            ],
        },
    )


def status_notification(
    state: NumberInfo, sent: dict[str, Any], status: str | None = None
) -> dict[str, Any]:
    """The status notification for a message in ``state.sent`` (its recorded status by default)."""
    item: dict[str, Any] = {
        "id": sent["id"],
        "status": status or sent["status"],
        "timestamp": str(sent["at"]),
        "recipient_id": sent["to"],
    }
    callback = sent["body"].get("biz_opaque_callback_data")
    if callback and item["status"] != "failed":
        item["biz_opaque_callback_data"] = callback
    if item["status"] == "failed" and sent.get("error"):
        item["errors"] = [sent["error"]]
    return _envelope(state, {"statuses": [item]})


def signed(app_secret: str, doc: Any) -> tuple[bytes, dict[str, str]]:
    """``doc`` serialized as Meta does (ASCII, ``\\uXXXX`` escapes) and its headers."""
    body = json.dumps(doc, ensure_ascii=True, separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(app_secret, body)}
