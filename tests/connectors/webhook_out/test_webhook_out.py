"""webhook_out: Standard Webhooks signing and verify, config, the SSRF guard, and the action."""

from __future__ import annotations

import base64
import ipaddress
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import ValidationError

from connectors.webhook_out import (
    SANDBOX_SECRET,
    SandboxState,
    SendWebhook,
    WebhookIn,
    WebhookOutConfig,
    connector,
    create_sandbox_app,
    generate_secret,
    safety,
    sign,
    verify,
)
from connectors.webhook_out.actions import encode_body, target_url
from connectors.webhook_out.safety import (
    PinnedResolver,
    RedirectRefused,
    UnsafeAddressError,
    classify,
    host_allowed,
    parse_ip,
    resolve_checked,
)
from connectors.webhook_out.signature import decode_secret, signature_header
from hub.connector import ActionContext
from hub.errors import AuthError, PermanentError, RateLimitError, SignatureError, TransientError
from hub.http import HttpClient

# The Standard Webhooks reference test vector
# (standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py, test_sign_function).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"n" * 32).decode()


def _headers(secret: str | list[str], msg_id: str, ts: int, body: bytes) -> dict[str, str]:
    keys = [secret] if isinstance(secret, str) else secret
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature_header(keys, msg_id, ts, body),
    }


# --- signatures ----------------------------------------------------------------------------


def test_sign_matches_the_spec_test_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_verify_accepts_the_spec_test_vector() -> None:
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }
    assert verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 10) == SPEC_ID


def test_verify_headers_are_case_insensitive() -> None:
    headers = {k.upper(): v for k, v in _headers(NEW_SECRET, "m1", 1000, b"{}").items()}
    assert verify(NEW_SECRET, headers, b"{}", now=1000) == "m1"


def test_rotation_sends_two_signatures_and_either_secret_verifies() -> None:
    headers = _headers([NEW_SECRET, OLD_SECRET], "msg_1", 1000, b'{"a":1}')
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(s.startswith("v1,") for s in headers["webhook-signature"].split(" "))
    assert verify(NEW_SECRET, headers, b'{"a":1}', now=1000) == "msg_1"
    assert verify(OLD_SECRET, headers, b'{"a":1}', now=1000) == "msg_1"
    with pytest.raises(SignatureError):
        verify(generate_secret(), headers, b'{"a":1}', now=1000)


def test_a_receiver_may_accept_several_secrets() -> None:
    headers = _headers(OLD_SECRET, "msg_1", 1000, b"{}")
    assert verify([NEW_SECRET, OLD_SECRET], headers, b"{}", now=1000) == "msg_1"


def test_other_signature_versions_and_garbage_are_skipped() -> None:
    good = sign(NEW_SECRET, "m", 1000, b"{}")
    headers = {
        "webhook-id": "m",
        "webhook-timestamp": "1000",
        "webhook-signature": f"v1a,AAAA v2,{good[3:]} v1,not-base64!! {good}",
    }
    assert verify(NEW_SECRET, headers, b"{}", now=1000) == "m"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": b'{"a":2}'}, "no webhook-signature matches"),
        ({"webhook-id": "msg_2"}, "no webhook-signature matches"),
        ({"webhook-timestamp": "1001"}, "no webhook-signature matches"),
        ({"webhook-signature": ""}, "missing"),
        ({"webhook-id": ""}, "missing"),
        ({"webhook-timestamp": "soon"}, "not an integer"),
        ({"webhook-signature": "v1,AAAA"}, "no webhook-signature matches"),
    ],
)
def test_verify_rejects_tampering(change: dict[str, Any], message: str) -> None:
    body = b'{"a":1}'
    headers = _headers(NEW_SECRET, "msg_1", 1000, body)
    body = change.pop("body", body)
    headers.update(change)
    with pytest.raises(SignatureError, match=message):
        verify(NEW_SECRET, headers, body, now=1000)


