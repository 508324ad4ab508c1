"""A bank's credit/debit advice pushed to the hub: our own signed JSON contract.

Many Indian banks (and middleware such as a treasury system or an RPA bot
reading the bank portal) can call a URL when money lands. The hub defines the
contract; the sender implements it.

**Request**: ``POST /hooks/{connection}``, ``Content-Type: application/json``,
header ``X-Hub-Signature: sha256=<digest>`` where ``<digest>`` is the
HMAC-SHA256 of the *raw body* under the connection's ``webhook_secret``,
lower-case hex (or base64 with ``signature_encoding: base64``; the header
name is ``signature_header``). The ``sha256=`` prefix is optional.

**Body**: one JSON object, unknown keys refused:

==================  ========  =====================================================
field               required  meaning
==================  ========  =====================================================
``account``         yes       account number credited/debited
``direction``       yes       ``"credit"`` or ``"debit"``
``amount``          yes       positive decimal **string**, major units (``"25000.00"``)
``currency``        yes       ISO 4217 (``"INR"``)
``booked_on``       yes       booking date ``YYYY-MM-DD``
``utr``             one of    NEFT/RTGS UTR
``rrn``             one of    UPI/IMPS RRN (12 digits)
``transaction_id``  one of    the bank's own reference for the line
``value_date``      no        ``YYYY-MM-DD`` or null
``narration``       no        the bank's description text (parsed like a statement's)
``mode``            no        ``upi``/``neft``/``imps``/``rtgs``/``cheque``/… (else from narration)
``balance_after``   no        decimal string, may be negative
``cheque``          no        cheque number
``counterparty``    no        object: ``name``, ``vpa``, ``account``, ``ifsc`` (all optional)
==================  ========  =====================================================

The event's ``transaction_id`` follows the statement rule
(``transactions.py``): with a UTR or RRN, the advice and the later statement
line of the same transfer get the same id and idempotency key, so the line
is posted once however it arrives. The sender's ``transaction_id`` is kept as
``reference.bank_reference``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import date
from decimal import Decimal
from typing import Any, Final

from hub.connector import WebhookRequest, WebhookSource
from hub.errors import ParseError, SignatureError
from hub.events import Event
from hub.schemas import SchemaViolation

from .config import BankStatementConfig
from .narration import IFSC
from .transactions import Line, assign_ids, normalize_account

__all__ = ["BankCreditWebhook", "sign"]

_FIELDS: Final = frozenset(
    {
        "account", "direction", "amount", "currency", "booked_on", "utr", "rrn",
        "transaction_id", "value_date", "narration", "mode", "balance_after", "cheque",
        "counterparty",
    }
)  # fmt: skip
_PARTY_FIELDS: Final = frozenset({"name", "vpa", "account", "ifsc"})
_MODES: Final = frozenset(
    {"upi", "neft", "imps", "rtgs", "cheque", "card", "ach", "nach", "cash", "internal", "other"}
)
_AMOUNT: Final = re.compile(r"[0-9]{1,15}(\.[0-9]{1,4})?")
_SIGNED: Final = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,4})?")
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def sign(secret: str, body: bytes, encoding: str = "hex") -> str:
    """The ``X-Hub-Signature`` value for ``body``: ``sha256=<hex or base64 HMAC-SHA256>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    text = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return f"sha256={text}"


