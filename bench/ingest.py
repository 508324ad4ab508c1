"""Ingest benchmark: `hub serve` (durable commits) against a bare HMAC-checking aiohttp server.

The question this answers is "what does the hub's durability cost?", so the
headline figure is a *ratio* — hub req/s over bare req/s on the same machine,
same payloads, same generator — rather than an absolute req/s that mostly
describes the machine. The hub is run exactly as deployed (``hub serve``,
SQLite store with its configured ``PRAGMA synchronous``, fsync before every
2xx); nothing is turned off to win the ratio.

Procedure (all on 127.0.0.1):

1. Start three servers as subprocesses: the hub (``hub -c <tmp>/hub.yaml
   serve``, pure ingest: no recipes), ``bench/bare_server.py`` (verify HMAC,
   parse JSON, 202) and the same server with ``--trivial`` (202 without
   looking), which measures the load generator's own ceiling.
2. Pre-sign distinct Razorpay ``payment.captured`` webhooks into request
   files (``bench/loadgen.py``): every hub request has its own payment id, so
   the hub stores every one instead of taking the dedupe shortcut.
3. Warm up each target, then run ``--rounds`` rounds of fixed ``--duration``
   and ``--connections``, alternating ceiling, bare, hub, so that drift
   (thermal, noisy neighbours) hits all targets alike; report the median.
4. After every hub run, check durability: events in the hub's SQLite must
   equal the hub's own count of 202 answers (``/metrics``), with no
   duplicates.

Benchmarks print figures; nothing here asserts on timing. The exit status is
non-zero only when a run could not be made or durability did not check out.

Examples::

    .venv/bin/python bench/ingest.py                # 64 conns, 10 s x 2 rounds
    .venv/bin/python bench/ingest.py --quick        # 2 s x 1 round smoke check
    .venv/bin/python bench/ingest.py --json         # machine-readable results
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# bench/ is a folder of scripts, not a package: make the sibling modules importable
# whether this is run as `python bench/ingest.py` or `python -m bench.ingest`.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import GenResult, have_wrk, run_generator, write_request_files

ROOT = Path(__file__).resolve().parents[1]
HOOK = "/hooks/razorpay-main"
CONNECTION = "razorpay-main"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
_METRIC_RE = re.compile(r"^hub_webhook_requests_total\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$")
_DUP_RE = re.compile(r"^hub_\w*duplicate\w*_total\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$")


def log(msg: str) -> None:
    """Progress goes to stderr so that stdout holds only the table (or the JSON)."""
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@dataclass
class Server:
    """A server subprocess under test, with its stderr in a file (a pipe could fill and stall it)."""

    name: str
    base: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return self.base + HOOK

    def cpu_seconds(self) -> float:
        """utime + stime of the process (all its threads) from /proc."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def thread_cpu(self) -> dict[str, float]:
        """CPU seconds of the main thread and of the other threads, from /proc/<pid>/task.

        Python 3.11 does not give OS threads their Python names, so the hub's
        store writer and executor threads are reported together; the writer
        is the only busy one during ingest (py-spy ``--threads`` confirms).
        """
        out: dict[str, float] = {}
        try:
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                stat = (task / "stat").read_text()
                name = "main thread" if task.name == str(self.proc.pid) else "other threads"
                fields = stat.rsplit(")", 1)[1].split()
                secs = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
                out[name] = out.get(name, 0.0) + secs
        except OSError:
            pass
        return out

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, paths: Sequence[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for path in paths:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.proc.returncode} before {path} answered:\n"
                        + self.log_tail()
                    )
                try:
                    status, _ = http_get(self.base + path, timeout=1.0)
                    if status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name}: {path} not 200 after {timeout:.0f}s:\n" + self.log_tail()
                    )
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_bare(tmp: Path, secret: str, trivial: bool) -> Server:
    port = free_port()
    name = "trivial" if trivial else "bare"
    log_path = tmp / f"{name}.log"
    cmd = [sys.executable, str(ROOT / "bench" / "bare_server.py"), "--port", str(port)]
    cmd += ["--secret", secret] + (["--trivial"] if trivial else [])
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    return Server(name, f"http://127.0.0.1:{port}", proc, log_path)