@pytest.mark.parametrize("skew", [301, -301, 86400])
def test_verify_rejects_timestamps_outside_the_tolerance(skew: int) -> None:
    headers = _headers(NEW_SECRET, "msg_1", 1000, b"{}")
    with pytest.raises(SignatureError, match="tolerance"):
        verify(NEW_SECRET, headers, b"{}", now=1000 + skew)
    assert verify(NEW_SECRET, headers, b"{}", now=1000 + 300) == "msg_1"
    assert verify(NEW_SECRET, headers, b"{}", tolerance=90000, now=1000 + skew)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_<base64>"),
        ("whsec_***not base64***", "not valid base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "decodes to 5 bytes"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "decodes to 65 bytes"),
    ],
)
def test_bad_secrets_are_explained_with_a_generate_hint(secret: str, problem: str) -> None:
    with pytest.raises(ValueError, match="generate one with") as info:
        decode_secret(secret)
    assert problem in str(info.value)
    assert secret[6:] not in str(info.value)


def test_generated_secrets_are_valid_and_unpadded_ones_decode() -> None:
    assert len(decode_secret(generate_secret())) == 32
    assert decode_secret(SPEC_SECRET.rstrip("=")) == base64.b64decode(SPEC_SECRET[6:])


# --- config --------------------------------------------------------------------------------


def _config(**overrides: Any) -> WebhookOutConfig:
    raw: dict[str, Any] = {"url": "https://hooks.example.com/in", "secret": NEW_SECRET}
    raw.update(overrides)
    return WebhookOutConfig.model_validate(raw)


def test_config_masks_secrets_and_rejects_unknown_keys() -> None:
    cfg = _config(previous_secret=OLD_SECRET)
    dumped = json.dumps(cfg.model_dump())
    assert NEW_SECRET not in dumped and OLD_SECRET not in dumped
    with pytest.raises(ValidationError):
        _config(sekret=NEW_SECRET)


