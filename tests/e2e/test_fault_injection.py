"""Exactly once under faults: 1,000 events, four recipes, four sinks.

Real HTTP servers on 127.0.0.1: the hub (SQLite store, inline engine), the
Zoho Books sandbox (contacts + customer payments), the Zoho Desk sandbox
(tickets + comments), the Salesforce sandbox (cases) and the Standard
Webhooks receiver (``webhook_out``). Nothing is mocked. The recipes:
captured payment -> Books contact + payment (the shipped recipe), captured
payment -> signed webhook to an "ERP", failed payment -> Desk ticket + a
comment on it, failed payment -> Salesforce case.

While 1,000 distinct Razorpay events (800 ``payment.captured`` from 200
customers, 200 ``payment.failed``; 10% delivered twice) go through
``/hooks/razorpay-main``, 50 at a time, a background task keeps the sandboxes'
fault queues (``POST /__sandbox__/faults``) fed from a seeded RNG, so that
about ``FAULT_RATE`` of all calls to the write routes fail: 500/502/503, 429
with ``Retry-After`` 0 or 1, a timeout after the sandbox committed, a
connection reset (with and without the write applied). ``HUB_FAULT_SEED``
picks another seed.

Why the retries cannot run out: a step attempt fails only when its write is
faulted (probability about p = 0.2, each call independently: the feeder never
builds up a backlog, see ``feed_faults``); each step may try ``MAX_ATTEMPTS`` =
12 times, so P(one step exhausts its retries) ~ 0.2**12 ~ 4e-9, and over the
3,000 steps of the run ~ 1e-5. (Timeouts on the search calls under load add a
little to p; 0.3**12 ~ 5e-7 per step would still be negligible.) A dead letter
here is therefore a bug, not bad luck.

What proves "exactly once": the sandboxes' own records. Books holds one
payment per captured event (unique reference numbers, each naming its own
Razorpay payment id, each against the right customer's contact) and one
contact per customer; the receiver stored one delivery per captured event
although it received more POSTs than that; Desk holds one ticket and one
comment per failed event, Salesforce one case. The attempts table shows the
retries that the faults caused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
import yaml
from aiohttp import web

from connectors.salesforce.sandbox import SandboxState as SalesforceState
from connectors.salesforce.sandbox import create_sandbox_app as salesforce_app
from connectors.webhook_out.sandbox import SANDBOX_SECRET
from connectors.webhook_out.sandbox import SandboxState as ReceiverState
from connectors.webhook_out.sandbox import create_sandbox_app as receiver_app
from connectors.zoho_books.sandbox import SandboxState as BooksState
from connectors.zoho_books.sandbox import create_sandbox_app as books_app
from connectors.zoho_desk.sandbox import SandboxState as DeskState
from connectors.zoho_desk.sandbox import create_sandbox_app as desk_app
from tests.helpers import RECIPE, RunningHub, hub_config, start_hub

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("HUB_FAULT_SEED", "20261122"))
CAPTURED = 800
FAILED = 200
CUSTOMERS = 200  # captured payments cycle through them: four payments per contact
REDELIVERED = 0.10
IN_FLIGHT = 50
FAULT_RATE = 0.2
QUEUED = 2  # faults waiting per route when it is quiet
MAX_ATTEMPTS = 12
CALL_TIMEOUT = 0.5  # the hub's timeout for one sink call
STALL = 1.0  # how long a commit_then_timeout fault holds the answer back
SETTLE_TIMEOUT = 180.0

RETRY = {"max_attempts": MAX_ATTEMPTS, "initial": 0.03, "max_delay": 0.5, "jitter": 0.02}
PAY_ID = re.compile(r"pay_Fi[A-Za-z]+\d+")


# --- sandboxes --------------------------------------------------------------------------


@dataclass
class Served:
    url: str
    runner: web.AppRunner


async def _serve(app: web.Application) -> Served:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    return Served(f"http://127.0.0.1:{port}", runner)


@dataclass
class Sinks:
    books: BooksState
    desk: DeskState
    receiver: ReceiverState
    salesforce: SalesforceState
    books_url: str
    desk_url: str
    receiver_url: str
    salesforce_url: str


@pytest.fixture
async def sinks() -> AsyncIterator[Sinks]:
    books = BooksState(requests_per_minute=10_000_000)
    desk = DeskState(credits_per_day=10_000_000)
    receiver = ReceiverState(tolerance=3600)
    salesforce = SalesforceState(api_limit=10_000_000)
    served = [await _serve(books_app(books)), await _serve(desk_app(desk))]
    served += [await _serve(receiver_app(receiver)), await _serve(salesforce_app(salesforce))]
    yield Sinks(books, desk, receiver, salesforce, *(s.url for s in served))
    for s in served:
        await s.runner.cleanup()


# --- recipes -----------------------------------------------------------------------------


def _write_recipe(tmp: Path, doc: dict[str, Any]) -> Path:
    for step in doc["steps"]:
        step["retry"] = dict(RETRY)
    path = tmp / f"{doc['name']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def recipes(tmp: Path) -> list[Path]:
    books = yaml.safe_load(RECIPE.read_text())  # the shipped recipe, with fast retries
    books["name"] = "fi-payment-to-books"
    forward = {
        "version": 1,
        "name": "fi-payment-forward",
        "description": "Forward every captured payment to the ERP as a signed webhook.",
        "trigger": {"event": "payment.captured"},
        "steps": [
            {
                "id": "forward",
                "use": "webhook_out.send",
                "connection": "erp",
                "with": {"payload": "{{ event.data }}", "event_type": "payment.captured"},
            }
        ],
    }
    desk = {
        "version": 1,
        "name": "fi-failed-to-desk",
        "description": "A failed payment opens a Desk ticket, then notes the gateway's reason on it.",
        "trigger": {"event": "payment.failed", "where": 'event.data.gateway == "razorpay"'},
        "steps": [
            {
                "id": "ticket",
                "use": "zoho_desk.create_ticket",
                "connection": "desk",
                "with": {
                    "subject": "Payment failed: {{ event.data.payment_id }}",
                    "description": "{{ event.data.error.description }}",
                    "priority": "High",
                    "thread_key": "payfail:{{ event.data.payment_id }}",
                    "contact": {
                        "email": "{{ event.data.customer.email }}",
                        "name": "{{ event.data.customer.name }}",
                        "phone": "{{ event.data.customer.phone }}",
                    },
                },
            },
            {
                "id": "reason",
                "use": "zoho_desk.add_to_conversation",
                "connection": "desk",
                "with": {
                    "thread_key": "payfail:{{ event.data.payment_id }}",
                    "content": "Gateway reason for {{ event.data.payment_id }}: "
                    "{{ event.data.error.reason }} ({{ event.data.error.code }})",
                    "contact": {"email": "{{ event.data.customer.email }}"},
                },
            },
        ],
    }
    case = {
        "version": 1,
        "name": "fi-failed-to-salesforce",
        "description": "A failed payment also opens a Service Cloud case.",
        "trigger": {"event": "payment.failed"},
        "steps": [
            {
                "id": "case",
                "use": "salesforce.create_case",
                "connection": "salesforce",
                "with": {
                    "Subject": "Payment failed: {{ event.data.payment_id }}",
                    "Description": "{{ event.data.error.description }}",
                    "Origin": "Web",
                    "Priority": "High",
                    "SuppliedName": "{{ event.data.customer.name }}",
                    "SuppliedEmail": "{{ event.data.customer.email }}",
                },
            }
        ],
    }
    return [_write_recipe(tmp, doc) for doc in (books, forward, desk, case)]


# --- traffic -----------------------------------------------------------------------------


def _customer(i: int) -> dict[str, str]:
    return {
        "name": f"Fault Customer {i:03d}",
        "email": f"customer{i:03d}@example.in",
        "contact": f"+9198450{i:05d}",
    }


def _payment_body(
    pay_id: str, n: int, status: str, who: dict[str, str], rng: random.Random
) -> bytes:
    amount = rng.choice([49900, 99900, 149900, 249900, 1000000])
    created = int(time.time()) - rng.randint(60, 3600)
    failed = status == "failed"
    entity = {
        "id": pay_id,
        "entity": "payment",
        "amount": amount,
        "currency": "INR",
        "status": status,
        "order_id": f"order_Fi{n:010d}",
        "invoice_id": None,
        "international": False,
        "method": "netbanking" if failed else "upi",
        "amount_refunded": 0,
        "refund_status": None,
        "captured": not failed,
        "description": f"Order #F-{n}",
        "card_id": None,
        "bank": "HDFC" if failed else None,
        "wallet": None,
        "vpa": None if failed else f"customer{n}@okaxis",
        "email": who["email"],
        "contact": who["contact"],
        "notes": {"name": who["name"]},
        "fee": None if failed else amount * 236 // 10000,
        "tax": None if failed else amount * 36 // 10000,
        "error_code": "BAD_REQUEST_ERROR" if failed else None,
        "error_description": "Payment was cancelled by the customer." if failed else None,
        "error_source": "customer" if failed else None,
        "error_step": "payment_authentication" if failed else None,
        "error_reason": "payment_cancelled" if failed else None,
        "acquirer_data": (
            {"bank_transaction_id": None}
            if failed
            else {"rrn": f"5315{n:08d}", "upi_transaction_id": f"AXL{n:030d}"}
        ),
        "created_at": created,
    }
    body = {
        "entity": "event",
        "account_id": "acc_FaultInjection01",
        "event": f"payment.{status}",
        "contains": ["payment"],
        "payload": {"payment": {"entity": entity}},
        "created_at": created + 8,
    }
    return json.dumps(body).encode()


@dataclass
class Traffic:
    captured: dict[str, str]  # payment id -> customer email
    failed: dict[str, str]
    deliveries: list[bytes]  # every POST, redeliveries included, in sending order


def traffic(rng: random.Random) -> Traffic:
    captured: dict[str, str] = {}
    failed: dict[str, str] = {}
    bodies: list[bytes] = []
    for n in range(CAPTURED):
        who = _customer(n % CUSTOMERS)
        pay_id = f"pay_FiCap{n:08d}"
        captured[pay_id] = who["email"]
        bodies.append(_payment_body(pay_id, n, "captured", who, rng))
    for n in range(FAILED):
        who = _customer(CUSTOMERS + n)  # customers whose payment failed: not in Books
        pay_id = f"pay_FiFail{n:08d}"
        failed[pay_id] = who["email"]
        bodies.append(_payment_body(pay_id, CAPTURED + n, "failed", who, rng))
    again = rng.sample(bodies, int(len(bodies) * REDELIVERED))
    deliveries = bodies + again
    rng.shuffle(deliveries)
    return Traffic(captured, failed, deliveries)


async def send_all(hub: RunningHub, bodies: list[bytes]) -> Counter[int]:
    gate = asyncio.Semaphore(IN_FLIGHT)
    statuses: Counter[int] = Counter()

    async def one(body: bytes) -> None:
        async with gate:
            resp = await hub.post(body)
            statuses[resp.status] += 1

    await asyncio.gather(*(one(b) for b in bodies))
    return statuses


# --- faults ------------------------------------------------------------------------------


@dataclass
class Route:
    """One write route of one sandbox and the faults fed to it."""

    label: str
    base_url: str
    method: str
    path: str  # what the sandbox matches a fault against
    calls: Callable[[], int]  # requests the sandbox has seen on the route
    pending: Callable[[], int]  # faults queued for it, not yet consumed
    commit_reset: bool  # whether this sandbox's reset fault can apply the write first
    injected: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.injected.values())


def _fault(route: Route, rng: random.Random) -> tuple[str, dict[str, Any]]:
    base = {"method": route.method, "path": route.path}
    roll = rng.random()
    if roll < 0.30:
        status = rng.choice([500, 502, 503])
        return str(status), {**base, "status": status}
    if roll < 0.45:
        wait = rng.choice(["0", "0", "0", "1"])
        fault = {**base, "status": 429, "headers": {"Retry-After": wait}}
        return f"429 (Retry-After {wait})", fault
    if roll < 0.70:
        return "commit_then_timeout", {**base, "kind": "commit_then_timeout", "delay": STALL}
    if roll < 0.85 and route.commit_reset:
        return "reset after commit", {**base, "kind": "reset", "commit": True}
    return "reset", {**base, "kind": "reset"}


async def feed_faults(
    http: aiohttp.ClientSession, routes: list[Route], rng: random.Random, stop: asyncio.Event
) -> None:
    """Every 100 ms, queue a fault for each new call to a route with probability ``FAULT_RATE``.

    A route's queue holds at most ``QUEUED`` faults plus one per two calls of
    the last tick, and a fault that finds no room is dropped, not owed: a
    backlog would otherwise land back to back on the last few steps of the
    run, which are then the only callers, and turn 20% into a certain failure.
    """
    seen = {r.label: 0 for r in routes}
    upfront = {r.label: 2 for r in routes}  # a few faults queued before the first event
    while not stop.is_set():
        for route in routes:
            calls = route.calls()
            new, seen[route.label] = calls - seen[route.label], calls
            hits = upfront.pop(route.label, 0) + sum(rng.random() < FAULT_RATE for _ in range(new))
            room = QUEUED + new // 2 - route.pending()
            batch = [_fault(route, rng) for _ in range(min(hits, room))]
            if not batch:
                continue
            async with http.post(
                f"{route.base_url}/__sandbox__/faults", json=[f for _, f in batch]
            ) as resp:
                assert resp.status == 200, await resp.text()
            route.injected.update(kind for kind, _ in batch)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


def routes_of(s: Sinks) -> list[Route]:
    def pending(state: Any, path: str) -> Callable[[], int]:
        return lambda: sum(1 for f in state.faults if f.path == path)

    def calls(state: Any, key: str) -> Callable[[], int]:
        return lambda: int(state.by_route.get(key, 0))

    comments = "/api/v1/tickets/{ticket_id}/comments"
    table = [
        ("books contacts", s.books_url, s.books, "/books/v3/contacts", True),
        ("books payments", s.books_url, s.books, "/books/v3/customerpayments", True),
        ("desk tickets", s.desk_url, s.desk, "/api/v1/tickets", True),
        ("desk comments", s.desk_url, s.desk, comments, True),
        ("erp webhooks", s.receiver_url, s.receiver, "/hooks/payments", False),
    ]
    routes = [
        Route(label, url, "POST", path, calls(state, f"POST {path}"), pending(state, path), commit)
        for label, url, state, path, commit in table
    ]
    upsert = "/services/data/{version}/sobjects/Case/{field}/{value}"
    routes.append(
        Route(
            "sf cases",
            s.salesforce_url,
            "PATCH",
            upsert,
            calls(s.salesforce, f"PATCH {upsert}"),
            pending(s.salesforce, upsert),
            True,
        )
    )
    return routes


# --- the test ----------------------------------------------------------------------------


def _query(store: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read straight from the store (SQLite file or PostgreSQL schema)."""
    engine = sa.create_engine(store)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def _attempt_counts(store: str) -> dict[tuple[str, str], int]:
    rows = _query(
        store,
        "SELECT s.connection, a.outcome, COUNT(*) FROM attempts a "
        "JOIN steps s ON s.id = a.step_row_id GROUP BY s.connection, a.outcome",
    )
    return {(c, o): n for c, o, n in rows}


