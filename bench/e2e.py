"""End-to-end benchmark: signed webhooks -> recipe -> a sink that answers after 20 ms.

The question: how many deliveries per second does an engine sustain, and how
long does an event wait between its 202 and its first delivery attempt? Bars:
>= 2,000 deliveries/s inline, >= 1,000/s per Celery worker process, p95 lag
<= 100 ms.

Setup (all on 127.0.0.1): ``bench/sink.py`` answers every POST after
``--delay-ms`` (20); the hub has one Razorpay connection, one ``webhook_out``
connection pointed at the sink (loopback explicitly allowed) and a one-step
recipe that forwards each ``payment.captured`` to it; ``concurrency`` is
``--concurrency`` (64) both globally and for the sink connection.

Per engine, two phases, each read back from the hub's own store:

1. **Throughput.** wrk sends distinct signed payments at full speed for
   ``--burst`` seconds, building a backlog; the hub then drains it.
   deliveries/s is the rate of first attempts after the burst ended (the
   engine alone, no ingest competing), and is also shown over the whole run.
2. **Lag.** An open-loop generator sends at ``--rate`` (default: half the
   measured throughput, so the engine is not saturated) for ``--duration``
   seconds; the lag of each event is its first attempt's ``started_at`` minus
   its ``received_at`` (p50/p95/p99).

Baseline in the same run: ``bench/sink.py --drive``, a plain aiohttp client
POSTing to the same sink at the same concurrency, one connection per request
like the hub's action: the most any engine could deliver here.

Engines: ``inline`` (``hub serve``), and ``celery1``/``celery2`` (``hub
serve`` for ingest plus 1 or 2 ``hub worker`` processes and ``hub
scheduler``) when this hub has the Celery engine; otherwise they are listed
as not available.

Examples::

    .venv/bin/python bench/e2e.py --quick
    .venv/bin/python bench/e2e.py --engines inline,celery1,celery2 --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from delivery_log import scratch_postgres
from harness import (
    HubSetup,
    first_attempt_lags,
    hub_env,
    percentile,
    start_hub,
    start_redis,
    start_sink,
    step_status_counts,
)
from ingest import ROOT, Server, hub_binary, log
from loadgen import RESULT_PREFIX, have_wrk, run_generator, write_request_files

ENGINES = ("inline", "celery1", "celery2")


def celery_available() -> bool:
    """True when this hub has ``hub worker`` (the Celery engine)."""
    proc = subprocess.run(
        [*hub_binary(), "worker", "--help"], capture_output=True, text=True, check=False
    )
    return proc.returncode == 0


def baseline(sink: Server, concurrency: int, duration: float) -> dict[str, Any]:
    cmd = [sys.executable, str(ROOT / "bench" / "sink.py"), "--drive", sink.base + "/baseline"]
    cmd += ["--concurrency", str(concurrency), "--duration", str(duration)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"baseline client failed: {proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
    return result


@contextlib.contextmanager
def engine_processes(setup: HubSetup, engine: str) -> Iterator[Server]:
    """The hub (and, for Celery, its workers and scheduler); yields the ingress."""
    started: list[Server] = []
    try:
        hub = start_hub(setup)
        started.append(hub)
        if engine.startswith("celery"):
            config = str(setup.tmp / "hub.yaml")
            # `hub serve` ingests; the scheduler sweeps; the workers run the steps.
            for role, count in (("scheduler", 1), ("worker", int(engine[-1]))):
                for i in range(count):
                    log_path = setup.tmp / f"{role}{i}.log"
                    with log_path.open("wb") as out:
                        proc = subprocess.Popen(
                            [*hub_binary(), "-c", config, role],
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            env=hub_env(),
                            cwd=setup.tmp,
                        )
                    started.append(Server(f"{role}{i}", hub.base, proc, log_path))
        hub.wait_ready(["/healthz", "/readyz"], timeout=60)
        yield hub
    finally:
        for server in reversed(started):
            server.stop()


def wait_drained(url: str, limit: float) -> float:
    """Wait until no step is pending (or ``limit`` s); returns seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if step_status_counts(url).get("pending", 0) == 0:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def rate_between(starts: list[datetime], lo: datetime, hi: datetime | None = None) -> float:
    """First attempts per second between ``lo`` and ``hi`` (default: the last one)."""
    inside = sorted(s for s in starts if s >= lo and (hi is None or s <= hi))
    if len(inside) < 2:
        return float("nan")
    span = (inside[-1] - inside[0]).total_seconds()
    return (len(inside) - 1) / span if span > 0 else float("nan")