def test_config_rejects_a_secret_without_showing_it() -> None:
    with pytest.raises(ValidationError) as info:
        _config(secret="hunter2-plain-password")
    assert "whsec_" in str(info.value) and "generate one with" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url": "http://hooks.example.com/in"}, "allow_insecure_http"),
        ({"url": "ftp://hooks.example.com/in"}, "absolute https"),
        ({"url": "/relative"}, "absolute https"),
        ({"url": "https://user:pw@hooks.example.com/in"}, "credentials"),
        ({"url": "https://hooks.example.com/in#x"}, "fragment"),
        ({"allowed_hosts": ["other.example.com"]}, "not in allowed_hosts"),
        ({"allowed_hosts": ["https://hooks.example.com"]}, "not a host name"),
        ({"headers": {"Authorization": "Bearer x"}}, "credential"),
        ({"headers": {"X-Api-Key": "x"}}, "credential"),
        ({"headers": {"webhook-id": "x"}}, "cannot be overridden"),
        ({"headers": {"Bad Header": "x"}}, "not a valid header name"),
        ({"headers": {"X-A": "a\r\nX-B: b"}}, "line break"),
        ({"timeout": 0}, "greater than 0"),
    ],
)
def test_config_rejections(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _config(**overrides)


def test_config_accepts_http_when_allowed_and_wildcard_hosts() -> None:
    assert _config(url="http://hooks.example.com/in", allow_insecure_http=True)
    assert _config(url="https://a.example.org/x", allowed_hosts=["*.example.org"])


# --- input and body ------------------------------------------------------------------------


def test_event_type_is_the_body_type_field_and_the_body_is_compact() -> None:
    item = WebhookIn(
        payload={"data": {"id": "p1", "name": "Ananya"}}, event_type="payment.captured"
    )
    body = encode_body(item.body())
    assert body == b'{"type":"payment.captured","data":{"id":"p1","name":"Ananya"}}'
    assert encode_body(WebhookIn(payload={"ü": "é"}).body()) == '{"ü":"é"}'.encode()


def test_payload_may_be_json_text_but_must_be_an_object() -> None:
    assert WebhookIn.model_validate({"payload": '{"a": 1}'}).payload == {"a": 1}
    with pytest.raises(ValidationError, match="JSON object"):
        WebhookIn.model_validate({"payload": "[1, 2]"})
    with pytest.raises(ValidationError, match="not JSON"):
        WebhookIn.model_validate({"payload": "{nope"})


def test_conflicting_event_types_are_rejected() -> None:
    with pytest.raises(ValidationError, match="drop one"):
        WebhookIn(payload={"type": "a.b"}, event_type="c.d")
    same = WebhookIn(payload={"type": "a.b", "x": 1}, event_type="a.b")
    assert same.body() == {"type": "a.b", "x": 1}


def test_unencodable_payloads_are_permanent_errors() -> None:
    with pytest.raises(PermanentError, match="cannot be encoded"):
        encode_body({"x": float("nan")})


@pytest.mark.parametrize(
    "path", ["../admin", "a/../../b", "x?y=1", "x#f", "a\\b", "https://evil.example/x", "a/./b"]
)
def test_url_path_must_be_a_plain_relative_path(path: str) -> None:
    with pytest.raises(ValidationError):
        WebhookIn(payload={}, url_path=path)


def test_url_path_is_appended_and_never_changes_the_host() -> None:
    assert str(target_url("https://h.example.com/in?k=1", "orders/x")) == (
        "https://h.example.com/in/orders/x?k=1"
    )
    assert target_url("https://h.example.com", "@evil.example/x").host == "h.example.com"
    assert target_url("https://h.example.com/", "//evil.example/x").host == "h.example.com"


# --- SSRF guard: pure classification ------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address", "reason"),
    [
        ("127.0.0.1", "127.0.0.1", "loopback"),
        ("127.1", "127.0.0.1", "loopback"),
        ("0x7f.1", "127.0.0.1", "loopback"),
        ("0x7F000001", "127.0.0.1", "loopback"),
        ("2130706433", "127.0.0.1", "loopback"),
        ("0177.0.0.1", "127.0.0.1", "loopback"),
        ("127.255.255.254", "127.255.255.254", "loopback"),
        ("[::1]", "::1", "loopback"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1", "loopback"),
        ("::ffff:7f00:1", "::ffff:127.0.0.1", "loopback"),
        ("[::ffff:169.254.169.254]", "::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a00:1", "64:ff9b::a00:1", "private"),
        ("2002:c0a8:101::", "2002:c0a8:101::", "private"),
        ("10.0.0.1", "10.0.0.1", "private (RFC 1918)"),
        ("10.1", "10.0.0.1", "private"),
        ("172.16.0.1", "172.16.0.1", "private"),
        ("172.31.255.255", "172.31.255.255", "private"),
        ("192.168.1.10", "192.168.1.10", "private"),
        ("169.254.169.254", "169.254.169.254", "link-local"),
        ("169.254.0.1", "169.254.0.1", "link-local"),
        ("[fe80::1]", "fe80::1", "link-local"),
        ("fe80::1%eth0", "fe80::1", "link-local"),
        ("fd00::1", "fd00::1", "unique-local"),
        ("[fd00:ec2::254]", "fd00:ec2::254", "unique-local"),
        ("fc00::1", "fc00::1", "unique-local"),
        ("fec0::1", "fec0::1", "site-local"),
        ("224.0.0.1", "224.0.0.1", "multicast"),
        ("239.255.255.250", "239.255.255.250", "multicast"),
        ("ff02::1", "ff02::1", "multicast"),
        ("0.0.0.0", "0.0.0.0", "unspecified"),
        ("0", "0.0.0.0", "unspecified"),
        ("[::]", "::", "unspecified"),
        ("100.100.100.200", "100.100.100.200", "shared address space"),
        ("192.0.2.1", "192.0.2.1", "reserved"),
        ("198.18.0.1", "198.18.0.1", "reserved"),
        ("240.0.0.1", "240.0.0.1", "reserved"),
        ("255.255.255.255", "255.255.255.255", "reserved"),
        ("2001:db8::1", "2001:db8::1", "reserved"),
    ],
)
def test_non_public_addresses_are_refused(host: str, address: str, reason: str) -> None:
    ip = parse_ip(host)
    assert ip == ipaddress.ip_address(address)
    assert ip is not None
    refused = classify(ip)
    assert refused is not None and reason in refused
    with pytest.raises(UnsafeAddressError, match="allow_private_networks"):
        safety.check_address(ip, host, allow_private=False)
    safety.check_address(ip, host, allow_private=True)  # the operator's explicit choice


@pytest.mark.parametrize(
    "host",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "[2606:4700:4700::1111]",
        "::ffff:8.8.8.8",
        "172.32.0.1",
    ],
)
def test_public_addresses_pass(host: str) -> None:
    ip = parse_ip(host)
    assert ip is not None and classify(ip) is None


