"""PayU source: reverse hash (known answers from reference/payu.md), decoding, mapping, keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import connectors.payu
from connectors.payu import PayUConfig, PayUWebhook, connector
from connectors.payu.normalize import added_on, method, rupees
from connectors.payu.sources import decode, reverse_hash, reverse_hash_string
from hub.connector import WebhookRequest
from hub.errors import ParseError, SignatureError, SkipEvent
from hub.events import Event
from hub.schemas import validate_data, validate_event
from hub.testing import WebhookSourceContract
from hub.testing.webhooks import make_request

pytestmark = pytest.mark.contract

HERE = Path(__file__).parent
PAYLOADS = HERE / "payloads"
KEY = "AbC123"  # the merchant key of reference/payu.md section 7
SALT = "payu_test_salt_4k9Qm"
OLD_SALT = "payu_old_salt_8Rt1z"
TOKEN = "wh_tok_Zq81mN4vXc27"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
CONFIG = {"key": KEY, "salt": SALT, "webhook_token": TOKEN}


def sha512(text: str) -> str:
    return hashlib.sha512(text.encode("utf-8")).hexdigest()


def independent_hash(fields: dict[str, str], salt: str = SALT) -> str:
    """The reverse hash written out as reference/payu.md section 3 states it (not the module's code)."""
    f = {k: fields.get(k, "") for k in fields} | {
        k: fields.get(k, "")
        for k in ("status", "email", "firstname", "productinfo", "amount", "txnid")
    }
    udf = [fields.get(f"udf{i}", "") for i in range(1, 6)]
    text = (
        f"{salt}|{f['status']}||||||{udf[4]}|{udf[3]}|{udf[2]}|{udf[1]}|{udf[0]}|"
        f"{f['email']}|{f['firstname']}|{f['productinfo']}|{f['amount']}|{f['txnid']}|{KEY}"
    )
    if "additionalCharges" in fields:
        text = f"{fields['additionalCharges']}|{text}"
    return sha512(text)


def source(**config: Any) -> PayUWebhook:
    return PayUWebhook(PayUConfig.model_validate({**CONFIG, **config}), connection="payu-main")


def request(
    body: bytes, content_type: str | None = FORM, token: str | None = TOKEN
) -> WebhookRequest:
    headers = {} if content_type is None else {"Content-Type": content_type}
    query = {} if token is None else {"token": token}
    return make_request(body, headers, query=query, path="/hooks/payu-main")


def payload(name: str) -> bytes:
    return next(PAYLOADS.glob(f"{name}.*")).read_bytes()


def fields_of(name: str) -> dict[str, str]:
    path = next(PAYLOADS.glob(f"{name}.*"))
    ctype = FORM if path.suffix == ".form" else JSON
    return decode(request(path.read_bytes(), ctype)).fields


def as_form(fields: dict[str, str], rehash: bool = True, salt: str = SALT) -> bytes:
    fields = dict(fields)
    if rehash:
        fields["hash"] = independent_hash(fields, salt)
    return urlencode(fields).encode()


def as_json(fields: dict[str, Any], rehash: bool = True, salt: str = SALT) -> bytes:
    fields = dict(fields)
    if rehash:
        fields["hash"] = independent_hash(fields, salt)
    return json.dumps(fields).encode()


def receive(
    body: bytes,
    content_type: str | None = FORM,
    src: PayUWebhook | None = None,
    token: str | None = TOKEN,
) -> list[Event]:
    src = src or source()
    req = request(body, content_type, token)
    src.verify(req)
    return src.parse(req)


def one(body: bytes, content_type: str | None = FORM, **kw: Any) -> Event:
    events = receive(body, content_type, **kw)
    assert len(events) == 1
    return events[0]


def one_payload(name: str) -> Event:
    path = next(PAYLOADS.glob(f"{name}.*"))
    return one(path.read_bytes(), FORM if path.suffix == ".form" else JSON)


# ------------------------------------------------------------------ the hub's standard contract


class TestPayUWebhookContract(WebhookSourceContract):
    """The standard checks, with PayU's two ways of being authentic.

    Payment responses carry their signature in the body (``hash``), so ``sign``
    adds no header; refund and dispute webhooks are unsigned and authenticated by
    the ``?token=`` of the webhook URL, which ``signed`` always adds (it is part
    of the URL configured in the PayU Dashboard).
    """

    source = PayUWebhook
    config: ClassVar[dict[str, Any]] = CONFIG
    payloads = PAYLOADS
    skipped = frozenset({"payment_pending_upi", "dispute_created"})

    def sign(self, body: bytes) -> dict[str, str]:
        return {}

    def headers_for(self, name: str, body: bytes) -> dict[str, str]:
        form = any(PAYLOADS.glob(f"{name}.form"))
        return {"Content-Type": FORM if form else JSON}

    def signed(
        self, name: str, body: bytes, extra: Mapping[str, str] | None = None
    ) -> WebhookRequest:
        headers = {**self.headers_for(name, body), **dict(extra or {})}
        return make_request(body, headers, query={"token": TOKEN})

    def test_tampered_body_is_rejected(self) -> None:
        """Overridden: PayU's hash covers named fields, not the bytes (reference section 3).

        Every covered field is tampered with in turn; uncovered fields cannot be
        protected (see ``test_uncovered_fields_are_not_authenticated_but_keys_hold``).
        """
        src = self.make_source()
        covered = [
            "status",
            "email",
            "firstname",
            "productinfo",
            "amount",
            "txnid",
            "key",
            *(f"udf{i}" for i in range(1, 6)),
        ]
        for path in self.payload_files():
            ctype = FORM if path.suffix == ".form" else JSON
            body = path.read_bytes()
            fields = decode(request(body, ctype)).fields
            if "hash" not in fields:
                continue
            src.verify(request(body, ctype))
            for name in [
                *covered,
                *(["additionalCharges"] if "additionalCharges" in fields else []),
            ]:
                forged = dict(fields, **{name: fields.get(name, "") + "1"})
                encoded = (
                    as_form(forged, rehash=False)
                    if ctype == FORM
                    else as_json(forged, rehash=False)
                )
                with pytest.raises(SignatureError):
                    src.verify(request(encoded, ctype))
            for suffix in (b" ", b"0"):  # the hash itself is the last form field
                if ctype == FORM:
                    with pytest.raises(SignatureError):
                        src.verify(request(body + suffix, ctype))

    def test_missing_signature_is_rejected(self) -> None:
        """Overridden: no hash field, or no URL token for the unsigned kinds."""
        src = self.make_source()
        for path in self.payload_files():
            ctype = FORM if path.suffix == ".form" else JSON
            fields = decode(request(path.read_bytes(), ctype)).fields
            if "hash" in fields:
                del fields["hash"]
                body = (
                    as_form(fields, rehash=False)
                    if ctype == FORM
                    else as_json(fields, rehash=False)
                )
                with pytest.raises(SignatureError, match="hash field is missing"):
                    src.verify(request(body, ctype))
            else:
                with pytest.raises(SignatureError, match="token"):
                    src.verify(request(path.read_bytes(), ctype, token=None))


# ------------------------------------------------------------------ connector and config


def test_connector_metadata() -> None:
    assert connector.name == "payu"
    assert connector.title == "PayU"
    assert connector.config is PayUConfig
    assert connector.webhook is PayUWebhook
    assert connector.emits == PayUWebhook.emits
    doc = connectors.payu.__doc__ or ""
    for part in ("Events", "Auth", "API docs", "Idempotency", "additionalCharges"):
        assert part in doc


def test_config_fields_are_described_and_secrets_masked() -> None:
    schema = PayUConfig.model_json_schema()
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
    assert sorted(schema["required"]) == ["key", "salt"]
    config = PayUConfig.model_validate({**CONFIG, "previous_salt": OLD_SALT})
    shown = repr(config) + config.model_dump_json()
    assert SALT not in shown and OLD_SALT not in shown and TOKEN not in shown


@pytest.mark.parametrize(
    "bad",
    [
        {"key": KEY, "salt": SALT, "sallt": "x"},
        {"key": KEY, "salt": ""},
        {"key": KEY, "salt": SALT, "webhook_token": ""},
        {"key": "", "salt": SALT},
        {"key": " AbC123", "salt": SALT},
        {"salt": SALT},
        {"key": KEY},
    ],
)
def test_config_rejects_bad_settings(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PayUConfig.model_validate(bad)


# ------------------------------------------------------------------ the reverse hash


def test_known_answer_from_the_reference() -> None:
    """reference/payu.md section 7 gives the exact hash input of its example body."""
    fields = fields_of("payment_success_upi")
    expected = (
        "SALT|success||||||||||A-10432|ananya.rao@example.in|Ananya|Order A-10432|1499.00"
        "|ORD20241115A10432|AbC123"
    )
    assert reverse_hash_string("SALT", KEY, fields, udf6_10=False) == expected
    # salt, status, 5 reserved slots, udf5..udf1, email, firstname, productinfo, amount, txnid, key
    assert len(expected.split("|")) == 2 + 5 + 5 + 6
    assert reverse_hash("SALT", KEY, fields) == sha512(expected)
    assert fields["hash"] == sha512(expected.replace("SALT", SALT, 1))


HASHED = sorted(p for p in PAYLOADS.iterdir() if b"hash" in p.read_bytes())


@pytest.mark.parametrize("path", HASHED, ids=lambda p: p.name)
def test_payload_hashes_follow_the_documented_formula(path: Path) -> None:
    fields = fields_of(path.stem)
    assert fields["hash"] == independent_hash(fields)
    source().verify(request(path.read_bytes(), FORM if path.suffix == ".form" else JSON))


def test_additional_charges_variant() -> None:
    fields = fields_of("payment_success_convenience_fee")
    assert fields["additionalCharges"] == "28.32"
    text = reverse_hash_string(SALT, KEY, fields, udf6_10=False)
    assert text.startswith(f"28.32|{SALT}|success||||||")
    assert fields["hash"] == sha512(text)
    one_payload("payment_success_convenience_fee")  # verifies and parses
    # The plain formula is not accepted once additionalCharges is present ...
    plain = dict(fields)
    del plain["additionalCharges"]
    forged = dict(fields, hash=independent_hash(plain))
    with pytest.raises(SignatureError, match=r"sha512\(additionalCharges\|SALT\|status"):
        source().verify(request(as_form(forged, rehash=False)))
    # ... nor can the fee be dropped or changed under the variant's hash.
    with pytest.raises(SignatureError, match=r"sha512\(SALT\|status"):
        source().verify(request(as_form(dict(plain, hash=fields["hash"]), rehash=False)))
    with pytest.raises(SignatureError):
        source().verify(request(as_form(dict(fields, additionalCharges="0.00"), rehash=False)))


def test_convenience_fee_amount_is_the_requested_amount() -> None:
    event = one_payload("payment_success_convenience_fee")
    assert event.data["amount"] == "1200.00"  # hash-covered; net_amount_debit (1228.32) is not
    assert event.data["method"] == "card"


def test_udf6_to_10_are_tolerated_in_either_form() -> None:
    fields = dict(fields_of("payment_success_upi"), udf6="ext-6", udf8="ext-8")
    standard = dict(fields, hash=reverse_hash(SALT, KEY, fields))
    filled = dict(fields, hash=reverse_hash(SALT, KEY, fields, udf6_10=True))
    assert "|||ext-8||ext-6|" in reverse_hash_string(SALT, KEY, fields, udf6_10=True)
    event = one(as_form(standard, rehash=False))
    one(as_form(filled, rehash=False))
    assert "udf6" not in event.data["notes"]  # not covered by the standard hash
    with pytest.raises(SignatureError):  # the filled form needs the values it was made with
        source().verify(request(as_form(dict(filled, udf6="other"), rehash=False)))


def test_udf_order_is_reversed() -> None:
    fields = dict(fields_of("payment_success_upi"), udf1="one", udf5="five")
    text = reverse_hash_string("S", KEY, fields, udf6_10=False)
    assert text.startswith("S|success||||||five||||one|ananya.rao@example.in|")
    swapped = dict(fields, udf1="five", udf5="one", hash=sha512(text.replace("S", SALT, 1)))
    with pytest.raises(SignatureError):
        source().verify(request(as_form(swapped, rehash=False)))


def test_wrong_salt_is_refused_without_revealing_it() -> None:
    body = as_form(fields_of("payment_success_upi"), salt="someone_elses_salt")
    with pytest.raises(SignatureError) as info:
        source(previous_salt=OLD_SALT).verify(request(body))
    message = str(info.value)
    assert "hash field does not match" in message and "check salt" in message
    assert SALT not in message and OLD_SALT not in message and TOKEN not in message


def test_rotation_accepts_the_previous_salt() -> None:
    body = as_form(fields_of("payment_success_upi"), salt=OLD_SALT)
    source(previous_salt=OLD_SALT).verify(request(body))
    source(salt=OLD_SALT).verify(request(body))
    with pytest.raises(SignatureError):
        source().verify(request(body))  # the change is over


@pytest.mark.parametrize("field", ["status", "amount", "txnid", "email", "udf1", "productinfo"])
def test_tampering_one_covered_field_is_refused(field: str) -> None:
    fields = fields_of("payment_success_upi")
    tampered = dict(fields, **{field: "failure" if field == "status" else fields[field] + "9"})
    with pytest.raises(SignatureError, match="does not match"):
        source().verify(request(as_form(tampered, rehash=False)))


def test_missing_hash_is_refused() -> None:
    fields = fields_of("payment_failure_netbanking")
    del fields["hash"]
    with pytest.raises(SignatureError, match="hash field is missing"):
        source().verify(request(as_form(fields, rehash=False)))
    with pytest.raises(SignatureError, match="hash field is missing"):  # the token is no substitute
        source().verify(request(as_json(fields, rehash=False), JSON))


def test_hash_must_be_exact() -> None:
    fields = fields_of("payment_success_upi")
    for sent in (fields["hash"].upper(), fields["hash"] + " ", fields["hash"][:-1], ""):
        with pytest.raises(SignatureError):
            source().verify(request(as_form(dict(fields, hash=sent), rehash=False)))


def test_another_merchant_key_is_refused() -> None:
    fields = dict(fields_of("payment_success_upi"), key="Other9")
    with pytest.raises(SignatureError, match="key field is not this connection's merchant key"):
        source().verify(request(as_form(fields)))


def test_lone_surrogate_cannot_verify() -> None:
    fields = fields_of("payment_success_upi")
    body = json.dumps(dict(fields, firstname="\ud800")).encode()
    with pytest.raises(SignatureError):
        source().verify(request(body, JSON))


# ------------------------------------------------------------------ encodings


def test_form_and_json_give_the_same_event() -> None:
    fields = fields_of("payment_success_upi")
    from_form = one(as_form(fields), FORM)
    from_json = one(as_json(fields), JSON)
    assert from_form.data == from_json.data
    assert from_form.idempotency_key == from_json.idempotency_key


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [
        (None, as_form),
        (None, as_json),
        ("text/plain", as_form),
        ("application/octet-stream", as_json),
        ("application/json; charset=utf-8", as_json),
        ("Application/X-WWW-Form-Urlencoded; charset=UTF-8", as_form),
    ],
)
def test_content_type_or_sniffing(content_type: str | None, encode: Any) -> None:
    event = one(encode(fields_of("payment_success_upi")), content_type)
    assert event.type == "payment.captured"


def test_json_numbers_keep_their_text_for_the_hash() -> None:
    fields = fields_of("payment_success_upi")
    body = (
        as_json(fields).replace(b'"1499.00"', b"1499.00").replace(b'"27559876543"', b"27559876543")
    )
    assert b": 1499.00," in body
    event = one(body, JSON)
    assert event.data["amount"] == "1499.00"
    assert event.data["payment_id"] == "27559876543"


def test_declared_encoding_is_trusted() -> None:
    body = as_form(fields_of("payment_success_upi"))
    with pytest.raises(SignatureError, match="not valid JSON"):
        source(webhook_token=None).verify(request(body, JSON))
    with pytest.raises(ParseError, match="not valid JSON"):
        receive(body, JSON)  # with the URL token: authentic but unreadable → 400


# ------------------------------------------------------------------ payments


def test_upi_success_from_the_reference() -> None:
    event = one_payload("payment_success_upi")
    assert event.type == "payment.captured"
    assert event.subject == "27559876543"
    assert event.idempotency_key == "payment.captured:ORD20241115A10432"
    assert event.time == datetime(2024, 11, 15, 7, 5, 10, tzinfo=UTC)  # 12:35:10 IST
    assert event.data == {
        "gateway": "payu",
        "payment_id": "27559876543",
        "order_id": "ORD20241115A10432",
        "status": "captured",
        "amount": "1499.00",
        "currency": "INR",
        "method": "upi",
        "fee": None,
        "tax": None,
        "customer": {"name": "Ananya", "email": "ananya.rao@example.in", "phone": "9845012345"},
        "reference": {
            "rrn": "431512873406",
            "utr": None,
            "vpa": None,
            "upi_transaction_id": None,
            "bank_transaction_id": None,
            "auth_code": None,
            "arn": None,
        },
        "error": None,
        "notes": {"udf1": "A-10432"},
        "description": "Order A-10432",
        "created_at": "2024-11-15T07:05:10+00:00",
    }
    assert event.raw["mihpayid"] == "27559876543"


def test_card_success_json() -> None:
    event = one_payload("payment_success_card")
    assert event.type == "payment.captured"
    assert event.data["method"] == "card"
    assert event.data["customer"] == {
        "name": "Rahul Menon",
        "email": "rahul.menon@example.in",
        "phone": "+919847011223",
    }
    assert event.data["reference"]["rrn"] == "432109876543"
    assert event.data["notes"] == {"udf1": "B-20871", "udf2": "web", "udf5": "checkout_v2"}


def test_bharat_qr_paid_by_upi() -> None:
    event = one_payload("payment_success_bharat_qr")
    assert event.data["method"] == "upi"
    assert event.data["amount"] == "40.00"
    assert event.data["reference"]["vpa"] == "priya.p@axl"
    assert event.data["customer"] == {"name": None, "email": None, "phone": None}  # "##########"
    assert event.data["notes"] == {"udf4": "SoftQR", "udf5": "BFL0000006601446"}


def test_netbanking_failure() -> None:
    event = one_payload("payment_failure_netbanking")
    assert event.type == "payment.failed"
    assert event.idempotency_key == "payment.failed:ORD20241115A10433"
    assert event.data["method"] == "netbanking"
    assert event.data["status"] == "failed"
    assert event.data["reference"]["bank_transaction_id"] is None  # bank_ref_num was empty
    assert event.data["error"] == {
        "code": "E1605",
        "description": "Transaction failed at bank end.",
        "source": None,
        "step": None,
        "reason": "failed",
    }


def test_upi_cancelled_failure_json() -> None:
    event = one_payload("payment_failure_upi_cancelled")
    assert event.type == "payment.failed"
    assert event.data["error"]["reason"] == "usercancelled"
    assert event.data["error"]["description"] == "Transaction cancelled by user"


def test_failure_without_error_code_still_fits() -> None:
    fields = dict(fields_of("payment_failure_netbanking"), error="", error_Message="No Error")
    event = one(as_form(fields))
    assert event.data["error"]["code"] == "failed"
    assert event.data["error"]["description"] == "Transaction failed at bank end."


def test_pre_authorization_is_not_a_capture() -> None:
    fields = dict(fields_of("payment_success_card"), unmappedstatus="auth")
    event = one(as_json(fields), JSON)
    assert event.type == "payment.authorized"
    assert event.data["status"] == "authorized"
    assert event.idempotency_key == "payment.authorized:ORD20241116B20871"


@pytest.mark.parametrize("status", ["pending", "PENDING", "", "initiated"])
def test_non_final_payment_status_is_skipped(status: str) -> None:
    fields = dict(fields_of("payment_pending_upi"), status=status)
    with pytest.raises(SkipEvent, match="payu payment status"):
        receive(as_form(fields))


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("amount", "1,499.00", "amount must be a decimal amount in rupees"),
        ("amount", "", "amount must be a decimal amount"),
        ("amount", "1499.005", "fractions of a paisa"),
        ("addedon", "15/11/2024 12:35", "addedon must be YYYY-MM-DD HH:MM:SS"),
        ("mihpayid", " ", "mihpayid is missing"),
        ("txnid", "", "txnid is missing"),
    ],
)
def test_bad_fields_are_parse_errors(field: str, value: str, match: str) -> None:
    fields = dict(fields_of("payment_success_upi"), **{field: value})
    with pytest.raises(ParseError, match=match):
        receive(as_form(fields))


