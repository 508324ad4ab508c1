"""Salesforce sink actions: ``create_case``, ``add_case_comment``, ``upsert_contact``.

How each one writes once in effect:

- ``salesforce.create_case``: the step's idempotency key goes in a Case
  external-ID field (``case_external_id_field``). The action first reads the
  Case by that key (``GET /sobjects/Case/{field}/{key}``) and returns it when
  it exists, so a retry never overwrites what an agent changed since; else it
  upserts (``PATCH`` on the same resource), so even two racing attempts make
  one Case.
- ``salesforce.add_case_comment``: CaseComment has no external-ID field, so
  the comment body ends with a marker ``[hub:<20 hex of sha256(key)>]`` and the
  action searches before it creates (SOQL on ``ParentId`` and ``CommentBody
  LIKE '%<marker>%'``). The marker is visible in the comment (also to the
  customer when ``IsPublished``); that is the price of idempotency here.
- ``salesforce.upsert_contact``: upsert by ``contact_external_id_field`` with
  the value the step gives: naturally idempotent.

Salesforce errors are a JSON list ``[{"message", "errorCode", "fields"}]``.
Statuses go through ``hub.http.raise_for_status`` except two Salesforce
quirks handled here first: ``403`` with ``REQUEST_LIMIT_EXCEEDED`` is the
org's rolling 24-hour API limit (``RateLimitError``, not an auth failure), and
``300`` means the external ID matched several records (``PermanentError``).
``UNABLE_TO_LOCK_ROW`` (a 400 caused by row-lock contention) is transient.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.connector import Action, ActionContext
from hub.errors import ConfigError, PermanentError, RateLimitError, TransientError
from hub.http import Response, raise_for_status

from .auth import SalesforceSession, parse_limit_info
from .config import SalesforceConfig

__all__ = [
    "AddCaseComment",
    "CaseCommentIn",
    "CaseIn",
    "ContactIn",
    "CreateCase",
    "UpsertContact",
    "comment_marker",
    "external_key",
    "salesforce_result",
]

RECORD_ID = r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$"
EXTERNAL_ID_MAX = 255  # Text external-ID fields hold at most 255 characters
COMMENT_MAX = 4000  # CaseComment.CommentBody: 4,000 bytes
MARKER_LEN = len("\n\n[hub:]") + 20
# The daily limit is a rolling 24 hours; Salesforce sends no Retry-After, so suggest a pause.
LIMIT_RETRY_AFTER = 900.0
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})


def _session(ctx: ActionContext) -> SalesforceSession:
    if not isinstance(ctx.session, SalesforceSession):
        raise ConfigError(
            f"connection {ctx.connection!r}: salesforce actions need the connection's "
            "SalesforceSession (the hub creates it from the connector's `session`)"
        )
    return ctx.session


def _json_or_none(resp: Response) -> Any:
    try:
        return resp.json()
    except PermanentError:
        return None


def _errors(body: Any) -> list[dict[str, Any]]:
    """Salesforce's error list (also a lone object, as proxies and faults send)."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return []
    return [e for e in body if isinstance(e, dict)]


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:3]:
        message = str(err.get("message") or "no message")
        code = err.get("errorCode") or err.get("code")
        fields = err.get("fields") or []
        text = f"{message} ({code})" if code not in (None, "") else message
        if isinstance(fields, list) and fields:
            text += f" [fields: {', '.join(str(f) for f in fields)}]"
        parts.append(text)
    return "; ".join(parts) or "no error details"


