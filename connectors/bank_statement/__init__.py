"""Bank statements: MT940, camt.053 and Indian bank CSV exports from a drop folder, plus credit advices.

Events: ``bank.transaction.posted`` (``hub/schemas/bank_transaction.json``), one
per posted statement line, from two sources:

- ``bank_statement.folder`` (``StatementFolder``) polls a folder for statement
  files: SWIFT MT940 (``parsers/mt940.py``, with the ``mt-940`` library), ISO
  20022 camt.053.001.02-13 (``parsers/camt053.py``, with defusedxml) and the
  net-banking CSV exports of HDFC, ICICI, SBI, Axis and Kotak or a configured
  layout (``parsers/csv_profiles.py``). Only settled files are read; a file
  that cannot be parsed is moved to ``<folder>/quarantine/`` with a
  ``.reason.txt`` and its reason is kept in the cursor.
- ``bank_statement.webhook`` (``BankCreditWebhook``) accepts signed JSON credit
  advices; the contract is in ``webhook.py``.

Narrations (UPI, NEFT, IMPS, RTGS, cheque, card, ACH/NACH, cash, bank
postings) are parsed into ``mode``, ``reference`` (UTR, RRN, cheque number,
bank reference) and ``counterparty`` by ``narration.py``.

``transaction_id`` is stable: the same line in overlapping or re-downloaded
statements, and in MT940, camt.053 and CSV of the same account when it
carries a UTR/RRN, gets the same id and idempotency key
(``bank.transaction.posted:<transaction_id>``); the rule and its limits are in
``transactions.py``.

Auth: the folder is local (or a mount); the webhook is HMAC-SHA256 over the
raw body (``X-Hub-Signature: sha256=<hex>``, header and encoding configurable).

Actions: none.

Docs:
    https://www.swift.com/standards/data-standards/mt-mx (MT940 / camt.053)
    https://www.iso20022.org/iso-20022-message-definitions (camt.053)
    https://github.com/WoLpH/mt940
    reference/bank-statements.md (formats, narrations, UTR/RRN)
"""

from __future__ import annotations

from hub.connector import Connector

from .config import BankStatementConfig, CsvProfileConfig
from .sources import StatementFolder
from .webhook import BankCreditWebhook

__all__ = [
    "BankCreditWebhook",
    "BankStatementConfig",
    "CsvProfileConfig",
    "StatementFolder",
    "connector",
]

connector = Connector(
    name="bank_statement",
    title="Bank statements",
    config=BankStatementConfig,
    webhook=BankCreditWebhook,
    pollers=(StatementFolder,),
    docs="https://github.com/WoLpH/mt940",
)
