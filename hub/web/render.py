"""Page rendering: the Jinja2 environment (autoescaped), its filters, and ``render``.

Templates live in ``hub/web/templates``; every page extends ``base.html``,
which needs the principal, the CSRF token and the flashes that ``render``
puts in the context. Filters turn store values into what people read:
relative times with the absolute time on hover, durations, pretty JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web

from hub.auth import Principal, Role

__all__ = ["ago", "duration", "make_environment", "pretty_json", "utc"]


#: Pill colour of each step, run, attempt and job status.
STATUS_PILLS = {
    "succeeded": "ok",
    "ok": "ok",
    "done": "ok",
    "dead": "bad",
    "permanent": "bad",
    "failed": "bad",
    "transient": "warn",
    "pending": "wait",
    "running": "wait",
    "throttled": "wait",
    "skipped": "muted",
    "cancelled": "muted",
}


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hub.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ago=ago, utc=utc, iso=iso, duration=duration, pretty_json=pretty_json, num=num, pct=pct
    )
    env.globals.update(Role=Role, STATUS_PILLS=STATUS_PILLS)
    return env


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """``12 s ago``, ``5 min ago``, ``3 h ago``, ``2 d ago`` (``in 5 min`` for the future)."""
    if when is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (now - when).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 1:
        return "just now"
    if seconds < 60:
        text = f"{seconds:.0f} s"
    elif seconds < 3600:
        text = f"{seconds // 60:.0f} min"
    elif seconds < 86_400 * 2:
        text = f"{seconds // 3600:.0f} h"
    else:
        text = f"{seconds // 86_400:.0f} d"
    return f"in {text}" if future else f"{text} ago"


def utc(when: datetime | None) -> str:
    """The absolute time, to the second, in UTC (the hover text of every relative time)."""
    if when is None:
        return ""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(when: datetime | None) -> str:
    return "" if when is None else when.astimezone(UTC).isoformat(timespec="seconds")


def duration(ms: float | None) -> str:
    """``840 ms``, ``1.4 s``, ``2 min 5 s``."""
    if ms is None:
        return ""
    if ms < 1:
        return "<1 ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False, sort_keys=False)


def num(value: float | int | None) -> str:
    if value is None:
        return "\u2013"
    return (
        f"{value:,.0f}" if isinstance(value, int) or float(value).is_integer() else f"{value:,.1f}"
    )


def pct(value: float | None) -> str:
    return "\u2013" if value is None else f"{100 * value:.0f}%"


def page_context(
    principal: Principal | None, csrf: str, flashes: list[tuple[str, str]], path: str
) -> dict[str, Any]:
    """What every template may use, beside the page's own values."""
    return {
        "me": principal,
        "can_ops": principal is not None and principal.allows(Role.OPS),
        "can_admin": principal is not None and principal.allows(Role.ADMIN),
        "csrf_token": csrf,
        "flashes": flashes,
        "path": path,
        "now": datetime.now(UTC),
    }


def html(
    env: jinja2.Environment, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    body = env.get_template(template).render(context)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
