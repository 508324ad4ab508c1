"""A local Zoho CRM v7 + Zoho Accounts look-alike, so the connector is tested without the internet.

It serves Zoho's real paths and JSON shapes (reference/zoho.md §2, §3) and
behaves like the vendor where it matters to the hub: OAuth refresh with
1-hour tokens (configurable) and the 10-per-10-minutes minting limit, 401
``INVALID_TOKEN``, per-record results (``SUCCESS``, ``INVALID_DATA``,
``MANDATORY_NOT_FOUND``, ``DUPLICATE_DATA``) with 400 when every record failed
and 207 for a mixed batch, upsert with ``duplicate_check_fields``, the
100-records cap, search with ``criteria`` (``equals`` matching like
"contains", ``starts_with``, ``and``/``or``), ``email``, ``phone`` and ``word``,
204 with an empty body when nothing matches, and the per-org API credits per
rolling 24 h plus a concurrency cap (429 ``TOO_MANY_REQUESTS``).

The ``Retry-After`` header on a credits 429 is the sandbox's choice
(UNCONFIRMED upstream); the connector copes without it.

Test-only control routes live under ``/__sandbox__/`` with the same
conventions as the Books sandbox (``hub.testing.ActionContract`` relies on
them): ``state``, ``faults``, ``settings``, ``expire_tokens``, ``reset``.
Faults match the request's path or its route pattern (``/crm/v7/Deals/{id}``).

Run it standalone: ``python -m connectors.zoho_crm.sandbox --port 8091``.
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
from typing import Any

from aiohttp import web

from connectors.zoho_books.sandbox import Fault, serve
from connectors.zoho_books.sandbox_accounts import ZohoConsent, add_consent_routes, redeem_code

__all__ = [
    "MODULES",
    "Fault",
    "SandboxState",
    "create_sandbox_app",
    "main",
    "parse_criteria",
    "serve",
]

API = "/crm/v7"
MODULES = ("Leads", "Contacts", "Accounts", "Deals", "Tasks", "Notes")
MANDATORY: dict[str, tuple[str, ...]] = {
    "Leads": ("Last_Name",),
    "Contacts": ("Last_Name",),
    "Accounts": ("Account_Name",),
    "Deals": ("Deal_Name", "Stage"),
    "Tasks": ("Subject",),
    "Notes": ("Note_Content", "Parent_Id"),
}
# Fields that may be duplicate_check_fields (system unique + "Do not allow duplicates").
UNIQUE: dict[str, tuple[str, ...]] = {
    "Leads": ("Email", "Phone", "Mobile"),
    "Contacts": ("Email", "Phone", "Mobile"),
    "Accounts": ("Account_Name",),
    "Deals": ("Deal_Name", "Hub_Key"),
    "Tasks": (),
    "Notes": (),
}
# Fields that refuse a duplicate value on a plain insert (DUPLICATE_DATA).
NO_DUPLICATES: dict[str, tuple[str, ...]] = {"Deals": ("Hub_Key",)}
DATES = ("Closing_Date", "Due_Date")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_RECORDS = 100
MAX_CONDITIONS = 10
OPERATORS = ("equals", "starts_with")


@dataclass
class SandboxState:
    """Configuration and everything the sandbox has stored (in memory).

    ``unique_fields`` lists, per module, the fields upsert may match on (add a
    custom field there to mimic "Do not allow duplicate values"). ``clock`` (monotonic seconds) drives token expiry and the credits window.
    """

    org_id: str = "60098765432"
    client_id: str = "1000.SANDBOX"
    client_secret: str = "sandbox-secret"
    refresh_token: str = "1000.sandbox.refresh"
    token_ttl: float = 3600.0
    token_limit: int = 10
    token_window: float = 600.0
    credits_per_day: int = 5000
    concurrency: int = 5
    clock: Callable[[], float] = time.monotonic
    unique_fields: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(UNIQUE))

    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {m: {} for m in MODULES}
    )
    access_tokens: dict[str, float] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    consent: ZohoConsent = field(default_factory=ZohoConsent)
    token_issues: list[float] = field(default_factory=list)
    tokens_issued: int = 0
    credits: list[float] = field(default_factory=list)
    in_flight: int = 0
    faults: list[Fault] = field(default_factory=list)
    by_status: Counter[str] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        """Forget everything stored, issued and scripted; keep the configuration."""
        self.records = {m: {} for m in MODULES}
        self.access_tokens.clear()
        self.refresh_tokens.clear()
        self.consent.reset()
        self.token_issues.clear()
        self.tokens_issued = 0
        self.credits.clear()
        self.faults.clear()
        self.by_status.clear()
        self.by_route.clear()
        self._ids = itertools.count(1)

    def refresh_token_valid(self, token: str) -> bool:
        """The configured refresh token, or one minted by an authorization-code grant."""
        return token == self.refresh_token or token in self.refresh_tokens

    def new_id(self) -> str:
        """A CRM-looking 19-digit ID."""
        return f"4876876{next(self._ids):012d}"

    def take_fault(self, method: str, path: str, pattern: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.matches(method, path) or fault.matches(method, pattern):
                return self.faults.pop(i)
        return None

    def snapshot(self) -> dict[str, Any]:
        """Everything stored, as ``GET /__sandbox__/state`` shows it."""
        now = self.clock()
        return {
            "org_id": self.org_id,
            "records": {m: list(rows.values()) for m, rows in self.records.items()},
            "tokens": {
                "issued": self.tokens_issued,
                "live": sum(1 for exp in self.access_tokens.values() if exp > now),
            },
            "credits": {"used": len(self._live_credits()), "per_day": self.credits_per_day},
            "requests": {
                "total": sum(self.by_status.values()),
                "by_status": dict(self.by_status),
                "by_route": dict(self.by_route),
            },
            "faults_pending": [f.as_json() for f in self.faults],
        }

    def _live_credits(self) -> list[float]:
        cutoff = self.clock() - 86400
        self.credits = [t for t in self.credits if t > cutoff]
        return self.credits


STATE = web.AppKey("state", SandboxState)
STOPPING = web.AppKey("stopping", asyncio.Event)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _error(
    code: str, message: str, status: int = 400, details: dict[str, Any] | None = None
) -> web.Response:
    body = {"code": code, "details": details or {}, "message": message, "status": "error"}
    return _json(body, status)


def _now_iso() -> str:
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    return dt.datetime.now(dt.UTC).astimezone(ist).isoformat(timespec="seconds")


_ROOTS = ("/oauth/", "/crm/", "/__sandbox__/")


def _split(request: web.Request) -> tuple[str, str]:
    """(mount prefix, vendor path): ``hub sandbox`` mounts this app under ``/zoho_crm``."""
    path = request.path
    starts = [i for i in (path.find(root) for root in _ROOTS) if i >= 0]
    cut = min(starts) if starts else 0
    return path[:cut], path[cut:]


def _base(request: web.Request) -> str:
    """The sandbox's own URL, mount prefix included (``api_domain``, ``accounts-server``)."""
    return f"{request.scheme}://{request.host}{_split(request)[0]}"


