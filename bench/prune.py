"""What retention costs the webhooks that keep arriving: ingest latency while 200k rows are pruned.

    .venv/bin/python bench/prune.py                      # SQLite in a temp folder
    .venv/bin/python bench/prune.py --store postgresql   # a fresh schema on 127.0.0.1:5432/test
    .venv/bin/python bench/prune.py --events 10000 --json

Fills a store with month-old finished work (per event: one run, one step, two
attempts, so 40,000 events are 200,000 rows), then sends single-event ingests
at a steady rate (one every 5 ms, as webhooks arrive) first alone and then
while ``Pruner.run_once`` deletes all of it with the default settings, and
prints the ingest latency percentiles of both phases beside the prune's own
figures. Nothing is asserted: tests/hub/test_retention.py has the test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.config import RetentionConfig  # noqa: E402
from hub.events import Event  # noqa: E402
from hub.retention import Pruner  # noqa: E402
from hub.store import IngestItem  # noqa: E402
from hub.store.sql import SqlStore  # noqa: E402
from hub.store.tables import attempts, events, runs, steps  # noqa: E402

OLD = datetime.now(UTC) - timedelta(days=60)
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def fill(url: str, n_events: int) -> int:
    """Insert ``n_events`` old finished events with their runs, steps and attempts; rows made."""
    engine = sa.create_engine(url)
    made = 0
    try:
        for start in range(0, n_events, 5000):
            ev, rn, st, at = [], [], [], []
            for n in range(start, min(n_events, start + 5000)):
                eid, rid, sid = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
                ev.append(
                    {
                        "id": eid,
                        "connection": "pay-main",
                        "connector": "razorpay",
                        "type": "payment.captured",
                        "source": "razorpay",
                        "subject": f"pay_{n}",
                        "time": OLD,
                        "idempotency_key": f"old{n}",
                        "data": {"amount": "10.00", "currency": "INR", "n": n},
                        "raw": {"id": f"old{n}", "payload": "x" * 400},
                        "received_at": OLD,
                        "dataschema": "https://hub/schemas/payment.json",
                    }
                )
                rn.append(
                    {
                        "id": rid,
                        "event_id": eid,
                        "recipe": "r1",
                        "status": "succeeded",
                        "outputs": {},
                        "created_at": OLD,
                        "updated_at": OLD,
                    }
                )
                st.append(
                    {
                        "id": sid,
                        "run_id": rid,
                        "step_id": "s1",
                        "step_index": 0,
                        "action": "crm.upsert_contact",
                        "connection": "crm",
                        "idempotency_key": f"old{n}:r1:s1",
                        "status": "succeeded",
                        "attempts": 2,
                        "created_at": OLD,
                        "updated_at": OLD,
                    }
                )
                for number, outcome in ((1, "transient"), (2, "ok")):
                    at.append(
                        {
                            "step_row_id": sid,
                            "run_id": rid,
                            "number": number,
                            "started_at": OLD,
                            "duration_ms": 120.0,
                            "outcome": outcome,
                            "request": "POST /crm/v2/Contacts/upsert " + "x" * 200,
                        }
                    )
            with engine.begin() as conn:
                for table, rows in ((events, ev), (runs, rn), (steps, st), (attempts, at)):
                    conn.execute(sa.insert(table), rows)
            made += len(ev) + len(rn) + len(st) + len(at)
    finally:
        engine.dispose()
    return made


def item(key: str) -> IngestItem:
    return IngestItem(
        Event(
            type="payment.captured",
            subject=key,
            idempotency_key=key,
            time=datetime.now(UTC),
            data={"amount": "10.00", "currency": "INR"},
            raw={"id": key},
            dataschema="https://hub/schemas/payment.json",
        ).bind("pay-main", "razorpay")
    )


async def ingest_while(
    store: SqlStore, busy: asyncio.Future[Any] | None, seconds: float
) -> list[float]:
    """Ingest one event every 5 ms until ``busy`` is done (or for ``seconds``); latencies."""
    out: list[float] = []
    deadline = time.monotonic() + seconds
    while (busy is not None and not busy.done()) or (busy is None and time.monotonic() < deadline):
        t0 = time.perf_counter()
        await store.ingest([item(f"new-{uuid.uuid4().hex}")])
        out.append(time.perf_counter() - t0)
        await asyncio.sleep(0.005)
    return out


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000, 1)

    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def measure(url: str, n_events: int) -> dict[str, Any]:
    rows = fill(url, n_events)
    store = SqlStore(url)
    await store.open()
    try:
        alone = await ingest_while(store, None, 3.0)
        pruner = Pruner(store, RetentionConfig())
        t0 = time.monotonic()
        task = asyncio.ensure_future(pruner.run_once())
        during = await ingest_while(store, task, 0)
        report = await task
        seconds = time.monotonic() - t0
    finally:
        await store.close()
    return {
        "store": sa.make_url(url).get_backend_name(),
        "rows_filled": rows,
        "rows_pruned": report.counts.rows,
        "prune_seconds": round(seconds, 2),
        "rows_per_second": round(report.counts.rows / seconds),
        "batches": report.batches,
        "slowest_batch_ms": round(report.slowest_batch * 1000, 1),
        "ingest_alone": summary(alone),
        "ingest_during_prune": summary(during),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--events", type=int, default=40_000, help="old events (x5 rows)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        schema = f"bench_prune_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
        if args.store == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'hub.db'}"
        else:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            url = (
                sa.make_url(PG)
                .update_query_dict({"options": f"-csearch_path={schema}"})
                .render_as_string(hide_password=False)
            )
        try:
            # The first open creates the tables; close it so fill() has the store to itself.
            asyncio.run(_migrate(url))
            result = asyncio.run(measure(url, args.events))
        finally:
            if args.store == "postgresql":
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['store']}: pruned {result['rows_pruned']:,} of {result['rows_filled']:,} rows in "
        f"{result['prune_seconds']} s ({result['rows_per_second']:,} rows/s, {result['batches']} "
        f"batches, slowest {result['slowest_batch_ms']} ms)"
    )
    for phase in ("ingest_alone", "ingest_during_prune"):
        s = result[phase]
        print(
            f"  {phase.replace('_', ' '):22} {s['count']:>6} ingests  p50 {s['p50_ms']:>6} ms  "
            f"p99 {s['p99_ms']:>6} ms  max {s['max_ms']:>6} ms"
        )


async def _migrate(url: str) -> None:
    store = SqlStore(url)
    await store.open()
    await store.close()


if __name__ == "__main__":
    main()
