"""The celery engine's broker side: the Celery app's settings and the publisher of step messages.

Settings that carry the engine's guarantees:

- ``acks_late`` and ``task_reject_on_worker_lost``: a message is acknowledged
  only after its step's outcome is in the store.
- ``worker_prefetch_multiplier=1``: a worker reserves as many messages as it
  has slots, so a killed worker strands few, and the sweeper re-publishes
  those once their leases lapse (the broker would wait an hour).
- The queue is bound to the default exchange (``''``): publishing is a plain
  push onto the queue's list, which keeps working after the broker forgot
  every binding (Redis ``FLUSHALL`` or a restart without persistence).
- JSON only, no result backend, no remote control (its pidbox would also be
  lost with a flush): the store is where results live.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from celery import Celery
from kombu.entity import Queue

from hub.config import CeleryConfig
from hub.dispatch.celery_messages import StepMessage

__all__ = ["TASK_NAME", "CeleryPublisher", "make_celery"]

TASK_NAME = "hub.run_step"
"""The one task: ``hub.run_step(run_id, connection)``."""

# A publish to an unreachable broker gives up after about a second: the steps
# stay in the store and the sweeper sends them again, so waiting longer here
# would only hold up the ingress's publisher thread.
_PUBLISH_RETRY = {
    "max_retries": 3,
    "interval_start": 0.1,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

log = logging.getLogger("hub.dispatch.celery")


def make_celery(config: CeleryConfig) -> Celery:
    """A Celery app for ``config``'s broker and queue (the same in ingress, worker, scheduler)."""
    app = Celery("hub", broker=config.broker_url, set_as_current=False)
    app.conf.update(
        task_queues=[Queue(config.queue, routing_key=config.queue)],  # type: ignore[no-untyped-call]
        task_default_queue=config.queue,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        # Steps keep running through a broker reconnect: their leases are in the
        # store, and a message redelivered meanwhile finds the step taken.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_channel_error_retry=True,
    )
    return app


class CeleryPublisher:
    """Sends step messages through a Celery app, off the event loop.

    kombu publishes blocking, so every batch runs on one thread of its own
    (not the loop's default executor, which the store's reads share): a broker
    that hangs delays publishing, never reads or webhooks.
    """

    def __init__(self, app: Celery, queue: str) -> None:
        self.app = app
        self.queue = queue
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-publish")

    async def publish(self, messages: Sequence[StepMessage]) -> None:
        """Send ``messages`` in one producer session; raises if the broker refused any."""
        if messages:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._thread, self.publish_blocking, list(messages))

    def publish_blocking(self, messages: Sequence[StepMessage]) -> None:
        """``publish`` for callers that are already on a thread of their own."""
        with self.app.producer_or_acquire() as producer:
            for message in messages:
                self.app.send_task(
                    TASK_NAME,
                    args=[message.run_id, message.connection],
                    queue=self.queue,
                    producer=producer,
                    retry=True,
                    retry_policy=_PUBLISH_RETRY,
                )
        log.debug("published %d step message(s)", len(messages))

    async def close(self) -> None:
        """Finish the batch being sent, then release the broker connections."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._thread.shutdown, True)
        await loop.run_in_executor(None, self.app.close)