def _pattern(request: web.Request) -> str:
    """The vendor path with record IDs as ``{id}``: counters and faults use it."""
    path = _split(request)[1]
    record_id = request.match_info.get("record_id")
    if record_id:
        return path.replace(f"/{record_id}", "/{id}", 1)
    return path


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
    state.token_issues = [t for t in state.token_issues if t > now - state.token_window]
    if len(state.token_issues) >= state.token_limit:
        return _json(
            {
                "error": "Access Denied",
                "error_description": "You have made too many requests continuously. "
                "Please try again after some time.",
            },
            400,
        )
    state.token_issues.append(now)
    token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
    state.access_tokens[token] = now + state.token_ttl
    state.tokens_issued += 1
    answer: dict[str, Any] = {
        "access_token": token,
        "scope": "ZohoCRM.modules.ALL ZohoSearch.securesearch.READ",
        "api_domain": _base(request),
        "token_type": "Bearer",
        "expires_in": math.ceil(state.token_ttl),
    }
    if new_refresh is not None:
        answer["refresh_token"] = new_refresh
    return _json(answer)


# --- the gate: token, credits, concurrency ------------------------------------------------


def _gate(request: web.Request) -> web.Response | None:
    state = request.app[STATE]
    now = state.clock()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expires = state.access_tokens.get(token.strip())
    if scheme != "Zoho-oauthtoken" or expires is None or expires <= now:
        return _error("INVALID_TOKEN", "invalid oauth token", 401)
    used = state._live_credits()
    if len(used) >= state.credits_per_day:
        wait = max(1, math.ceil(used[0] + 86400 - now))
        resp = _error("TOO_MANY_REQUESTS", "API credits for the last 24 hours are exhausted", 429)
        resp.headers["Retry-After"] = str(wait)
        return resp
    if state.in_flight >= state.concurrency:
        return _error("TOO_MANY_REQUESTS", "concurrency limit exceeded", 429)
    used.append(now)
    return None


