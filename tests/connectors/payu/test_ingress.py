"""PayU through a real hub: form and JSON callbacks at /hooks, dedupe across paths, 401s.

The connector is given to the hub explicitly (``Registry([connector])``), so
these tests do not depend on the ``hub.connectors`` entry point being installed.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl

import aiohttp
import pytest
import yaml
from aiohttp import web

from connectors.payu import connector
from hub.app import build_app, load_hub
from hub.config import load_config
from hub.registry import Registry
from tests import services

PAYLOADS = Path(__file__).parent / "payloads"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
TOKEN = "wh_tok_Zq81mN4vXc27"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def hook(tmp_path: Path) -> AsyncIterator[str]:
    listen = f"127.0.0.1:{free_port()}"
    config = {
        "listen": listen,
        "store": services.store_url(tmp_path),
        "data_dir": str(tmp_path / "data"),
        "connections": {
            "payu-main": {
                "connector": "payu",
                "config": {"key": "AbC123", "salt": "payu_test_salt_4k9Qm", "webhook_token": TOKEN},
            }
        },
    }
    file = tmp_path / "hub.yaml"
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    running = load_hub(load_config(file), registry=Registry([connector]))
    runner = web.AppRunner(build_app(running), access_log=None)
    await runner.setup()
    host, port = running.config.host_port()
    await web.TCPSite(runner, host, port).start()
    try:
        yield f"http://{listen}/hooks/payu-main?token={TOKEN}"
    finally:
        await runner.cleanup()


async def test_callback_then_webhook_of_one_payment_is_stored_once(hook: str) -> None:
    form = (PAYLOADS / "payment_success_upi.form").read_bytes()
    as_json = json.dumps(dict(parse_qsl(form.decode(), keep_blank_values=True))).encode()
    async with aiohttp.ClientSession() as http:
        async with http.post(hook, data=form, headers=FORM) as resp:
            assert resp.status == 202, await resp.text()
            [first] = (await resp.json())["events"]
        assert first["type"] == "payment.captured" and not first["duplicate"]
        for body, headers in ((form, FORM), (as_json, JSON)):
            async with http.post(hook, data=body, headers=headers) as resp:
                assert resp.status == 202
                [again] = (await resp.json())["events"]
            assert again == {**first, "duplicate": True}


async def test_tampered_amount_is_401(hook: str) -> None:
    form = (PAYLOADS / "payment_success_upi.form").read_bytes()
    forged = form.replace(b"1499.00", b"1.00")
    async with (
        aiohttp.ClientSession() as http,
        http.post(hook, data=forged, headers=FORM) as resp,
    ):
        assert resp.status == 401
        assert "reverse hash" in await resp.text()


async def test_refund_needs_the_token_in_the_url(hook: str) -> None:
    body = (PAYLOADS / "refund_success.json").read_bytes()
    async with aiohttp.ClientSession() as http:
        async with http.post(hook.split("?")[0], data=body, headers=JSON) as resp:
            assert resp.status == 401
        async with http.post(hook, data=body, headers=JSON) as resp:
            assert resp.status == 202, await resp.text()
            [event] = (await resp.json())["events"]
        assert event["type"] == "refund.processed"


async def test_pending_and_dispute_are_acknowledged_and_skipped(hook: str) -> None:
    async with aiohttp.ClientSession() as http:
        for name, headers in (("payment_pending_upi.form", FORM), ("dispute_created.json", JSON)):
            async with http.post(hook, data=(PAYLOADS / name).read_bytes(), headers=headers) as r:
                assert r.status == 200
                assert (await r.json())["status"] == "skipped"


async def test_garbage_is_400_with_token_and_401_without(hook: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(hook, data=b'{"a": [1,', headers=JSON) as resp:
            assert resp.status == 400
        async with http.post(hook.split("?")[0], data=b'{"a": [1,', headers=JSON) as resp:
            assert resp.status == 401
