"""``ImapMailbox``: new mail in one IMAP folder, polled by UID, as ``email.received`` events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeAlias

from hub.connector import Page, PollContext, PollingSource
from hub.errors import ConfigError, ParseError
from hub.events import Event, parse_time
from hub.schemas import SchemaViolation

from .client import FetchedMessage, FolderState, ImapSession
from .config import ImapConfig
from .mime import parse_email

__all__ = ["EVENT_TYPE", "Cursor", "ImapMailbox", "email_event", "idempotency_key"]

Cursor: TypeAlias = dict[str, Any]

EVENT_TYPE = "email.received"


def idempotency_key(mailbox: str, message_id: str) -> str:
    """``email.received:<mailbox>:<Message-ID>``: the same mail is one event, whatever its UID."""
    return f"{EVENT_TYPE}:{mailbox}:{message_id}"


def email_event(
    raw: bytes,
    *,
    mailbox: str,
    uid: int | None = None,
    received: datetime | None = None,
    max_body_chars: int = 200_000,
    oversized: int | None = None,
    now: datetime | None = None,
    extra_raw: dict[str, Any] | None = None,
) -> Event:
    """The ``email.received`` event of one raw message (pure).

    ``time`` is the server's arrival time (INTERNALDATE) when known, else the
    Date header, else ``now``. ``raw`` on the event is a small dict of IMAP
    facts (uid, uidvalidity, folder, size, internaldate), not the message.

    Raises:
        ParseError: the message cannot be read (see ``mime.parse_email``).
    """
    data = parse_email(
        raw, mailbox=mailbox, uid=uid, max_body_chars=max_body_chars, oversized=oversized
    )
    when = received
    if when is None and data["date"]:
        when = parse_time(data["date"])
    return Event.create(
        type=EVENT_TYPE,
        subject=data["message_id"],
        idempotency_key=idempotency_key(mailbox, data["message_id"]),
        time=when or now,
        data=data,
        raw={
            "uid": uid,
            "size": oversized if oversized is not None else len(raw),
            "internaldate": received.isoformat() if received else None,
            **(extra_raw or {}),
        },
    )


@dataclass(slots=True)
class _Scan:
    """Which UIDs this poll takes, and how far the folder has been looked at."""

    batch: list[int] = field(default_factory=list)
    scanned_to: int = 0  # every UID <= this is in batch or needs no event
    more: bool = False


class ImapMailbox(PollingSource[ImapConfig, Cursor]):
    """New mail in one folder, oldest first, ``page_size`` messages per poll.

    **Cursor** (JSON)::

        {"uidvalidity": 1795323003, "last_uid": 4211}

    - ``last_uid``: every UID up to it has been turned into events (or needs
      none: expunged, or a gap). A poll searches ``UID SEARCH UID a:b`` in
      windows of ``search_window`` UIDs between ``last_uid + 1`` and
      ``UIDNEXT - 1`` (never ``*``: it may name an older message, and one
      search over a huge folder overflows imaplib's line limit), takes the
      first ``page_size`` UIDs found and fetches them with ``BODY.PEEK[]`` in
      chunks of about ``fetch_budget`` bytes; ``more`` is true while UIDs wait.
    - ``None`` (first poll): everything in the folder, page by page
      (``import_existing``), or nothing but the current position.
    - If ``UIDNEXT`` shows nothing new, no search runs and the cursor is kept.
    - **UIDVALIDITY change** (the folder was recreated or restored, and every
      stored UID is void): logged as a warning and recorded in the cursor::

            {"uidvalidity": 1795329999, "last_uid": 0,
             "uidvalidity_changed_from": 1795323003,
             "uidvalidity_changed_at": "2026-11-22T05:01:00+00:00"}

      then the folder is re-scanned from UID 1. Mail already seen does not
      come back as new events: idempotency keys are built from the Message-ID
      (``email.received:<mailbox>:<Message-ID>``, or the sha256 of the raw
      bytes when it is missing), not the UID, so the store drops the repeats.
      The two ``uidvalidity_changed_…`` keys stay in the cursor until the next
      change, for ``hub connections list`` and whoever investigates.

    The folder is opened with ``EXAMINE`` (read-only) unless ``mark_seen`` is
    set; then it is ``SELECT``-ed and the fetched UIDs get ``\\Seen`` after the
    fetch (before the hub has stored the events: a crash in between leaves
    them seen but not lost, as the cursor has not moved).

    A message that cannot be parsed (``ParseError``) is logged with its UID
    and skipped; the cursor moves past it. Messages over
    ``max_message_bytes`` are fetched headers only (see ``mime``).
    """

    name = "imap.mailbox"
    emits = (EVENT_TYPE,)
    interval = timedelta(minutes=1)

    #: UIDs per ``UID SEARCH`` window, and windows per poll at most.
    search_window: ClassVar[int] = 2000
    max_windows: ClassVar[int] = 50
    #: About this many bytes of ``BODY[]`` per ``UID FETCH`` (at least one message).
    fetch_budget: ClassVar[int] = 32 * 1024 * 1024

    async def poll(self, cursor: Cursor | None, ctx: PollContext) -> Page[Cursor]:
        """One page of new mail; see the class docstring for the cursor contract.

        Raises:
            ConfigError: a cursor this source did not write.
            AuthError: the login is rejected.
            TransientError: the server is unreachable, times out or drops the connection.
            PermanentError: the folder does not exist, or the server refuses a command.
        """
        validity, last_uid, extra = self._read(cursor)
        return await asyncio.to_thread(self._poll, cursor, validity, last_uid, extra, ctx)

    # -------------------------------------------------------------- worker thread

    def _poll(
        self,
        cursor: Cursor | None,
        validity: int | None,
        last_uid: int,
        extra: Cursor,
        ctx: PollContext,
    ) -> Page[Cursor]:
        cfg = self.config
        events: list[Event] = []
        with ImapSession(cfg) as session:
            folder = session.open_folder(cfg.folder, readonly=not cfg.mark_seen)
            if validity is not None and folder.uidvalidity != validity:
                ctx.log.warning(
                    "%s %s: UIDVALIDITY of %r changed from %d to %d: every stored UID is "
                    "void; re-scanning the folder (Message-ID keys drop mail already seen)",
                    self.name,
                    self.connection,
                    cfg.folder,
                    validity,
                    folder.uidvalidity,
                )
                last_uid = 0
                extra = {
                    "uidvalidity_changed_from": validity,
                    "uidvalidity_changed_at": ctx.now.isoformat(),
                }
            elif cursor is None and not cfg.import_existing:
                last_uid = self._current_top(session, folder)
            scan = self._scan(session, folder, last_uid)
            if scan.batch:
                events = self._events(session, folder, scan.batch, ctx)
                if cfg.mark_seen:
                    session.mark_seen(scan.batch)

        new_cursor: Cursor = {
            "uidvalidity": folder.uidvalidity,
            "last_uid": scan.scanned_to,
            **extra,
        }
        if new_cursor == cursor and not events:
            return Page(events=[], cursor=cursor, more=False)  # the very same object
        return Page(events=events, cursor=new_cursor, more=scan.more)

    def _scan(self, session: ImapSession, folder: FolderState, last_uid: int) -> _Scan:
        """The next ``page_size`` UIDs after ``last_uid``, searched in bounded UID windows.

        Searching ``<last_uid+1>:*`` at once would answer with every UID of a
        large folder on one line (imaplib refuses lines over 1 MB). Windows end
        at ``UIDNEXT - 1``: no message can later appear below ``UIDNEXT``, so an
        empty window is passed for good.
        """
        size = self.config.page_size
        if folder.uidnext is None:  # the server did not say: one unbounded search
            uids = session.uids_after(last_uid)
            batch = uids[:size]
            return _Scan(batch, batch[-1] if batch else last_uid, len(uids) > size)
        top = folder.uidnext - 1
        found: list[int] = []
        low = last_uid + 1
        for _ in range(self.max_windows):
            if low > top or len(found) > size:
                break
            high = min(low + self.search_window - 1, top)
            found.extend(session.uids_between(low, high))
            low = high + 1
        if len(found) > size:
            return _Scan(found[:size], found[size - 1], more=True)
        # A UID that vanished between SEARCH and FETCH (expunged) is simply
        # skipped: the cursor still moves past everything scanned.
        return _Scan(found, low - 1, more=low <= top)

    def _events(
        self, session: ImapSession, folder: FolderState, batch: list[int], ctx: PollContext
    ) -> list[Event]:
        """Fetch ``batch`` in chunks of about ``fetch_budget`` bytes and parse each chunk."""
        cfg = self.config
        meta = session.metadata(batch)
        events: list[Event] = []
        chunk: list[int] = []
        budget = 0

        def flush() -> None:
            nonlocal budget
            bodies = session.bodies(chunk)
            for uid in chunk:
                got, info = bodies.get(uid), meta[uid]
                if got is not None and got.body is not None:
                    events.extend(self._event(uid, got.body, info, None, folder, ctx))
            chunk.clear()
            budget = 0

        for uid in batch:
            info = meta.get(uid)
            if info is None:
                continue  # expunged meanwhile
            if info.size is not None and info.size > cfg.max_message_bytes:
                heads = session.bodies([uid], headers_only=True)
                head = heads.get(uid)
                if head is not None and head.body is not None:
                    events.extend(self._event(uid, head.body, info, info.size, folder, ctx))
                continue
            if chunk and budget + (info.size or 0) > self.fetch_budget:
                flush()
            chunk.append(uid)
            budget += info.size or 0
        if chunk:
            flush()
        events.sort(key=lambda e: e.data["uid"])
        return events

    def _current_top(self, session: ImapSession, folder: FolderState) -> int:
        if folder.uidnext is not None:
            return folder.uidnext - 1
        uids = session.uids_after(0)
        return uids[-1] if uids else 0

    def _event(
        self,
        uid: int,
        body: bytes,
        info: FetchedMessage,
        oversized: int | None,
        folder: FolderState,
        ctx: PollContext,
    ) -> list[Event]:
        cfg = self.config
        try:
            return [
                email_event(
                    body,
                    mailbox=cfg.mailbox,
                    uid=uid,
                    received=info.internaldate,
                    max_body_chars=cfg.max_body_chars,
                    oversized=oversized,
                    now=ctx.now,
                    extra_raw={"uidvalidity": folder.uidvalidity, "folder": cfg.folder},
                )
            ]
        except (ParseError, SchemaViolation) as exc:
            # One unreadable message must not stall the mailbox for good.
            ctx.log.warning(
                "%s %s: skipped UID %d in %r: %s", self.name, self.connection, uid, cfg.folder, exc
            )
            return []

    # ------------------------------------------------------------------- cursor

    def _read(self, cursor: Cursor | None) -> tuple[int | None, int, Cursor]:
        if cursor is None:
            return None, 0, {}
        validity, last_uid = (
            (cursor.get("uidvalidity"), cursor.get("last_uid"))
            if isinstance(cursor, dict)
            else (None, None)
        )
        if (
            not isinstance(validity, int)
            or not isinstance(last_uid, int)
            or isinstance(validity, bool)
            or isinstance(last_uid, bool)
            or last_uid < 0
        ):
            raise ConfigError(
                f"{self.name} cursor {cursor!r:.120} is not one this source wrote: "
                "reset the connection's cursor"
            )
        extra = {k: v for k, v in cursor.items() if k.startswith("uidvalidity_changed_")}
        return validity, last_uid, extra