@web.middleware
async def vendor_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Faults, the CRM gate and the request counters around every non-control route."""
    path = _split(request)[1]
    if path.startswith("/__sandbox__/"):
        return await handler(request)
    state = request.app[STATE]
    pattern = _pattern(request)
    route = f"{request.method} {pattern}"
    fault = state.take_fault(request.method, path, pattern)

    def count(status: int) -> None:
        state.by_status[str(status)] += 1
        state.by_route[route] += 1

    if fault is not None and fault.kind == "status":
        body = fault.body if fault.body is not None else _fault_body(fault.status)
        count(fault.status)
        return _json(body, fault.status, fault.headers)
    if fault is not None and fault.kind == "reset" and not fault.commit:
        count(0)
        return _hang_up(request)
    if path.startswith("/crm/"):
        refused = _gate(request)
        if refused is not None:
            count(refused.status)
            return refused
    state.in_flight += 1
    try:
        if fault is not None and fault.kind == "delay":
            await _sleep(request, fault.delay)
        resp = await handler(request)
    except web.HTTPException as exc:
        count(exc.status)
        raise
    finally:
        state.in_flight -= 1
    count(resp.status)
    if fault is not None and fault.kind == "reset":
        return _hang_up(request)
    if fault is not None and fault.kind == "commit_then_timeout":
        await _sleep(request, fault.delay)
    return resp


def _fault_body(status: int) -> dict[str, Any]:
    codes = {401: "INVALID_TOKEN", 429: "TOO_MANY_REQUESTS", 400: "INVALID_DATA"}
    code = codes.get(status, "INTERNAL_ERROR")
    return {"code": code, "details": {}, "message": f"injected {status}", "status": "error"}


def _hang_up(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


async def _sleep(request: web.Request, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(request.app[STOPPING].wait(), seconds)


# --- records ------------------------------------------------------------------------------


def _module(request: web.Request) -> str | web.Response:
    module = request.match_info["module"]
    if module not in MODULES:
        return _error(
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            400,
            {"resource_path_index": 0},
        )
    return module


async def _records_in(request: web.Request) -> list[Any] | web.Response:
    try:
        body = json.loads(await request.text())
    except ValueError:
        return _error("INVALID_DATA", "body is not well-formed JSON")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not data:
        return _error(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            400,
            {"api_name": "data", "json_path": "$.data"},
        )
    if len(data) > MAX_RECORDS:
        return _error(
            "LIMIT_EXCEEDED",
            f"the number of records exceeds {MAX_RECORDS}",
            400,
            {"limit": MAX_RECORDS, "api_name": "data", "json_path": "$.data"},
        )
    return data


def _item_error(code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "details": details, "message": message, "status": "error"}


def _validate(
    state: SandboxState, module: str, record: Any, index: int, insert: bool
) -> dict[str, Any] | None:
    """The error item for ``record``, or ``None`` when Zoho would accept it."""
    path = f"$.data[{index}]"
    if not isinstance(record, dict):
        return _item_error("INVALID_DATA", "invalid data", {"json_path": path})
    if insert:
        for name in MANDATORY[module]:
            if record.get(name) in (None, ""):
                return _item_error(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": name, "json_path": f"{path}.{name}"},
                )
    for name, value in record.items():
        where = {"api_name": name, "json_path": f"{path}.{name}"}
        if name == "Email" and value and not EMAIL.match(str(value)):
            return _item_error(
                "INVALID_DATA", "invalid data", {**where, "expected_data_type": "email"}
            )
        if name in DATES and value:
            try:
                dt.date.fromisoformat(str(value))
            except ValueError:
                return _item_error(
                    "INVALID_DATA", "invalid data", {**where, "expected_data_type": "date"}
                )
        if name == "Amount" and (isinstance(value, bool) or not isinstance(value, int | float)):
            return _item_error(
                "INVALID_DATA", "invalid data", {**where, "expected_data_type": "double"}
            )
    if module == "Notes" and insert:
        parent_module, parent_id = _parent(record)
        parent = state.records.get(parent_module, {}).get(parent_id)
        if parent is None or parent_module == "Notes":
            return _item_error(
                "INVALID_DATA",
                "the related id given seems to be invalid",
                {"api_name": "Parent_Id", "json_path": f"{path}.Parent_Id"},
            )
    return None


def _parent(note: dict[str, Any]) -> tuple[str, str]:
    """(module, id) of a note's parent: ``Parent_Id`` as an object (v4+) or an ID + ``$se_module``."""
    parent = note.get("Parent_Id")
    if isinstance(parent, dict):
        module = parent.get("module")
        name = module.get("api_name") if isinstance(module, dict) else note.get("$se_module")
        return str(name), str(parent.get("id"))
    return str(note.get("$se_module")), str(parent)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    return bool(a == b)


