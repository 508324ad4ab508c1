"""Delivery search at scale: the dashboard's deliveries page and ``GET /api/v1/deliveries``
over a store holding 1,000,000 attempts, timed from a separate process.

1. Fills a fresh store (SQLite by default, ``--store postgresql+psycopg://...``
   for PostgreSQL) with a month of realistic history: events from three
   sources, one run per (event, recipe), two steps per run, 1,000,000 attempts
   (most steps succeed first time, some retry, ~4 % are dead letters, a few
   pending), spread over 4 sink connections and 6 recipes. Rows go in with
   the driver's bulk paths (SQLite ``executemany`` in big transactions,
   PostgreSQL ``COPY``), migrated first by the hub itself.
2. Starts ``hub serve`` on that store in a subprocess.
3. From this process, signs in to the dashboard with a viewer token and
   times each filtered query as the page and as the API (sequential
   requests, after a warm-up), printing p50/p95/p99 per query; then the
   same filters straight on the store (``store`` rows: the database's share).

    .venv/bin/python bench/delivery_search.py [--attempts 1000000] [--requests 100]
        [--store postgresql+psycopg://postgres@127.0.0.1/test] [--json] [--keep DIR]

The goal is p95 < 100 ms for every filtered page and API call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import sqlalchemy as sa
import yaml
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    ("razorpay-main", "razorpay", "payment.captured"),
    ("payu-main", "payu", "payment.captured"),
    ("whatsapp-main", "whatsapp", "message.received"),
]
SINKS = [
    ("books", "zoho_books.record_payment"),
    ("crm", "zoho_crm.upsert_record"),
    ("desk", "zoho_desk.create_ticket"),
    ("salesforce", "salesforce.create_case"),
]
RECIPES = [
    "payment-to-books",
    "payment-to-crm",
    "refund-to-books",
    "message-to-desk",
    "message-to-salesforce",
    "payment-to-erp",
]
ERRORS = [
    (400, "Zoho Books rejected the payment: Invalid value passed for reference_number (code 1001)"),
    (
        401,
        "POST https://www.zohoapis.in/crm/v6/Contacts refused the credentials (401): invalid oauth token; re-authorize the connection",
    ),
    (
        503,
        "gave up after 8 attempts: POST https://desk.zoho.in/api/v1/tickets failed with 503: Service Unavailable",
    ),
    (
        400,
        "POST https://acme.my.salesforce.com/services/data/v60.0/sobjects/Case rejected the request (400): Required fields are missing: [Subject]",
    ),
]
QUERIES = [
    ("dead letters of one sink", {"status": "dead", "connection": "books"}),
    ("dead letters of one recipe", {"status": "dead", "recipe": "message-to-salesforce"}),
    ("one sink, last 24 h", {"connection": "crm", "since": "1d"}),
    ("pending (retrying)", {"status": "pending"}),
    ("all, newest first", {}),
    ("dead, one sink, 7 days", {"status": "dead", "connection": "desk", "since": "7d"}),
]


@dataclass
class Counts:
    events: int = 0
    runs: int = 0
    steps: int = 0
    attempts: int = 0


# -- filling the store ------------------------------------------------------------------------


def _uid(kind: int, n: int) -> str:
    """A UUID-shaped id, unique per (kind, n), cheap to make by the million."""
    return f"{kind:08x}-{(n >> 48) & 0xFFFF:04x}-4{(n >> 36) & 0xFFF:03x}-8{(n >> 24) & 0xFFF:03x}-{n & 0xFFFFFFFFFFFF:012x}"


def _history(total_attempts: int, now: datetime, seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row) in time order until ``total_attempts`` attempts exist."""
    rng = random.Random(seed)
    span = timedelta(days=30).total_seconds()
    made = Counts()
    step_n = 0
    # ~1.4 attempts per step, 2 steps per run: ~350k events for 1M attempts. Time follows
    # the attempts made, so the newest rows are from just now whatever the size.
    n_events = total_attempts
    for e in range(n_events):
        if made.attempts >= total_attempts:
            break
        at = now - timedelta(seconds=span * (1 - made.attempts / total_attempts))
        conn, connector, etype = SOURCES[e % 3] if e % 10 else SOURCES[2]
        event_id = _uid(1, e)
        subject = f"pay_{e:014d}" if etype.startswith("payment") else f"wamid.{e:012d}"
        made.events += 1
        yield (
            "events",
            {
                "id": event_id,
                "connection": conn,
                "connector": connector,
                "type": etype,
                "source": f"/connections/{conn}",
                "subject": subject,
                "time": at,
                "idempotency_key": f"evt_{e}",
                "data": {"amount": f"{100 + e % 9000}.00", "currency": "INR"},
                "raw": None,
                "received_at": at,
                "dataschema": f"https://hub.dev/schemas/{etype.split('.')[0]}.json",
            },
        )
        recipe = RECIPES[(e * 7) % len(RECIPES)]
        sink, action = SINKS[RECIPES.index(recipe) % len(SINKS)]
        run_id = _uid(2, e)
        roll = rng.random()
        outcome = "dead" if roll < 0.04 else "pending" if roll < 0.055 else "succeeded"
        made.runs += 1
        yield (
            "runs",
            {
                "id": run_id,
                "event_id": event_id,
                "recipe": recipe,
                "status": "running" if outcome == "pending" else outcome,
                "outputs": {},
                "last_error": None,
                "created_at": at,
                "updated_at": at,
            },
        )
        for index, step_name in enumerate(("lookup", "write")):
            step_n += 1
            last = index == 1
            status = outcome if last else "succeeded"
            tries = 1 if status == "succeeded" and rng.random() < 0.85 else rng.randint(2, 5)
            code, error = (
                ERRORS[rng.randrange(len(ERRORS))] if status != "succeeded" else (None, None)
            )
            created = at + timedelta(milliseconds=40 * index)
            step_id = _uid(3, step_n)
            yield (
                "steps",
                {
                    "id": step_id,
                    "run_id": run_id,
                    "step_id": step_name,
                    "step_index": index,
                    "action": action,
                    "connection": sink,
                    "idempotency_key": f"{e:032x}{index}",
                    "status": status,
                    "attempts": tries,
                    # Pending steps fall due far ahead: the hub under test must not run them.
                    "due_at": now + timedelta(days=2) if status == "pending" else None,
                    "lease_until": None,
                    "lease_owner": None,
                    "output": {"id": f"{e}"} if status == "succeeded" else None,
                    "last_error": error,
                    "created_at": created,
                    "updated_at": created,
                },
            )
            made.steps += 1
            for number in range(1, tries + 1):
                ok = number == tries and status == "succeeded"
                yield (
                    "attempts",
                    {
                        "step_row_id": step_id,
                        "run_id": run_id,
                        "number": number,
                        "started_at": created + timedelta(seconds=2**number),
                        "duration_ms": rng.lognormvariate(4.5, 0.6),
                        "outcome": "ok"
                        if ok
                        else (
                            "permanent"
                            if status == "dead" and number == tries and code == 400
                            else "transient"
                        ),
                        "status_code": 200 if ok else code or 503,
                        "error": None if ok else error or "POST https://x failed with 503: busy",
                        "request": 'POST /books/v3/customerpayments\n{"amount": "499.00"}',
                        "response": '201 {"code": 0}' if ok else f'{code or 503} {{"code": 1001}}',
                    },
                )
                made.attempts += 1


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def fill(url: str, total: int) -> Counts:
    """Migrate ``url`` with the hub, then bulk-load the history."""
    from hub.store.sql import SqlStore
    from hub.store.tables import attempts, events, runs, steps

    async def migrate() -> None:
        store = SqlStore(url)
        await store.open()
        await store.close()

    asyncio.run(migrate())
    tables = {t.name: t for t in (events, runs, steps, attempts)}
    columns = {
        name: [c.name for c in t.c if not (name == "attempts" and c.name == "id")]
        for name, t in tables.items()
    }
    counts = Counts()
    batch: dict[str, list[tuple[Any, ...]]] = {name: [] for name in tables}
    now = datetime.now(UTC)
    started = time.perf_counter()
    engine = sa.create_engine(url)
    is_pg = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if not is_pg:
            cur.execute("PRAGMA synchronous=OFF")  # the load only; the hub opens it durably
            cur.execute("PRAGMA journal_mode=WAL")

        def flush(name: str) -> None:
            rows = batch[name]
            if not rows:
                return
            cols = columns[name]
            if is_pg:
                with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in cols)
                cur.executemany(f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({marks})", rows)
            rows.clear()

        order = ["events", "runs", "steps", "attempts"]  # foreign keys: parents first
        for name, row in _history(total, now, seed=20261122):
            values = tuple(
                (json.dumps(v) if isinstance(v, dict) else v) if is_pg else _sqlite_value(v)
                for v in (row.get(c) for c in columns[name])
            )
            batch[name].append(values)
            setattr(counts, name, getattr(counts, name) + 1)
            if len(batch["attempts"]) >= 20_000:
                for n in order:
                    flush(n)
                raw.commit()
                done = counts.attempts / total
                print(
                    f"\r  loading: {counts.attempts:,} attempts ({done:.0%}, {time.perf_counter() - started:.0f} s)",
                    end="",
                    file=sys.stderr,
                )
        for n in order:
            flush(n)
        raw.commit()
        if is_pg:
            cur.execute("ANALYZE")
        else:
            cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    print(
        f"\r  loaded {counts.events:,} events, {counts.runs:,} runs, {counts.steps:,} steps, "
        f"{counts.attempts:,} attempts in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return counts


def existing(url: str) -> Counts | None:
    """Row counts of a store filled by an earlier run (``--reuse``), or None if it has no schema."""
    from hub.store.tables import attempts, events, runs, steps

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("attempts"):
                return None

            def count(table: sa.Table) -> int:
                return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

            return Counts(count(events), count(runs), count(steps), count(attempts))
    finally:
        engine.dispose()


# -- serving and timing ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _token(url: str, role: str) -> str:
    from hub.auth import Role, TokenService
    from hub.store.sql import SqlStore

    store = SqlStore(url)
    await store.open()
    try:
        _, text = await TokenService(store).create(
            f"bench-{role}-{time.time_ns()}", Role(role), "bench"
        )
        return text
    finally:
        await store.close()


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(pick(0.95), 1),
        "p99": round(pick(0.99), 1),
        "n": len(ordered),
    }


async def time_store(url: str, requests: int, warmup: int) -> list[dict[str, Any]]:
    """The same filters straight on the store (``list_deliveries``), without HTTP or rendering:
    how much of a page's time is the database's."""
    from hub.store import DeliveryFilter
    from hub.store.sql import SqlStore
    from hub.timeparse import parse_when

    store = SqlStore(url)
    await store.open()
    results = []
    try:
        for label, params in QUERIES:
            flt = DeliveryFilter(
                status=params.get("status"),  # type: ignore[arg-type]
                connection=params.get("connection"),
                recipe=params.get("recipe"),
                since=parse_when(params["since"]) if "since" in params else None,
            )
            samples: list[float] = []
            for i in range(warmup + requests):
                t0 = time.perf_counter()
                found, _ = await store.list_deliveries(flt)
                if i >= warmup:
                    samples.append((time.perf_counter() - t0) * 1000)
            results.append(
                {
                    "query": label,
                    "kind": "store",
                    "filter": params,
                    "rows": len(found),
                    **_stats(samples),
                }
            )
    finally:
        await store.close()
    return results


async def time_queries(base: str, token: str, requests: int, warmup: int) -> list[dict[str, Any]]:
    results = []
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{base}/login") as resp:
            page = await resp.text()
        csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        async with http.post(
            f"{base}/login", data={"token": token, "csrf_token": csrf}, headers={"Origin": base}
        ) as resp:
            assert resp.status == 200 and "bench-viewer" in await resp.text(), (
                "dashboard sign-in failed"
            )
        api = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{base}/api/v1/deliveries?limit=1", headers=api) as resp:
            has_api = resp.status == 200
        for label, params in QUERIES:
            for kind, path, headers in (
                ("page", "/deliveries", {}),
                ("api", "/api/v1/deliveries", api),
            ):
                if kind == "api" and not has_api:
                    continue
                url = f"{base}{path}?{urlencode({**params, 'limit': 50})}"
                samples: list[float] = []
                rows = 0
                for i in range(warmup + requests):
                    t0 = time.perf_counter()
                    async with http.get(url, headers=headers) as resp:
                        body = await resp.read()
                        assert resp.status == 200, (url, resp.status, body[:300])
                    if i >= warmup:
                        samples.append((time.perf_counter() - t0) * 1000)
                if kind == "api":
                    doc = json.loads(body)
                    rows = len(doc.get("items") or doc.get("deliveries") or doc.get("data") or [])
                else:
                    rows = body.count(b'<tr class="row-')
                results.append(
                    {
                        "query": label,
                        "kind": kind,
                        "filter": params,
                        "rows": rows,
                        **_stats(samples),
                    }
                )
    return results


def _serve(work: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    from hub.config import HubConfig

    config: dict[str, Any] = {
        "listen": f"127.0.0.1:{port}",
        "store": url,
        "data_dir": str(work / "data"),
        "recipes": [],
    }
    if "retention" in HubConfig.model_fields:  # the history is a month old: keep all of it
        config["retention"] = {"enabled": False}
    (work / "hub.yaml").write_text(yaml.safe_dump(config))
    hub = shutil.which("hub", path=str(Path(sys.executable).parent)) or "hub"
    log = open(work / "serve.log", "wb")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        [hub, "-c", str(work / "hub.yaml"), "serve", "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )


async def _wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("hub serve exited; see serve.log")
            try:
                async with http.get(f"{base}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("hub serve did not become ready within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Time the deliveries page and API over 1M attempts."
    )
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100, help="timed requests per query")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--store", help="SQLAlchemy URL of an EMPTY database (default: SQLite in a temp folder)"
    )
    parser.add_argument(
        "--keep", type=Path, help="work folder to keep (store, hub.yaml, serve.log)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--reuse", action="store_true", help="time the store as it is when it already has attempts"
    )
    args = parser.parse_args()

    os.environ.setdefault("HUB_SECRET_KEY", Fernet.generate_key().decode())
    work = args.keep or Path(tempfile.mkdtemp(prefix="hub-delivery-search-"))
    work.mkdir(parents=True, exist_ok=True)
    url = args.store or f"sqlite:///{work / 'hub.db'}"
    print(f"store: {sa.make_url(url).render_as_string(hide_password=True)}", file=sys.stderr)
    counts = existing(url) if args.reuse else None
    if counts is None or counts.attempts == 0:
        counts = fill(url, args.attempts)
    token = asyncio.run(_token(url, "viewer"))
    port = _free_port()
    proc = _serve(work, url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(_wait_ready(base, proc))
        results = asyncio.run(time_queries(base, token, args.requests, args.warmup))
        results += asyncio.run(time_store(url, args.requests, args.warmup))
        results.sort(key=lambda r: [q for q, _ in QUERIES].index(r["query"]))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    worst = max(r["p95"] for r in results if r["kind"] != "store")
    summary = {
        "store": sa.make_url(url).get_backend_name(),
        "rows": counts.__dict__,
        "results": results,
        "worst_p95_ms": worst,
        "goal_p95_ms": 100,
        "ok": worst < 100,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(
        f"\n{counts.attempts:,} attempts, {counts.steps:,} deliveries, {counts.events:,} events "
        f"({summary['store']}); {args.requests} sequential requests per row, after {args.warmup} warm-up"
    )
    print(f"{'query':<28} {'as':<5} {'rows':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r['query']:<28} {r['kind']:<5} {r['rows']:>5} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f}"
        )
    print(f"worst p95: {worst:.1f} ms (goal < 100 ms): {'OK' if summary['ok'] else 'TOO SLOW'}")


if __name__ == "__main__":
    main()
