"""The contract kit catches planted mistakes: each broken connector fails the named contract test."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

SOURCE = """
from __future__ import annotations
from pathlib import Path
import json
import pytest
from hub import ConnectorConfig, Event, ParseError, Secret, SignatureError, WebhookSource, hmac_matches, hmac_hex
from hub.testing import WebhookSourceContract

class Cfg(ConnectorConfig):
    secret: Secret

class Source(WebhookSource[Cfg]):
    name = "planted.webhook"
    emits = ("settlement.processed",)
    check_signature = True
    key_from_delivery = False
    bad_schema = False

    def verify(self, request):
        if self.check_signature and not hmac_matches(self.config.secret, request.body,
                                                     request.headers.get("X-Sig", "")):
            raise SignatureError("X-Sig does not match")

    def parse(self, request):
        doc = request.json()
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            raise ParseError("body must be an object with an id")
        key = request.headers.get("X-Delivery") if self.key_from_delivery else doc["id"]
        data = {"gateway": "planted", "settlement_id": doc["id"], "status": "processed",
                "amount": "10.00", "fees": "0.50", "tax": "0.09", "currency": "INR", "utr": None,
                "created_at": "2026-01-01T00:00:00+00:00"}
        if self.bad_schema:
            data["amount"] = 10.0
        return [Event.create(type="settlement.processed", subject=doc["id"],
                             idempotency_key=f"settlement.processed:{key}", data=data)]

def make_test(**planted):
    source = type("Planted", (Source,), planted)
    class TestPlanted(WebhookSourceContract):
        pass
    TestPlanted.source = source
    TestPlanted.config = {"secret": "s3"}
    TestPlanted.payloads = Path(__file__).parent / "payloads"
    TestPlanted.sign = lambda self, body: {"X-Sig": hmac_hex("s3", body)}
    n = {"i": 0}
    def redeliver(self, name, body):
        n["i"] += 1
        return {"X-Delivery": f"d{n['i']}"}
    TestPlanted.headers_for = lambda self, name, body: {"Content-Type": "application/json", "X-Delivery": "d0"}
    TestPlanted.redelivery_headers = redeliver
    return TestPlanted

TestUnderTest = make_test(PLANTED)
"""


def _run(pytester: pytest.Pytester, planted: str) -> pytest.RunResult:
    pytester.mkdir("payloads")
    (pytester.path / "payloads" / "one.json").write_text('{"id": "setl_1"}')
    pytester.makepyfile(test_planted=textwrap.dedent(SOURCE).replace("PLANTED", planted))
    return pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")


def test_a_correct_source_passes(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "")
    result.assert_outcomes(passed=8)


def test_ignoring_the_signature_is_caught(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "check_signature=False")
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines(
        ["*test_tampered_body_is_rejected*", "*test_missing_signature_is_rejected*"]
    )


def test_a_key_that_changes_on_redelivery_is_caught(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "key_from_delivery=True")
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["*keys changed on redelivery*"])


def test_an_event_off_its_schema_is_caught(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "bad_schema=True")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*amount*"])


ACTION = """
from __future__ import annotations
import pytest
from pydantic import BaseModel
from hub import Action, ConnectorConfig, PermanentError, TransientError, raise_for_status
from hub.testing import ActionContract
from connectors.zoho_books import connector as books, RecordPayment, UpsertContact

class Sloppy(RecordPayment):
    async def run(self, item, ctx):
        MODE
        return await super().run(item, ctx)

class TestSloppy(ActionContract):
    connector = books
    action = Sloppy
    valid_input = {"customer_id": "", "amount": "10.00", "date": "2026-11-20"}
    write = "POST /books/v3/customerpayments"
    records = staticmethod(lambda state: state["payments"])
    auth_refreshes = True

    def config_for(self, url):
        return {"accounts_url": url, "api_domain": url, "organization_id": "60012345678",
                "client_id": "1000.SANDBOX", "client_secret": "sandbox-secret",
                "refresh_token": "1000.sandbox.refresh"}

    async def prepare(self, sandbox, item):
        c = await self.run(sandbox, {"contact_name": "A", "email": "a@example.in"}, "c", UpsertContact)
        return {**item, "customer_id": c["contact_id"]}
"""

RETRYING = """
        import asyncio
        for _ in range(3):
            try:
                return await super().run(item, ctx)
            except TransientError:
                await asyncio.sleep(0.01)"""

TRANSIENT_422 = """
        try:
            return await super().run(item, ctx)
        except PermanentError as exc:
            raise TransientError(str(exc)) from exc"""


def _run_action(pytester: pytest.Pytester, mode: str) -> pytest.RunResult:
    pytester.makepyfile(test_sloppy=textwrap.dedent(ACTION).replace("        MODE", mode))
    return pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")


def test_an_action_that_retries_on_its_own_is_caught(pytester: pytest.Pytester) -> None:
    result = _run_action(pytester, RETRYING)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*test_never_retries_or_sleeps_on_its_own*"])


def test_an_action_that_makes_422_transient_is_caught(pytester: pytest.Pytester) -> None:
    result = _run_action(pytester, TRANSIENT_422)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*test_status_maps_to_error_by_consequence?422*"])
