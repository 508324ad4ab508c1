"""``hub demo``: a newcomer's first run, end to end on the embedded default.

Starts the Zoho Books sandbox and a hub (SQLite, inline engine) on loopback,
sends signed Razorpay ``payment.captured`` webhooks (each twice, as providers
do), makes the sandbox fail once so a retry shows in the log, waits for every
delivery and prints the delivery log beside what landed in "Books".
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub.app import build_app, load_hub
from hub.config import load_config
from hub.registry import Registry
from hub.sandbox import build_sandbox_app, sandbox_base
from hub.store import DeliveryFilter

__all__ = ["run_demo", "sample_payment"]

DEMO_SECRET = "demo-webhook-secret"
NAMES = [
    "Ananya Rao",
    "Vikram Iyer",
    "Meera Nair",
    "Arjun Mehta",
    "Kavya Reddy",
    "Rohan Das",
    "Priya Sharma",
    "Sanjay Gupta",
    "Divya Menon",
    "Karthik Pillai",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def sample_payment(n: int, rng: random.Random) -> dict[str, Any]:
    """A ``payment.captured`` webhook body in Razorpay's documented shape (fake ids)."""
    name = NAMES[n % len(NAMES)]
    user = name.lower().replace(" ", ".")
    amount = rng.choice([49900, 99900, 149900, 249900, 1000000])
    created = int(time.time()) - rng.randint(60, 3600)
    pay_id = f"pay_Demo{n:010d}"
    return {
        "entity": "event",
        "account_id": "acc_DemoAccount01",
        "event": "payment.captured",
        "contains": ["payment"],
        "payload": {
            "payment": {
                "entity": {
                    "id": pay_id,
                    "entity": "payment",
                    "amount": amount,
                    "currency": "INR",
                    "base_amount": amount,
                    "status": "captured",
                    "order_id": f"order_Demo{n:08d}",
                    "invoice_id": None,
                    "international": False,
                    "method": "upi",
                    "amount_refunded": 0,
                    "amount_transferred": 0,
                    "refund_status": None,
                    "captured": True,
                    "description": f"Order #D-{1000 + n}",
                    "card_id": None,
                    "bank": None,
                    "wallet": None,
                    "vpa": f"{user}@okaxis",
                    "email": f"{user}@example.in",
                    "contact": f"+9198450{n % 100000:05d}",
                    "notes": {"name": name},
                    "fee": amount * 236 // 10000,
                    "tax": amount * 36 // 10000,
                    "error_code": None,
                    "error_description": None,
                    "error_source": None,
                    "error_step": None,
                    "error_reason": None,
                    "acquirer_data": {"rrn": f"4315{n:08d}", "upi_transaction_id": f"AXL{n:030d}"},
                    "upi": {
                        "payer_account_type": "bank_account",
                        "vpa": f"{user}@okaxis",
                        "flow": "intent",
                    },
                    "created_at": created,
                }
            }
        },
        "created_at": created + 8,
    }