def test_missing_addedon_uses_the_receipt_time() -> None:
    fields = fields_of("payment_success_upi")
    del fields["addedon"]
    before = datetime.now(UTC)
    event = one(as_form(fields))
    assert before <= event.time <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("mode", "bankcode", "expected"),
    [
        ("UPI", "UPI", "upi"),
        ("CC", "VISA", "card"),
        ("DC", "MAST", "card"),
        ("NB", "HDFB", "netbanking"),
        ("CASH", "PAYTM", "wallet"),
        ("EMI", "EMI6", "emi"),
        ("SBQR", "UPI", "upi"),
        ("DBQR", "UPI", "upi"),
        ("SBQR", "VISA", "other"),
        ("upi", "", "upi"),
        ("BNPL", "LAZYPAY", "other"),
        ("", "", "other"),
    ],
)
def test_method_mapping(mode: str, bankcode: str, expected: str) -> None:
    assert method({"mode": mode, "bankcode": bankcode}) == expected


# ------------------------------------------------------------------ amounts and times


@pytest.mark.parametrize(
    ("sent", "normalized"),
    [
        ("1499.00", "1499.00"),
        ("1499", "1499.00"),
        ("40.5", "40.50"),
        (" 72.00 ", "72.00"),
        ("0001.10", "1.10"),
        ("0", "0.00"),
        ("1.2000", "1.20"),
        ("99999999999999999999.99", "99999999999999999999.99"),
    ],
)
def test_rupees_are_exact_two_decimal_strings(sent: str, normalized: str) -> None:
    assert rupees(sent, "amount") == normalized


