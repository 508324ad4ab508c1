"""Logging: text or one JSON object per line, carrying event/run/step ids, never secrets or bodies.

The ids come from context variables that the ingress (``connection``,
``event_id``) and the runner (``run_id``, ``step_id``, ``event_id``,
``connection``) set around their work (``log_context``), so any log line
written underneath, in any module, carries them without passing them along.

Every record passes ``HubLogFilter`` on its way to the handler, which

- adds those ids to the record;
- rewrites the message (and any traceback) through ``Redactor``: the values of
  every configured ``Secret`` (registered at start, ``register_secrets``),
  credentials after ``Bearer``/``Zoho-oauthtoken``, ``password=``-style pairs and
  passwords in URLs become ``***``;
- clips very long messages, so a body that slipped into an exception message
  cannot flood the log.

The hub's own code logs ids and error messages, never payloads; the filter
is the second line of defence.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Literal

from pydantic import BaseModel

from hub.secrets import Secret

__all__ = [
    "CONTEXT_FIELDS",
    "HubLogFilter",
    "JsonFormatter",
    "Redactor",
    "TextFormatter",
    "bind_log_ids",
    "collect_secrets",
    "log_context",
    "redactor",
    "register_secrets",
    "setup_logging",
]

LogFormat = Literal["text", "json"]
CONTEXT_FIELDS = ("connection", "event_id", "run_id", "step_id")
_EXTRA_FIELDS = ("action", "attempt", "outcome", "rule", "channel")
MAX_MESSAGE = 4000
REDACTED = "***"
MIN_SECRET = 6  # shorter values would blank out ordinary words

_vars: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"hub_log_{name}", default=None) for name in CONTEXT_FIELDS
}

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values: Bearer, Basic, Zoho's own scheme.
    (re.compile(r"(?i)\b(bearer|basic|zoho-oauthtoken)(\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1\2***"),
    # key=value / "key": "value" pairs whose key names a credential.
    (
        re.compile(
            r"(?i)([\"']?\b(?:[a-z_]*_)?(?:password|passwd|secret|token|api[_-]?key|"
            r"authorization|signature)[\"']?\s*[:=]\s*[\"']?)([^\"'\s&,;}]{3,})"
        ),
        r"\1***",
    ),
    # user:password@ in URLs.
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)"), r"\1***\3"),
)


class Redactor:
    """Replaces known secret values and credential-looking text with ``***``."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str]) -> None:
        """Also hide these exact values (too-short ones are ignored)."""
        fresh = {v for v in values if v and len(v) >= MIN_SECRET} - self._values
        if not fresh:
            return
        self._values |= fresh
        ordered = sorted(self._values, key=len, reverse=True)  # longest first: no partial leaks
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def clear(self) -> None:
        self._values.clear()
        self._pattern = None

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


redactor = Redactor()
"""The process's redactor: logging is process-wide, so the secrets it knows are too."""


def collect_secrets(value: Any) -> list[str]:
    """Every ``Secret``'s plain value inside a config (models, dicts, lists), for ``register_secrets``."""
    found: list[str] = []
    if isinstance(value, Secret):
        found.append(value.reveal())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found += collect_secrets(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            found += collect_secrets(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            found += collect_secrets(item)
    return found


def register_secrets(values: Iterable[str]) -> None:
    """Hide these values in every log line from now on."""
    redactor.add(values)


@contextlib.contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Set the log ids (``connection``, ``event_id``, ``run_id``, ``step_id``) for a block.

    Values of None leave the current value alone. On leaving, every id is put
    back as it was, including ids set inside by ``bind_log_ids``. Context
    variables follow asyncio tasks, so concurrent requests and steps never see
    each other's ids.
    """
    unknown = set(ids) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields {sorted(unknown)}; use {CONTEXT_FIELDS}")
    tokens = [(var, var.set(ids.get(name) or var.get())) for name, var in _vars.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind_log_ids(**ids: str | None) -> None:
    """Set log ids for the rest of the enclosing ``log_context`` block (None: unchanged)."""
    for name, value in ids.items():
        if value is not None and name in _vars:
            _vars[name].set(value)


class HubLogFilter(logging.Filter):
    """Adds the context ids to each record and redacts its text (never drops a record)."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self.redact = redact or redactor

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _vars.items():
            if getattr(record, name, None) is None:
                value = var.get()
                if value is not None:
                    setattr(record, name, value)
        if getattr(record, "_hub_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = f"{record.msg!r} % {record.args!r}"
        message = self.redact(message)
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE] + f"… [{len(message) - MAX_MESSAGE} chars clipped]"
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record._hub_redacted = True
        return True


def _ts(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _ids(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in (*CONTEXT_FIELDS, *_EXTRA_FIELDS):
        value = getattr(record, key, None)
        if value is not None:
            out[key] = value if isinstance(value, int | float | bool) else str(value)
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, the ids, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _ts(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_ids(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``ts LEVEL logger: msg  key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_ts(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        ids = _ids(record)
        if ids:
            line += "  " + " ".join(f"{k}={v}" for k, v in ids.items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def setup_logging(
    level: str = "info", fmt: LogFormat = "text", stream: IO[str] | None = None
) -> logging.Handler:
    """Send logs to ``stream`` (stderr) at ``level``, as text or JSON lines; returns the handler.

    Replaces the root logger's handlers, so calling it twice does not double lines.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(HubLogFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log would print every webhook's path and query: the hub counts them instead.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return handler