def _text(
    body: dict[str, Any], name: str, *, required: bool = False, limit: int = 500
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ParseError(f"{name} is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise ParseError(f"{name} must be a string of at most {limit} characters")
    return value.strip() or None


def _date(body: dict[str, Any], name: str, *, required: bool = False) -> date | None:
    value = _text(body, name, required=required, limit=10)
    if value is None:
        return None
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ParseError(f"{name} {value!r} is not a YYYY-MM-DD date") from exc


class BankCreditWebhook(WebhookSource[BankStatementConfig]):
    """Credit/debit advices pushed as signed JSON (contract in this module's docstring)."""

    name = "bank_statement.webhook"
    emits = ("bank.transaction.posted",)

    def verify(self, request: WebhookRequest) -> None:
        """Check the HMAC-SHA256 signature of the raw body (constant time).

        Raises:
            SignatureError: no secret configured, header missing, or no match.
        """
        header = self.config.signature_header
        secret = self.config.webhook_secret
        if secret is None:
            raise SignatureError("bank_statement: set webhook_secret to accept credit advices")
        sent = request.headers.get(header)
        if not sent:
            raise SignatureError(f"{header} header is missing")
        value = sent.strip()
        if value.lower().startswith("sha256="):
            value = value[7:]
        expected = sign(secret.reveal(), request.body, self.config.signature_encoding)[7:]
        if self.config.signature_encoding == "hex":
            value = value.lower()
        if not (value.isascii() and hmac.compare_digest(expected, value)):
            raise SignatureError(f"{header} does not match the body: check webhook_secret")

    def parse(self, request: WebhookRequest) -> list[Event]:
        """One ``bank.transaction.posted`` event per advice.

        Raises:
            ParseError: not the contract; the message names the field.
        """
        body = request.json()
        if not isinstance(body, dict):
            raise ParseError("expected a JSON object")
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise ParseError(
                f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(_FIELDS))})"
            )
        account = _text(body, "account", required=True, limit=64) or ""
        if not normalize_account(account):
            raise ParseError("account has no letters or digits")
        if self.config.account and normalize_account(account) != normalize_account(
            self.config.account
        ):
            raise ParseError(
                f"account {normalize_account(account)} is not this connection's account"
            )
        direction = body.get("direction")
        if direction not in ("credit", "debit"):
            raise ParseError('direction must be "credit" or "debit"')
        amount_text = _text(body, "amount", required=True, limit=24) or ""
        if not _AMOUNT.fullmatch(amount_text) or Decimal(amount_text) == 0:
            raise ParseError('amount must be a positive decimal string such as "25000.00"')
        currency = _text(body, "currency", required=True, limit=3) or ""
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise ParseError('currency must be an ISO 4217 code such as "INR"')
        booked_on = _date(body, "booked_on", required=True)
        value_date = _date(body, "value_date")
        utr, rrn = _text(body, "utr", limit=35), _text(body, "rrn", limit=35)
        bank_ref = _text(body, "transaction_id", limit=64)
        if not (utr or rrn or bank_ref):
            raise ParseError("one of utr, rrn or transaction_id is required")
        if rrn is not None and not re.fullmatch(r"[0-9]{12}", rrn):
            raise ParseError("rrn must be 12 digits")
        balance_text = _text(body, "balance_after", limit=24)
        if balance_text is not None and not _SIGNED.fullmatch(balance_text):
            raise ParseError("balance_after must be a decimal string")
        mode = body.get("mode")
        if mode is not None and mode not in _MODES:
            raise ParseError(f"mode must be one of {', '.join(sorted(_MODES))}")
        party = self._party(body.get("counterparty"))
        line = Line(
            account=normalize_account(account),
            booked_on=booked_on or date.min,
            value_date=value_date,
            direction="credit" if direction == "credit" else "debit",
            amount=Decimal(amount_text),
            currency=currency,
            narration=_text(body, "narration", limit=1000) or "",
            source_format="webhook",
            balance_after=Decimal(balance_text) if balance_text is not None else None,
            bank_reference=bank_ref,
            utr=utr.upper() if utr else None,
            rrn=rrn,
            cheque=_text(body, "cheque", limit=20),
            name=party.get("name"),
            vpa=party.get("vpa"),
            counterparty_account=party.get("account"),
            ifsc=party.get("ifsc"),
        )
        data = assign_ids([line])[0]
        if mode is not None:
            data["mode"] = mode
        key = f"bank.transaction.posted:{data['transaction_id']}"
        try:
            return [
                Event.create(
                    type="bank.transaction.posted",
                    subject=data["transaction_id"],
                    idempotency_key=key,
                    data=data,
                    raw=body,
                )
            ]
        except SchemaViolation as exc:
            raise ParseError(f"credit advice: {exc}") from exc

    @staticmethod
    def _party(value: Any) -> dict[str, str | None]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ParseError("counterparty must be an object")
        unknown = sorted(set(value) - _PARTY_FIELDS)
        if unknown:
            raise ParseError(f"unknown field counterparty.{unknown[0]}")
        out: dict[str, str | None] = {}
        for name in _PARTY_FIELDS:
            out[name] = _text(value, name, limit=200)
        ifsc = out.get("ifsc")
        if ifsc is not None and not IFSC.fullmatch(ifsc.upper()):
            raise ParseError(f"counterparty.ifsc {ifsc[:20]!r} is not an IFSC (AAAA0XXXXXX)")
        if ifsc is not None:
            out["ifsc"] = ifsc.upper()
        return out
