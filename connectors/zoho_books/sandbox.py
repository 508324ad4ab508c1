"""A local Zoho Books + Zoho Accounts look-alike, so the connector is tested without the internet.

It serves Zoho's real paths and JSON shapes (reference/zoho.md §1, §2, §4) and
behaves like the vendor where it matters to the hub: the consent page and
the authorization-code grant (``sandbox_accounts``), OAuth refresh with
1-hour tokens (configurable), the 10-tokens-per-10-minutes refresh limit
(``Access Denied``), ``organization_id`` on every call, 100 requests per
minute per organization (429 + ``Retry-After``), validation errors in Books'
``{"code": N, "message": ...}`` envelope, and ``reference_number`` filters
that make search-before-create possible.

Where Zoho's exact error code is not documented, the sandbox picks one and
says so in ``ERRORS``; the connector relies on HTTP statuses and messages,
never on those numbers.

Test-only control routes live under ``/__sandbox__/`` (state, scripted faults,
token expiry, reset); see ``create_sandbox_app``. State is kept in memory in
one ``SandboxState``; handlers never ``await`` between checking and writing,
so concurrent requests on the one event loop cannot interleave a write.

Run it standalone: ``python -m connectors.zoho_books.sandbox --port 8090``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from hub.sandbox import serve

from .gst import GstinError, check_gstin
from .sandbox_accounts import ZohoConsent, add_consent_routes, redeem_code

__all__ = ["ERRORS", "Fault", "SandboxState", "create_sandbox_app", "main", "serve"]

PAYMENT_MODES = frozenset(
    {"cash", "check", "creditcard", "banktransfer", "bankremittance", "autotransaction", "others"}
)
GSTIN = re.compile(r"^\d{2}[A-Z]{5}\d{4}[A-Z][1-9A-Z]Z[0-9A-Z]$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# (HTTP status, Books code, message). 57 and 1002 follow Zoho's docs and
# forums; the others are the sandbox's choice (UNCONFIRMED upstream).
ERRORS: dict[str, tuple[int, int, str]] = {
    "invalid_token": (401, 57, "You are not authorized to perform this operation"),
    "org_missing": (400, 2, "organization_id is required"),
    "org_unknown": (400, 6041, "This user is not associated with the organization_id given"),
    "rate_limited": (
        429,
        45,
        "You have made too many requests per minute. Please try again after some time.",
    ),
    "json": (400, 1038, "JSON is not well formed"),
    "not_found": (404, 1002, "The requested resource does not exist."),
    "contact_name": (400, 4, "Please enter the contact name."),
    "contact_exists": (400, 3062, "The contact name already exists. Please use another name."),
    "gstin": (400, 4, "Enter a valid GSTIN."),
    "invalid": (400, 4, "Invalid value passed for {field}"),
    "customer": (400, 1002, "Customer does not exist."),
    "amount": (400, 4, "Please enter a valid amount."),
    "applied": (400, 4, "The amount applied to invoices exceeds the payment amount."),
    "invoice_balance": (400, 4, "Amount applied exceeds the balance of invoice {field}."),
    "line_items": (400, 4, "Please add at least one line item."),
    "journal_unbalanced": (400, 4, "The journal is not balanced: debits must equal credits."),
    "refund_exceeds": (
        400,
        4,
        "The amount entered is more than the balance amount that can be refunded ({field}).",
    ),
    "internal": (500, 1000, "Internal Error"),
}


@dataclass
class Fault:
    """One scripted misbehaviour for the next request matching ``method`` and ``path``.

    ``kind``: ``status`` (answer ``status``/``body``/``headers`` without
    touching state), ``commit_then_timeout`` (apply the request, then wait
    ``delay`` seconds before answering: the client times out after the vendor
    committed), ``reset`` (close the connection without an answer; with
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

    def matches(self, method: str, path: str, route: str | None = None) -> bool:
        """Same method (or any) and the request's path or its route pattern.

        The pattern (``/books/v3/customerpayments/{payment_id}/refunds``) lets a
        test script a fault before it knows the ID in the path.
        """
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

    ``clock`` (monotonic seconds) drives token expiry and rate windows, so a
    test can share a fake clock with the client.
    """

    organization_id: str = "60012345678"
    organization_name: str = "Sandbox Traders Pvt Ltd"
    client_id: str = "1000.SANDBOX"
    client_secret: str = "sandbox-secret"
    refresh_token: str = "1000.sandbox.refresh"
    token_ttl: float = 3600.0
    token_limit: int = 10
    token_window: float = 600.0
    requests_per_minute: int = 100
    payment_modes: frozenset[str] = PAYMENT_MODES
    clock: Callable[[], float] = time.monotonic

    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    journals: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    taxes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: dict[str, float] = field(default_factory=dict)
    token_issues: dict[str, list[float]] = field(default_factory=dict)
    tokens_issued: int = 0
    consent: ZohoConsent = field(default_factory=ZohoConsent)
    faults: list[Fault] = field(default_factory=list)
    by_status: Counter[str] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    minute_calls: dict[str, list[float]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.refresh_tokens.add(self.refresh_token)

    def reset(self) -> None:
        """Forget everything stored, issued and scripted; keep the configuration."""
        stores = (
            self.contacts,
            self.payments,
            self.invoices,
            self.journals,
            self.refunds,
            self.taxes,
        )
        for store in (*stores, self.access_tokens):
            store.clear()
        self.refresh_tokens = {self.refresh_token}
        self.token_issues.clear()
        self.consent.reset()
        self.faults.clear()
        self.by_status.clear()
        self.by_route.clear()
        self.minute_calls.clear()
        self.tokens_issued = 0
        self._ids = itertools.count(1)

    def new_id(self) -> str:
        """A Books-looking 18-digit ID."""
        return f"4600000{next(self._ids):011d}"

    def take_fault(self, method: str, path: str, route: str | None = None) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.matches(method, path, route):
                return self.faults.pop(i)
        return None

    def snapshot(self) -> dict[str, Any]:
        """Everything stored, as ``GET /__sandbox__/state`` shows it."""
        now = self.clock()
        return {
            "organization_id": self.organization_id,
            "contacts": list(self.contacts.values()),
            "payments": list(self.payments.values()),
            "invoices": list(self.invoices.values()),
            "journals": list(self.journals.values()),
            "refunds": list(self.refunds.values()),
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


STATE = web.AppKey("state", SandboxState)
STOPPING = web.AppKey("stopping", asyncio.Event)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _dumps(value: Any) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return float(obj)
        raise TypeError(f"{type(obj).__name__} is not JSON serializable")

    return json.dumps(value, default=default)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


def _error(name: str, field_name: str = "", headers: dict[str, str] | None = None) -> web.Response:
    status, code, message = ERRORS[name]
    return _json({"code": code, "message": message.format(field=field_name)}, status, headers)


def _now_iso() -> str:
    return (
        dt.datetime.now(dt.UTC)
        .astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
        .isoformat(timespec="seconds")
    )


def _money(value: Any) -> Decimal | None:
    """A positive-or-zero decimal from a JSON number or numeric string, else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _page(request: web.Request, rows: list[dict[str, Any]], key: str) -> web.Response:
    try:
        page = max(1, int(request.query.get("page", "1")))
        per_page = min(200, max(1, int(request.query.get("per_page", "200"))))
    except ValueError:
        return _error("invalid", "page")
    chunk = rows[(page - 1) * per_page : page * per_page]
    return _json(
        {
            "code": 0,
            "message": "success",
            key: chunk,
            "page_context": {
                "page": page,
                "per_page": per_page,
                "has_more_page": len(rows) > page * per_page,
            },
        }
    )


async def _body(request: web.Request) -> dict[str, Any] | None:
    """The request's JSON object (also the legacy ``JSONString`` form field)."""
    raw = await request.text()
    if request.content_type == "application/x-www-form-urlencoded":
        raw = (await request.post()).get("JSONString", "")  # type: ignore[assignment]
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


# --- Zoho Accounts ------------------------------------------------------------------------


_ROOTS = ("/oauth/", "/books/", "/__sandbox__/")


def _split(request: web.Request) -> tuple[str, str]:
    """(mount prefix, vendor path): ``hub sandbox`` mounts this app under ``/zoho_books``.

    Faults, counters and the Books gate work on the vendor's own path, and the
    URLs the sandbox hands out (``api_domain``) keep the prefix.
    """
    path = request.path
    starts = [i for i in (path.find(root) for root in _ROOTS) if i >= 0]
    cut = min(starts) if starts else 0
    return path[:cut], path[cut:]


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{_split(request)[0]}"


async def oauth_token(request: web.Request) -> web.Response:
    """``POST /oauth/v2/token``: refresh-token and authorization-code grants, Zoho's answers."""
    state = request.app[STATE]
    params: dict[str, str] = dict(request.query)
    if request.content_type == "application/x-www-form-urlencoded":
        params.update({k: str(v) for k, v in (await request.post()).items()})
    grant = params.get("grant_type")
    if grant not in ("refresh_token", "authorization_code"):
        return _json({"error": "unsupported_grant_type"})
    if params.get("client_id") != state.client_id:
        return _json({"error": "invalid_client"})
    if params.get("client_secret") != state.client_secret:
        return _json({"error": "invalid_client_secret"})
    new_refresh: str | None = None
    if grant == "refresh_token":
        refresh = params.get("refresh_token", "")
        if refresh not in state.refresh_tokens:
            return _json({"error": "invalid_code"})  # Zoho answers 200 for this
    else:
        granted, refused = redeem_code(state, params)
        if refused is not None:
            return _json(refused)
        # The access token is counted against the new refresh token's limit even
        # when none is handed out (access_type=online).
        refresh = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        if granted is not None and granted.offline:
            new_refresh = refresh
            state.refresh_tokens.add(refresh)
    now = state.clock()
    issued = [t for t in state.token_issues.get(refresh, []) if t > now - state.token_window]
    if len(issued) >= state.token_limit:
        state.token_issues[refresh] = issued
        return _json(
            {
                "error": "Access Denied",
                "error_description": "You have made too many requests continuously. "
                "Please try again after some time.",
            },
            status=400,
        )
    state.token_issues[refresh] = [*issued, now]
    token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
    state.access_tokens[token] = now + state.token_ttl
    state.tokens_issued += 1
    answer: dict[str, Any] = {
        "access_token": token,
        "scope": "ZohoBooks.contacts.ALL ZohoBooks.customerpayments.ALL ZohoBooks.invoices.ALL",
        "api_domain": _base(request),
        "token_type": "Bearer",
        "expires_in": math.ceil(state.token_ttl),
    }
    if new_refresh:
        answer["refresh_token"] = new_refresh
    return _json(answer)


async def oauth_revoke(request: web.Request) -> web.Response:
    """``POST /oauth/v2/token/revoke?token=``: the revoked refresh token gets ``invalid_code``."""
    state = request.app[STATE]
    token = request.query.get("token", "")
    state.refresh_tokens.discard(token)
    state.access_tokens.pop(token, None)
    return _json({"status": "success"})


# --- Books gate: token, organization, per-minute limit ------------------------------------


def _gate(request: web.Request) -> web.Response | None:
    """Zoho's checks before any Books handler, in Zoho's order."""
    state = request.app[STATE]
    now = state.clock()
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    expires = state.access_tokens.get(token.strip())
    if scheme not in ("Zoho-oauthtoken", "Bearer") or expires is None or expires <= now:
        return _error("invalid_token")
    org = request.query.get("organization_id")
    if not org:
        return _error("org_missing")
    if org != state.organization_id:
        return _error("org_unknown")
    calls = [t for t in state.minute_calls.get(org, []) if t > now - 60]
    if len(calls) >= state.requests_per_minute:
        state.minute_calls[org] = calls
        wait = max(1, math.ceil(calls[0] + 60 - now))
        return _error("rate_limited", headers={"Retry-After": str(wait)})
    state.minute_calls[org] = [*calls, now]
    return None


@web.middleware
async def vendor_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Faults, the Books gate and the request counters around every non-control route."""
    path = _split(request)[1]
    if path.startswith("/__sandbox__/"):
        return await handler(request)
    state = request.app[STATE]
    pattern = _route(request)
    route = f"{request.method} {pattern}"
    fault = state.take_fault(request.method, path, pattern)

    def count(status: int) -> None:
        state.by_status[str(status)] += 1
        state.by_route[route] += 1

    if fault is not None and fault.kind == "status":
        body = fault.body if fault.body is not None else _fault_body(fault.status)
        count(fault.status)
        return _json(body, fault.status, fault.headers)
    if fault is not None and fault.kind == "delay":
        await _sleep(request, fault.delay)
    if fault is not None and fault.kind == "reset" and not fault.commit:
        count(0)
        return _hang_up(request)

    try:
        resp = await _handle(request, handler)
    except web.HTTPException as exc:
        count(exc.status)
        raise
    count(resp.status)
    if fault is not None and fault.kind == "reset":
        return _hang_up(request)
    if fault is not None and fault.kind == "commit_then_timeout":
        await _sleep(request, fault.delay)
    return resp


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _split(request)[1].startswith("/books/"):
        refused = _gate(request)
        if refused is not None:
            return refused
    return await handler(request)


def _route(request: web.Request) -> str:
    """The route's pattern without the mount prefix, e.g. ``/books/v3/contacts/{contact_id}``."""
    info = request.match_info.route.resource
    if info is None:
        return _split(request)[1]
    canonical = info.canonical
    prefix = _split(request)[0]
    return canonical[len(prefix) :] if prefix and canonical.startswith(prefix) else canonical


def _fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        return {"code": ERRORS["rate_limited"][1], "message": ERRORS["rate_limited"][2]}
    if status == 401:
        return {"code": ERRORS["invalid_token"][1], "message": ERRORS["invalid_token"][2]}
    return {"code": ERRORS["internal"][1], "message": ERRORS["internal"][2]}


def _hang_up(request: web.Request) -> web.Response:
    """Close the connection without an answer; aiohttp then drops the unsent response quietly."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


async def _sleep(request: web.Request, seconds: float) -> None:
    """Wait, but end early when the app shuts down, so a test's teardown never hangs."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(request.app[STOPPING].wait(), seconds)


def _valid_gstin(value: str) -> bool:
    """Books checks a GSTIN's format and its check character."""
    if not GSTIN.match(value):
        return False
    try:
        check_gstin(value)
    except GstinError:
        return False
    return True


# --- Books: contacts -----------------------------------------------------------------------


def _contact_summary(contact: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "contact_id", "contact_name", "company_name", "contact_type", "customer_sub_type",
        "status", "email", "phone", "gst_treatment", "gst_no", "place_of_contact",
        "created_time", "last_modified_time",
    )  # fmt: skip
    return {k: contact.get(k) for k in keys}


def _emails(contact: dict[str, Any]) -> set[str]:
    found = {str(p.get("email", "")).lower() for p in contact["contact_persons"]}
    return (found | {str(contact.get("email") or "").lower()}) - {""}


def _phones(contact: dict[str, Any]) -> set[str]:
    found = {str(p.get("phone", "")) for p in contact["contact_persons"]}
    return (found | {str(contact.get("phone") or "")}) - {""}


async def list_contacts(request: web.Request) -> web.Response:
    """``GET /books/v3/contacts`` with ``email``, ``phone``, ``contact_name[_startswith]``."""
    q = request.query
    rows = list(request.app[STATE].contacts.values())
    if "email" in q:
        rows = [c for c in rows if q["email"].lower() in _emails(c)]
    if "phone" in q:
        rows = [c for c in rows if q["phone"] in _phones(c)]
    if "contact_name" in q:
        rows = [c for c in rows if c["contact_name"].lower() == q["contact_name"].lower()]
    if "contact_name_startswith" in q:
        prefix = q["contact_name_startswith"].lower()
        rows = [c for c in rows if c["contact_name"].lower().startswith(prefix)]
    if "contact_type" in q:
        rows = [c for c in rows if c["contact_type"] == q["contact_type"]]
    rows.sort(key=lambda c: c["contact_name"].lower())
    return _page(request, [_contact_summary(c) for c in rows], "contacts")


async def create_contact(request: web.Request) -> web.Response:
    """``POST /books/v3/contacts``: Books' required fields, unique names and GSTIN checks."""
    state = request.app[STATE]
    body = await _body(request)
    if body is None:
        return _error("json")
    name = str(body.get("contact_name") or "").strip()
    if not name:
        return _error("contact_name")
    if any(c["contact_name"].lower() == name.lower() for c in state.contacts.values()):
        return _error("contact_exists")
    contact_type = body.get("contact_type", "customer")
    if contact_type not in ("customer", "vendor"):
        return _error("invalid", "contact_type")
    sub_type = body.get("customer_sub_type", "business")
    if sub_type not in ("individual", "business"):
        return _error("invalid", "customer_sub_type")
    treatment = body.get("gst_treatment")
    if treatment not in (None, "business_gst", "business_none", "overseas", "consumer"):
        return _error("invalid", "gst_treatment")
    gst_no = body.get("gst_no")
    if (treatment == "business_gst" or gst_no) and not _valid_gstin(str(gst_no or "")):
        return _error("gstin")
    place = body.get("place_of_contact")
    if place is not None and not re.fullmatch(r"[A-Z]{2}", str(place)):
        return _error("invalid", "place_of_contact")
    persons = body.get("contact_persons") or []
    if not isinstance(persons, list) or not all(isinstance(p, dict) for p in persons):
        return _error("invalid", "contact_persons")
    for person in persons:
        if person.get("email") and not EMAIL.match(str(person["email"])):
            return _error("invalid", "email")
    primary = next(
        (p for p in persons if p.get("is_primary_contact")), persons[0] if persons else {}
    )
    now = _now_iso()
    contact = {
        "contact_id": state.new_id(),
        "contact_name": name,
        "company_name": body.get("company_name", ""),
        "contact_type": contact_type,
        "customer_sub_type": sub_type,
        "status": "active",
        "email": primary.get("email", ""),
        "phone": primary.get("phone", ""),
        "gst_treatment": treatment,
        "gst_no": gst_no or "",
        "place_of_contact": place or "",
        "contact_persons": [
            {"contact_person_id": state.new_id(), **p, "is_primary_contact": p is primary}
            for p in persons
        ],
        "created_time": now,
        "last_modified_time": now,
    }
    state.contacts[contact["contact_id"]] = contact
    return _json({"code": 0, "message": "The contact has been added.", "contact": contact}, 201)


async def get_contact(request: web.Request) -> web.Response:
    contact = request.app[STATE].contacts.get(request.match_info["contact_id"])
    if contact is None:
        return _error("not_found")
    return _json({"code": 0, "message": "success", "contact": contact})


# --- Books: invoices (list and create live in sandbox_books) ---------------------------


async def get_invoice(request: web.Request) -> web.Response:
    invoice = request.app[STATE].invoices.get(request.match_info["invoice_id"])
    if invoice is None:
        return _error("not_found")
    return _json({"code": 0, "message": "success", "invoice": invoice})


# --- Books: customer payments --------------------------------------------------------------


async def list_payments(request: web.Request) -> web.Response:
    """``GET /books/v3/customerpayments`` with ``reference_number``, ``customer_id`` filters."""
    q = request.query
    rows = list(request.app[STATE].payments.values())
    if "reference_number" in q:
        rows = [p for p in rows if p["reference_number"] == q["reference_number"]]
    if "reference_number_startswith" in q:
        rows = [
            p for p in rows if p["reference_number"].startswith(q["reference_number_startswith"])
        ]
    if "customer_id" in q:
        rows = [p for p in rows if p["customer_id"] == q["customer_id"]]
    if "search_text" in q:  # Books searches several fields; the sandbox: reference, description
        text = q["search_text"].lower()
        rows = [
            p
            for p in rows
            if text in p["reference_number"].lower() or text in p["description"].lower()
        ]
    if "description_contains" in q:
        rows = [p for p in rows if q["description_contains"] in p["description"]]
    summary = [{k: v for k, v in p.items() if k != "invoices"} for p in rows]
    return _page(request, summary, "customerpayments")


async def create_payment(request: web.Request) -> web.Response:
    """``POST /books/v3/customerpayments``: validated like Books, applied to invoices."""
    state = request.app[STATE]
    body = await _body(request)
    if body is None:
        return _error("json")
    customer = state.contacts.get(str(body.get("customer_id", "")))
    if customer is None:
        return _error("customer")
    amount = _money(body.get("amount"))
    if amount is None or amount <= 0:
        return _error("amount")
    try:
        day = dt.date.fromisoformat(str(body.get("date", "")))
    except ValueError:
        return _error("invalid", "date")
    mode = str(body.get("payment_mode") or "cash")
    if mode.lower() not in state.payment_modes:
        return _error("invalid", "payment_mode")
    reference = str(body.get("reference_number") or "")
    if len(reference) > 100:
        return _error("invalid", "reference_number")
    applied: list[tuple[dict[str, Any], Decimal]] = []
    for item in body.get("invoices") or []:
        invoice = state.invoices.get(str(item.get("invoice_id", "")))
        share = _money(item.get("amount_applied"))
        if invoice is None or invoice["customer_id"] != customer["contact_id"]:
            return _error("not_found")
        if share is None or share <= 0:
            return _error("invalid", "amount_applied")
        if share > invoice["balance"]:
            return _error("invoice_balance", invoice["invoice_number"])
        applied.append((invoice, share))
    if sum((share for _, share in applied), Decimal(0)) > amount:
        return _error("applied")
    charges = _money(body.get("bank_charges", 0)) or Decimal(0)
    for invoice, share in applied:
        invoice["balance"] -= share
        invoice["status"] = "paid" if invoice["balance"] == 0 else "partially_paid"
    now = _now_iso()
    payment = {
        "payment_id": state.new_id(),
        "payment_number": str(len(state.payments) + 1),
        "customer_id": customer["contact_id"],
        "customer_name": customer["contact_name"],
        "payment_mode": mode,
        "date": day.isoformat(),
        "amount": amount,
        "bank_charges": charges,
        "unused_amount": amount - sum((s for _, s in applied), Decimal(0)),
        "reference_number": reference,
        "description": str(body.get("description") or ""),
        "account_id": str(body.get("account_id") or ""),
        "invoices": [
            {
                "invoice_id": inv["invoice_id"],
                "invoice_number": inv["invoice_number"],
                "amount_applied": s,
            }
            for inv, s in applied
        ],
        "created_time": now,
        "last_modified_time": now,
    }
    state.payments[payment["payment_id"]] = payment
    return _json({"code": 0, "message": "The payment has been recorded.", "payment": payment}, 201)


async def get_payment(request: web.Request) -> web.Response:
    payment = request.app[STATE].payments.get(request.match_info["payment_id"])
    if payment is None:
        return _error("not_found")
    return _json({"code": 0, "message": "success", "payment": payment})


def _refunded(state: SandboxState, payment_id: str) -> Decimal:
    return sum(
        (r["amount"] for r in state.refunds.values() if r["customerpayment_id"] == payment_id),
        Decimal(0),
    )


async def list_refunds(request: web.Request) -> web.Response:
    """``GET /books/v3/customerpayments/{id}/refunds``: the payment's refunds."""
    state = request.app[STATE]
    payment_id = request.match_info["payment_id"]
    if payment_id not in state.payments:
        return _error("not_found")
    rows = [r for r in state.refunds.values() if r["customerpayment_id"] == payment_id]
    return _page(request, rows, "payment_refunds")


async def create_refund(request: web.Request) -> web.Response:
    """``POST /books/v3/customerpayments/{id}/refunds``: at most the amount not yet refunded."""
    state = request.app[STATE]
    payment = state.payments.get(request.match_info["payment_id"])
    if payment is None:
        return _error("not_found")
    body = await _body(request)
    if body is None:
        return _error("json")
    amount = _money(body.get("amount"))
    if amount is None or amount <= 0:
        return _error("amount")
    try:
        day = dt.date.fromisoformat(str(body.get("date", "")))
    except ValueError:
        return _error("invalid", "date")
    reference = str(body.get("reference_number") or "")
    if len(reference) > 100:
        return _error("invalid", "reference_number")
    left = payment["amount"] - _refunded(state, payment["payment_id"])
    if amount > left:
        return _error("refund_exceeds", str(left))
    refund = {
        "payment_refund_id": state.new_id(),
        "customerpayment_id": payment["payment_id"],
        "date": day.isoformat(),
        "refund_mode": str(body.get("refund_mode") or "cash"),
        "reference_number": reference,
        "amount": amount,
        "from_account_id": str(body.get("from_account_id") or ""),
        "description": str(body.get("description") or ""),
    }
    state.refunds[refund["payment_refund_id"]] = refund
    return _json(
        {"code": 0, "message": "The refund has been recorded.", "payment_refund": refund}, 201
    )


async def list_organizations(request: web.Request) -> web.Response:
    """``GET /books/v3/organizations``: the one organization (no ``organization_id`` needed)."""
    state = request.app[STATE]
    org = {"organization_id": state.organization_id, "name": state.organization_name}
    return _json({"code": 0, "message": "success", "organizations": [org]})


# --- control routes ------------------------------------------------------------------------


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
    """Change limits at run time: ``token_ttl``, ``token_limit``, ``requests_per_minute``,
    and the consent page's ``redirect_uris``, ``code_ttl``, ``location``."""
    state = request.app[STATE]
    try:
        raw = await request.json()
        consent = state.consent.configure(raw)
        for key in ("token_ttl", "token_window"):
            if key in raw:
                setattr(state, key, float(raw[key]))
        for key in ("token_limit", "requests_per_minute"):
            if key in raw:
                setattr(state, key, int(raw[key]))
    except (ValueError, TypeError) as exc:
        return _json({"error": str(exc)}, 400)
    return _json(
        {
            "token_ttl": state.token_ttl,
            "token_window": state.token_window,
            "token_limit": state.token_limit,
            "requests_per_minute": state.requests_per_minute,
            **consent,
        }
    )


def create_sandbox_app(state: SandboxState | None = None) -> web.Application:
    """The sandbox as an aiohttp app (accounts and Books on one host).

    Vendor routes: ``GET|POST /oauth/v2/auth`` (the consent page, ``sandbox_accounts``),
    ``POST /oauth/v2/token``,
    ``POST /oauth/v2/token/revoke``, ``GET /books/v3/organizations``,
    ``GET|POST /books/v3/contacts``, ``GET /books/v3/contacts/{id}``,
    ``GET|POST /books/v3/customerpayments``, ``GET /books/v3/customerpayments/{id}``,
    ``GET|POST /books/v3/customerpayments/{id}/refunds``,
    ``GET|POST /books/v3/invoices``, ``GET /books/v3/invoices/{id}``,
    ``GET /books/v3/settings/taxes``, ``GET|POST /books/v3/journals``,
    ``GET /books/v3/journals/{id}`` (those in ``sandbox_books``).

    Control routes (tests only): ``GET /__sandbox__/state``,
    ``GET|POST /__sandbox__/faults`` (a ``Fault`` object or a list of them),
    ``POST /__sandbox__/expire_tokens``, ``POST /__sandbox__/reset``,
    ``POST /__sandbox__/settings``.
    """
    from . import sandbox_books as books  # it imports this module's helpers

    app = web.Application(middlewares=[vendor_middleware])
    app[STATE] = state if state is not None else SandboxState()
    app[STOPPING] = asyncio.Event()

    async def stopping(app: web.Application) -> None:
        app[STOPPING].set()

    app.on_shutdown.append(stopping)
    add_consent_routes(app, STATE, _base)
    app.router.add_post("/oauth/v2/token", oauth_token)
    app.router.add_post("/oauth/v2/token/revoke", oauth_revoke)
    app.router.add_get("/books/v3/organizations", list_organizations)
    app.router.add_get("/books/v3/contacts", list_contacts)
    app.router.add_post("/books/v3/contacts", create_contact)
    app.router.add_get("/books/v3/contacts/{contact_id}", get_contact)
    app.router.add_get("/books/v3/customerpayments", list_payments)
    app.router.add_post("/books/v3/customerpayments", create_payment)
    app.router.add_get("/books/v3/customerpayments/{payment_id}", get_payment)
    app.router.add_get("/books/v3/customerpayments/{payment_id}/refunds", list_refunds)
    app.router.add_post("/books/v3/customerpayments/{payment_id}/refunds", create_refund)
    app.router.add_get("/books/v3/invoices", books.list_invoices)
    app.router.add_post("/books/v3/invoices", books.create_invoice)
    app.router.add_get("/books/v3/invoices/{invoice_id}", get_invoice)
    app.router.add_get("/books/v3/settings/taxes", books.list_taxes)
    app.router.add_get("/books/v3/journals", books.list_journals)
    app.router.add_post("/books/v3/journals", books.create_journal)
    app.router.add_get("/books/v3/journals/{journal_id}", books.get_journal)
    app.router.add_get("/__sandbox__/state", control_state)
    app.router.add_get("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/expire_tokens", control_expire)
    app.router.add_post("/__sandbox__/reset", control_reset)
    app.router.add_post("/__sandbox__/settings", control_settings)
    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m connectors.zoho_books.sandbox``: serve the sandbox until interrupted."""
    parser = argparse.ArgumentParser(description="Local Zoho Books + Accounts sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="access token lifetime (s)")
    parser.add_argument("--rpm", type=int, default=100, help="requests per minute per organization")
    args = parser.parse_args(argv)
    state = SandboxState(token_ttl=args.token_ttl, requests_per_minute=args.rpm)
    url = f"http://{args.host}:{args.port}"
    print(f"Zoho Books sandbox on {url}", flush=True)
    print(
        f"  connection config: accounts_url={url} api_domain={url} "
        f"organization_id={state.organization_id} client_id={state.client_id} "
        f"client_secret={state.client_secret} refresh_token={state.refresh_token}",
        flush=True,
    )
    web.run_app(create_sandbox_app(state), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
