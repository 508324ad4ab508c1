"""Bad input gets a clear status and loses nothing (ARCHITECTURE.md, Ingress)."""

from __future__ import annotations

import io
from typing import Any

from hub.store import EventFilter
from tests.helpers import payment_body, sign


async def _stored(hub: Any) -> int:
    events, _ = await hub.hub.store.list_events(EventFilter(limit=10))
    return len(events)


async def test_wrong_signature_is_401_counted_and_not_stored(running_hub: Any) -> None:
    hub = await running_hub()
    body = payment_body(1)
    resp = await hub.post(body, headers={"X-Razorpay-Signature": sign(body, "not-the-secret")})
    assert resp.status == 401
    tampered = body.replace(b'"INR"', b'"USD"')
    resp = await hub.post(tampered, headers={"X-Razorpay-Signature": sign(body)})
    assert resp.status == 401
    assert await _stored(hub) == 0
    async with hub.http.get(f"{hub.url}/metrics") as metrics:
        text = await metrics.text()
    assert 'hub_webhook_signature_failures_total{connection="razorpay-main"} 2.0' in text


async def test_non_json_is_400_and_not_stored(running_hub: Any) -> None:
    hub = await running_hub()
    body = b"this is not json {"
    async with hub.http.post(
        f"{hub.url}/hooks/razorpay-main", data=body, headers={"X-Razorpay-Signature": sign(body)}
    ) as resp:
        assert resp.status == 400
        doc = await resp.json()
    assert "JSON" in doc["error"]
    assert await _stored(hub) == 0


async def test_two_mebibyte_body_is_413(running_hub: Any) -> None:
    hub = await running_hub()
    body = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    async with hub.http.post(
        f"{hub.url}/hooks/razorpay-main",
        data=io.BytesIO(body),
        headers={"X-Razorpay-Signature": sign(body), "Content-Length": str(len(body))},
    ) as resp:
        assert resp.status == 413

    # Without Content-Length (chunked), the limit still holds.
    async def chunks() -> Any:
        for _ in range(3):
            yield b" " * (1024 * 1024)

    async with hub.http.post(
        f"{hub.url}/hooks/razorpay-main", data=chunks(), headers={"X-Razorpay-Signature": "x"}
    ) as resp:
        assert resp.status == 413
    assert await _stored(hub) == 0


async def test_unknown_connection_is_404(running_hub: Any) -> None:
    hub = await running_hub()
    body = payment_body(1)
    resp = await hub.post(body, connection="razorpay-mian")
    assert resp.status == 404
    assert await _stored(hub) == 0


async def test_get_on_a_source_without_handshake_is_405(running_hub: Any) -> None:
    hub = await running_hub()
    async with hub.http.get(f"{hub.url}/hooks/razorpay-main") as resp:
        assert resp.status == 405


async def test_unhandled_razorpay_event_is_acknowledged_and_dropped(running_hub: Any) -> None:
    hub = await running_hub()
    body = b'{"entity":"event","account_id":"acc_1","event":"payment.dispute.created","contains":["payment","dispute"],"payload":{},"created_at":1731654318}'
    resp = await hub.post(body)
    assert resp.status == 200
    assert await _stored(hub) == 0


async def test_health_and_readiness(running_hub: Any) -> None:
    hub = await running_hub()
    async with hub.http.get(f"{hub.url}/healthz") as resp:
        assert resp.status == 200
    async with hub.http.get(f"{hub.url}/readyz") as resp:
        assert resp.status == 200
        assert (await resp.json()) == {"store": "ok", "engine": "ok"}