def _success(record: dict[str, Any], action: str, duplicate: str | None) -> dict[str, Any]:
    who = {"name": "Sandbox Bot", "id": "4876876000000333001"}
    return {
        "code": "SUCCESS",
        "duplicate_field": duplicate,
        "action": action,
        "details": {
            "Modified_Time": record["Modified_Time"],
            "Modified_By": who,
            "Created_Time": record["Created_Time"],
            "id": record["id"],
            "Created_By": who,
        },
        "message": "record added" if action == "insert" else "record updated",
        "status": "success",
    }


def _store(state: SandboxState, module: str, record: dict[str, Any]) -> dict[str, Any]:
    now = _now_iso()
    stored = {"id": state.new_id(), **record, "Created_Time": now, "Modified_Time": now}
    if module in ("Leads", "Contacts"):
        stored["Full_Name"] = " ".join(
            str(p) for p in (record.get("First_Name"), record.get("Last_Name")) if p
        )
    state.records[module][stored["id"]] = stored
    return stored


def _batch(items: list[dict[str, Any]], created: bool) -> web.Response:
    failed = sum(1 for i in items if i["status"] == "error")
    if failed == len(items):
        status = 400
    elif failed:
        status = 207
    else:
        status = 201 if created else 200
    return _json({"data": items}, status)


def _duplicate(
    state: SandboxState, module: str, record: dict[str, Any], index: int, skip: str | None = None
) -> dict[str, Any] | None:
    for name in NO_DUPLICATES.get(module, ()):
        value = record.get(name)
        if value in (None, ""):
            continue
        for other in state.records[module].values():
            if other["id"] != skip and _same(other.get(name), value):
                return _item_error(
                    "DUPLICATE_DATA",
                    "duplicate data",
                    {
                        "api_name": name,
                        "json_path": f"$.data[{index}].{name}",
                        "duplicate_record": {"id": other["id"], "module": {"api_name": module}},
                    },
                )
    return None


async def insert_records(request: web.Request) -> web.Response:
    """``POST /crm/v7/{module}``: insert each record, one result per record."""
    state = request.app[STATE]
    module = _module(request)
    if isinstance(module, web.Response):
        return module
    data = await _records_in(request)
    if isinstance(data, web.Response):
        return data
    items = []
    for index, record in enumerate(data):
        error = _validate(state, module, record, index, insert=True)
        error = error or _duplicate(state, module, record, index)
        if error is not None:
            items.append(error)
            continue
        items.append(_success(_store(state, module, record), "insert", None))
    return _batch(items, created=True)


