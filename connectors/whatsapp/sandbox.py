"""A local WhatsApp Cloud API look-alike (send side) plus signed-webhook builders, for tests.

Vendor route: ``POST /{version}/{phone_number_id}/messages`` answering Meta's
shapes (reference/whatsapp.md §6): ``{"messaging_product", "contacts":
[{"input", "wa_id"}], "messages": [{"id": "wamid…"}]}`` on success and the
Graph error envelope ``{"error": {"message", "type", "code", "error_subcode",
"error_data", "fbtrace_id"}}`` otherwise:

- bearer token check: unknown → 401 code 190; expired → 401 code 190/463;
- unknown phone-number id → 400 code 100/33; invalid body → 400 code 100;
  unknown template → 400 code 132001;
- per-number throughput limit → 429 code 130429 with ``Retry-After``
  (Meta's HTTP status for it is **UNCONFIRMED**; the connector maps by code);
- like Meta, a free-form message outside the 24 h customer-service window,
  or to an undeliverable number, is *accepted* (200) and then fails
  asynchronously: the sandbox records a ``failed`` status (131047 / 131026)
  that ``notifications.status_notification`` turns into a signed webhook.

Test-only control routes: ``GET /__sandbox__/state``, ``GET|POST
/__sandbox__/faults`` (scripted answers, same ``Fault`` as the Zoho sandbox),
``POST /__sandbox__/inbound`` (a customer wrote: opens the window),
``POST /__sandbox__/expire_tokens``, ``POST /__sandbox__/settings``,
``POST /__sandbox__/reset``.

Run it standalone: ``python -m connectors.whatsapp.sandbox --port 8091``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from hub.sandbox import serve

from .notifications import (
    NumberInfo,
    message_notification,
    new_wamid,
    signed,
    status_notification,
)

__all__ = [
    "Fault",
    "NumberInfo",
    "SandboxState",
    "create_sandbox_app",
    "main",
    "message_notification",
    "serve",
    "signed",
    "status_notification",
]

WINDOW = 24 * 3600.0
_DIGITS = re.compile(r"^[1-9][0-9]{5,14}$")
_VENDOR_PATH = re.compile(r"/v[0-9]+\.[0-9]+/.*$")


@dataclass
class Fault:
    """One scripted misbehaviour for the next request matching ``method`` and ``path``.

    ``kind``: ``status`` (answer ``status``/``body``/``headers``, nothing sent),
    ``commit_then_timeout`` (send, then wait ``delay`` seconds before answering:
    the client times out after Meta accepted), ``reset`` (close the connection;
    with ``commit`` the message is sent first), ``delay`` (wait, then handle).
    ``path`` is the vendor path, e.g. ``/v21.0/110293847561234/messages``.
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
        unknown = set(raw) - {
            "path",
            "method",
            "kind",
            "status",
            "body",
            "headers",
            "delay",
            "commit",
        }
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

    def matches(self, method: str, path: str) -> bool:
        return self.path == path and self.method in (None, method)

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "method": self.method, "kind": self.kind, "status": self.status}


@dataclass
class SandboxState:
    """Configuration and everything the sandbox has seen (in memory).

    ``clock`` (wall seconds) drives the 24 h window and the throughput window.
    """

    waba_id: str = "104983212345678"
    phone_number_id: str = "110293847561234"
    display_phone_number: str = "918069001234"
    access_token: str = "EAAG-sandbox-token"
    app_secret: str = "sandbox-app-secret"
    verify_token: str = "sandbox-verify-token"
    messages_per_second: int = 80
    enforce_window: bool = True
    templates: set[tuple[str, str]] = field(
        default_factory=lambda: {("order_update", "en_US"), ("hello_world", "en_US")}
    )
    undeliverable: set[str] = field(default_factory=set)
    clock: Callable[[], float] = time.time

    expired_tokens: set[str] = field(default_factory=set)
    last_inbound: dict[str, float] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, list[float]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: int = 0
    by_route: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        """Forget what was sent, scripted and expired; keep the configuration."""
        self.expired_tokens.clear()
        self.last_inbound.clear()
        self.sent.clear()
        self.calls.clear()
        self.faults.clear()
        self.requests = 0
        self.by_route.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.matches(method, path):
                return self.faults.pop(i)
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "phone_number_id": self.phone_number_id,
            "sent": self.sent,
            "last_inbound": self.last_inbound,
            # The sandbox convention (hub.testing.actions): counts per "METHOD /vendor/path".
            "requests": {"total": self.requests, "by_route": dict(self.by_route)},
            "faults_pending": [f.as_json() for f in self.faults],
        }


