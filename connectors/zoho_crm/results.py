"""How Zoho CRM answers are read: the status map, per-record results, 204 searches, hub keys.

CRM answers a write with one result per record; that per-item ``status`` is
the truth, whatever the HTTP status (reference/zoho.md §3). Statuses go
through ``hub.http.raise_for_status`` (the one map); item errors become
``PermanentError`` naming the field (``details.api_name``) and Zoho's message.
A search or list without hits is HTTP 204 with an empty body.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

from hub.connector import ActionContext
from hub.errors import ConfigError, PermanentError, RateLimitError
from hub.http import Response, raise_for_status

from .config import API_NAME_PATTERN, ZohoCrmConfig
from .session import ZohoCrmSession

__all__ = [
    "API",
    "API_NAME",
    "MARKER",
    "check",
    "check_custom",
    "crm_item",
    "escape",
    "find_exact",
    "hub_marker",
    "json_or_none",
    "key_value",
    "number",
    "rows_of",
    "search_rows",
    "session_of",
    "split_name",
    "write_body",
]

API = "/crm/v7"
KEY_MAX = 255  # single-line text fields hold 255 characters
RATE_LIMIT_WAIT = 60.0  # Zoho sends no Retry-After on a concurrency 429; a minute is safe
MARKER = "hub:"
API_NAME = re.compile(API_NAME_PATTERN)


def session_of(ctx: ActionContext) -> ZohoCrmSession:
    """The connection's ``ZohoCrmSession``, or a ``ConfigError`` saying it is missing."""
    if not isinstance(ctx.session, ZohoCrmSession):
        raise ConfigError(
            f"connection {ctx.connection!r}: zoho_crm actions need the connection's "
            "ZohoCrmSession (the hub creates it from the connector's `session`)"
        )
    return ctx.session


def json_or_none(resp: Response) -> Any:
    """The body as JSON, or ``None`` when it is empty or not JSON."""
    try:
        return resp.json()
    except PermanentError:
        return None


def hub_marker(idempotency_key: str) -> str:
    """The ``hub:<key>`` line that marks a note or task as this step's (key hashed if long)."""
    key = idempotency_key
    if len(key) > KEY_MAX - len(MARKER):
        key = hashlib.sha256(key.encode()).hexdigest()
    return f"{MARKER}{key}"


def key_value(idempotency_key: str) -> str:
    """The key as stored in a 255-character text field (hashed if longer)."""
    if len(idempotency_key) <= KEY_MAX:
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def item_error(item: dict[str, Any], what: str) -> PermanentError:
    details = item.get("details") if isinstance(item.get("details"), dict) else {}
    assert isinstance(details, dict)
    code = str(item.get("code") or "error")
    message = str(item.get("message") or "no message")
    field = details.get("api_name")
    where = f" (field {field})" if field else ""
    extra = ""
    if code == "DUPLICATE_DATA" and details.get("duplicate_record"):
        dup = details["duplicate_record"]
        dup_id = dup.get("id") if isinstance(dup, dict) else dup
        extra = f"; existing record {dup_id}"
    return PermanentError(
        f"Zoho CRM rejected {what}: {message}{where} [{code}]{extra}", None, str(item)[:300]
    )


def check(resp: Response, what: str) -> None:
    """Raise by status (``raise_for_status``), worded for CRM and naming the failed field.

    A 4xx whose body carries per-record results reports the first failed item
    (Zoho answers a batch whose every record failed with 400 and ``data[]``).
    """
    try:
        raise_for_status(resp)
    except RateLimitError as exc:
        if exc.retry_after is not None:
            raise
        raise RateLimitError(
            f"{exc.message}; Zoho CRM's API credits or concurrency limit is spent",
            exc.status,
            exc.detail,
            retry_after=RATE_LIMIT_WAIT,
        ) from exc
    except PermanentError as exc:
        if type(exc) is not PermanentError:  # AuthError keeps its own meaning
            raise
        body = json_or_none(resp)
        items = body.get("data") if isinstance(body, dict) else None
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict) and item.get("status") == "error":
                    err = item_error(item, what)
                    raise PermanentError(err.message, exc.status, exc.detail) from exc
        if isinstance(body, dict) and isinstance(body.get("details"), dict):
            field = body["details"].get("api_name")
            if field:
                raise PermanentError(
                    f"Zoho CRM rejected {what}: {body.get('message')} (field {field}) "
                    f"[{body.get('code')}]",
                    exc.status,
                    exc.detail,
                ) from exc
        raise PermanentError(
            f"Zoho CRM rejected {what}: {exc.message}", exc.status, exc.detail
        ) from exc


