"""The one status → error map, redaction, and the attempt recorder, against a real server."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.errors import AuthError, PermanentError, RateLimitError, TransientError
from hub.http import (
    HttpClient,
    Response,
    raise_for_status,
    record_exchanges,
    redact,
    stop_recording,
)


def _resp(status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> Response:
    return Response(status, headers or {}, body, "https://api.example/v1/things?x=1", "POST")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, PermanentError),
        (404, PermanentError),
        (409, PermanentError),
        (422, PermanentError),
        (401, AuthError),
        (403, AuthError),
        (408, TransientError),
        (429, RateLimitError),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
    ],
)
def test_status_maps_to_error_by_consequence(status: int, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        raise_for_status(_resp(status, b'{"message": "Customer does not exist", "code": 1002}'))
    assert type(info.value) is error
    if status not in (429, 500, 502, 503, 408):
        assert "Customer does not exist (code 1002)" in str(info.value)


def test_success_statuses_raise_nothing() -> None:
    for status in (200, 201, 202, 204, 304):
        raise_for_status(_resp(status))


def test_retry_after_seconds_and_http_date() -> None:
    with pytest.raises(RateLimitError) as info:
        raise_for_status(_resp(429, headers={"Retry-After": "42"}))
    assert info.value.retry_after == 42
    with pytest.raises(RateLimitError) as info:
        raise_for_status(_resp(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert info.value.retry_after == 0


def test_errors_pickle_with_their_fields() -> None:
    err = RateLimitError("slow down", 429, "detail", retry_after=7)
    back = pickle.loads(pickle.dumps(err))
    assert (back.message, back.status, back.detail, back.retry_after) == (
        "slow down",
        429,
        "detail",
        7,
    )


def test_redact_hides_secret_keys_and_query_values() -> None:
    doc = {
        "refresh_token": "abc",
        "nested": {"Authorization": "Zoho-oauthtoken x", "amount": 5},
        "url": "https://a/token?refresh_token=SECRET&grant_type=refresh_token",
    }
    out = redact(doc)
    assert out["refresh_token"] == "***"
    assert out["nested"] == {"Authorization": "***", "amount": 5}
    assert "SECRET" not in out["url"]


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "access_token": "tok-123"})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_get("/slow", slow)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


async def test_client_records_redacted_exchanges(server: TestServer) -> None:
    async with HttpClient(str(server.make_url("/"))) as client:
        sink, token = record_exchanges()
        try:
            resp = await client.post(
                "/ok", json_body={"client_secret": "s3cret", "amount": "10.00"}
            )
        finally:
            stop_recording(token)
    assert resp.status == 200 and resp.json()["ok"] is True
    [ex] = sink
    assert ex.method == "POST" and ex.status == 200
    assert "s3cret" not in (ex.request or "") and "10.00" in (ex.request or "")
    assert "tok-123" not in (ex.response or "")


async def test_timeout_is_transient_and_says_retry_must_be_idempotent(server: TestServer) -> None:
    async with HttpClient(str(server.make_url("/")), timeout=0.2) as client:
        with pytest.raises(TransientError, match="idempotent"):
            await client.get("/slow")


async def test_refused_connection_is_transient() -> None:
    async with HttpClient("http://127.0.0.1:9") as client:
        with pytest.raises(TransientError):
            await client.get("/nothing")
