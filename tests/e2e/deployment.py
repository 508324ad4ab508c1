"""A hub deployment of real processes for the engine tests: serve, workers, scheduler, a private Redis.

Every part is a real subprocess (the ``hub`` command), so SIGKILL is
real; the Zoho Books sandbox lives in the test process and survives whatever
the test kills, counting what landed. The Redis is a ``redis-server`` of the
test's own on a free port, without persistence, so a test may flush, stop and
restart it without touching the machine's shared one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
import redis
import yaml

from hub.store.sql import SqlStore
from tests import services
from tests.helpers import ROOT, Sandbox, fast_recipe, free_port, hub_config, sign

Engine = Literal["inline", "celery"]
StoreKind = Literal["sqlite", "postgresql"]
ENGINES: tuple[Engine, ...] = ("inline", "celery")
STORES: tuple[StoreKind, ...] = ("sqlite", "postgresql")

# Short enough that the fault tests take seconds: a dead worker's lease lapses in
# 3 s, a lost message is sent again 2 s after it was, the sweeper looks twice a second.
# Generous: a loaded CI machine starting three processes that each import the
# whole hub and migrate the store can take a while; a healthy one takes seconds.
STARTUP_TIMEOUT = 60.0
HUB_COMMAND = Path(sys.executable).with_name("hub")  # the installed console script

FAST_CELERY = {"lease_seconds": 3.0, "sweep_interval": 0.5, "requeue_seconds": 2.0}


@contextmanager
def store_of(kind: StoreKind, folder: Path) -> Iterator[str]:
    """A fresh store of ``kind`` for one test (a PostgreSQL schema is dropped afterwards)."""
    if kind == "postgresql" and services.postgres_url() is None:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 (set HUB_TEST_POSTGRES_URL)")
    with services.fresh_stores(kind) as stores:
        yield stores.url(folder)


class RedisServer:
    """A private ``redis-server`` on a free port, without persistence: a restart empties it."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):  # a skipped test proves nothing (tests/services.py)
                raise RuntimeError("CI needs redis-server on the PATH for the engine tests")
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise AssertionError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, down_for: float = 0.0) -> None:
        """Stop (losing every key: no persistence), stay down ``down_for`` seconds, start again."""
        self.stop()
        time.sleep(down_for)
        self.start()


