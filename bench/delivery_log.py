"""Delivery-log benchmark: filtered ``list_deliveries`` pages over a store of 10,000,000 attempts.

Ops open the delivery log when something is wrong, so its pages must stay
fast when the store is big: the bar is p99 <= 50 ms per page at ten million
attempts. This script builds such a store and times the queries exactly as
``hub deliveries list`` (and the API) makes them: it calls
``SqlStore.list_deliveries`` with a ``DeliveryFilter``, so the SQL, the joins
and the row decoding are the hub's own.

The store (SQLite file, or a scratch PostgreSQL database with ``--store
postgres``) is created by ``SqlStore.open()`` (the real migrations, so every
index the hub defines is there) and then bulk-loaded directly, which is the
only way to make 10M attempts in minutes:

* SQLite: ``executemany`` in 200k-row transactions on a connection with
  ``synchronous=OFF`` (for the load only; the hub's own connections keep
  ``FULL``). PostgreSQL: ``COPY`` with foreign-key triggers off for the load.
* Secondary indexes are dropped before the load and re-created after it from
  their own DDL (faster than maintaining them row by row); the result is the
  schema the migrations made. PostgreSQL is then ``ANALYZE``d, as autovacuum
  would; SQLite is not (the hub never runs ``ANALYZE`` there).

The data is shaped like a busy hub's log: 90 days of deliveries, one step per
run, ~2 attempts per step on average (most succeed first time, dead ones
retried up to 8 times), six sink connections and eight recipes with skewed
volumes, plus a *rare* connection and a *rare* recipe (0.05% each), because a
filter that matches few rows is what makes a newest-first scan slow.

Each filter is timed ``--repeat`` times with varied parameters (page depth,
time windows); p50/p95/p99 are per page, in milliseconds, wall clock.

Examples::

    .venv/bin/python bench/delivery_log.py --quick                # 200k attempts, SQLite
    .venv/bin/python bench/delivery_log.py                        # 10M attempts, SQLite
    .venv/bin/python bench/delivery_log.py --store postgres       # 10M attempts, PostgreSQL
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.store import DeliveryFilter  # noqa: E402
from hub.store.sql import SqlStore  # noqa: E402

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TABLES = ("events", "runs", "steps", "attempts")
SINKS = [
    ("books", 40),
    ("crm", 25),
    ("desk", 15),
    ("salesforce", 10),
    ("webhook", 6),
    ("sheets", 4),
]
SOURCES = [("razorpay-main", 60), ("payu", 20), ("whatsapp", 15), ("bank", 5)]
RECIPES = [
    ("payment-to-books", 30),
    ("payment-to-crm", 20),
    ("refund-to-books", 10),
    ("whatsapp-to-desk", 15),
    ("bank-to-books", 10),
    ("settlement-to-books", 5),
    ("lead-to-salesforce", 6),
    ("payment-to-webhook", 4),
]
RARE_CONNECTION = "rare-sink"
RARE_RECIPE = "rare-recipe"
RARE_SHARE = 0.0005
SPAN = timedelta(days=90)
CHUNK = 200_000
CASE_BUDGET_S = 60.0  # stop repeating a filter after this long (it has failed the bar anyway)


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def iso(at: datetime) -> str:
    """The SQLite text form of a timestamp, exactly as ``UTCDateTime`` writes it."""
    return at.isoformat(timespec="microseconds")


# --------------------------------------------------------------------------- data


@dataclass
class Shape:
    """What was generated: enough to aim the queries at real values."""

    steps: int = 0
    attempts: int = 0
    dead: int = 0
    rare_connection: int = 0
    rare_recipe: int = 0
    first: datetime | None = None
    last: datetime | None = None
    sample_step_ids: list[str] | None = None


def _weighted(pairs: list[tuple[str, int]]) -> tuple[list[str], list[int]]:
    names = [name for name, _ in pairs]
    cum, total = [], 0
    for _, weight in pairs:
        total += weight
        cum.append(total)
    return names, cum


def _uuid(bits: int) -> str:
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def generate(
    attempts_wanted: int, seed: int, shape: Shape
) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Chunks of rows for every table (events, runs, steps, attempts), oldest first.

    Timestamps are ISO 8601 text in ``UTCDateTime``'s fixed-width form, which
    SQLite stores as is and PostgreSQL's COPY parses into ``timestamptz``.
    """
    rng = random.Random(seed)
    bits = rng.getrandbits
    sinks, sink_cum = _weighted(SINKS)
    sources, source_cum = _weighted(SOURCES)
    recipes, recipe_cum = _weighted(RECIPES)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - SPAN
    steps_total = max(1, attempts_wanted // 2)  # ~2 attempts per step on average
    tick = SPAN / steps_total
    retry = timedelta(seconds=30)
    shape.first, shape.sample_step_ids = start, []
    made_attempts = 0
    chunk: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
    i = 0
    while made_attempts < attempts_wanted:
        created = start + tick * i + timedelta(microseconds=rng.randrange(1000))
        at = iso(created)
        event_id, run_id, step_id = _uuid(bits(128)), _uuid(bits(128)), _uuid(bits(128))
        source = rng.choices(sources, cum_weights=source_cum)[0]
        sink = rng.choices(sinks, cum_weights=sink_cum)[0]
        recipe = rng.choices(recipes, cum_weights=recipe_cum)[0]
        if rng.random() < RARE_SHARE:
            sink = RARE_CONNECTION
            shape.rare_connection += 1
        if rng.random() < RARE_SHARE:
            recipe = RARE_RECIPE
            shape.rare_recipe += 1
        roll = rng.random()
        if roll < 0.93:
            status, tries = "succeeded", 1 if rng.random() < 0.8 else rng.randint(2, 3)
        elif roll < 0.96:
            status, tries = "dead", rng.randint(5, 8)
            shape.dead += 1
        elif roll < 0.98:
            status, tries = "pending", rng.randint(1, 2)
        elif roll < 0.99:
            status, tries = "skipped", 1
        else:
            status, tries = "cancelled", 1
        payment = f"pay_{bits(56):014x}"
        kind = "payment.captured" if source != "whatsapp" else "message.received"
        amount = rng.randint(100, 99999)
        chunk["events"].append(
            (
                event_id,
                source,
                source.split("-")[0],
                kind,
                f"/connections/{source}",
                payment,
                at,
                f"{kind}:{payment}",
                f'{{"payment_id": "{payment}", "amount": "{amount}.00", "currency": "INR"}}',
                f'{{"entity": "event", "event": "{kind}", "payload": {{"id": "{payment}"}}}}',
                at,
                "https://hub.dev/schemas/payment.json",
            )
        )
        run_status = {
            "succeeded": "succeeded",
            "dead": "dead",
            "pending": "running",
            "skipped": "succeeded",
        }.get(status, "cancelled")
        error = (
            "HTTP 500 from Zoho Books: internal error" if status in ("dead", "pending") else None
        )
        updated = iso(created + retry * tries)
        chunk["runs"].append((run_id, event_id, recipe, run_status, "{}", error, at, updated))
        chunk["steps"].append(
            (
                step_id,
                run_id,
                "deliver",
                0,
                f"{sink}.upsert",
                sink,
                f"{bits(128):032x}",
                status,
                tries,
                iso(created + timedelta(minutes=5)) if status == "pending" else None,
                None,
                None,
                '{"id": "1"}' if status == "succeeded" else None,
                error,
                at,
                updated,
            )
        )
        request = (
            f'POST https://www.zohoapis.in/books/v3/invoices\n{{"reference_number": "{payment}"}}'
        )
        for n in range(1, tries + 1):
            ok = n == tries and status in ("succeeded", "skipped")
            outcome = "ok" if ok else "skipped" if status == "skipped" else "transient"
            if n == tries and status == "dead" and rng.random() < 0.3:
                outcome = "permanent"
            code = 200 if ok else 500
            chunk["attempts"].append(
                (
                    step_id,
                    run_id,
                    n,
                    at if n == 1 else iso(created + retry * (n - 1)),
                    round(rng.uniform(20, 900), 1),
                    outcome,
                    code,
                    None if ok else "HTTP 500 from Zoho Books: internal error",
                    request,
                    f'{code} ({rng.randint(20, 900)} ms)\n{{"code": {0 if ok else 1}}}',
                )
            )
        made_attempts += tries
        if len(shape.sample_step_ids) < 2000 and rng.random() < 0.01:
            shape.sample_step_ids.append(step_id)
        i += 1
        if len(chunk["attempts"]) >= CHUNK:
            yield chunk
            chunk = {t: [] for t in TABLES}
    shape.steps, shape.attempts, shape.last = i, made_attempts, start + tick * i
    if chunk["attempts"]:
        yield chunk


COLUMNS = {
    "events": "id, connection, connector, type, source, subject, time, idempotency_key, data, "
    "raw, received_at, dataschema",
    "runs": "id, event_id, recipe, status, outputs, last_error, created_at, updated_at",
    "steps": "id, run_id, step_id, step_index, action, connection, idempotency_key, status, "
    "attempts, due_at, lease_until, lease_owner, output, last_error, created_at, updated_at",
    "attempts": "step_row_id, run_id, number, started_at, duration_ms, outcome, status_code, "
    "error, request, response",
}


# --------------------------------------------------------------------------- loading


def load_sqlite(db: Path, attempts: int, seed: int, shape: Shape) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")  # this connection only, for the load
        conn.execute("PRAGMA cache_size=-262144")
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join(repr(t) for t in TABLES)})"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        done = 0
        for chunk in generate(attempts, seed, shape):
            conn.execute("BEGIN")
            for table in TABLES:
                rows = chunk[table]
                marks = ", ".join("?" * len(rows[0])) if rows else ""
                if rows:
                    conn.executemany(
                        f"INSERT INTO {table} ({COLUMNS[table]}) VALUES ({marks})", rows
                    )
            conn.execute("COMMIT")
            done += len(chunk["attempts"])
            log(f"  loaded {done:,} attempts")
        log(f"re-creating {len(indexes)} indexes")
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def load_postgres(url: str, attempts: int, seed: int, shape: Shape) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers during the load
        names = ", ".join(f"'{t}'" for t in TABLES)
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            f"WHERE i.tablename IN ({names}) AND i.indexname NOT IN "
            "(SELECT conname FROM pg_constraint)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        done = 0
        for chunk in generate(attempts, seed, shape):
            with conn.transaction():
                for table in TABLES:
                    with conn.cursor().copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                        for row in chunk[table]:
                            copy.write_row(row)
            done += len(chunk["attempts"])
            log(f"  loaded {done:,} attempts")
        log(f"re-creating {len(indexes)} indexes")
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("ANALYZE")


