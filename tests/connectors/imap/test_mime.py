"""``connectors.imap.mime``: real-format messages → ``email.received`` data, never a crash."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.imap.decoding import decode_text, decode_words
from connectors.imap.mime import message_ids, parse_email
from connectors.imap.sources import email_event, idempotency_key
from hub.errors import ParseError
from hub.schemas import validate_data

MAILBOX = "support@example.in/INBOX"
NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


def parse(raw: bytes, **kw: Any) -> dict[str, Any]:
    data = parse_email(raw, mailbox=MAILBOX, uid=7, **kw)
    validate_data("email.received", data)
    return data


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("ascii")


# ------------------------------------------------------------------ the shape


ALTERNATIVE = crlf(
    """\
Return-Path: <ananya.rao@example.in>
Message-ID: <CAF=abc123@mail.example.in>
Date: Fri, 15 Nov 2024 13:30:00 +0530
From: =?UTF-8?B?4KSF4KSo4KSo4KWN4KSv4KS+IOCksOCkvuCkrw==?= <ananya.rao@example.in>
To: Support <support@example.in>, "Rao, Ananya" <ananya@example.in>
Cc: =?utf-8?q?Rao=2C_Vikram?= <vikram@example.in>
Reply-To: ananya.rao+reply@example.in
Subject: =?UTF-8?B?UmVmdW5kIOKCuTQ5OSBmb3Ig4KSG4KSm4KWH4KS2?=
 =?UTF-8?Q?_A-10432?=
X-Mailer: Thunderbird 128.4
Auto-Submitted: no
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Still waiting for the refund of =E2=82=B9499.
--b1
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: base64

PHA+U3RpbGwgd2FpdGluZyBmb3IgdGhlIHJlZnVuZCBvZiDigrk0OTkuPC9wPg==
--b1--
"""
)


def test_multipart_alternative_gives_text_and_html_and_decoded_headers() -> None:
    data = parse(ALTERNATIVE)
    assert data["text"] == "Still waiting for the refund of ₹499."
    assert data["html"] == "<p>Still waiting for the refund of ₹499.</p>"
    assert data["subject"] == "Refund ₹499 for आदेश A-10432"
    assert data["from"] == {"name": "अनन्या राय", "address": "ananya.rao@example.in"}
    assert data["to"] == [
        {"name": "Support", "address": "support@example.in"},
        {"name": "Rao, Ananya", "address": "ananya@example.in"},
    ]
    # The encoded comma is part of the name: split first, decode after.
    assert data["cc"] == [{"name": "Rao, Vikram", "address": "vikram@example.in"}]
    assert data["reply_to"] == [{"name": None, "address": "ananya.rao+reply@example.in"}]
    assert data["date"] == "2024-11-15T13:30:00+05:30"
    assert data["message_id"] == "<CAF=abc123@mail.example.in>"
    assert data["thread_key"] == data["message_id"]
    assert data["in_reply_to"] is None and data["references"] == []
    assert data["attachments"] == []
    assert data["uid"] == 7 and data["mailbox"] == MAILBOX
    assert data["headers"] == {
        "auto-submitted": "no",
        "return-path": "<ananya.rao@example.in>",
        "x-mailer": "Thunderbird 128.4",
    }


def test_event_key_subject_and_time() -> None:
    event = email_event(ALTERNATIVE, mailbox=MAILBOX, uid=7, now=NOW)
    assert event.type == "email.received"
    assert (
        event.idempotency_key
        == "email.received:support@example.in/INBOX:<CAF=abc123@mail.example.in>"
    )
    assert event.idempotency_key == idempotency_key(MAILBOX, "<CAF=abc123@mail.example.in>")
    assert event.subject == "<CAF=abc123@mail.example.in>"
    assert event.time.isoformat() == "2024-11-15T13:30:00+05:30"  # Date header: no INTERNALDATE
    arrived = datetime(2024, 11, 15, 8, 1, tzinfo=UTC)
    assert email_event(ALTERNATIVE, mailbox=MAILBOX, received=arrived).time == arrived
    assert event.raw == {"uid": 7, "size": len(ALTERNATIVE), "internaldate": None}


# --------------------------------------------------------------------- charsets


def test_iso_8859_1_quoted_printable_body_and_header() -> None:
    raw = crlf(
        """\
