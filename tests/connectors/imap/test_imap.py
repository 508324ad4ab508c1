"""``ImapMailbox`` against a real Dovecot (tests/connectors/imap/dovecot.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connectors.imap import ImapConfig, ImapMailbox, connector
from connectors.imap.client import parse_fetch, uid_set
from hub.connector import Page, PollContext
from hub.errors import AuthError, ConfigError, PermanentError, TransientError
from hub.events import Event
from hub.http import HttpClient
from hub.schemas import validate_data
from hub.store import IngestItem
from hub.store.sql import SqlStore
from hub.testing import PollingSourceContract
from tests import services

from .dovecot import PASSWORD, Dovecot

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


def ctx() -> PollContext:
    return PollContext(connection="mail", http=HttpClient(), now=NOW)


def source(server: Dovecot, user: str, **extra: Any) -> ImapMailbox:
    settings = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "username": user,
        "password": PASSWORD,
        "label": f"{user}@example.in",
        **extra,
    }
    return ImapMailbox(ImapConfig.model_validate(settings), "mail")


async def drain(src: ImapMailbox, cursor: Any, limit: int = 50) -> tuple[list[Event], Any, int]:
    """Poll until ``more`` is false; (events, last cursor, number of polls)."""
    events: list[Event] = []
    for polls in range(1, limit + 1):
        page: Page[Any] = await src.poll(cursor, ctx())
        events.extend(page.events)
        cursor = json.loads(json.dumps(page.cursor))  # stored as JSON by the hub
        if not page.more:
            return events, cursor, polls
    raise AssertionError(f"still more after {limit} polls")


def plain(n: int, **headers: str) -> bytes:
    head = {
        "From": f"Customer {n} <c{n}@example.com>",
        "To": "support@example.in",
        "Subject": f"Order {n}",
        "Message-ID": f"<msg{n}@example.com>",
        "Date": "Fri, 15 Nov 2024 13:30:00 +0530",
        **headers,
    }
    lines = [f"{k}: {v}" for k, v in head.items() if v]
    return ("\r\n".join(lines) + f"\r\n\r\nBody of message {n}.\r\n").encode("utf-8")


PDF = b"%PDF-1.4 invoice\n" * 64


def with_attachment() -> bytes:
    body = base64.encodebytes(PDF).decode().replace("\n", "\r\n")
    return (
        "From: billing@example.de\r\nTo: support@example.in\r\nSubject: Rechnung\r\n"
        "Message-ID: <att@example.de>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAnbei.\r\n"
        "--b\r\nContent-Type: application/pdf\r\n"
        "Content-Disposition: attachment; filename*=UTF-8''Rechnung_M%C3%A4rz.pdf\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{body}--b--\r\n"
    ).encode("ascii")


def flags(server: Dovecot, user: str, folder: str = "INBOX") -> list[bytes]:
    imap = server.connect(user)
    try:
        imap.select(folder, readonly=True)
        typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
        assert typ == "OK"
        return [d for d in data if isinstance(d, bytes)]
    finally:
        imap.logout()


# ------------------------------------------------------------------- the big one


async def test_200_messages_over_several_polls_threads_and_nothing_marked_seen(
    dovecot_server: Dovecot, mail_user: str
) -> None:
    thread = [
        plain(1001, **{"Message-ID": "<root@example.com>", "Subject": "Refund?"}),
        plain(
            1002,
            **{
                "Message-ID": "<reply1@example.in>",
                "Subject": "Re: Refund?",
                "In-Reply-To": "<root@example.com>",
                "References": "<root@example.com>",
            },
        ),
        plain(
            1003,
            **{
                "Message-ID": "<reply2@example.com>",
                "Subject": "Re: Re: Refund?",
                "In-Reply-To": "<reply1@example.in>",
                "References": "<root@example.com>\r\n <reply1@example.in>",
            },
        ),
    ]
    encoded = plain(2000, Subject="=?UTF-8?B?4KSo4KSu4KS44KWN4KSk4KWHIOKCuTQ5OQ==?=")
    messages = [plain(n) for n in range(195)] + thread + [encoded, with_attachment()]
    assert len(messages) == 200
    dovecot_server.append(mail_user, messages)

    src = source(dovecot_server, mail_user, page_size=50)
    events, cursor, polls = await drain(src, None)

    assert len(events) == 200
    assert len({e.idempotency_key for e in events}) == 200
    assert polls >= 4  # 50 per poll
    assert cursor["last_uid"] == 200 and isinstance(cursor["uidvalidity"], int)
    for event in events:
        validate_data("email.received", event.data)
        assert event.data["mailbox"] == f"{mail_user}@example.in"
        assert event.raw["uidvalidity"] == cursor["uidvalidity"]
    by_id = {e.data["message_id"]: e for e in events}
    keys = {
        by_id[i].data["thread_key"]
        for i in ("<root@example.com>", "<reply1@example.in>", "<reply2@example.com>")
    }
    assert keys == {"<root@example.com>"}
    assert by_id["<reply2@example.com>"].data["references"] == [
        "<root@example.com>",
        "<reply1@example.in>",
    ]
    assert by_id["<msg2000@example.com>"].data["subject"] == "नमस्ते ₹499"
    [att] = by_id["<att@example.de>"].data["attachments"]
    assert att == {
        "filename": "Rechnung_März.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    assert by_id["<att@example.de>"].data["text"] == "Anbei."
    # UIDs in order, INTERNALDATE as the event time.
    assert [e.data["uid"] for e in events] == list(range(1, 201))
    assert all(e.time.tzinfo is not None for e in events)

    seen = [f for f in flags(dovecot_server, mail_user) if b"\\Seen" in f]
    assert seen == [], f"polling marked {len(seen)} messages \\Seen"


async def test_cursor_resume_after_restart(dovecot_server: Dovecot, mail_user: str) -> None:
    dovecot_server.append(mail_user, [plain(n) for n in range(5)])
    _, cursor, _ = await drain(source(dovecot_server, mail_user), None)

    restarted = source(dovecot_server, mail_user)  # new instance, saved cursor
    page = await restarted.poll(cursor, ctx())
    assert page.events == [] and page.cursor == cursor and not page.more

    dovecot_server.append(mail_user, [plain(5), plain(6)])
    events, cursor2, _ = await drain(source(dovecot_server, mail_user), cursor)
    assert [e.data["message_id"] for e in events] == ["<msg5@example.com>", "<msg6@example.com>"]
    assert cursor2 == {"uidvalidity": cursor["uidvalidity"], "last_uid": 7}


async def test_uidvalidity_reset_rescans_without_duplicates_in_the_store(
    dovecot_server: Dovecot, mail_user: str, tmp_path: Path
) -> None:
    folder = "Support"
    first = [plain(n) for n in range(5)] + [b"From: x@example.com\r\nSubject: no id\r\n\r\nhi\r\n"]
    dovecot_server.append(mail_user, first, folder=folder)
    src = source(dovecot_server, mail_user, folder=folder)
    store = SqlStore(services.store_url(tmp_path))
    await store.open()
    try:

        async def save(page: Page[Any]) -> list[bool]:
            items = [IngestItem(e.bind("mail", "imap")) for e in page.events]
            return await store.save_poll("mail", src.name, items, page.cursor)

        page = await src.poll(None, ctx())
        assert sum(await save(page)) == 6
        old = page.cursor
        assert old is not None

        # The folder is deleted and recreated (a restore, a migration): a new
        # UIDVALIDITY, the same mail again under new UIDs, plus one new message.
        imap = dovecot_server.connect(mail_user)
        try:
            assert imap.delete(folder)[0] == "OK"
        finally:
            imap.logout()
        dovecot_server.append(mail_user, [*first, plain(99)], folder=folder)

        page = await src.poll(await store.get_cursor("mail", src.name), ctx())
        cursor = page.cursor
        assert cursor is not None
        assert cursor["uidvalidity"] != old["uidvalidity"]
        assert cursor["uidvalidity_changed_from"] == old["uidvalidity"]
        assert cursor["uidvalidity_changed_at"] == NOW.isoformat()
        assert cursor["last_uid"] == 7
        assert len(page.events) == 7  # re-scanned ...
        flags_ = await save(page)
        assert sum(flags_) == 1  # ... but only the new message is new in the store
        new = [e for e, f in zip(page.events, flags_, strict=True) if f]
        assert new[0].data["message_id"] == "<msg99@example.com>"

        # The record stays in the cursor; later polls are ordinary again.
        dovecot_server.append(mail_user, [plain(100)], folder=folder)
        page = await src.poll(await store.get_cursor("mail", src.name), ctx())
        assert [e.data["message_id"] for e in page.events] == ["<msg100@example.com>"]
        assert page.cursor is not None
        assert page.cursor["uidvalidity_changed_from"] == old["uidvalidity"]
        assert sum(await save(page)) == 1
    finally:
        await store.close()


async def test_bounded_search_windows_skip_gaps_left_by_expunged_mail(
    dovecot_server: Dovecot, mail_user: str
) -> None:
    dovecot_server.append(mail_user, [plain(n) for n in range(1, 21)])
    imap = dovecot_server.connect(mail_user)
    try:
        imap.select("INBOX")
        imap.uid("STORE", "2:15", "+FLAGS.SILENT", r"(\Deleted)")
        imap.expunge()
    finally:
        imap.logout()

    class Narrow(ImapMailbox):
        search_window = 3
        max_windows = 2

    src = Narrow(source(dovecot_server, mail_user, page_size=2).config, "mail")
    events, cursor, polls = await drain(src, None)
    assert [e.data["uid"] for e in events] == [1, 16, 17, 18, 19, 20]
    assert cursor["last_uid"] == 20
    assert polls >= 4  # empty windows advance the cursor with more=True


# ------------------------------------------------------------------ options


async def test_mark_seen_sets_the_flag_only_when_asked(
    dovecot_server: Dovecot, mail_user: str
) -> None:
    dovecot_server.append(mail_user, [plain(1), plain(2)])
    events, _, _ = await drain(source(dovecot_server, mail_user, mark_seen=True), None)
    assert len(events) == 2
    assert all(b"\\Seen" in f for f in flags(dovecot_server, mail_user))


async def test_import_existing_false_starts_at_the_current_end(
    dovecot_server: Dovecot, mail_user: str
) -> None:
    dovecot_server.append(mail_user, [plain(1), plain(2)])
    src = source(dovecot_server, mail_user, import_existing=False)
    page = await src.poll(None, ctx())
    assert page.events == [] and page.cursor is not None and page.cursor["last_uid"] == 2
    dovecot_server.append(mail_user, [plain(3)])
    events, _, _ = await drain(src, page.cursor)
    assert [e.data["message_id"] for e in events] == ["<msg3@example.com>"]


async def test_oversized_message_is_fetched_headers_only(
    dovecot_server: Dovecot, mail_user: str
) -> None:
    big = plain(1) + b"x" * 5000 + b"\r\n"
    dovecot_server.append(mail_user, [big, plain(2)])
    events, _, _ = await drain(source(dovecot_server, mail_user, max_message_bytes=1024), None)
    first, second = events
    assert first.data["subject"] == "Order 1" and first.data["text"] is None
    assert first.data["headers"]["x-hub-oversized"] == str(len(big))
    assert first.raw["size"] == len(big)
    assert second.data["text"] == "Body of message 2.\r\n".replace("\r\n", "\n")


async def test_empty_folder_and_folder_with_spaces(dovecot_server: Dovecot, mail_user: str) -> None:
    dovecot_server.append(mail_user, [plain(1)], folder="Kunden Anfragen")
    events, _, _ = await drain(source(dovecot_server, mail_user, folder="Kunden Anfragen"), None)
    assert len(events) == 1
    page = await source(dovecot_server, mail_user).poll(None, ctx())  # INBOX: empty
    assert page.events == [] and page.cursor is not None and page.cursor["last_uid"] == 0


# ------------------------------------------------------------------- errors


async def test_errors_by_consequence(dovecot_server: Dovecot, mail_user: str) -> None:
    with pytest.raises(AuthError, match="login rejected"):
        await source(dovecot_server, mail_user, password="wrong").poll(None, ctx())
    with pytest.raises(PermanentError, match="cannot open folder 'Nope'"):
        await source(dovecot_server, mail_user, folder="Nope").poll(None, ctx())
    with pytest.raises(ConfigError, match="not one this source wrote"):
        await source(dovecot_server, mail_user).poll({"last": 3}, ctx())
    closed = source(dovecot_server, mail_user, port=_closed_port())
    with pytest.raises(TransientError, match="connect failed"):
        await closed.poll(None, ctx())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -------------------------------------------------------------- the contract


class TestImapMailboxContract(PollingSourceContract):
    """The standard polling checks; each test gets its own mailbox on the shared server."""

    source = ImapMailbox
    config: ClassVar[dict[str, Any]] = {"security": "none", "password": PASSWORD, "page_size": 2}

    @pytest.fixture(autouse=True)
    def _mailbox(self, dovecot_server: Dovecot, mail_user: str) -> None:
        self.server = dovecot_server
        self.user = mail_user
        self.seeded = 0

    def make_source(self) -> ImapMailbox:
        settings = {
            **self.config,
            "host": self.server.host,
            "port": self.server.port,
            "username": self.user,
        }
        return ImapMailbox(ImapConfig.model_validate(settings), "contract-test")

    async def context(self) -> PollContext:
        return ctx()

    async def seed(self, n: int) -> None:
        start = self.seeded
        self.seeded += n
        self.server.append(self.user, [plain(i) for i in range(start, start + n)])


# ---------------------------------------------------------------- small units


def test_connector_registration() -> None:
    assert connector.name == "imap" and connector.pollers == (ImapMailbox,)
    assert connector.emits == ("email.received",)
    with pytest.raises(ValueError, match="extra"):
        ImapConfig.model_validate({"host": "h", "username": "u", "password": "p", "idle": True})
    settings = {"host": "imap.example.in", "username": "u", "password": "hunter2-secret"}
    cfg = ImapConfig.model_validate(settings)
    assert cfg.server_port == 993 and cfg.mailbox == "u/INBOX" and not cfg.mark_seen
    assert "hunter2" not in repr(cfg) and "hunter2" not in cfg.model_dump_json()


def test_uid_set_and_fetch_parsing() -> None:
    assert uid_set([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
    assert uid_set([5]) == "5" and uid_set([]) == ""
    data = [
        (b'1 (UID 11 RFC822.SIZE 40 INTERNALDATE "22-Nov-2026 04:50:03 +0530" BODY[] {4}', b"abcd"),
        b")",
        (b"2 (BODY[] {2}", b"xy"),
        b" UID 12)",
        b"3 (FLAGS (\\Seen))",  # unsolicited, no UID: dropped
        b'4 (UID 14 INTERNALDATE " 2-Jan-2025 01:02:03 -0000")',
    ]
    got = {m.uid: m for m in parse_fetch(data)}
    assert set(got) == {11, 12, 14}
    assert got[11].body == b"abcd" and got[11].size == 40
    assert (
        got[11].internaldate is not None
        and got[11].internaldate.isoformat() == "2026-11-22T04:50:03+05:30"
    )
    assert got[12].body == b"xy"
    assert got[14].body is None and got[14].internaldate is not None
    assert got[14].internaldate.isoformat() == "2025-01-02T01:02:03+00:00"
