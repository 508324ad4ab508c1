"""Times typed by people on the command line: ISO dates or "15m", "2h", "7d" ago."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["parse_when"]

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """``text`` as an aware datetime.

    Raises:
        ValueError: with the accepted forms, when ``text`` is neither.
    """
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text.strip())
    if match:
        try:
            return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError as exc:  # "99999999999d": before the year 1
            raise ValueError(f"'{text}' reaches back before the year 1") from exc
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        # In UTC now, so an offset at the ends of the calendar fails here, not in a query.
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(
            f"'{text}' is not a time: use 2026-01-31, 2026-01-31T10:00 or 15m/2h/7d"
        ) from exc
