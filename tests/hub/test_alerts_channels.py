"""SMTP and webhook channels against real receivers on 127.0.0.1; what a message says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hub.alerts.channels import ChannelError, SmtpChannel, WebhookChannel
from hub.alerts.model import Alert, Notice
from hub.alerts.render import subject, text
from hub.alerts.settings import SmtpSettings, WebhookSettings
from hub.secrets import Secret
from tests.helpers import free_port
from tests.hub.alert_receivers import SmtpServer, WebhookReceiver, body_of, loopback_cert

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def dead(n: int) -> Alert:
    return Alert(
        rule="dead_letter",
        key="books",
        summary=f"dead letter on books: step 'contact' gave up (payment.captured pay_{n})",
        at=T0 + timedelta(seconds=n),
        connection="books",
        recipe="razorpay-payment-to-books",
        event_id=f"evt-{n}",
        event_type="payment.captured",
        subject=f"pay_{n}",
        step="contact",
        delivery_id=f"step-{n}",
        attempts=1,
        error="GET /books/v3/contacts rejected the request (400): Invalid email (code 2)",
        status_code=400,
        link=f"http://hub.example/deliveries/step-{n}",
    )


def digest(count: int) -> Notice:
    return Notice(
        "smtp",
        "dead_letter",
        "books",
        count,
        dead(1),
        [dead(2), dead(3)],
        T0,
        T0 + timedelta(minutes=10),
        digest=True,
        token="tok-1",
    )


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(login=("alerts", "smtp-pass-7781")).start()
    yield server
    server.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hook = await WebhookReceiver(secret="hook-secret-5521").start()
    yield hook
    await hook.stop()


def test_a_digest_says_how_many_and_quotes_the_first_and_samples() -> None:
    notice = digest(1000)
    assert subject(notice) == "[hub] 1,000 dead letters on books in the last 10 min"
    body = text(notice)
    assert "first:" in body and "samples (2 of 999 more):" in body
    for word in ("razorpay-payment-to-books", "evt-1", "pay_3", "contact", "code 2"):
        assert word in body
    assert "http://hub.example/deliveries/step-1" in body


async def test_smtp_sends_over_starttls_with_login(smtp_server: SmtpServer) -> None:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=smtp_server.port,
        security="starttls",
        ca_file=str(loopback_cert()[0]),
        username="alerts",
        password=Secret("smtp-pass-7781"),
        sender="hub@example.com",
        to=["ops@example.com", "oncall@example.com"],
    )
    await SmtpChannel(settings).send(digest(12))
    (msg,) = await smtp_server.wait_for(1)
    assert smtp_server.logins == ["alerts"]
    assert msg["Subject"] == "[hub] 12 dead letters on books in the last 10 min"
    assert msg["To"] == "ops@example.com, oncall@example.com"
    assert "GET /books/v3/contacts rejected the request (400)" in body_of(msg)


async def test_smtp_refuses_a_server_whose_certificate_is_not_trusted(
    smtp_server: SmtpServer,
) -> None:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=smtp_server.port,
        security="starttls",  # the system's CAs do not know the test certificate
        username="alerts",
        password=Secret("smtp-pass-7781"),
        sender="hub@example.com",
        to=["ops@example.com"],
    )
    with pytest.raises(ChannelError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        await SmtpChannel(settings).send(digest(1))
    assert smtp_server.messages == [] and smtp_server.logins == []


async def test_smtp_down_is_a_channel_error_without_the_password() -> None:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=free_port(),  # nothing listens there
        security="none",
        username="alerts",
        password=Secret("smtp-pass-7781"),
        sender="hub@example.com",
        to=["ops@example.com"],
        timeout=2,
    )
    with pytest.raises(ChannelError) as caught:
        await SmtpChannel(settings).send(digest(1))
    assert f"127.0.0.1:{settings.port}" in str(caught.value)
    assert "smtp-pass-7781" not in str(caught.value)


async def test_webhook_is_signed_and_retried_on_5xx(receiver: WebhookReceiver) -> None:
    receiver.fail = 2
    settings = WebhookSettings(url=receiver.url, secret=Secret("hook-secret-5521"), attempts=3)
    await WebhookChannel(settings, backoff=0.01).send(digest(7))
    (doc,) = await receiver.wait_for(1)
    assert receiver.refused == 2
    assert doc["type"] == "hub.alert" and doc["count"] == 7 and doc["digest"] is True
    assert doc["first"]["delivery_id"] == "step-1"
    assert doc["first"]["error"].startswith("GET /books/v3/contacts")
    assert [s["event_id"] for s in doc["samples"]] == ["evt-2", "evt-3"]
    assert receiver.headers[0]["X-Hub-Alert-Id"] == "tok-1"


async def test_webhook_gives_up_after_its_attempts(receiver: WebhookReceiver) -> None:
    receiver.fail = 10
    settings = WebhookSettings(url=receiver.url, secret=Secret("hook-secret-5521"), attempts=2)
    with pytest.raises(ChannelError, match="after 2 attempt"):
        await WebhookChannel(settings, backoff=0.01).send(digest(1))
    assert receiver.refused == 2


async def test_webhook_with_a_wrong_secret_is_refused_not_retried(
    receiver: WebhookReceiver,
) -> None:
    settings = WebhookSettings(url=receiver.url, secret=Secret("not-the-secret"), attempts=3)
    with pytest.raises(ChannelError, match="refused \\(401\\)") as caught:
        await WebhookChannel(settings, backoff=0.01).send(digest(1))
    assert "not-the-secret" not in str(caught.value)
    assert receiver.posts == []