@contextlib.contextmanager
def scratch_postgres(keep: bool) -> Iterator[str]:
    """A fresh database on the local server, dropped afterwards (unless ``keep``)."""
    import psycopg

    name = f"hub_bench_{os.getpid()}_{random.randrange(1 << 30):x}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        if keep:
            log(f"kept PostgreSQL database {name}")
        else:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- queries


@dataclass
class Case:
    """One filter as ops would use it; ``make`` varies it per repetition."""

    name: str
    make: Callable[[random.Random, Shape], DeliveryFilter]
    pages: int = 1  # follow the keyset cursor this many pages (1 = first page only)


def _filter(**kwargs: Any) -> DeliveryFilter:
    known = {f.name for f in fields(DeliveryFilter)}
    return DeliveryFilter(**{k: v for k, v in kwargs.items() if k in known})


def _window(rng: random.Random, shape: Shape, hours: float) -> dict[str, datetime]:
    assert shape.first is not None and shape.last is not None
    span = (shape.last - shape.first).total_seconds() - hours * 3600
    since = shape.first + timedelta(seconds=rng.uniform(0, max(span, 0)))
    return {"since": since, "until": since + timedelta(hours=hours)}


def cases() -> list[Case]:
    return [
        Case("newest page (no filter)", lambda r, s: _filter()),
        Case("status=dead", lambda r, s: _filter(status="dead")),
        Case("status=pending", lambda r, s: _filter(status="pending")),
        Case("connection=books", lambda r, s: _filter(connection="books")),
        Case("connection=rare (0.05%)", lambda r, s: _filter(connection=RARE_CONNECTION)),
        Case("recipe=payment-to-crm", lambda r, s: _filter(recipe="payment-to-crm")),
        Case("recipe=rare (0.05%)", lambda r, s: _filter(recipe=RARE_RECIPE)),
        Case("1-hour window, mid-history", lambda r, s: _filter(**_window(r, s, 1))),
        Case(
            "7-day window, status=dead", lambda r, s: _filter(status="dead", **_window(r, s, 168))
        ),
        Case(
            "status=dead + connection=books",
            lambda r, s: _filter(status="dead", connection="books"),
        ),
        Case(
            "recipe + 1-day window",
            lambda r, s: _filter(recipe="refund-to-books", **_window(r, s, 24)),
        ),
        Case("keyset: pages 2-10, no filter", lambda r, s: _filter(), pages=10),
        Case("keyset: pages 2-5, status=dead", lambda r, s: _filter(status="dead"), pages=5),
    ]


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(url: str, shape: Shape, repeat: int, seed: int) -> dict[str, Any]:
    store = SqlStore(url)
    await store.open()
    rng = random.Random(seed)
    results: dict[str, Any] = {}
    try:
        for case in cases():
            timings: list[float] = []
            rows = 0
            case_started = time.perf_counter()
            for _ in range(repeat):
                if time.perf_counter() - case_started > CASE_BUDGET_S and len(timings) >= 3:
                    break  # a pathologically slow filter: enough samples to say so
                flt = case.make(rng, shape)
                for page in range(case.pages):
                    t0 = time.perf_counter()
                    found, cursor = await store.list_deliveries(flt)
                    elapsed = (time.perf_counter() - t0) * 1000
                    if case.pages == 1 or page > 0:  # keyset cases time the next pages
                        timings.append(elapsed)
                        rows += len(found)
                    if cursor is None:
                        break
                    flt = _replace(flt, before=cursor)
            results[case.name] = _stats(timings, rows)
            row = results[case.name]
            log(f"  {case.name:<34} p50 {row['p50_ms']:7.2f}  p99 {row['p99_ms']:7.2f} ms")
        detail: list[float] = []
        for step_id in (shape.sample_step_ids or [])[:repeat]:
            t0 = time.perf_counter()
            await store.get_delivery(step_id)
            detail.append((time.perf_counter() - t0) * 1000)
        if detail:
            results["one delivery with its attempts"] = _stats(detail, len(detail))
        if hasattr(store, "count_deliveries"):
            counts = []
            for _ in range(max(3, repeat // 10)):
                t0 = time.perf_counter()
                await store.count_deliveries(_filter(status="dead"))
                counts.append((time.perf_counter() - t0) * 1000)
            results["count_deliveries(status=dead) [info]"] = _stats(counts, len(counts))
    finally:
        await store.close()
    return results


def _replace(flt: DeliveryFilter, **changes: Any) -> DeliveryFilter:
    from dataclasses import replace

    return replace(flt, **changes)


def _stats(timings: list[float], rows: int) -> dict[str, float]:
    return {
        "n": len(timings),
        "rows": rows,
        "p50_ms": statistics.median(timings) if timings else float("nan"),
        "p95_ms": pct(timings, 95) if timings else float("nan"),
        "p99_ms": pct(timings, 99) if timings else float("nan"),
        "max_ms": max(timings) if timings else float("nan"),
    }


# --------------------------------------------------------------------------- main


def render(report: dict[str, Any]) -> str:
    shape = report["shape"]
    lines = [
        f"store: {report['store']}  attempts: {shape['attempts']:,}  steps: {shape['steps']:,}  "
        f"(dead {shape['dead']:,}, rare connection {shape['rare_connection']:,}, "
        f"rare recipe {shape['rare_recipe']:,}); load {report['load_s']:.0f} s, "
        f"size {report['size_mb']:,.0f} MB",
        f"up to {report['repeat']} repetitions per filter (fewer if one takes over "
        f"{CASE_BUDGET_S:.0f} s); list_deliveries(limit=50), wall ms per page",
        "",
        f"{'filter':<38} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  {'n':>4} {'rows':>7}",
        "-" * 90,
    ]
    worst = 0.0
    for name, row in report["queries"].items():
        if "[info]" not in name:
            worst = max(worst, row["p99_ms"])
        lines.append(
            f"{name:<38} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['p99_ms']:>8.2f} "
            f"{row['max_ms']:>8.2f}  {row['n']:>4} {row['rows']:>7}"
        )
    lines.append("")
    lines.append(f"worst page p99: {worst:.1f} ms   (bar: <= 50 ms)")
    return "\n".join(lines)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time filtered delivery-log pages (list_deliveries) over a big store."
    )
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--attempts", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=100, help="repetitions per filter")
    parser.add_argument("--quick", action="store_true", help="200k attempts, 30 repetitions")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--workdir", type=Path, default=None, help="where the SQLite file goes")
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--existing",
        metavar="URL",
        help="time the queries on a store a previous --keep run left (no loading)",
    )
    args = parser.parse_args(argv)
    if args.existing:
        shape = shape_of(args.existing)
        queries = asyncio.run(measure(args.existing, shape, args.repeat, args.seed))
        report = {
            "store": args.existing.split(":", 1)[0],
            "repeat": args.repeat,
            "load_s": 0.0,
            "size_mb": float("nan"),
            "shape": {k: getattr(shape, k) for k in ("steps", "attempts", "dead")}
            | {"rare_connection": 0, "rare_recipe": 0},
            "queries": queries,
        }
        print(json.dumps(report, indent=2) if args.json else render(report))
        return 0
    if args.quick:
        args.attempts, args.repeat = 200_000, 30
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="hub-dlog-", dir=args.workdir))
    need = args.attempts * 2000  # bytes, measured: ~1,750 per attempt with its share of the rest
    if args.store == "sqlite" and free_bytes(tmp) < 2 * need:
        log(f"not enough free disk in {tmp}: need ~{2 * need / 1e9:.1f} GB")
        return 2
    shape = Shape()
    try:
        with contextlib.ExitStack() as stack:
            if args.store == "postgres":
                url = stack.enter_context(scratch_postgres(args.keep))
            else:
                url = f"sqlite:///{tmp / 'hub.db'}"
            asyncio.run(_migrate(url))
            log(f"loading {args.attempts:,} attempts into {args.store}")
            t0 = time.perf_counter()
            if args.store == "postgres":
                load_postgres(url.replace("+psycopg", ""), args.attempts, args.seed, shape)
            else:
                load_sqlite(tmp / "hub.db", args.attempts, args.seed, shape)
            load_s = time.perf_counter() - t0
            size = _size_mb(url, tmp)
            log(f"loaded in {load_s:.0f} s ({size:,.0f} MB); timing queries")
            queries = asyncio.run(measure(url, shape, args.repeat, args.seed))
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "store": args.store,
        "repeat": args.repeat,
        "load_s": load_s,
        "size_mb": size,
        "shape": {
            k: getattr(shape, k)
            for k in ("steps", "attempts", "dead", "rare_connection", "rare_recipe")
        },
        "queries": queries,
    }
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


