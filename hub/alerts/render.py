"""A ``Notice`` as people and programs read it: an email (subject, text) and a JSON document.

Pure. What goes in is only what ``Alert`` holds (ids, names, counts, the
vendor's error message), so neither form can carry a payload or a secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.alerts.model import NOUNS, Alert, Notice

__all__ = ["document", "subject", "text"]

_LABELS = (
    ("connection", "connection"),
    ("recipe", "recipe"),
    ("step", "step"),
    ("attempts", "attempts"),
    ("event_type", "event type"),
    ("event_id", "event id"),
    ("subject", "subject"),
    ("status_code", "HTTP status"),
    ("error", "error"),
    ("link", "delivery"),
)


def _noun(rule: str, count: int) -> str:
    one, many = NOUNS.get(rule, ("alert", "alerts"))
    return one if count == 1 else many


def _span(since: datetime, until: datetime) -> str:
    """'10 min', '45 s', '2 h 5 min': how long a digest's period was."""
    seconds = max(0, round((until - since).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def headline(notice: Notice) -> str:
    """One line: the alert's own summary, or '1,000 dead letters on books in the last 10 min'."""
    if not notice.digest and notice.count == 1:
        return notice.first.summary
    return (
        f"{notice.count:,} {_noun(notice.rule, notice.count)} on {notice.key} "
        f"in the last {_span(notice.since, notice.until)}"
    )


def subject(notice: Notice, prefix: str = "[hub]") -> str:
    """The email subject: prefix and headline, on one line."""
    line = f"{prefix} {headline(notice)}".strip()
    return " ".join(line.split())[:250]


def _block(alert: Alert, indent: str = "  ", summary: bool = True) -> list[str]:
    lines = [f"{indent}{alert.summary}"] if summary else []
    lines.append(f"{indent}at: {alert.at.isoformat(timespec='seconds')}")
    for name, label in _LABELS:
        value = getattr(alert, name)
        if value is not None:
            lines.append(f"{indent}{label}: {value}")
    for key, value in sorted(alert.details.items()):
        lines.append(f"{indent}{key}: {value}")
    return lines


def text(notice: Notice) -> str:
    """The email body: the headline, then the first alert's context, then the samples."""
    lines = [headline(notice), ""]
    lines.append(f"rule: {notice.rule}")
    if notice.digest:
        lines.append(
            f"period: {notice.since.isoformat(timespec='seconds')} to "
            f"{notice.until.isoformat(timespec='seconds')}"
        )
        lines += ["", "first:", *_block(notice.first)]
        if notice.samples:
            lines += ["", f"samples ({len(notice.samples)} of {notice.count - 1:,} more):"]
            for sample in notice.samples:
                lines += [*_block(sample), ""]
    else:
        lines += _block(notice.first, indent="", summary=False)
    lines += [
        "",
        "Alerts of the same rule and connection are held back for the rest of the window "
        "and sent as one digest at its end.",
    ]
    return "\n".join(lines).rstrip() + "\n"


def document(notice: Notice) -> dict[str, Any]:
    """The webhook body: everything in the email, as fields."""
    return {
        "type": "hub.alert",
        "rule": notice.rule,
        "key": notice.key,
        "summary": headline(notice),
        "count": notice.count,
        "digest": notice.digest,
        "since": notice.since.isoformat(),
        "until": notice.until.isoformat(),
        "first": notice.first.to_json(),
        "samples": [s.to_json() for s in notice.samples],
    }
