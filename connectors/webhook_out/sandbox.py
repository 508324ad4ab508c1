"""A local Standard Webhooks receiver, so ``webhook_out`` is tested without the internet.

``POST /hooks/{name}`` does what a careful receiver does (the spec's
"Verifying signatures"): checks ``webhook-signature`` over the raw body with
the configured secret(s) and the timestamp tolerance (401 otherwise), parses
the JSON body (400 otherwise), and stores each ``webhook-id`` once; a repeat
answers 200 without storing again, which is what makes the sender's retries
harmless.

Test-only control routes follow the Zoho Books sandbox conventions
(``connectors/zoho_books/sandbox.py``): ``GET /__sandbox__/state``,
``GET|POST /__sandbox__/faults``, ``POST /__sandbox__/reset``,
``POST /__sandbox__/settings``. State is kept in memory in one
``SandboxState``; handlers do not ``await`` between the duplicate check and
the write, so concurrent deliveries cannot both store.

Run it standalone: ``python -m connectors.webhook_out.sandbox --port 8091``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hub.errors import SignatureError

from .signature import TOLERANCE, verify

__all__ = ["SANDBOX_SECRET", "Fault", "SandboxState", "create_sandbox_app", "main"]

# 32 bytes, fixed so that tests and `hub sandbox` users can configure the sender.
SANDBOX_SECRET = "whsec_aHViIHdlYmhvb2tfb3V0IHNhbmRib3ggc2VjcmV0ISE="

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    """One scripted answer for the next request matching ``method`` and ``path``.

    ``kind``: ``status`` (answer ``status``/``body``/``headers``, store nothing),
    ``commit_then_timeout`` (store the webhook, then wait ``delay`` seconds before
    answering: the sender times out after the receiver committed), ``reset``
    (close the connection without an answer), ``delay`` (wait, then handle).
    """

    path: str
    method: str | None = None
    kind: str = "status"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 5.0

    @classmethod
    def parse(cls, raw: Any) -> Fault:
        """A fault from its JSON form; ``ValueError`` names what is wrong."""
        if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
            raise ValueError("each fault must be an object with a string 'path'")
        unknown = set(raw) - {"path", "method", "kind", "status", "body", "headers", "delay"}
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
        )

    def matches(self, method: str, path: str) -> bool:
        return self.path == path and self.method in (None, method)

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "method": self.method,
            "kind": self.kind,
            "status": self.status,
            "delay": self.delay,
        }


@dataclass
class SandboxState:
    """Configuration (accepted secrets, tolerance) and every webhook stored."""

    secrets: list[str] = field(default_factory=lambda: [SANDBOX_SECRET])
    tolerance: float = TOLERANCE

    received: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    by_status: Counter[str] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        """Forget everything stored and scripted; keep the configuration."""
        self.received.clear()
        self.seen.clear()
        self.rejected.clear()
        self.faults.clear()
        self.by_status.clear()
        self.by_route.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.matches(method, path):
                return self.faults.pop(i)
        return None

    def store(self, name: str, headers: dict[str, str], payload: Any) -> bool:
        """Keep one delivery unless its ``webhook-id`` was seen; True when stored."""
        msg_id = headers["webhook-id"]
        if msg_id in self.seen:
            return False
        self.seen.add(msg_id)
        self.received.append(
            {
                "webhook_id": msg_id,
                "hook": name,
                "timestamp": int(headers["webhook-timestamp"]),
                "signatures": len(headers["webhook-signature"].split()),
                "type": payload.get("type") if isinstance(payload, dict) else None,
                "payload": payload,
            }
        )
        return True

    def snapshot(self) -> dict[str, Any]:
        """Everything stored, as ``GET /__sandbox__/state`` shows it."""
        return {
            "received": list(self.received),
            "rejected": list(self.rejected),
            "requests": {
                "total": sum(self.by_status.values()),
                "by_status": dict(self.by_status),
                "by_route": dict(self.by_route),
            },
            "faults_pending": [f.as_json() for f in self.faults],
        }


STATE = web.AppKey("state", SandboxState)
STOPPING = web.AppKey("stopping", asyncio.Event)


def _lower(request: web.Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def _accept(state: SandboxState, name: str, headers: dict[str, str], body: bytes) -> web.Response:
    """Verify, parse and store one delivery (no ``await``: check and write are atomic)."""
    try:
        verify(state.secrets, headers, body, state.tolerance)
    except SignatureError as exc:
        state.rejected.append({"hook": name, "reason": str(exc)})
        return web.json_response({"error": str(exc)}, status=401)
    try:
        payload = json.loads(body)
    except ValueError:
        return web.json_response({"error": "body is not JSON"}, status=400)
    stored = state.store(name, headers, payload)
    return web.json_response({"received": headers["webhook-id"], "duplicate": not stored})


async def receive(request: web.Request) -> web.Response:
    """``POST /hooks/{name}``: a Standard Webhooks receiver that dedupes by ``webhook-id``."""
    body = await request.read()
    return _accept(request.app[STATE], request.match_info["name"], _lower(request), body)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Scripted faults and the request counters around every non-control route."""
    if request.path.startswith("/__sandbox__/"):
        return await handler(request)
    state = request.app[STATE]
    state.by_route[f"{request.method} {request.path}"] += 1
    fault = state.take_fault(request.method, request.path)
    response: web.StreamResponse
    if fault is not None and fault.kind == "status":
        await request.read()
        if fault.body is None:
            response = web.Response(status=fault.status, headers=fault.headers)
        else:
            response = web.json_response(fault.body, status=fault.status, headers=fault.headers)
        state.by_status[str(fault.status)] += 1
        return response
    if fault is not None and fault.kind == "reset":
        await request.read()
        state.by_status["0"] += 1
        return _hang_up(request)
    if fault is not None and fault.kind == "delay":
        await _sleep(request, fault.delay)
    response = await handler(request)
    state.by_status[str(response.status)] += 1
    if fault is not None and fault.kind == "commit_then_timeout":
        await _sleep(request, fault.delay)
    return response


