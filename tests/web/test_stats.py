"""Overview figures read from a real store (the suite's: SQLite or PostgreSQL)."""

from __future__ import annotations

from hub.web.stats import OverviewStats
from tests.helpers import payment_body
from tests.web.fixtures import Dash


async def test_overview_counts_what_happened(dash: Dash) -> None:
    for n in range(3):
        await dash.hub.post(payment_body(n))
    await dash.hub.settled(3)
    await dash.dead_delivery()
    stats = OverviewStats(dash.hub.hub.store)
    for key in ("hour", "day"):
        series = await stats.series(key)
        assert series.totals == {"events": 4, "ok": 7, "retried": 0, "failed": 1}, key
        assert len(series.starts) == series.window.buckets
        assert series.overall_p95 is not None and series.overall_p95 > 0
        assert sum(p is not None for p in series.p50) >= 1
    (books,) = await stats.health()
    assert (books.connection, books.failed_last_hour, books.dead_now) == ("books", 1, 1)
    backlog = await stats.backlog()
    assert (backlog.due_now, backlog.dead) == (0, 1)


async def test_overview_page_draws_the_charts(dash: Dash) -> None:
    await dash.dead_delivery()
    from hub.auth import Role

    b = await dash.browser(Role.VIEWER)
    page = await b.get("/")
    assert page.text.count("<svg") == 3
    assert 'class="seg seg-failed"' in page.text and 'class="line line-p95"' in page.text
    assert "1 dead" in page.text  # books, among the connections in trouble