async def upsert_records(request: web.Request) -> web.Response:
    """``POST /crm/v7/{module}/upsert``: match on ``duplicate_check_fields`` in order."""
    state = request.app[STATE]
    module = _module(request)
    if isinstance(module, web.Response):
        return module
    raw = await request.text()
    data = await _records_in(request)
    if isinstance(data, web.Response):
        return data
    body = json.loads(raw)
    checks = body.get("duplicate_check_fields")
    if checks is None:
        checks = list(state.unique_fields.get(module, ()))
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        return _error(
            "INVALID_DATA",
            "invalid data",
            400,
            {"api_name": "duplicate_check_fields", "json_path": "$.duplicate_check_fields"},
        )
    for name in checks:
        if name not in state.unique_fields.get(module, ()):
            return _error(
                "INVALID_DATA",
                "the field is not a unique field",
                400,
                {"api_name": name, "json_path": "$.duplicate_check_fields"},
            )
    items: list[dict[str, Any]] = []
    for index, record in enumerate(data):
        match, matched_on = None, None
        if isinstance(record, dict):
            for name in checks:
                value = record.get(name)
                if value in (None, ""):
                    continue
                match = next(
                    (r for r in state.records[module].values() if _same(r.get(name), value)), None
                )
                if match is not None:
                    matched_on = name
                    break
        error = _validate(state, module, record, index, insert=match is None)
        if error is None and match is None:
            error = _duplicate(state, module, record, index)
        if error is not None:
            items.append(error)
        elif match is not None:
            match.update(record)
            match["Modified_Time"] = _now_iso()
            items.append(_success(match, "update", matched_on))
        else:
            items.append(_success(_store(state, module, record), "insert", None))
    return _batch(items, created=any(i.get("action") == "insert" for i in items))


async def get_record(request: web.Request) -> web.Response:
    module = _module(request)
    if isinstance(module, web.Response):
        return module
    record = request.app[STATE].records[module].get(request.match_info["record_id"])
    if record is None:
        return _error("INVALID_URL_PATTERN", "the record does not exist", 404)
    return _json({"data": [record]})


async def update_record(request: web.Request) -> web.Response:
    """``PUT /crm/v7/{module}/{id}``: change the given fields of one record."""
    state = request.app[STATE]
    module = _module(request)
    if isinstance(module, web.Response):
        return module
    data = await _records_in(request)
    if isinstance(data, web.Response):
        return data
    record = state.records[module].get(request.match_info["record_id"])
    if record is None:
        item = _item_error(
            "INVALID_DATA",
            "the related id given seems to be invalid",
            {"api_name": "id", "json_path": "$.data[0].id"},
        )
        return _batch([item], created=False)
    changes = data[0]
    error = _validate(state, module, changes, 0, insert=False)
    error = error or _duplicate(state, module, changes, 0, skip=record["id"])
    if error is not None:
        return _batch([error], created=False)
    record.update({k: v for k, v in changes.items() if k != "id"})
    record["Modified_Time"] = _now_iso()
    return _batch([_success(record, "update", None)], created=False)


