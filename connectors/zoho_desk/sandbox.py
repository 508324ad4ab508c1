"""A local Zoho Desk + Zoho Accounts look-alike, so the connector is tested without the internet.

It serves Desk v1's paths and JSON shapes (reference/zoho.md §2, §5) where
they matter to the hub: OAuth refresh with 1-hour tokens (configurable) and
``401 {"errorCode": "INVALID_OAUTH"}`` once they expire, the ``orgId`` header
on every call, tickets (create, get, patch, search), comments, contacts
(an existing email is reused), ``422 UNPROCESSABLE_ENTITY`` with
``errors[] {fieldName, errorType}``, and daily API credits (429 when spent).

Choices where Desk's docs are silent (UNCONFIRMED upstream): a missing
``orgId`` answers 400 ``INVALID_DATA``; a spent credit budget answers 429
``TOO_MANY_REQUESTS`` with ``Retry-After``; every call costs one credit;
search takes ``customField1=<api_name>:<value>`` and answers 204 when nothing
matches; unknown custom fields are rejected (422 ``invalid``).

Control routes under ``/__sandbox__/`` follow the Books sandbox: ``state``
(records per kind, ``requests.by_route``), ``faults`` (a fault's ``path`` may
be the concrete path or the route pattern, e.g. ``/api/v1/tickets/{ticket_id}``),
``settings``, ``expire_tokens``, ``reset``.

Run it standalone: ``python -m connectors.zoho_desk.sandbox --port 8091``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import math
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from connectors.zoho_books.sandbox import Fault, serve
from connectors.zoho_books.sandbox_accounts import ZohoConsent, add_consent_routes, redeem_code

__all__ = ["SandboxState", "create_sandbox_app", "main", "serve"]

DAY = 86400.0
STATUS_TYPES = {"Open": "Open", "Escalated": "Open", "On Hold": "On Hold", "Closed": "Closed"}
CHANNELS = frozenset({"Email", "Phone", "Web", "Chat", "Twitter", "Facebook", "Forums"})
PRIORITIES = frozenset({"High", "Medium", "Low"})
CLASSIFICATIONS = frozenset({"Question", "Problem", "Request", "Others"})
TICKET_FIELDS = (
    "subject", "description", "priority", "status", "classification", "channel",
    "category", "subCategory", "email", "phone", "dueDate", "assigneeId", "productId",
)  # fmt: skip


def _utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(when: dt.datetime) -> str:
    return (
        when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    )


@dataclass
class SandboxState:
    """Configuration and everything the sandbox has stored (in memory).

    ``clock`` (monotonic seconds) drives token expiry and the credit window;
    ``now`` (wall clock) dates tickets and comments, so a test can step past a
    conversation window by sharing a fake one with the connector's session.
    """

    org_id: str = "60001234567"
    department_id: str = "7000000000101"
    client_id: str = "1000.SANDBOX"
    client_secret: str = "sandbox-secret"
    refresh_token: str = "1000.sandbox.refresh"
    token_ttl: float = 3600.0
    token_limit: int = 10
    token_window: float = 600.0
    credits_per_day: int = 5000
    custom_fields: frozenset[str] = frozenset({"cf_hub_key", "cf_hub_thread"})
    extra_channels: frozenset[str] = frozenset({"WhatsApp"})
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], dt.datetime] = _utc

    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    access_tokens: dict[str, float] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    consent: ZohoConsent = field(default_factory=ZohoConsent)
    token_issues: list[float] = field(default_factory=list)
    tokens_issued: int = 0
    credit_calls: list[float] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    by_status: Counter[str] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        """Forget everything stored, issued and scripted; keep the configuration."""
        for store in (self.tickets, self.comments, self.contacts, self.access_tokens):
            store.clear()
        self.refresh_tokens.clear()
        self.consent.reset()
        for log in (self.history, self.token_issues, self.credit_calls, self.faults):
            log.clear()
        self.by_status.clear()
        self.by_route.clear()
        self.tokens_issued = 0
        self._ids = itertools.count(1)

    def refresh_token_valid(self, token: str) -> bool:
        """The configured refresh token, or one minted by an authorization-code grant."""
        return token == self.refresh_token or token in self.refresh_tokens

    def new_id(self) -> str:
        """A Desk-looking 18-digit ID."""
        return f"7000000{next(self._ids):011d}"

    def take_fault(self, method: str, path: str, route: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.method in (None, method) and fault.path in (path, route):
                return self.faults.pop(i)
        return None

    def snapshot(self) -> dict[str, Any]:
        """Everything stored, as ``GET /__sandbox__/state`` shows it."""
        now = self.clock()
        return {
            "org_id": self.org_id,
            "department_id": self.department_id,
            "tickets": list(self.tickets.values()),
            "comments": [c for rows in self.comments.values() for c in rows],
            "contacts": list(self.contacts.values()),
            "history": list(self.history),
            "tokens": {
                "issued": self.tokens_issued,
                "live": sum(1 for exp in self.access_tokens.values() if exp > now),
            },
            "credits": {"per_day": self.credits_per_day, "used": self._credits_used()},
            "requests": {
                "total": sum(self.by_status.values()),
                "by_status": dict(self.by_status),
                "by_route": dict(self.by_route),
            },
            "faults_pending": [f.as_json() for f in self.faults],
        }

    def _credits_used(self) -> int:
        since = self.clock() - DAY
        return sum(1 for t in self.credit_calls if t > since)


STATE = web.AppKey("desk_state", SandboxState)
STOPPING = web.AppKey("desk_stopping", asyncio.Event)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return _json({"errorCode": code, "message": message, **extra}, status)


def _unprocessable(*problems: tuple[str, str]) -> web.Response:
    errors = [{"fieldName": name, "errorType": kind} for name, kind in problems]
    return _error(422, "UNPROCESSABLE_ENTITY", "An invalid value is given", errors=errors)


def _not_found() -> web.Response:
    return _error(404, "URL_NOT_FOUND", "The URL you requested could not be found.")


async def _body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.text())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


_ROOTS = ("/oauth/", "/api/", "/__sandbox__/")


def _split(request: web.Request) -> tuple[str, str]:
    """(mount prefix, vendor path): ``hub sandbox`` may mount this app under ``/zoho_desk``."""
    path = request.path
    starts = [i for i in (path.find(root) for root in _ROOTS) if i >= 0]
    cut = min(starts) if starts else 0
    return path[:cut], path[cut:]


def _base(request: web.Request) -> str:
    """The sandbox's own URL, mount prefix included (``api_domain``, ``accounts-server``)."""
    return f"{request.scheme}://{request.host}{_split(request)[0]}"


