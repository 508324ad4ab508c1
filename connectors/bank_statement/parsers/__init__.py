"""Statement files → normalized ``bank_transaction`` data: format detection, size limit, ids.

``parse_bytes`` is pure (bytes in, list of data dicts out); ``parse_file``
refuses a file over the size limit from its ``stat`` before reading a byte.
Every failure is a ``StatementError`` (a ``ParseError``) saying where and why.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Final, Literal

from ..config import BankStatementConfig
from ..transactions import Line, StatementError, assign_ids, normalize_account
from .camt053 import parse_camt053
from .csv_profiles import PROFILES, CsvProfile, parse_csv, profile_from_config
from .mt940 import parse_mt940

__all__ = [
    "StatementError",
    "detect_format",
    "format_size",
    "parse_bytes",
    "parse_camt053",
    "parse_csv",
    "parse_file",
    "parse_mt940",
]

Format = Literal["mt940", "camt053", "csv"]
_SNIFF: Final = 4096


def format_size(size: int) -> str:
    """``104857600`` → ``"100 MB"`` (binary megabytes, as people read file sizes)."""
    mib = size / 2**20
    return f"{mib:.0f} MB" if mib >= 10 else f"{mib:.1f} MB"


def detect_format(data: bytes) -> Format:
    """Tell the format from the content (extensions lie: ``.txt`` is used for all three)."""
    head = data[:_SNIFF].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "camt053"
    if head.startswith((b":20:", b"{1:", b":NS:")) or (b"\n:20:" in head and b":25:" in head):
        return "mt940"
    return "csv"


def _csv_profile(config: BankStatementConfig) -> CsvProfile | None:
    if config.csv_profile == "custom":
        if config.custom_csv is None:
            raise StatementError("csv_profile is 'custom' but custom_csv is not set")
        return profile_from_config(config.custom_csv)
    return PROFILES[config.csv_profile] if config.csv_profile else None


def parse_bytes(data: bytes, config: BankStatementConfig) -> list[dict[str, Any]]:
    """The transactions of one statement file, as schema-shaped data with stable ids.

    Raises:
        StatementError: the file is over the limit, cannot be parsed, or is for
            another account than the configured one.
    """
    if len(data) > config.max_file_bytes:
        raise StatementError(
            f"statement is {format_size(len(data))}, over the "
            f"{format_size(config.max_file_bytes)} limit"
        )
    kind = detect_format(data)
    lines: list[Line]
    if kind == "camt053":
        lines = parse_camt053(data)
    elif kind == "mt940":
        lines = parse_mt940(data)
    else:
        lines = parse_csv(
            data, profile=_csv_profile(config), account=config.account, currency=config.currency
        )
    if config.account:
        expected = normalize_account(config.account)
        for line in lines:
            if line.account != expected:
                raise StatementError(
                    f"{line.position}: statement is for account {line.account}, "
                    f"this connection is for {expected}"
                )
    return assign_ids(lines)


def parse_file(path: Path, config: BankStatementConfig) -> tuple[str, list[dict[str, Any]]]:
    """Read and parse one file; returns (sha256 of the bytes read, transactions).

    The size is checked with ``stat`` first, so an oversized file is never read.
    """
    size = os.stat(path).st_size
    if size > config.max_file_bytes:
        raise StatementError(
            f"statement is {format_size(size)}, over the {format_size(config.max_file_bytes)} limit"
        )
    with open(path, "rb") as handle:
        data = handle.read(config.max_file_bytes + 1)
    digest = hashlib.sha256(data).hexdigest()
    return digest, parse_bytes(data, config)