@pytest.mark.parametrize(
    "bad", ["1.005", "-1.00", "1e3", "NaN", "Infinity", "1,499", "1.", ".5", "", None]
)
def test_rupees_refuse_anything_else(bad: str | None) -> None:
    with pytest.raises(ParseError):
        rupees(bad, "amount")


@given(
    st.decimals(
        min_value=0, max_value=Decimal("1e18"), places=2, allow_nan=False, allow_infinity=False
    )
)
def test_rupees_round_trip(value: Decimal) -> None:
    text = rupees(f"{value:f}", "amount")
    assert Decimal(text) == value
    assert len(text.partition(".")[2]) == 2


def test_addedon_is_ist() -> None:
    assert added_on("2024-11-15 00:10:00", "addedon") == datetime(2024, 11, 14, 18, 40, tzinfo=UTC)
    assert added_on("", "addedon") is None
    with pytest.raises(ParseError):
        added_on("0001-01-01 00:00:00", "addedon")


# ------------------------------------------------------------------ refunds and disputes


def test_refund_success_from_payu_docs() -> None:
    event = one_payload("refund_success")
    assert event.type == "refund.processed"
    assert event.subject == "11865427756"
    assert event.idempotency_key == "refund.processed:11865427756"
    data = dict(event.data)
    created = data.pop("created_at")
    assert datetime.fromisoformat(created).tzinfo is not None
    assert data == {
        "gateway": "payu",
        "refund_id": "11865427756",
        "payment_id": "17025521702",
        "status": "processed",
        "amount": "149.00",
        "currency": "INR",
        "speed": "instant",
        "reference": {"arn": "308239782136", "utr": "308239782136"},  # bank_arn is a JSON number
        "notes": {
            "txnid": "ORDER_33172661_1679394745",
            "refund_token": "DG0036362",
            "refund_mode": "Instant Credit through UPI",
        },
    }


