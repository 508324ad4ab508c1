"""``hub worker``: a Celery worker whose tasks run steps on one asyncio loop (engine: celery).

The process has two halves. A dedicated thread runs an asyncio loop that
holds the hub's store, live connections and runner, and a ``StepExecutor``.
Celery's ``threads`` pool, ``worker_concurrency`` threads wide, consumes the
queue; each task submits its message to that loop and waits for the step, so
the threads only wait while all I/O is asynchronous: many deliveries are in
flight at once, with connection pools and OAuth tokens shared between them.

Shutdown is Celery's warm shutdown (SIGTERM, Ctrl-C): no new messages, the
running steps finish and are acknowledged, then the loop closes the store.
SIGKILL loses nothing either: unacknowledged messages stay with the broker,
and the steps' leases lapse so the sweeper publishes them again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import warnings
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web
from celery import Celery
from celery.exceptions import CPendingDeprecationWarning
from celery.signals import worker_ready

from hub.app import Hub
from hub.dispatch.celery_app import TASK_NAME, CeleryPublisher, make_celery
from hub.dispatch.celery_executor import StepExecutor
from hub.dispatch.celery_messages import StepMessage
from hub.errors import StoreUnavailable
from hub.ops.sync import StateSync

__all__ = ["run_worker"]

T = TypeVar("T")
log = logging.getLogger("hub.dispatch.worker")

# A message whose step could not be claimed (the store is down) is retried with
# growing pauses; past that the sweeper sends the step again once it is back.
_CLAIM_RETRIES = 20
_CLAIM_RETRY_MAX_DELAY = 30


class _LoopThread:
    """An asyncio loop on a thread of its own, callable from any other thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="hub-steps", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> None:
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (from a thread other than the loop's)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def run_worker(
    hub: Hub,
    concurrency: int | None = None,
    log_level: str = "info",
    metrics_listen: str | None = None,
) -> int:
    """Run a Celery worker for ``hub`` until it is shut down; returns the exit status.

    Args:
        concurrency: steps in flight at once (default ``celery.worker_concurrency``).
        metrics_listen: ``host:port`` to serve this process's ``/metrics`` on
            (step attempts, in-flight steps, API budgets); none if not given.
    """
    config = hub.config
    settings = config.celery
    width = concurrency or settings.worker_concurrency
    app = make_celery(settings)
    publisher = CeleryPublisher(app, settings.queue)
    runtime = _LoopThread()
    runtime.start()
    executor: StepExecutor | None = None
    metrics: web.AppRunner | None = None
    # Ops changes made elsewhere (connections saved from the dashboard, recipe
    # switches) reach this process's connections and recipes within seconds.
    sync = StateSync(hub, {r.name or "": r.enabled for r in hub.recipes})
    try:
        runtime.call(hub.start(run_engine=False, run_pollers=False))
        runtime.call(sync.start())
        assert hub.runner is not None
        executor = StepExecutor(
            hub.store,
            hub.runner,
            publisher,
            lease_seconds=settings.lease_seconds,
            per_connection=config.concurrency.per_connection,
            connection_limits={
                name: spec.max_concurrency
                for name, spec in config.connections.items()
                if spec.max_concurrency is not None
            },
            on_finished=hub.step_finished,
        )
        runtime.call(executor.start())
        if metrics_listen is not None:
            metrics = runtime.call(_serve_metrics(hub, executor, metrics_listen))
        _register_task(app, runtime, executor)
        _quiet_celery(log_level)
        worker = app.Worker(
            pool="threads",
            concurrency=width,
            queues=[settings.queue],
            loglevel=log_level.upper(),
            hostname=f"hub-worker@{socket.gethostname()}.{os.getpid()}",
            without_mingle=True,
            without_gossip=True,
            without_heartbeat=True,
            optimization="fair",
            quiet=True,
        )
        announce = (
            f"hub worker ready: consuming {settings.queue} on {_safe_broker(settings.broker_url)}, "
            f"{width} steps at once"
        )

        def ready(**_: Any) -> None:
            log.info(announce)

        worker_ready.connect(ready, weak=False)
        try:
            worker.start()
        finally:
            worker_ready.disconnect(ready)
        return int(worker.exitcode or 0)
    finally:
        closers: list[Coroutine[Any, Any, None]] = [sync.stop(), publisher.close(), hub.stop()]
        if executor is not None:
            closers.insert(0, executor.stop())
        if metrics is not None:
            closers.insert(0, metrics.cleanup())
        for closer in closers:
            try:
                runtime.call(closer)
            except Exception:
                log.exception("shutting down the worker's runtime failed")
        runtime.close()


async def _serve_metrics(hub: Hub, executor: StepExecutor, listen: str) -> web.AppRunner:
    """``GET /metrics`` of this worker: its own counters (the backlog is ``hub serve``'s)."""

    async def metrics(request: web.Request) -> web.Response:
        hub.metrics.in_flight.set(executor.in_flight)
        return web.Response(body=hub.metrics.render(), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = listen.rpartition(":")
    await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
    return runner


def _register_task(app: Celery, runtime: _LoopThread, executor: StepExecutor) -> None:
    """Bind ``hub.run_step`` to ``executor``, running on ``runtime``'s loop."""

    def run_step(task: Any, run_id: str, connection: str) -> str:
        try:
            return runtime.call(executor.handle(StepMessage(run_id, connection)))
        except StoreUnavailable as exc:
            retries = int(task.request.retries or 0)
            log.warning("cannot claim a step of run %s, retrying: %s", run_id, exc)
            raise task.retry(
                exc=exc,
                countdown=min(2**retries, _CLAIM_RETRY_MAX_DELAY),
                max_retries=_CLAIM_RETRIES,
            ) from exc

    app.task(name=TASK_NAME, bind=True)(run_step)


def _quiet_celery(log_level: str) -> None:
    """Celery logs two lines per task at INFO; the store's attempt log says more, so keep them for DEBUG.

    Celery also warns on every broker reconnect that it may one day cancel
    running late-ack tasks; the hub chose not to (``make_celery``), so that
    warning says nothing to an operator.
    """
    warnings.filterwarnings(
        "ignore", message=r"\s*In Celery 5\.1 we introduced", category=CPendingDeprecationWarning
    )
    if logging.getLevelName(log_level.upper()) != logging.DEBUG:
        for name in ("celery.worker.strategy", "celery.app.trace"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _safe_broker(url: str) -> str:
    """The broker URL without its password, for logs."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))
