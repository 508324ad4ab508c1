"""Shared helpers for the bank-statement tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.bank_statement import BankStatementConfig

HERE = Path(__file__).parent
STATEMENTS = HERE / "statements"
HDFC = "50100123456789"


def config(**values: Any) -> BankStatementConfig:
    return BankStatementConfig.model_validate(values)


def read(name: str) -> bytes:
    return (STATEMENTS / name).read_bytes()