STATE = web.AppKey("state", SandboxState)
STOPPING = web.AppKey("stopping", asyncio.Event)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _graph_error(
    status: int,
    code: int,
    message: str,
    *,
    type_: str = "OAuthException",
    subcode: int | None = None,
    details: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = "A" + secrets.token_hex(10)
    return web.json_response({"error": error}, status=status, headers=headers)


def _invalid(details: str) -> web.Response:
    return _graph_error(400, 100, "(#100) Invalid parameter", details=details)


# --- vendor route --------------------------------------------------------------------------


async def send_message(request: web.Request) -> web.Response:
    """``POST /{version}/{phone_number_id}/messages``: send, or mark as read."""
    state = request.app[STATE]
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme != "Bearer" or token != state.access_token:
        return _graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
    if token in state.expired_tokens:
        return _graph_error(
            401,
            190,
            "Error validating access token: Session has expired on Sunday, 22-Nov-26 "
            "01:00:00 PST. The current time is Sunday, 22-Nov-26 02:00:00 PST.",
            subcode=463,
        )
    number = request.match_info["phone_number_id"]
    if number != state.phone_number_id:
        return _graph_error(
            400,
            100,
            f"Unsupported post request. Object with ID '{number}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation.",
            type_="GraphMethodException",
            subcode=33,
        )
    now = state.clock()
    recent = [t for t in state.calls.get(number, []) if t > now - 1.0]
    if len(recent) >= state.messages_per_second:
        state.calls[number] = recent
        wait = max(1, math.ceil(recent[0] + 1.0 - now))
        return _graph_error(
            429,
            130429,
            "(#130429) Rate limit hit",
            details="Cloud API message throughput has been reached.",
            headers={"Retry-After": str(wait)},
        )
    state.calls[number] = [*recent, now]
    try:
        body = json.loads(await request.text())
    except ValueError:
        return _invalid("The request body is not valid JSON")
    if not isinstance(body, dict):
        return _invalid("The request body must be an object")
    if body.get("messaging_product") != "whatsapp":
        return _invalid("The parameter messaging_product is required.")
    if body.get("status") == "read":
        if not isinstance(body.get("message_id"), str):
            return _invalid("The parameter message_id is required.")
        return web.json_response({"success": True})
    return _accept(state, body, now)


def _accept(state: SandboxState, body: dict[str, Any], now: float) -> web.Response:
    to = str(body.get("to") or "").lstrip("+")
    if not _DIGITS.match(to):
        return _invalid("The parameter to is required and must be a phone number.")
    kind = body.get("type", "text")
    callback = body.get("biz_opaque_callback_data")
    if callback is not None and (not isinstance(callback, str) or len(callback) > 512):
        return _invalid("Param biz_opaque_callback_data must be at most 512 characters long.")
    if kind == "text":
        text = body.get("text")
        text_body = text.get("body") if isinstance(text, dict) else None
        if not isinstance(text_body, str) or not text_body:
            return _invalid("The parameter text['body'] is required.")
        if len(text_body) > 4096:
            return _invalid("Param text['body'] must be at most 4096 characters long.")
    elif kind == "template":
        template = body.get("template")
        name = template.get("name") if isinstance(template, dict) else None
        language = template.get("language") if isinstance(template, dict) else None
        code = language.get("code") if isinstance(language, dict) else None
        if not isinstance(name, str) or not isinstance(code, str):
            return _invalid(
                "The parameters template['name'] and template['language'] are required."
            )
        if (name, code) not in state.templates:
            return _graph_error(
                400,
                132001,
                "(#132001) Template name does not exist in the translation",
                details=f"template name ({name}) does not exist in {code}",
            )
    else:
        return _invalid(f"Unsupported message type {str(kind)[:40]} in this sandbox.")
    wamid = new_wamid()
    error: dict[str, Any] | None = None
    if to in state.undeliverable:
        error = {"code": 131026, "title": "Message undeliverable"}
    elif (
        kind != "template"
        and state.enforce_window
        and now - state.last_inbound.get(to, -math.inf) > WINDOW
    ):
        error = {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {
                "details": "Message failed to send because more than 24 hours have passed "
                "since the customer last replied to this number."
            },
        }
    state.sent.append(
        {
            "id": wamid,
            "to": to,
            "type": kind,
            "body": body,
            "status": "failed" if error else "sent",
            "error": error,
            "at": int(now),
        }
    )
    return web.json_response(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": str(body.get("to")), "wa_id": to}],
            "messages": [{"id": wamid}],
        }
    )