def test_refund_failure_from_payu_docs() -> None:
    event = one_payload("refund_failure")
    assert event.type == "refund.failed"
    assert event.idempotency_key == "refund.failed:17265314530"
    assert event.data["payment_id"] == "23907365951"  # sent as " 23907365951 "
    assert event.data["reference"] == {"arn": None, "utr": "100142082006"}


def test_refund_back_to_source_is_normal_speed() -> None:
    doc = json.loads(payload("refund_success"))
    doc["refund_mode"] = "Back to Source"
    assert one(json.dumps(doc).encode(), JSON).data["speed"] == "normal"


def test_refund_needs_the_url_token() -> None:
    body = payload("refund_success")
    with pytest.raises(
        SignatureError, match="PayU does not sign refund webhooks; set webhook_token"
    ):
        source(webhook_token=None).verify(request(body, JSON))
    with pytest.raises(SignatureError, match="does not match webhook_token"):
        source().verify(request(body, JSON, token="guess"))
    with pytest.raises(SignatureError, match="missing or does not match"):
        source().verify(request(body, JSON, token=None))


def test_refund_for_another_merchant_is_a_parse_error() -> None:
    doc = dict(json.loads(payload("refund_success")), key="Other9")
    with pytest.raises(ParseError, match="merchant key Other9, this connection is AbC123"):
        receive(json.dumps(doc).encode(), JSON)