def _unfinished(store: str) -> list[tuple[Any, ...]]:
    """Steps that did not succeed: (step, connection, status, attempts, last error)."""
    return _query(
        store,
        "SELECT step_id, connection, status, attempts, last_error FROM steps "
        "WHERE status != 'succeeded'",
    )


def _by_payment_id(
    rows: list[dict[str, Any]], text: str = "description"
) -> list[tuple[str, dict[str, Any]]]:
    """(Razorpay payment id named in the row's ``text``, row) for each row that names one."""
    return [(m.group(), row) for row in rows if (m := PAY_ID.search(str(row[text])))]


def _hub_config(tmp: Path, s: Sinks) -> dict[str, Any]:
    config = hub_config(
        tmp,
        s.books_url,
        recipes(tmp),
        books={"timeout": CALL_TIMEOUT},
        concurrency={"global_limit": 96, "per_connection": 24},
    )
    config["connections"]["desk"] = {
        "connector": "zoho_desk",
        "config": {
            "accounts_url": s.desk_url,
            "api_url": f"{s.desk_url}/api/v1",
            "org_id": "60001234567",
            "department_id": "7000000000101",
            "client_id": "1000.SANDBOX",
            "client_secret": "sandbox-secret",
            "refresh_token": "1000.sandbox.refresh",
            "timeout": CALL_TIMEOUT,
        },
    }
    config["connections"]["erp"] = {
        "connector": "webhook_out",
        "config": {
            "url": f"{s.receiver_url}/hooks/payments",
            "secret": SANDBOX_SECRET,
            "allow_insecure_http": True,
            "allow_private_networks": True,  # the receiver listens on 127.0.0.1
            "timeout": CALL_TIMEOUT,
        },
    }
    config["connections"]["salesforce"] = {
        "connector": "salesforce",
        "config": {
            "login_url": s.salesforce_url,
            "client_id": "3MVG9SANDBOX.hub.connected.app",
            "client_secret": "sandbox-consumer-secret",
            "refresh_token": "5Aep861sandbox.refresh.token",
            "timeout": CALL_TIMEOUT,
        },
    }
    return config


