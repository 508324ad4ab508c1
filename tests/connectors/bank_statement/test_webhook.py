"""BankCreditWebhook: our signed credit-advice contract, strict validation, shared ids."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict
from pydantic import ValidationError

from connectors.bank_statement import BankCreditWebhook, BankStatementConfig
from connectors.bank_statement.parsers import parse_bytes
from hub.connector import WebhookRequest
from hub.errors import ParseError, SignatureError
from hub.events import Event
from hub.schemas import validate_event

from .helpers import HDFC, config, read

SECRET = "whsec_bank_5e1f"
ADVICE: dict[str, Any] = {
    "account": HDFC,
    "direction": "credit",
    "amount": "98231.50",
    "currency": "INR",
    "booked_on": "2024-04-15",
    "value_date": "2024-04-15",
    "utr": "YESBN12024041500123456",
    "narration": "NEFT CR-YESB0000001-RAZORPAY SOFTWARE PVT LTD-HUB TRADERS PVT LTD-YESBN12024041500123456",
    "counterparty": {"name": "RAZORPAY SOFTWARE PVT LTD", "ifsc": "yesb0000001"},
}


def hook(**values: Any) -> BankCreditWebhook:
    return BankCreditWebhook(config(webhook_secret=SECRET, **values), connection="bank-main")


def request(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest("POST", "/hooks/bank-main", CIMultiDict(headers), {}, body)


def signed(doc: Any, secret: str = SECRET, header: str = "X-Hub-Signature") -> WebhookRequest:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return request(body, {header: f"sha256={digest}"})


def receive(doc: Any, src: BankCreditWebhook | None = None) -> Event:
    src = src or hook()
    req = signed(doc)
    src.verify(req)
    (event,) = src.parse(req)
    return event


def test_advice_becomes_a_posted_transaction() -> None:
    event = receive(ADVICE)
    validate_event(event.bind("bank-main", "bank_statement").to_dict())
    assert event.type == "bank.transaction.posted"
    assert event.data["mode"] == "neft" and event.data["source_format"] == "webhook"
    assert event.data["counterparty"] == {
        "name": "RAZORPAY SOFTWARE PVT LTD",
        "vpa": None,
        "account": None,
        "ifsc": "YESB0000001",
    }
    assert event.raw == ADVICE


def test_advice_and_statement_line_share_the_idempotency_key() -> None:
    event = receive(ADVICE)
    csv = parse_bytes(read("hdfc_20240415-17.csv"), config())
    assert event.data["transaction_id"] == csv[1]["transaction_id"]
    assert event.idempotency_key == f"bank.transaction.posted:{csv[1]['transaction_id']}"


def test_minimal_advice_with_the_banks_own_reference() -> None:
    doc = {k: ADVICE[k] for k in ("account", "direction", "amount", "currency", "booked_on")}
    event = receive({**doc, "transaction_id": "S81234567", "mode": "imps"})
    assert event.data["reference"]["bank_reference"] == "S81234567"
    assert event.data["mode"] == "imps" and event.data["value_date"] is None
    assert receive({**doc, "transaction_id": "S81234567"}).idempotency_key == event.idempotency_key


# ------------------------------------------------------------------ signatures


def test_tampered_body_is_refused() -> None:
    req = signed(ADVICE)
    tampered = request(req.body.replace(b"98231.50", b"99231.50"), dict(req.headers))
    with pytest.raises(SignatureError, match="X-Hub-Signature does not match the body"):
        hook().verify(tampered)


@given(st.binary(min_size=1, max_size=64), st.integers(0, 200))
def test_any_flipped_byte_is_refused(noise: bytes, at: int) -> None:
    req = signed(ADVICE)
    body = bytearray(req.body)
    i = at % len(body)
    body[i] ^= noise[0] or 1
    with pytest.raises(SignatureError):
        hook().verify(request(bytes(body), dict(req.headers)))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature": ""},
        {"X-Hub-Signature": "sha256=00"},
        {"X-Hub-Signature": "sha256=é"},
    ],
)
def test_missing_or_wrong_signature(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        hook().verify(request(b"{}", headers))


def test_wrong_secret_and_no_secret() -> None:
    with pytest.raises(SignatureError):
        hook().verify(signed(ADVICE, secret="other"))
    with pytest.raises(SignatureError, match="set webhook_secret"):
        BankCreditWebhook(BankStatementConfig()).verify(signed(ADVICE))


def test_base64_and_custom_header() -> None:
    src = hook(signature_header="X-Bank-Sig", signature_encoding="base64")
    body = json.dumps(ADVICE).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    src.verify(request(body, {"x-bank-sig": digest}))  # prefix optional, header case-insensitive
    src.verify(request(body, {"X-Bank-Sig": f"sha256={digest}"}))
    with pytest.raises(SignatureError):
        src.verify(signed(ADVICE))


def test_config_rejects_empty_secret_and_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        config(webhook_secret="")
    with pytest.raises(ValidationError):
        config(webhook_secrte="x")
    with pytest.raises(ValidationError, match="needs custom_csv"):
        config(csv_profile="custom")
    with pytest.raises(ValidationError, match="needs 'debit' and 'credit', or 'amount'"):
        config(csv_profile="custom", custom_csv={"date": "D", "narration": "N", "debit": "W"})
    assert SECRET not in repr(config(webhook_secret=SECRET))


# ------------------------------------------------------------------ strict validation


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"amount": 98231.5}, r"amount must be a string"),
        ({"amount": "-5.00"}, r"amount must be a positive decimal"),
        ({"amount": "0"}, r"amount must be a positive decimal"),
        ({"currency": "inr"}, r"currency must be an ISO 4217"),
        ({"direction": "in"}, r'direction must be "credit" or "debit"'),
        ({"booked_on": "15/04/2024"}, r"booked_on '15/04/2024' is not a YYYY-MM-DD date"),
        ({"booked_on": "2024-02-30"}, r"booked_on '2024-02-30' is not a YYYY-MM-DD date"),
        ({"booked_on": None}, r"booked_on is required"),
        ({"account": None}, r"account is required"),
        ({"utr": None}, r"one of utr, rrn or transaction_id is required"),
        ({"rrn": "12345"}, r"rrn must be 12 digits"),
        ({"mode": "wire"}, r"mode must be one of"),
        ({"balance_after": "1,000"}, r"balance_after must be a decimal string"),
        ({"amout": "1"}, r"unknown field 'amout'"),
        ({"counterparty": {"nm": "x"}}, r"unknown field counterparty.nm"),
        (
            {"counterparty": {"ifsc": "HDFC000001"}},
            r"counterparty.ifsc 'HDFC000001' is not an IFSC",
        ),
        ({"counterparty": "x"}, r"counterparty must be an object"),
    ],
)
def test_each_bad_field_is_named(change: dict[str, Any], reason: str) -> None:
    doc = {k: v for k, v in {**ADVICE, **change}.items() if v is not None}
    with pytest.raises(ParseError, match=reason):
        receive(doc)


def test_not_an_object_and_not_json() -> None:
    with pytest.raises(ParseError, match="expected a JSON object"):
        receive([ADVICE])
    with pytest.raises(ParseError, match="not valid JSON"):
        receive(b"{nope")


def test_other_accounts_advice_is_refused() -> None:
    with pytest.raises(ParseError, match="is not this connection's account"):
        receive(ADVICE, hook(account="123"))


@given(
    st.dictionaries(
        st.sampled_from(sorted(ADVICE)), st.none() | st.text(max_size=30) | st.integers()
    )
)
def test_arbitrary_fields_give_an_event_or_parse_error(doc: dict[str, Any]) -> None:
    with contextlib.suppress(ParseError):
        receive({**ADVICE, **doc})