@pytest.mark.parametrize(("status", "exc"), [("pending", SkipEvent), ("queued", SkipEvent)])
def test_non_final_refund_is_skipped(status: str, exc: type[Exception]) -> None:
    doc = dict(json.loads(payload("refund_success")), status=status)
    with pytest.raises(exc, match="payu refund status"):
        receive(json.dumps(doc).encode(), JSON)


def test_refund_without_request_id_is_a_parse_error() -> None:
    doc = dict(json.loads(payload("refund_success")), request_id=None)
    with pytest.raises(ParseError, match="request_id is missing"):
        receive(json.dumps(doc).encode(), JSON)


def test_refund_sent_form_encoded_is_read_too() -> None:
    doc = {k: "" if v is None else str(v) for k, v in json.loads(payload("refund_success")).items()}
    event = one(urlencode(doc).encode(), FORM)
    assert event.idempotency_key == "refund.processed:11865427756"


def test_dispute_is_skipped() -> None:
    with pytest.raises(SkipEvent, match="dispute"):
        receive(payload("dispute_created"), JSON)


# ------------------------------------------------------------------ idempotency


def test_redelivery_keeps_key_and_event_id() -> None:
    body = payload("payment_success_upi")
    first, again = one(body), one(body)
    assert first.idempotency_key == again.idempotency_key == "payment.captured:ORD20241115A10432"
    assert first.bind("payu-main", "payu").id == again.bind("payu-main", "payu").id


