"""IMAP access for the poller: one short session (login, examine, search, fetch, logout).

Library: the standard library's ``imaplib`` (PSF licence), driven from a worker
thread (``asyncio.to_thread``) by the source. Why:

- no new dependency, and each poll is a handful of round trips, so a blocking
  client in a thread costs nothing worth an asyncio client;
- ``IMAPClient`` (BSD) would parse responses for us, but that parsing is the
  ~60 lines below (UIDs, sizes, dates, one literal per message) and it would
  be a new runtime dependency of the hub;
- ``aioimaplib`` is ruled out: its PyPI metadata (2.0.3) says
  ``License-Expression: GPL-3.0-only``, which the Apache-2.0 hub cannot ship.

IDLE (RFC 2177) is **not implemented**: ``imaplib`` gains ``idle()`` only in
Python 3.14 and the hub's ``PollingSource`` is poll-shaped (cursor in, page
out). New mail is seen on the next poll (``ImapMailbox.interval``), and an
idle poll costs one ``EXAMINE`` (the ``UIDNEXT`` check skips the search).

Every failure leaves as a hub error (``hub.errors``), by consequence:

- network trouble (refused, reset, timeout, ``* BYE``), ``[UNAVAILABLE]`` →
  ``TransientError``;
- a rejected login → ``AuthError``; an untrusted TLS certificate →
  ``PermanentError``; a folder that does not exist, or any other ``NO``/``BAD``
  → ``PermanentError``.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, Final

from hub.errors import AuthError, ConnectorError, PermanentError, TransientError

from .config import ImapConfig

__all__ = ["FetchedMessage", "FolderState", "ImapSession", "uid_set"]

_MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_INTERNALDATE = re.compile(
    rb'INTERNALDATE "\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"'
)
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_MESSAGE_START = re.compile(rb"^\d+ \(")
_CODE = re.compile(rb"\[([A-Z-]+)")


@dataclass(frozen=True, slots=True)
class FolderState:
    """What ``EXAMINE``/``SELECT`` told about the folder."""

    uidvalidity: int
    uidnext: int | None
    exists: int


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """One message's fetch result: the requested section's bytes and its metadata."""

    uid: int
    size: int | None
    internaldate: datetime | None
    body: bytes | None


def uid_set(uids: Sequence[int]) -> str:
    """``[1, 2, 3, 7, 9, 10]`` → ``"1:3,7,9:10"`` (an IMAP sequence set of UIDs)."""
    parts: list[str] = []
    ordered = sorted(set(uids))
    start = prev = ordered[0] if ordered else 0
    for uid in ordered[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        parts.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = uid
    if ordered:
        parts.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(parts)


class ImapSession:
    """A logged-in connection to one account (use as a context manager; blocking)."""

    def __init__(self, config: ImapConfig) -> None:
        self.config = config
        self._imap: imaplib.IMAP4 | None = None
        self._where = f"IMAP {config.host}:{config.server_port}"

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> ImapSession:
        cfg = self.config
        with self._errors("connect"):
            if cfg.security == "ssl":
                self._imap = imaplib.IMAP4_SSL(
                    cfg.host,
                    cfg.server_port,
                    ssl_context=ssl.create_default_context(),
                    timeout=cfg.timeout,
                )
            else:
                self._imap = imaplib.IMAP4(cfg.host, cfg.server_port, timeout=cfg.timeout)
                if cfg.security == "starttls":
                    self._imap.starttls(ssl.create_default_context())
        try:
            with self._errors("login", login=True):
                # imaplib quotes the password but sends the user name as-is.
                self.imap.login(_quoted(cfg.username), cfg.password.reveal())
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._imap is not None and exc is None:
            with suppress(imaplib.IMAP4.error, OSError):
                # The work is done; a failed goodbye changes nothing.
                self._imap.logout()
        self._close()

    @property
    def imap(self) -> imaplib.IMAP4:
        if self._imap is None:
            raise RuntimeError("ImapSession used outside its `with` block")
        return self._imap

    def _close(self) -> None:
        if self._imap is not None:
            with suppress(OSError):
                self._imap.shutdown()
            self._imap = None

    # ----------------------------------------------------------------- commands

    def open_folder(self, folder: str, readonly: bool) -> FolderState:
        """``EXAMINE`` (read-only) or ``SELECT`` the folder; its UIDVALIDITY and UIDNEXT."""
        with self._errors(f"select {folder!r}"):
            typ, data = self.imap.select(_quote(folder), readonly=readonly)
            if typ != "OK":
                said = _said(data)
                raise PermanentError(
                    f"{self._where}: cannot open folder {folder!r} ({said}); check `folder` "
                    "(names are case-sensitive except INBOX; non-ASCII names in modified UTF-7)",
                    detail=said,
                )
            validity = _first_int(self.imap.response("UIDVALIDITY")[1])
            uidnext = _first_int(self.imap.response("UIDNEXT")[1])
            exists = int(data[0]) if data and data[0] and bytes(data[0]).isdigit() else 0
        if validity is None:
            raise PermanentError(
                f"{self._where}: the server sent no UIDVALIDITY for {folder!r}; "
                "UID-based polling is impossible on this server"
            )
        return FolderState(uidvalidity=validity, uidnext=uidnext, exists=exists)

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than ``last_uid``, ascending (``*`` may return the last, smaller, UID)."""
        with self._errors("UID SEARCH"):
            typ, data = self.imap.uid("SEARCH", "UID", f"{last_uid + 1}:*")
            self._check(typ, data, "UID SEARCH")
        return [uid for uid in _numbers(data) if uid > last_uid]

    def uids_between(self, low: int, high: int) -> list[int]:
        """UIDs in ``low..high``, ascending (both ends are real numbers, never ``*``)."""
        with self._errors("UID SEARCH"):
            typ, data = self.imap.uid("SEARCH", "UID", f"{low}:{high}")
            self._check(typ, data, "UID SEARCH")
        return [uid for uid in _numbers(data) if low <= uid <= high]

    def metadata(self, uids: Sequence[int]) -> dict[int, FetchedMessage]:
        """Size and INTERNALDATE of each message (no body)."""
        return self._fetch(uids, "(UID RFC822.SIZE INTERNALDATE)")

    def bodies(self, uids: Sequence[int], headers_only: bool = False) -> dict[int, FetchedMessage]:
        """``BODY.PEEK[]`` (or ``BODY.PEEK[HEADER]``) of each message; never sets ``\\Seen``."""
        section = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
        return self._fetch(uids, f"(UID {section})")

    def mark_seen(self, uids: Sequence[int]) -> None:
        """Add ``\\Seen`` to the messages (the folder must be opened read-write)."""
        if not uids:
            return
        with self._errors("UID STORE"):
            typ, data = self.imap.uid("STORE", uid_set(uids), "+FLAGS.SILENT", r"(\Seen)")
            self._check(typ, data, "UID STORE")

    # ---------------------------------------------------------------- internals

    def _fetch(self, uids: Sequence[int], items: str) -> dict[int, FetchedMessage]:
        if not uids:
            return {}
        with self._errors("UID FETCH"):
            typ, data = self.imap.uid("FETCH", uid_set(uids), items)
            self._check(typ, data, "UID FETCH")
        wanted = set(uids)
        return {m.uid: m for m in parse_fetch(data) if m.uid in wanted}

    def _check(self, typ: str, data: list[Any], what: str) -> None:
        if typ != "OK":
            said = _said(data)
            raise PermanentError(f"{self._where}: {what} failed: {said}", detail=said)

    @contextmanager
    def _errors(self, what: str, login: bool = False) -> Iterator[None]:
        """Map imaplib and socket failures to hub errors, by consequence."""
        try:
            yield
        except ConnectorError:
            raise
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(
                f"{self._where}: TLS certificate rejected during {what} ({exc.verify_message}); "
                "check `host` (it must match the certificate)"
            ) from exc
        except imaplib.IMAP4.abort as exc:  # * BYE, broken connection: a subclass of error
            raise TransientError(f"{self._where}: connection lost during {what}: {exc}") from exc
        except imaplib.IMAP4.error as exc:
            text = str(exc)
            code = _CODE.search(text.encode("utf-8", "replace"))
            if code and code.group(1) in (b"UNAVAILABLE", b"INUSE", b"LIMIT", b"SERVERBUG"):
                raise TransientError(
                    f"{self._where}: {what} refused for now: {text[:200]}"
                ) from exc
            if login:
                raise AuthError(
                    f"{self._where}: login rejected for {self.config.username!r} "
                    f"({text[:200]}); check `username` and `password` (Gmail and Microsoft "
                    "365 need an app password or OAuth2)"
                ) from exc
            raise PermanentError(f"{self._where}: {what} failed: {text[:200]}") from exc
        except (TimeoutError, OSError) as exc:
            raise TransientError(
                f"{self._where}: {what} failed: {type(exc).__name__}: {exc}"
            ) from exc


