"""A local Salesforce (OAuth + REST API) look-alike, so the connector is tested without the internet.

It serves Salesforce's real paths and JSON shapes where the connector relies
on them: the web server flow (an "Allow Access?" page and the
authorization-code grant with PKCE, ``sandbox_oauth``), the refresh-token
grant at ``/services/oauth2/token`` (``invalid_grant`` and friends with HTTP
400), access tokens that die after a configurable time
(``401 [{"errorCode": "INVALID_SESSION_ID"}]``), the org's daily API limit
(``403 REQUEST_LIMIT_EXCEEDED``) with ``Sforce-Limit-Info: api-usage=n/m`` on
every REST answer, sObject create/get/upsert-by-external-ID for Case,
CaseComment and Contact (201 created / 200 updated with ``created`` in the
body from v46.0, 204 before; 300 when an external ID matches several
records), ``REQUIRED_FIELD_MISSING``, ``INVALID_FIELD``, ``MALFORMED_ID``,
``INVALID_CROSS_REFERENCE_KEY``, ``INVALID_EMAIL_ADDRESS``,
``STRING_TOO_LONG``, and ``/query`` with the SOQL subset the connector uses
(``SELECT f, ... FROM Obj [WHERE f = 'v' | f LIKE '%v%' [AND ...]] [LIMIT n]``).

Messages follow Salesforce's wording where it is known; where not, the
sandbox's own wording is used (the connector relies on statuses and
``errorCode``s, never on message text).

Test-only control routes live under ``/__sandbox__/`` (same conventions as the
Zoho Books sandbox): state, scripted faults, settings, token expiry, reset,
and ``records`` to seed rows directly (e.g. duplicate external IDs). State is
in memory; handlers never ``await`` between checking and writing.

Run it standalone: ``python -m connectors.salesforce.sandbox --port 8091``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hub.sandbox import serve

from .sandbox_oauth import SalesforceConsent, add_consent_routes, redeem_code

__all__ = ["Fault", "SandboxState", "create_sandbox_app", "main", "serve"]

ORG_ID = "00D5g000004SbXyEAK"
USER_ID = "0055g00000AbCdEAAZ"
RECORD_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# sObject → (key prefix, fields the API accepts on create/update, with max lengths; None: any)
SOBJECTS: dict[str, tuple[str, dict[str, int | None]]] = {
    "Case": (
        "500",
        {
            "Subject": 255, "Description": 32000, "Origin": 255, "Priority": 255,
            "Status": 255, "ContactId": 18, "AccountId": 18, "SuppliedEmail": 80,
            "SuppliedName": 80, "SuppliedPhone": 40, "Hub_Key__c": 255,
        },
    ),
    "CaseComment": ("00a", {"ParentId": 18, "CommentBody": 4000, "IsPublished": None}),
    "Contact": (
        "003",
        {
            "LastName": 80, "FirstName": 40, "Email": 80, "Phone": 40, "MobilePhone": 40,
            "AccountId": 18, "Hub_External_Id__c": 255,
        },
    ),
}  # fmt: skip
REFERENCES = {"ContactId": "Contact", "ParentId": "Case", "AccountId": "Account"}
EMAIL_FIELDS = frozenset({"Email", "SuppliedEmail"})
DEFAULTS: dict[str, dict[str, Any]] = {
    "Case": {"Status": "New", "Priority": "Medium"},
    "CaseComment": {"IsPublished": False},
    "Contact": {},
}
# Salesforce itself requires these; settings may add more (org validation, layouts).
REQUIRED: dict[str, list[str]] = {"Case": [], "CaseComment": ["ParentId"], "Contact": ["LastName"]}
STATE_KEYS = {"Case": "cases", "CaseComment": "case_comments", "Contact": "contacts"}


@dataclass
class Fault:
    """One scripted answer for the next request matching ``method`` and ``path``.

    ``path`` is either the concrete path or the route pattern
    (``/services/data/{version}/sobjects/Case/{field}/{value}``).
    ``kind``: ``status`` (answer ``status``/``body``/``headers`` without
    touching state), ``commit_then_timeout`` (apply, then wait ``delay``
    seconds before answering), ``reset`` (close the connection; with
    ``commit`` the request is applied first), ``delay`` (wait, then handle).
    """

    path: str
    method: str | None = None
    kind: str = "status"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 5.0
    commit: bool = False

    @classmethod
    def parse(cls, raw: Any) -> Fault:
        """A fault from its JSON form; ``ValueError`` names what is wrong."""
        if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
            raise ValueError("each fault must be an object with a string 'path'")
        known = {"path", "method", "kind", "status", "body", "headers", "delay", "commit"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        kind = raw.get("kind", "status")
        if kind not in ("status", "commit_then_timeout", "reset", "delay"):
            raise ValueError(f"unknown fault kind {kind!r}")
        method = raw.get("method")
        return cls(
            path=raw["path"],
            method=method.upper() if isinstance(method, str) else None,
            kind=kind,
            status=int(raw.get("status", 500)),
            body=raw.get("body"),
            headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
            delay=float(raw.get("delay", 5.0)),
            commit=bool(raw.get("commit", False)),
        )

    def matches(self, method: str, path: str, route: str) -> bool:
        return self.path in (path, route) and self.method in (None, method)

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "method": self.method,
            "kind": self.kind,
            "status": self.status,
            "delay": self.delay,
            "commit": self.commit,
        }


@dataclass
class SandboxState:
    """Configuration and everything the sandbox has stored (in memory).

    ``clock`` (monotonic seconds) drives token expiry, so a test can share a
    fake clock with the client. ``api_limit`` is the org's daily request
    allowance; every REST call (not OAuth, not control routes) counts.
    """

    client_id: str = "3MVG9SANDBOX.hub.connected.app"
    client_secret: str = "sandbox-consumer-secret"
    refresh_token: str = "5Aep861sandbox.refresh.token"
    token_ttl: float = 7200.0
    api_limit: int = 15000
    api_used: int = 0
    external_id_fields: dict[str, set[str]] = field(
        default_factory=lambda: {"Case": {"Hub_Key__c"}, "Contact": {"Hub_External_Id__c"}}
    )
    required_fields: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in REQUIRED.items()}
    )
    clock: Callable[[], float] = time.monotonic

    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in SOBJECTS}
    )
    refresh_tokens: set[str] = field(default_factory=set)
    consent: SalesforceConsent = field(default_factory=SalesforceConsent)
    access_tokens: dict[str, float] = field(default_factory=dict)
    tokens_issued: int = 0
    faults: list[Fault] = field(default_factory=list)
    by_status: Counter[str] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _case_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))

    def __post_init__(self) -> None:
        self.refresh_tokens.add(self.refresh_token)

    def reset(self) -> None:
        """Forget everything stored, issued and scripted; keep the configuration."""
        for rows in self.records.values():
            rows.clear()
        self.access_tokens.clear()
        self.refresh_tokens = {self.refresh_token}
        self.consent.reset()
        self.faults.clear()
        self.by_status.clear()
        self.by_route.clear()
        self.tokens_issued = 0
        self.api_used = 0
        self._ids = itertools.count(1)
        self._case_numbers = itertools.count(1001)

    def new_id(self, sobject: str) -> str:
        """An 18-character record ID with the sObject's key prefix (500 Case, 003 Contact...)."""
        prefix = SOBJECTS[sobject][0] if sobject in SOBJECTS else "001"
        return f"{prefix}5g00000{next(self._ids):05d}AAE"

    def find(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        """(sObject, record) for an ID of any type (15- or 18-character)."""
        for sobject, rows in self.records.items():
            for rid, row in rows.items():
                if rid == record_id or rid[:15] == record_id:
                    return sobject, row
        return None

    def take_fault(self, method: str, path: str, route: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.matches(method, path, route):
                return self.faults.pop(i)
        return None

    def limit_info(self) -> str:
        return f"api-usage={self.api_used}/{self.api_limit}"

    def snapshot(self) -> dict[str, Any]:
        """Everything stored, as ``GET /__sandbox__/state`` shows it."""
        now = self.clock()
        doc: dict[str, Any] = {
            key: list(self.records[sobject].values()) for sobject, key in STATE_KEYS.items()
        }
        doc.update(
            {
                "api_usage": {"used": self.api_used, "limit": self.api_limit},
                "tokens": {
                    "issued": self.tokens_issued,
                    "live": sum(1 for exp in self.access_tokens.values() if exp > now),
                },
                "requests": {
                    "total": sum(self.by_status.values()),
                    "by_status": dict(self.by_status),
                    "by_route": dict(self.by_route),
                },
                "faults_pending": [f.as_json() for f in self.faults],
            }
        )
        return doc


STATE = web.AppKey("state", SandboxState)
STOPPING = web.AppKey("stopping", asyncio.Event)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=json.dumps)


def _err(status: int, code: str, message: str, fields: list[str] | None = None) -> web.Response:
    """Salesforce's REST error shape: a list of ``{"message", "errorCode", "fields"}``."""
    error: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        error["fields"] = fields
    return _json([error], status)


def _not_found() -> web.Response:
    return _err(404, "NOT_FOUND", "The requested resource does not exist")


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _version(request: web.Request) -> float:
    try:
        return float(request.match_info.get("version", "v61.0").lstrip("v"))
    except ValueError:
        return 0.0


_ROOTS = ("/services/", "/__sandbox__/")


def _split(request: web.Request) -> tuple[str, str]:
    """(mount prefix, vendor path): ``hub sandbox`` mounts this app under ``/salesforce``."""
    path = request.path
    starts = [i for i in (path.find(root) for root in _ROOTS) if i >= 0]
    cut = min(starts) if starts else 0
    return path[:cut], path[cut:]


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{_split(request)[0]}"


# --- OAuth ----------------------------------------------------------------------------------


async def oauth_token(request: web.Request) -> web.Response:
    """``POST /services/oauth2/token``: the refresh-token and authorization-code grants."""
    state = request.app[STATE]
    params: dict[str, str] = dict(request.query)
    if request.content_type == "application/x-www-form-urlencoded":
        params.update({k: str(v) for k, v in (await request.post()).items()})
    grant = params.get("grant_type")
    if grant not in ("refresh_token", "authorization_code"):
        return _json(
            {"error": "unsupported_grant_type", "error_description": "grant type not supported"},
            400,
        )
    if params.get("client_id") != state.client_id:
        return _json(
            {"error": "invalid_client_id", "error_description": "client identifier invalid"}, 400
        )
    if params.get("client_secret") != state.client_secret:
        return _json(
            {"error": "invalid_client", "error_description": "invalid client credentials"}, 400
        )
    new_refresh: str | None = None
    if grant == "authorization_code":
        granted, refused = redeem_code(state, params)
        if refused is not None:
            return _json(refused, 400)
        if granted is not None and granted.offline:
            new_refresh = f"5Aep861{secrets.token_urlsafe(60)}"
            state.refresh_tokens.add(new_refresh)
    elif params.get("refresh_token", "") not in state.refresh_tokens:
        return _json(
            {"error": "invalid_grant", "error_description": "expired access/refresh token"}, 400
        )
    token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(60)}"
    state.access_tokens[token] = state.clock() + state.token_ttl
    state.tokens_issued += 1
    issued_at = str(int(time.time() * 1000))
    identity = f"{_base(request)}/id/{ORG_ID}/{USER_ID}"
    signature = base64.b64encode(
        hmac.new(
            state.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
    ).decode()
    answer: dict[str, Any] = {
        "access_token": token,
        "signature": signature,
        "scope": "refresh_token api",
        "instance_url": _base(request),
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
    }
    if new_refresh is not None:
        answer["refresh_token"] = new_refresh
    return _json(answer)


async def oauth_revoke(request: web.Request) -> web.Response:
    """``POST /services/oauth2/revoke``: the refresh (or access) token stops working."""
    state = request.app[STATE]
    form = await request.post()
    token = str(form.get("token") or request.query.get("token", ""))
    state.refresh_tokens.discard(token)
    state.access_tokens.pop(token, None)
    return web.Response(status=200)


# --- REST gate: session, daily limit ---------------------------------------------------------


def _gate(request: web.Request) -> web.Response | None:
    """Salesforce's checks before any REST handler: a live session, then the org's limit."""
    state = request.app[STATE]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expires = state.access_tokens.get(token.strip())
    if scheme not in ("Bearer", "OAuth") or expires is None or expires <= state.clock():
        return _err(401, "INVALID_SESSION_ID", "Session expired or invalid")
    if state.api_used >= state.api_limit:
        return _err(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    state.api_used += 1
    return None


@web.middleware
async def vendor_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Faults, the REST gate, ``Sforce-Limit-Info`` and the counters around vendor routes."""
    path = _split(request)[1]
    if path.startswith("/__sandbox__/"):
        return await handler(request)
    state = request.app[STATE]
    route_path = _route(request)
    route = f"{request.method} {route_path}"
    fault = state.take_fault(request.method, path, route_path)
    rest = path.startswith("/services/data/")

    def count(status: int) -> None:
        state.by_status[str(status)] += 1
        state.by_route[route] += 1

    if fault is not None and fault.kind == "status":
        body = fault.body if fault.body is not None else _fault_body(fault.status)
        count(fault.status)
        headers = dict(fault.headers)
        if rest:
            headers.setdefault("Sforce-Limit-Info", state.limit_info())
        return _json(body, fault.status, headers)
    if fault is not None and fault.kind == "delay":
        await _sleep(request, fault.delay)
    if fault is not None and fault.kind == "reset" and not fault.commit:
        count(0)
        return _hang_up(request)

    try:
        resp = (_gate(request) if rest else None) or await handler(request)
    except web.HTTPException as exc:
        count(exc.status)
        raise
    count(resp.status)
    if rest and isinstance(resp, web.Response):
        resp.headers["Sforce-Limit-Info"] = state.limit_info()
    if fault is not None and fault.kind == "reset":
        return _hang_up(request)
    if fault is not None and fault.kind == "commit_then_timeout":
        await _sleep(request, fault.delay)
    return resp


def _route(request: web.Request) -> str:
    """The route's pattern without the mount prefix, e.g. ``/services/data/{version}/query``."""
    info = request.match_info.route.resource
    if info is None:
        return _split(request)[1]
    canonical = info.canonical
    prefix = _split(request)[0]
    return canonical[len(prefix) :] if prefix and canonical.startswith(prefix) else canonical


def _fault_body(status: int) -> list[dict[str, Any]]:
    known = {
        400: ("MALFORMED_REQUEST", "Bad request"),
        401: ("INVALID_SESSION_ID", "Session expired or invalid"),
        403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        404: ("NOT_FOUND", "The requested resource does not exist"),
        503: ("SERVER_UNAVAILABLE", "Server is temporarily unavailable"),
    }
    code, message = known.get(status, ("UNKNOWN_EXCEPTION", "An unexpected error occurred."))
    return [{"message": message, "errorCode": code}]


def _hang_up(request: web.Request) -> web.Response:
    """Close the connection without an answer; aiohttp then drops the unsent response quietly."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


async def _sleep(request: web.Request, seconds: float) -> None:
    """Wait, but end early when the app shuts down, so a test's teardown never hangs."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(request.app[STOPPING].wait(), seconds)


# --- sObjects --------------------------------------------------------------------------------


def _attributes(request: web.Request, sobject: str, record_id: str) -> dict[str, str]:
    version = request.match_info.get("version", "v61.0")
    return {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{record_id}"}


def _shown(
    request: web.Request, sobject: str, row: dict[str, Any], fields: list[str] | None = None
) -> dict[str, Any]:
    data = row if not fields else {f: row.get(f) for f in fields if f in row or f == "Id"}
    return {"attributes": _attributes(request, sobject, row["Id"]), **data}


def _validate(
    state: SandboxState, sobject: str, body: Any, *, creating: bool
) -> web.Response | None:
    """Salesforce's checks on a create/update body, in a plausible order."""
    if not isinstance(body, dict):
        return _err(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    allowed = SOBJECTS[sobject][1]
    allowed = {**allowed, **{f: 255 for f in state.external_id_fields.get(sobject, set())}}
    for name in body:
        if name not in allowed:
            return _err(
                400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}"
            )
    if creating:
        missing = [f for f in state.required_fields.get(sobject, []) if body.get(f) in (None, "")]
        if missing:
            return _err(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
    for name, value in body.items():
        limit = allowed[name]
        if isinstance(value, str) and limit is not None and len(value) > limit:
            return _err(
                400,
                "STRING_TOO_LONG",
                f"{name}: data value too large: {value[:20]}... (max length={limit})",
                [name],
            )
        if name in EMAIL_FIELDS and value and not EMAIL.match(str(value)):
            return _err(
                400, "INVALID_EMAIL_ADDRESS", f"{name}: invalid email address: {value}", [name]
            )
        if name in REFERENCES and value:
            if not RECORD_ID.match(str(value)):
                return _err(
                    400,
                    "MALFORMED_ID",
                    f"{name}: id value of incorrect type: {value}",
                    [name],
                )
            target = REFERENCES[name]
            if target != "Account":  # the sandbox keeps no accounts: any well-formed ID passes
                found = state.find(str(value))
                if found is None or found[0] != target:
                    return _err(
                        400,
                        "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                        [name],
                    )
    return None


def _insert(state: SandboxState, sobject: str, body: dict[str, Any]) -> dict[str, Any]:
    now = _now_iso()
    row: dict[str, Any] = {"Id": state.new_id(sobject), **DEFAULTS[sobject], **body}
    if sobject == "Case":
        row["CaseNumber"] = f"{next(state._case_numbers):08d}"
    row.update({"CreatedDate": now, "LastModifiedDate": now, "IsDeleted": False})
    state.records[sobject][row["Id"]] = row
    return row


async def _read_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.text() or "null")
    except ValueError:
        return ...


def _sobject(request: web.Request) -> str | None:
    name = request.match_info["sobject"]
    return name if name in SOBJECTS else None


async def create_record(request: web.Request) -> web.Response:
    """``POST /services/data/{v}/sobjects/{sobject}``: 201 ``{"id", "success", "errors"}``."""
    state = request.app[STATE]
    sobject = _sobject(request)
    if sobject is None:
        return _not_found()
    body = await _read_body(request)
    if body is ...:
        return _err(400, "JSON_PARSER_ERROR", "Unexpected character in the request body")
    refused = _validate(state, sobject, body, creating=True)
    if refused is not None:
        return refused
    for ext in state.external_id_fields.get(sobject, set()):
        value = body.get(ext)
        if value and any(r.get(ext) == value for r in state.records[sobject].values()):
            return _err(
                400,
                "DUPLICATE_VALUE",
                f"duplicate value found: {ext} duplicates value on record with id: "
                + next(r["Id"] for r in state.records[sobject].values() if r.get(ext) == value),
                [ext],
            )
    row = _insert(state, sobject, body)
    return _json({"id": row["Id"], "success": True, "errors": []}, 201)


async def get_record(request: web.Request) -> web.Response:
    """``GET /services/data/{v}/sobjects/{sobject}/{id}`` (``?fields=`` honoured)."""
    state = request.app[STATE]
    sobject = _sobject(request)
    found = state.find(request.match_info["record_id"])
    if sobject is None or found is None or found[0] != sobject:
        return _not_found()
    fields = [f for f in request.query.get("fields", "").split(",") if f]
    return _json(_shown(request, sobject, found[1], fields))


def _by_external_id(
    request: web.Request,
) -> tuple[str, str, str, list[dict[str, Any]]] | web.Response:
    state = request.app[STATE]
    sobject = _sobject(request)
    if sobject is None:
        return _not_found()
    ext, value = request.match_info["field"], request.match_info["value"]
    if ext not in state.external_id_fields.get(sobject, set()):
        return _err(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {ext}",
        )
    rows = [r for r in state.records[sobject].values() if str(r.get(ext)) == value]
    return sobject, ext, value, rows


def _multiple(request: web.Request, sobject: str, rows: list[dict[str, Any]]) -> web.Response:
    return _json([_attributes(request, sobject, r["Id"])["url"] for r in rows], 300)


async def get_by_external_id(request: web.Request) -> web.Response:
    """``GET /services/data/{v}/sobjects/{sobject}/{field}/{value}``."""
    found = _by_external_id(request)
    if isinstance(found, web.Response):
        return found
    sobject, _, _, rows = found
    if not rows:
        return _not_found()
    if len(rows) > 1:
        return _multiple(request, sobject, rows)
    fields = [f for f in request.query.get("fields", "").split(",") if f]
    return _json(_shown(request, sobject, rows[0], fields))


async def upsert_by_external_id(request: web.Request) -> web.Response:
    """``PATCH .../sobjects/{sobject}/{field}/{value}``: 201 created, 200 (v46+) or 204 updated."""
    state = request.app[STATE]
    found = _by_external_id(request)
    if isinstance(found, web.Response):
        return found
    sobject, ext, value, rows = found
    body = await _read_body(request)
    if body is ...:
        return _err(400, "JSON_PARSER_ERROR", "Unexpected character in the request body")
    if isinstance(body, dict) and ext in body and str(body[ext]) != value:
        return _err(
            400,
            "INVALID_FIELD",
            f"The external ID in the URL and in the body disagree on {ext}",
            [ext],
        )
    if len(rows) > 1:
        return _multiple(request, sobject, rows)
    refused = _validate(state, sobject, body, creating=not rows)
    if refused is not None:
        return refused
    assert isinstance(body, dict)
    if not rows:
        row = _insert(state, sobject, {**body, ext: value})
        return _json({"id": row["Id"], "success": True, "errors": [], "created": True}, 201)
    row = rows[0]
    row.update(body)
    row["LastModifiedDate"] = _now_iso()
    if _version(request) < 46.0:
        return web.Response(status=204)
    return _json({"id": row["Id"], "success": True, "errors": [], "created": False}, 200)


# --- SOQL (the subset the connector uses) ----------------------------------------------------

_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>[\w\s,]+?)\s+FROM\s+(?P<sobject>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+[\w\s,]+?)?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_COND = re.compile(r"^\s*(\w+)\s*(=|LIKE)\s*'((?:[^'\\]|\\.)*)'\s*$", re.IGNORECASE | re.DOTALL)


def _split_and(where: str) -> list[str]:
    """Split on AND outside string literals."""
    parts, current, quoted, i = [], "", False, 0
    while i < len(where):
        ch = where[i]
        if ch == "\\" and quoted:
            current += where[i : i + 2]
            i += 2
            continue
        if ch == "'":
            quoted = not quoted
        if not quoted and re.match(r"\s+AND\s+", where[i:], re.IGNORECASE):
            match = re.match(r"\s+AND\s+", where[i:], re.IGNORECASE)
            assert match is not None
            parts.append(current)
            current = ""
            i += match.end()
            continue
        current += ch
        i += 1
    parts.append(current)
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _like(pattern: str) -> re.Pattern[str]:
    out = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{out}$", re.IGNORECASE | re.DOTALL)


def _equals(name: str, stored: Any, value: str) -> bool:
    """SOQL ``=``: exact, except that record IDs match in 15- and 18-character forms."""
    text = "" if stored is None else str(stored)
    if name.endswith("Id") and RECORD_ID.match(value) and RECORD_ID.match(text):
        return text[:15] == value[:15]
    return text == value


def _malformed(detail: str) -> web.Response:
    return _err(400, "MALFORMED_QUERY", detail)


async def query(request: web.Request) -> web.Response:
    """``GET /services/data/{v}/query?q=SELECT ...``: ``{"totalSize", "done", "records"}``."""
    state = request.app[STATE]
    soql = request.query.get("q", "")
    match = _SOQL.match(soql)
    if match is None:
        return _malformed("unexpected token: the sandbox understands SELECT/FROM/WHERE/LIMIT")
    sobject = next((s for s in SOBJECTS if s.lower() == match["sobject"].lower()), None)
    if sobject is None:
        return _err(
            400,
            "INVALID_TYPE",
            f"sObject type '{match['sobject']}' is not supported.",
        )
    fields = [f.strip() for f in match["fields"].split(",") if f.strip()]
    known = set(SOBJECTS[sobject][1]) | {"Id", "CaseNumber", "CreatedDate", "LastModifiedDate"}
    known |= state.external_id_fields.get(sobject, set())
    conditions: list[tuple[str, str, str]] = []
    for part in _split_and(match["where"] or "") if match["where"] else []:
        cond = _COND.match(part)
        if cond is None:
            return _malformed(f"unexpected condition: {part.strip()[:60]}")
        conditions.append((cond[1], cond[2].upper(), _unescape(cond[3])))
    for name in [*fields, *(c[0] for c in conditions)]:
        if name not in known:
            return _err(400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'.")
    rows = list(state.records[sobject].values())
    for name, op, value in conditions:
        if op == "=":
            rows = [r for r in rows if _equals(name, r.get(name), value)]
        else:
            pattern = _like(value)
            rows = [r for r in rows if pattern.match(str(r.get(name) or ""))]
    if match["limit"]:
        rows = rows[: int(match["limit"])]
    records = [_shown(request, sobject, r, fields) for r in rows]
    return _json({"totalSize": len(records), "done": True, "records": records})


# --- control routes --------------------------------------------------------------------------


async def control_state(request: web.Request) -> web.Response:
    return _json(request.app[STATE].snapshot())


async def control_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "GET":
        return _json({"pending": [f.as_json() for f in state.faults]})
    try:
        raw = await request.json()
        items = raw if isinstance(raw, list) else [raw]
        faults = [Fault.parse(item) for item in items]
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)
    state.faults.extend(faults)
    return _json({"pending": len(state.faults)})


async def control_expire(request: web.Request) -> web.Response:
    state = request.app[STATE]
    past = state.clock() - 1
    for token in state.access_tokens:
        state.access_tokens[token] = past
    return _json({"expired": len(state.access_tokens)})


async def control_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return _json({"reset": True})


async def control_settings(request: web.Request) -> web.Response:
    """Change behaviour at run time: ``token_ttl``, ``api_limit``, ``api_used``,
    ``required_fields`` ({sobject: [field, ...]}), ``external_id_fields``."""
    state = request.app[STATE]
    try:
        raw = await request.json()
        if "token_ttl" in raw:
            state.token_ttl = float(raw["token_ttl"])
        for key in ("api_limit", "api_used"):
            if key in raw:
                setattr(state, key, int(raw[key]))
        for sobject, names in (raw.get("required_fields") or {}).items():
            state.required_fields[str(sobject)] = [str(n) for n in names]
        for sobject, names in (raw.get("external_id_fields") or {}).items():
            state.external_id_fields[str(sobject)] = {str(n) for n in names}
    except (ValueError, TypeError, AttributeError) as exc:
        return _json({"error": str(exc)}, 400)
    return _json(
        {
            "token_ttl": state.token_ttl,
            "api_limit": state.api_limit,
            "api_used": state.api_used,
            "required_fields": state.required_fields,
            "external_id_fields": {k: sorted(v) for k, v in state.external_id_fields.items()},
        }
    )


async def control_records(request: web.Request) -> web.Response:
    """``POST /__sandbox__/records`` ``{"sobject", "fields"}``: store a row unchecked (seeding)."""
    state = request.app[STATE]
    try:
        raw = await request.json()
        sobject, fields = str(raw["sobject"]), dict(raw["fields"])
    except (ValueError, TypeError, KeyError) as exc:
        return _json({"error": f"expected {{'sobject', 'fields'}}: {exc}"}, 400)
    if sobject not in SOBJECTS:
        return _json({"error": f"unknown sobject {sobject!r}"}, 400)
    row = _insert(state, sobject, fields)
    return _json(row, 201)


def create_sandbox_app(state: SandboxState | None = None) -> web.Application:
    """The sandbox as an aiohttp app (login host and instance on one host).

    Vendor routes: ``GET|POST /services/oauth2/authorize`` (the "Allow Access?" page,
    ``sandbox_oauth``), ``POST /services/oauth2/token``, ``POST /services/oauth2/revoke``,
    ``POST /services/data/{version}/sobjects/{sobject}``,
    ``GET /services/data/{version}/sobjects/{sobject}/{record_id}``,
    ``GET|PATCH /services/data/{version}/sobjects/{Case|Contact|CaseComment}/{field}/{value}``,
    ``GET /services/data/{version}/query``.

    Control routes (tests only): ``GET /__sandbox__/state``,
    ``GET|POST /__sandbox__/faults``, ``POST /__sandbox__/expire_tokens``,
    ``POST /__sandbox__/reset``, ``POST /__sandbox__/settings``,
    ``POST /__sandbox__/records``.
    """
    app = web.Application(middlewares=[vendor_middleware])
    app[STATE] = state if state is not None else SandboxState()
    app[STOPPING] = asyncio.Event()

    async def stopping(app: web.Application) -> None:
        app[STOPPING].set()

    app.on_shutdown.append(stopping)
    data = "/services/data/{version}"
    add_consent_routes(app, STATE)
    app.router.add_post("/services/oauth2/token", oauth_token)
    app.router.add_post("/services/oauth2/revoke", oauth_revoke)
    app.router.add_get(f"{data}/query", query)
    # One literal route per sObject, so faults and counters can name e.g. the Case upsert.
    for sobject in SOBJECTS:
        ext = f"{data}/sobjects/{sobject}/{{field}}/{{value}}"
        app.router.add_get(ext, _with_sobject(sobject, get_by_external_id))
        app.router.add_patch(ext, _with_sobject(sobject, upsert_by_external_id))
        app.router.add_post(f"{data}/sobjects/{sobject}", _with_sobject(sobject, create_record))
        app.router.add_get(
            f"{data}/sobjects/{sobject}/{{record_id}}", _with_sobject(sobject, get_record)
        )
    app.router.add_post(f"{data}/sobjects/{{sobject}}", create_record)
    app.router.add_get(f"{data}/sobjects/{{sobject}}/{{record_id}}", get_record)
    app.router.add_get("/__sandbox__/state", control_state)
    app.router.add_get("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/expire_tokens", control_expire)
    app.router.add_post("/__sandbox__/reset", control_reset)
    app.router.add_post("/__sandbox__/settings", control_settings)
    app.router.add_post("/__sandbox__/records", control_records)
    return app


def _with_sobject(sobject: str, handler: Handler) -> Handler:
    """``handler`` with ``match_info["sobject"]`` filled in for a literal sObject route."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        request.match_info["sobject"] = sobject
        return await handler(request)

    return wrapped


def main(argv: list[str] | None = None) -> None:
    """``python -m connectors.salesforce.sandbox``: serve the sandbox until interrupted."""
    parser = argparse.ArgumentParser(description="Local Salesforce OAuth + REST API sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--token-ttl", type=float, default=7200.0, help="session lifetime (s)")
    parser.add_argument("--api-limit", type=int, default=15000, help="daily API request limit")
    args = parser.parse_args(argv)
    state = SandboxState(token_ttl=args.token_ttl, api_limit=args.api_limit)
    url = f"http://{args.host}:{args.port}"
    print(f"Salesforce sandbox on {url}", flush=True)
    print(
        f"  connection config: login_url={url} client_id={state.client_id} "
        f"client_secret={state.client_secret} refresh_token={state.refresh_token}",
        flush=True,
    )
    web.run_app(create_sandbox_app(state), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
