"""Coalesces the ``ingest`` calls of one event-loop turn into one hand-off to the writer thread.

With 64 webhooks in flight, one turn of the event loop typically parses
several of them. Handing each to the writer thread on its own costs a
``concurrent.futures.Future`` (with its lock and condition), a queue put and
one wake-up of the loop per request when the commit is done: measured at
about a tenth of the hub's interpreter time per webhook. Requests that arrive
in the same turn are therefore sent as one payload (one future, one wake-up)
when the turn ends; the group commit then works exactly as before, and each
caller gets its own flags back.

What does not change: a caller still returns only after the commit holding
its events is durable; duplicates are flagged per item as if the requests had
been sent one by one (``ingest_batches`` already dedupes across requests,
first occurrence wins); and one request that breaks a transaction fails
alone: a group that fails with anything but ``StoreUnavailable`` is sent again
one request at a time, as the writer itself does with its batches.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from hub.errors import StoreUnavailable
from hub.store import IngestItem

__all__ = ["IngestCoalescer"]

Submit = Callable[[list[IngestItem], int], "Future[list[bool]]"]
_Request = tuple[list[IngestItem], "asyncio.Future[list[bool]]"]


@dataclass
class _Turn:
    """The requests collected in one loop turn, not yet sent."""

    requests: list[_Request] = field(default_factory=list)
    items: int = 0
    scheduled: bool = False


class IngestCoalescer:
    """Collects concurrent ``ingest`` calls per event loop and submits them together.

    Args:
        submit: hands a payload of ``n`` items to the writer (``submit_batched``).
        max_items: send a turn's requests at once when they reach this many items.
    """

    def __init__(self, submit: Submit, max_items: int) -> None:
        self._submit = submit
        self._max_items = max_items
        self._turns: dict[asyncio.AbstractEventLoop, _Turn] = {}

    async def ingest(self, items: list[IngestItem]) -> list[bool]:
        """Store ``items`` with whatever else arrives in this loop turn; one flag per item."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[bool]] = loop.create_future()
        turn = self._turns.setdefault(loop, _Turn())
        turn.requests.append((items, future))
        turn.items += len(items)
        if turn.items >= self._max_items:
            self._flush(loop)
        elif not turn.scheduled:
            turn.scheduled = True
            loop.call_soon(self._flush, loop)
        return await future

    def flush(self) -> None:
        """Send what this loop collected now (before the writer is closed)."""
        self._flush(asyncio.get_running_loop())

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        turn = self._turns.pop(loop, None)
        if turn is None:
            return
        # A caller cancelled before its turn was sent: nothing of it is written.
        live = [(items, fut) for items, fut in turn.requests if not fut.done()]
        if live:
            self._send(loop, live)

    def _send(self, loop: asyncio.AbstractEventLoop, requests: list[_Request]) -> None:
        items = [item for batch, _ in requests for item in batch]
        try:
            sent = self._submit(items, len(items))
        except BaseException as exc:  # noqa: BLE001 - the store is closed: every caller hears it
            for _, future in requests:
                if not future.done():
                    future.set_exception(exc)
            return

        def done(result: Future[list[bool]]) -> None:  # on the writer thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(self._settle, loop, requests, result)

        sent.add_done_callback(done)

    def _settle(
        self, loop: asyncio.AbstractEventLoop, requests: list[_Request], done: Future[list[bool]]
    ) -> None:
        if done.cancelled():
            for _, future in requests:
                future.cancel()
            return
        exc = done.exception()
        if exc is not None:
            if len(requests) > 1 and not isinstance(exc, StoreUnavailable):
                for request in requests:  # find the culprit: only it fails
                    self._send(loop, [request])
                return
            for _, future in requests:
                if not future.done():
                    future.set_exception(exc)
            return
        flags = done.result()
        start = 0
        for batch, future in requests:
            if not future.done():
                future.set_result(flags[start : start + len(batch)])
            start += len(batch)