def parse_fetch(data: Sequence[Any]) -> list[FetchedMessage]:
    """imaplib's FETCH answer (``(head, literal)`` tuples and ``bytes``) → one item per message.

    Items outside the request (an unsolicited ``* n FETCH (FLAGS …)`` from
    another session) carry no ``UID`` and are dropped by the caller.
    """
    messages: list[tuple[bytearray, list[bytes]]] = []
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            head, literal = bytes(item[0]), bytes(item[1])
            if _MESSAGE_START.match(head) or not messages:
                messages.append((bytearray(head), [literal]))
            else:  # a further literal of the same message
                messages[-1][0].extend(head)
                messages[-1][1].append(literal)
        elif isinstance(item, bytes):
            if _MESSAGE_START.match(item) or not messages:
                messages.append((bytearray(item), []))
            else:  # the tail after a literal: " UID 7)" or ")"
                messages[-1][0].extend(item)
    out: list[FetchedMessage] = []
    for text, literals in messages:
        uid = _UID.search(text)
        if uid is None:
            continue
        size = _SIZE.search(text)
        out.append(
            FetchedMessage(
                uid=int(uid.group(1)),
                size=int(size.group(1)) if size else None,
                internaldate=_internaldate(bytes(text)),
                body=literals[0] if literals else None,
            )
        )
    return out


