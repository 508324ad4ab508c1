"""Structured logs: one JSON object per line with the ids, and never a secret or a body."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

from hub.logs import (
    HubLogFilter,
    JsonFormatter,
    Redactor,
    TextFormatter,
    log_context,
    redactor,
    setup_logging,
)
from tests.helpers import SECRET, Sandbox, payment_body, sign

CLIENT_SECRET = "sandbox-secret"
REFRESH_TOKEN = "1000.sandbox.refresh"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The hub's JSON logging to a buffer at DEBUG; the root logger is put back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    setup_logging("debug", "json", stream)
    yield stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    redactor.clear()


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_the_context_ids(captured: io.StringIO) -> None:
    log = logging.getLogger("hub.test")
    with log_context(connection="books", run_id="run-1", step_id="step-1", event_id="evt-1"):
        log.warning("step %s failed", "contact")
    log.info("outside")
    inside, outside = records(captured)
    assert set(inside) >= {"ts", "level", "logger", "msg"}
    assert inside["level"] == "warning" and inside["logger"] == "hub.test"
    assert inside["msg"] == "step contact failed"
    assert (inside["connection"], inside["run_id"], inside["step_id"], inside["event_id"]) == (
        "books",
        "run-1",
        "step-1",
        "evt-1",
    )
    assert "run_id" not in outside


def test_redactor_hides_registered_values_and_credential_shapes() -> None:
    r = Redactor()
    r.add(["s3cr3t-value-42", "abc"])  # too short to register: ordinary words would vanish
    text = (
        "got s3cr3t-value-42; Authorization: Zoho-oauthtoken 1000.abcdef.123456 "
        'and {"client_secret": "xyz789", "refresh_token": "1000.r.t"} '
        "from postgresql://hub:pa55word@db/hub; abc stays"
    )
    out = r(text)
    for leaked in ("s3cr3t-value-42", "1000.abcdef.123456", "xyz789", "1000.r.t", "pa55word"):
        assert leaked not in out
    assert "abc stays" in out and "postgresql://hub:***@db/hub" in out


def test_text_format_and_exceptions_are_redacted_too() -> None:
    r = Redactor()
    r.add(["hunter2-the-password"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    handler.addFilter(HubLogFilter(r))
    log = logging.getLogger("hub.test.text")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise RuntimeError("login with hunter2-the-password refused")
        except RuntimeError:
            with log_context(step_id="step-9"):
                log.exception("attempt failed")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    out = stream.getvalue()
    assert "hunter2-the-password" not in out and "***" in out
    assert "step_id=step-9" in out and "RuntimeError" in out


def test_json_formatter_keeps_the_exception() -> None:
    record = logging.LogRecord("hub.x", logging.ERROR, __file__, 1, "boom %d", (1,), None)
    doc = json.loads(JsonFormatter().format(record))
    assert doc["msg"] == "boom 1" and doc["level"] == "error"


async def test_real_traffic_logs_ids_and_no_secret_or_body(
    captured: io.StringIO, running_hub: Any, sandbox: Sandbox
) -> None:
    await sandbox.faults(
        [{"path": "/books/v3/contacts", "method": "GET", "status": 400}] * 2
        + [{"path": "/books/v3/contacts", "method": "GET", "status": 503}]
    )
    hub = await running_hub(books={"client_secret": CLIENT_SECRET})
    bodies = [payment_body(n, seed=5) for n in range(6)]
    for body in bodies:
        assert (await hub.post(body)).status == 202
    forged = payment_body(50, seed=5)
    resp = await hub.post(forged, headers={"X-Razorpay-Signature": sign(forged, "forged")})
    assert resp.status == 401
    await hub.settled(6)
    # Code that misbehaves (a secret in a message or an exception) is caught by the filter.
    logging.getLogger("hub.careless").warning("refresh with %s", REFRESH_TOKEN)
    try:
        raise ValueError(f"bad webhook secret {SECRET}")
    except ValueError:
        logging.getLogger("hub.careless").exception("oops")
    await hub.stop()

    text = captured.getvalue()
    docs = records(captured)
    assert docs and all({"ts", "level", "logger", "msg"} <= set(d) for d in docs)
    secrets = [SECRET, CLIENT_SECRET, REFRESH_TOKEN, os.environ["HUB_SECRET_KEY"]]
    for secret in secrets:
        assert secret not in text, f"a secret reached the log: {secret[:4]}…"
    # No body either: the customers' e-mail addresses and phone numbers are only in bodies.
    for body in bodies:
        customer = json.loads(body)["payload"]["payment"]["entity"]
        assert customer["email"] not in text
        assert str(customer["contact"]) not in text
    dead = [d for d in docs if d["logger"] == "hub.runner" and "dead" in d["msg"]]
    assert len(dead) == 2
    for d in dead:
        assert {"run_id", "step_id", "event_id", "connection"} <= set(d)
        assert d["connection"] == "books"
    retried = [d for d in docs if d["logger"] == "hub.runner" and ": retry" in d["msg"]]
    assert retried and all("step_id" in d for d in retried)
    refused = [d for d in docs if d["logger"] == "hub.ingress" and "signature" in d["msg"]]
    assert refused and refused[0]["connection"] == "razorpay-main"
    assert any(d["logger"] == "hub.careless" and "***" in d["msg"] for d in docs)
