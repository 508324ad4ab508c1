"""The baseline the hub is measured against: aiohttp that only verifies and parses.

``bench/ingest.py`` reports the hub's throughput as a ratio to this server,
because an absolute req/s figure says more about the machine than about the
hub. This server does the work no webhook receiver can skip — read the body,
check the ``X-Razorpay-Signature`` HMAC in constant time, parse the JSON (the
hub parses too, so the baseline must) — and nothing else: no schema, no
routing, no store. Whatever the hub loses relative to it is the cost of the
hub's own work, chiefly the durable commit before the 2xx.

``--trivial`` turns it into a server that answers 202 without looking at the
body. That is not a baseline: it measures the load generator's own ceiling
on this machine, so a reader can tell whether the bare figure is
server-bound or generator-bound.

Run standalone::

    .venv/bin/python bench/bare_server.py --port 8181 --secret s3cret
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys

from aiohttp import web

__all__ = ["build_app", "main"]

SIGNATURE_HEADER = "X-Razorpay-Signature"


def build_app(secret: str, trivial: bool = False) -> web.Application:
    """The app: ``POST /hooks/{name}`` (verify + parse, or ``trivial``), ``GET /healthz``,
    and ``GET /stats`` (requests answered 2xx so far)."""
    key = secret.encode()
    answered = [0]  # for bench/memory.py's checkpoints: one int increment per request

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        sent = request.headers.get(SIGNATURE_HEADER, "")
        expected = hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sent.encode("ascii", "replace"), expected.encode()):
            return web.json_response({"status": 401, "error": "signature mismatch"}, status=401)
        try:
            json.loads(body)
        except ValueError:
            return web.json_response({"status": 400, "error": "body is not JSON"}, status=400)
        answered[0] += 1
        return web.json_response({"status": "accepted"}, status=202)

    async def trivial_hook(request: web.Request) -> web.Response:
        await request.read()
        answered[0] += 1
        return web.json_response({"status": "accepted"}, status=202)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"answered": answered[0]})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=1024 * 1024 + 1)
    app.router.add_post("/hooks/{name}", trivial_hook if trivial else hook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", healthz)
    app.router.add_get("/stats", stats)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Bare aiohttp webhook receiver: HMAC verify + JSON parse, answer 202."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8181)
    parser.add_argument("--secret", required=True, help="Webhook secret the HMAC is checked with.")
    parser.add_argument(
        "--trivial",
        action="store_true",
        help="Answer 202 without verifying or parsing (measures the load generator's ceiling).",
    )
    args = parser.parse_args(argv)
    if args.host != "127.0.0.1":
        print("refusing to listen anywhere but 127.0.0.1", file=sys.stderr)
        return 2
    web.run_app(
        build_app(args.secret, args.trivial),
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
