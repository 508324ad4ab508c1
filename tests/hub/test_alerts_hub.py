"""Alerts through the real hub: Razorpay webhooks in, the Zoho Books sandbox answering, real
SMTP and webhook receivers on 127.0.0.1 taking the messages.

The storm test is the issue's "must be shown": 1,000 dead letters in well under
a minute, with the production window of 10 minutes, send one message per
channel at once and one digest when the window ends (the alerter's clock is
moved past it rather than waiting ten minutes), and the two messages account
for every one of the 1,000.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hub.alerts.service import Alerter
from hub.cli import main
from hub.events import utcnow
from tests.helpers import RunningHub, Sandbox, free_port, payment_body
from tests.hub.alert_receivers import SmtpServer, WebhookReceiver, body_of

HOOK_SECRET = "alert-hook-secret-3141"
CONTACT_400 = {
    "path": "/books/v3/contacts",
    "method": "GET",
    "status": 400,
    "body": {"code": 2, "message": "Invalid value passed for email"},
}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()  # a plain local relay
    yield server
    server.stop()


@pytest.fixture
async def hook() -> AsyncIterator[WebhookReceiver]:
    receiver = await WebhookReceiver(secret=HOOK_SECRET).start()
    yield receiver
    await receiver.stop()


@pytest.fixture(autouse=True)
def _hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_TEST_ALERT_HOOK_SECRET", HOOK_SECRET)


def alerts(
    smtp: SmtpServer | None = None, hook: WebhookReceiver | None = None, **rules: Any
) -> dict[str, Any]:
    """An ``alerts:`` section; periodic checks off unless a test turns them on."""
    section: dict[str, Any] = {
        "window": 600,
        "check_interval": 3600,
        "error_rate": {"enabled": False},
        "api_credits": {"enabled": False},
        **rules,
    }
    if smtp is not None:
        section["smtp"] = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "sender": "hub@example.com",
            "to": ["ops@example.com"],
            "timeout": 3,
        }
    if hook is not None:
        section["webhook"] = {
            "url": hook.url,
            "secret": "${env:HUB_TEST_ALERT_HOOK_SECRET}",
            "attempts": 2,
        }
    return section


async def post_payments(hub: RunningHub, count: int, in_flight: int = 50) -> None:
    gate = asyncio.Semaphore(in_flight)

    async def one(n: int) -> None:
        async with gate:
            resp = await hub.post(payment_body(n, seed=7))
            assert resp.status == 202

    await asyncio.gather(*(one(n) for n in range(count)))


def alerter_of(hub: RunningHub) -> Alerter:
    assert hub.hub.alerter is not None
    return hub.hub.alerter


async def wait_until(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_storm_of_1000_dead_letters_sends_one_message_and_one_digest_per_channel(
    running_hub: Any, sandbox: Sandbox, smtp: SmtpServer, hook: WebhookReceiver
) -> None:
    await sandbox.faults([CONTACT_400] * 1000)
    hub = await running_hub(alerts=alerts(smtp, hook), public_url="https://hub.example")
    started = time.monotonic()
    await post_payments(hub, 1000)
    counts = await hub.settled(1000, timeout=240)  # generous: CI machines may be busy
    storm_seconds = time.monotonic() - started
    assert counts["runs_dead"] == 1000
    assert storm_seconds < 600  # the whole storm falls inside one window
    alerter = alerter_of(hub)
    await alerter.idle()

    # During the window: one message per channel, sent at once, with its context.
    assert len(smtp.messages) == 1 and len(hook.posts) == 1
    (first_mail,) = smtp.messages
    first_doc = hook.posts[0]
    assert first_doc["count"] == 1 and first_doc["digest"] is False
    ctx = first_doc["first"]
    assert ctx["rule"] == "dead_letter" and ctx["connection"] == "books"
    assert ctx["recipe"] == "razorpay-payment-to-books" and ctx["step"] == "contact"
    assert ctx["event_type"] == "payment.captured" and ctx["subject"].startswith("pay_Demo")
    assert ctx["attempts"] == 1 and ctx["status_code"] == 400
    assert "Invalid value passed for email" in ctx["error"]
    assert ctx["link"] == f"https://hub.example/deliveries/{ctx['delivery_id']}"
    found = await hub.hub.store.get_delivery(ctx["delivery_id"])
    assert found is not None and found[0].status == "dead"
    assert found[1].event_id == ctx["event_id"]
    mail_text = body_of(first_mail)
    assert ctx["delivery_id"] in mail_text and "Invalid value passed for email" in mail_text
    assert first_mail["Subject"].startswith("[hub] dead letter on books")

    # The window ends (10 minutes later): one digest per channel with the other 999.
    alerter.clock = lambda: utcnow() + timedelta(minutes=10, seconds=1)
    assert await alerter.flush() == 2
    await alerter.idle()
    assert len(smtp.messages) == 2 and len(hook.posts) == 2
    digest = hook.posts[1]
    assert digest["digest"] is True and digest["count"] == 999
    assert first_doc["count"] + digest["count"] == 1000
    assert digest["summary"].startswith("999 dead letters on books in the last")
    assert len(digest["samples"]) == 5
    for sample in [digest["first"], *digest["samples"]]:
        assert sample["recipe"] == "razorpay-payment-to-books"
        assert "Invalid value passed for email" in sample["error"]
        assert sample["link"].startswith("https://hub.example/deliveries/")
    mail = smtp.messages[1]
    assert mail["Subject"].startswith("[hub] 999 dead letters on books in the last")
    assert "samples (5 of 998 more)" in body_of(mail)

    # Nothing else is due, and /metrics tells the same story.
    assert await alerter.flush() == 0
    async with hub.http.get(f"{hub.url}/metrics") as resp:
        text = await resp.text()
    assert 'hub_alerts_raised_total{rule="dead_letter"} 1000.0' in text
    assert 'hub_alerts_suppressed_total{channel="smtp",rule="dead_letter"} 999.0' in text
    for kind in ("immediate", "digest"):
        line = f'hub_alerts_sent_total{{channel="webhook",kind="{kind}",rule="dead_letter"}} 1.0'
        assert line in text


async def test_needs_reauth_is_alerted_once_with_the_reason(
    running_hub: Any, hook: WebhookReceiver
) -> None:
    hub = await running_hub(
        alerts=alerts(hook=hook, dead_letter=False),
        books={"refresh_token": "1000.revoked.by.the.admin"},
    )
    await post_payments(hub, 5)
    await hub.settled(5)
    await alerter_of(hub).idle()
    (doc,) = hook.posts  # five refusals: one message, the rest held for the digest
    assert doc["rule"] == "needs_reauth" and doc["key"] == "books"
    assert "needs re-authorization" in doc["summary"]
    assert doc["first"]["link"].endswith("/connections/books")
    assert "1000.revoked.by.the.admin" not in str(doc)
    row = await hub.hub.store.get_connection("books")
    assert row is not None and row.state["needs_reauth"] and row.state["reauth_alerted"]


async def test_a_reauth_flag_set_elsewhere_is_found_by_the_periodic_check(
    running_hub: Any, hook: WebhookReceiver
) -> None:
    hub = await running_hub(alerts=alerts(hook=hook, check_interval=0.1, window=1))
    # What a poller (or a worker in another process) does on an AuthError.
    await hub.hub.store.update_connection_state(
        "books", {"needs_reauth": True, "reauth_reason": "invalid_code: refresh token revoked"}
    )
    (doc,) = await hook.wait_for(1)
    assert doc["rule"] == "needs_reauth"
    assert doc["first"]["error"] == "invalid_code: refresh token revoked"
    await asyncio.sleep(0.5)  # more checks: announced once only
    assert len(hook.posts) == 1
    # Re-authorized: the mark goes, so the next refusal is announced again.
    await hub.hub.store.update_connection_state("books", {"needs_reauth": None})
    await wait_until_state(hub, "reauth_alerted", absent=True)


async def test_error_rate_over_the_threshold_is_alerted_with_the_latest_error(
    running_hub: Any, sandbox: Sandbox, hook: WebhookReceiver
) -> None:
    await sandbox.faults([CONTACT_400] * 12)
    rule = {"enabled": True, "threshold": 0.5, "window": 120, "min_attempts": 10}
    hub = await running_hub(
        alerts=alerts(hook=hook, dead_letter=False, check_interval=0.1, error_rate=rule)
    )
    await post_payments(hub, 12)
    await hub.settled(12)
    docs = await hook.wait_for(1)
    doc = docs[0]
    assert doc["rule"] == "error_rate" and doc["key"] == "books"
    details = doc["first"]["details"]
    assert details["failed"] == 12 and details["attempts"] == 12 and details["rate"] == 1.0
    assert "Invalid value passed for email" in doc["first"]["error"]
    assert doc["first"]["link"].startswith("http://127.0.0.1:")


async def test_error_rate_below_the_minimum_volume_stays_quiet(
    running_hub: Any, sandbox: Sandbox, hook: WebhookReceiver
) -> None:
    await sandbox.faults([CONTACT_400] * 3)
    rule = {"enabled": True, "threshold": 0.5, "window": 120, "min_attempts": 10}
    hub = await running_hub(
        alerts=alerts(hook=hook, dead_letter=False, check_interval=0.1, error_rate=rule)
    )
    await post_payments(hub, 3)
    await hub.settled(3)
    await asyncio.sleep(0.5)
    assert hook.posts == []


async def test_api_credits_at_80_percent_are_alerted_once(
    running_hub: Any, hook: WebhookReceiver
) -> None:
    hub = await running_hub(
        alerts=alerts(hook=hook, check_interval=0.1, api_credits={"fraction": 0.8}),
        books={"daily_api_calls": 10},
    )
    await post_payments(hub, 2)  # about four Books calls each
    (doc,) = await hook.wait_for(1)
    assert doc["rule"] == "api_credits" and doc["key"] == "books"
    details = doc["first"]["details"]
    assert details["day_limit"] == 10 and details["day_used"] >= 8
    assert details["fraction"] >= 0.8
    assert "of its daily API credits" in doc["summary"]
    await asyncio.sleep(0.5)  # still over: no second alert
    assert len(hook.posts) == 1
    async with hub.http.get(f"{hub.url}/metrics") as resp:
        text = await resp.text()
    assert 'hub_api_call_limit{connection="books",window="day"} 10.0' in text


async def test_smtp_down_is_logged_not_fatal_and_retried_next_window(
    running_hub: Any, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    down = SmtpServer()  # its port, nothing listening yet
    await sandbox.faults([CONTACT_400] * 3)
    hub = await running_hub(alerts=alerts(smtp=down, window=1.5))
    with caplog.at_level(logging.WARNING, logger="hub.alerts"):
        await post_payments(hub, 3)
        await hub.settled(3)
        await wait_until(lambda: "could not send dead_letter alert" in caplog.text)
    assert "Connection refused" in caplog.text or "connect" in caplog.text.lower()
    async with hub.http.get(f"{hub.url}/readyz") as resp:
        assert resp.status == 200
    down.start()  # the relay comes back
    try:
        (mail,) = await down.wait_for(1, timeout=10)
        assert mail["Subject"].startswith("[hub] 3 dead letters on books")
    finally:
        down.stop()


async def wait_until_state(hub: RunningHub, key: str, absent: bool) -> None:
    deadline = time.monotonic() + 10
    while True:
        row = await hub.hub.store.get_connection("books")
        assert row is not None
        if (key not in row.state) == absent:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} still {'present' if absent else 'absent'}")
        await asyncio.sleep(0.05)


def test_cli_alerts_test_reports_each_channel(tmp_path: Path, smtp: SmtpServer) -> None:
    config = tmp_path / "hub.yaml"
    dead_port = free_port()
    config.write_text(
        f"""
store: sqlite:///{tmp_path / "hub.db"}
alerts:
  smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none, sender: hub@example.com,
          to: [ops@example.com]}}
  webhook: {{url: "http://127.0.0.1:{dead_port}/alerts", attempts: 1, timeout: 2}}
"""
    )
    result = CliRunner().invoke(main, ["-c", str(config), "alerts", "test", "--json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    by_channel = {c["channel"]: c for c in doc["channels"]}
    assert by_channel["smtp"] == {"channel": "smtp", "ok": True, "error": None}
    assert not by_channel["webhook"]["ok"]
    assert f"127.0.0.1:{dead_port}" in by_channel["webhook"]["error"]
    (mail,) = smtp.messages
    assert mail["Subject"] == "[hub] test alert from the hub: this channel works"
