"""HMAC helpers for webhook signatures: constant-time comparison, hex and base64 digests.

Connectors verify over the raw request bytes, never re-serialized JSON.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from hub.secrets import Secret

__all__ = ["hmac_b64", "hmac_hex", "hmac_matches"]


def _key(secret: Secret | str) -> bytes:
    return (secret.reveal() if isinstance(secret, Secret) else secret).encode("utf-8")


def hmac_hex(secret: Secret | str, body: bytes, digest: str = "sha256") -> str:
    """Lowercase hex HMAC of ``body`` (Razorpay, WhatsApp's ``sha256=`` value)."""
    return hmac.new(_key(secret), body, getattr(hashlib, digest)).hexdigest()


def hmac_b64(secret: Secret | str, body: bytes, digest: str = "sha256") -> str:
    """Base64 HMAC of ``body`` (Standard Webhooks, Shopify, Cashfree)."""
    return base64.b64encode(
        hmac.new(_key(secret), body, getattr(hashlib, digest)).digest()
    ).decode()


def hmac_matches(
    secret: Secret | str | None, body: bytes, sent: str, digest: str = "sha256"
) -> bool:
    """True when ``sent`` is the hex HMAC of ``body`` under ``secret`` (constant time)."""
    if secret is None or not sent:
        return False
    return hmac.compare_digest(hmac_hex(secret, body, digest), sent.strip().lower())
