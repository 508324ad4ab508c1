"""A local Razorpay REST API look-alike (``GET /v1/payments``), so the poller is tested offline.

It speaks the paths and JSON shapes of reference/razorpay.md §7: HTTP Basic
auth with ``key_id:key_secret``, ``from``/``to``/``count``/``skip`` paging
(``count`` at most 100, ``from`` within 946684800..4765046400), the
``{"entity": "collection", "count": N, "items": [...]}`` envelope and the
``{"error": {"code": "BAD_REQUEST_ERROR", ...}}`` error body. Items come
newest first, as Razorpay is believed to order them (UNCONFIRMED upstream;
the poller does not rely on it). Razorpay publishes no rate limit, so the
429 here fires at a configurable requests-per-minute (``rate_limit``).

Control routes (tests only): ``GET /__sandbox__/state``,
``GET|POST /__sandbox__/faults`` (answer the next matching request with a
status and a Razorpay error body), ``POST /__sandbox__/payments`` (add one
payment entity or a list; missing fields are filled in), ``POST /__sandbox__/reset``.

Run it standalone: ``python -m connectors.razorpay.sandbox --port 8091``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hub.sandbox import serve

__all__ = ["FROM_MAX", "FROM_MIN", "SandboxState", "create_sandbox_app", "main", "serve"]

FROM_MIN = 946_684_800  # 2000-01-01: the documented lower bound of `from`
FROM_MAX = 4_765_046_400  # 2121-01-01: the documented upper bound of `from`
MAX_COUNT = 100

# 401 with BAD_REQUEST_ERROR is Razorpay's documented answer to a bad key; the
# code on a 429 is not published (UNCONFIRMED): BAD_REQUEST_ERROR is a guess.
_ERROR_CODES = {400: "BAD_REQUEST_ERROR", 401: "BAD_REQUEST_ERROR", 429: "BAD_REQUEST_ERROR"}
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def error_body(status: int, description: str, field_name: str | None = None) -> dict[str, Any]:
    """Razorpay's error envelope; 5xx carry ``SERVER_ERROR`` (as the SDK expects)."""
    return {
        "error": {
            "code": _ERROR_CODES.get(
                status, "SERVER_ERROR" if status >= 500 else "BAD_REQUEST_ERROR"
            ),
            "description": description,
            "source": "NA",
            "step": "NA",
            "reason": "NA",
            "metadata": {},
            "field": field_name,
        }
    }


@dataclass
class Fault:
    """Answer the next request to ``path`` with ``status`` and a Razorpay error body."""

    path: str
    status: int = 500
    description: str = "The server encountered an error. The incident has been reported to admins"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any) -> Fault:
        """A fault from its JSON form; ``ValueError`` names what is wrong."""
        if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
            raise ValueError("each fault must be an object with a string 'path'")
        unknown = set(raw) - {"path", "status", "description", "headers"}
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        fault = cls(path=raw["path"], status=int(raw.get("status", 500)))
        if isinstance(raw.get("description"), str):
            fault.description = raw["description"]
        fault.headers = {str(k): str(v) for k, v in (raw.get("headers") or {}).items()}
        return fault