def salesforce_result(resp: Response, what: str) -> Any:
    """The JSON body of a successful call, or the hub error it stands for.

    Args:
        resp: the answer.
        what: what was being done, for the message ("the case", "the comment search").

    Raises:
        RateLimitError: 403 ``REQUEST_LIMIT_EXCEEDED`` (org API limit), or 429.
        TransientError: 5xx, 408, or a lock-contention error code.
        AuthError: 401 (after the session's one refresh) or another 403.
        PermanentError: 300 (several records match), other 4xx, worded
            "Salesforce rejected <what>: <message> (<errorCode>) [fields: ...]".
    """
    errors = _errors(_json_or_none(resp)) if resp.status >= 300 else []
    codes = {str(e.get("errorCode", "")) for e in errors}
    if resp.status == 300:
        raise PermanentError(
            f"Salesforce found several records for {what}'s external ID; make the field "
            "Unique in Setup so upserts can match one record",
            resp.status,
            resp.text()[:300],
        )
    if resp.status == 403 and "REQUEST_LIMIT_EXCEEDED" in codes:
        usage = parse_limit_info(resp.headers)
        shown = f" (api-usage {usage[0]}/{usage[1]})" if usage else ""
        raise RateLimitError(
            f"Salesforce's org API request limit is spent{shown} while writing {what}; "
            "calls resume as the rolling 24-hour window frees up",
            resp.status,
            _describe(errors),
            retry_after=LIMIT_RETRY_AFTER,
        )
    if 400 <= resp.status < 500 and codes & TRANSIENT_CODES:
        raise TransientError(
            f"Salesforce could not write {what} now: {_describe(errors)}; try again",
            resp.status,
            _describe(errors),
        )
    try:
        raise_for_status(resp)
    except PermanentError as exc:
        if type(exc) is not PermanentError:  # AuthError keeps its own meaning and wording
            raise
        raise PermanentError(
            f"Salesforce rejected {what}: {_describe(errors)}", exc.status, exc.detail
        ) from exc
    return _json_or_none(resp)


def external_key(idempotency_key: str) -> str:
    """The value stored in the Case external-ID field: the key, hashed if it is too long."""
    if len(idempotency_key) <= EXTERNAL_ID_MAX:
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def comment_marker(idempotency_key: str) -> str:
    """The marker a comment ends with: ``[hub:`` 20 hex digits of the key's SHA-256 ``]``."""
    return f"[hub:{hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]}]"


