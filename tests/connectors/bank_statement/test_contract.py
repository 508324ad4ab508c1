"""Bank statements pass the hub's standard contracts (hub.testing): credit webhook and folder poller."""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connectors.bank_statement import BankCreditWebhook, BankStatementConfig, StatementFolder
from connectors.bank_statement.webhook import sign
from hub.connector import PollContext, PollingSource
from hub.events import Event
from hub.http import HttpClient
from hub.testing import PollingSourceContract, WebhookSourceContract

from .helpers import HDFC

SECRET = "whsec_bank_contract_91c4"


class TestBankCreditWebhookContract(WebhookSourceContract):
    # Bodies per the contract in connectors/bank_statement/webhook.py: UTR, RRN and
    # bank-reference-only advices, credits and a debit, minimal and full.
    source = BankCreditWebhook
    config: ClassVar[dict[str, Any]] = {"account": HDFC, "webhook_secret": SECRET}
    payloads = Path(__file__).parent / "webhook_payloads"

    def sign(self, body: bytes) -> dict[str, str]:
        return {"X-Hub-Signature": sign(SECRET, body)}


_HEADER = (
    "HDFC BANK Ltd.,,,,,,\n"
    "HUB TRADERS PVT LTD,,,,,,\n"
    f"Account No :{HDFC},,,,,,\n"
    ",,,,,,\n"
    "Date,Narration,Chq./Ref.No.,Value Dt,Withdrawal Amt.,Deposit Amt.,Closing Balance\n"
)


class TestStatementFolderContract(PollingSourceContract):
    """The folder poller against a real temporary folder of HDFC CSV exports.

    ``seed(n)`` drops one new statement file with ``n`` new UPI credits, with its
    mtime an hour in the past so that ``settle_seconds`` (left at its default)
    is already met. The source still reads a file only on its *second* look
    (same size and mtime at two polls: a copy that keeps an old mtime is never
    half-read), so one scheduler tick is not enough to see a new file; see
    ``drain``.
    """

    source = StatementFolder
    config: ClassVar[dict[str, Any]] = {"account": HDFC}
    folder: Path
    _serial: ClassVar[Iterator[int]] = itertools.count(1)

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "statements"
        self.folder.mkdir()
        self.files = 0

    def make_source(self) -> PollingSource[Any, Any]:
        cfg = BankStatementConfig.model_validate({**self.config, "folder": str(self.folder)})
        return StatementFolder(cfg, "contract-test")

    async def context(self) -> PollContext:
        return PollContext(
            connection="contract-test",
            http=HttpClient(),
            now=datetime.now(UTC),
            log=logging.getLogger("test.bank.contract"),
        )

    async def seed(self, n: int) -> None:
        self.files += 1
        balance = Decimal("100000.00")
        rows = []
        for _ in range(n):
            k = next(self._serial)
            amount = Decimal(1000 + k) + Decimal("0.50")
            balance += amount
            rrn = f"4106{k:08d}"
            rows.append(
                f"20/05/24,UPI-CUSTOMER {k}-CUST{k}@OKAXIS-UTIB0000123-{rrn}-INVOICE {k},"
                f"0000{rrn},20/05/24,,{amount},{balance}\n"
            )
        path = self.folder / f"hdfc_{self.files:03d}.csv"
        path.write_text(_HEADER + "".join(rows), encoding="utf-8")
        aged = time.time_ns() - 3600 * 10**9 + self.files * 10**9  # settled, oldest first
        os.utime(path, ns=(aged, aged))

    async def drain(self, source: PollingSource[Any, Any], cursor: Any) -> tuple[list[Event], Any]:
        """Two scheduler ticks, each drained by the kit: the folder's documented two looks.

        The first tick records a new file's size and mtime, the second reads it
        if they did not change. Everything else (cursor JSON round trip, ``more``
        handling, page limit) is the kit's own ``drain``.
        """
        first, cursor = await super().drain(source, cursor)
        second, cursor = await super().drain(source, cursor)
        return first + second, cursor