@pytest.mark.parametrize(
    "host", ["example.com", "1.2.3.4.5", "256.1.1.1", "1_0.0.0.1", "0x", "1.16777216", "", "::g"]
)
def test_names_and_malformed_literals_are_not_addresses(host: str) -> None:
    if host == "0x":
        assert parse_ip(host) == ipaddress.ip_address("0.0.0.0")  # inet_aton reads it as 0
    else:
        assert parse_ip(host) is None


def test_host_allow_list() -> None:
    assert host_allowed("anything.example", [])
    assert host_allowed("Hooks.Example.com.", ["hooks.example.com"])
    assert host_allowed("a.b.example.org", ["*.example.org"])
    assert not host_allowed("example.org", ["*.example.org"])
    assert not host_allowed("evil-example.org", ["*.example.org"])


# --- SSRF guard: resolution and pinning ---------------------------------------------------


def _lookup(*answers: str) -> safety.Lookup:
    async def lookup(host: str, port: int) -> list[str]:
        return list(answers)

    return lookup


async def test_every_resolved_address_is_checked() -> None:
    with pytest.raises(UnsafeAddressError, match=r"10\.0\.0\.7"):
        await resolve_checked(
            "mixed.example", 443, allow_private=False, lookup=_lookup("8.8.8.8", "10.0.0.7")
        )
    got = await resolve_checked(
        "ok.example", 443, allow_private=False, lookup=_lookup("8.8.8.8", "1.1.1.1", "8.8.8.8")
    )
    assert got == [ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("1.1.1.1")]