def _hang_up(request: web.Request) -> web.Response:
    """Close the connection without an answer; aiohttp then drops the unsent response quietly."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


async def _sleep(request: web.Request, seconds: float) -> None:
    """Wait, but end early when the app shuts down, so a test's teardown never hangs."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(request.app[STOPPING].wait(), seconds)


async def control_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].snapshot())


async def control_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "GET":
        return web.json_response({"pending": [f.as_json() for f in state.faults]})
    try:
        raw = await request.json()
        items = raw if isinstance(raw, list) else [raw]
        faults = [Fault.parse(item) for item in items]
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    state.faults.extend(faults)
    return web.json_response({"pending": len(state.faults)})


async def control_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"reset": True})


async def control_settings(request: web.Request) -> web.Response:
    """Change ``secrets`` (a list of whsec_ values) and ``tolerance`` (seconds) at run time."""
    state = request.app[STATE]
    try:
        raw = await request.json()
        if "secrets" in raw:
            if not isinstance(raw["secrets"], list) or not all(
                isinstance(s, str) for s in raw["secrets"]
            ):
                raise ValueError("secrets must be a list of strings")
            state.secrets = list(raw["secrets"])
        if "tolerance" in raw:
            state.tolerance = float(raw["tolerance"])
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"secrets": len(state.secrets), "tolerance": state.tolerance})


def create_sandbox_app(state: SandboxState | None = None) -> web.Application:
    """The receiver as an aiohttp app.

    Receiver route: ``POST /hooks/{name}`` (secret: ``SANDBOX_SECRET`` unless
    ``state`` says otherwise). Control routes (tests only): ``GET /__sandbox__/state``
    (``received``, ``rejected``, ``requests.by_route``), ``GET|POST /__sandbox__/faults``
    (a ``Fault`` object or a list), ``POST /__sandbox__/reset``, ``POST /__sandbox__/settings``.
    """
    app = web.Application(middlewares=[fault_middleware])
    app[STATE] = state if state is not None else SandboxState()
    app[STOPPING] = asyncio.Event()

    async def stopping(app: web.Application) -> None:
        app[STOPPING].set()

    app.on_shutdown.append(stopping)
    app.router.add_post("/hooks/{name}", receive)
    app.router.add_get("/__sandbox__/state", control_state)
    app.router.add_get("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/faults", control_faults)
    app.router.add_post("/__sandbox__/reset", control_reset)
    app.router.add_post("/__sandbox__/settings", control_settings)
    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m connectors.webhook_out.sandbox``: serve the receiver until interrupted."""
    parser = argparse.ArgumentParser(description="Local Standard Webhooks receiver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args(argv)
    url = f"http://{args.host}:{args.port}"
    print(f"webhook_out sandbox receiver on {url}/hooks/<name>", flush=True)
    print(
        f"  connection config: url={url}/hooks/demo secret={SANDBOX_SECRET} "
        "allow_insecure_http=true allow_private_networks=true",
        flush=True,
    )
    web.run_app(create_sandbox_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