RECIPE = ROOT / "recipes" / "razorpay-payment-to-books.yaml"


def hub_config(tmp: Path, port: int, secret: str, books_url: str | None = None) -> str:
    """hub.yaml: pure ingest, or with the Books recipe routed to the sandbox at ``books_url``.

    Written as JSON, which is valid YAML and needs no YAML dependency here.
    """
    connections: dict[str, Any] = {
        CONNECTION: {"connector": "razorpay", "config": {"webhook_secret": secret}}
    }
    if books_url:
        connections["books"] = {
            "connector": "zoho_books",
            "config": {
                "data_centre": "in",
                "accounts_url": books_url,
                "api_domain": books_url,
                "organization_id": "60012345678",
                "client_id": "1000.SANDBOX",
                "client_secret": "sandbox-secret",
                "refresh_token": "1000.sandbox.refresh",
            },
        }
    config = {
        "listen": f"127.0.0.1:{port}",
        "store": f"sqlite:///{tmp / 'hub.db'}",
        "data_dir": str(tmp),
        "recipes": [str(RECIPE)] if books_url else [],
        "connections": connections,
    }
    return json.dumps(config, indent=2) + "\n"


def hub_binary() -> list[str]:
    local = ROOT / ".venv" / "bin" / "hub"
    if local.exists():
        return [str(local)]
    found = shutil.which("hub")
    if found:
        return [found]
    return [sys.executable, "-m", "hub.cli"]


