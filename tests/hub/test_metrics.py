"""``/metrics`` after real traffic: every family the issue lists is there, with its labels."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import RunningHub, Sandbox, payment_body, sign


async def scrape(hub: RunningHub) -> dict[str, list[tuple[dict[str, str], float]]]:
    async with hub.http.get(f"{hub.url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def value(
    metrics: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    for got, v in metrics.get(name, []):
        if all(got.get(k) == want for k, want in labels.items()):
            return v
    raise AssertionError(f"no {name} with {labels}; have {metrics.get(name)}")


async def test_every_family_appears_with_its_labels_after_real_traffic(
    running_hub: Any, sandbox: Sandbox
) -> None:
    # Two sink failures: a 400 (dead letter at once) and a 500 (retried, then fine).
    await sandbox.faults(
        [
            {"path": "/books/v3/contacts", "method": "GET", "status": 400},
            {"path": "/books/v3/contacts", "method": "GET", "status": 500},
        ]
    )
    hub = await running_hub(books={"daily_api_calls": 100_000})
    for n in range(4):
        assert (await hub.post(payment_body(n, seed=11))).status == 202
    bad = payment_body(99, seed=11)
    resp = await hub.post(bad, headers={"X-Razorpay-Signature": sign(bad, "wrong-secret")})
    assert resp.status == 401
    await hub.settled(4)
    m = await scrape(hub)

    assert (
        value(m, "hub_events_received_total", connection="razorpay-main", type="payment.captured")
        == 4
    )
    assert value(m, "hub_webhook_signature_failures_total", connection="razorpay-main") == 1
    assert value(m, "hub_deliveries_total", connection="books", outcome="dead") == 1
    assert value(m, "hub_deliveries_total", connection="books", outcome="retry") == 1
    assert value(m, "hub_deliveries_total", connection="books", outcome="ok") >= 6
    assert (
        value(m, "hub_step_retries_total", connection="books", action="zoho_books.upsert_contact")
        == 1
    )
    assert value(m, "hub_attempt_seconds_count", connection="books") >= 8
    assert value(m, "hub_attempt_seconds_bucket", connection="books", le="+Inf") >= 8
    assert value(m, "hub_first_attempt_delay_seconds_count", connection="books") == 4
    assert value(m, "hub_backlog_steps", connection="books") == 0
    assert value(m, "hub_api_calls", connection="books", window="day") >= 8
    assert value(m, "hub_api_call_limit", connection="books", window="day") == 100_000
    assert 0 < value(m, "hub_api_credit_fraction", connection="books") < 0.01
    assert value(m, "hub_alerts_raised_total", rule="dead_letter") == 1
    assert value(m, "hub_ingest_seconds_count") == 4

    # Work that cannot run now is backlog: stop the engine, send two more.
    assert hub.hub.dispatcher is not None
    await hub.hub.dispatcher.stop()
    for n in range(10, 12):
        assert (await hub.post(payment_body(n, seed=11))).status == 202
    m = await scrape(hub)
    assert value(m, "hub_backlog_steps", connection="books") == 2