def run_engine(args: argparse.Namespace, engine: str, sink: Server, root: Path) -> dict[str, Any]:
    tmp = root / engine
    tmp.mkdir()
    with contextlib.ExitStack() as stack:
        store = (
            args.store if args.store != "auto" else "postgres" if engine != "inline" else "sqlite"
        )
        if store == "postgres":
            store_url = stack.enter_context(scratch_postgres(keep=False))
        else:
            store_url = f"sqlite:///{tmp / 'hub.db'}"
        broker = None
        if engine != "inline":
            redis = start_redis(tmp)
            stack.callback(redis.stop)
            broker = redis.base + "/0"
            time.sleep(0.3)
        row = _run_engine(args, engine, sink, tmp, store_url, broker)
        row["store"] = store
        return row


def _run_engine(
    args: argparse.Namespace,
    engine: str,
    sink: Server,
    tmp: Path,
    store_url: str,
    broker: str | None,
) -> dict[str, Any]:
    secret = "bench-e2e"
    kind = "celery" if engine.startswith("celery") else "inline"
    setup = HubSetup(tmp, secret, store_url, sink.base + "/in", kind, args.concurrency, broker)
    generator = "wrk" if have_wrk() else "python"
    with engine_processes(setup, engine) as hub:
        # 1. throughput: a burst at full speed, then the drain
        per_thread = int(args.burst * 4000)
        write_request_files(tmp, "burst", secret, 0, per_thread, 1)
        log(f"{engine}: burst {args.burst:g}s at full speed")
        burst = run_generator(generator, hub.url, tmp / "burst", args.burst, 64, 1)
        burst_end = datetime.now(UTC)
        drained = wait_drained(store_url, args.drain_limit)
        lags = first_attempt_lags(store_url)
        starts = [s for s, _ in lags]
        after_burst = rate_between(starts, burst_end)
        whole = rate_between(starts, min(starts)) if starts else float("nan")
        throughput = after_burst if after_burst == after_burst else whole
        log(
            f"  {burst.requests} events in, drained {drained:.1f}s after the burst; "
            f"{throughput:.0f} deliveries/s after the burst, {whole:.0f}/s overall"
        )
        # 2. lag: open-loop arrivals below saturation
        rate = args.rate or max(10.0, 0.5 * (throughput if throughput == throughput else 100))
        n = int(rate * args.duration * 1.2) + 100
        write_request_files(tmp, "paced", secret, 10_000_000, n, 1)
        paced_start = datetime.now(UTC)
        log(f"{engine}: {rate:.0f} events/s for {args.duration:g}s (open loop)")
        paced = run_generator(
            "python", hub.url, tmp / "paced", args.duration, args.concurrency, 1, rate=rate
        )
        wait_drained(store_url, args.drain_limit)
        paced_lags = [lag * 1000 for _, lag in first_attempt_lags(store_url, paced_start)]
        statuses = step_status_counts(store_url)
    row = {
        "engine": engine,
        "burst_events": burst.requests,
        "deliveries_per_s": throughput,
        "deliveries_per_s_overall": whole,
        "drain_s": drained,
        "paced_rate": rate,
        "paced_sent": paced.requests,
        "lag_n": len(paced_lags),
        "lag_p50_ms": percentile(paced_lags, 50),
        "lag_p95_ms": percentile(paced_lags, 95),
        "lag_p99_ms": percentile(paced_lags, 99),
        "steps": statuses,
    }
    log(f"  lag p50 {row['lag_p50_ms']:.1f} ms, p95 {row['lag_p95_ms']:.1f} ms; steps {statuses}")
    return row