async def test_resolution_failures_are_transient_and_literals_skip_dns() -> None:
    async def broken(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(TransientError, match="cannot resolve"):
        await resolve_checked("nx.example", 443, allow_private=False, lookup=broken)
    assert await resolve_checked("8.8.8.8", 443, allow_private=False, lookup=broken) == [
        ipaddress.ip_address("8.8.8.8")
    ]


async def test_localhost_is_refused_by_real_resolution() -> None:
    with pytest.raises(UnsafeAddressError, match="loopback"):
        await resolve_checked("localhost", 443, allow_private=False)


async def test_pinned_resolver_answers_only_with_the_checked_addresses() -> None:
    pinned = PinnedResolver("Hooks.Example.com", [ipaddress.ip_address("93.184.215.14")])
    (answer,) = await pinned.resolve("hooks.example.com", 443)
    assert answer["host"] == "93.184.215.14" and answer["port"] == 443
    with pytest.raises(OSError, match="not checked"):
        await pinned.resolve("internal.example.com", 443)
    await pinned.close()


# --- the action against the sandbox receiver ---------------------------------------------


@dataclass
class Receiver:
    url: str
    state: SandboxState
    http: aiohttp.ClientSession

    async def faults(self, faults: list[dict[str, Any]]) -> None:
        async with self.http.post(f"{self.url}/__sandbox__/faults", json=faults) as resp:
            assert resp.status == 200

    def hits(self, route: str) -> int:
        return self.state.by_route.get(route, 0)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = SandboxState()
    runner = web.AppRunner(create_sandbox_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as http:
        yield Receiver(f"http://127.0.0.1:{port}", state, http)
    await runner.cleanup()


async def _send(
    url: str,
    item: dict[str, Any] | None = None,
    key: str | None = None,
    **config: Any,
) -> dict[str, Any]:
    raw = {
        "url": url,
        "secret": SANDBOX_SECRET,
        "allow_insecure_http": True,
        "allow_private_networks": True,
        **config,
    }
    cfg = WebhookOutConfig.model_validate(raw)
    action = SendWebhook(cfg, "test")
    payload = WebhookIn.model_validate(item or {"payload": {"data": {"id": "pay_1"}}})
    async with HttpClient() as http:
        ctx = ActionContext(idempotency_key=key or uuid.uuid4().hex, connection="test", http=http)
        return await action.run(payload, ctx)


async def test_send_delivers_a_verified_webhook(receiver: Receiver) -> None:
    out = await _send(
        f"{receiver.url}/hooks/orders",
        {"payload": {"data": {"id": "pay_1"}}, "event_type": "payment.captured"},
        key="k1",
    )
    assert out == {"status": 200, "webhook_id": "k1"}
    (record,) = receiver.state.received
    assert record["webhook_id"] == "k1" and record["hook"] == "orders"
    assert record["payload"] == {"type": "payment.captured", "data": {"id": "pay_1"}}
    assert abs(record["timestamp"] - time.time()) < 5 and record["signatures"] == 1


async def test_same_idempotency_key_is_stored_once(receiver: Receiver) -> None:
    first = await _send(f"{receiver.url}/hooks/x", key="step-key-1")
    second = await _send(f"{receiver.url}/hooks/x", key="step-key-1")
    assert first == second
    assert len(receiver.state.received) == 1
    assert receiver.hits("POST /hooks/x") == 2  # both arrived; the receiver deduped by webhook-id


async def test_a_retry_after_a_timeout_is_deduped(receiver: Receiver) -> None:
    """The receiver commits, the sender times out: the runner's retry is harmless."""
    await receiver.faults([{"path": "/hooks/x", "kind": "commit_then_timeout", "delay": 5}])
    with pytest.raises(TransientError, match="timed out"):
        await _send(f"{receiver.url}/hooks/x", key="k-timeout", timeout=0.5)
    await _send(f"{receiver.url}/hooks/x", key="k-timeout")
    assert [r["webhook_id"] for r in receiver.state.received] == ["k-timeout"]


async def test_url_path_is_appended(receiver: Receiver) -> None:
    await _send(f"{receiver.url}/hooks", {"payload": {"a": 1}, "url_path": "billing"})
    assert receiver.hits("POST /hooks/billing") == 1


async def test_rotation_end_to_end(receiver: Receiver) -> None:
    receiver.state.secrets = [OLD_SECRET]  # the receiver has not switched yet
    await _send(f"{receiver.url}/hooks/x", secret=NEW_SECRET, previous_secret=OLD_SECRET)
    assert receiver.state.received[0]["signatures"] == 2
    receiver.state.secrets = [NEW_SECRET]  # it switched; the old signature is now ignored
    await _send(f"{receiver.url}/hooks/x", secret=NEW_SECRET, previous_secret=OLD_SECRET)
    assert len(receiver.state.received) == 2


async def test_a_wrong_secret_is_an_auth_error(receiver: Receiver) -> None:
    with pytest.raises(AuthError, match="does not accept the signature"):
        await _send(f"{receiver.url}/hooks/x", secret=NEW_SECRET)
    assert receiver.state.received == [] and len(receiver.state.rejected) == 1


async def test_5xx_is_transient_with_retry_after(receiver: Receiver) -> None:
    await receiver.faults(
        [
            {"path": "/hooks/x", "status": 500},
            {"path": "/hooks/x", "status": 503, "headers": {"Retry-After": "120"}},
            {"path": "/hooks/x", "status": 429, "headers": {"Retry-After": "7"}},
        ]
    )
    with pytest.raises(TransientError) as first:
        await _send(f"{receiver.url}/hooks/x")
    assert first.value.status == 500
    with pytest.raises(TransientError) as second:
        await _send(f"{receiver.url}/hooks/x")
    assert second.value.retry_after == 120
    with pytest.raises(RateLimitError) as third:
        await _send(f"{receiver.url}/hooks/x")
    assert third.value.retry_after == 7
    assert receiver.state.received == []


async def test_410_gone_means_the_endpoint_is_disabled(receiver: Receiver) -> None:
    await receiver.faults([{"path": "/hooks/x", "status": 410, "body": {"message": "gone"}}])
    with pytest.raises(PermanentError, match="endpoint disabled by receiver") as info:
        await _send(f"{receiver.url}/hooks/x")
    assert not isinstance(info.value, TransientError) and info.value.status == 410


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirects_are_refused_not_followed(receiver: Receiver, status: int) -> None:
    target = f"{receiver.url}/hooks/elsewhere"
    await receiver.faults([{"path": "/hooks/x", "status": status, "headers": {"Location": target}}])
    with pytest.raises(RedirectRefused, match="configure the final URL") as info:
        await _send(f"{receiver.url}/hooks/x")
    assert isinstance(info.value, PermanentError) and info.value.status == status
    assert receiver.hits("POST /hooks/elsewhere") == 0
    assert receiver.state.received == []


async def test_a_3xx_without_location_is_refused_too(receiver: Receiver) -> None:
    await receiver.faults([{"path": "/hooks/x", "status": 300}])
    with pytest.raises(RedirectRefused):
        await _send(f"{receiver.url}/hooks/x")


async def test_a_dropped_connection_is_transient(receiver: Receiver) -> None:
    await receiver.faults([{"path": "/hooks/x", "kind": "reset"}])
    with pytest.raises(TransientError):
        await _send(f"{receiver.url}/hooks/x")


async def test_loopback_is_refused_without_allow_private_networks(receiver: Receiver) -> None:
    with pytest.raises(PermanentError, match="loopback") as info:
        await _send(f"{receiver.url}/hooks/x", allow_private_networks=False)
    assert "allow_private_networks" in str(info.value)
    assert not isinstance(info.value, TransientError)
    assert receiver.hits("POST /hooks/x") == 0  # nothing was sent


async def test_localhost_name_is_refused_without_allow_private_networks(
    receiver: Receiver,
) -> None:
    url = receiver.url.replace("127.0.0.1", "localhost")
    with pytest.raises(UnsafeAddressError, match="loopback"):
        await _send(f"{url}/hooks/x", allow_private_networks=False)
    assert receiver.hits("POST /hooks/x") == 0


async def test_the_connection_goes_to_the_checked_address(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name the system cannot resolve reaches the receiver: aiohttp used the pinned answer."""
    calls: list[str] = []

    async def lookup(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(safety, "system_lookup", lookup)
    port = receiver.url.rsplit(":", 1)[1]
    await _send(f"http://receiver.invalid:{port}/hooks/pinned")
    assert calls == ["receiver.invalid"]  # resolved once, by the guard
    assert receiver.hits("POST /hooks/pinned") == 1


async def test_a_name_with_one_private_answer_is_refused(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(safety, "system_lookup", _lookup("93.184.215.14", "127.0.0.1"))
    port = receiver.url.rsplit(":", 1)[1]
    with pytest.raises(UnsafeAddressError, match=r"rebind\.example resolves to 127\.0\.0\.1"):
        await _send(f"http://rebind.example:{port}/hooks/x", allow_private_networks=False)
    assert receiver.hits("POST /hooks/x") == 0


def test_connector_wiring() -> None:
    assert connector.name == "webhook_out"
    assert connector.actions == (SendWebhook,)
    assert SendWebhook.name == "webhook_out.send"
    assert connector.sandbox is create_sandbox_app
    assert connector.base_url is not None
    assert connector.base_url(_config()) is None
    assert "Standard Webhooks" in connector.docs
