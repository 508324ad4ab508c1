"""Hostile and careless input to the dashboard: no open redirect, no markup injection, no 500.

Each test here failed before the fix it pins (except the XSS sweep, which
guards the autoescaping that was already right against regressions).
"""

from __future__ import annotations

import base64
import json

import aiohttp
import pytest

from hub.auth import Role
from hub.store import DeliveryFilter
from hub.web.access import local_target
from tests.helpers import payment_body
from tests.web.client import Browser
from tests.web.fixtures import BOOKS_400, Dash

HOSTILE = '"><script>alert(1)</script><svg onload=alert(2)>'


@pytest.mark.parametrize(
    "raw",
    [
        "//evil.example/x",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "",
        None,
    ],
)
def test_only_local_paths_are_redirect_targets(raw: object) -> None:
    assert local_target(raw, "/home") == "/home"


def test_local_paths_with_queries_pass() -> None:
    assert (
        local_target("/deliveries?status=dead&subject=a b") == "/deliveries?status=dead&subject=a b"
    )
    assert local_target("/connections/books") == "/connections/books"


async def _location(b: Browser, method: str, url: str, **kw: object) -> str:
    async with b.http.request(method, url, allow_redirects=False, **kw) as resp:  # type: ignore[arg-type]
        assert resp.status in (302, 303), (resp.status, await resp.text())
        return resp.headers["Location"]


async def test_login_next_cannot_leave_the_site(dash: Dash) -> None:
    base = dash.hub.url
    signed_in = await dash.browser(Role.VIEWER)
    for sneaky in ("/%09/evil.example", "/%5Cevil.example", "/%0a/evil.example"):
        where = await _location(signed_in, "GET", f"{base}/login?next={sneaky}")
        assert where == "/", sneaky
    b = await dash.browser()
    form = await b.get("/login")
    where = await _location(
        b,
        "POST",
        base + "/login",
        data={"token": dash.tokens[Role.OPS], "next": "/\t/evil.example", "csrf_token": form.csrf},
        headers={"Origin": base},
    )
    assert where == "/"


async def test_action_back_links_cannot_leave_the_site(dash: Dash) -> None:
    b = await dash.browser(Role.OPS)
    page = await b.get("/connections")
    where = await _location(
        b,
        "POST",
        dash.hub.url + "/connections/books/pause",
        data={"back": "/\\evil.example", "csrf_token": page.csrf},
        headers={"Origin": dash.hub.url},
    )
    assert where == "/connections/books"


async def test_tampered_page_links_and_absurd_times_are_explained(dash: Dash) -> None:
    admin = await dash.browser(Role.ADMIN)
    huge = json.dumps(["2020-01-01T00:00:00+00:00", "9" * 30]).encode()
    for cursor in ("garbage", base64.urlsafe_b64encode(huge).decode().rstrip("=")):
        page = await admin.get(f"/audit?before={cursor}")
        assert page.status == 200 and page.url == dash.hub.url + "/audit", cursor
        assert "not valid" in page.text
    for path in ("/events", "/deliveries"):
        page = await admin.get(f"{path}?since=99999999999d")
        assert page.status == 200, (path, page.text[:300])
        assert "before the year 1" in page.text


async def test_bulk_replay_needs_a_filter(dash: Dash) -> None:
    b = await dash.browser(Role.OPS)
    page = await b.get("/deliveries/replay")
    assert page.url == dash.hub.url + "/deliveries" and "Filter the deliveries first" in page.text
    refused = await b.post("/deliveries/replay", {"from_start": "1"})
    assert refused.status == 422 and "at least one condition" in refused.text
    from hub.ops import OPS

    assert await dash.hub.runner.app[OPS].jobs() == []


async def test_vendor_and_event_strings_are_escaped_everywhere(dash: Dash) -> None:
    """Event subjects, payload text and vendor messages reach pages only as text."""
    body = json.loads(payment_body(7))
    entity = body["payload"]["payment"]["entity"]
    entity["description"] = HOSTILE
    entity["notes"] = {"name": HOSTILE}
    refused = {**BOOKS_400, "body": {"code": 1001, "message": HOSTILE}}
    await dash.sandbox.faults([refused])
    await dash.hub.post(json.dumps(body).encode())
    await dash.hub.wait_for(lambda c: c.get("runs_dead", 0) >= 1)
    rows, _ = await dash.hub.hub.store.list_deliveries(DeliveryFilter(status="dead", limit=1))
    step, run = rows[0]
    b = await dash.browser(Role.ADMIN)
    pages = [
        "/",
        "/?window=day",
        "/deliveries",
        "/deliveries?status=dead",
        f"/deliveries/{step.id}",
        f"/deliveries/replay?status=dead&subject={HOSTILE}",
        "/events",
        f"/events/{run.event_id}",
        f"/events?subject={HOSTILE}",
        f"/login?next=/{HOSTILE}",
        f"/connections/{HOSTILE}",
    ]
    seen_escaped = False
    for path in pages:
        page = await b.get(path)
        assert page.status in (200, 404), (path, page.status)
        assert "<script>alert" not in page.text and "<svg onload" not in page.text, path
        seen_escaped |= "&lt;script&gt;alert(1)" in page.text
    assert seen_escaped, "the hostile strings never reached a page: the sweep proves nothing"


async def test_pages_are_not_cached_or_framed_and_errors_too(dash: Dash) -> None:
    b = await dash.browser(Role.VIEWER)
    for path in ("/", "/deliveries/nope", "/audit", "/login"):
        page = await b.get(path)
        assert page.headers["Cache-Control"] == "no-store", path
        assert page.headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"], path
    async with (
        aiohttp.ClientSession() as http,
        http.head(dash.hub.url + "/deliveries", allow_redirects=False) as resp,
    ):
        assert resp.status == 303 and "/login" in resp.headers["Location"]
