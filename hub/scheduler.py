"""``hub scheduler``: the celery engine's one-per-deployment process: pollers, housekeeping, sweeper.

``hub serve`` under celery is ingress and API only; the work that must run
somewhere on a timer runs here: the polling sources, the hub's housekeeping
(retention, alert digests: whatever ``Hub.start`` runs with its pollers), and
the sweeper, which every ``celery.sweep_interval`` publishes the due steps
that no worker holds and no live message names (retries that fell due,
messages lost with the broker, steps of a killed worker). Ops changes made
elsewhere (paused connections, recipe switches, connections saved from the
dashboard) are followed within seconds, as in ``hub serve``.

Running two schedulers is safe but pointless: sweeps mark steps atomically
and pollers dedupe on idempotency keys.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from hub.app import Hub
from hub.errors import ConfigError
from hub.ops.sync import StateSync

__all__ = ["run_scheduler"]

log = logging.getLogger("hub.scheduler")


async def run_scheduler(hub: Hub, stop: asyncio.Event | None = None) -> None:
    """Run the pollers, housekeeping and sweeper of ``hub`` until SIGTERM/SIGINT (or ``stop``).

    Raises:
        ConfigError: the hub's engine is not celery (``hub serve`` does all this inline).
    """
    if hub.config.engine != "celery":
        raise ConfigError(
            "hub scheduler runs the pollers and the sweeper of engine: celery; with "
            "engine: inline, hub serve runs them itself"
        )
    stop = stop or asyncio.Event()
    # Each recipe's `enabled` as its file says, before stored switches are applied.
    sync = StateSync(hub, {r.name or "": r.enabled for r in hub.recipes})
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await hub.start(run_engine=True, run_pollers=True)
    try:
        await sync.start()
        pollers = len(hub.poller.sources) if hub.poller is not None else 0
        log.info(
            "hub scheduler running %d poller(s), sweeping every %gs",
            pollers,
            hub.config.celery.sweep_interval,
        )
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await sync.stop()
        await hub.stop()