From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <jm@example.de>
To: kunden@example.de
Subject: =?iso-8859-1?q?Gr=FC=DFe_aus_K=F6ln?=
Message-ID: <1@example.de>
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Sch=F6ne Gr=FC=DFe, 20 =80 bezahlt.
"""
    )
    data = parse(raw)
    assert data["from"]["name"] == "Jürgen Müller"
    assert data["subject"] == "Grüße aus Köln"
    # iso-8859-1 labels are read as windows-1252, as browsers do: 0x80 is the euro.
    assert data["text"] == "Schöne Grüße, 20 € bezahlt.\n"


def test_windows_1252_8bit_body() -> None:
    raw = (
        b"From: a@example.com\r\nMessage-ID: <2@example.com>\r\n"
        b"Content-Type: text/plain; charset=windows-1252\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"\x93Quoted\x94 \x96 caf\xe9 \x80 \x81end\r\n"
    )
    data = parse(raw)
    assert data["text"] == "\u201cQuoted\u201d \u2013 café € \ufffdend\n"  # 0x81: undefined


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("shift_jis", "日本語のメール ①"),  # ① only in cp932, Microsoft's Shift_JIS
        ("koi8-r", "Привет, мир"),
        ("gb2312", "你好，世界"),  # noqa: RUF001 - the fullwidth comma is the point
        ("big5", "繁體中文"),
        ("euc-kr", "안녕하세요"),
        ("iso-2022-jp", "こんにちは"),
        ("utf-8", "नमस्ते दुनिया"),
    ],
)
def test_legacy_charsets_in_body_and_encoded_words(charset: str, text: str) -> None:
    codec = {"shift_jis": "cp932", "gb2312": "gb18030"}.get(charset, charset)
    body = text.encode(codec)
    word = f"=?{charset}?B?{base64.b64encode(body).decode()}?="
    raw = (
        f"From: {word} <x@example.com>\r\nSubject: {word}\r\nMessage-ID: <c@x>\r\n"
        f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii") + base64.encodebytes(body)
    data = parse(raw)
    assert data["text"] == text
    assert data["subject"] == text
    assert data["from"]["name"] == text


def test_undecodable_bytes_and_bad_labels_never_crash() -> None:
    raw = (
        b"From: \xff\xfe <x@example.com>\r\nSubject: caf\xe9 \xe2\x82\r\nMessage-ID: <d@x>\r\n"
        b"Content-Type: multipart/mixed; boundary=z\r\n\r\n"
        b"--z\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nok \xc3\x28 \x00 bye\r\n"
        b"--z\r\nContent-Type: text/html; charset=x-no-such-charset\r\n\r\n<b>caf\xe9</b>\r\n"
        b"--z\r\nContent-Type: text/plain; charset=base64\r\nContent-Disposition: attachment\r\n\r\n"
        b"\x80\x81\r\n--z--\r\n"
    )
    data = parse(raw)
    assert data["text"] == "ok \ufffd(  bye"  # bad UTF-8 replaced, NUL dropped
    assert data["html"] == "<b>café</b>"  # unknown label: not UTF-8, so windows-1252
    assert data["subject"].startswith("caf")  # raw 8-bit header: not UTF-8 → windows-1252
    assert len(data["attachments"]) == 1


def test_raw_utf8_headers_rfc6532() -> None:
    raw = "From: Jörg Ü <j@example.de>\r\nSubject: Grüße ₹\r\nMessage-ID: <e@x>\r\n\r\nhi\r\n"
    data = parse(raw.encode("utf-8"))
    assert data["from"] == {"name": "Jörg Ü", "address": "j@example.de"}
    assert data["subject"] == "Grüße ₹"
    assert data["text"] == "hi\n"  # no Content-Type: us-ascii, 7bit


def test_decode_helpers() -> None:
    assert decode_text("é".encode("latin-1"), "us-ascii") == "é"  # mislabelled 8-bit
    assert decode_text(b"\xe2\x82\xac", None) == "€"
    assert decode_text(b"abc", "idna") == "abc"
    # A character split across two words of one charset is joined before decoding.
    euro = "€".encode()
    split = f"=?UTF-8?B?{base64.b64encode(euro[:1]).decode()}?= =?UTF-8?B?{base64.b64encode(euro[1:]).decode()}?="
    assert decode_words(split) == "€"
    assert decode_words("a =?utf-8?q?b?= c") == "a b c"
    assert decode_words("=?utf-8?B?***?=") == "=?utf-8?B?***?="  # broken: kept as sent
    assert decode_words("=?utf-8*en?Q?hi?=") == "hi"  # RFC 2231 language suffix


# ------------------------------------------------------------------ attachments


def _mixed_with_attachments() -> tuple[bytes, dict[str, bytes]]:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4
    bill = b"%PDF-1.7 bill\n" * 10
    logo = b"\x89PNG\r\n\x1a\n" + b"\x00" * 50
    raw = (
        crlf(
            """\
