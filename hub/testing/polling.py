"""``PollingSourceContract``: cursors resume, empty pages keep the cursor, nothing is lost."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from hub.connector import Page, PollContext, PollingSource
from hub.events import Event
from hub.schemas import validate_data

__all__ = ["PollingSourceContract"]

MAX_PAGES = 200


@pytest.mark.contract
class PollingSourceContract:
    """Subclass (as ``TestSomething``), set ``source``/``config``, implement the async hooks.

    The vendor is whatever the hooks talk to: a sandbox on loopback, a real
    server started by a fixture, a folder. ``seed(n)`` adds ``n`` new items at
    the vendor; ``context()`` builds the ``PollContext`` the poll gets.
    """

    source: ClassVar[type[PollingSource[Any, Any]]]
    config: ClassVar[dict[str, Any]]

    async def context(self) -> PollContext:
        raise NotImplementedError("override context() -> PollContext")

    async def seed(self, n: int) -> None:
        raise NotImplementedError("override seed(n): add n new items at the vendor")

    def make_source(self) -> PollingSource[Any, Any]:
        model = _config_model(self.source)
        return self.source(model.model_validate(self.config), "contract-test")

    async def drain(self, source: PollingSource[Any, Any], cursor: Any) -> tuple[list[Event], Any]:
        """Poll until the source says there is no more; all events and the last cursor."""
        events: list[Event] = []
        for _ in range(MAX_PAGES):
            page: Page[Any] = await source.poll(cursor, await self.context())
            events.extend(page.events)
            cursor = page.cursor
            json.dumps(cursor)  # the hub stores cursors as JSON
            if not page.more:
                return events, cursor
        raise AssertionError(f"still `more` after {MAX_PAGES} pages")

    async def test_first_poll_gets_everything_valid(self) -> None:
        await self.seed(5)
        events, _ = await self.drain(self.make_source(), None)
        keys = {e.idempotency_key for e in events}
        assert len(keys) >= 5, (
            f"expected at least the 5 seeded items, got {len(keys)} distinct keys"
        )
        for event in events:
            assert event.type in self.source.emits, (
                f"{event.type} not in {self.source.__name__}.emits"
            )
            validate_data(event.type, event.data)

    async def test_empty_poll_keeps_the_cursor(self) -> None:
        await self.seed(3)
        source = self.make_source()
        seen, cursor = await self.drain(source, None)
        page = await source.poll(cursor, await self.context())
        known = {e.idempotency_key for e in seen}
        new = [e.idempotency_key for e in page.events if e.idempotency_key not in known]
        assert not new, f"with nothing new at the vendor, a poll returned new keys {new[:5]}"
        # Re-fetching an overlap (same keys) may move a window forward; an empty page may not.
        if not page.events:
            assert page.cursor == cursor, "an empty poll moved the cursor"
        assert not page.more

    async def test_resumes_from_cursor_and_loses_nothing_across_a_restart(self) -> None:
        await self.seed(3)
        _, cursor = await self.drain(self.make_source(), None)
        before = {e.idempotency_key for e in (await self.drain(self.make_source(), None))[0]}
        await self.seed(2)
        restarted = self.make_source()  # a new instance, as after a process restart
        events, _ = await self.drain(restarted, json.loads(json.dumps(cursor)))
        fresh = {e.idempotency_key for e in events} - before
        assert len(fresh) == 2, f"after a restart the poll found {len(fresh)} of the 2 new items"


def _config_model(source: type[PollingSource[Any, Any]]) -> Any:
    for base in getattr(source, "__orig_bases__", ()):
        args = getattr(base, "__args__", ())
        if args:
            return args[0]
    raise TypeError(
        f"{source.__name__} does not say its config type (PollingSource[Config, Cursor])"
    )