def _internaldate(text: bytes) -> datetime | None:
    match = _INTERNALDATE.search(text)
    if match is None:
        return None
    day, month, year, hh, mm, ss, sign, oh, om = match.groups()
    month_no = _MONTHS.get(month.decode("ascii").title())
    if month_no is None:
        return None
    offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == b"-" else 1)
    try:
        return datetime(
            int(year), month_no, int(day), int(hh), int(mm), int(ss), tzinfo=timezone(offset)
        )
    except ValueError:
        return None


def _numbers(data: Sequence[Any]) -> list[int]:
    """The sorted, distinct numbers of a ``SEARCH`` answer."""
    found: set[int] = set()
    for chunk in data:
        if isinstance(chunk, bytes):
            found.update(int(tok) for tok in chunk.split() if tok.isdigit())
    return sorted(found)


def _first_int(values: list[Any] | None) -> int | None:
    for value in values or ():
        if isinstance(value, bytes) and value.strip().isdigit():
            return int(value.strip())
    return None


def _said(data: list[Any]) -> str:
    parts = [d.decode("utf-8", "replace") for d in data if isinstance(d, bytes)]
    return " ".join(parts)[:200] or "no reason given"


def _quote(folder: str) -> str:
    """A folder name as an IMAP quoted string (imaplib sends mailbox names as-is)."""
    if folder.upper() == "INBOX":
        return "INBOX"
    return _quoted(folder)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
