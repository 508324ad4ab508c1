"""whatsapp.send_message against the WhatsApp sandbox over real loopback HTTP (no mocks)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from multidict import CIMultiDict
from pydantic import ValidationError

from connectors.whatsapp import SendMessage, SendMessageIn, WhatsAppConfig, WhatsAppWebhook
from connectors.whatsapp.actions import callback_data
from connectors.whatsapp.sandbox import (
    SandboxState,
    create_sandbox_app,
    serve,
    signed,
    status_notification,
)
from hub.connector import ActionContext, WebhookRequest
from hub.errors import (
    AuthError,
    ConfigError,
    PermanentError,
    RateLimitError,
    TransientError,
)
from hub.http import HttpClient

KEY = "3f6c1e0b9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
CUSTOMER = "919845012345"
PATH = "/v21.0/110293847561234/messages"


class Clock:
    def __init__(self) -> None:
        self.now = 1_763_800_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> SandboxState:
    return SandboxState(clock=clock)


@pytest.fixture
async def url(state: SandboxState) -> AsyncIterator[str]:
    async with serve(create_sandbox_app(state)) as base:
        yield base


@pytest.fixture
async def http(url: str) -> AsyncIterator[HttpClient]:
    async with HttpClient(base_url=url, timeout=10) as client:
        yield client


def config(url: str, **extra: Any) -> WhatsAppConfig:
    values: dict[str, Any] = {
        "app_secret": "sandbox-app-secret",
        "verify_token": "sandbox-verify-token",
        "access_token": "EAAG-sandbox-token",
        "phone_number_id": "110293847561234",
        "graph_url": url,
        **extra,
    }
    return WhatsAppConfig.model_validate(values)


async def send(url: str, http: HttpClient, key: str = KEY, cfg: Any = None, **item: Any) -> Any:
    action = SendMessage(cfg or config(url), "wa")
    ctx = ActionContext(idempotency_key=key, connection="wa", http=http)
    return await action.run(SendMessageIn(**item), ctx)


async def inbound(http: HttpClient, wa_id: str = CUSTOMER) -> None:
    resp = await http.post("/__sandbox__/inbound", json_body={"from": wa_id, "text": "hi"})
    assert resp.status == 200


async def faults(http: HttpClient, *items: dict[str, Any]) -> None:
    resp = await http.post("/__sandbox__/faults", json_body=list(items))
    assert resp.status == 200, resp.text()


async def sandbox_state(http: HttpClient) -> dict[str, Any]:
    body: dict[str, Any] = (await http.get("/__sandbox__/state")).json()
    return body


# --- input model ---------------------------------------------------------------------------


def test_input_model() -> None:
    assert SendMessageIn(to="+919845012345", text="hi").kind == "text"
    for bad in (
        {"to": "98450", "text": "hi"},
        {"to": "+91 98450 12345", "text": "hi"},
        {"to": CUSTOMER},
        {"to": CUSTOMER, "text": ""},
        {"to": CUSTOMER, "text": "x" * 4097},
        {"to": CUSTOMER, "kind": "template", "text": "hi"},
        {"to": CUSTOMER, "text": "hi", "template": {"name": "t", "language": "en"}},
        {"to": CUSTOMER, "text": "hi", "colour": "red"},
    ):
        with pytest.raises(ValidationError):
            SendMessageIn.model_validate(bad)
    schema = SendMessageIn.model_json_schema()
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name


def test_callback_data_fits_meta_limit() -> None:
    assert callback_data(KEY) == KEY
    assert len(callback_data("k" * 600)) == 64


def test_body_shapes() -> None:
    text = SendMessage.body(SendMessageIn(to="+919845012345", text="hi", reply_to="wamid.X"), KEY)
    assert text == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "biz_opaque_callback_data": KEY,
        "text": {"body": "hi", "preview_url": False},
        "context": {"message_id": "wamid.X"},
    }
    item = SendMessageIn(
        to=CUSTOMER,
        kind="template",
        template={"name": "order_update", "language": "en_US", "components": [{"type": "body"}]},
    )
    assert SendMessage.body(item, KEY)["template"] == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [{"type": "body"}],
    }


# --- success -------------------------------------------------------------------------------


async def test_send_text_inside_the_window(url: str, http: HttpClient) -> None:
    await inbound(http)
    result = await send(url, http, to="+919845012345", text="Your invoice is on its way")
    assert result["message_id"].startswith("wamid.")
    assert result["wa_id"] == CUSTOMER
    sent = (await sandbox_state(http))["sent"]
    assert len(sent) == 1 and sent[0]["status"] == "sent"
    assert sent[0]["body"]["biz_opaque_callback_data"] == KEY
    assert sent[0]["body"]["text"]["body"] == "Your invoice is on its way"


async def test_send_template_and_the_status_round_trip(
    url: str, http: HttpClient, state: SandboxState
) -> None:
    result = await send(
        url,
        http,
        to=CUSTOMER,
        kind="template",
        template={"name": "order_update", "language": "en_US"},
    )
    body, headers = signed(state.app_secret, status_notification(state, state.sent[0], "delivered"))
    src = WhatsAppWebhook(config(url), "wa")
    req = WebhookRequest("POST", "/hooks/wa", CIMultiDict(headers), {}, body)
    src.verify(req)
    [event] = src.parse(req)
    assert event.type == "message.status" and event.subject == result["message_id"]
    assert event.idempotency_key == f"message.status:{result['message_id']}:delivered"
    item = event.raw["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert item["biz_opaque_callback_data"] == KEY  # how a duplicate send is detected


async def test_free_form_outside_the_window_fails_later_like_meta(
    url: str, http: HttpClient, state: SandboxState
) -> None:
    result = await send(url, http, to=CUSTOMER, text="hello?")  # accepted with a wamid...
    doc = status_notification(state, state.sent[0])
    body, headers = signed(state.app_secret, doc)
    src = WhatsAppWebhook(config(url), "wa")
    [event] = src.parse(WebhookRequest("POST", "/", CIMultiDict(headers), {}, body))
    assert event.data["message_id"] == result["message_id"]
    assert event.data["status"] == "failed" and event.data["error"]["code"] == 131047


# --- errors --------------------------------------------------------------------------------


async def test_expired_token_is_auth_error(url: str, http: HttpClient) -> None:
    await http.post("/__sandbox__/expire_tokens")
    with pytest.raises(AuthError) as info:
        await send(url, http, to=CUSTOMER, text="hi")
    assert info.value.status == 401
    assert "Session has expired" in str(info.value) and "[code 190]" in str(info.value)
    assert "re-authorize" in str(info.value)
    assert "EAAG-sandbox-token" not in str(info.value)


async def test_wrong_token_is_auth_error(url: str, http: HttpClient) -> None:
    with pytest.raises(AuthError, match="Invalid OAuth access token"):
        await send(url, http, cfg=config(url, access_token="EAAG-other"), to=CUSTOMER, text="hi")


async def test_rate_limit_is_rate_limit_error_with_retry_after(
    url: str, http: HttpClient, state: SandboxState
) -> None:
    state.messages_per_second = 2
    state.enforce_window = False
    await send(url, http, to=CUSTOMER, text="1")
    await send(url, http, to=CUSTOMER, text="2")
    with pytest.raises(RateLimitError) as info:
        await send(url, http, to=CUSTOMER, text="3")
    assert info.value.status == 429 and info.value.retry_after == 1.0
    assert "[code 130429]" in str(info.value)
    assert len(state.sent) == 2


async def test_rate_limit_code_in_a_400_is_still_rate_limited(url: str, http: HttpClient) -> None:
    await faults(
        http,
        {
            "path": PATH,
            "status": 400,
            "body": {"error": {"message": "(#131056) Pair rate limit hit", "code": 131056}},
        },
    )
    with pytest.raises(RateLimitError, match="too many messages to this recipient"):
        await send(url, http, to=CUSTOMER, text="hi")


async def test_validation_400_is_permanent_with_the_vendor_message(
    url: str, http: HttpClient
) -> None:
    with pytest.raises(PermanentError) as info:
        await send(
            url, http, to=CUSTOMER, kind="template", template={"name": "nope", "language": "en_US"}
        )
    assert type(info.value) is PermanentError
    assert "Template name does not exist" in str(info.value) and "[code 132001]" in str(info.value)
    await faults(
        http,
        {
            "path": PATH,
            "status": 400,
            "body": {
                "error": {
                    "message": "(#131047) Re-engagement message",
                    "type": "OAuthException",
                    "code": 131047,
                    "error_data": {"messaging_product": "whatsapp", "details": "24h passed"},
                }
            },
        },
    )
    with pytest.raises(
        PermanentError,
        match=r"Re-engagement message \(24h passed\) \[code 131047\]; more than 24 hours",
    ) as info2:
        await send(url, http, to=CUSTOMER, text="hi")
    assert type(info2.value) is PermanentError and info2.value.status == 400


async def test_unknown_phone_number_id_is_permanent(url: str, http: HttpClient) -> None:
    with pytest.raises(PermanentError, match="does not exist"):
        await send(url, http, cfg=config(url, phone_number_id="999"), to=CUSTOMER, text="hi")


@pytest.mark.parametrize(("status", "code"), [(500, 1), (503, 131016), (400, 131000)])
async def test_server_errors_are_transient(
    url: str, http: HttpClient, status: int, code: int
) -> None:
    body = {"error": {"message": "Something went wrong", "code": code}}
    await faults(http, {"path": PATH, "status": status, "body": body})
    with pytest.raises(TransientError) as info:
        await send(url, http, to=CUSTOMER, text="hi")
    assert not isinstance(info.value, RateLimitError)


async def test_timeout_after_commit_is_transient_and_may_duplicate(
    url: str, state: SandboxState
) -> None:
    """The documented limit: no idempotency on the Cloud API, so the retry sends again."""
    state.enforce_window = False
    async with HttpClient(base_url=url, timeout=0.3) as http:
        await faults(http, {"path": PATH, "kind": "commit_then_timeout", "delay": 2})
        with pytest.raises(TransientError, match="timed out"):
            await send(url, http, to=CUSTOMER, text="hi")
        await send(url, http, to=CUSTOMER, text="hi")
    assert len(state.sent) == 2
    assert {s["body"]["biz_opaque_callback_data"] for s in state.sent} == {KEY}  # detectable


async def test_missing_credentials_is_a_config_error(url: str, http: HttpClient) -> None:
    cfg = WhatsAppConfig(app_secret="a", verify_token="v", graph_url=url)
    with pytest.raises(ConfigError, match="access_token and phone_number_id"):
        await send(url, http, cfg=cfg, to=CUSTOMER, text="hi")


# --- sandbox control routes ----------------------------------------------------------------


async def test_sandbox_control_routes_and_mark_read(url: str, http: HttpClient) -> None:
    resp = await http.post(
        "/__sandbox__/settings", json_body={"messages_per_second": 5, "undeliverable": [CUSTOMER]}
    )
    assert resp.json()["messages_per_second"] == 5
    await faults(http, {"path": PATH, "status": 503})
    assert (await http.get("/__sandbox__/faults")).json()["pending"][0]["status"] == 503
    await http.post("/__sandbox__/reset")
    assert (await sandbox_state(http))["faults_pending"] == []
    headers = {"Authorization": "Bearer EAAG-sandbox-token"}
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"}
    resp = await http.post(PATH, json_body=read, headers=headers)
    assert resp.json() == {"success": True}
    resp = await http.post(PATH, json_body={"messaging_product": "whatsapp"}, headers=headers)
    assert resp.status == 400 and resp.json()["error"]["code"] == 100
    resp = await http.post("/__sandbox__/faults", json_body={"nope": 1})
    assert resp.status == 400


async def test_inbound_route_gives_a_signed_notification(url: str, http: HttpClient) -> None:
    resp = await http.post(
        "/__sandbox__/inbound", json_body={"from": CUSTOMER, "text": "नमस्ते", "name": "Ananya"}
    )
    answer = resp.json()
    body = answer["body"].encode()
    src = WhatsAppWebhook(config(url), "wa")
    req = WebhookRequest("POST", "/", CIMultiDict(answer["headers"]), {}, body)
    src.verify(req)
    [event] = src.parse(req)
    assert event.data["text"] == "नमस्ते" and event.data["from"]["name"] == "Ananya"
    assert json.loads(body)["entry"][0]["changes"][0]["field"] == "messages"


async def test_undeliverable_number_fails_asynchronously(
    url: str, http: HttpClient, state: SandboxState
) -> None:
    state.undeliverable = {CUSTOMER}
    await inbound(http)
    await send(url, http, to=CUSTOMER, text="hi")
    assert state.sent[0]["status"] == "failed" and state.sent[0]["error"]["code"] == 131026