async def test_thousand_events_under_injected_faults_land_exactly_once(
    tmp_path: Path, http: aiohttp.ClientSession, sinks: Sinks
) -> None:
    rng = random.Random(SEED)
    sent = traffic(rng)
    routes = routes_of(sinks)
    stop = asyncio.Event()
    feeder = asyncio.create_task(feed_faults(http, routes, random.Random(SEED + 1), stop))
    await asyncio.sleep(0.15)  # faults queued before the first event arrives

    config = _hub_config(tmp_path, sinks)
    hub: RunningHub | None = None
    stuck: AssertionError | None = None
    try:
        hub = await start_hub(tmp_path, http, config)
        t0 = time.monotonic()
        statuses = await send_all(hub, sent.deliveries)
        ingress_s = time.monotonic() - t0
        runs = 2 * len(sent.captured) + 2 * len(sent.failed)
        try:
            await hub.settled(runs, timeout=SETTLE_TIMEOUT)
        except AssertionError as exc:  # reported below, after the summary
            stuck = exc
        settle_s = time.monotonic() - t0
        stop.set()
        await feeder
        await asyncio.sleep(0.3)  # let a wrongly doubled write show itself
        counts = await hub.hub.store.counts()
    finally:
        stop.set()
        if not feeder.done():
            feeder.cancel()
        if hub is not None:
            await hub.stop()

    store = config["store"]
    attempts = _attempt_counts(store)
    books = sinks.books.snapshot()
    desk = sinks.desk.snapshot()
    erp = sinks.receiver.snapshot()
    cases = sinks.salesforce.snapshot()["cases"]
    payments, contacts = books["payments"], books["contacts"]
    tickets, comments = desk["tickets"], desk["comments"]
    received = erp["received"]
    records = {
        "books contacts": len(contacts),
        "books payments": len(payments),
        "desk tickets": len(tickets),
        "desk comments": len(comments),
        "erp webhooks": len(received),
        "sf cases": len(cases),
    }
    _print_summary(routes, attempts, counts, ingress_s, settle_s, records)

    # Ingress: every delivery acknowledged, each distinct event stored once.
    assert statuses == Counter({202: len(sent.deliveries)}), statuses
    assert counts["events"] == len(sent.captured) + len(sent.failed), counts
    assert stuck is None, f"runs did not settle: {stuck}; unfinished: {_unfinished(store)[:10]}"
    assert counts["runs_dead"] == 0, f"dead letters: {_unfinished(store)[:10]}"
    assert counts["runs_succeeded"] == runs, counts

    # The faults happened (at about the intended rate) and were retried through.
    faulted = sum(r.total - r.pending() for r in routes)
    calls = sum(r.calls() for r in routes)
    assert 0.12 <= faulted / calls <= 0.30, f"{faulted} of {calls} write calls faulted"
    assert all(r.total - r.pending() > 0 for r in routes), [(r.label, r.injected) for r in routes]
    transient = {c: n for (c, o), n in attempts.items() if o == "transient"}
    assert {"books", "desk", "erp", "salesforce"} <= set(transient), attempts

    # Books: one payment per captured event, against a contact that exists; one contact each.
    assert len(payments) == len(sent.captured), len(payments)
    assert len({p["reference_number"] for p in payments}) == len(payments)
    landed = Counter(pay_id for pay_id, _ in _by_payment_id(payments))
    assert set(landed) == set(sent.captured) and set(landed.values()) == {1}
    by_id = {c["contact_id"]: c for c in contacts}
    assert all(p["customer_id"] in by_id for p in payments)
    assert len(contacts) == len(set(sent.captured.values())) == CUSTOMERS
    assert {c["email"] for c in contacts} == set(sent.captured.values())
    owners = {pay_id: by_id[p["customer_id"]]["email"] for pay_id, p in _by_payment_id(payments)}
    assert owners == sent.captured, "a payment is booked against another customer's contact"

    # The ERP receiver: one stored delivery per captured event, from more POSTs than that.
    assert len(received) == len(sent.captured), len(received)
    assert len({r["webhook_id"] for r in received}) == len(received)
    assert {r["payload"]["payment_id"] for r in received} == set(sent.captured)
    assert erp["requests"]["by_route"]["POST /hooks/payments"] > len(received)

    # Desk: one ticket and one comment on it per failed event.
    assert len(tickets) == len(sent.failed), len(tickets)
    assert len({t["cf"]["cf_hub_key"] for t in tickets}) == len(tickets)
    assert {t["subject"].removeprefix("Payment failed: ") for t in tickets} == set(sent.failed)
    assert len(comments) == len(sent.failed), len(comments)
    assert Counter(c["ticketId"] for c in comments) == Counter({t["id"]: 1 for t in tickets})
    assert {pay_id for pay_id, _ in _by_payment_id(comments, "content")} == set(sent.failed)

    # Salesforce: one case per failed event, keyed by the step's idempotency key.
    assert len(cases) == len(sent.failed), len(cases)
    assert len({c["Hub_Key__c"] for c in cases}) == len(cases)
    assert {c["Subject"].removeprefix("Payment failed: ") for c in cases} == set(sent.failed)


