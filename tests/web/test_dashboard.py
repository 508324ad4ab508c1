"""The dashboard over real HTTP: sign-in, roles, CSRF, pages, replay, connection forms, bulk jobs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from yarl import URL

from hub.auth import Role
from hub.store import DeliveryFilter, EventFilter
from tests.helpers import payment_body
from tests.web.client import Browser
from tests.web.fixtures import Dash

PAGES = [
    "/",
    "/?window=day",
    "/deliveries",
    "/events",
    "/connections",
    "/connections/books",
    "/recipes",
]


async def test_signed_out_visitors_are_sent_to_sign_in(dash: Dash) -> None:
    b = await dash.browser()
    page = await b.get("/deliveries?status=dead")
    assert page.status == 200
    url = URL(page.url)
    assert url.path == "/login" and url.query["next"] == "/deliveries?status=dead"
    assert "Sign in to hub" in page.text


async def test_token_sign_in_sets_a_locked_down_cookie_and_lands_on_next(dash: Dash) -> None:
    b = await dash.browser()
    form = await b.get("/login?next=/events")
    async with b.http.post(
        dash.hub.url + "/login",
        data={"token": dash.tokens[Role.VIEWER], "next": "/events", "csrf_token": form.csrf},
        headers={"Origin": dash.hub.url},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/events"
        cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert dash.tokens[Role.VIEWER] not in cookie  # encrypted, never the token itself
    page = await b.get("/events")
    assert page.status == 200 and "test-viewer" in page.text


async def test_wrong_token_and_foreign_next_are_refused(dash: Dash) -> None:
    b = await dash.browser()
    await b.get("/login")
    page = await b.post("/login", {"token": "hub_nope_nope"})
    assert page.status == 401 and "unknown, revoked or expired" in page.text
    await b.get("/login")
    page = await b.post("/login", {"token": dash.tokens[Role.OPS], "next": "//evil.example/x"})
    assert page.url == dash.hub.url + "/"  # an open redirect would have left the hub


async def test_every_page_renders_for_every_role(dash: Dash) -> None:
    await dash.dead_delivery()
    for role in Role:
        b = await dash.browser(role)
        for path in PAGES:
            page = await b.get(path)
            assert page.status == 200, (role, path, page.text[:300])
            assert page.headers["X-Frame-Options"] == "DENY"
            assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    admin = await dash.browser(Role.ADMIN)
    assert (await admin.get("/audit")).status == 200
    viewer = await dash.browser(Role.VIEWER)
    assert (await viewer.get("/audit")).status == 403


async def test_failed_delivery_shows_the_vendors_reason_and_what_to_do(dash: Dash) -> None:
    step_id = await dash.dead_delivery()
    b = await dash.browser(Role.VIEWER)
    listing = await b.get("/deliveries?status=dead")
    assert step_id in listing.text
    assert "Zoho Books rejected the payment" in listing.text
    assert "Invalid value passed for reference_number (code 1001)" in listing.text
    page = await b.get(f"/deliveries/{step_id}")
    assert "Zoho Books rejected the payment (400)" in page.text
    assert "What to do" in page.text and "then replay" in page.text
    assert "HTTP 400" in page.text
    assert "sandbox-secret" not in page.text and "1000.sandbox.refresh" not in page.text


async def test_ops_replay_succeeds_with_the_same_idempotency_key(dash: Dash) -> None:
    step_id = await dash.dead_delivery()
    store = dash.hub.hub.store
    before = await store.get_delivery(step_id)
    assert before is not None
    b = await dash.browser(Role.OPS)
    page = await b.get(f"/deliveries/{step_id}")
    assert "Replay now" in page.text and before[0].idempotency_key in page.text
    page = await b.post(f"/deliveries/{step_id}/replay")
    assert page.status == 200 and "Replaying from this step" in page.text
    for _ in range(200):
        found = await store.get_delivery(step_id)
        assert found is not None
        if found[0].status == "succeeded":
            break
        await asyncio.sleep(0.05)
    assert found[0].status == "succeeded"
    assert found[0].idempotency_key == before[0].idempotency_key
    payments = await dash.sandbox.payments()
    assert sum(p["reference_number"] == before[0].idempotency_key for p in payments) <= 1


async def test_post_without_csrf_token_or_from_another_site_is_refused(dash: Dash) -> None:
    step_id = await dash.dead_delivery()
    b = await dash.browser(Role.ADMIN)
    await b.get(f"/deliveries/{step_id}")
    no_token = await b.post(f"/deliveries/{step_id}/replay", csrf="")
    assert no_token.status == 403 and "security token" in no_token.text
    await b.get(f"/deliveries/{step_id}")
    foreign = await b.post(f"/deliveries/{step_id}/replay", origin="https://evil.example")
    assert foreign.status == 403 and "another site" in foreign.text
    found = await dash.hub.hub.store.get_delivery(step_id)
    assert found is not None and found[0].status == "dead"  # nothing was replayed


async def test_viewer_sees_no_actions_and_a_forged_post_is_refused(dash: Dash) -> None:
    step_id = await dash.dead_delivery()
    b = await dash.browser(Role.VIEWER)
    detail = await b.get(f"/deliveries/{step_id}")
    assert "Replay" not in detail.text
    conns = await b.get("/connections")
    assert "Disable" not in conns.text and "Pause" not in conns.text
    books = await b.get("/connections/books")
    assert "Save" not in books.text and "Test connection" not in books.text
    forged = await b.post(f"/deliveries/{step_id}/replay", csrf=detail.csrf)
    assert forged.status == 403 and "needs the ops role" in forged.text
    forged = await b.post("/connections/books/disable", csrf=detail.csrf)
    assert forged.status == 403
    found = await dash.hub.hub.store.get_delivery(step_id)
    assert found is not None and found[0].status == "dead"
    assert dash.hub.hub.connections.require("books").enabled


async def test_ops_may_pause_but_not_change_settings(dash: Dash) -> None:
    b = await dash.browser(Role.OPS)
    await b.get("/connections/books")
    page = await b.post("/connections/books/pause")
    assert page.status == 200 and "books paused" in page.text
    assert (await dash.hub.hub.store.get_connection("books")).state.get("paused")  # type: ignore[union-attr]
    page = await b.post("/connections/books/resume")
    assert "books resumed" in page.text
    page = await b.post("/connections/books", {"organization_id": "1"})
    assert page.status == 403


async def test_connection_form_keeps_secrets_write_only_and_shows_field_errors(dash: Dash) -> None:
    b = await dash.browser(Role.ADMIN)
    form = await b.get("/connections/books")
    assert 'name="client_secret" value=""' in form.text
    assert "sandbox-secret" not in form.text
    bad = await b.post("/connections/books", _form_values(form.text, timeout="soon"))
    assert bad.status == 422
    assert re.search(r'id="err-timeout">[^<]*number', bad.text)
    ok = await b.post("/connections/books", _form_values(form.text, organization_id="60012345678"))
    assert ok.status == 200 and "Connection books saved" in ok.text
    live = dash.hub.hub.connections.require("books")
    assert live.config.client_secret.reveal() == "sandbox-secret"  # type: ignore[attr-defined]
    tested = await b.post("/connections/books/test")
    assert tested.status == 200 and "Test passed" in tested.text


async def test_bulk_replay_shows_the_count_then_runs_a_job(dash: Dash) -> None:
    first = await dash.dead_delivery(901)
    second = await dash.dead_delivery(902)
    b = await dash.browser(Role.OPS)
    preview = await b.get("/deliveries/replay?status=dead&connection=books")
    assert preview.status == 200
    assert "Replay 2 deliveries?" in preview.text and "original idempotency key" in preview.text
    job = await b.post("/deliveries/replay", {"status": "dead", "connection": "books"})
    assert job.status == 200 and "/jobs/" in job.url
    job_id = job.url.rsplit("/", 1)[-1]
    doc: dict[str, object] = {}
    for _ in range(200):
        async with b.http.get(f"{dash.hub.url}/jobs/{job_id}/progress") as resp:
            doc = await resp.json()
        if doc["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert doc["status"] == "done" and doc["total"] == 2 and doc["done"] == 2
    job_page = await b.get(f"/jobs/{job_id}")
    assert "<span data-job-done>2</span> of <span data-job-total>2</span>" in job_page.text
    late = await b.post(f"/jobs/{job_id}/cancel")
    assert late.status == 200 and "already finished" in late.text
    await dash.hub.wait_for(lambda c: c.get("steps_dead", 0) == 0)
    left, _ = await dash.hub.hub.store.list_deliveries(DeliveryFilter(status="dead"))
    assert {first, second}.isdisjoint(s.id for s, _ in left)


async def test_revoked_token_ends_its_session(dash: Dash) -> None:
    from hub.web.access import DASHBOARD

    b = await dash.browser(Role.VIEWER)
    assert (await b.get("/events")).status == 200
    await dash.hub.runner.app[DASHBOARD].tokens.revoke("test-viewer")
    dash.hub.runner.app[DASHBOARD].token_checks.clear()  # skip the 30 s re-check interval
    page = await b.get("/events")
    assert page.url.startswith(dash.hub.url + "/login") and "session ended" in page.text


async def test_bad_filters_are_explained_in_place(dash: Dash) -> None:
    b = await dash.browser(Role.VIEWER)
    page = await b.get("/events?since=yesterday-ish")
    assert page.status == 200 and "is not a time" in page.text
    page = await b.get("/deliveries?before=garbage")
    assert "not valid any more" in page.text
    page = await b.get("/deliveries/not-a-delivery")
    assert page.status == 404 and "no delivery" in page.text


def _form_values(html: str, **changes: str) -> dict[str, str]:
    """The non-secret inputs of a settings form as rendered, with ``changes`` applied."""
    values: dict[str, str] = {}
    for name, value in re.findall(r'<input id="f-[^"]+" name="([^"]+)" value="([^"]*)"', html):
        values[name] = value.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&")
    for name in re.findall(r'<select id="f-[^"]+" name="([^"]+)"', html):
        values.setdefault(name, "")
    values["data_centre"] = "in"
    values.update(changes)
    return values


async def test_cookie_from_another_key_is_ignored(dash: Dash) -> None:
    b = Browser(dash.hub.url)
    dash.browsers.append(b)
    b.http.cookie_jar.update_cookies({"hub_session": "gAAAAABforged"})
    page = await b.get("/deliveries")
    assert "/login" in page.url


async def test_admin_creates_a_connection_that_takes_webhooks_at_once(dash: Dash) -> None:
    b = await dash.browser(Role.ADMIN)
    form = await b.get("/connections/new?connector=razorpay")
    assert form.status == 200 and 'name="webhook_secret"' in form.text
    page = await b.post(
        "/connections/new",
        {"connector": "razorpay", "name": "razorpay-two", "webhook_secret": "whsec_test_9f2c"},
    )
    assert page.status == 200 and "Connection razorpay-two saved" in page.text
    assert "whsec_test_9f2c" not in page.text
    listing = await b.get("/connections")
    assert "razorpay-two" in listing.text
    resp = await dash.hub.post(payment_body(77), connection="razorpay-two")
    assert resp.status in (200, 202)
    dup = await b.post("/connections/new", {"connector": "razorpay", "name": "razorpay-two"})
    assert dup.status == 422 and "exists" in dup.text


async def test_event_page_and_recipe_dry_run(dash: Dash) -> None:
    await dash.hub.post(payment_body(5))
    await dash.hub.settled(1)
    events, _ = await dash.hub.hub.store.list_events(EventFilter(limit=1))
    event = events[0]
    b = await dash.browser(Role.ADMIN)
    page = await b.get(f"/events/{event.id}")
    assert "Normalized" in page.text and "Raw" in page.text
    assert event.subject in page.text and "razorpay-payment-to-books" in page.text
    recipe = await b.get("/recipes/razorpay-payment-to-books")
    assert recipe.status == 200 and event.id in recipe.text  # offered as a sample event
    result = await b.post("/recipes/razorpay-payment-to-books/dry-run", {"event_id": event.id})
    assert result.status == 200
    assert "zoho_books.record_payment" in result.text and "Idempotency key" in result.text
    missing = await b.post("/recipes/razorpay-payment-to-books/dry-run", {"event_id": "nope"})
    assert missing.status == 422 and "no event" in missing.text


async def test_recipe_problems_are_shown_on_their_lines(dash: Dash) -> None:
    (recipe,) = dash.hub.hub.recipes
    path = Path(recipe.source)
    lines = path.read_text().splitlines()
    bad = next(i for i, line in enumerate(lines) if "use: zoho_books.record_payment" in line)
    lines[bad] = lines[bad].replace("record_payment", "record_paymnet")
    path.write_text("\n".join(lines) + "\n")
    b = await dash.browser(Role.VIEWER)
    listing = await b.get("/recipes")
    assert "1 problem" in listing.text and "record_paymnet" in listing.text
    page = await b.get(f"/recipes/{recipe.name}")
    marked = re.search(rf'<span class="src-line src-bad" id="L{bad + 1}">', page.text)
    assert marked, "the problem line is not highlighted"
    assert 'class="src-msg"' in page.text


async def test_behind_a_proxy_public_url_is_our_origin_and_cookies_are_secure(
    running_hub: Any,
) -> None:
    hub = await running_hub(public_url="https://hub.example.com")
    b = Browser(hub.url)
    try:
        form = await b.get("/login")
        assert "Secure" in form.headers["Set-Cookie"]  # TLS ends at the proxy
        # (aiohttp's jar keeps Secure cookies from http:// hosts out; send it by hand here)
        cookie = form.headers["Set-Cookie"].split(";", 1)[0]
        async with b.http.post(
            hub.url + "/login",
            data={"token": "hub_x_y", "csrf_token": form.csrf},
            headers={"Origin": "https://hub.example.com", "Cookie": cookie},
        ) as resp:
            assert resp.status == 401  # past the origin and CSRF checks: the token is wrong
    finally:
        await b.close()


async def test_connection_filter_matches_the_sink_or_the_source(dash: Dash) -> None:
    step_id = await dash.dead_delivery()
    b = await dash.browser(Role.VIEWER)
    for connection in ("books", "razorpay-main"):  # the sink, then the source
        page = await b.get(f"/deliveries?status=dead&connection={connection}")
        assert step_id in page.text, connection
    page = await b.get("/deliveries?connection=nobody")
    assert "No deliveries match these filters" in page.text
