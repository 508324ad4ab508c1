"""Standard Webhooks signatures: ``whsec_`` secrets, signing (sender) and ``verify`` (receiver).

Per the Standard Webhooks spec 1.0.0 (standard-webhooks/standard-webhooks,
``spec/standard-webhooks.md``, "Signature scheme" and "Webhook headers"):

- the signed content is ``{webhook-id}.{webhook-timestamp}.{body}``, the
  body being the exact bytes sent;
- the signature is HMAC-SHA256, base64-encoded, prefixed ``v1,``;
- the secret is presented as ``whsec_`` + base64 of 24 to 64 random bytes,
  and the HMAC key is the *decoded* bytes;
- ``webhook-signature`` is a space-separated list, so during a rotation the
  sender signs with both keys and the receiver accepts any match;
- the receiver compares in constant time, rejects timestamps outside a
  tolerance (the reference libraries use five minutes) to stop replays, and
  uses ``webhook-id`` as its idempotency key.

Pure: no I/O; ``now`` can be passed for tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

from hub.errors import SignatureError
from hub.secrets import Secret

__all__ = [
    "MAX_KEY_BYTES",
    "MIN_KEY_BYTES",
    "SECRET_PREFIX",
    "TOLERANCE",
    "decode_secret",
    "generate_secret",
    "sign",
    "signature_header",
    "verify",
]

SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 24  # spec: "At least 24 bytes (192 bits, 512 maximum)"
MAX_KEY_BYTES = 64
TOLERANCE = 300  # seconds; the spec's reference libraries allow five minutes either way
GENERATE_HINT = (
    'generate one with: python -c "import base64, secrets; '
    "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
)


def generate_secret(nbytes: int = 32) -> str:
    """A fresh ``whsec_`` secret of ``nbytes`` random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def decode_secret(secret: Secret | str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret.

    Raises:
        ValueError: wrong prefix, bad base64 or a key outside 24-64 bytes; the
            message never contains the secret and says how to make a good one.
    """
    text = secret.reveal() if isinstance(secret, Secret) else secret
    text = text.strip()
    if not text.startswith(SECRET_PREFIX):
        raise ValueError(
            f"the signing secret must look like whsec_<base64> (Standard Webhooks); {GENERATE_HINT}"
        )
    encoded = text[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the part after whsec_ is not valid base64; {GENERATE_HINT}") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(
            f"the signing secret decodes to {len(key)} bytes; Standard Webhooks wants "
            f"{MIN_KEY_BYTES} to {MAX_KEY_BYTES} random bytes; {GENERATE_HINT}"
        )
    return key


def _check_id(msg_id: str) -> None:
    # The spec: the id must not be user controlled, "or at the very least not be
    # allowed to include any `.`" (it delimits the signed content).
    if not msg_id or "." in msg_id or any(ch.isspace() for ch in msg_id):
        raise ValueError("a webhook-id must be non-empty, without '.' or whitespace")


def sign(secret: Secret | str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature, ``v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">``."""
    _check_id(msg_id)
    content = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(decode_secret(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(keys: Sequence[Secret | str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per key, space-separated (rotation)."""
    return " ".join(sign(key, msg_id, timestamp, body) for key in keys)


def verify(
    secret: Secret | str | Sequence[Secret | str],
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float = TOLERANCE,
    *,
    now: float | None = None,
) -> str:
    """Check a Standard Webhooks request as a receiver would; returns its ``webhook-id``.

    Args:
        secret: the endpoint's ``whsec_`` secret, or several (a receiver rotating
            its own key accepts a signature made with any of them).
        headers: the request headers (any case).
        body: the raw body bytes, never re-serialized JSON.
        tolerance: seconds the ``webhook-timestamp`` may differ from ``now``.
        now: the current unix time (default: the clock).

    Raises:
        SignatureError: a header is missing or malformed, the timestamp is
            outside the tolerance, or no ``v1`` signature matches.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    sent = lower.get("webhook-signature", "")
    missing = [
        name
        for name, value in (
            ("webhook-id", msg_id),
            ("webhook-timestamp", stamp),
            ("webhook-signature", sent),
        )
        if not value
    ]
    if missing:
        raise SignatureError(f"missing Standard Webhooks header(s): {', '.join(missing)}")
    try:
        timestamp = int(stamp.strip())
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer unix time") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(
            f"webhook-timestamp is {current - timestamp:+.0f}s from now, outside the "
            f"{tolerance:g}s tolerance (a replay, or a clock out of sync)"
        )
    keys = [secret] if isinstance(secret, Secret | str) else list(secret)
    try:
        expected = [base64.b64decode(sign(key, msg_id, timestamp, body)[3:]) for key in keys]
    except ValueError as exc:
        raise SignatureError(f"cannot verify: {exc}") from None
    matched = False
    for item in sent.split():
        version, _, encoded = item.partition(",")
        if version != "v1":
            continue  # v1a (asymmetric) or future schemes: not ours to check
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        for digest in expected:
            # No early exit: every pair is compared, each in constant time.
            matched = hmac.compare_digest(digest, candidate) or matched
    if not matched:
        raise SignatureError("no webhook-signature matches the body (wrong secret or tampered)")
    return msg_id
