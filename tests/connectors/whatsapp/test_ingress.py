"""WhatsApp through a real hub: GET handshake and signed batches at /hooks, and an auto-reply recipe.

The connector is given to the hub explicitly (``Registry([connector])``), so
these tests do not depend on the ``hub.connectors`` entry point being installed.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from connectors.whatsapp import connector
from connectors.whatsapp.sandbox import SandboxState, create_sandbox_app, serve, signed
from hub.app import build_app, load_hub
from hub.config import load_config
from hub.registry import Registry
from tests import services

PAYLOADS = Path(__file__).parent / "payloads"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


AUTO_REPLY = {
    "version": 1,
    "name": "whatsapp-auto-reply",
    "description": "Answer every inbound text, quoting it.",
    "trigger": {"event": "message.received", "where": "event.data.kind == 'text'"},
    "steps": [
        {
            "id": "reply",
            "use": "whatsapp.send_message",
            "connection": "wa",
            "with": {
                "to": "{{ event.data.from.phone }}",
                "text": "Thanks {{ event.data.from.name }}, we got your message.",
                "reply_to": "{{ event.data.message_id }}",
            },
            "retry": {"max_attempts": 3, "initial": 0.05, "max_delay": 0.2, "jitter": 0.0},
        }
    ],
}


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[str, SandboxState]]:
    state = SandboxState()
    async with serve(create_sandbox_app(state)) as url:
        yield url, state


@pytest.fixture
async def hub(tmp_path: Path, sandbox: tuple[str, SandboxState]) -> AsyncIterator[str]:
    url, state = sandbox
    recipe = tmp_path / "auto-reply.yaml"
    recipe.write_text(yaml.safe_dump(AUTO_REPLY, sort_keys=False))
    listen = f"127.0.0.1:{free_port()}"
    config = {
        "listen": listen,
        "store": services.store_url(tmp_path),
        "data_dir": str(tmp_path / "data"),
        "recipes": [str(recipe)],
        "connections": {
            "wa": {
                "connector": "whatsapp",
                "config": {
                    "app_secret": state.app_secret,
                    "verify_token": state.verify_token,
                    "access_token": state.access_token,
                    "phone_number_id": state.phone_number_id,
                    "graph_url": url,
                    "timeout": 2.0,
                },
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
        yield f"http://{listen}"
    finally:
        await runner.cleanup()


async def test_get_handshake_through_the_ingress(hub: str) -> None:
    async with aiohttp.ClientSession() as http:
        params = {
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": "sandbox-verify-token",
        }
        async with http.get(f"{hub}/hooks/wa", params=params) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/plain"
            assert await resp.text() == "1158201444"
        params["hub.verify_token"] = "wrong"
        async with http.get(f"{hub}/hooks/wa", params=params) as resp:
            assert resp.status == 403


async def test_signed_batch_is_stored_once_and_tampering_is_refused(hub: str) -> None:
    doc = json.loads((PAYLOADS / "batch.json").read_text())
    body, headers = signed("sandbox-app-secret", doc)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{hub}/hooks/wa", data=body, headers=headers) as resp:
            assert resp.status == 202, await resp.text()
            events = (await resp.json())["events"]
        assert len(events) == 5 and not any(e["duplicate"] for e in events)
        async with http.post(f"{hub}/hooks/wa", data=body, headers=headers) as resp:
            assert resp.status == 202
            assert all(e["duplicate"] for e in (await resp.json())["events"])
        async with http.post(f"{hub}/hooks/wa", data=body + b" ", headers=headers) as resp:
            assert resp.status == 401


async def test_inbound_text_gets_an_auto_reply(hub: str, sandbox: tuple[str, SandboxState]) -> None:
    url, state = sandbox
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/__sandbox__/inbound",
            json={"from": "919845012345", "text": "Where is my invoice?", "name": "Ananya"},
        ) as resp:
            notification: dict[str, Any] = await resp.json()
        async with http.post(
            f"{hub}/hooks/wa",
            data=notification["body"].encode(),
            headers=notification["headers"],
        ) as resp:
            assert resp.status == 202
    for _ in range(100):
        if state.sent:
            break
        await asyncio.sleep(0.05)
    assert len(state.sent) == 1
    sent = state.sent[0]
    inbound_id = json.loads(notification["body"])["entry"][0]["changes"][0]["value"]["messages"][0][
        "id"
    ]
    assert sent["status"] == "sent"  # inside the 24 h window the sandbox opened
    assert sent["body"]["text"]["body"] == "Thanks Ananya, we got your message."
    assert sent["body"]["context"] == {"message_id": inbound_id}
    assert sent["body"]["biz_opaque_callback_data"]  # the step's idempotency key
