"""IngestCoalescer: one hand-off per loop turn, each caller its own flags, culprits fail alone."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from datetime import UTC, datetime

import pytest

from hub.errors import StoreUnavailable
from hub.events import Event
from hub.store import IngestItem
from hub.store.coalesce import IngestCoalescer


def item(key: str) -> IngestItem:
    event = Event(
        type="payment.captured",
        subject=key,
        idempotency_key=key,
        time=datetime(2024, 1, 1, tzinfo=UTC),
        data={},
    ).bind("rz", "razorpay")
    return IngestItem(event)


class FakeWriter:
    """Answers each payload from a thread: True per item, or raises for a poisoned key."""

    def __init__(self, error: BaseException | None = None, poison: str = "") -> None:
        self.payloads: list[list[str]] = []
        self.error = error
        self.poison = poison

    def submit(self, items: list[IngestItem], size: int) -> Future[list[bool]]:
        assert size == len(items)
        keys = [i.event.idempotency_key for i in items]
        self.payloads.append(keys)
        future: Future[list[bool]] = Future()

        def answer() -> None:
            if self.error is not None:
                future.set_exception(self.error)
            elif self.poison in keys:
                future.set_exception(ValueError(f"{self.poison} broke the transaction"))
            else:
                future.set_result([not k.startswith("dup") for k in keys])

        threading.Thread(target=answer).start()
        return future


async def test_one_turn_is_one_payload_and_each_caller_gets_its_flags() -> None:
    writer = FakeWriter()
    c = IngestCoalescer(writer.submit, max_items=500)
    results = await asyncio.gather(
        c.ingest([item("a")]), c.ingest([item("dup-b"), item("c")]), c.ingest([item("d")])
    )
    assert results == [[True], [False, True], [True]]
    assert writer.payloads == [["a", "dup-b", "c", "d"]]


async def test_max_items_sends_at_once() -> None:
    writer = FakeWriter()
    c = IngestCoalescer(writer.submit, max_items=2)
    await asyncio.gather(*(c.ingest([item(f"k{i}")]) for i in range(5)))
    assert writer.payloads == [["k0", "k1"], ["k2", "k3"], ["k4"]]


async def test_a_request_that_breaks_the_transaction_fails_alone() -> None:
    writer = FakeWriter(poison="bad")
    c = IngestCoalescer(writer.submit, max_items=500)
    results = await asyncio.gather(
        c.ingest([item("a")]),
        c.ingest([item("bad")]),
        c.ingest([item("c")]),
        return_exceptions=True,
    )
    assert results[0] == [True] and results[2] == [True]
    assert isinstance(results[1], ValueError)
    assert writer.payloads == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


async def test_store_unavailable_fails_the_turn_without_retries() -> None:
    writer = FakeWriter(error=StoreUnavailable("disk full"))
    c = IngestCoalescer(writer.submit, max_items=500)
    results = await asyncio.gather(
        c.ingest([item("a")]), c.ingest([item("b")]), return_exceptions=True
    )
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert writer.payloads == [["a", "b"]]


async def test_a_caller_cancelled_before_the_turn_ends_is_not_written() -> None:
    writer = FakeWriter()
    c = IngestCoalescer(writer.submit, max_items=500)
    doomed = asyncio.ensure_future(c.ingest([item("gone")]))
    kept = asyncio.ensure_future(c.ingest([item("kept")]))
    await asyncio.sleep(0)  # both are queued in this turn
    doomed.cancel()
    assert await kept == [True]
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert writer.payloads == [["kept"]]


async def test_a_closed_store_fails_every_caller() -> None:
    def closed(items: list[IngestItem], size: int) -> Future[list[bool]]:
        raise StoreUnavailable("the store is closed")

    c = IngestCoalescer(closed, max_items=500)
    with pytest.raises(StoreUnavailable, match="closed"):
        await c.ingest([item("a")])


async def test_flush_sends_now() -> None:
    writer = FakeWriter()
    c = IngestCoalescer(writer.submit, max_items=500)
    pending = asyncio.ensure_future(c.ingest([item("a")]))
    await asyncio.sleep(0)
    c.flush()
    assert writer.payloads == [["a"]]
    assert await pending == [True]