@dataclass
class SandboxState:
    """Configuration and the stored payments (in memory).

    ``rate_limit`` is requests per rolling minute on ``/v1/`` (``None``: no
    limit); ``clock`` (seconds) drives that window and default timestamps.
    """

    key_id: str = "rzp_test_sandbox"
    key_secret: str = "sandbox_key_secret"
    rate_limit: int | None = None
    clock: Callable[[], float] = time.time
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    calls: list[float] = field(default_factory=list)
    by_status: Counter[int] = field(default_factory=Counter)
    requests: list[dict[str, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        """Forget payments, faults and counters; keep the configuration."""
        self.payments.clear()
        self.faults.clear()
        self.calls.clear()
        self.by_status.clear()
        self.requests.clear()

    def new_id(self, prefix: str) -> str:
        """A Razorpay-looking id: prefix and 14 base-62 characters."""
        n = next(self._ids)
        chars = []
        for _ in range(14):
            n, digit = divmod(n, 62)
            chars.append(_ALPHABET[digit])
        return f"{prefix}_{''.join(reversed(chars))}"

    def add(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Store one payment, filling in what a real entity always carries."""
        payment = payment_entity(self, raw)
        self.payments[payment["id"]] = payment
        return payment

    def seed(self, n: int = 3, start: int | None = None, step: int = 60) -> list[dict[str, Any]]:
        """Add ``n`` payments one ``step`` apart from ``start``: captured, failed, authorized, ..."""
        first = int(self.clock()) - n * step if start is None else start
        statuses = ("captured", "failed", "authorized", "refunded")
        return [
            self.add({"status": statuses[i % len(statuses)], "created_at": first + i * step})
            for i in range(n)
        ]

    def take_fault(self, path: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.path == path:
                return self.faults.pop(i)
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "payments": len(self.payments),
            "requests": {"total": sum(self.by_status.values()), "by_status": dict(self.by_status)},
            "recent": self.requests[-20:],
            "faults_pending": [f.path for f in self.faults],
        }


def payment_entity(state: SandboxState, raw: dict[str, Any]) -> dict[str, Any]:
    """A full payment entity (reference §6) from a partial one."""
    status = raw.get("status", "captured")
    captured = status in ("captured", "refunded")
    amount = raw.get("amount", 149900)
    entity: dict[str, Any] = {
        "id": state.new_id("pay"),
        "entity": "payment",
        "amount": amount,
        "currency": "INR",
        "base_amount": amount,
        "status": status,
        "order_id": None,
        "invoice_id": None,
        "international": False,
        "method": "upi",
        "amount_refunded": amount if status == "refunded" else 0,
        "amount_transferred": 0,
        "refund_status": "full" if status == "refunded" else None,
        "captured": captured,
        "description": None,
        "card_id": None,
        "bank": None,
        "wallet": None,
        "vpa": "customer@okaxis",
        "email": "customer@example.in",
        "contact": "+919800000000",
        "notes": [],
        "fee": 3538 if captured else None,
        "tax": 540 if captured else None,
        "error_code": "BAD_REQUEST_ERROR" if status == "failed" else None,
        "error_description": "Payment was declined by the bank." if status == "failed" else None,
        "error_source": "bank" if status == "failed" else None,
        "error_step": "payment_authorization" if status == "failed" else None,
        "error_reason": "payment_declined" if status == "failed" else None,
        "acquirer_data": {"rrn": "431512873406"},
        "created_at": int(state.clock()),
    }
    entity.update(raw)
    return entity


STATE = web.AppKey("state", SandboxState)


def _error(status: int, description: str, field_name: str | None = None) -> web.Response:
    return web.json_response(error_body(status, description, field_name), status=status)


def _authorized(request: web.Request, state: SandboxState) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return user == state.key_id and password == state.key_secret


def _int_param(request: web.Request, name: str) -> int | None:
    """An integer query parameter; ``ValueError`` carries Razorpay's wording."""
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"The {name} must be an integer.") from None


async def list_payments(request: web.Request) -> web.Response:
    """``GET /v1/payments``: ``from``/``to`` (inclusive, on ``created_at``), ``count``, ``skip``."""
    state = request.app[STATE]
    now = state.clock()
    state.requests.append(dict(request.query))
    fault = state.take_fault("/v1/payments")
    if fault is not None:
        resp = web.json_response(
            error_body(fault.status, fault.description), status=fault.status, headers=fault.headers
        )
    elif not _authorized(request, state):
        # Razorpay answers a bad key with 401 and this BAD_REQUEST_ERROR body.
        resp = _error(401, "The api key provided is invalid")
    elif state.rate_limit is not None and (
        len([t for t in state.calls if t > now - 60]) >= state.rate_limit
    ):
        resp = web.json_response(
            error_body(429, "Too many requests"), status=429, headers={"Retry-After": "60"}
        )
    else:
        state.calls = [t for t in state.calls if t > now - 60] + [now]
        resp = _page(request, state)
    state.by_status[resp.status] += 1
    return resp


def _page(request: web.Request, state: SandboxState) -> web.Response:
    try:
        start = _int_param(request, "from")
        end = _int_param(request, "to")
        count = _int_param(request, "count")
        skip = _int_param(request, "skip")
    except ValueError as exc:
        return _error(400, str(exc))
    if start is not None and not FROM_MIN <= start <= FROM_MAX:
        return _error(400, f"The from must be between {FROM_MIN} and {FROM_MAX}.", "from")
    if end is not None and not FROM_MIN <= end <= FROM_MAX:
        return _error(400, f"The to must be between {FROM_MIN} and {FROM_MAX}.", "to")
    count = 10 if count is None else count
    if not 1 <= count <= MAX_COUNT:
        return _error(400, f"The count must be between 1 and {MAX_COUNT}.", "count")
    skip = 0 if skip is None else skip
    if skip < 0:
        return _error(400, "The skip must be at least 0.", "skip")
    rows = [
        p
        for p in state.payments.values()
        if (start is None or p["created_at"] >= start) and (end is None or p["created_at"] <= end)
    ]
    # Newest first, ties by id descending, so paging with skip is deterministic.
    rows.sort(key=lambda p: (p["created_at"], p["id"]), reverse=True)
    items = rows[skip : skip + count]
    return web.json_response({"entity": "collection", "count": len(items), "items": items})


async def control_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].snapshot())


async def control_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "POST":
        raw = await request.json()
        try:
            state.faults.extend(Fault.parse(r) for r in (raw if isinstance(raw, list) else [raw]))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"faults_pending": [f.path for f in state.faults]})


async def control_payments(request: web.Request) -> web.Response:
    state = request.app[STATE]
    raw = await request.json()
    rows = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(r, dict) for r in rows):
        return web.json_response({"error": "send a payment object or a list of them"}, status=400)
    added = [state.add(r) for r in rows]
    return web.json_response({"added": [p["id"] for p in added]}, status=201)


async def control_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"reset": True})


def create_sandbox_app(state: SandboxState | None = None) -> web.Application:
    """The sandbox as an aiohttp app.

    Vendor route: ``GET /v1/payments``. Control routes (tests only):
    ``GET /__sandbox__/state``, ``GET|POST /__sandbox__/faults``,
    ``POST /__sandbox__/payments``, ``POST /__sandbox__/reset``.
    """
    if state is None:  # `hub sandbox`: something to poll straight away
        state = SandboxState()
        state.seed()
    app = web.Application()
    app[STATE] = state
    app.router.add_get("/v1/payments", list_payments)
    app.router.add_get("/__sandbox__/state", control_state)
    app.router.add_get("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/payments", control_payments)
    app.router.add_post("/__sandbox__/reset", control_reset)
    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m connectors.razorpay.sandbox``: serve the sandbox until interrupted."""
    parser = argparse.ArgumentParser(description="Local Razorpay REST API sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per minute")
    parser.add_argument("--seed", type=int, default=3, help="payments to create at start")
    args = parser.parse_args(argv)
    state = SandboxState(rate_limit=args.rate_limit)
    state.seed(args.seed)
    url = f"http://{args.host}:{args.port}"
    print(f"Razorpay sandbox on {url}", flush=True)
    print(
        f"  connection config: api_base_url={url} key_id={state.key_id} "
        f"key_secret={state.key_secret}",
        flush=True,
    )
    web.run_app(create_sandbox_app(state), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
