"""What a celery-engine message carries (a run and its sink connection), and who sends them.

A message names a **run**, not a step row: whoever holds it asks the store for
that run's due step (``Store.claim_run``). The ingress and the sweeper know
the step, but the worker that finishes a step only knows the run it moved on,
and naming the run lets all three send the same message. A duplicate or stale
message is harmless: the claim is atomic and finds nothing to run.

The sink connection rides along so a worker can check that connection's
concurrency limit before it touches the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["StepMessage", "StepPublisher"]


@dataclass(frozen=True, slots=True)
class StepMessage:
    """Run ``run_id``'s due step, which calls connection ``connection``."""

    run_id: str
    connection: str


class StepPublisher(Protocol):
    """Sends step messages to the workers (the broker; a list in tests)."""

    async def publish(self, messages: Sequence[StepMessage]) -> None:
        """Send every message or raise; a message sent twice does no harm."""

    async def close(self) -> None:
        """Release broker connections."""
