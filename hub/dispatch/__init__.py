"""Dispatchers hand due steps to the runner: ``inline`` (asyncio in ``hub serve``)
and ``celery`` (``hub worker`` processes fed by a sweeper).

Both keep the store as the source of truth: a step is leased before it runs,
and its attempt and outcome are written in one transaction, so a crash at any
point leaves the step pending and it runs again (with the same idempotency key).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Dispatcher"]


class Dispatcher(Protocol):
    """What the ingress and pollers call after they commit new work."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def notify(self) -> None:
        """New work may be due now: look at the store soon."""

    @property
    def running(self) -> bool: ...
