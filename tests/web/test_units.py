"""Pure parts of the dashboard: session cookies, failure reasons, chart geometry, form parsing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from hub.auth import Principal, Role
from hub.ops import ConnectionForm, FormField
from hub.web.charts import line_chart, nice_ceiling, stacked_bars
from hub.web.forms import connection_values, delivery_filter, field_errors
from hub.web.reasons import explain
from hub.web.render import ago, duration
from hub.web.session import Session, SessionCodec
from hub.web.stats import LATENCY_BOUNDS, latency_class_of, percentile

KEY = Fernet.generate_key()
ADMIN = Principal("ana", Role.ADMIN, "token")


def test_session_round_trips_and_rotates_on_login() -> None:
    codec = SessionCodec(KEY)
    s = Session.fresh()
    anon_sid, anon_csrf = s.sid, s.csrf
    s.login(ADMIN)
    assert (s.sid, s.csrf) != (anon_sid, anon_csrf)  # no session fixation
    s.flash("ok", "hello")
    back = codec.loads(codec.dumps(s))
    assert back is not None and back.principal == ADMIN and back.csrf == s.csrf
    assert back.pop_flashes() == [("ok", "hello")]


def test_tampered_or_foreign_cookies_are_rejected() -> None:
    value = SessionCodec(KEY).dumps(Session.fresh())
    assert SessionCodec(Fernet.generate_key()).loads(value) is None
    flipped = value[:-5] + ("A" if value[-5] != "A" else "B") + value[-4:]
    assert SessionCodec(KEY).loads(flipped) is None
    assert SessionCodec(KEY).loads("not a cookie") is None


def test_sessions_end_twelve_hours_after_login() -> None:
    codec = SessionCodec(KEY, max_age=timedelta(hours=12))
    s = Session.fresh()
    s.login(ADMIN)
    later = codec.loads(codec.dumps(s), now=time.time() + 13 * 3600)
    assert later is not None and later.principal is None


def test_reasons_quote_the_vendor_and_say_what_to_do() -> None:
    r = explain("permanent", 400, "Zoho Books rejected the payment: Invalid value (code 1001)")
    assert r.headline == "Zoho Books rejected the payment (400)"
    assert r.vendor_message == "Invalid value (code 1001)" and "replay" in (r.advice or "")
    r = explain(
        "dead", None, "gave up after 5 attempts: POST https://b.example/v3/x failed with 503: busy"
    )
    assert r.headline == "The vendor had a problem (503; gave up after 5 attempts)"
    assert r.endpoint == "POST /v3/x" and not r.retried
    r = explain("transient", 429, "GET https://b.example/a is rate limited: slow down")
    assert r.retried and r.vendor_message == "slow down"
    r = explain(
        "permanent",
        401,
        "POST https://b.example/a refused the credentials (401): invalid token; re-authorize the connection",
        connection="books",
    )
    assert r.headline == "Credentials refused (401)" and "Re-authorize 'books'" in (r.advice or "")
    r = explain(
        "pending",
        None,
        "connection 'books' is disabled; the step waits until it is enabled",
        connection="books",
    )
    assert r.headline == "Waiting: 'books' is disabled"
    assert explain("ok", 200, None).severity == "ok"


def test_nice_scales_and_stacked_bar_heights() -> None:
    assert [nice_ceiling(v) for v in (0, 1, 7, 13, 24, 260, 999)] == [1, 1, 10, 20, 25, 500, 1000]
    starts = [datetime(2026, 1, 1, 10, m, tzinfo=UTC) for m in range(4)]
    chart = stacked_bars(
        "t", starts, [("ok", "ok", [0, 5, 10, 20]), ("failed", "f", [0, 0, 5, 0])], 120
    )
    heights = [sum(s.height for s in b.segments) for b in chart.bars]
    assert heights[0] == 0 and heights[3] == pytest.approx(chart.bottom - chart.top)
    assert heights[2] == pytest.approx(heights[3] * 15 / 20, abs=0.05)
    assert [t.label for t in chart.x_ticks] == ["10:00", "10:02"]
    assert "5 f" in chart.bars[2].title


def test_latency_lines_break_where_there_is_no_data() -> None:
    starts = [datetime(2026, 1, 1, 10, m, tzinfo=UTC) for m in range(5)]
    chart = line_chart("lat", starts, [("p50", "p50", [10.0, 20.0, None, 30.0, None])], 60)
    (line,) = chart.lines
    assert len(line.paths) == 2 and line.paths[0].count(",") == 2
    assert chart.y_ticks[-1].label == "50 ms"


def test_percentiles_from_the_latency_histogram() -> None:
    hist = [0] * (len(LATENCY_BOUNDS) + 1)
    for ms in [3] * 50 + [40] * 45 + [900] * 5:
        hist[latency_class_of(ms)] += 1
    assert percentile(hist, 0.5) == pytest.approx(5.0)  # the top of the <5 ms class
    p95 = percentile(hist, 0.95)
    assert p95 is not None and 25 <= p95 <= 50
    assert percentile([0] * len(hist), 0.5) is None


def test_connection_form_values() -> None:
    form = ConnectionForm(
        "x",
        "X",
        [
            FormField("url", "URL", "url", True, None, "", None, "https://a"),
            FormField("secret", "Secret", "secret", True, None, "", None, None),
            FormField("timeout", "Timeout", "number", False, 30, "", None, 30),
            FormField("per_minute", "Per minute", "integer", False, 100, "", None, 100),
            FormField("sandbox", "Sandbox", "boolean", False, False, "", None, False),
            FormField("dc", "DC", "enum", False, "in", "", ["in", "com"], "in"),
        ],
    )
    values, typed, errors = connection_values(
        form, {"url": " https://b ", "secret": "", "timeout": "", "per_minute": "x", "dc": "eu"}
    )
    assert values == {"url": "https://b", "timeout": None, "sandbox": False}
    assert "secret" not in values and "secret" not in typed  # empty secret: keep the stored one
    assert errors == {"per_minute": "must be a whole number", "dc": "must be one of in, com"}


def test_filters_and_config_errors_are_split_by_field() -> None:
    parsed = delivery_filter({"status": "dead", "since": "2h", "until": "soon", "limit": "7"})
    assert parsed.filter.status == "dead" and parsed.filter.since is not None
    assert set(parsed.errors) == {"until", "limit"}
    by_field, rest = field_errors(
        "config.timeout: Input should be a valid number\nname: bad\nsomething else", {"timeout"}
    )
    assert by_field == {"timeout": "Input should be a valid number"}
    assert rest == ["name: bad", "something else"]


def test_human_times_and_durations() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert ago(now - timedelta(seconds=42), now) == "42 s ago"
    assert ago(now - timedelta(minutes=5), now) == "5 min ago"
    assert ago(now + timedelta(hours=3), now) == "in 3 h"
    assert [duration(v) for v in (0.2, 840, 1400, 125_000)] == [
        "<1 ms",
        "840 ms",
        "1.4 s",
        "2 min 5 s",
    ]
