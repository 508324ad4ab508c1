"""The polling contract catches planted mistakes: each broken poller fails the named test."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

POLLER = """
from __future__ import annotations
from datetime import UTC, datetime
from hub import ConnectorConfig, Event
from hub.connector import Page, PollContext, PollingSource
from hub.http import HttpClient
from hub.testing import PollingSourceContract

VENDOR: list[str] = []  # the "vendor": item ids, oldest first

class Cfg(ConnectorConfig):
    pass

class Poller(PollingSource[Cfg, int]):
    name = "planted.poll"
    emits = ("settlement.processed",)
    reset_on_empty = False
    skip_on_empty = False
    lose_one_on_resume = False

    async def poll(self, cursor, ctx):
        start = cursor or 0
        if self.lose_one_on_resume and cursor and not getattr(self, "polled", False):
            start += 1  # a new instance (a restart) skips the first item after its cursor
        self.polled = True
        items = VENDOR[start : start + 2]
        if not items:
            if self.reset_on_empty:
                return Page(events=[], cursor=None)
            if self.skip_on_empty:
                return Page(events=[], cursor=start + 1)
            return Page(events=[], cursor=cursor)
        events = [
            Event.create(type="settlement.processed", subject=i,
                         idempotency_key=f"settlement.processed:{i}",
                         data={"gateway": "planted", "settlement_id": i, "status": "processed",
                               "amount": "10.00", "fees": "0.50", "tax": "0.09",
                               "currency": "INR", "utr": None,
                               "created_at": "2026-01-01T00:00:00+00:00"})
            for i in items
        ]
        end = start + len(items)
        return Page(events=events, cursor=end, more=end < len(VENDOR))

class TestUnderTest(PollingSourceContract):
    source = type("Planted", (Poller,), PLANTED)
    config = {}

    def setup_method(self):
        VENDOR.clear()

    async def context(self):
        return PollContext(connection="t", http=HttpClient(), now=datetime.now(UTC))

    async def seed(self, n):
        VENDOR.extend(f"setl_{len(VENDOR) + k}" for k in range(n))
"""


def _run(pytester: pytest.Pytester, planted: str) -> pytest.RunResult:
    pytester.makepyfile(test_planted=textwrap.dedent(POLLER).replace("PLANTED", planted))
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    return pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")


def test_a_correct_poller_passes(pytester: pytest.Pytester) -> None:
    _run(pytester, "{}").assert_outcomes(passed=3)


@pytest.mark.parametrize("planted", ["reset_on_empty", "skip_on_empty"])
def test_an_empty_poll_that_moves_the_cursor_is_caught(
    pytester: pytest.Pytester, planted: str
) -> None:
    result = _run(pytester, f"{{{planted!r}: True}}")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*an empty poll moved the cursor*"])


def test_losing_an_item_on_resume_is_caught(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "{'lose_one_on_resume': True}")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*after a restart the poll found 1 of the 2 new items*"])