def _route(request: web.Request) -> str:
    info = request.match_info.route.resource
    if info is None:
        return _split(request)[1]
    prefix = _split(request)[0]
    canonical = info.canonical
    return canonical[len(prefix) :] if prefix and canonical.startswith(prefix) else canonical


# --- Zoho Accounts ------------------------------------------------------------------------


async def oauth_token(request: web.Request) -> web.Response:
    """``POST /oauth/v2/token`` (refresh and code grants): Zoho's answers, 200 errors too."""
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
    if grant == "authorization_code":
        granted, refused = redeem_code(state, params)
        if refused is not None:
            return _json(refused)
        if granted is not None and granted.offline:
            new_refresh = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            state.refresh_tokens.add(new_refresh)
    elif not state.refresh_token_valid(params.get("refresh_token", "")):
        return _json({"error": "invalid_code"})
    now = state.clock()
    state.token_issues[:] = [t for t in state.token_issues if t > now - state.token_window]
    if len(state.token_issues) >= state.token_limit:
        return _json(
            {
                "error": "Access Denied",
                "error_description": "You have made too many requests continuously. "
                "Please try again after some time.",
            },
            status=400,
        )
    state.token_issues.append(now)
    token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
    state.access_tokens[token] = now + state.token_ttl
    state.tokens_issued += 1
    answer: dict[str, Any] = {
        "access_token": token,
        "scope": "Desk.tickets.ALL Desk.contacts.ALL Desk.search.READ",
        "api_domain": _base(request),
        "token_type": "Bearer",
        "expires_in": math.ceil(state.token_ttl),
    }
    if new_refresh is not None:
        answer["refresh_token"] = new_refresh
    return _json(answer)