def shape_of(url: str) -> Shape:
    """What an existing store holds, read back (for ``--existing``)."""
    import sqlalchemy as sa

    from hub.store.rows import aware
    from hub.store.tables import attempts, steps

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            first, last, count = conn.execute(
                sa.select(
                    sa.func.min(steps.c.created_at),
                    sa.func.max(steps.c.created_at),
                    sa.func.count(),
                )
            ).one()
            dead = conn.execute(
                sa.select(sa.func.count()).select_from(steps).where(steps.c.status == "dead")
            ).scalar_one()
            tries = conn.execute(sa.select(sa.func.count()).select_from(attempts)).scalar_one()
            sample = list(
                conn.execute(sa.select(steps.c.id).order_by(steps.c.id).limit(200)).scalars()
            )
    finally:
        engine.dispose()
    return Shape(
        steps=count,
        attempts=tries,
        dead=dead,
        first=aware(first),
        last=aware(last),
        sample_step_ids=sample,
    )


async def _migrate(url: str) -> None:
    store = SqlStore(url)
    await store.open()
    await store.close()


def _size_mb(url: str, tmp: Path) -> float:
    if url.startswith("sqlite"):
        return sum(p.stat().st_size for p in tmp.glob("hub.db*")) / 1e6
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return float(row[0]) / 1e6 if row else float("nan")


if __name__ == "__main__":
    sys.exit(main())
