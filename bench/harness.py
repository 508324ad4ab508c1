"""What the delivery benchmarks share: a hub wired to the 20 ms sink, and reading its store.

``e2e.py``, ``backlog.py`` and ``memory.py`` all run ``hub serve`` as a
subprocess with a generated ``hub.yaml``: one Razorpay connection for ingest
and, when deliveries are wanted, one ``webhook_out`` connection pointed at
``bench/sink.py`` on 127.0.0.1 (``allow_insecure_http`` and
``allow_private_networks`` are set: the connector refuses loopback otherwise)
with a one-step recipe that forwards every captured payment to it.

Figures about deliveries are read from the hub's own store, the ground truth
ops see, through SQLAlchemy (SQLite or PostgreSQL alike): when each event was
received and when its first attempt started.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import CONNECTION, ROOT, Server, free_port, hub_binary

__all__ = [
    "HubSetup",
    "first_attempt_lags",
    "percentile",
    "rss_mb",
    "start_hub",
    "start_sink",
    "step_status_counts",
]

RECIPE_NAME = "bench-forward"
SINK_CONNECTION = "sink"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (nan when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class HubSetup:
    """Where a benchmark's hub keeps its files, and how it is configured."""

    tmp: Path
    secret: str  # the Razorpay webhook secret the request files are signed with
    store_url: str
    sink_url: str | None = None
    engine: str = "inline"
    global_limit: int = 64
    broker_url: str | None = None  # engine: celery

    def config(self, port: int) -> dict[str, Any]:
        connections: dict[str, Any] = {
            CONNECTION: {"connector": "razorpay", "config": {"webhook_secret": self.secret}}
        }
        recipes: list[str] = []
        if self.sink_url is not None:
            connections[SINK_CONNECTION] = {
                "connector": "webhook_out",
                "max_concurrency": self.global_limit,
                "config": {
                    "url": self.sink_url,
                    "secret": "whsec_"
                    + base64.b64encode(b"bench-sink-secret-32-bytes-long!").decode(),
                    "allow_insecure_http": True,
                    "allow_private_networks": True,
                },
            }
            recipe = self.tmp / "bench-forward.yaml"
            recipe.write_text(RECIPE)
            recipes.append(str(recipe))
        config = {
            "listen": f"127.0.0.1:{port}",
            "store": self.store_url,
            "data_dir": str(self.tmp),
            "engine": self.engine,
            "concurrency": {"global_limit": self.global_limit, "per_connection": self.global_limit},
            "recipes": recipes,
            "connections": connections,
        }
        if self.broker_url is not None:
            config["celery"] = {
                "broker_url": self.broker_url,
                "queue": "hub.bench",
                "worker_concurrency": self.global_limit,
            }
        return config


RECIPE = f"""\
version: 1
name: {RECIPE_NAME}
description: Forward every captured payment to the benchmark's local sink.
trigger:
  event: payment.captured
steps:
  - id: forward
    use: webhook_out.send
    connection: {SINK_CONNECTION}
    with:
      payload: "{{{{ event.data }}}}"
      event_type: payment.captured
"""


def hub_env() -> dict[str, str]:
    """A fixed master key, so a restarted hub can read what the first one sealed."""
    key = base64.urlsafe_b64encode(b"hub-bench-master-key-32-bytes!!!").decode()
    return {**os.environ, "HUB_SECRET_KEY": key}


def start_hub(
    setup: HubSetup, name: str = "hub", args: Sequence[str] = (), port: int | None = None
) -> Server:
    """``hub -c <tmp>/hub.yaml serve`` (not waited for: call ``wait_ready``)."""
    port = port or free_port()
    config_path = setup.tmp / "hub.yaml"
    config_path.write_text(json.dumps(setup.config(port), indent=2) + "\n")
    log_path = setup.tmp / f"{name}.log"
    cmd = [*hub_binary(), "-c", str(config_path), "serve", *args]
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=hub_env(), cwd=setup.tmp
        )
    return Server(name, f"http://127.0.0.1:{port}", proc, log_path)


def start_redis(tmp: Path) -> Server:
    """A private ``redis-server`` (no persistence) for the Celery broker; never the shared one."""
    port = free_port()
    log_path = tmp / "redis.log"
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    cmd += ["--appendonly", "no", "--dir", str(tmp)]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    return Server("redis", f"redis://127.0.0.1:{port}", proc, log_path)


def start_sink(tmp: Path, delay_ms: float) -> Server:
    port = free_port()
    log_path = tmp / "sink.log"
    cmd = [sys.executable, str(ROOT / "bench" / "sink.py"), "--port", str(port)]
    cmd += ["--delay-ms", str(delay_ms)]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    return Server("sink", f"http://127.0.0.1:{port}", proc, log_path)


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (``VmRSS`` from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --------------------------------------------------------------------------- the store


def _engine(url: str) -> Any:
    import sqlalchemy as sa

    if url.startswith("sqlite"):
        return sa.create_engine(url, connect_args={"timeout": 30})
    return sa.create_engine(url)


def step_status_counts(url: str) -> dict[str, int]:
    import sqlalchemy as sa

    from hub.store.tables import steps

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(steps.c.status, sa.func.count()).group_by(steps.c.status))
            return {str(status): int(n) for status, n in rows}
    finally:
        engine.dispose()


def first_attempt_lags(url: str, since: datetime | None = None) -> list[tuple[datetime, float]]:
    """Per event received at or after ``since``: (first attempt start, seconds from receipt).

    Events whose step has not been attempted yet are left out.
    """
    import sqlalchemy as sa

    from hub.store.tables import attempts, events, runs

    query = (
        sa.select(events.c.received_at, sa.func.min(attempts.c.started_at))
        .select_from(
            events.join(runs, runs.c.event_id == events.c.id).join(
                attempts, attempts.c.run_id == runs.c.id
            )
        )
        .group_by(events.c.id, events.c.received_at)
    )
    if since is not None:
        query = query.where(events.c.received_at >= since)
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            out = []
            for received, first in conn.execute(query):
                first_at = _aware(first)
                out.append((first_at, (first_at - _aware(received)).total_seconds()))
            return out
    finally:
        engine.dispose()


def _aware(value: Any) -> datetime:
    from hub.store.rows import aware

    parsed = aware(value)
    assert parsed is not None
    return parsed