# --- Desk gate, faults and counters ---------------------------------------------------------


def _gate(request: web.Request) -> web.Response | None:
    """Desk's checks before any handler: token, orgId, daily credits."""
    state = request.app[STATE]
    now = state.clock()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expires = state.access_tokens.get(token.strip())
    if scheme != "Zoho-oauthtoken" or expires is None or expires <= now:
        return _error(401, "INVALID_OAUTH", "The OAuth Token you provided is invalid.")
    org = request.headers.get("orgId")
    if not org:
        return _error(400, "INVALID_DATA", "The orgId header is missing.")
    if org != state.org_id:
        return _error(401, "OAUTH_ORG_MISMATCH", "The OAuth token does not belong to orgId.")
    state.credit_calls[:] = [t for t in state.credit_calls if t > now - DAY]
    if len(state.credit_calls) >= state.credits_per_day:
        wait = max(1, math.ceil(state.credit_calls[0] + DAY - now))
        resp = _error(429, "TOO_MANY_REQUESTS", "API credits for the day are exhausted.")
        resp.headers["Retry-After"] = str(wait)
        return resp
    state.credit_calls.append(now)
    return None


@web.middleware
async def vendor_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Faults, the Desk gate and the request counters around every non-control route."""
    path = _split(request)[1]
    if path.startswith("/__sandbox__/"):
        return await handler(request)
    state = request.app[STATE]
    pattern = _route(request)
    fault = state.take_fault(request.method, path, pattern)
    route = f"{request.method} {pattern}"

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
    refused = _gate(request) if path.startswith("/api/") else None
    try:
        resp = refused if refused is not None else await handler(request)
    except web.HTTPException as exc:
        count(exc.status)
        raise
    count(resp.status)
    if fault is not None and fault.kind == "reset":
        return _hang_up(request)
    if fault is not None and fault.kind == "commit_then_timeout":
        await _sleep(request, fault.delay)
    return resp


def _fault_body(status: int) -> dict[str, Any]:
    codes = {401: "INVALID_OAUTH", 404: "URL_NOT_FOUND", 422: "UNPROCESSABLE_ENTITY"}
    code = codes.get(status, "TOO_MANY_REQUESTS" if status == 429 else "INTERNAL_SERVER_ERROR")
    return {"errorCode": code, "message": f"injected {status}"}


def _hang_up(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


async def _sleep(request: web.Request, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(request.app[STOPPING].wait(), seconds)


# --- Desk: contacts -------------------------------------------------------------------------


def _new_contact(state: SandboxState, raw: dict[str, Any]) -> dict[str, Any]:
    contact_id = state.new_id()
    contact = {
        "id": contact_id,
        "lastName": raw.get("lastName") or str(raw.get("email", "")).split("@")[0],
        "firstName": raw.get("firstName"),
        "email": raw.get("email"),
        "phone": raw.get("phone"),
        "createdTime": _iso(state.now()),
    }
    state.contacts[contact_id] = contact
    return contact


def _find_contact(state: SandboxState, email: str) -> dict[str, Any] | None:
    wanted = email.strip().lower()
    return next(
        (c for c in state.contacts.values() if str(c.get("email") or "").lower() == wanted), None
    )


async def create_contact(request: web.Request) -> web.Response:
    """``POST /api/v1/contacts``: ``lastName`` required."""
    body = await _body(request)
    if body is None:
        return _error(400, "INVALID_DATA", "The request body is not a JSON object.")
    if not body.get("lastName"):
        return _unprocessable(("lastName", "missing"))
    return _json(_new_contact(request.app[STATE], body))


async def search_contacts(request: web.Request) -> web.Response:
    """``GET /api/v1/contacts/search?email=|phone=``: 204 when nothing matches."""
    q = request.query
    rows = list(request.app[STATE].contacts.values())
    if "email" in q:
        rows = [c for c in rows if str(c.get("email") or "").lower() == q["email"].lower()]
    if "phone" in q:
        rows = [c for c in rows if _digits(c.get("phone")) == _digits(q["phone"])]
    return _listing(request, rows)


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def _listing(request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
    try:
        start = max(0, int(request.query.get("from", "0")))
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        return _unprocessable(("from", "invalid"))
    if not 1 <= limit <= 100:
        return _unprocessable(("limit", "invalid"))
    chunk = rows[start : start + limit]
    if not chunk:
        return web.Response(status=204)
    return _json({"data": chunk, "count": len(rows)})


# --- Desk: tickets --------------------------------------------------------------------------


def _check_ticket(state: SandboxState, body: dict[str, Any], new: bool) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if new or "subject" in body:
        subject = body.get("subject")
        if not subject:
            problems.append(("subject", "missing"))
        elif not isinstance(subject, str) or len(subject) > 255:
            problems.append(("subject", "invalid"))
    if new:
        if not body.get("departmentId"):
            problems.append(("departmentId", "missing"))
        elif str(body["departmentId"]) != state.department_id:
            problems.append(("departmentId", "invalid"))
        contact = body.get("contact")
        if body.get("contactId"):
            if str(body["contactId"]) not in state.contacts:
                problems.append(("contactId", "invalid"))
        elif not isinstance(contact, dict):
            problems.append(("contactId", "missing"))
        elif not (contact.get("lastName") or contact.get("email")):
            problems.append(("contact.lastName", "missing"))
    checks = (
        ("channel", CHANNELS | state.extra_channels),
        ("status", frozenset(STATUS_TYPES)),
        ("priority", PRIORITIES),
        ("classification", CLASSIFICATIONS),
    )
    for name, allowed in checks:
        if body.get(name) is not None and body[name] not in allowed:
            problems.append((name, "invalid"))
    cf = body.get("cf") or {}
    if not isinstance(cf, dict):
        problems.append(("cf", "invalid"))
    else:
        problems += [(f"cf.{k}", "invalid") for k in cf if k not in state.custom_fields]
    return problems


async def create_ticket(request: web.Request) -> web.Response:
    """``POST /api/v1/tickets``: required fields, contact reuse by email, custom fields."""
    state = request.app[STATE]
    body = await _body(request)
    if body is None:
        return _error(400, "INVALID_DATA", "The request body is not a JSON object.")
    problems = _check_ticket(state, body, new=True)
    if problems:
        return _unprocessable(*problems)
    if body.get("contactId"):
        contact = state.contacts[str(body["contactId"])]
    else:
        raw = body["contact"]
        found = _find_contact(state, raw["email"]) if raw.get("email") else None
        contact = found or _new_contact(state, raw)
    now = _iso(state.now())
    ticket_id = state.new_id()
    status = body.get("status") or "Open"
    ticket: dict[str, Any] = {
        "id": ticket_id,
        "ticketNumber": str(100 + len(state.tickets) + 1),
        "departmentId": str(body["departmentId"]),
        "contactId": contact["id"],
        "email": body.get("email") or contact.get("email"),
        "phone": body.get("phone") or contact.get("phone"),
        "channel": body.get("channel") or "Web",
        "status": status,
        "statusType": STATUS_TYPES[status],
        "cf": {name: None for name in sorted(state.custom_fields)} | dict(body.get("cf") or {}),
        "createdTime": now,
        "modifiedTime": now,
        "closedTime": now if status == "Closed" else None,
        "webUrl": f"https://desk.zoho.in/support/sandbox/ShowHomePage.html#Cases/dv/{ticket_id}",
    }
    for name in TICKET_FIELDS:
        ticket.setdefault(name, body.get(name))
    state.tickets[ticket_id] = ticket
    state.comments[ticket_id] = []
    return _json(ticket)


async def get_ticket(request: web.Request) -> web.Response:
    ticket = request.app[STATE].tickets.get(request.match_info["ticket_id"])
    return _json(ticket) if ticket is not None else _not_found()


async def update_ticket(request: web.Request) -> web.Response:
    """``PATCH /api/v1/tickets/{id}``: changed fields only; a status change is logged in history."""
    state = request.app[STATE]
    ticket = state.tickets.get(request.match_info["ticket_id"])
    if ticket is None:
        return _not_found()
    body = await _body(request)
    if body is None:
        return _error(400, "INVALID_DATA", "The request body is not a JSON object.")
    problems = _check_ticket(state, body, new=False)
    if problems:
        return _unprocessable(*problems)
    now = state.now()
    if "status" in body and body["status"] != ticket["status"]:
        state.history.append(
            {
                "ticketId": ticket["id"],
                "event": "StatusChanged",
                "from": ticket["status"],
                "to": body["status"],
                "time": _iso(now),
            }
        )
        ticket["statusType"] = STATUS_TYPES[body["status"]]
        ticket["closedTime"] = _iso(now) if body["status"] == "Closed" else None
    for name in TICKET_FIELDS:
        if name in body:
            ticket[name] = body[name]
    if isinstance(body.get("cf"), dict):
        ticket["cf"] = ticket["cf"] | body["cf"]
    ticket["modifiedTime"] = _iso(now)
    return _json(ticket)


async def search_tickets(request: web.Request) -> web.Response:
    """``GET /api/v1/tickets/search``: email, phone, subject, ticketNumber, status,
    departmentId, ``customField1=<api_name>:<value>``; ``*`` at the end is a wildcard."""
    q = request.query

    def match(actual: Any, wanted: str) -> bool:
        text = str(actual or "").lower()
        wanted = wanted.lower()
        return text.startswith(wanted[:-1]) if wanted.endswith("*") else text == wanted

    rows = list(request.app[STATE].tickets.values())
    for name in ("email", "phone", "subject", "ticketNumber", "status", "departmentId"):
        if name in q:
            rows = [t for t in rows if match(t.get(name), q[name])]
    if "customField1" in q:
        name, sep, value = q["customField1"].partition(":")
        if not sep or name not in request.app[STATE].custom_fields:
            return _unprocessable(("customField1", "invalid"))
        rows = [t for t in rows if match(t["cf"].get(name), value)]
    rows.sort(key=lambda t: str(t["createdTime"]), reverse=True)
    return _listing(request, rows)


# --- Desk: comments -------------------------------------------------------------------------


async def list_comments(request: web.Request) -> web.Response:
    """``GET /api/v1/tickets/{id}/comments``: oldest first, ``from``/``limit`` paging."""
    rows = request.app[STATE].comments.get(request.match_info["ticket_id"])
    if rows is None:
        return _not_found()
    return _listing(request, rows)


async def create_comment(request: web.Request) -> web.Response:
    """``POST /api/v1/tickets/{id}/comments``: ``content``, ``contentType``, ``isPublic``."""
    state = request.app[STATE]
    ticket = state.tickets.get(request.match_info["ticket_id"])
    if ticket is None:
        return _not_found()
    body = await _body(request)
    if body is None:
        return _error(400, "INVALID_DATA", "The request body is not a JSON object.")
    problems: list[tuple[str, str]] = []
    if not body.get("content"):
        problems.append(("content", "missing"))
    if body.get("contentType", "html") not in ("html", "plainText"):
        problems.append(("contentType", "invalid"))
    if not isinstance(body.get("isPublic", False), bool):
        problems.append(("isPublic", "invalid"))
    if problems:
        return _unprocessable(*problems)
    now = _iso(state.now())
    comment = {
        "id": state.new_id(),
        "ticketId": ticket["id"],
        "content": body["content"],
        "contentType": body.get("contentType", "html"),
        "isPublic": body.get("isPublic", False),
        "commentedTime": now,
        "commenter": {"name": "Hub Integration", "type": "AGENT"},
    }
    state.comments[ticket["id"]].append(comment)
    ticket["modifiedTime"] = now
    return _json(comment)


# --- control routes -------------------------------------------------------------------------


async def control_state(request: web.Request) -> web.Response:
    return _json(request.app[STATE].snapshot())


async def control_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "GET":
        return _json({"pending": [f.as_json() for f in state.faults]})
    try:
        raw = await request.json()
        items = raw if isinstance(raw, list) else [raw]
        state.faults.extend(Fault.parse(item) for item in items)
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)
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
    """Change limits at run time: ``token_ttl``, ``token_window``, ``token_limit``, ``credits_per_day``."""
    state = request.app[STATE]
    try:
        raw = await request.json()
        for key in ("token_ttl", "token_window"):
            if key in raw:
                setattr(state, key, float(raw[key]))
        for key in ("token_limit", "credits_per_day"):
            if key in raw:
                setattr(state, key, int(raw[key]))
    except (ValueError, TypeError) as exc:
        return _json({"error": str(exc)}, 400)
    keys = ("token_ttl", "token_window", "token_limit", "credits_per_day")
    return _json({key: getattr(state, key) for key in keys})


def create_sandbox_app(state: SandboxState | None = None) -> web.Application:
    """The sandbox as an aiohttp app (accounts and Desk on one host; Desk under ``/api/v1``).

    Vendor routes: ``GET|POST /oauth/v2/auth`` (the consent page), ``POST /oauth/v2/token``,
    ``POST /api/v1/tickets``,
    ``GET /api/v1/tickets/search``, ``GET|PATCH /api/v1/tickets/{ticket_id}``,
    ``GET|POST /api/v1/tickets/{ticket_id}/comments``, ``POST /api/v1/contacts``,
    ``GET /api/v1/contacts/search``.

    Control routes (tests only): ``GET /__sandbox__/state``, ``GET|POST /__sandbox__/faults``,
    ``POST /__sandbox__/expire_tokens``, ``POST /__sandbox__/reset``,
    ``POST /__sandbox__/settings``.
    """
    app = web.Application(middlewares=[vendor_middleware])
    app[STATE] = state if state is not None else SandboxState()
    app[STOPPING] = asyncio.Event()

    async def stopping(app: web.Application) -> None:
        app[STOPPING].set()

    app.on_shutdown.append(stopping)
    add_consent_routes(app, STATE, _base)
    app.router.add_post("/oauth/v2/token", oauth_token)
    app.router.add_post("/api/v1/tickets", create_ticket)
    app.router.add_get("/api/v1/tickets/search", search_tickets)
    app.router.add_get("/api/v1/tickets/{ticket_id}", get_ticket)
    app.router.add_patch("/api/v1/tickets/{ticket_id}", update_ticket)
    app.router.add_get("/api/v1/tickets/{ticket_id}/comments", list_comments)
    app.router.add_post("/api/v1/tickets/{ticket_id}/comments", create_comment)
    app.router.add_post("/api/v1/contacts", create_contact)
    app.router.add_get("/api/v1/contacts/search", search_contacts)
    app.router.add_get("/__sandbox__/state", control_state)
    app.router.add_get("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/expire_tokens", control_expire)
    app.router.add_post("/__sandbox__/reset", control_reset)
    app.router.add_post("/__sandbox__/settings", control_settings)
    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m connectors.zoho_desk.sandbox``: serve the sandbox until interrupted."""
    parser = argparse.ArgumentParser(description="Local Zoho Desk + Accounts sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="access token lifetime (s)")
    parser.add_argument("--credits", type=int, default=5000, help="API credits per 24 hours")
    args = parser.parse_args(argv)
    state = SandboxState(token_ttl=args.token_ttl, credits_per_day=args.credits)
    url = f"http://{args.host}:{args.port}"
    print(f"Zoho Desk sandbox on {url}", flush=True)
    print(
        f"  connection config: accounts_url={url} api_url={url}/api/v1 org_id={state.org_id} "
        f"department_id={state.department_id} client_id={state.client_id} "
        f"client_secret={state.client_secret} refresh_token={state.refresh_token}",
        flush=True,
    )
    web.run_app(create_sandbox_app(state), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