def test_callback_and_dashboard_webhook_dedupe() -> None:
    """The S2S callback (form) and the dashboard webhook (JSON, other field order) agree."""
    fields = fields_of("payment_success_upi")
    webhook = dict(reversed(list(fields.items())))
    webhook.pop("payment_source")
    a = one(payload("payment_success_upi"), FORM)
    b = one(as_json(webhook), JSON)
    assert a.bind("payu-main", "payu").id == b.bind("payu-main", "payu").id


def test_uncovered_fields_are_not_authenticated_but_keys_hold() -> None:
    """mihpayid is outside the hash: a replay with a new one still dedupes (txnid is the key)."""
    fields = fields_of("payment_success_upi")
    replay = dict(fields, mihpayid="99999999999", bank_ref_num="000000000000")
    event = one(as_form(replay, rehash=False))
    assert event.idempotency_key == one_payload("payment_success_upi").idempotency_key


def test_failure_then_success_of_one_txnid_are_two_events() -> None:
    ok = fields_of("payment_success_upi")
    failed = dict(ok, status="failure", mihpayid="27559876500", unmappedstatus="failed")
    keys = {one(as_form(ok)).idempotency_key, one(as_form(failed)).idempotency_key}
    assert keys == {"payment.captured:ORD20241115A10432", "payment.failed:ORD20241115A10432"}


