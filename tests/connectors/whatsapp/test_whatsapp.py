"""WhatsApp webhook source: handshake, signatures, every message kind, batches, keys, ordering."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from pydantic import ValidationError

import connectors.whatsapp
from connectors.whatsapp import (
    STATUS_RANK,
    WhatsAppConfig,
    WhatsAppWebhook,
    connector,
    latest_status,
    status_supersedes,
)
from hub.connector import WebhookRequest
from hub.errors import ParseError, SignatureError, SkipEvent
from hub.events import Event
from hub.schemas import validate_data, validate_event

HERE = Path(__file__).parent
PAYLOADS = HERE / "payloads"
APP_SECRET = "app_secret_7c1f9e"
VERIFY = "verify-me-42"
TEXT_WAMID = "wamid.HBgMOTE5ODQ1MDEyMzQ1FQIAEhggQTJCNEQ2RjhBMEIyQzRFNkY4QTBCMkM0RTZGOEEwQjIA"


def source(**config: Any) -> WhatsAppWebhook:
    values = {"app_secret": APP_SECRET, "verify_token": VERIFY, **config}
    return WhatsAppWebhook(WhatsAppConfig.model_validate(values), connection="wa-main")


def request(
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    method: str = "POST",
    query: dict[str, str] | None = None,
) -> WebhookRequest:
    return WebhookRequest(
        method=method,
        path="/hooks/wa-main",
        headers=CIMultiDict(headers or {}),
        query=query or {},
        body=body,
    )


def signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(body: bytes, secret: str = APP_SECRET) -> WebhookRequest:
    return request(
        body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature(body, secret)}
    )


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_bytes())
    return doc


def dump(doc: Any) -> bytes:
    # Meta sends ASCII with \uXXXX escapes and signs exactly those bytes.
    return json.dumps(doc).encode()


def receive(doc_or_body: Any) -> list[Event]:
    body = doc_or_body if isinstance(doc_or_body, bytes) else dump(doc_or_body)
    src = source()
    req = signed(body)
    src.verify(req)
    return src.parse(req)


def one(doc_or_body: Any) -> Event:
    events = receive(doc_or_body)
    assert len(events) == 1
    return events[0]


def check(event: Event) -> None:
    assert event.type in WhatsAppWebhook.emits
    validate_data(event.type, event.data)
    validate_event(json.loads(json.dumps(event.bind("wa-main", "whatsapp").to_dict())))


# ------------------------------------------------------------------ connector and config


def test_connector_metadata() -> None:
    assert connector.name == "whatsapp"
    assert connector.title == "WhatsApp Cloud API"
    assert connector.config is WhatsAppConfig
    assert connector.webhook is WhatsAppWebhook
    assert [a.name for a in connector.actions] == ["whatsapp.send_message"]
    assert connector.emits == ("message.received", "message.status")
    assert connector.sandbox is not None and connector.base_url is not None
    cfg = WhatsAppConfig(app_secret="a", verify_token="v", graph_url="http://127.0.0.1:1/")
    assert connector.base_url(cfg) == "http://127.0.0.1:1"
    doc = connectors.whatsapp.__doc__ or ""
    for part in ("Events", "Actions", "Auth", "API docs", "X-Hub-Signature-256"):
        assert part in doc


def test_config_described_masked_and_strict() -> None:
    schema = WhatsAppConfig.model_json_schema()
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
    assert sorted(schema["required"]) == ["app_secret", "verify_token"]
    cfg = WhatsAppConfig(app_secret=APP_SECRET, verify_token=VERIFY, access_token="EAAG-secret")
    for secret in (APP_SECRET, VERIFY, "EAAG-secret"):
        assert secret not in repr(cfg) and secret not in cfg.model_dump_json()
    with pytest.raises(ValidationError):
        WhatsAppConfig.model_validate({"app_secret": "a", "verify_token": "v", "app_secrte": "x"})
    with pytest.raises(ValidationError):
        WhatsAppConfig.model_validate({"app_secret": "", "verify_token": "v"})
    with pytest.raises(ValidationError):
        WhatsAppConfig.model_validate({"app_secret": "a", "verify_token": "v", "api_version": "21"})
    cfg = WhatsAppConfig(
        app_secret="a", verify_token="v", phone_number_id="110293847561234", api_version="v23.0"
    )
    assert cfg.messages_path() == "/v23.0/110293847561234/messages"


# ------------------------------------------------------------------ GET handshake


def handshake(query: dict[str, str], method: str = "GET") -> Any:
    return source().handshake(request(method=method, query=query))


def test_handshake_echoes_the_challenge() -> None:
    reply = handshake(
        {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY}
    )
    assert (reply.status, reply.body, reply.content_type) == (200, "1158201444", "text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "wrong"},
        {"hub.mode": "unsubscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY},
        {"hub.challenge": "1158201444", "hub.verify_token": VERIFY},
        {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY},
        {"hub_mode": "subscribe", "hub_challenge": "1", "hub_verify_token": VERIFY},  # PHP-mangled
        {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "verify-me-42\udcff"},
        {},
    ],
)
def test_handshake_forbidden(query: dict[str, str]) -> None:
    reply = handshake(query)
    assert reply.status == 403
    assert "1158201444" not in reply.body and VERIFY not in reply.body


def test_other_methods_are_not_handshakes() -> None:
    assert handshake({"hub.mode": "subscribe"}, method="PUT") is None


# ------------------------------------------------------------------ signature


def test_signature_ok_and_uppercase_hex_accepted() -> None:
    body = (PAYLOADS / "text.json").read_bytes()
    source().verify(signed(body))
    upper = "sha256=" + signature(body).removeprefix("sha256=").upper()
    source().verify(request(body, {"X-Hub-Signature-256": upper}))


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ({}, "header is missing"),
        ({"X-Hub-Signature": "sha1=abc"}, "header is missing"),  # legacy header is not enough
        ({"X-Hub-Signature-256": "deadbeef"}, "not of the form"),
        ({"X-Hub-Signature-256": "sha256=ünïcode"}, "not of the form"),
        ({"X-Hub-Signature-256": "sha256="}, "does not match"),
    ],
)
def test_signature_missing_or_malformed(headers: dict[str, str], match: str) -> None:
    with pytest.raises(SignatureError, match=match):
        source().verify(request(b"{}", headers))


def test_tampered_body_wrong_secret_and_reserialized_json_fail() -> None:
    body = dump(load("text"))
    good = signature(body)
    with pytest.raises(SignatureError, match="does not match the body"):
        source().verify(
            request(body.replace(b"A-10432", b"A-10433"), {"X-Hub-Signature-256": good})
        )
    with pytest.raises(SignatureError):
        source().verify(signed(body, secret="other"))
    with pytest.raises(SignatureError):  # the verify token is not the key
        source().verify(signed(body, secret=VERIFY))
    pretty = json.dumps(load("text"), indent=2).encode()
    with pytest.raises(SignatureError):  # re-serialized JSON is different bytes
        source().verify(request(pretty, {"X-Hub-Signature-256": good}))


def test_non_ascii_is_signed_as_escaped_bytes() -> None:
    doc = load("text")
    doc["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "नमस्ते 👋"
    body = dump(doc)
    assert b"\\u" in body
    assert one(body).data["text"] == "नमस्ते 👋"


# ------------------------------------------------------------------ every payload

PAYLOAD_NAMES = sorted(p.stem for p in PAYLOADS.glob("*.json"))
SKIPPED = {"account_update", "status_played"}


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_each_payload_gives_valid_events_or_skips(name: str) -> None:
    if name in SKIPPED:
        with pytest.raises(SkipEvent):
            receive(load(name))
        return
    events = receive((PAYLOADS / f"{name}.json").read_bytes())
    assert events
    for event in events:
        check(event)
        # raw is the notification narrowed to this one item, and parses back to the same event
        again = one(event.raw)
        assert (again.type, again.idempotency_key, again.data) == (
            event.type,
            event.idempotency_key,
            event.data,
        )


def test_text_from_the_reference() -> None:
    event = one(load("text"))
    assert event.type == "message.received"
    assert event.subject == TEXT_WAMID
    assert event.idempotency_key == f"message.received:{TEXT_WAMID}"
    assert event.time.isoformat() == "2024-11-15T07:07:00+00:00"
    assert event.dataschema == "https://hub.dev/schemas/message.json"
    assert event.data == {
        "channel": "whatsapp",
        "message_id": TEXT_WAMID,
        "from": {"phone": "919845012345", "name": "Ananya Rao"},
        "to": "110293847561234",
        "kind": "text",
        "text": "Hi, my order A-10432 shows paid but no invoice yet",
        "media": None,
        "location": None,
        "reply_to": None,
        "reaction": None,
        "context": None,
        "interactive": None,
        "received_at": "2024-11-15T07:07:00+00:00",
    }
    assert event.raw == load("text")


def data(name: str) -> dict[str, Any]:
    return one(load(name)).data


def test_every_message_kind() -> None:
    kinds = {
        "text": "text",
        "image": "image",
        "document": "document",
        "audio": "audio",
        "video": "video",
        "sticker": "sticker",
        "location": "location",
        "contacts": "contacts",
        "button": "button",
        "interactive_button_reply": "interactive",
        "interactive_list_reply": "interactive",
        "reaction": "reaction",
        "order": "order",
        "system": "system",
        "unsupported": "unsupported",
        "unknown": "unsupported",
    }
    for name, kind in kinds.items():
        assert data(name)["kind"] == kind, name


def test_media_kinds() -> None:
    image = data("image")
    assert image["text"] == "damaged box"
    assert image["media"] == {
        "id": "1234567890123456",
        "mime_type": "image/jpeg",
        "sha256": "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2",
        "caption": "damaged box",
        "filename": None,
    }
    doc = data("document")["media"]
    assert doc["filename"] == "INV-000123.pdf" and doc["mime_type"] == "application/pdf"
    for name in ("audio", "video", "sticker"):
        d = data(name)
        assert d["media"]["id"] and d["media"]["caption"] is None and d["text"] is None


def test_location_reply_and_buttons() -> None:
    assert data("location")["location"] == {
        "latitude": 12.9716,
        "longitude": 77.5946,
        "name": "Sandbox Traders",
        "address": "MG Road, Bengaluru 560001",
    }
    quoted = data("text_reply_with_context")
    assert quoted["reply_to"] == "wamid.HBgMOTE5ODQ1MDEyMzQ1FQIAERgSQjdDOUUxRjNBNUI3QzlFMUYzAA=="
    assert quoted["context"]["from"] == "918069001234"
    button = data("button")
    assert button["text"] == "Track order"
    assert button["interactive"] == {"payload": "TRACK_ORDER_A-10432", "text": "Track order"}
    assert button["reply_to"]
    reply = data("interactive_button_reply")
    assert reply["text"] == "Resend invoice"
    assert reply["interactive"]["button_reply"]["id"] == "resend_invoice"
    listed = data("interactive_list_reply")
    assert listed["text"] == "10:00" and listed["interactive"]["list_reply"]["id"] == "slot_1000"


def test_reaction_order_system_contacts_unsupported() -> None:
    assert data("reaction")["reaction"] == {
        "message_id": "wamid.HBgMOTE5ODQ1MDEyMzQ1FQIAERgSQjdDOUUxRjNBNUI3QzlFMUYzAA==",
        "emoji": "👍",
    }
    assert data("reaction_removed")["reaction"]["emoji"] == ""
    assert data("order")["text"] == "Please deliver by Friday"
    assert data("system")["text"].startswith("User A changed")
    contacts = one(load("contacts"))
    assert contacts.data["text"] is None
    assert contacts.raw["entry"][0]["changes"][0]["value"]["messages"][0]["contacts"]
    unsupported = one(load("unsupported"))
    assert unsupported.data["kind"] == "unsupported" and unsupported.data["text"] is None
    assert unsupported.raw["entry"][0]["changes"][0]["value"]["messages"][0]["errors"]


@pytest.mark.parametrize("vendor_type", ["request_welcome", "ephemeral", "", None, 7, ["x"]])
def test_unknown_types_become_unsupported(vendor_type: Any) -> None:
    doc = load("text")
    doc["entry"][0]["changes"][0]["value"]["messages"][0]["type"] = vendor_type
    event = one(doc)
    assert event.data["kind"] == "unsupported"
    assert event.idempotency_key == f"message.received:{TEXT_WAMID}"
    check(event)


def test_name_is_null_without_a_matching_contact() -> None:
    doc = load("text")
    del doc["entry"][0]["changes"][0]["value"]["contacts"]
    assert one(doc).data["from"] == {"phone": "919845012345", "name": None}
    doc = load("text")
    doc["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "910000000000"
    assert one(doc).data["from"]["name"] is None


# ------------------------------------------------------------------ statuses


def test_status_delivered_from_the_reference() -> None:
    event = one(load("status_delivered"))
    wamid = "wamid.HBgMOTE5ODQ1MDEyMzQ1FQIAERgSQjdDOUUxRjNBNUI3QzlFMUYzAA=="
    assert event.type == "message.status" and event.subject == wamid
    assert event.idempotency_key == f"message.status:{wamid}:delivered"
    assert event.data == {
        "channel": "whatsapp",
        "message_id": wamid,
        "recipient": "919845012345",
        "status": "delivered",
        "error": None,
        "conversation": {"id": "5f1c2e9a7b3d4c6e8f0a1b2c3d4e5f60", "category": "service"},
        "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
        "at": "2024-11-15T07:08:10+00:00",
    }


def test_status_failed_carries_the_error() -> None:
    event = one(load("status_failed"))
    assert event.data["status"] == "failed"
    assert event.data["error"] == {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Message failed to send because more than 24 hours have passed since the "
        "customer last replied to this number.",
    }
    assert event.data["conversation"] is None and event.data["pricing"] is None


def test_sent_status_keeps_the_callback_data_in_raw() -> None:
    event = one(load("status_sent"))
    item = event.raw["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert item["biz_opaque_callback_data"] == "step:3f6c1e0b9a8d"


# ------------------------------------------------------------------ batches and keys


def test_batch_of_two_messages_and_three_statuses_gives_five_events() -> None:
    events = receive(load("batch"))
    assert [e.type for e in events] == ["message.received"] * 2 + ["message.status"] * 3
    for event in events:
        check(event)
    assert [e.data["from"]["name"] for e in events[:2]] == ["Ananya Rao", "Vikram Shah"]
    keys = [e.idempotency_key for e in events]
    assert len(set(keys)) == 5
    read, delivered = events[2], events[3]
    assert read.subject == delivered.subject  # one message, two statuses, both emitted
    assert (read.data["status"], delivered.data["status"]) == ("read", "delivered")
    assert not status_supersedes(delivered.data["status"], read.data["status"])
    raw_value = events[1].raw["entry"][0]["changes"][0]["value"]
    assert raw_value["contacts"] == [{"profile": {"name": "Vikram Shah"}, "wa_id": "919900112233"}]
    assert len(raw_value["messages"]) == 1


def test_keys_are_stable_across_redeliveries_and_reformatting() -> None:
    first = [e.idempotency_key for e in receive(load("batch"))]
    again = [e.idempotency_key for e in receive(json.dumps(load("batch"), indent=1).encode())]
    assert first == again
    ids_first = [e.bind("wa", "whatsapp").id for e in receive(load("batch"))]
    ids_again = [e.bind("wa", "whatsapp").id for e in receive(load("batch"))]
    assert ids_first == ids_again


def test_a_redelivered_status_is_one_key_and_statuses_differ() -> None:
    delivered = one(load("status_delivered")).idempotency_key
    assert delivered == one(load("status_delivered")).idempotency_key
    doc = load("status_delivered")
    doc["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "read"
    doc["entry"][0]["changes"][0]["value"]["statuses"][0]["timestamp"] = "1731654999"
    assert one(doc).idempotency_key != delivered


def test_other_fields_and_played_are_skipped_but_not_in_a_mixed_batch() -> None:
    with pytest.raises(SkipEvent, match="field account_update"):
        receive(load("account_update"))
    with pytest.raises(SkipEvent, match="status played"):
        receive(load("status_played"))
    doc = load("batch")
    doc["entry"].extend(load("account_update")["entry"])
    doc["entry"].extend(load("status_played")["entry"])
    assert len(receive(doc)) == 5


def test_out_of_band_errors_are_skipped() -> None:
    doc = load("status_read")
    value = doc["entry"][0]["changes"][0]["value"]
    del value["statuses"]
    value["errors"] = [{"code": 131000, "title": "Something went wrong"}]
    with pytest.raises(SkipEvent, match=r"value\.errors"):
        receive(doc)


# ------------------------------------------------------------------ ordering helper


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        ("delivered", "read", False),  # the point: a late delivered never overwrites read
        ("read", "delivered", True),
        ("delivered", "sent", True),
        ("sent", "delivered", False),
        ("read", "sent", True),  # delivered may be skipped
        ("sent", "read", False),
        ("read", "read", False),  # a redelivery changes nothing
        ("failed", "sent", True),
        ("failed", "delivered", True),
        ("failed", "read", True),  # failed is terminal
        ("read", "failed", False),
        ("delivered", "failed", False),
        ("deleted", "read", True),
        ("failed", "deleted", True),
        ("sent", None, True),
        ("played", None, False),
        ("played", "sent", False),
        ("sent", "played", True),
    ],
)
def test_status_supersedes(new: str, old: str | None, expected: bool) -> None:
    assert status_supersedes(new, old) is expected


@given(st.permutations(["sent", "delivered", "read"]))
def test_every_arrival_order_converges(order: list[str]) -> None:
    kept: str | None = None
    for status in order:
        if status_supersedes(status, kept):
            kept = status
    assert kept == "read" == latest_status(order)
    assert latest_status([]) is None
    assert set(STATUS_RANK) == {"sent", "delivered", "read", "deleted", "failed"}


# ------------------------------------------------------------------ malformed input


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(object="page"), "not a WhatsApp webhook"),
        (lambda d: d.update(entry={}), "entry must be a list"),
        (lambda d: d["entry"][0].update(changes=None), r"changes must be a list"),
        (lambda d: d["entry"][0]["changes"][0].update(value=[]), "value must be an object"),
        (lambda d: _value(d).pop("metadata"), "phone_number_id is missing"),
        (lambda d: _value(d).update(messages={}), "messages must be a list"),
        (lambda d: _msg(d).pop("id"), r"messages\[0\]\.id is missing"),
        (lambda d: _msg(d).update(timestamp="soon"), "timestamp must be Unix seconds"),
        (lambda d: _msg(d).update(timestamp="99999999999999"), "out of range"),
        (lambda d: _msg(d).update({"from": "+91 98450"}), "is not a WhatsApp id"),
        (lambda d: _msg(d).update(text="hi"), "has no 'text' object"),
        (lambda d: _msg(d).update(context=[]), "context must be an object"),
    ],
)
def test_malformed_bodies_are_parse_errors(mutate: Any, match: str) -> None:
    doc = load("text")
    mutate(doc)
    with pytest.raises(ParseError, match=match):
        receive(doc)


def _value(doc: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = doc["entry"][0]["changes"][0]["value"]
    return value


def _msg(doc: dict[str, Any]) -> dict[str, Any]:
    msg: dict[str, Any] = _value(doc)["messages"][0]
    return msg


def test_bad_location_and_nan_are_parse_errors() -> None:
    doc = load("location")
    _msg(doc)["location"]["latitude"] = 123.0
    with pytest.raises(ParseError, match="latitude"):
        receive(doc)
    body = dump(load("location")).replace(b"12.9716", b"NaN")
    with pytest.raises(ParseError, match="NaN"):
        receive(body)
    with pytest.raises(ParseError, match="not valid JSON"):
        receive(b"{")
    with pytest.raises(ParseError, match="not UTF-8"):
        receive(b"\xff")


# ------------------------------------------------------------------ property: never a crash

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
TEMPLATES = [load(name) for name in PAYLOAD_NAMES]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_paths(value, (*prefix, i)))
    return out


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    doc = copy.deepcopy(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return json.dumps(doc).encode()


def _receive_safely(body: bytes) -> None:
    req = signed(body)
    src = source()
    src.verify(req)  # validly signed: verification passes for any bytes
    try:
        events = src.parse(req)
    except (ParseError, SkipEvent):
        return
    assert events
    for event in events:
        check(event)


@settings(
    max_examples=int(os.environ.get("WA_EXAMPLES", "400")),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(body=mutated_payloads())
def test_mutated_payloads_give_valid_events_or_parse_errors(body: bytes) -> None:
    _receive_safely(body)


@settings(max_examples=200)
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_signed_bytes_give_valid_events_or_parse_errors(body: bytes) -> None:
    _receive_safely(body)


EVIL: list[Any] = [None, [], {}, [1], {"a": 1}, 0, -1, True, "x", "", 1.5, 10**20]


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_every_field_replaced_or_removed_never_crashes(name: str) -> None:
    """Exhaustive, deterministic: each path of each payload set to each odd value, or deleted."""
    template = load(name)
    for path in (p for p in _paths(template) if p):
        for value in [*EVIL, KeyError]:
            doc = copy.deepcopy(template)
            parent = doc
            for part in path[:-1]:
                parent = parent[part]
            if value is KeyError:
                if not isinstance(parent, dict):
                    continue
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            _receive_safely(json.dumps(doc).encode())
