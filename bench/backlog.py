"""Backlog benchmark: a restarted hub drains 100,000 due steps at full speed, and comes back fast.

Two questions a crash or a long outage raises:

1. **Drain.** After a restart with 100,000 steps due (a sink was down for an
   hour), does the inline engine work them off at its full delivery rate, and
   keep that rate while the queue is deep? The backlog is bulk-inserted into
   a fresh store (events, runs and their first steps, due now, exactly as
   ingest writes them), then ``hub serve`` starts on it; the script prints
   steps finished per interval and the drain rate, next to the sink's
   ceiling measured in the same run (``bench/sink.py --drive``) and the rate
   at which the first and last 10% went (a slowdown with depth shows there).
2. **SIGKILL.** ``kill -9`` a loaded ``hub serve`` (steps leased and in
   flight, webhooks arriving) and restart it at once on the same port, as a
   supervisor would: how long until ``/hooks`` answers 202 again (bar: <= 2
   s), until the dead process's leases are released (the new process frees
   the leases of dead pids on its host at start), and until deliveries resume.

Examples::

    .venv/bin/python bench/backlog.py --quick        # 10k steps, 2 kills
    .venv/bin/python bench/backlog.py                # 100k steps, 3 kills
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import baseline
from harness import RECIPE_NAME, SINK_CONNECTION, HubSetup, percentile, start_hub, start_sink
from ingest import CONNECTION, HOOK, Server, log

from hub.demo import sample_payment
from hub.router import step_idempotency_key
from hub.store.sql import SqlStore

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------- the backlog


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def insert_backlog(db: Path, count: int, seed: int) -> None:
    """``count`` received events, each with a run and a first step due now (bulk, one file)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    events, runs, steps = [], [], []
    for n in range(count):
        payment = sample_payment(seed * 10_000_000 + n, rng)["payload"]["payment"]["entity"]
        event_id, run_id, step_id = (str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(3))
        received = now - timedelta(seconds=rng.uniform(0, 3600))  # arrived during the outage
        key = f"payment.captured:{payment['id']}"
        data = {
            "gateway": "razorpay",
            "payment_id": payment["id"],
            "amount": f"{payment['amount'] / 100:.2f}",
            "currency": payment["currency"],
            "method": payment["method"],
            "status": "captured",
        }
        events.append(
            (
                event_id,
                CONNECTION,
                "razorpay",
                "payment.captured",
                f"/connections/{CONNECTION}",
                payment["id"],
                _iso(received),
                key,
                json.dumps(data),
                json.dumps({"payload": {"payment": {"entity": payment}}}),
                _iso(received),
                "https://hub.dev/schemas/payment.json",
            )
        )
        runs.append((run_id, event_id, RECIPE_NAME, "pending", "{}", None, _iso(received)))
        steps.append(
            (
                step_id,
                run_id,
                "forward",
                0,
                "webhook_out.send",
                SINK_CONNECTION,
                step_idempotency_key(RECIPE_NAME, event_id, "forward"),
                "pending",
                0,
                _iso(received),  # due since it arrived
                _iso(received),
            )
        )
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")  # this loading connection only
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO events (id, connection, connector, type, source, subject, time, "
            "idempotency_key, data, raw, received_at, dataschema) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        conn.executemany(
            "INSERT INTO runs (id, event_id, recipe, status, outputs, last_error, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?7)",
            runs,
        )
        conn.executemany(
            "INSERT INTO steps (id, run_id, step_id, step_index, action, connection, "
            "idempotency_key, status, attempts, due_at, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?11)",
            steps,
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def _scalar(db: Path, sql: str, *params: Any) -> Any:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


def done_count(db: Path) -> int:
    return int(_scalar(db, "SELECT count(*) FROM steps WHERE status != 'pending'"))


def attempt_count(db: Path) -> int:
    return int(_scalar(db, "SELECT count(*) FROM attempts"))


def leases_of(db: Path, owner: str) -> int:
    return int(
        _scalar(
            db,
            "SELECT count(*) FROM steps WHERE status = 'pending' AND lease_owner = ?",
            owner,
        )
    )


# --------------------------------------------------------------------------- drain


def drain(hub: Server, db: Path, total: int, interval: float, limit: float) -> dict[str, Any]:
    started = time.monotonic()
    hub.wait_ready(["/healthz", "/readyz"], timeout=60)
    ready_s = time.monotonic() - started
    log(f"hub ready after {ready_s:.1f} s; draining {total:,} steps")
    marks: list[tuple[float, int]] = [(time.monotonic() - started, done_count(db))]
    while marks[-1][1] < total and marks[-1][0] < limit:
        time.sleep(interval)
        marks.append((time.monotonic() - started, done_count(db)))
        (t0, d0), (t1, d1) = marks[-2], marks[-1]
        log(f"  t={t1:6.1f}s  done {d1:>8,}  {((d1 - d0) / (t1 - t0)):8.0f} steps/s")
    rates = [(d1 - d0) / (t1 - t0) for (t0, d0), (t1, d1) in itertools.pairwise(marks) if t1 > t0]

    def time_at(fraction: float) -> float:
        goal = fraction * total
        return next((t for t, d in marks if d >= goal), marks[-1][0])

    t10, t90, t100 = time_at(0.1), time_at(0.9), time_at(1.0)
    return {
        "ready_s": ready_s,
        "drain_s": t100 - ready_s,
        "done": marks[-1][1],
        "rate_overall": marks[-1][1] / max(t100 - ready_s, 1e-9),
        "rate_10_90": 0.8 * total / max(t90 - t10, 1e-9),
        "rate_first_10pct": 0.1 * total / max(t10 - ready_s, 1e-9),
        "rate_last_10pct": 0.1 * total / max(t100 - t90, 1e-9),
        "interval_rates": rates,
        "interval_p10": percentile(rates, 10),
        "interval_p50": percentile(rates, 50),
    }


# --------------------------------------------------------------------------- SIGKILL


def _signed_hook(secret: str, n: int) -> tuple[bytes, str]:
    body = json.dumps(sample_payment(900_000_000 + n, random.Random(n))).encode()
    return body, hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_hook(base: str, secret: str, n: int, timeout: float = 1.0) -> int:
    body, sig = _signed_hook(secret, n)
    request = urllib.request.Request(
        base + HOOK,
        data=body,
        headers={"Content-Type": "application/json", "X-Razorpay-Signature": sig},
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def kill_round(
    setup: HubSetup, hub: Server, secret: str, n: int
) -> tuple[Server, dict[str, float]]:
    """SIGKILL ``hub`` under load, restart it on the same port; time what comes back when."""
    db = setup.tmp / "hub.db"
    owner = f"{socket.gethostname()}:{hub.proc.pid}"
    leased = leases_of(db, owner)
    attempts_before = attempt_count(db)
    port = int(hub.base.rsplit(":", 1)[1])
    killed_at = time.monotonic()
    os.kill(hub.proc.pid, signal.SIGKILL)
    hub.proc.wait()
    new = start_hub(setup, name=f"hub-restart{n}", port=port)
    accepted = released = resumed = float("nan")
    probe = 0
    deadline = killed_at + 30
    while time.monotonic() < deadline and accepted != accepted:
        probe += 1
        if post_hook(new.base, secret, n * 100_000 + probe, timeout=0.5) == 202:
            accepted = time.monotonic() - killed_at
        else:
            time.sleep(0.01)
    while time.monotonic() < deadline and (released != released or resumed != resumed):
        now = time.monotonic() - killed_at
        if released != released and leases_of(db, owner) == 0:
            released = now
        if resumed != resumed and attempt_count(db) > attempts_before:
            resumed = now
        time.sleep(0.02)
    row = {
        "leased_at_kill": leased,
        "accepting_s": accepted,
        "leases_released_s": released,
        "deliveries_resumed_s": resumed,
    }
    log(
        f"  kill {n}: {leased} steps leased at the kill; 202 again after {accepted:.2f} s, "
        f"leases released after {released:.2f} s, deliveries resumed after {resumed:.2f} s"
    )
    return new, row


# --------------------------------------------------------------------------- main


def render(report: dict[str, Any]) -> str:
    d = report["drain"]
    base = report["baseline"]
    lines = [
        f"backlog: {report['steps']:,} due steps, inline engine, concurrency "
        f"{report['concurrency']}, sink answers after {report['delay_ms']:g} ms",
        "",
        f"{'':<36} {'steps/s':>9}",
        "-" * 47,
        f"{'sink ceiling (aiohttp client)':<36} {base['rps']:>9.0f}",
        f"{'drain, overall':<36} {d['rate_overall']:>9.0f}",
        f"{'drain, 10%..90%':<36} {d['rate_10_90']:>9.0f}",
        f"{'drain, first 10%':<36} {d['rate_first_10pct']:>9.0f}",
        f"{'drain, last 10%':<36} {d['rate_last_10pct']:>9.0f}",
        f"{'per interval p10 / p50':<36} {d['interval_p10']:>4.0f} / {d['interval_p50']:.0f}",
        "",
        f"hub ready {d['ready_s']:.1f} s after start; drained in {d['drain_s']:.1f} s",
        "",
        f"{'SIGKILL round':<14} {'leased':>7} {'202 again s':>12} {'leases freed s':>15} "
        f"{'deliveries s':>13}",
        "-" * 65,
    ]
    for i, row in enumerate(report["kills"], 1):
        lines.append(
            f"{i:<14} {row['leased_at_kill']:>7} {row['accepting_s']:>12.2f} "
            f"{row['leases_released_s']:>15.2f} {row['deliveries_resumed_s']:>13.2f}"
        )
    if report["kills"]:
        worst = max(r["accepting_s"] for r in report["kills"])
        lines.append(f"\nworst time to 202 after kill -9: {worst:.2f} s   (bar: <= 2 s)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Drain rate of 100k due steps after a restart, and recovery after kill -9."
    )
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--limit", type=float, default=3600.0, help="longest drain, seconds")
    parser.add_argument("--quick", action="store_true", help="10k steps, 2 kills, 2 s samples")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.kills, args.interval = 10_000, 2, 2.0
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="hub-backlog-", dir=args.workdir))
    secret = "bench-backlog"
    sink = start_sink(tmp, args.delay_ms)
    started: list[Server] = [sink]
    try:
        sink.wait_ready(["/healthz"], timeout=15)
        base = baseline(sink, args.concurrency, 5.0)
        log(f"sink ceiling: {base['rps']:.0f} req/s")
        setup = HubSetup(
            tmp,
            secret,
            f"sqlite:///{tmp / 'hub.db'}",
            sink.base + "/in",
            "inline",
            args.concurrency,
        )
        asyncio.run(_migrate(setup.store_url))
        log(f"inserting {args.steps:,} due steps")
        insert_backlog(tmp / "hub.db", args.steps, args.seed)
        hub = start_hub(setup)
        started.append(hub)
        result = drain(hub, tmp / "hub.db", args.steps, args.interval, args.limit)
        kills: list[dict[str, float]] = []
        if args.kills:
            log(f"inserting {args.steps // 4:,} more due steps to kill -9 under load")
            insert_backlog(tmp / "hub.db", args.steps // 4, args.seed + 1)
            time.sleep(3.0)  # the engine picks them up: leases held, deliveries in flight
            for n in range(1, args.kills + 1):
                hub, row = kill_round(setup, hub, secret, n)
                started.append(hub)
                kills.append(row)
                time.sleep(2.0)
    except (RuntimeError, OSError, sqlite3.Error) as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}; files kept in {tmp}")
        for server in started:
            server.stop()
        return 2
    finally:
        for server in started:
            server.stop()
    report = {
        "steps": args.steps,
        "concurrency": args.concurrency,
        "delay_ms": args.delay_ms,
        "baseline": base,
        "drain": result,
        "kills": kills,
    }
    print(json.dumps(report, indent=2) if args.json else render(report))
    if args.keep:
        log(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


async def _migrate(url: str) -> None:
    store = SqlStore(url)
    await store.open()
    await store.close()


if __name__ == "__main__":
    sys.exit(main())
