"""The Razorpay payments poller passes the hub's standard polling contract (hub.testing)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiohttp
import pytest

from connectors.razorpay import RazorpayConfig, RazorpayPayments
from connectors.razorpay.sandbox import SandboxState, create_sandbox_app, serve
from hub.connector import PollContext, PollingSource
from hub.http import HttpClient
from hub.testing import PollingSourceContract

KEY_ID = "rzp_test_contract"
KEY_SECRET = "contract_key_secret_4f1a"
STATUSES = ("captured", "failed", "authorized", "refunded")
#: Payments are made, then the scheduled poll runs: one interval plus the overlap later,
#: so each poll's window reaches past what it already saw (see ``seed``).
LATER = int((RazorpayPayments.interval + RazorpayPayments.overlap).total_seconds())


class TestRazorpayPaymentsContract(PollingSourceContract):
    """``GET /v1/payments`` through the official SDK, against the sandbox on loopback.

    A virtual clock (Unix seconds) is shared by the sandbox and ``context().now``:
    ``seed(n)`` adds ``n`` payments created "now" through ``POST
    /__sandbox__/payments`` and then lets ``LATER`` seconds pass, as between
    a payment and the next scheduled poll. A poll right after a drain then has
    a window with nothing new in it (the source keeps its cursor), and payments
    seeded after a drain fall after the cursor (the source must find them).
    """

    source = RazorpayPayments
    config: ClassVar[dict[str, Any]] = {
        "webhook_secret": "whsec_contract_unused",
        "key_id": KEY_ID,
        "key_secret": KEY_SECRET,
    }
    url: str
    now: int

    @pytest.fixture(autouse=True)
    async def _sandbox(self) -> AsyncIterator[None]:
        self.now = int(time.time())
        state = SandboxState(key_id=KEY_ID, key_secret=KEY_SECRET, clock=lambda: float(self.now))
        async with serve(create_sandbox_app(state)) as url:
            self.url = url
            yield

    def make_source(self) -> PollingSource[Any, Any]:
        cfg = RazorpayConfig.model_validate({**self.config, "api_base_url": self.url})
        return RazorpayPayments(cfg, "contract-test")

    async def context(self) -> PollContext:
        return PollContext(
            connection="contract-test",
            http=HttpClient(),
            now=datetime.fromtimestamp(self.now, UTC),
        )

    async def seed(self, n: int) -> None:
        rows = [
            {"status": STATUSES[i % len(STATUSES)], "created_at": self.now - i, "amount": 1000 + i}
            for i in range(n)
        ]
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/__sandbox__/payments", json=rows) as resp,
        ):
            assert resp.status == 201, await resp.text()
            assert len((await resp.json())["added"]) == n
        self.now += LATER


def test_later_is_past_the_overlap() -> None:
    # The seeding above relies on it: a poll after a drain starts an overlap before
    # the last window's end, which must be after the payments seeded before it.
    assert timedelta(seconds=LATER) > RazorpayPayments.overlap
