"""Memory benchmark: does ``hub serve`` hold its RSS flat over 1,000,000 ingested webhooks?

A hub runs for months; anything it keeps per event (a cache without a
bound, a metric label per id, a leaked task) shows up as RSS that grows with
the events it has seen. The bar: RSS after 1,000,000 events within 10 MB of
RSS after 10,000 (by then imports, pools and caches have warmed up).

wrk (one thread, a separate process) sends distinct signed Razorpay
payments at full speed to a pure-ingest hub (SQLite store, fsync on every
commit, no recipes) from pre-signed request files, one line per event, so
every event is stored. The script polls the hub's own count of 202 answers
(``/metrics``) and reads ``VmRSS`` from ``/proc/<pid>/status`` at each
checkpoint (10k, 100k, 250k, 500k, 750k, 1M); it also checks that every
acknowledged event is in the store.

Baseline in the same run: the bare aiohttp server (``bare_server.py``)
under the same generator for the same number of requests, so a growth that
aiohttp or the allocator would show anyway is visible as such.

Examples::

    .venv/bin/python bench/memory.py --quick      # 100k events (~1 min)
    .venv/bin/python bench/memory.py              # 1M events (~8 min at ~2.5k/s)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import HubSetup, rss_mb, start_hub
from ingest import HOOK, Server, http_get, hub_counts, log, start_bare
from loadgen import have_wrk, write_request_files, wrk_script

CHECKPOINTS = (10_000, 100_000, 250_000, 500_000, 750_000, 1_000_000)


def drive(
    server: Server, stem: Path, total: int, counter: Any, checkpoints: Sequence[int]
) -> list[dict[str, float]]:
    """Run wrk against ``server`` until ``counter()`` reaches ``total``; RSS at each checkpoint."""
    script = stem.with_suffix(".lua")
    script.write_text(wrk_script(stem, HOOK))
    cmd = ["wrk", "-t1", "-c64", "-d3600s", "--timeout", "10s", "-s", str(script), server.url]
    samples: list[dict[str, float]] = []
    pending = list(checkpoints)
    started = said = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as wrk:
        try:
            while pending:
                if wrk.poll() is not None:
                    raise RuntimeError(f"wrk exited early with {wrk.returncode}")
                if server.proc.poll() is not None:
                    raise RuntimeError(f"{server.name} died:\n{server.log_tail()}")
                done = counter()
                if time.monotonic() - said >= 30:
                    said = time.monotonic()
                    rate = done / (said - started)
                    log(f"  {server.name}: {done:>9,} answered ({rate:,.0f}/s so far)")
                while pending and done >= pending[0]:
                    mark = pending.pop(0)
                    rss = rss_mb(server.proc.pid)
                    elapsed = time.monotonic() - started
                    samples.append({"events": mark, "seen": done, "rss_mb": rss, "t_s": elapsed})
                    log(
                        f"  {server.name}: {done:>9,} answered, RSS {rss:7.1f} MB ({elapsed:.0f} s)"
                    )
                time.sleep(0.2)
        finally:
            wrk.terminate()
            wrk.wait()
    return samples


def render(report: dict[str, Any]) -> str:
    lines = [
        f"{report['events']:,} distinct signed webhooks per target (wrk -t1 -c64), "
        f"RSS from /proc/<pid>/status",
        "",
        f"{'events':>10} {'hub RSS MB':>11} {'hub Δ MB':>9} {'bare RSS MB':>12} {'bare Δ MB':>10}",
        "-" * 58,
    ]
    hub = {s["events"]: s for s in report["hub"]}
    bare = {s["events"]: s for s in report.get("bare", [])}
    first_hub = report["hub"][0]["rss_mb"]
    first_bare = report["bare"][0]["rss_mb"] if report.get("bare") else None
    for mark in report["checkpoints"]:
        h = hub.get(mark)
        b = bare.get(mark)
        lines.append(
            f"{mark:>10,} {h['rss_mb'] if h else float('nan'):>11.1f} "
            f"{(h['rss_mb'] - first_hub) if h else float('nan'):>+9.1f} "
            f"{b['rss_mb'] if b else float('nan'):>12.1f} "
            f"{(b['rss_mb'] - first_bare) if b and first_bare is not None else float('nan'):>+10.1f}"
        )
    growth = report["hub"][-1]["rss_mb"] - first_hub
    lines += [
        "",
        f"hub growth from {report['checkpoints'][0]:,} to {report['checkpoints'][-1]:,} events: "
        f"{growth:+.1f} MB   (bar: within 10 MB)",
        f"stored == acknowledged: {'yes' if report['durable'] else 'no'} "
        f"({report['stored']:,} stored, {report['acknowledged']:,} answered 202)",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="RSS of `hub serve` over 1M ingested webhooks.")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100k events")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-server baseline")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.events = 100_000
    if not have_wrk():
        parser.error("wrk is needed (apt-get install wrk): the Python generator is too slow here")
    checkpoints = [c for c in CHECKPOINTS if c < args.events] + [args.events]
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="hub-mem-", dir=args.workdir))
    secret = "bench-memory"
    setup = HubSetup(tmp, secret, f"sqlite:///{tmp / 'hub.db'}")
    report: dict[str, Any] = {"events": args.events, "checkpoints": checkpoints}
    try:
        log(f"signing {args.events:,} distinct webhooks (+5%) into {tmp}")
        write_request_files(tmp, "req", secret, 0, int(args.events * 1.05) + 1000, 1)
        hub = start_hub(setup)
        try:
            hub.wait_ready(["/healthz", "/readyz"], timeout=60)
            db = tmp / "hub.db"
            report["hub"] = drive(
                hub, tmp / "req", args.events, lambda: hub_counts(hub, db).acknowledged, checkpoints
            )
            time.sleep(1.0)
            counts = hub_counts(hub, db)
            report["acknowledged"], report["stored"] = counts.acknowledged, counts.stored
            report["durable"] = counts.acknowledged == counts.stored
        finally:
            hub.stop()
        if not args.no_bare:
            bare = start_bare(tmp, secret, trivial=False)
            try:
                bare.wait_ready(["/healthz"], timeout=15)
                report["bare"] = drive_bare(bare, tmp / "req", checkpoints)
            finally:
                bare.stop()
    except (RuntimeError, OSError, sqlite3.Error) as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}; files kept in {tmp}")
        return 2
    print(json.dumps(report, indent=2) if args.json else render(report))
    if args.keep:
        log(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if report["durable"] else 1


def drive_bare(bare: Server, stem: Path, checkpoints: Sequence[int]) -> list[dict[str, float]]:
    return drive(bare, stem, checkpoints[-1], lambda: _bare_count(bare), checkpoints)


def _bare_count(bare: Server) -> int:
    """Requests the bare server has answered (its ``GET /stats``)."""
    _, body = http_get(bare.base + "/stats")
    return int(json.loads(body)["answered"])


if __name__ == "__main__":
    sys.exit(main())