From: billing@example.de
To: a@example.in
Subject: Rechnung
Message-ID: <f@example.de>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

Siehe Anhang.
--alt
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>Siehe Anhang.<img src="cid:logo@x"></p>
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Disposition: inline
Content-Transfer-Encoding: base64

"""
        )
        + base64.encodebytes(logo).replace(b"\n", b"\r\n")
        + crlf(
            """\
--rel--
--alt--
--outer
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''Rechnung_M%C3%A4rz.pdf
Content-Transfer-Encoding: base64

"""
        )
        + base64.encodebytes(pdf).replace(b"\n", b"\r\n")
        + crlf(
            """\
--outer
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*0*=UTF-8''%E0%A4%AC%E0%A4%BF%E0%A4%B2;
 filename*1*=%5F%E0%A4%A8%E0%A4%B5%E0%A4%82%E0%A4%AC%E0%A4%B0.pdf
Content-Transfer-Encoding: base64

"""
        )
        + base64.encodebytes(bill).replace(b"\n", b"\r\n")
        + crlf(
            """\
--outer
Content-Type: text/plain; charset=utf-8
Content-Disposition: attachment; filename="=?UTF-8?B?w7xiZXJzaWNodC50eHQ=?="

a,b
--outer
Content-Type: application/octet-stream; name="legacy name.bin"

raw
--outer--
"""
        )
    )
    return raw, {"pdf": pdf, "bill": bill, "logo": logo}


def test_nested_mixed_alternative_related_with_attachments() -> None:
    raw, files = _mixed_with_attachments()
    data = parse(raw)
    assert data["text"] == "Siehe Anhang."
    assert data["html"] == '<p>Siehe Anhang.<img src="cid:logo@x"></p>'
    sha = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    assert data["attachments"] == [
        {
            "filename": "",
            "content_type": "image/png",
            "size": len(files["logo"]),
            "sha256": sha["logo"],
        },
        {
            "filename": "Rechnung_März.pdf",
            "content_type": "application/pdf",
            "size": len(files["pdf"]),
            "sha256": sha["pdf"],
        },
        {
            "filename": "बिल_नवंबर.pdf",  # RFC 2231 continuations
            "content_type": "application/pdf",
            "size": len(files["bill"]),
            "sha256": sha["bill"],
        },
        {
            "filename": "übersicht.txt",  # RFC 2047 word inside filename="…"
            "content_type": "text/plain",
            "size": 3,
            "sha256": hashlib.sha256(b"a,b").hexdigest(),
        },
        {
            "filename": "legacy name.bin",  # Content-Type; name=…
            "content_type": "application/octet-stream",
            "size": 3,
            "sha256": hashlib.sha256(b"raw").hexdigest(),
        },
    ]
    event = email_event(raw, mailbox=MAILBOX, now=NOW)
    assert "JVBERi0" not in repr(event.to_dict())  # no attachment content in the event


def test_built_with_emailmessage_api_hindi_and_german_names() -> None:
    msg = EmailMessage()
    msg["From"] = "Ananya <a@example.in>"
    msg["To"] = "b@example.in"
    msg["Subject"] = "बिल और Rechnung"
    msg.set_content("Namaste")
    msg.add_attachment(b"1", maintype="application", subtype="pdf", filename="Rechnung_März.pdf")
    msg.add_attachment(b"22", maintype="application", subtype="pdf", filename="बिल.pdf")
    data = parse(msg.as_bytes())
    assert data["subject"] == "बिल और Rechnung"
    assert [(a["filename"], a["size"]) for a in data["attachments"]] == [
        ("Rechnung_März.pdf", 1),
        ("बिल.pdf", 2),
    ]


def test_message_rfc822_attachment_is_one_part_not_walked() -> None:
    inner = crlf(
        """\
