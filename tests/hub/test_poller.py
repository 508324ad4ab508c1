"""The poller runtime and backfill, with a polling connector defined here and a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from hub.app import Hub, load_hub
from hub.backfill import backfill
from hub.config import HubConfig
from hub.connector import Connector, ConnectorConfig, Page, PollContext, PollingSource
from hub.errors import AuthError, ConfigError, TransientError
from hub.events import Event, event_id
from hub.registry import Registry
from tests import services

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class LedgerConfig(ConnectorConfig):
    page_size: int = 3


class Ledger(PollingSource[LedgerConfig, int]):
    """Settlements from an in-memory 'vendor', oldest first; the cursor is the last index."""

    name = "ledger.settlements"
    emits = ("settlement.processed",)
    interval = timedelta(seconds=0.05)
    rows: ClassVar[list[int]] = []
    failures: ClassVar[list[Exception]] = []
    calls: ClassVar[int] = 0

    async def poll(self, cursor: int | None, ctx: PollContext) -> Page[int]:
        type(self).calls += 1
        if self.failures:
            raise self.failures.pop(0)
        start = cursor or 0
        batch = self.rows[start : start + self.config.page_size]
        events = [_settlement(n) for n in batch]
        return Page(
            events,
            start + len(batch) if batch else cursor,
            more=len(batch) == self.config.page_size,
        )

    @staticmethod
    def cursor_since(since: datetime) -> int:
        return max(0, int((since - T0).total_seconds() // 3600))

    def progress(self, cursor: int) -> tuple[float, float]:
        return float(cursor), float(len(self.rows))


def _settlement(n: int) -> Event:
    return Event.create(
        type="settlement.processed",
        subject=f"setl_{n}",
        idempotency_key=f"settlement.processed:setl_{n}",
        time=T0 + timedelta(hours=n),
        data={
            "gateway": "ledger",
            "settlement_id": f"setl_{n}",
            "status": "processed",
            "amount": f"{n}.00",
            "fees": "0.00",
            "tax": "0.00",
            "currency": "INR",
            "utr": None,
            "created_at": (T0 + timedelta(hours=n)).isoformat(),
        },
    )


LEDGER = Connector(name="ledger", title="Ledger", config=LedgerConfig, pollers=(Ledger,))


@pytest.fixture(autouse=True)
def _reset() -> None:
    Ledger.rows = list(range(10))
    Ledger.failures = []
    Ledger.calls = 0


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    config = HubConfig.model_validate(
        {
            "store": services.store_url(tmp_path),
            "data_dir": str(tmp_path),
            "recipes": [],
            "connections": {"ledger-main": {"connector": "ledger", "config": {}}},
        }
    )
    hub = load_hub(config, Registry([LEDGER]))
    yield hub
    await hub.stop()


async def _wait(hub: Hub, events: int) -> dict[str, int]:
    for _ in range(200):
        counts = await hub.store.counts()
        if counts["events"] >= events:
            return counts
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {counts['events']} events")


async def test_pages_until_caught_up_then_keeps_the_cursor(hub: Hub) -> None:
    await hub.start(run_engine=False)
    await _wait(hub, 10)
    assert await hub.store.get_cursor("ledger-main", "ledger.settlements") == 10
    calls = Ledger.calls
    await asyncio.sleep(0.2)  # empty polls: the cursor stays put, nothing is stored twice
    assert Ledger.calls > calls
    assert await hub.store.get_cursor("ledger-main", "ledger.settlements") == 10
    assert (await hub.store.counts())["events"] == 10


async def test_restart_resumes_from_the_saved_cursor(hub: Hub, tmp_path: Path) -> None:
    await hub.start(run_engine=False)
    await _wait(hub, 10)
    await hub.stop()
    Ledger.rows.extend([10, 11])
    again = load_hub(hub.config, Registry([LEDGER]))
    await again.start(run_engine=False)
    try:
        await _wait(again, 12)
        await asyncio.sleep(0.1)
        assert (await again.store.counts())["events"] == 12
        assert await again.store.get_event(event_id("ledger-main", "settlement.processed:setl_11"))
    finally:
        await again.stop()


async def test_failures_back_off_and_are_recorded(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub import poller as poller_module

    monkeypatch.setattr(poller_module.Poller, "_backoff", staticmethod(lambda exc, n, i: 0.05))
    Ledger.failures = [TransientError("vendor 503"), AuthError("refresh token revoked")]
    await hub.start(run_engine=False)
    await _wait(hub, 10)
    row = await hub.store.get_connection("ledger-main")
    assert row is not None
    assert row.state["needs_reauth"] is True and "revoked" in row.state["reauth_reason"]
    assert row.state["poll:ledger.settlements"]["ok"] is True


async def test_backfill_has_its_own_cursor_and_reports_progress(hub: Hub) -> None:
    await hub.start(run_engine=False, run_pollers=False)
    seen: list[tuple[float, float] | None] = []
    report = await backfill(
        hub, "ledger-main", T0 + timedelta(hours=4), on_page=lambda r: seen.append(r.progress)
    )
    assert report.stored == 6 and report.duplicates == 0
    assert seen[-1] == (10.0, 10.0)
    assert await hub.store.get_cursor("ledger-main", "ledger.settlements") is None
    assert await hub.store.get_cursor("ledger-main", "ledger.settlements#backfill") == 10
    again = await backfill(hub, "ledger-main", T0)
    assert again.stored == 4 and again.duplicates == 6


async def test_backfill_needs_a_capable_source(hub: Hub) -> None:
    await hub.start(run_engine=False, run_pollers=False)
    with pytest.raises(ConfigError, match="no polling source that can backfill named 'nope'"):
        await backfill(hub, "ledger-main", T0, source="nope")
    with pytest.raises(ConfigError, match="unknown connection"):
        await backfill(hub, "ledger-mian", T0)