# ------------------------------------------------------------------ garbage


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"", FORM),
        (b"\xff\xfe", FORM),
        (b"a=%ff", FORM),
        (b"[]", JSON),
        (b"null", JSON),
        (b'{"amount": NaN}', JSON),
        (b'{"a": [1, 2', JSON),
        (b"{" + b"1" * 5000 + b"}", JSON),
        (b'{"x": ' + b"9" * 5000 + b"}", JSON),
    ],
)
def test_unreadable_bodies(body: bytes, ctype: str) -> None:
    with pytest.raises(SignatureError):
        source(webhook_token=None).verify(request(body, ctype))
    with pytest.raises((ParseError, SkipEvent)):
        receive(body, ctype)


# ------------------------------------------------------------------ properties: never a crash

text = st.text(st.characters(codec="utf-8"), max_size=24)
FIELD_NAMES = [
    "mihpayid",
    "mode",
    "status",
    "unmappedstatus",
    "key",
    "txnid",
    "amount",
    "net_amount_debit",
    "addedon",
    "productinfo",
    "firstname",
    "lastname",
    "email",
    "phone",
    "bankcode",
    "PG_TYPE",
    "bank_ref_num",
    "bank_ref_no",
    "error",
    "error_Message",
    "field0",
    "field3",
    "field9",
    "additionalCharges",
    "action",
    "event",
    "request_id",
    "amt",
    "token",
    "bank_arn",
    "refund_mode",
    *(f"udf{i}" for i in range(1, 11)),
]
TEMPLATES = [fields_of(p.stem) for p in sorted(PAYLOADS.iterdir())]
VALUES: dict[str, st.SearchStrategy[str]] = {
    "status": st.sampled_from(["success", "failure", "pending", "SUCCESS", " success "]) | text,
    "amount": st.sampled_from(["1499.00", "0", "1.005", "-1", "1e9", " 40.00 "]) | text,
    "addedon": st.sampled_from(
        ["2024-11-15 12:35:10", "9999-12-31 23:59:59", "0001-01-01 00:00:00"]
    )
    | text,
    "key": st.sampled_from([KEY, "", "Other9"]),
    "mode": st.sampled_from(["UPI", "CC", "SBQR", "CASH", "??"]) | text,
    "email": st.sampled_from(["a@b.in", "@", "x" * 330 + "@e.in"]) | text,
    "phone": st.sampled_from(["9845012345", "+91 98450-12345", "##########"]) | text,
    "action": st.sampled_from(["refund", "REFUND"]) | text,
}