def crm_item(resp: Response, what: str) -> dict[str, Any]:
    """The one per-record result of a write, or the error it stands for.

    Raises:
        RateLimitError, TransientError, AuthError: by HTTP status.
        PermanentError: a 4xx, or an item whose ``status`` is ``error`` (naming
            ``details.api_name`` and Zoho's message), or an answer without results.
    """
    check(resp, what)
    body = json_or_none(resp)
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        raise PermanentError(
            f"Zoho CRM answered {what} with {resp.status} but no per-record result", resp.status
        )
    item: dict[str, Any] = items[0]
    if item.get("status") != "success":
        raise item_error(item, what)
    details = item.get("details")
    if not isinstance(details, dict) or not details.get("id"):
        raise PermanentError(f"Zoho CRM answered {what} without the record's id", resp.status)
    return item


def rows_of(resp: Response, what: str) -> tuple[list[dict[str, Any]], bool]:
    """Rows of a search or list answer and whether more pages exist; 204 means none."""
    check(resp, what)
    if resp.status == 204 or not resp.body:
        return [], False
    body = json_or_none(resp)
    if not isinstance(body, dict):
        raise PermanentError(f"Zoho CRM answered {what} with a body that is not an object")
    rows = [r for r in body.get("data") or [] if isinstance(r, dict)]
    info = body.get("info") if isinstance(body.get("info"), dict) else {}
    assert isinstance(info, dict)
    return rows, bool(info.get("more_records"))


def escape(value: str) -> str:
    """A criteria value with ``(``, ``)`` and ``,`` escaped (the client URL-encodes it)."""
    return re.sub(r"([(),\\])", r"\\\1", value)


def number(value: Decimal) -> float:
    """A JSON number with the same digits (``max_digits=15`` keeps the float exact)."""
    return float(value)


def write_body(record: dict[str, Any], config: ZohoCrmConfig) -> dict[str, Any]:
    body: dict[str, Any] = {"data": [record]}
    if config.triggers is not None:
        body["trigger"] = list(config.triggers)
    return body


def check_custom(fields: dict[str, Any], typed: set[str]) -> dict[str, Any]:
    for name in fields:
        if not API_NAME.match(name):
            raise ValueError(f"custom field {name!r} is not a Zoho API name (e.g. Lead_Score__c)")
        if name in typed:
            raise ValueError(f"{name} has its own input field; do not set it in `fields`")
    return fields


def split_name(full: str) -> tuple[str | None, str]:
    """``(First_Name, Last_Name)`` from a full name: the last word is the surname.

    One word stays whole as ``Last_Name`` (Zoho's mandatory field).
    """
    words = full.split()
    if len(words) <= 1:
        return None, full.strip()
    return " ".join(words[:-1]), words[-1]


# --- searches -------------------------------------------------------------------------


async def search_rows(
    session: ZohoCrmSession,
    module: str,
    params: dict[str, str],
    what: str,
    *,
    pages: int = 1,
) -> list[dict[str, Any]]:
    """Rows of ``GET /{module}/search`` (200 a page, up to ``pages`` pages); 204: none."""
    found: list[dict[str, Any]] = []
    for page in range(1, pages + 1):
        query = {**params, "page": str(page), "per_page": "200"}
        resp = await session.request("GET", f"{API}/{module}/search", params=query)
        rows, more = rows_of(resp, what)
        found.extend(rows)
        if not more:
            break
    return found


async def find_exact(
    session: ZohoCrmSession, module: str, field: str, value: str
) -> dict[str, Any] | None:
    """The record whose ``field`` is exactly ``value`` (CRM's ``equals`` matches loosely)."""
    criteria = f"({field}:equals:{escape(value)})"
    rows = await search_rows(session, module, {"criteria": criteria}, f"the {module} search")
    return next((r for r in rows if r.get("id") and r.get(field) == value), None)