def render(report: dict[str, Any]) -> str:
    base = report["baseline"]
    lines = [
        f"sink answers after {report['delay_ms']:g} ms; concurrency {report['concurrency']}; "
        f"burst {report['burst_s']:g} s, paced {report['duration_s']:g} s",
        "",
        f"{'engine':<30} {'deliv/s':>8} {'overall':>8} {'paced/s':>8} {'lag p50':>8} "
        f"{'lag p95':>8} {'lag p99':>8}  steps",
        "-" * 100,
        f"{'sink ceiling (aiohttp client)':<30} {base['rps']:>8.0f} {'':>8} {'':>8} "
        f"{'':>8} {base['p95_ms']:>8.1f} {'':>8}  (request p95, not lag)",
    ]
    for row in report["engines"]:
        if "unavailable" in row:
            lines.append(f"{row['engine']:<30} not available: {row['unavailable']}")
            continue
        lines.append(
            f"{row['engine']:<30} {row['deliveries_per_s']:>8.0f} "
            f"{row['deliveries_per_s_overall']:>8.0f} {row['paced_rate']:>8.0f} "
            f"{row['lag_p50_ms']:>8.1f} {row['lag_p95_ms']:>8.1f} {row['lag_p99_ms']:>8.1f}  "
            f"{row['steps']}"
        )
    lines += [
        "",
        "deliv/s: first attempts per second after the burst (the engine draining alone); "
        "overall: over the whole run",
        "lag: first attempt started_at - event received_at, at the paced rate "
        "(bars: >= 2,000/s inline, >= 1,000/s per Celery worker, lag p95 <= 100 ms)",
    ]
    for row in report["engines"]:
        if "deliveries_per_s" in row and base["rps"]:
            lines.append(
                f"{row['engine']}: {row['deliveries_per_s'] / base['rps']:.0%} of the sink ceiling"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Deliveries/s and ingest-to-first-attempt lag through a recipe to a 20 ms sink."
    )
    parser.add_argument("--engines", default="inline,celery1,celery2")
    parser.add_argument("--burst", type=float, default=5.0, help="seconds of full-speed ingest")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of paced ingest")
    parser.add_argument("--rate", type=float, default=None, help="paced events/s (default: auto)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--drain-limit", type=float, default=300.0)
    parser.add_argument(
        "--store",
        choices=["auto", "sqlite", "postgres"],
        default="auto",
        help="auto: SQLite for inline, a scratch PostgreSQL database for Celery",
    )
    parser.add_argument("--quick", action="store_true", help="2 s burst, 5 s paced, inline only")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.burst, args.duration = 2.0, 5.0
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines {sorted(unknown)}; choose from {', '.join(ENGINES)}")
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="hub-e2e-", dir=args.workdir))
    sink = start_sink(root, args.delay_ms)
    rows: list[dict[str, Any]] = []
    try:
        sink.wait_ready(["/healthz"], timeout=15)
        log(f"baseline: aiohttp client -> sink, {args.concurrency} concurrent")
        base = baseline(sink, args.concurrency, min(args.duration, 5.0))
        has_celery = celery_available()
        for engine in engines:
            if engine.startswith("celery") and not has_celery:
                rows.append({"engine": engine, "unavailable": "this hub has no `hub worker`"})
                continue
            rows.append(run_engine(args, engine, sink, root))
    except (RuntimeError, OSError) as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}; files kept in {root}")
        sink.stop()
        return 2
    finally:
        sink.stop()
    report = {
        "delay_ms": args.delay_ms,
        "concurrency": args.concurrency,
        "burst_s": args.burst,
        "duration_s": args.duration,
        "baseline": base,
        "engines": rows,
    }
    print(json.dumps(report, indent=2) if args.json else render(report))
    if args.keep:
        log(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
