"""The far end of the delivery benchmarks: a webhook receiver that answers after 20 ms.

``bench/e2e.py`` and ``bench/backlog.py`` point the hub's ``webhook_out``
connector at this server, so a delivery costs what a quick real receiver
costs (a TCP connection, a POST, a 20 ms think time) and nothing else. It
does not check signatures: the hub's own tests cover those.

``--drive URL`` turns the script into the baseline client instead: plain
``aiohttp`` POSTs of a webhook-sized body at a fixed concurrency, one new TCP
connection per request as the hub's action makes. That is the sink's ceiling
at that concurrency (about concurrency / 20 ms), the most any engine could
deliver, measured in the same run as the hub.

Run standalone::

    .venv/bin/python bench/sink.py --port 8299 --delay-ms 20
    .venv/bin/python bench/sink.py --drive http://127.0.0.1:8299/in --concurrency 64 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

__all__ = ["build_app", "drive"]

RESULT_PREFIX = "BENCH_RESULT "
_RECEIVED: web.AppKey[list[int]] = web.AppKey("received", list)


def build_app(delay_s: float) -> web.Application:
    """``POST /{anything}`` answers 200 after ``delay_s``; ``GET /stats`` counts them."""

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(delay_s)
        request.app[_RECEIVED][0] += 1
        return web.json_response({"ok": True})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"received": request.app[_RECEIVED][0]})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=1024 * 1024)
    app[_RECEIVED] = [0]
    app.router.add_get("/stats", stats)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/{tail:.*}", receive)
    return app


async def drive(url: str, concurrency: int, duration: float) -> dict[str, float]:
    """POST to ``url`` from ``concurrency`` workers for ``duration`` s; req/s and latency."""
    body = json.dumps({"type": "payment.captured", "data": {"payment_id": "pay_x" * 40}}).encode()
    latencies: list[float] = []
    errors = 0
    # force_close: a new connection per request, like webhook_out's pinned session.
    connector = TCPConnector(limit=concurrency, force_close=True)
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=10)) as session:
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    async with session.post(url, data=body) as resp:
                        await resp.read()
                        if resp.status >= 400:
                            errors += 1
                            continue
                except (TimeoutError, OSError):
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - sent)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p95_ms": p95 * 1000,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Slow webhook receiver (or its baseline client).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8299)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--drive", metavar="URL", help="be the baseline client against URL")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.drive:
        if not args.drive.startswith("http://127.0.0.1:"):
            parser.error("only http://127.0.0.1:PORT/... targets are allowed")
        result = asyncio.run(drive(args.drive, args.concurrency, args.duration))
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0
    if args.host != "127.0.0.1":
        print("refusing to listen anywhere but 127.0.0.1", file=sys.stderr)
        return 2
    web.run_app(
        build_app(args.delay_ms / 1000),
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