From: original@example.com
Subject: Original
Message-ID: <inner@example.com>
Content-Type: multipart/mixed; boundary=in

--in
Content-Type: text/plain

inner body
--in
Content-Type: application/zip
Content-Disposition: attachment; filename=inner.zip

PK
--in--
"""
    )
    raw = (
        crlf(
            """\
From: forwarder@example.com
Subject: Fwd: Original
Message-ID: <outer@example.com>
Content-Type: multipart/mixed; boundary=out

--out
Content-Type: text/plain

see below
--out
Content-Type: message/rfc822
Content-Disposition: attachment; filename="Original.eml"

"""
        )
        + inner
        + b"\r\n--out--\r\n"
    )
    data = parse(raw)
    assert data["message_id"] == "<outer@example.com>"
    assert data["subject"] == "Fwd: Original"
    assert data["text"] == "see below"
    [att] = data["attachments"]
    assert att["filename"] == "Original.eml" and att["content_type"] == "message/rfc822"
    assert att["size"] > 0
    # Stable across parses: the sha256 identifies the same forwarded mail.
    assert parse(raw)["attachments"][0]["sha256"] == att["sha256"]


# ---------------------------------------------------------- ids and threading


def test_missing_message_id_is_synthesized_from_the_bytes() -> None:
    raw = b"From: a@example.com\r\nSubject: no id\r\n\r\nbody\r\n"
    data = parse(raw)
    digest = hashlib.sha256(raw).hexdigest()
    assert data["message_id"] == f"<{digest}@sha256.invalid>"
    assert data["thread_key"] == data["message_id"]
    assert parse(raw)["message_id"] == data["message_id"]
    assert parse(raw + b"x")["message_id"] != data["message_id"]
    key = email_event(raw, mailbox=MAILBOX, now=NOW).idempotency_key
    assert key == f"email.received:{MAILBOX}:<{digest}@sha256.invalid>"


def test_replies_share_the_thread_key() -> None:
    root = parse(b"From: a@x.in\r\nMessage-ID: <root@x.in>\r\n\r\nq\r\n")
    reply = parse(
        b"From: s@y.in\r\nMessage-ID: <r1@y.in>\r\nIn-Reply-To: <root@x.in>\r\n"
        b"References: <root@x.in>\r\n\r\na\r\n"
    )
    reply2 = parse(
        b"From: a@x.in\r\nMessage-ID:\r\n <r2@x.in>\r\nIn-Reply-To: <r1@y.in> (s's message)\r\n"
        b"References: <root@x.in>\r\n\t<r1@y.in>\r\n\r\nb\r\n"
    )
    only_irt = parse(
        b"From: a@x.in\r\nMessage-ID: <r3@x.in>\r\nIn-Reply-To: root@x.in\r\n\r\nc\r\n"
    )
    assert root["thread_key"] == reply["thread_key"] == reply2["thread_key"] == "<root@x.in>"
    assert reply2["message_id"] == "<r2@x.in>"
    assert reply2["in_reply_to"] == "<r1@y.in>"
    assert reply2["references"] == ["<root@x.in>", "<r1@y.in>"]
    assert only_irt["thread_key"] == "<root@x.in>"  # no brackets: added


def test_message_ids_parsing() -> None:
    assert message_ids("<a@b> <c@d>") == ["<a@b>", "<c@d>"]
    assert message_ids("<a@\r\n b>") == ["<a@b>"]
    assert message_ids("a@b, c@d") == ["<a@b>", "<c@d>"]
    assert message_ids("<>") == [] and message_ids("nonsense") == []


# -------------------------------------------------------------- odd senders, limits


def test_missing_from_groups_and_bad_dates() -> None:
    raw = (
        b"To: undisclosed-recipients:;\r\nCc: team: a@x.in, b@x.in;\r\n"
        b"Date: not a date\r\nSubject: x\r\n\r\nb\r\n"
    )
    data = parse(raw)
    assert data["from"] == {"name": None, "address": "unknown@invalid"}
    assert data["to"] == []
    assert [c["address"] for c in data["cc"]] == ["a@x.in", "b@x.in"]
    assert data["date"] is None
    local = parse(b"From: root\r\nSender: MAILER-DAEMON <md@x.in>\r\n\r\nb\r\n")
    assert local["from"] == {"name": "MAILER-DAEMON", "address": "md@x.in"}
    only_local = parse(b"From: root\r\n\r\nb\r\n")
    assert only_local["from"] == {"name": "root", "address": "unknown@invalid"}
    utc = parse(b"From: a@x.in\r\nDate: Fri, 15 Nov 2024 08:00:00 -0000\r\n\r\nb\r\n")
    assert utc["date"] == "2024-11-15T08:00:00+00:00"


def test_long_bodies_are_cut_and_flagged() -> None:
    body = "x" * 500
    msg = EmailMessage()
    msg["From"] = "a@x.in"
    msg.set_content(body)
    msg.add_alternative(f"<p>{body}</p>", subtype="html")
    data = parse(msg.as_bytes(), max_body_chars=100)
    assert data["text"] == "x" * 100 and data["html"] == "<p>" + "x" * 97
    assert data["headers"]["x-hub-truncated"] == "text,html"
    assert "x-hub-truncated" not in parse(msg.as_bytes())["headers"]


def test_oversized_message_keeps_headers_only() -> None:
    header = b"From: a@x.in\r\nSubject: big\r\nMessage-ID: <big@x.in>\r\n\r\n"
    data = parse(header, oversized=90_000_000)
    assert data["subject"] == "big" and data["message_id"] == "<big@x.in>"
    assert data["text"] is None and data["html"] is None and data["attachments"] == []
    assert data["headers"]["x-hub-oversized"] == "90000000"


def test_html_only_has_null_text() -> None:
    data = parse(b"From: a@x.in\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n")
    assert data["text"] is None and data["html"] == "<p>hi</p>\n"


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n "])
def test_empty_input_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError, match="empty"):
        parse_email(raw, mailbox=MAILBOX)


def test_deep_nesting_does_not_crash() -> None:
    depth = 300
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    )
    raw = b"From: a@x.in\r\n" + head + b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    try:
        data = parse(raw)
    except ParseError:
        return
    assert data["text"] in (None, "deep\n")


# -------------------------------------------------------------------- property


HEADER_LINES = st.sampled_from(
    [
        b"From: =?utf-8?B?4KSF?= <a@x.in>",
        b"From: \xff <>",
        b'To: a@x.in, , <@>, "q\\"x" <b@y>',
        b"Subject: =?koi8-r?Q?=F0=D2?= =?bogus?Q?x?=",
        b"Message-ID: <",
        b"References: <a@b> <",
        b"In-Reply-To: >>",
        b"Date: Mon, 32 Foo 99999 25:61:61 +9999",
        b"Content-Type: multipart/mixed; boundary=q",
        b"Content-Type: message/rfc822",
        b'Content-Type: text/plain; charset="\xff"',
        b"Content-Type: text/html; charset=utf-16",
        b"Content-Transfer-Encoding: base64",
        b"Content-Transfer-Encoding: x-uuencode",
        b"Content-Disposition: attachment; filename*=bogus''%ZZ%",
        b"Content-Disposition: inline; filename*0*=utf-8''%E2; filename*1=x",
        b"--q",
        b"--q--",
        b"",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_a_valid_event_or_a_parse_error(raw: bytes) -> None:
    _valid_or_parse_error(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(HEADER_LINES, st.binary(max_size=40)), max_size=40))
def test_mime_shaped_garbage_gives_a_valid_event_or_a_parse_error(lines: list[bytes]) -> None:
    _valid_or_parse_error(b"\r\n".join(lines))


def _valid_or_parse_error(raw: bytes) -> None:
    try:
        event = email_event(raw, mailbox=MAILBOX, uid=1, now=NOW, max_body_chars=500)
    except ParseError:
        return
    validate_data("email.received", event.data)
    assert event.idempotency_key == f"email.received:{MAILBOX}:{event.data['message_id']}"
    assert event.time.tzinfo is not None