@st.composite
def signed_field_sets(draw: st.DrawFn) -> dict[str, str]:
    fields = dict(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        name = draw(st.sampled_from(FIELD_NAMES) | text)
        if name in fields and draw(st.booleans()):
            del fields[name]
        else:
            fields[name] = draw(VALUES.get(name, text))
    fields.pop("hash", None)
    fields["hash"] = reverse_hash(SALT, KEY, fields)
    return fields


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(fields=signed_field_sets(), encoding=st.sampled_from([FORM, JSON, None]))
def test_any_validly_hashed_body_gives_valid_events_or_clean_errors(
    fields: dict[str, str], encoding: str | None
) -> None:
    body = as_json(fields, rehash=False) if encoding == JSON else as_form(fields, rehash=False)
    if encoding is None and body.lstrip().startswith(b"{"):
        assume(False)  # a form body sniffed as JSON: not what this case is about
    src = source()
    req = request(body, encoding)
    if fields.get("key") not in (None, "", KEY) and decode(req).kind == "payment":
        with pytest.raises(SignatureError, match="not this connection's merchant key"):
            src.verify(req)
        return
    src.verify(req)  # the hash is valid, or the URL token vouches for unsigned kinds
    try:
        events = src.parse(req)
    except (ParseError, SkipEvent):
        return
    for event in events:
        assert event.type in PayUWebhook.emits
        validate_data(event.type, event.data)
        validate_event(json.loads(json.dumps(event.bind("payu-main", "payu").to_dict())))


@settings(max_examples=300)
@given(
    body=st.binary(max_size=300)
    | st.dictionaries(st.sampled_from(FIELD_NAMES) | text, text, max_size=8).map(
        lambda d: urlencode(d).encode()
    )
    | st.dictionaries(st.sampled_from(FIELD_NAMES), text | st.integers(), max_size=8).map(
        lambda d: json.dumps(d).encode()
    ),
    ctype=st.sampled_from([FORM, JSON, None, "text/plain"]),
)
def test_arbitrary_bytes_are_refused_or_clean_errors(body: bytes, ctype: str | None) -> None:
    with pytest.raises(SignatureError):
        source(webhook_token=None).verify(request(body, ctype))
    src = source()
    req = request(body, ctype)
    try:
        src.verify(req)
        src.parse(req)
    except (SignatureError, ParseError, SkipEvent):
        pass
