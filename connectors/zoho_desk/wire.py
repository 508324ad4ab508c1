"""Zoho Desk's wire details: answers to errors, the values stored in custom fields, timestamps.

Pure helpers shared by the actions (no I/O): ``desk_result`` maps an answer
to the hub's errors (``hub.http.raise_for_status`` first, then Desk's
``{"errorCode", "message", "errors": [{fieldName, errorType}]}`` wording);
``field_value`` and ``thread_value`` say what the ``key_field`` and
``thread_field`` custom fields hold.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from hub.errors import AuthError, PermanentError
from hub.http import Response, raise_for_status

__all__ = [
    "CHAT_PREFIXES",
    "FIELD_MAX",
    "comment_tag",
    "desk_result",
    "field_value",
    "is_open",
    "parse_time",
    "thread_value",
]

FIELD_MAX = 255  # Desk's single-line field and subject length
CHAT_PREFIXES = ("whatsapp:",)
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


def _json_or_none(resp: Response) -> Any:
    try:
        return resp.json()
    except PermanentError:
        return None


def _desk_message(body: Any) -> str:
    if not isinstance(body, dict):
        return "an answer that is not a Desk JSON object"
    message = str(body.get("message") or "no message")
    code = body.get("errorCode") or body.get("code")
    fields = [
        f"{e.get('fieldName', '?')} is {e.get('errorType', 'invalid')}"
        for e in body.get("errors") or []
        if isinstance(e, dict)
    ]
    text = f"{message} ({'; '.join(fields)})" if fields else message
    return f"{text} [{code}]" if code not in (None, "") else text


def desk_result(resp: Response, what: str) -> dict[str, Any] | None:
    """Desk's JSON object for a successful call (``None`` for 204), or the error it stands for.

    Raises:
        RateLimitError, TransientError: by status (``raise_for_status``).
        AuthError: 401/403 after the token refresh; ``OAUTH_ORG_MISMATCH`` says check org_id.
        PermanentError: other 4xx or a non-JSON body, worded "Zoho Desk rejected <what>:
            <message> (<field> is missing) [<errorCode>]".
    """
    if resp.status == 204:
        return None
    try:
        raise_for_status(resp)
    except PermanentError as exc:
        body = _json_or_none(resp)
        if isinstance(body, dict) and body.get("errorCode") == "OAUTH_ORG_MISMATCH":
            raise AuthError(
                "Zoho Desk refused the portal: the token's organization does not match "
                "org_id; check org_id and the data centre, then re-authorize",
                exc.status,
                exc.detail,
            ) from exc
        if type(exc) is not PermanentError:  # AuthError keeps its own wording
            raise
        raise PermanentError(
            f"Zoho Desk rejected {what}: {_desk_message(body)}", exc.status, exc.detail
        ) from exc
    body = resp.json()
    if body is None:
        return None
    if not isinstance(body, dict):
        raise PermanentError(f"Zoho Desk answered {what} with {_desk_message(body)}", resp.status)
    return body


def field_value(key: str) -> str:
    """What a custom field or tag stores for ``key``: itself when short and plain, else its hash."""
    return key if _SAFE_KEY.match(key) else hashlib.sha256(key.encode()).hexdigest()


def thread_value(thread_key: str) -> str:
    """The stored conversation key: ``whatsapp:<digits>``, else the key (hashed if unsafe)."""
    key = thread_key.strip()
    for prefix in CHAT_PREFIXES:
        if key.lower().startswith(prefix):
            return prefix + "".join(ch for ch in key[len(prefix) :] if ch.isdigit())
    if len(key) <= FIELD_MAX and "*" not in key:  # '*' is Desk search's wildcard
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def comment_tag(key: str) -> str:
    """The tag that ends a comment the hub adds, so a retry can recognise it."""
    return f"[hub:{field_value(key)}]"


def parse_time(value: Any) -> dt.datetime | None:
    """A Desk timestamp (``2026-11-20T08:00:00.000Z``) as an aware datetime, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def is_open(ticket: dict[str, Any]) -> bool:
    """Whether a ticket can be continued: its status type is not Closed."""
    kind = str(ticket.get("statusType") or ticket.get("status") or "").lower()
    return kind != "closed"