def sign(body: bytes, secret: str = DEMO_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def demo_config(workdir: Path, port: int, sandbox_url: str, recipe: Path) -> dict[str, Any]:
    return {
        "listen": f"127.0.0.1:{port}",
        "store": "sqlite:///hub.db",
        "data_dir": ".",
        "recipes": [str(recipe.resolve())],
        "connections": {
            "razorpay-main": {"connector": "razorpay", "config": {"webhook_secret": DEMO_SECRET}},
            "books": {
                "connector": "zoho_books",
                "config": {
                    "data_centre": "in",
                    "accounts_url": sandbox_url,
                    "api_domain": sandbox_url,
                    "organization_id": "60012345678",
                    "client_id": "1000.SANDBOX",
                    "client_secret": "sandbox-secret",
                    "refresh_token": "1000.sandbox.refresh",
                },
            },
        },
    }


async def run_demo(
    count: int, workdir: Path, recipe: Path, console: Console | None
) -> dict[str, Any]:
    """Run the demo; returns a summary (expected vs delivered, payments in the sandbox)."""
    say = console.print if console else (lambda *a, **k: None)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    registry = Registry.from_entry_points()

    sandbox_port, hub_port = free_port(), free_port()
    sandbox_runner = web.AppRunner(build_sandbox_app(registry, ["zoho_books"]), access_log=None)
    await sandbox_runner.setup()
    await web.TCPSite(sandbox_runner, "127.0.0.1", sandbox_port).start()
    books_url = sandbox_base("127.0.0.1", sandbox_port, "zoho_books")
    say(f"[bold]1.[/] Zoho Books sandbox on {books_url}")

    config_file = workdir / "hub.yaml"
    config_file.write_text(
        yaml.safe_dump(demo_config(workdir, hub_port, books_url, recipe), sort_keys=False)
    )
    hub = load_hub(load_config(config_file), registry)
    hub_runner = web.AppRunner(build_app(hub), access_log=None)
    await hub_runner.setup()
    await web.TCPSite(hub_runner, "127.0.0.1", hub_port).start()
    say(
        f"[bold]2.[/] hub on http://127.0.0.1:{hub_port} (SQLite {workdir / 'hub.db'}, inline engine, "
        f"recipe {recipe.name})"
    )

    started = time.perf_counter()
    rng = random.Random(7)
    bodies = [json.dumps(sample_payment(n, rng)).encode() for n in range(count)]
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession() as http:
        # The sandbox fails the first payment write once: the log shows the retry.
        await http.post(
            f"{books_url}/__sandbox__/faults",
            json=[{"method": "POST", "path": "/books/v3/customerpayments", "status": 500}],
        )
        say(
            f"[bold]3.[/] sending {count} signed Razorpay payment.captured webhooks, each twice "
            "(providers redeliver), and one injected 500 from Books"
        )

        async def send(body: bytes, n: int) -> None:
            headers = {
                "X-Razorpay-Signature": sign(body),
                "X-Razorpay-Event-Id": f"evt_demo_{n}",
                "Content-Type": "application/json",
            }
            async with http.post(
                f"http://127.0.0.1:{hub_port}/hooks/razorpay-main", data=body, headers=headers
            ) as resp:
                statuses[resp.status] = statuses.get(resp.status, 0) + 1

        await asyncio.gather(*(send(b, n) for n, b in enumerate(bodies)))
        await asyncio.gather(*(send(b, n) for n, b in enumerate(bodies)))
        expected = count
        delivered = await _wait(hub, expected, console)
        async with http.get(f"{books_url}/__sandbox__/state") as resp:
            state = await resp.json()

    rows, _ = await hub.store.list_deliveries(DeliveryFilter(limit=12))
    counts = await hub.store.counts()
    elapsed = time.perf_counter() - started
    if console:
        table = Table(
            "delivery",
            "status",
            "step",
            "action",
            "tries",
            "last error",
            title="delivery log (newest 12)",
        )
        for st, _run in rows:
            color = (
                "green" if st.status == "succeeded" else "red" if st.status == "dead" else "yellow"
            )
            table.add_row(
                st.id[:8],
                f"[{color}]{st.status}[/]",
                st.step_id,
                st.action,
                str(st.attempts),
                (st.last_error or "")[:60],
            )
        console.print(table)
    payments = _count(state, "payments")
    contacts = _count(state, "contacts")
    summary = {
        "expected": expected,
        "delivered": delivered,
        "webhooks_sent": 2 * count,
        "http_statuses": statuses,
        "events_stored": counts.get("events"),
        "attempts": counts.get("attempts"),
        "books_payments": payments,
        "books_contacts": contacts,
        "seconds": round(elapsed, 2),
        "config": str(config_file),
    }
    say(
        f"[bold]4.[/] {2 * count} webhooks → {counts.get('events')} events → {delivered}/{expected} runs "
        f"delivered → [bold]{payments}[/] payments and {contacts} contacts in Books "
        f"({counts.get('attempts')} attempts, {elapsed:.1f}s)"
    )
    say(
        f"   explore: [cyan]hub -c {config_file} deliveries list[/]   "
        f"[cyan]hub -c {config_file} deliveries show ID[/]   [cyan]hub -c {config_file} events list[/]"
    )
    await hub_runner.cleanup()
    await sandbox_runner.cleanup()
    return summary


def _count(state: dict[str, Any], key: str) -> int:
    value = state.get(key)
    if isinstance(value, dict | list):
        return len(value)
    return int(value or 0)


async def _wait(hub: Any, expected: int, console: Console | None, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    done = 0
    progress = Progress(
        TextColumn("deliveries"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=console is None,
        transient=True,
    )
    with progress:
        task = progress.add_task("runs", total=expected)
        while time.monotonic() < deadline:
            counts = await hub.store.counts()
            done = counts.get("runs_succeeded", 0)
            finished = done + counts.get("runs_dead", 0)
            progress.update(task, completed=finished)
            if finished >= expected:
                break
            await asyncio.sleep(0.2)
    return int(done)
