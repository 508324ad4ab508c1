"""The hub's standard webhook checks for ``CashfreeWebhook``, plus what is special about Cashfree."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hub import ParseError, SignatureError, SkipEvent, WebhookRequest
from hub.testing import WebhookSourceContract

from hub_cashfree import CashfreeConfig, CashfreeWebhook, connector
from hub_cashfree.normalize import amount
from hub_cashfree.sources import sign

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "cfsk_ma_test_4f1d9c2b7a"
OLD_SECRET = "cfsk_ma_test_previous_0e8a"


def now_ms() -> str:
    return str(int(time.time() * 1000))


def signed_headers(body: bytes, secret: str = SECRET, stamp: str | None = None) -> dict[str, str]:
    stamp = stamp or now_ms()
    return {
        "x-webhook-timestamp": stamp,
        "x-webhook-signature": sign(secret, stamp, body),
        "x-webhook-version": "2025-01-01",
        "content-type": "application/json",
    }


def request(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    # Lower-case keys stand in for the ingress's case-insensitive headers.
    return WebhookRequest(
        "POST", "/hooks/cashfree-main", {k.lower(): v for k, v in headers.items()}, {}, body
    )


def source(**config: Any) -> CashfreeWebhook:
    return CashfreeWebhook(CashfreeConfig.model_validate({"secret_key": SECRET, **config}), "test")


def parsed(name: str) -> Any:
    body = (PAYLOADS / f"{name}.json").read_bytes()
    req = request(body, signed_headers(body))
    src = source()
    src.verify(req)
    [event] = src.parse(req)
    return event


class TestCashfreeWebhook(WebhookSourceContract):
    source = CashfreeWebhook
    config = {"secret_key": SECRET}
    payloads = PAYLOADS
    skipped = frozenset({"payment_user_dropped"})

    def sign(self, body: bytes) -> dict[str, str]:
        # The signature covers timestamp + body, so both headers are "the signature".
        stamp = now_ms()
        return {"x-webhook-timestamp": stamp, "x-webhook-signature": sign(SECRET, stamp, body)}

    def redelivery_headers(self, name: str, body: bytes) -> dict[str, str]:
        # A retry is signed again, later, with a new delivery hash.
        stamp = str(int(time.time() * 1000) + 2_000)
        return {
            "x-webhook-timestamp": stamp,
            "x-webhook-signature": sign(SECRET, stamp, body),
            "x-idempotency-key": "retry-2",
        }


# ----------------------------------------------------------------------- the connector


def test_connector_exports_the_webhook_and_its_types() -> None:
    assert connector.name == "cashfree"
    assert connector.webhook is CashfreeWebhook
    assert set(connector.emits) == {
        "payment.captured",
        "payment.failed",
        "refund.processed",
        "refund.failed",
    }


# ----------------------------------------------------------------------- signatures


def test_known_signature_vector() -> None:
    # base64(HMAC-SHA256(key, timestamp + body)), computed independently with openssl:
    # printf '1746427759733{"a":1}' | openssl dgst -sha256 -hmac key -binary | base64
    assert (
        sign("key", "1746427759733", b'{"a":1}') == "7Z55sNUXK7WEubei4ALjCf8+ECyn27ZCWA62VrAcdrc="
    )


def test_the_timestamp_is_signed_so_it_cannot_be_swapped() -> None:
    body = (PAYLOADS / "payment_success_upi.json").read_bytes()
    headers = signed_headers(body)
    headers["x-webhook-timestamp"] = str(int(headers["x-webhook-timestamp"]) + 1)
    with pytest.raises(SignatureError, match="does not match"):
        source().verify(request(body, headers))


def test_stale_delivery_is_refused_even_when_authentic() -> None:
    body = (PAYLOADS / "payment_success_upi.json").read_bytes()
    old = str(int((time.time() - 301) * 1000))
    with pytest.raises(SignatureError, match="away from this server's clock"):
        source().verify(request(body, signed_headers(body, stamp=old)))
    source(max_skew_seconds=600).verify(request(body, signed_headers(body, stamp=old)))


def test_delivery_from_the_future_is_refused() -> None:
    body = b'{"type": "PAYMENT_SUCCESS_WEBHOOK"}'
    ahead = str(int((time.time() + 3600) * 1000))
    with pytest.raises(SignatureError, match="clock"):
        source().verify(request(body, signed_headers(body, stamp=ahead)))


def test_freshness_uses_the_source_clock() -> None:
    body = b"{}"
    stamp = "1746427759733"  # 2025-05-05T06:49:19Z, from Cashfree's sample headers

    class Then(CashfreeWebhook):
        def now(self) -> float:
            return 1746427759.733 + 10

    Then(CashfreeConfig(secret_key=SECRET), "t").verify(
        request(body, signed_headers(body, stamp=stamp))
    )
    with pytest.raises(SignatureError, match="clock"):
        source().verify(request(body, signed_headers(body, stamp=stamp)))


def test_timestamp_in_seconds_is_understood() -> None:
    body = b"{}"
    stamp = str(int(time.time()))
    source().verify(request(body, signed_headers(body, stamp=stamp)))


@pytest.mark.parametrize("stamp", ["", "abc", "-1", "1e12", "١٢٣", "9" * 40])
def test_malformed_timestamp_is_a_signature_error(stamp: str) -> None:
    body = b"{}"
    headers = {"x-webhook-timestamp": stamp, "x-webhook-signature": "x"}
    with pytest.raises(SignatureError):
        source().verify(request(body, headers))


def test_previous_key_is_accepted_while_rotating() -> None:
    body = (PAYLOADS / "refund_success.json").read_bytes()
    req = request(body, signed_headers(body, secret=OLD_SECRET))
    with pytest.raises(SignatureError):
        source().verify(req)
    source(previous_secret_key=OLD_SECRET).verify(req)


def test_wrong_key_and_non_ascii_signature_are_refused() -> None:
    body = b"{}"
    with pytest.raises(SignatureError):
        source().verify(request(body, signed_headers(body, secret="someone-else")))
    headers = signed_headers(body)
    headers["x-webhook-signature"] = "é" + headers["x-webhook-signature"]
    with pytest.raises(SignatureError):
        source().verify(request(body, headers))


def test_config_refuses_empty_keys_and_silly_skews() -> None:
    with pytest.raises(ValueError, match="empty"):
        CashfreeConfig.model_validate({"secret_key": " "})
    with pytest.raises(ValueError):
        CashfreeConfig.model_validate({"secret_key": SECRET, "max_skew_seconds": 0})


# ----------------------------------------------------------------------- mapping


def test_upi_success_is_a_captured_payment() -> None:
    event = parsed("payment_success_upi")
    assert event.type == "payment.captured"
    assert event.idempotency_key == "payment.captured:1453002795"
    assert event.subject == "1453002795"
    data = event.data
    assert data["amount"] == "1499.00" and data["currency"] == "INR"
    assert data["method"] == "upi"
    assert data["reference"]["vpa"] == "ananya.rao@okaxis"
    assert data["reference"]["rrn"] == "234928698581"
    assert data["customer"] == {
        "name": "Ananya Rao",
        "email": "ananya.rao@example.in",
        "phone": "9845012345",
    }
    assert data["order_id"] == "order_OFR_2"
    assert data["notes"] == {"shop_order_id": "A-10432"}
    assert data["created_at"] == "2025-01-15T06:50:29+00:00"
    assert event.time.isoformat() == "2025-01-15T06:50:33+00:00"
    # raw keeps the literal decimal text rather than a float
    assert event.raw["data"]["payment"]["payment_amount"] == "1499.00"
    json.dumps(event.raw)


def test_card_success_with_a_numeric_id() -> None:
    event = parsed("payment_success_card")
    assert event.idempotency_key == "payment.captured:1107253"
    assert event.data["amount"] == "250.50"
    assert event.data["method"] == "card"
    assert event.data["reference"]["auth_code"] == "482913"
    assert event.data["reference"]["rrn"] == "1903772466"


def test_failure_carries_the_error_and_drops_placeholders() -> None:
    event = parsed("payment_failed_netbanking")
    assert event.type == "payment.failed"
    assert event.idempotency_key == "payment.failed:1504280029"
    assert event.data["amount"] == "1.80"
    assert event.data["method"] == "netbanking"
    assert event.data["reference"]["bank_transaction_id"] is None  # "NA"
    assert event.data["reference"]["auth_code"] is None  # "null"
    assert event.data["error"] == {
        "code": "TRANSACTION_DECLINED",
        "description": "issuer bank or payment service provider declined the transaction",
        "source": "customer",
        "step": None,
        "reason": "auth_declined",
    }


def test_refunds() -> None:
    done = parsed("refund_success")
    assert done.type == "refund.processed"
    assert done.idempotency_key == "refund.processed:11325632"
    assert done.data["payment_id"] == "789727431"
    assert done.data["amount"] == "2.00"
    assert done.data["reference"]["arn"] == "205907014017"
    assert done.data["speed"] == "standard"
    assert done.data["notes"]["refund_id"] == "refund_sampleorder0413"
    cancelled = parsed("refund_cancelled")
    assert cancelled.type == "refund.failed"
    assert cancelled.data["amount"] == "150.25"


def test_pending_refund_is_skipped() -> None:
    doc = json.loads((PAYLOADS / "refund_success.json").read_text())
    doc["data"]["refund"]["refund_status"] = "PENDING"
    body = json.dumps(doc).encode()
    with pytest.raises(SkipEvent, match="not final"):
        source().parse(request(body, signed_headers(body)))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1.00"), "1.00"),
        (Decimal("1.8"), "1.80"),
        (2, "2.00"),
        (Decimal("0.10"), "0.10"),
        (Decimal("12345678901234567.89"), "12345678901234567.89"),
        ("40.5", "40.50"),
    ],
)
def test_amounts_are_exact(value: object, expected: str) -> None:
    assert amount(value, "x") == expected


@pytest.mark.parametrize("value", [Decimal("0.001"), Decimal("-1"), True, None, 1.5, "1,00", "NaN"])
def test_bad_amounts_are_parse_errors(value: object) -> None:
    with pytest.raises(ParseError):
        amount(value, "x")


def test_amounts_never_pass_through_float() -> None:
    # A float cannot hold 1234567890123456.78; parsing the body's text as Decimal can.
    text = (PAYLOADS / "payment_success_upi.json").read_text()
    body = text.replace(
        '"payment_amount": 1499.00', '"payment_amount": 1234567890123456.78'
    ).encode()
    [event] = source().parse(request(body, signed_headers(body)))
    assert event.data["amount"] == "1234567890123456.78"
    assert event.raw["data"]["payment"]["payment_amount"] == "1234567890123456.78"


def test_fractions_of_a_paisa_are_refused_not_rounded() -> None:
    text = (PAYLOADS / "payment_success_upi.json").read_text()
    body = text.replace(
        '"payment_amount": 1499.00', '"payment_amount": 0.30000000000000004'
    ).encode()
    with pytest.raises(ParseError, match="fractions of a paisa"):
        source().parse(request(body, signed_headers(body)))


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "PAYMENT_SUCCESS_WEBHOOK", "data": {"order": {}, "payment": {"payment_amount": NaN}}}',
        b'{"type": "PAYMENT_SUCCESS_WEBHOOK", "data": []}',
        b'{"type": "PAYMENT_SUCCESS_WEBHOOK", "data": {"order": {}, "payment": {"cf_payment_id": "1"}}}',
        b'{"type": "REFUND_STATUS_WEBHOOK", "data": {"refund": "x"}}',
        b'{"data": {}}',
    ],
)
def test_malformed_bodies_are_parse_errors(body: bytes) -> None:
    with pytest.raises(ParseError):
        source().parse(request(body, signed_headers(body)))


def test_a_malformed_email_is_dropped_not_fatal() -> None:
    text = (PAYLOADS / "payment_success_upi.json").read_text()
    body = text.replace("ananya.rao@example.in", "ananya.rao@").encode()
    [event] = source().parse(request(body, signed_headers(body)))
    assert event.data["customer"]["email"] is None
