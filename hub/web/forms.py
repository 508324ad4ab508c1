"""Query strings and form posts turned into store filters and connection settings.

Each parser returns what it understood plus the problems, keyed by field, so
a page can show the form again with every error next to its field instead of
failing on the first one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from hub.ops import ConnectionForm
from hub.store import DeliveryFilter, EventFilter, StepStatus
from hub.timeparse import parse_when

__all__ = [
    "DELIVERY_STATUSES",
    "Parsed",
    "connection_values",
    "delivery_filter",
    "event_filter",
    "field_errors",
    "filter_query",
]

DELIVERY_STATUSES: tuple[tuple[str, str], ...] = (
    ("", "any status"),
    ("dead", "dead letters"),
    ("pending", "pending"),
    ("succeeded", "succeeded"),
    ("skipped", "skipped"),
    ("cancelled", "cancelled"),
)
PAGE_SIZES = (25, 50, 100, 200)


@dataclass
class Parsed:
    """A filter, the form's values as typed (to show them again) and per-field problems."""

    filter: Any
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def narrowed(self) -> bool:
        """True when a condition is set (page size and position are not conditions)."""
        return any(v for k, v in self.values.items() if k not in ("limit", "before"))


def _text(query: Mapping[str, Any], name: str) -> str:
    value = query.get(name)
    return value.strip() if isinstance(value, str) else ""


def _when(values: dict[str, str], errors: dict[str, str], name: str) -> datetime | None:
    text = values.get(name, "")
    if not text:
        return None
    try:
        return parse_when(text)
    except ValueError as exc:
        errors[name] = str(exc)
        return None


def _limit(values: dict[str, str], errors: dict[str, str]) -> int:
    text = values.get("limit", "")
    if not text:
        return 50
    if not text.isdigit() or int(text) not in PAGE_SIZES:
        errors["limit"] = f"page size must be one of {', '.join(map(str, PAGE_SIZES))}"
        return 50
    return int(text)


def delivery_filter(query: Mapping[str, Any]) -> Parsed:
    """``?status=&connection=&recipe=&event_type=&subject=&since=&until=&limit=&before=``."""
    names = (
        "status",
        "connection",
        "recipe",
        "event_type",
        "subject",
        "since",
        "until",
        "limit",
        "before",
    )
    values = {n: _text(query, n) for n in names}
    errors: dict[str, str] = {}
    status = values["status"] or None
    if status is not None and status not in {s for s, _ in DELIVERY_STATUSES}:
        errors["status"] = f"unknown status {status!r}"
        status = None
    flt = DeliveryFilter(
        status=cast(StepStatus | None, status),
        connection=values["connection"] or None,
        recipe=values["recipe"] or None,
        since=_when(values, errors, "since"),
        until=_when(values, errors, "until"),
        limit=_limit(values, errors),
        before=values["before"] or None,
        event_type=values["event_type"] or None,
        subject=values["subject"] or None,
    )
    return Parsed(flt, values, errors)


def event_filter(query: Mapping[str, Any]) -> Parsed:
    """``?type=&connection=&subject=&since=&until=&limit=&before=``."""
    names = ("type", "connection", "subject", "since", "until", "limit", "before")
    values = {n: _text(query, n) for n in names}
    errors: dict[str, str] = {}
    flt = EventFilter(
        type=values["type"] or None,
        connection=values["connection"] or None,
        subject=values["subject"] or None,
        since=_when(values, errors, "since"),
        until=_when(values, errors, "until"),
        limit=_limit(values, errors),
        before=values["before"] or None,
    )
    return Parsed(flt, values, errors)


def without_page(flt: DeliveryFilter) -> DeliveryFilter:
    """The same selection from its first row (bulk replay takes all of it, not one page)."""
    return replace(flt, before=None)


def filter_query(values: Mapping[str, str], **changes: str | None) -> str:
    """The query string of ``values`` with ``changes`` applied (None or "" removes a key)."""
    from urllib.parse import urlencode

    merged = {k: v for k, v in values.items() if v}
    for key, value in changes.items():
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    return urlencode(merged)


def connection_values(
    form: ConnectionForm, post: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Settings from a connection form post: ``(values, as typed, errors by field)``.

    Empty secrets are left out (the stored secret is kept: secrets are
    write-only); other empty fields are None (back to the connector's
    default); booleans are checkboxes; numbers are checked here so the
    message is about the form, not about JSON.
    """
    values: dict[str, Any] = {}
    typed: dict[str, str] = {}
    errors: dict[str, str] = {}
    for f in form.fields:
        raw = post.get(f.name)
        text = raw.strip() if isinstance(raw, str) else ""
        if f.type != "secret":
            typed[f.name] = text
        if f.type == "boolean":
            values[f.name] = raw is not None and text not in ("", "0", "false", "off")
            typed[f.name] = "on" if values[f.name] else ""
            continue
        if not text:
            if f.type != "secret":
                values[f.name] = None  # cleared: back to the connector's default
            continue
        if f.type == "integer":
            if not re.fullmatch(r"[-+]?\d+", text):
                errors[f.name] = "must be a whole number"
                continue
            values[f.name] = int(text)
        elif f.type == "number":
            try:
                values[f.name] = float(text)
            except ValueError:
                errors[f.name] = "must be a number"
        elif f.type == "enum" and f.choices is not None and text not in f.choices:
            errors[f.name] = f"must be one of {', '.join(f.choices)}"
        else:
            values[f.name] = raw if f.type == "secret" else text
    return values, typed, errors


_PROBLEM = re.compile(
    r"^\s*(?:connections\.[^.]+\.)?(?:config\.)?(?P<field>[A-Za-z_][\w]*)[\w.\[\]]*:\s*(?P<msg>.+)$"
)


def field_errors(message: str, fields: set[str]) -> tuple[dict[str, str], list[str]]:
    """Split a ``ConfigError`` message into problems of known fields and the rest."""
    by_field: dict[str, str] = {}
    rest: list[str] = []
    for line in message.splitlines():
        if not line.strip():
            continue
        match = _PROBLEM.match(line)
        if match is not None and match.group("field") in fields:
            name = match.group("field")
            by_field[name] = (
                f"{by_field[name]}; {match.group('msg')}"
                if name in by_field
                else match.group("msg")
            )
        elif not line.rstrip().endswith(":"):
            rest.append(line.strip())
    return by_field, rest
