"""Crash safety: ``hub serve`` killed with SIGKILL under load loses no acknowledged event.

The hub runs as a real subprocess (``python -m hub.cli serve``); a load
generator in this process sends distinct signed payments; after a second of
load the hub gets SIGKILL. After a restart every event that got a 2xx must be
in the store and must be delivered exactly once to the Books sandbox (which
lives in this process, so it survives the crash and counts what landed).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from hub.events import event_id
from hub.store.sql import SqlStore
from tests.helpers import ROOT, Sandbox, fast_recipe, hub_config, payment_body, sign

pytestmark = pytest.mark.slow


def _start(config_file: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [
        sys.executable,
        "-m",
        "hub.cli",
        "-c",
        str(config_file),
        "serve",
        "--log-level",
        "warning",
    ]
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=config_file.parent
        )


async def _ready(
    http: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"hub serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            async with http.get(f"{url}/readyz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"hub serve did not become ready:\n{log.read_text()[-3000:]}")


async def test_sigkill_under_load_loses_no_acknowledged_event(
    tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    config = hub_config(tmp_path, sandbox.url, [fast_recipe(tmp_path)])
    config_file = tmp_path / "hub.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    url = f"http://{config['listen']}"
    log = tmp_path / "serve.log"

    proc = _start(config_file, log)
    await _ready(http, url, proc, log)

    acked: set[str] = set()
    counter = iter(range(1_000_000))
    stop = asyncio.Event()

    async def worker() -> None:
        while not stop.is_set():
            n = next(counter)
            body = payment_body(n, seed=42)
            pay_id = json.loads(body)["payload"]["payment"]["entity"]["id"]
            try:
                async with http.post(
                    f"{url}/hooks/razorpay-main",
                    data=body,
                    headers={
                        "X-Razorpay-Signature": sign(body),
                        "Content-Type": "application/json",
                    },
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        acked.add(pay_id)
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(0.01)

    workers = [asyncio.create_task(worker()) for _ in range(24)]
    await asyncio.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    await asyncio.gather(*workers)
    assert len(acked) > 20, f"too little load reached the hub before the kill ({len(acked)})"

    proc = _start(config_file, log)
    try:
        await _ready(http, url, proc, log)
        store = SqlStore(f"sqlite:///{tmp_path / 'hub.db'}")
        await store.open()
        try:
            deadline = time.monotonic() + 90
            counts: dict[str, Any] = {}
            while time.monotonic() < deadline:
                counts = await store.counts()
                if counts["events"] and counts["runs_succeeded"] == counts["events"]:
                    break
                await asyncio.sleep(0.2)
            missing = [
                p
                for p in acked
                if await store.get_event(event_id("razorpay-main", f"payment.captured:{p}")) is None
            ]
            assert not missing, (
                f"{len(missing)} acknowledged events are not in the store: {missing[:5]}"
            )
            assert counts["runs_succeeded"] == counts["events"], counts
            assert counts["runs_dead"] == 0, counts
        finally:
            await store.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)

    payments = await sandbox.payments()
    refs = [p["reference_number"] for p in payments]
    assert len(refs) == len(set(refs)), "a step wrote twice"
    assert len(payments) == counts["events"], (len(payments), counts)
    landed = " ".join(str(p.get("description", "")) for p in payments)
    assert all(p in landed for p in acked), "an acknowledged payment never reached Books"
