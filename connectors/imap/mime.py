"""Raw RFC 5322 / MIME bytes → the ``data`` of an ``email.received`` event (pure, no I/O).

The message is parsed with the standard library (``email`` with
``policy.default``) for its structure; headers, bodies and names are then
decoded here, defensively, because mailboxes hold whatever any mailer ever
sent:

- **Headers**: raw 8-bit bytes (RFC 6532, or legacy mailers) are read as UTF-8,
  else windows-1252; RFC 2047 encoded words (``=?UTF-8?B?…?=``, ``=?iso-8859-1?Q?…?=``)
  are decoded here, adjacent words of one charset joined before decoding (some
  mailers split a multi-byte character across two words). Address headers are
  split into mailboxes *before* names are decoded, so an encoded comma in a
  name (``=?utf-8?q?Rao=2C_Ananya?=``) does not split it in two.
- **Charsets** (``decoding``): labels are mapped to their usual supersets
  (iso-8859-1 → windows-1252, gb2312 → gb18030, shift_jis → cp932, …);
  unknown or missing labels try UTF-8, then windows-1252. Undecodable bytes
  become U+FFFD, never an exception; NUL characters are dropped.
- **Bodies**: the first ``text/plain`` and the first ``text/html`` part that is
  neither ``Content-Disposition: attachment`` nor named (a filename makes it a
  file) are ``text`` and ``html``; a message with HTML only has ``text`` null
  (no HTML-to-text conversion). Line ends become ``\\n``. Bodies longer than
  ``max_body_chars`` are cut and flagged in ``headers["x-hub-truncated"]``.
- **Attachments**: every other leaf part, inline images of
  ``multipart/related`` included, becomes metadata only
  ``{filename, content_type, size, sha256}`` over the decoded bytes; the
  content itself is never put in the event. ``message/*`` parts (forwarded
  ``message/rfc822`` mail, delivery reports) are one attachment each, their
  bytes being the embedded message; their own parts are not walked.
  ``filename`` is the name as sent (RFC 2231 ``filename*=``, an RFC 2047 word
  in ``filename=``, or the legacy ``Content-Type; name=``), ``""`` when the
  part has none.
- **Ids**: ``message_id``, ``in_reply_to``, ``references`` and ``thread_key``
  keep the wire form ``<left@right>`` (folding whitespace removed, brackets
  added when a mailer left them out). Case is kept: ids are opaque and mailers
  copy them verbatim into replies, so any rewriting would only risk a
  mismatch. A message without a Message-ID gets ``<sha256-of-raw@sha256.invalid>``.
- **thread_key**: the first id of References (the thread's root), else the
  first of In-Reply-To, else the message's own id, so a reply and its
  original share it.
- **Addresses**: ``{name, address}``; entries without an ``@`` (groups such as
  ``undisclosed-recipients:;``) are dropped. A sender that cannot be read
  (no From, Sender or Return-Path with an address) is
  ``{"name": <the From text or null>, "address": "unknown@invalid"}``.
- **Oversized** messages (fetched headers only by the source) have ``text``
  and ``html`` null, no attachments and ``headers["x-hub-oversized"]`` = size.

The ``x-hub-…`` names in ``headers`` are the hub's own flags, never copied
from the message. The stdlib parser never rejects input, but some header
and part accessors raise on hostile input; those are caught per field (the
field falls back), and :func:`parse_email` raises only :class:`ParseError`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from datetime import UTC, timedelta
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any, Final, TypeVar

from hub.errors import ParseError

from .decoding import clean, decode_header_text, decode_text, decode_words, unraw

__all__ = ["KEPT_HEADERS", "message_ids", "parse_email", "synthesized_id"]

T = TypeVar("T")

#: Extra headers copied into ``data.headers`` when present: enough for a recipe
#: to recognize auto-replies, bounces and list mail (RFC 3834 loop guards).
KEPT_HEADERS: Final[tuple[str, ...]] = (
    "auto-submitted",
    "precedence",
    "list-id",
    "return-path",
    "x-autoreply",
    "x-auto-response-suppress",
    "x-mailer",
    "user-agent",
)

UNKNOWN_SENDER: Final = "unknown@invalid"
MAX_HEADER_CHARS: Final = 998  # RFC 5322 line limit; a longer value is abuse
MAX_SUBJECT_CHARS: Final = 2000
MAX_REFERENCES: Final = 100
MAX_DEPTH: Final = 64
MAX_ADDRESS: Final = 320

_SERIALIZE = policy.default.clone(linesep="\r\n")

_MSG_ID = re.compile(r"<([^<>]*)>")
_WHITESPACE = re.compile(r"\s+")


# ----------------------------------------------------------------------- public


def parse_email(
    raw: bytes,
    *,
    mailbox: str,
    uid: int | None = None,
    max_body_chars: int = 200_000,
    oversized: int | None = None,
) -> dict[str, Any]:
    """The ``email.received`` data (``hub/schemas/email.json``) of one raw message.

    Args:
        raw: the message as the server stores it (``BODY[]``), or only its
            header when ``oversized`` is set.
        mailbox: the configured mailbox name, copied into ``data.mailbox``.
        uid: the IMAP UID, or ``None`` when not from IMAP.
        max_body_chars: ``text`` and ``html`` are cut to this many characters.
        oversized: the full size when only the header was fetched.

    Raises:
        ParseError: ``raw`` is empty, or the parser failed in a way this module
            does not recover from (the message is then skipped, not retried).
    """
    if not raw.strip():
        raise ParseError("the message is empty (no header, no body)")
    try:
        return _parse(raw, mailbox, uid, max_body_chars, oversized)
    except RecursionError as exc:
        raise ParseError("the message nests MIME parts too deeply to parse") from exc
    except Exception as exc:
        # The stdlib email package has crash bugs on hostile input; one bad
        # message must become a clean, skippable error, not stall the mailbox.
        raise ParseError(
            f"the message cannot be parsed ({type(exc).__name__}: {str(exc)[:120]})"
        ) from exc


def synthesized_id(raw: bytes) -> str:
    """The stable id of a message without a Message-ID: the sha256 of its bytes."""
    return f"<{hashlib.sha256(raw).hexdigest()}@sha256.invalid>"


def message_ids(value: str) -> list[str]:
    """The ``<id>`` tokens of a Message-ID, In-Reply-To or References value, in order.

    Folding whitespace inside an id is removed; bare ``left@right`` tokens get
    brackets when the value has no bracketed id at all.
    """
    found = [f"<{_WHITESPACE.sub('', m)}>" for m in _MSG_ID.findall(value)]
    found = [i for i in found if 2 < len(i) <= MAX_HEADER_CHARS]
    if not found:
        bare = value.replace(",", " ").split()
        found = [f"<{t}>" for t in bare if "@" in t and len(t) < MAX_HEADER_CHARS - 2]
    return found


# ------------------------------------------------------------------- internals


def _parse(
    raw: bytes, mailbox: str, uid: int | None, max_body_chars: int, oversized: int | None
) -> dict[str, Any]:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    headers = _Headers(msg)

    own = message_ids(headers.raw("message-id") or "")
    message_id = own[0] if own else synthesized_id(raw)
    reply_ids = message_ids(headers.raw("in-reply-to") or "")
    in_reply_to = reply_ids[0] if reply_ids else (headers.text("in-reply-to") or None)
    references = message_ids(headers.raw("references") or "")
    if len(references) > MAX_REFERENCES:  # keep the root and the most recent
        references = [references[0], *references[-(MAX_REFERENCES - 1) :]]
    thread_key = references[0] if references else (reply_ids[0] if reply_ids else message_id)

    extra: dict[str, str] = {}
    for name in KEPT_HEADERS:
        value = headers.text(name)
        if value is not None:
            extra[name] = value[:MAX_HEADER_CHARS]

    text: str | None = None
    html: str | None = None
    attachments: list[dict[str, Any]] = []
    if oversized is not None:
        extra["x-hub-oversized"] = str(oversized)
    else:
        text_part, html_part, others = _split_parts(msg)
        truncated: list[str] = []
        if text_part is not None:
            text = _body(text_part)
            if len(text) > max_body_chars:
                text = text[:max_body_chars]
                truncated.append("text")
        if html_part is not None:
            html = _body(html_part)
            if len(html) > max_body_chars:
                html = html[:max_body_chars]
                truncated.append("html")
        if truncated:
            extra["x-hub-truncated"] = ",".join(truncated)
        attachments = [_attachment(part) for part in others]

    return {
        "mailbox": mailbox,
        "uid": uid,
        "message_id": message_id,
        "thread_key": thread_key,
        "in_reply_to": in_reply_to[:MAX_HEADER_CHARS] if in_reply_to else None,
        "references": references,
        "from": _sender(headers),
        "to": _addresses(headers.raw_all("to")),
        "cc": _addresses(headers.raw_all("cc")),
        "reply_to": _addresses(headers.raw_all("reply-to")),
        "subject": (headers.text("subject") or "")[:MAX_SUBJECT_CHARS],
        "date": _date(headers.text("date")),
        "text": text,
        "html": html,
        "attachments": attachments,
        "headers": extra,
    }


class _Headers:
    """Raw header values of one message, by lower-case name (first occurrence wins)."""

    def __init__(self, msg: Message) -> None:
        self._all: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            self._all.setdefault(str(name).lower(), []).append(str(value))

    def raw(self, name: str) -> str | None:
        values = self._all.get(name)
        return unraw(values[0]) if values else None

    def raw_all(self, name: str) -> list[str]:
        return [unraw(v) for v in self._all.get(name, [])]

    def text(self, name: str) -> str | None:
        values = self._all.get(name)
        return decode_header_text(values[0]) if values else None


def _safe(fn: Callable[[], T], fallback: T) -> T:
    """``fn()``, or ``fallback`` when the stdlib accessor chokes on a malformed part."""
    try:
        return fn()
    except Exception:  # noqa: BLE001 - header-registry and payload accessors raise anything
        return fallback


def _addresses(values: Iterable[str]) -> list[dict[str, str | None]]:
    none: list[tuple[str, str]] = []
    pairs = _safe(lambda: getaddresses(list(values)), none)
    out: list[dict[str, str | None]] = []
    for name, address in pairs:
        address = clean(address).strip()
        if "@" not in address or len(address) > MAX_ADDRESS:
            continue
        display = clean(decode_words(name)).strip()
        out.append({"name": display or None, "address": address})
    return out


def _sender(headers: _Headers) -> dict[str, str | None]:
    for name in ("from", "sender", "return-path"):
        found = _addresses(headers.raw_all(name))
        if found:
            return found[0]
    shown = headers.text("from")
    return {"name": shown[:MAX_HEADER_CHARS] if shown else None, "address": UNKNOWN_SENDER}


def _date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": the offset is unknown, the time is UTC
        when = when.replace(tzinfo=UTC)
    offset = when.utcoffset()
    if offset is None or offset % timedelta(minutes=1) or abs(offset) >= timedelta(hours=24):
        when = when.astimezone(UTC)
    if not 1 <= when.year <= 9999:
        return None
    return when.isoformat()


def _split_parts(msg: Message) -> tuple[Message | None, Message | None, list[Message]]:
    """(text body part, html body part, every other leaf) in document order."""
    leaves: list[Message] = []
    _leaves(msg, leaves, 0)
    text_part: Message | None = None
    html_part: Message | None = None
    others: list[Message] = []
    for part in leaves:
        ctype = _safe(part.get_content_type, "application/octet-stream")
        if ctype in ("text/plain", "text/html") and _is_body(part):
            if ctype == "text/plain" and text_part is None:
                text_part = part
                continue
            if ctype == "text/html" and html_part is None:
                html_part = part
                continue
        others.append(part)
    return text_part, html_part, others


def _leaves(part: Message, out: list[Message], depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    maintype = _safe(part.get_content_maintype, "application")
    if maintype == "multipart" and part.is_multipart():
        children = part.get_payload()
        if isinstance(children, list):
            for child in children:
                if isinstance(child, Message):
                    _leaves(child, out, depth + 1)
        return
    out.append(part)  # message/* too: an embedded message is one attachment


def _is_body(part: Message) -> bool:
    disposition = _safe(part.get_content_disposition, None)
    return disposition != "attachment" and _filename(part) == ""


def _filename(part: Message) -> str:
    name = _safe(part.get_filename, None)
    if not isinstance(name, str):
        return ""
    name = unraw(name)
    if "=?" in name:  # an RFC 2047 word inside filename="…": wrong, but common
        name = decode_words(name)
    return clean(name).strip()[:MAX_HEADER_CHARS]


def _payload(part: Message) -> bytes:
    """The decoded bytes of a leaf (transfer encoding undone); an embedded message's bytes."""
    if _safe(part.get_content_maintype, "") == "message" or part.is_multipart():
        whole = _safe(lambda: part.as_bytes(policy=_SERIALIZE), b"")
        for sep in (b"\r\n\r\n", b"\n\n"):
            _head, found, body = whole.partition(sep)
            if found:
                return body
        return b""
    data = _safe(lambda: part.get_payload(decode=True), None)
    return data if isinstance(data, bytes) else b""


def _body(part: Message) -> str:
    charset = _safe(part.get_content_charset, None)
    text = decode_text(_payload(part), charset if isinstance(charset, str) else None)
    return clean(text.replace("\r\n", "\n").replace("\r", "\n"))


def _attachment(part: Message) -> dict[str, Any]:
    data = _payload(part)
    ctype = _safe(part.get_content_type, "application/octet-stream")
    return {
        "filename": _filename(part),
        "content_type": clean(ctype)[:MAX_HEADER_CHARS],
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