# --- middleware: faults and counting -------------------------------------------------------


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Scripted faults (``status``, ``delay``, ``reset``, ``commit_then_timeout``) on vendor routes."""
    if "/__sandbox__/" in request.path:
        return await handler(request)
    found = _VENDOR_PATH.search(request.path)  # without the prefix ``hub sandbox`` mounts under
    state = request.app[STATE]
    path = found.group(0) if found else request.path
    state.requests += 1
    state.by_route[f"{request.method} {path}"] += 1
    fault = state.take_fault(request.method, path)
    if fault is not None and fault.kind == "status":
        body = fault.body if fault.body is not None else _fault_body(fault.status)
        return web.json_response(body, status=fault.status, headers=fault.headers)
    if fault is not None and fault.kind == "delay":
        await _sleep(request, fault.delay)
    if fault is not None and fault.kind == "reset" and not fault.commit:
        return _hang_up(request)
    resp = await handler(request)
    if fault is not None and fault.kind == "reset":
        return _hang_up(request)
    if fault is not None and fault.kind == "commit_then_timeout":
        await _sleep(request, fault.delay)
    return resp


async def _sleep(request: web.Request, seconds: float) -> None:
    """Wait, but end early when the app shuts down, so a test's teardown never hangs."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(request.app[STOPPING].wait(), seconds)


def _fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        return {
            "error": {
                "message": "(#130429) Rate limit hit",
                "type": "OAuthException",
                "code": 130429,
            }
        }
    if status == 401:
        return {
            "error": {
                "message": "Invalid OAuth access token",
                "type": "OAuthException",
                "code": 190,
            }
        }
    return {"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 1}}


def _hang_up(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


# --- control routes ------------------------------------------------------------------------


async def control_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].snapshot())


async def control_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "GET":
        return web.json_response({"pending": [f.as_json() for f in state.faults]})
    try:
        raw = await request.json()
        items = raw if isinstance(raw, list) else [raw]
        state.faults.extend(Fault.parse(item) for item in items)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"pending": len(state.faults)})


async def control_inbound(request: web.Request) -> web.Response:
    """A customer wrote (opens the 24 h window); answers the signed notification Meta would POST."""
    state = request.app[STATE]
    try:
        raw = await request.json()
        wa_id, text = str(raw["from"]), str(raw.get("text", "hello"))
        name = raw.get("name")
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"error": f"need {{from, text?, name?}}: {exc}"}, status=400)
    now = state.clock()
    state.last_inbound[wa_id] = now
    doc = message_notification(state, wa_id, text, name=name, at=int(now))
    body, headers = signed(state.app_secret, doc)
    return web.json_response({"body": body.decode(), "headers": headers})


async def control_expire(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.expired_tokens.add(state.access_token)
    return web.json_response({"expired": 1})


async def control_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"reset": True})


async def control_settings(request: web.Request) -> web.Response:
    """Change at run time: ``messages_per_second``, ``enforce_window``, ``undeliverable``."""
    state = request.app[STATE]
    try:
        raw = await request.json()
        if "messages_per_second" in raw:
            state.messages_per_second = int(raw["messages_per_second"])
        if "enforce_window" in raw:
            state.enforce_window = bool(raw["enforce_window"])
        if "undeliverable" in raw:
            state.undeliverable = {str(n) for n in raw["undeliverable"]}
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(
        {
            "messages_per_second": state.messages_per_second,
            "enforce_window": state.enforce_window,
            "undeliverable": sorted(state.undeliverable),
        }
    )


def create_sandbox_app(state: SandboxState | None = None) -> web.Application:
    """The sandbox as an aiohttp app (see the module docstring for the routes)."""
    app = web.Application(middlewares=[fault_middleware])
    app[STATE] = state if state is not None else SandboxState()
    app[STOPPING] = asyncio.Event()

    async def stopping(app: web.Application) -> None:
        app[STOPPING].set()

    app.on_shutdown.append(stopping)
    app.router.add_post("/{version:v[0-9]+\\.[0-9]+}/{phone_number_id}/messages", send_message)
    app.router.add_get("/__sandbox__/state", control_state)
    app.router.add_get("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/inbound", control_inbound)
    app.router.add_post("/__sandbox__/expire_tokens", control_expire)
    app.router.add_post("/__sandbox__/reset", control_reset)
    app.router.add_post("/__sandbox__/settings", control_settings)
    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m connectors.whatsapp.sandbox``: serve the sandbox until interrupted."""
    parser = argparse.ArgumentParser(description="Local WhatsApp Cloud API sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args(argv)
    state = SandboxState()
    url = f"http://{args.host}:{args.port}"
    print(f"WhatsApp Cloud API sandbox on {url}", flush=True)
    print(
        f"  connection config: graph_url={url} phone_number_id={state.phone_number_id} "
        f"access_token={state.access_token} app_secret={state.app_secret} "
        f"verify_token={state.verify_token}",
        flush=True,
    )
    web.run_app(create_sandbox_app(state), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