def start_sandbox(tmp: Path) -> Server:
    """``hub sandbox`` (Zoho Books only) for ``--with-recipe``: the deliveries' far end."""
    port = free_port()
    log_path = tmp / "sandbox.log"
    cmd = [*hub_binary(), "sandbox", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--only", "zoho_books"]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=tmp)
    return Server("sandbox", f"http://127.0.0.1:{port}", proc, log_path)


def start_hub(tmp: Path, secret: str, books_url: str | None = None) -> Server:
    from cryptography.fernet import Fernet

    port = free_port()
    config_path = tmp / "hub.yaml"
    config_path.write_text(hub_config(tmp, port, secret, books_url))
    env = {**os.environ, "HUB_SECRET_KEY": Fernet.generate_key().decode()}
    log_path = tmp / "hub.log"
    cmd = [*hub_binary(), "-c", str(config_path), "serve"]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    return Server("hub", f"http://127.0.0.1:{port}", proc, log_path)


# --------------------------------------------------------------------------- hub probes


@dataclass
class HubCounts:
    acknowledged: int  # 202 answers on the connection, per the hub's /metrics
    other_statuses: dict[str, int]
    duplicates: int
    stored: int  # rows in the events table


def _metric_labels(raw: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', raw))


def hub_counts(hub: Server, db: Path) -> HubCounts:
    _, text = http_get(hub.base + "/metrics", timeout=5.0)
    acked = 0
    others: dict[str, int] = {}
    dups = 0
    for line in text.splitlines():
        if m := _METRIC_RE.match(line):
            labels = _metric_labels(m["labels"])
            if labels.get("connection") != CONNECTION:
                continue
            if labels.get("status") == "202":
                acked += int(float(m["value"]))
            else:
                others[labels.get("status", "?")] = int(float(m["value"]))
        elif m := _DUP_RE.match(line):
            dups += int(float(m["value"]))
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    return HubCounts(acked, others, dups, stored)


def settled_counts(hub: Server, db: Path) -> HubCounts:
    """Counts once in-flight requests have finished (202 counter unchanged for 0.5 s)."""
    last = hub_counts(hub, db)
    for _ in range(40):
        time.sleep(0.5)
        now = hub_counts(hub, db)
        if now.acknowledged == last.acknowledged and now.stored == last.stored:
            return now
        last = now
    return last


def wait_idle(server: Server, limit: float = 180.0) -> float:
    """Wait until ``server`` uses < 5% CPU over 0.5 s (a recipe backlog drained); seconds waited.

    Without this, deliveries still running after a hub run would steal CPU
    from the next target's run and flatter the ratio.
    """
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = server.cpu_seconds()
        time.sleep(0.5)
        if server.cpu_seconds() - before < 0.025:
            break
    return time.monotonic() - started


def step_counts(db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        rows = conn.execute("SELECT status, count(*) FROM steps GROUP BY status").fetchall()
    return {str(status): int(n) for status, n in rows}


def sqlite_journal_mode(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    target: str
    round: int
    result: GenResult
    server_cpu_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "round": self.round,
            **self.result.to_dict(),
            "server_cpu_s": self.server_cpu_s,
            **self.extra,
        }


class Ids:
    """Hands out disjoint payment-id ranges so no two hub requests ever share an id."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, count: int) -> int:
        first = self.next
        self.next += count
        return first


@contextlib.contextmanager
def servers(
    tmp: Path, secret: str, with_hub: bool, with_ceiling: bool, with_recipe: bool
) -> Iterator[dict[str, Server]]:
    """Start every server, wait until each is ready, stop them all on the way out."""
    started: dict[str, Server] = {}
    try:
        if with_ceiling:
            started["ceiling"] = start_bare(tmp, secret, trivial=True)
        started["bare"] = start_bare(tmp, secret, trivial=False)
        if with_hub:
            books_url = None
            if with_recipe:
                sandbox = started["sandbox"] = start_sandbox(tmp)
                sandbox.wait_ready(["/"], timeout=60)
                books_url = sandbox.base + "/zoho_books"
            started["hub"] = start_hub(tmp, secret, books_url)
        for server in started.values():
            if server.name != "sandbox":
                paths = ["/healthz", "/readyz"]
                server.wait_ready(paths, timeout=60 if server.name == "hub" else 15)
        yield started
    finally:
        for server in started.values():
            server.stop()


def measure(
    server: Server,
    generator: str,
    stem: Path,
    duration: float,
    connections: int,
    threads: int,
) -> tuple[GenResult, float, dict[str, float]]:
    cpu0, threads0 = server.cpu_seconds(), server.thread_cpu()
    result = run_generator(generator, server.url, stem, duration, connections, threads)
    cpu, threads1 = server.cpu_seconds() - cpu0, server.thread_cpu()
    per_thread = {
        name: round(100 * (secs - threads0.get(name, 0.0)) / result.duration_s, 1)
        for name, secs in threads1.items()
        if secs - threads0.get(name, 0.0) > 0
    }
    return result, cpu, per_thread


def lines_for(rps: float, duration: float, threads: int) -> int:
    """Request-file lines per thread: 1.5x the expected count, so no run wraps around."""
    return max(2000, math.ceil(rps * duration * 1.5 / threads) + 500)


def fs_type(path: Path) -> str:
    """Filesystem type under ``path`` (from /proc/mounts): tmpfs would make fsync free."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    resolved = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1]
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, parts[2]
    return kind


def py_spy_binary() -> str | None:
    local = ROOT / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def profile_hub(
    hub: Server, args: argparse.Namespace, tmp: Path, secret: str, ids: Ids, rps: float
) -> dict[str, Any]:
    """An extra, unmeasured hub run under ``py-spy record --gil``: where the hub's Python time goes.

    ``--gil`` samples only the thread holding the GIL, which is the right
    view for a process whose threads share one interpreter: the shares add up
    to what the interpreter was busy with. Kept out of the measured rounds
    because sampling perturbs the process.
    """
    spy = py_spy_binary()
    out = Path(args.py_spy).resolve()
    if spy is None:
        return {"mode": "skipped", "path": "py-spy not installed (pip install py-spy)"}
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(out.suffix, "raw")
    n = lines_for(rps, args.duration, args.threads)
    write_request_files(tmp, "prof", secret, ids.take(n * args.threads), n, args.threads, args.seed)
    seconds = max(1, int(args.duration) - 1)
    cmd = [
        spy,
        "record",
        "-p",
        str(hub.proc.pid),
        "-d",
        str(seconds),
        "-r",
        "250",
        "--gil",
        "--threads",
        "--nonblocking",
        "-f",
        fmt,
        "-o",
        str(out),
    ]
    with (tmp / "py-spy.log").open("wb") as err:
        spy_proc = subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT)
        time.sleep(0.3)
        run_generator(
            args.generator, hub.url, tmp / "prof", args.duration, args.connections, args.threads
        )
        try:
            spy_proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy_proc.kill()
            spy_proc.wait()
    if spy_proc.returncode != 0 or not out.exists():
        tail = (tmp / "py-spy.log").read_text(errors="replace").strip().splitlines()[-3:]
        return {"mode": "failed", "path": " / ".join(tail) or f"exit {spy_proc.returncode}"}
    result: dict[str, Any] = {"mode": f"--gil, {fmt}", "path": str(out)}
    if fmt == "raw":
        result["top"] = top_frames(out)
    return result


def top_frames(raw: Path, limit: int = 14) -> list[tuple[str, float]]:
    """Inclusive share of GIL-held samples per thread and per hub/connector function."""
    totals: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        keys = {"thread " + re.sub(r"^thread \(\d+\): ", "", frames[0])}
        for frame in frames[1:]:
            if ("(hub/" in frame or "(connectors/" in frame) and "(hub/cli.py" not in frame:
                keys.add(re.sub(r":\d+\)$", ")", frame))
        for key in keys:
            totals[key] = totals.get(key, 0) + n
    if not total:
        return []
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:limit]
    return [(frame, round(100 * n / total, 1)) for frame, n in ranked]


# --------------------------------------------------------------------------- report


LABELS = {
    "ceiling": "generator ceiling (trivial 202)",
    "bare": "bare aiohttp (hmac + json)",
    "hub": "hub serve (durable sqlite)",
}


def _median_threads(runs: list[Run]) -> dict[str, float]:
    names = {n for r in runs for n in r.extra.get("server_thread_cpu_pct", {})}
    return {
        n: statistics.median(r.extra.get("server_thread_cpu_pct", {}).get(n, 0.0) for r in runs)
        for n in sorted(names)
    }


def summarize(runs: list[Run], with_recipe: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for target in ("ceiling", "bare", "hub"):
        mine = [r for r in runs if r.target == target]
        if not mine:
            continue
        out[target] = {
            "label": "hub serve + recipe (durable)"
            if with_recipe and target == "hub"
            else LABELS[target],
            "rounds": len(mine),
            "rps": statistics.median(r.result.rps for r in mine),
            "p50_ms": statistics.median(r.result.p50_ms for r in mine),
            "p99_ms": statistics.median(r.result.p99_ms for r in mine),
            "non_2xx": sum(r.result.non_2xx for r in mine),
            "socket_errors": sum(r.result.socket_errors for r in mine),
            "server_cpu_pct": statistics.median(
                100 * r.server_cpu_s / r.result.duration_s for r in mine
            ),
            "gen_cpu_pct": statistics.median(
                100 * r.result.gen_cpu_s / r.result.duration_s for r in mine
            ),
            "gen_us_per_req": statistics.median(
                1e6 * r.result.gen_cpu_s / r.result.requests for r in mine if r.result.requests
            )
            if any(r.result.requests for r in mine)
            else math.nan,
            "server_us_per_req": statistics.median(
                1e6 * r.server_cpu_s / r.result.requests for r in mine if r.result.requests
            )
            if any(r.result.requests for r in mine)
            else math.nan,
            "server_thread_cpu_pct": _median_threads(mine),
        }
    return out


def render_table(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = [
        f"generator: {report['generator']}",
        f"{cfg['connections']} connections, {cfg['duration_s']:g} s x {cfg['rounds']} round(s), "
        f"median per target; {cfg['cpus']} CPUs shared by generator and servers; "
        f"work dir on {cfg['workdir_fs']}",
        "",
        f"{'target':<32} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
        f"{'srv CPU%':>9} {'srv us/req':>11} {'gen CPU%':>9}",
        "-" * 98,
    ]
    for row in report["summary"].values():
        lines.append(
            f"{row['label']:<32} {row['rps']:>8.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
            f"{row['non_2xx'] + row['socket_errors']:>8d} {row['server_cpu_pct']:>9.0f} "
            f"{row['server_us_per_req']:>11.0f} {row['gen_cpu_pct']:>9.0f}"
        )
    lines.append("")
    if report.get("ratio") is not None:
        lines.append(f"ratio hub/bare (req/s): {report['ratio']:.2f}   (bar: >= 0.70)")
    if dur := report.get("durability"):
        lines.append(
            f"stored == acknowledged: {'yes' if dur['ok'] else 'no'}   "
            f"({dur['stored']} events stored, {dur['acknowledged']} answered 202, "
            f"{dur['duplicates']} duplicates, other statuses {dur['other_statuses'] or 'none'}; "
            f"sqlite journal_mode={dur['journal_mode']})"
        )
        if dur.get("steps") is not None:
            lines.append(f"recipe steps by status after the runs: {dur['steps'] or 'none'}")
    if gen := report.get("generator_cost"):
        lines.append(
            f"generator cost: {gen['us_per_req']:.1f} us CPU per request -> own ceiling "
            f"~{gen['ceiling_rps_per_core']:,.0f} req/s per core; its share of the machine at the "
            f"hub's rate: {gen['share_at_hub_rate_pct']:.0f}% of one core"
        )
    if "ceiling" in report["summary"]:
        c = report["summary"]["ceiling"]
        lines.append(
            f"trivial-202 server: {c['rps']:,.0f} req/s at {c['server_cpu_pct']:.0f}% server CPU "
            f"vs {c['gen_cpu_pct']:.0f}% generator CPU "
            f"({'server' if c['server_cpu_pct'] > c['gen_cpu_pct'] else 'generator'}-bound)"
        )
    if "hub" in report["summary"]:
        threads = report["summary"]["hub"]["server_thread_cpu_pct"]
        shown = ", ".join(f"{n} {v:.0f}%" for n, v in sorted(threads.items(), key=lambda x: -x[1]))
        lines.append(f"hub CPU by thread (% of one core): {shown}")
    if prof := report.get("profile"):
        lines.append(f"py-spy profile of the hub ({prof['mode']}): {prof['path']}")
        for frame, pct in prof.get("top", []):
            lines.append(f"  {pct:5.1f}%  {frame}")
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark `hub serve` webhook ingest (durable SQLite commits) against a bare "
            "aiohttp server that only verifies the HMAC; print req/s, p50/p99 and hub/bare."
        ),
        epilog="See bench/README.md for what the figures mean on a 2-core machine.",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument(
        "--connections", type=int, default=64, help="concurrent keep-alive connections"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating rounds; the median is reported"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per target")
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (1 leaves a core for the server)"
    )
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator; auto = wrk if installed, else the Python aiohttp client",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke check: 2 s runs, 1 round, 1 s warm-up"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the results as JSON instead of a table"
    )
    parser.add_argument(
        "--no-hub", action="store_true", help="only the bare server and the ceiling"
    )
    parser.add_argument(
        "--with-recipe",
        action="store_true",
        help="route every event to recipes/razorpay-payment-to-books.yaml, delivered by the "
        "inline engine to a `hub sandbox` Zoho Books (ingest under delivery load)",
    )
    parser.add_argument("--no-ceiling", action="store_true", help="skip the generator-ceiling runs")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (hub.db, logs)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the temporary folder (hub.db) goes; must be a real disk, not tmpfs",
    )
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        default=None,
        help="after the measured rounds, profile one extra hub run with py-spy --gil into FILE "
        "(.svg flamegraph, .json speedscope, else raw collapsed stacks + a top list)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for the sample payments")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 2.0, 1, 1.0
    if args.generator == "auto":
        args.generator = "wrk" if have_wrk() else "python"
    if args.generator == "wrk" and not have_wrk():
        parser.error("wrk is not installed (apt-get install wrk), use --generator python")
    if args.generator == "python":
        args.threads = 1
    return args


