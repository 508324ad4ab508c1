"""Text out of mail bytes: charsets, RFC 2047 encoded words, raw 8-bit headers (pure).

Mailboxes hold whatever any mailer ever sent, so nothing here raises on bad
input: labels are mapped to their usual supersets (iso-8859-1 and us-ascii →
windows-1252 as browsers do, gb2312 → gb18030, shift_jis → cp932,
ks_c_5601-1987 → cp949); unknown or missing labels try UTF-8, then
windows-1252; undecodable bytes become U+FFFD. Encoded words that cannot be
decoded are kept as sent. NUL characters and lone surrogates are removed
(neither survives a JSON store; PostgreSQL rejects NUL).
"""

from __future__ import annotations

import binascii
import codecs
import re
from typing import Final

__all__ = ["clean", "decode_header_text", "decode_text", "decode_words", "unraw"]

#: charset label -> the codec that decodes what mailers actually send under it.
_CHARSET_ALIASES: Final[dict[str, str | None]] = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "big5": "big5hkscs",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "unknown-8bit": None,
    "x-unknown": None,
    "unknown": None,
    "8bit": None,
    "default": None,
    "x-user-defined": None,
}

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def decode_text(payload: bytes, charset: str | None) -> str:
    """Bytes of a text part as ``str`` under its (possibly wrong or missing) charset label."""
    codec = _codec(charset)
    if codec is None or codec == "ascii":
        # No label, an unknown one, or "us-ascii" on 8-bit bytes: mislabelled,
        # and nowadays that is most often UTF-8.
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            codec = "cp1252"
    try:
        return payload.decode(codec, errors="replace")
    except (LookupError, ValueError):  # not a text codec, or one without "replace"
        return payload.decode("cp1252", errors="replace")


def decode_words(value: str) -> str:
    """``value`` with its RFC 2047 encoded words decoded (undecodable ones kept as sent)."""
    out: list[str] = []
    pending_charset: str | None = None
    pending = bytearray()
    pos = 0
    after_word = False

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(decode_text(bytes(pending), pending_charset))
            pending.clear()
            pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        pos = match.end()
        # Whitespace between two encoded words is not part of the text.
        if not (after_word and not between.strip()):
            flush()
            out.append(between)
        charset = match.group(1).split("*", 1)[0].lower()  # RFC 2231 language suffix
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:
            flush()
            out.append(match.group(0))
            after_word = False
            continue
        if pending_charset != charset:
            flush()
            pending_charset = charset
        pending.extend(data)
        after_word = True
    flush()
    out.append(value[pos:])
    return "".join(out)


def decode_header_text(raw: str) -> str:
    """A raw header value (as parsed from bytes) as clean text: unfolded, 8-bit and RFC 2047 decoded."""
    return clean(decode_words(unraw(raw))).strip()


def unraw(value: str) -> str:
    """Unfold a raw header value and turn the parser's surrogate escapes back into text."""
    value = value.replace("\r", "").replace("\n", "")
    if any("\udc80" <= c <= "\udcff" for c in value):
        # Bytes >= 0x80 in a header: RFC 6532 UTF-8, else a legacy 8-bit charset.
        try:
            data = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            data = value.encode("utf-8", "replace")
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            value = data.decode("cp1252", "replace")
    return value


def clean(value: str) -> str:
    """No NUL characters and no lone surrogates (neither survives JSON stores)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    if label in _CHARSET_ALIASES:
        return _CHARSET_ALIASES[label]
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return None


def _word_bytes(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "bB":
            if not _BASE64.fullmatch(text):
                return None
            return binascii.a2b_base64(text + "=" * (-len(text) % 4))
        return binascii.a2b_qp(text.encode("utf-8"), header=True)
    except (binascii.Error, ValueError):
        return None