def _print_summary(
    routes: list[Route],
    attempts: dict[tuple[str, str], int],
    counts: dict[str, int],
    ingress_s: float,
    settle_s: float,
    records: dict[str, int],
) -> None:
    print()
    print(f"ingress: all deliveries acknowledged in {ingress_s:.1f}s; settled in {settle_s:.1f}s")
    print(f"store: {counts}")
    print(f"{'route':16} {'calls':>6} {'faulted':>8} {'rate':>6} {'records':>8}  faults by kind")
    for r in routes:
        used = r.total - r.pending()
        calls = r.calls()
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(r.injected.items()))
        print(
            f"{r.label:16} {calls:>6} {used:>8} {used / max(calls, 1):>6.1%} "
            f"{records[r.label]:>8}  {kinds}"
        )
    faulted = sum(r.total - r.pending() for r in routes)
    calls = sum(r.calls() for r in routes)
    print(f"{'all writes':16} {calls:>6} {faulted:>8} {faulted / max(calls, 1):>6.1%}")
    print(f"{'connection':12} {'ok':>6} {'transient':>10} {'throttled':>10} {'permanent':>10}")
    for conn in sorted({c for c, _ in attempts}):
        row = [attempts.get((conn, o), 0) for o in ("ok", "transient", "throttled", "permanent")]
        print(f"{conn:12} {row[0]:>6} {row[1]:>10} {row[2]:>10} {row[3]:>10}")