class HubProcess:
    """One ``hub`` subprocess writing to its own log file."""

    def __init__(self, name: str, config_file: Path, args: list[str]) -> None:
        self.name = name
        self.metrics_url: str | None = None
        self.log = config_file.parent / f"{name}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        argv = [str(HUB_COMMAND), "-c", str(config_file), *args]
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=config_file.parent
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    async def wait_for_log(self, text: str, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if text in self.log.read_text(errors="replace"):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} never logged {text!r}:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a worker finishes its running steps first), SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.wait_or_kill(timeout)

    def wait_or_kill(self, timeout: float) -> None:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class Deployment:
    """hub.yaml for one test and the processes started from it.

    ``inline``: one ``hub serve``. ``celery``: ``hub serve`` (ingress only),
    ``hub scheduler`` and any number of ``hub worker`` processes, on ``redis``.
    """

    def __init__(
        self,
        tmp: Path,
        http: aiohttp.ClientSession,
        sandbox: Sandbox,
        engine: Engine,
        store_url: str,
        redis: RedisServer | None = None,
        recipe: Path | None = None,
        **extra: Any,
    ) -> None:
        self.tmp = tmp
        self.http = http
        self.sandbox = sandbox
        self.engine = engine
        recipes = [recipe or fast_recipe(tmp)]
        self.config = hub_config(tmp, sandbox.url, recipes, store=store_url, **extra)
        if engine == "celery":
            assert redis is not None, "the celery engine needs a broker"
            self.config["engine"] = "celery"
            self.config["celery"] = {"broker_url": redis.url, **FAST_CELERY}
        self.config_file = tmp / "hub.yaml"
        self.config_file.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.url = f"http://{self.config['listen']}"
        self.serve: HubProcess | None = None
        self.scheduler: HubProcess | None = None
        self.workers: list[HubProcess] = []
        self._store: SqlStore | None = None
        self._spawned = 0

    def _spawn(self, name: str, args: list[str]) -> HubProcess:
        self._spawned += 1
        return HubProcess(f"{name}-{self._spawned}", self.config_file, args)

    async def start(self, workers: int = 1, concurrency: int | None = None) -> None:
        """Start every part at once (they migrate the store safely in parallel), wait until ready."""
        waits = [self.start_serve()]
        if self.engine == "celery":
            waits.append(self.start_scheduler())
            waits.extend(self.start_worker(concurrency) for _ in range(workers))
        await asyncio.gather(*waits)

    async def start_serve(self) -> HubProcess:
        self.serve = self._spawn("serve", ["serve", "--log-level", "warning"])
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            self.serve.check_alive()
            try:
                async with self.http.get(f"{self.url}/readyz") as resp:
                    if resp.status == 200:
                        return self.serve
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"hub serve did not become ready:\n{self.serve.tail()}")

    async def start_worker(self, concurrency: int | None = None) -> HubProcess:
        """A worker, serving its /metrics at ``worker.metrics_url``."""
        port = free_port()
        args = ["worker", "--log-level", "info", "--metrics-listen", f"127.0.0.1:{port}"]
        if concurrency is not None:
            args += ["--concurrency", str(concurrency)]
        worker = self._spawn("worker", args)
        worker.metrics_url = f"http://127.0.0.1:{port}/metrics"
        self.workers.append(worker)
        await worker.wait_for_log("hub worker ready")
        return worker

    async def start_scheduler(self) -> HubProcess:
        self.scheduler = self._spawn("scheduler", ["scheduler", "--log-level", "info"])
        await self.scheduler.wait_for_log("hub scheduler running")
        return self.scheduler

    async def post(self, body: bytes, timeout: float = 10.0) -> int:
        """POST a signed Razorpay webhook; the HTTP status, or 0 when there was no answer."""
        headers = {"X-Razorpay-Signature": sign(body), "Content-Type": "application/json"}
        try:
            async with self.http.post(
                f"{self.url}/hooks/razorpay-main",
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                await resp.read()
                return resp.status
        except (TimeoutError, aiohttp.ClientError):
            return 0

    async def store(self) -> SqlStore:
        """The deployment's store, opened in the test process (to read counts and rows)."""
        if self._store is None:
            store = SqlStore(self.config["store"])
            await store.open()
            self._store = store
        return self._store

    async def wait_for(
        self, check: Callable[[dict[str, int]], bool], timeout: float
    ) -> dict[str, int]:
        store = await self.store()
        deadline = time.monotonic() + timeout
        counts: dict[str, int] = {}
        while time.monotonic() < deadline:
            counts = await store.counts()
            if check(counts):
                return counts
            await asyncio.sleep(0.1)
        logs = "\n".join(f"--- {p.name}\n{p.tail(1500)}" for p in self.processes())
        raise AssertionError(f"timed out after {timeout}s; store counts are {counts}\n{logs}")

    async def settled(self, runs: int, timeout: float = 30.0) -> dict[str, int]:
        """Wait until ``runs`` runs have finished (succeeded or dead)."""
        return await self.wait_for(
            lambda c: c.get("runs_succeeded", 0) + c.get("runs_dead", 0) >= runs, timeout
        )

    def processes(self) -> list[HubProcess]:
        return [p for p in (self.serve, self.scheduler, *self.workers) if p is not None]

    async def close(self) -> None:
        """SIGTERM to every process at once, then wait for them all."""
        procs = self.processes()
        for proc in procs:
            if proc.proc.poll() is None:
                proc.proc.terminate()
        await asyncio.gather(*(asyncio.to_thread(p.wait_or_kill, 20.0) for p in procs))
        if self._store is not None:
            await self._store.close()


DeploymentFactory = Callable[..., Awaitable[Deployment]]


@pytest.fixture
async def deployment(
    tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox
) -> AsyncIterator[DeploymentFactory]:
    """``await deployment(engine, store_url, redis=..., workers=1)``: started, stopped after.

    A celery deployment without a ``redis`` gets a private one, stopped after its processes.
    """
    made: list[Deployment] = []
    brokers: list[RedisServer] = []

    async def make(
        engine: Engine,
        store_url: str,
        redis: RedisServer | None = None,
        workers: int = 1,
        concurrency: int | None = None,
        **extra: Any,
    ) -> Deployment:
        if engine == "celery" and redis is None:
            redis = RedisServer(tmp_path)
            brokers.append(redis)
            redis.start()
        dep = Deployment(tmp_path, http, sandbox, engine, store_url, redis, **extra)
        made.append(dep)
        await dep.start(workers=workers, concurrency=concurrency)
        return dep

    yield make
    for dep in made:
        await dep.close()
    for broker in brokers:
        broker.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis for a test that flushes or restarts it (ask for it before ``deployment``)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