def _soql_literal(value: str) -> str:
    """A SOQL string literal's inside: backslash and quote escaped."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _record_id(body: Any, what: str) -> str:
    record_id = body.get("id") or body.get("Id") if isinstance(body, dict) else None
    if not isinstance(record_id, str) or not record_id:
        raise PermanentError(f"Salesforce answered {what} without an id")
    return record_id


def _fields(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_none=True, exclude={"external_id"})


# --- create_case -----------------------------------------------------------------------------


class CaseIn(BaseModel):
    """A support case to open (once per idempotency key)."""

    model_config = ConfigDict(extra="forbid")

    Subject: str | None = Field(default=None, max_length=255, description="One-line summary.")
    Description: str | None = Field(
        default=None, max_length=32000, description="What the customer wrote, in full."
    )
    Origin: str | None = Field(
        default=None,
        description=(
            "Case Origin picklist value: Email, Phone, Web, or a value the org added "
            "(e.g. WhatsApp)."
        ),
    )
    Priority: str | None = Field(default=None, description="High, Medium or Low (org picklist).")
    Status: str | None = Field(
        default=None, description="Case Status picklist value; default: the org's default (New)."
    )
    ContactId: str | None = Field(
        default=None, pattern=RECORD_ID, description="Contact the case is about (003...)."
    )
    AccountId: str | None = Field(default=None, pattern=RECORD_ID, description="Account (001...).")
    SuppliedEmail: str | None = Field(
        default=None, max_length=80, description="Web email, when there is no ContactId."
    )
    SuppliedName: str | None = Field(
        default=None, max_length=80, description="Web name, when there is no ContactId."
    )
    SuppliedPhone: str | None = Field(
        default=None, max_length=40, description="Web phone, when there is no ContactId."
    )


class CreateCase(Action[SalesforceConfig, CaseIn]):
    """Open a Case once per idempotency key (kept in the Case external-ID field)."""

    name = "salesforce.create_case"
    input_model = CaseIn
    description = "Open a Salesforce Case, once per idempotency key (external-ID upsert)."

    async def run(self, item: CaseIn, ctx: ActionContext) -> dict[str, Any]:
        session = _session(ctx)
        field = self.config.case_external_id_field
        path = self.config.external_id_path("Case", field, external_key(ctx.idempotency_key))
        found = await session.request("GET", path, params={"fields": "Id"})
        if found.status != 404:
            case_id = _record_id(salesforce_result(found, "the case"), "the case")
            return {"case_id": case_id, "created": False}
        resp = await session.request("PATCH", path, json_body=_fields(item))
        body = salesforce_result(resp, "the case")
        if resp.status == 204:  # API versions before 46.0 answer an update with no body
            again = await session.request("GET", path, params={"fields": "Id"})
            body = salesforce_result(again, "the case")
        created = resp.status == 201
        return {"case_id": _record_id(body, "the case"), "created": created}


# --- add_case_comment ------------------------------------------------------------------------


class CaseCommentIn(BaseModel):
    """A comment to add to a case (once per idempotency key)."""

    model_config = ConfigDict(extra="forbid")

    ParentId: str = Field(pattern=RECORD_ID, description="The Case's record ID (500...).")
    CommentBody: str = Field(
        min_length=1,
        max_length=COMMENT_MAX - MARKER_LEN,
        description="Comment text; the hub appends an idempotency marker ([hub:...]).",
    )
    IsPublished: bool = Field(
        default=False, description="Visible to the customer (portal/community) when true."
    )


class AddCaseComment(Action[SalesforceConfig, CaseCommentIn]):
    """Add a CaseComment once per idempotency key (marker in the body, searched first)."""

    name = "salesforce.add_case_comment"
    input_model = CaseCommentIn
    description = "Add a comment to a Salesforce Case, once per idempotency key."

    async def run(self, item: CaseCommentIn, ctx: ActionContext) -> dict[str, Any]:
        session = _session(ctx)
        marker = comment_marker(ctx.idempotency_key)
        existing = await self._find(session, item.ParentId, marker)
        if existing is not None:
            return {"comment_id": existing, "created": False}
        body = {
            "ParentId": item.ParentId,
            "CommentBody": f"{item.CommentBody}\n\n{marker}",
            "IsPublished": item.IsPublished,
        }
        path = self.config.data_path("sobjects/CaseComment")
        resp = await session.request("POST", path, json_body=body)
        comment_id = _record_id(salesforce_result(resp, "the comment"), "the comment")
        return {"comment_id": comment_id, "created": True}

    async def _find(self, session: SalesforceSession, parent: str, marker: str) -> str | None:
        soql = (
            "SELECT Id, CommentBody FROM CaseComment "
            f"WHERE ParentId = '{_soql_literal(parent)}' "
            f"AND CommentBody LIKE '%{_soql_literal(marker)}%' LIMIT 10"
        )
        resp = await session.request("GET", self.config.data_path("query"), params={"q": soql})
        body = salesforce_result(resp, "the comment search")
        rows = body.get("records") if isinstance(body, dict) else None
        for row in rows or []:
            # LIKE is case-insensitive; only our exact marker counts.
            if isinstance(row, dict) and marker in str(row.get("CommentBody") or ""):
                return str(row.get("Id"))
        return None


# --- upsert_contact --------------------------------------------------------------------------


class ContactIn(BaseModel):
    """A contact to create or update, matched on the connection's Contact external-ID field."""

    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(
        min_length=1,
        max_length=EXTERNAL_ID_MAX,
        description=(
            "Value of contact_external_id_field that identifies the person, e.g. a lower-cased "
            "email or 'wa:919845012345'."
        ),
    )
    LastName: str = Field(min_length=1, max_length=80, description="Required by Salesforce.")
    FirstName: str | None = Field(default=None, max_length=40, description="Given name.")
    Email: str | None = Field(default=None, max_length=80, description="Email address.")
    Phone: str | None = Field(default=None, max_length=40, description="Phone, E.164 preferred.")
    MobilePhone: str | None = Field(default=None, max_length=40, description="Mobile phone.")
    AccountId: str | None = Field(
        default=None, pattern=RECORD_ID, description="Account the contact belongs to (001...)."
    )


class UpsertContact(Action[SalesforceConfig, ContactIn]):
    """Create or update a Contact by the connection's external-ID field."""

    name = "salesforce.upsert_contact"
    input_model = ContactIn
    description = "Create or update a Salesforce Contact keyed by an external ID."

    async def run(self, item: ContactIn, ctx: ActionContext) -> dict[str, Any]:
        session = _session(ctx)
        field = self.config.contact_external_id_field
        path = self.config.external_id_path("Contact", field, item.external_id)
        resp = await session.request("PATCH", path, json_body=_fields(item))
        body = salesforce_result(resp, "the contact")
        if resp.status == 204:  # API versions before 46.0 answer an update with no body
            again = await session.request("GET", path, params={"fields": "Id"})
            body = salesforce_result(again, "the contact")
        return {"contact_id": _record_id(body, "the contact"), "created": resp.status == 201}
