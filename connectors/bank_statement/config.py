"""The settings of one bank-statement connection: one account, one drop folder, one webhook."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.connector import ConnectorConfig
from hub.secrets import Secret

__all__ = ["BankStatementConfig", "CsvProfileConfig"]

MIB = 2**20


class CsvProfileConfig(BaseModel):
    """A CSV layout the built-in profiles do not know: which column holds what.

    Give either ``debit`` and ``credit`` columns, or one ``amount`` column with
    a ``direction`` column (``Dr``/``Cr``) or a ``Dr``/``Cr`` suffix or a sign.
    Column names are matched case-insensitively, ignoring spaces and punctuation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: str = Field(description="Header of the booking-date column, e.g. 'Txn Date'.")
    narration: str = Field(description="Header of the description/narration column.")
    date_format: str = Field(
        default="%d/%m/%Y", description="strptime format of the dates, e.g. '%d-%b-%Y'."
    )
    debit: str | None = Field(default=None, description="Header of the withdrawals column.")
    credit: str | None = Field(default=None, description="Header of the deposits column.")
    amount: str | None = Field(
        default=None, description="Header of a single signed or Dr/Cr-suffixed amount column."
    )
    direction: str | None = Field(
        default=None, description="Header of a Dr/Cr column going with 'amount'."
    )
    balance: str | None = Field(default=None, description="Header of the running balance.")
    value_date: str | None = Field(default=None, description="Header of the value-date column.")
    reference: str | None = Field(
        default=None, description="Header of the bank reference (Chq./Ref.No.) column."
    )
    cheque: str | None = Field(default=None, description="Header of a cheque-number column.")
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="Field separator.")
    skip_rows: int = Field(
        default=0, ge=0, le=1000, description="Lines before the header row (account info)."
    )
    encoding: str = Field(default="utf-8-sig", description="Text encoding, e.g. 'cp1252'.")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {value!r}") from exc
        return value


class BankStatementConfig(ConnectorConfig):
    """Settings for one bank account's statements and credit advices."""

    account: str | None = Field(
        default=None,
        description=(
            "Account number. CSV exports rarely name the account, so it is required for them "
            "unless the file's preamble has 'Account No'; MT940/camt.053 files for any other "
            "account are quarantined."
        ),
    )
    folder: str | None = Field(
        default=None,
        description="Drop folder polled for statement files (a quarantine/ folder is made in it).",
    )
    patterns: tuple[str, ...] = Field(
        default=("*.sta", "*.mt940", "*.940", "*.txt", "*.xml", "*.csv"),
        min_length=1,
        description="Glob patterns of statement files in the folder (not recursive).",
    )
    csv_profile: Literal["hdfc", "icici", "sbi", "axis", "kotak", "custom"] | None = Field(
        default=None,
        description="CSV layout; unset = detect from the header row. 'custom' uses custom_csv.",
    )
    custom_csv: CsvProfileConfig | None = Field(
        default=None, description="Column mapping for csv_profile 'custom'."
    )
    currency: str = Field(
        default="INR", pattern=r"^[A-Z]{3}$", description="Currency of CSV statements."
    )
    max_file_bytes: int = Field(
        default=20 * MIB, ge=1024, description="Larger files are quarantined unread."
    )
    settle_seconds: float = Field(
        default=30,
        ge=0,
        description="A file is read only when unchanged for this long and across two polls.",
    )
    files_per_poll: int = Field(default=5, ge=1, le=100, description="Files read per poll.")
    history: int = Field(
        default=2000,
        ge=10,
        le=100_000,
        description="Processed-file fingerprints kept in the cursor (oldest dropped first).",
    )
    webhook_secret: Secret | None = Field(
        default=None, description="HMAC key of the credit-advice webhook (required to use it)."
    )
    signature_header: str = Field(
        default="X-Hub-Signature", description="Header carrying 'sha256=<digest>'."
    )
    signature_encoding: Literal["hex", "base64"] = Field(
        default="hex", description="How the digest in the signature header is written."
    )

    @field_validator("custom_csv")
    @classmethod
    def _custom_complete(cls, value: CsvProfileConfig | None) -> CsvProfileConfig | None:
        if value is not None and not ((value.debit and value.credit) or value.amount is not None):
            raise ValueError("needs 'debit' and 'credit', or 'amount'")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _usable_secret(cls, value: Secret | None) -> Secret | None:
        if value is not None and not value.reveal():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _custom_needs_mapping(self) -> BankStatementConfig:
        if self.csv_profile == "custom" and self.custom_csv is None:
            raise ValueError("csv_profile 'custom' needs custom_csv (the column mapping)")
        return self
