"""The core spine end to end: signed Razorpay webhooks → events → recipe → Zoho Books sandbox.

Real HTTP servers on 127.0.0.1 (the hub and the sandbox), a real SQLite store,
the inline engine; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hub.store import DeliveryFilter, EventFilter
from tests.helpers import RunningHub, Sandbox, fast_recipe, payment_body

CUSTOMER_PAYMENTS = "/books/v3/customerpayments"


async def _deliveries(hub: RunningHub, **flt: Any) -> list[Any]:
    rows, _ = await hub.hub.store.list_deliveries(DeliveryFilter(limit=500, **flt))
    return rows


async def test_signed_payment_lands_once_with_contact(running_hub: Any, sandbox: Sandbox) -> None:
    hub = await running_hub()
    body = payment_body(1)
    resp = await hub.post(body)
    assert resp.status == 202
    await hub.settled(1)

    payments = await sandbox.payments()
    contacts = await sandbox.contacts()
    assert len(payments) == 1 and len(contacts) == 1
    sent = json.loads(body)["payload"]["payment"]["entity"]
    payment = payments[0]
    assert str(payment["amount"]).startswith(f"{sent['amount'] // 100}")
    assert payment["customer_id"] == contacts[0]["contact_id"]
    assert contacts[0]["email"] == sent["email"]
    steps = await _deliveries(hub)
    assert sorted((s.step_id, s.status) for s, _ in steps) == [
        ("contact", "succeeded"),
        ("payment", "succeeded"),
    ]


async def test_same_webhook_five_times_and_concurrently_is_one_payment(
    running_hub: Any, sandbox: Sandbox
) -> None:
    hub = await running_hub()
    body = payment_body(2)
    for _ in range(5):
        assert (await hub.post(body)).status == 202
    results = await asyncio.gather(*(hub.post(body) for _ in range(20)))
    assert {r.status for r in results} == {202}
    await hub.settled(1)
    await asyncio.sleep(0.3)  # give a wrongly created second run time to show itself

    events, _ = await hub.hub.store.list_events(EventFilter(limit=100))
    assert len(events) == 1
    counts = await hub.hub.store.counts()
    assert counts["runs_succeeded"] == 1
    assert len(await sandbox.payments()) == 1


async def test_two_failures_then_success_is_one_payment_in_three_attempts(
    running_hub: Any, sandbox: Sandbox
) -> None:
    hub = await running_hub()
    await sandbox.faults([{"method": "POST", "path": CUSTOMER_PAYMENTS, "status": 500}] * 2)
    await hub.post(payment_body(3))
    await hub.settled(1)
    assert len(await sandbox.payments()) == 1
    [(step, _)] = await _deliveries(hub, status="succeeded", recipe=None, connection=None) and [
        row for row in await _deliveries(hub) if row[0].step_id == "payment"
    ]
    assert step.status == "succeeded" and step.attempts == 3
    attempts = await hub.hub.store.list_attempts(step.id)
    assert [a.outcome for a in attempts] == ["transient", "transient", "ok"]
    assert all(a.status_code == 500 for a in attempts[:2])
    assert "500" in (attempts[0].error or "")


async def test_commit_then_timeout_is_retried_and_still_one_payment(
    running_hub: Any, sandbox: Sandbox
) -> None:
    hub = await running_hub(books={"timeout": 0.5})
    await sandbox.faults(
        [{"method": "POST", "path": CUSTOMER_PAYMENTS, "kind": "commit_then_timeout", "delay": 2.0}]
    )
    await hub.post(payment_body(4))
    await hub.settled(1, timeout=30)
    assert len(await sandbox.payments()) == 1
    [step] = [s for s, _ in await _deliveries(hub) if s.step_id == "payment"]
    assert step.status == "succeeded"
    attempts = await hub.hub.store.list_attempts(step.id)
    assert [a.outcome for a in attempts] == ["transient", "ok"]
    assert "timed out" in (attempts[0].error or "")


async def test_validation_error_dead_letters_with_reason_then_replay_delivers(
    running_hub: Any, sandbox: Sandbox
) -> None:
    hub = await running_hub()
    await sandbox.faults(
        [
            {
                "method": "POST",
                "path": CUSTOMER_PAYMENTS,
                "status": 400,
                "body": {"code": 1038, "message": "Please enter a valid amount."},
            }
        ]
    )
    await hub.post(payment_body(5))
    counts = await hub.settled(1)
    assert counts["runs_dead"] == 1
    [step] = [s for s, _ in await _deliveries(hub) if s.step_id == "payment"]
    assert step.status == "dead" and step.attempts == 1
    assert "Please enter a valid amount" in (step.last_error or "")
    assert await sandbox.payments() == []

    # "After fixing": the fault is gone; ops replay the dead delivery.
    assert await hub.hub.store.replay([step.id]) == 1
    assert hub.hub.dispatcher is not None
    hub.hub.dispatcher.notify()
    await hub.wait_for(lambda c: c.get("runs_succeeded", 0) == 1)
    assert len(await sandbox.payments()) == 1
    # The replay kept the idempotency key: the same key is on the payment.
    [after] = [s for s, _ in await _deliveries(hub) if s.step_id == "payment"]
    assert after.idempotency_key == step.idempotency_key and after.status == "succeeded"


async def test_token_expiry_mid_run_is_refreshed_without_a_failed_delivery(
    running_hub: Any, sandbox: Sandbox
) -> None:
    hub = await running_hub()
    await hub.post(payment_body(6))
    await hub.settled(1)
    await sandbox.expire_tokens()
    for n in range(7, 12):
        await hub.post(payment_body(n))
    counts = await hub.settled(6)
    assert counts["runs_dead"] == 0 and counts["runs_succeeded"] == 6
    assert len(await sandbox.payments()) == 6
    for step, _ in await _deliveries(hub):
        attempts = await hub.hub.store.list_attempts(step.id)
        assert [a.outcome for a in attempts] == ["ok"], step


async def test_many_distinct_payments_each_land_once(running_hub: Any, sandbox: Sandbox) -> None:
    hub = await running_hub()
    await asyncio.gather(*(hub.post(payment_body(100 + n)) for n in range(40)))
    counts = await hub.settled(40, timeout=60)
    assert counts["runs_succeeded"] == 40
    payments = await sandbox.payments()
    assert len(payments) == 40
    assert len({p["reference_number"] for p in payments}) == 40


async def test_recipe_with_bad_input_dead_letters_naming_the_field(
    running_hub: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    recipe = fast_recipe(tmp_path)
    text = recipe.read_text().replace("{{ event.data.amount }}", "{{ event.data.amount }} rupees")
    recipe.write_text(text)
    hub = await running_hub(recipes=[recipe])
    await hub.post(payment_body(13))
    await hub.settled(1)
    [step] = [s for s, _ in await _deliveries(hub) if s.step_id == "payment"]
    assert step.status == "dead"
    assert "with.amount" in (step.last_error or "")


async def test_rate_limit_waits_for_retry_after_then_delivers(
    running_hub: Any, sandbox: Sandbox
) -> None:
    hub = await running_hub()
    await sandbox.faults(
        [
            {
                "method": "POST",
                "path": CUSTOMER_PAYMENTS,
                "status": 429,
                "headers": {"Retry-After": "1"},
                "body": {"code": 45, "message": "You have made too many requests."},
            }
        ]
    )
    await hub.post(payment_body(14))
    await hub.settled(1)
    [step] = [s for s, _ in await _deliveries(hub) if s.step_id == "payment"]
    first, second = await hub.hub.store.list_attempts(step.id)
    assert first.outcome == "transient" and first.status_code == 429
    assert "rate limited" in (first.error or "")
    # The recipe's own backoff is 50 ms; Retry-After: 1 is a floor on the wait.
    waited = (second.started_at - first.started_at).total_seconds()
    assert waited >= 1.0, waited
    assert len(await sandbox.payments()) == 1


async def test_spent_daily_budget_makes_work_wait_not_fail(
    running_hub: Any, sandbox: Sandbox
) -> None:
    """Books allows the org N calls a day: the hub stops at N and waits; nothing is dead-lettered."""
    hub = await running_hub(books={"daily_api_calls": 9})
    for n in range(3):  # each payment costs 4 calls: search+create contact, search+create payment
        await hub.post(payment_body(200 + n))
    await hub.wait_for(lambda c: c.get("events", 0) == 3)
    await asyncio.sleep(2.0)  # let every run go as far as the budget allows
    counts = await hub.hub.store.counts()
    assert counts["runs_dead"] == 0 and counts["runs_succeeded"] < 3
    state = await sandbox.state()
    api_calls = sum(
        n for route, n in state["requests"]["by_route"].items() if "/books/v3/" in route
    )
    assert api_calls <= 9, f"the hub spent {api_calls} calls of a 9-call budget"
    assert len(await sandbox.payments()) == counts["runs_succeeded"]
    waiting = [s for s, _ in await _deliveries(hub) if s.status == "pending"]
    assert waiting and all(s.attempts == 0 for s in waiting), "waiting for budget used up attempts"
    assert all(s.due_at is not None and s.due_at > s.updated_at for s in waiting)
    row = await hub.hub.store.get_connection("books")
    assert row is not None and row.state.get("api_budget_alert") is True
    assert row.state["api_budget"]["day_limit"] == 9