def generator_label(args: argparse.Namespace) -> str:
    if args.generator == "wrk":
        proc = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        version = (proc.stdout or proc.stderr).split("[")[0].strip() or "wrk"
        return f"{version} (-t{args.threads}, Lua request() over pre-signed distinct webhooks)"
    return "python-aiohttp client, 1 process (wrk not used)"


def benchmark(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    secret = "bench-" + os.urandom(8).hex()
    with_hub = not args.no_hub
    with_ceiling = not args.no_ceiling
    ids = Ids()
    runs: list[Run] = []
    notes: list[str] = []
    durability: dict[str, Any] | None = None

    workdir_fs = fs_type(tmp)
    if workdir_fs in ("tmpfs", "ramfs"):
        notes.append(
            f"{tmp} is on {workdir_fs}: fsync costs nothing there, so the hub figures "
            "overstate durable throughput; use --workdir on a real disk"
        )
    profile: dict[str, Any] | None = None
    log(f"starting servers in {tmp} ({workdir_fs})")
    with servers(tmp, secret, with_hub, with_ceiling, args.with_recipe) as srv:
        order = [t for t in ("ceiling", "bare", "hub") if t in srv]
        db = tmp / "hub.db"

        # Warm-up: also measures rough rates, used to size the request files.
        rates: dict[str, float] = {}
        first_lines = lines_for(12_000, max(args.warmup, 1.0), args.threads)
        warm_stem = tmp / "warm"
        write_request_files(
            tmp,
            "warm",
            secret,
            ids.take(first_lines * args.threads),
            first_lines,
            args.threads,
            args.seed,
        )
        for target in order:
            if target == "hub":  # fresh ids: the hub must never see a repeat
                write_request_files(
                    tmp,
                    "warm",
                    secret,
                    ids.take(first_lines * args.threads),
                    first_lines,
                    args.threads,
                    args.seed,
                )
            log(f"warm-up {target} {args.warmup:g}s")
            result, _, _ = measure(
                srv[target], args.generator, warm_stem, args.warmup, args.connections, args.threads
            )
            rates[target] = result.rps

        # One shared file for ceiling and bare (repeats are harmless there: they store nothing).
        shared_lines = min(30_000, lines_for(max(rates.values()), args.duration, args.threads))
        write_request_files(
            tmp,
            "shared",
            secret,
            ids.take(shared_lines * args.threads),
            shared_lines,
            args.threads,
            args.seed,
        )
        for rnd in range(1, args.rounds + 1):
            for target in order:
                stem = tmp / "shared"
                if target == "hub":
                    expected = max(
                        [rates["hub"]] + [r.result.rps for r in runs if r.target == "hub"]
                    )
                    n = lines_for(expected, args.duration, args.threads)
                    stem = tmp / f"hub{rnd}"
                    write_request_files(
                        tmp,
                        stem.name,
                        secret,
                        ids.take(n * args.threads),
                        n,
                        args.threads,
                        args.seed,
                    )
                log(f"round {rnd}: {target} {args.duration:g}s x {args.connections} connections")
                result, cpu, per_thread = measure(
                    srv[target], args.generator, stem, args.duration, args.connections, args.threads
                )
                run = Run(target, rnd, result, cpu, {"server_thread_cpu_pct": per_thread})
                if target == "hub":
                    counts = settled_counts(srv["hub"], db)
                    run.extra["stored_total"] = counts.stored
                    run.extra["acknowledged_total"] = counts.acknowledged
                    run.extra["idle_wait_s"] = round(wait_idle(srv["hub"]), 1)
                    if result.wraps:
                        notes.append(
                            f"hub round {rnd} ran out of distinct payloads (wraps={result.wraps})"
                        )
                runs.append(run)
                log(
                    f"  {result.rps:.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                    f"non-2xx {result.non_2xx}, server CPU {cpu:.1f}s, gen CPU {result.gen_cpu_s:.1f}s"
                )
                if target != "hub" and result.non_2xx:
                    notes.append(f"{target} answered {result.non_2xx} non-2xx in round {rnd}")

        if with_hub and args.py_spy:
            hub_rps = max(r.result.rps for r in runs if r.target == "hub")
            log(f"profiling one extra (unmeasured) hub run with py-spy -> {args.py_spy}")
            profile = profile_hub(srv["hub"], args, tmp, secret, ids, hub_rps)

        if with_hub:
            counts = settled_counts(srv["hub"], db)
            ok = (
                counts.stored == counts.acknowledged
                and counts.duplicates == 0
                and counts.acknowledged > 0
            )
            durability = {
                "ok": ok,
                "stored": counts.stored,
                "acknowledged": counts.acknowledged,
                "duplicates": counts.duplicates,
                "other_statuses": counts.other_statuses,
                "journal_mode": sqlite_journal_mode(db),
                "steps": step_counts(db) if args.with_recipe else None,
            }
            wrk_2xx = sum(r.result.requests - r.result.non_2xx for r in runs if r.target == "hub")
            if wrk_2xx > counts.acknowledged:
                durability["ok"] = False
                notes.append(
                    f"generator saw {wrk_2xx} 2xx from the hub but /metrics counts "
                    f"only {counts.acknowledged} 202s"
                )

    summary = summarize(runs, args.with_recipe)
    ratio = summary["hub"]["rps"] / summary["bare"]["rps"] if "hub" in summary else None
    bare_vs_ceiling = (
        summary["bare"]["rps"] / summary["ceiling"]["rps"] if "ceiling" in summary else None
    )
    if "bare" in summary and summary["bare"]["gen_cpu_pct"] >= 60:
        notes.append(
            f"the generator used {summary['bare']['gen_cpu_pct']:.0f}% of a core during the bare "
            "runs: the bare figure is generator-bound and the hub/bare ratio is overstated"
        )
    gen_cpu = sum(r.result.gen_cpu_s for r in runs)
    gen_reqs = sum(r.result.requests for r in runs)
    generator_cost = None
    if gen_cpu > 0 and gen_reqs:
        us = 1e6 * gen_cpu / gen_reqs
        hub_rps = summary["hub"]["rps"] if "hub" in summary else summary["bare"]["rps"]
        generator_cost = {
            "us_per_req": us,
            "ceiling_rps_per_core": 1e6 / us,
            "share_at_hub_rate_pct": hub_rps * us / 1e4,
        }
    return {
        "generator": generator_label(args),
        "generator_cost": generator_cost,
        "profile": profile,
        "config": {
            "duration_s": args.duration,
            "connections": args.connections,
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "threads": args.threads,
            "cpus": os.cpu_count(),
            "workdir_fs": workdir_fs,
        },
        "summary": summary,
        "ratio": ratio,
        "bare_vs_ceiling": bare_vs_ceiling,
        "durability": durability,
        "runs": [r.to_dict() for r in runs],
        "notes": notes,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-", dir=args.workdir))
    try:
        report = benchmark(args, tmp)
    except (RuntimeError, OSError, sqlite3.Error) as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        log(f"logs kept in {tmp}")
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_table(report))
    if args.keep:
        log(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    dur = report.get("durability")
    return 1 if dur is not None and not dur["ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