def _page(request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
    try:
        page = max(1, int(request.query.get("page", "1")))
        per_page = min(200, max(1, int(request.query.get("per_page", "200"))))
    except ValueError:
        return _error("INVALID_DATA", "invalid data", 400, {"api_name": "page"})
    chunk = rows[(page - 1) * per_page : page * per_page]
    if not chunk:
        return web.Response(status=204)
    fields = [f for f in request.query.get("fields", "").split(",") if f]
    if fields:
        chunk = [{k: r.get(k) for k in ("id", *fields)} for r in chunk]
    info = {
        "per_page": per_page,
        "count": len(chunk),
        "page": page,
        "more_records": len(rows) > page * per_page,
    }
    return _json({"data": chunk, "info": info})


async def related_notes(request: web.Request) -> web.Response:
    """``GET /crm/v7/{module}/{id}/Notes``: the record's notes, newest first."""
    state = request.app[STATE]
    module = _module(request)
    if isinstance(module, web.Response):
        return module
    record_id = request.match_info["record_id"]
    if record_id not in state.records[module]:
        return _error(
            "INVALID_DATA", "the related id given seems to be invalid", 400, {"api_name": "id"}
        )
    rows = [n for n in state.records["Notes"].values() if _parent(n) == (module, record_id)]
    return _page(request, list(reversed(rows)))


# --- search -------------------------------------------------------------------------------

Condition = tuple[str, str, str]
Expr = Condition | tuple[str, list[Any]]


def parse_criteria(text: str) -> Expr:
    """``((A:equals:x)and(B:starts_with:y))`` → a tree; ``ValueError`` when malformed.

    Values may escape ``(``, ``)`` and ``,`` with ``\\``. Conditions joined by
    ``and``/``or`` at one level must all use the same joiner.
    """
    pos = 0
    count = 0

    def group() -> Expr:
        nonlocal pos, count
        if pos >= len(text) or text[pos] != "(":
            raise ValueError(f"expected '(' at {pos}")
        pos += 1
        if pos < len(text) and text[pos] == "(":
            parts = [group()]
            joiner = ""
            while pos < len(text) and text[pos] != ")":
                word = re.match(r"\s*(and|or)\s*", text[pos:], re.IGNORECASE)
                if word is None:
                    raise ValueError(f"expected 'and' or 'or' at {pos}")
                op = word.group(1).lower()
                if joiner and op != joiner:
                    raise ValueError("mix of and/or at one level: add parentheses")
                joiner = op
                pos += word.end()
                parts.append(group())
            pos += 1
            return (joiner or "and", parts) if len(parts) > 1 else parts[0]
        chars: list[str] = []
        while pos < len(text) and text[pos] != ")":
            if text[pos] == "\\" and pos + 1 < len(text):
                pos += 1
                chars.append("\x00" if text[pos] == ":" else text[pos])
            else:
                chars.append(text[pos])
            pos += 1
        if pos >= len(text):
            raise ValueError("unbalanced parentheses")
        pos += 1
        pieces = "".join(chars).split(":", 2)
        if len(pieces) != 3 or not pieces[0]:
            raise ValueError("a condition is (field:operator:value)")
        count += 1
        name, op, value = pieces
        if op not in OPERATORS:
            raise ValueError(f"unsupported operator {op!r}")
        return (name, op, value.replace("\x00", ":"))

    tree = group()
    if pos != len(text):
        raise ValueError(f"unexpected text at {pos}")
    if count > MAX_CONDITIONS:
        raise ValueError(f"more than {MAX_CONDITIONS} conditions")
    return tree


def _matches(record: dict[str, Any], expr: Expr) -> bool:
    if len(expr) == 2:
        joiner, parts = expr
        assert isinstance(parts, list)
        results = (_matches(record, p) for p in parts)
        return all(results) if joiner == "and" else any(results)
    name, op, value = expr
    field_value = record.get(name)
    if isinstance(field_value, dict):
        field_value = field_value.get("id") or field_value.get("name")
    text = "" if field_value is None else str(field_value).lower()
    wanted = str(value).lower()
    if op == "starts_with":
        return text.startswith(wanted)
    return wanted in text  # CRM's "equals" behaves like "contains"


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


async def search_records(request: web.Request) -> web.Response:
    """``GET /crm/v7/{module}/search`` with ``criteria``, ``email``, ``phone`` or ``word``."""
    state = request.app[STATE]
    module = _module(request)
    if isinstance(module, web.Response):
        return module
    q = request.query
    rows = list(state.records[module].values())
    if "criteria" in q:
        try:
            tree = parse_criteria(q["criteria"])
        except ValueError as exc:
            return _error(
                "INVALID_QUERY", f"invalid query formed: {exc}", 400, {"api_name": "criteria"}
            )
        rows = [r for r in rows if _matches(r, tree)]
    elif "email" in q:
        rows = [r for r in rows if _same(r.get("Email"), q["email"])]
    elif "phone" in q:
        digits = _digits(q["phone"])[-10:]
        rows = [
            r
            for r in rows
            if digits and any(_digits(r.get(k)).endswith(digits) for k in ("Phone", "Mobile"))
        ]
    elif "word" in q:
        word = q["word"].lower()
        rows = [r for r in rows if any(word in str(v).lower() for v in r.values())]
    else:
        return _error(
            "REQUIRED_PARAM_MISSING",
            "one of the expected parameter is missing",
            400,
            {"param": "criteria"},
        )
    return _page(request, rows)


# --- control routes -----------------------------------------------------------------------


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


_FLOAT_SETTINGS = ("token_ttl", "token_window")
_INT_SETTINGS = ("token_limit", "credits_per_day", "concurrency")


async def control_settings(request: web.Request) -> web.Response:
    """Change limits at run time: ``token_ttl``, ``token_limit``, ``credits_per_day``, ..."""
    state = request.app[STATE]
    try:
        raw = await request.json()
        if not isinstance(raw, dict):
            raise ValueError("settings must be a JSON object")
        for key in _FLOAT_SETTINGS:
            if key in raw:
                setattr(state, key, float(raw[key]))
        for key in _INT_SETTINGS:
            if key in raw:
                setattr(state, key, int(raw[key]))
    except (ValueError, TypeError) as exc:
        return _json({"error": str(exc)}, 400)
    return _json({k: getattr(state, k) for k in (*_FLOAT_SETTINGS, *_INT_SETTINGS)})


def create_sandbox_app(state: SandboxState | None = None) -> web.Application:
    """The sandbox as an aiohttp app (accounts and CRM on one host).

    Vendor routes: ``GET|POST /oauth/v2/auth`` (the consent page), ``POST /oauth/v2/token``,
    ``POST /crm/v7/{module}``,
    ``POST /crm/v7/{module}/upsert``, ``GET /crm/v7/{module}/search``,
    ``GET|PUT /crm/v7/{module}/{id}``, ``GET /crm/v7/{module}/{id}/Notes``.

    Control routes (tests only): ``GET /__sandbox__/state``,
    ``GET|POST /__sandbox__/faults``, ``POST /__sandbox__/expire_tokens``,
    ``POST /__sandbox__/reset``, ``POST /__sandbox__/settings``.
    """
    app = web.Application(middlewares=[vendor_middleware])
    app[STATE] = state if state is not None else SandboxState()
    app[STOPPING] = asyncio.Event()

    async def stopping(app: web.Application) -> None:
        app[STOPPING].set()

    app.on_shutdown.append(stopping)
    add_consent_routes(app, STATE, _base)
    app.router.add_post("/oauth/v2/token", oauth_token)
    app.router.add_post(f"{API}/{{module}}/upsert", upsert_records)
    app.router.add_get(f"{API}/{{module}}/search", search_records)
    app.router.add_post(f"{API}/{{module}}", insert_records)
    app.router.add_get(f"{API}/{{module}}/{{record_id}}/Notes", related_notes)
    app.router.add_get(f"{API}/{{module}}/{{record_id}}", get_record)
    app.router.add_put(f"{API}/{{module}}/{{record_id}}", update_record)
    app.router.add_get("/__sandbox__/state", control_state)
    app.router.add_get("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/expire_tokens", control_expire)
    app.router.add_post("/__sandbox__/reset", control_reset)
    app.router.add_post("/__sandbox__/settings", control_settings)
    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m connectors.zoho_crm.sandbox``: serve the sandbox until interrupted."""
    parser = argparse.ArgumentParser(description="Local Zoho CRM + Accounts sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="access token lifetime (s)")
    parser.add_argument("--credits", type=int, default=5000, help="API credits per 24 hours")
    args = parser.parse_args(argv)
    state = SandboxState(token_ttl=args.token_ttl, credits_per_day=args.credits)
    url = f"http://{args.host}:{args.port}"
    print(f"Zoho CRM sandbox on {url}", flush=True)
    print(
        f"  connection config: accounts_url={url} api_domain={url} client_id={state.client_id} "
        f"client_secret={state.client_secret} refresh_token={state.refresh_token}",
        flush=True,
    )
    web.run_app(create_sandbox_app(state), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
