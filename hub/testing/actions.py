"""``ActionContract``: writes once per idempotency key, maps errors by consequence, never retries.

Runs the action against its connector's sandbox, a real HTTP server on
127.0.0.1. Sandboxes follow one convention (see ``connectors/zoho_books/sandbox.py``):

- ``POST /__sandbox__/faults`` takes ``[{"method", "path", "status", "body", "headers"}]``,
  each answering one matching request instead of the vendor logic;
- ``GET /__sandbox__/state`` returns the stored records and
  ``{"requests": {"by_route": {"POST /path": n}}}``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import aiohttp
import pytest
from aiohttp import web
from pydantic import BaseModel

from hub.connector import Action, ActionContext, Connector, ConnectorSession
from hub.errors import AuthError, PermanentError, RateLimitError, TransientError
from hub.http import HttpClient
from hub.testing.noio import forbid_sleep

__all__ = ["ActionContract", "SandboxHandle"]


class SandboxHandle:
    """A running sandbox: its base URL and the control routes."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.http = http

    async def state(self) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/__sandbox__/state") as resp:
            doc: dict[str, Any] = await resp.json()
            return doc

    async def faults(self, faults: list[dict[str, Any]]) -> None:
        async with self.http.post(f"{self.url}/__sandbox__/faults", json=faults) as resp:
            assert resp.status < 300, await resp.text()

    async def writes(self, route: str) -> int:
        state = await self.state()
        return int(state.get("requests", {}).get("by_route", {}).get(route, 0))


@pytest.mark.contract
class ActionContract:
    """Subclass (as ``TestSomething``) and set the class attributes.

    Attributes:
        connector: the connector whose ``sandbox`` and ``session`` are used.
        action: the ``Action`` class under test.
        valid_input: an input that the sandbox accepts.
        write: the vendor route the action writes to, as ``"POST /path"``.
        records: a function from sandbox state to the records this action creates.
        auth_refreshes: True when the connector refreshes credentials once on a
            401 before giving up (OAuth); the contract then sends two 401s.
    """

    connector: ClassVar[Connector]
    action: ClassVar[type[Action[Any, Any]]]
    valid_input: ClassVar[dict[str, Any]]
    write: ClassVar[str]
    auth_refreshes: ClassVar[bool] = False

    @staticmethod
    def records(state: dict[str, Any]) -> list[Any]:
        """The records this action creates, found in the sandbox's ``/__sandbox__/state``."""
        raise NotImplementedError("set records = staticmethod(lambda state: state['...'])")

    def config_for(self, sandbox_url: str) -> dict[str, Any]:
        """The connection config that points at the sandbox."""
        raise NotImplementedError("override config_for(sandbox_url) -> config dict")

    async def prepare(self, sandbox: SandboxHandle, item: dict[str, Any]) -> dict[str, Any]:
        """Set up what ``valid_input`` refers to (a customer, say); returns the input to use."""
        return item

    @pytest.fixture
    async def sandbox(self) -> AsyncIterator[SandboxHandle]:
        assert self.connector.sandbox is not None, f"{self.connector.name} ships no sandbox"
        runner = web.AppRunner(self.connector.sandbox(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as http:
            yield SandboxHandle(f"http://127.0.0.1:{port}", http)
        await runner.cleanup()

    async def run(
        self,
        sandbox: SandboxHandle,
        item: dict[str, Any],
        key: str,
        action: type[Action[Any, Any]] | None = None,
    ) -> dict[str, Any]:
        """Run ``action`` (default: the one under test) once against the sandbox."""
        action_class = action or self.action
        config = self.connector.config.model_validate(self.config_for(sandbox.url))
        base = self.connector.base_url(config) if self.connector.base_url else None
        async with HttpClient(base, timeout=5) as http:
            session: ConnectorSession | None = None
            if self.connector.session is not None:
                session = self.connector.session(config, "contract-test", http)
                await session.open()
            try:
                instance = action_class(config, "contract-test")
                model: type[BaseModel] = action_class.input_model
                ctx = ActionContext(
                    idempotency_key=key, connection="contract-test", http=http, session=session
                )
                return await instance.run(model.model_validate(item), ctx)
            finally:
                if session is not None:
                    await session.close()

    async def test_success_returns_a_small_dict(self, sandbox: SandboxHandle) -> None:
        item = await self.prepare(sandbox, dict(self.valid_input))
        out = await self.run(sandbox, item, uuid.uuid4().hex)
        assert isinstance(out, dict) and out, "an action returns a non-empty dict for later steps"
        assert len(type(self).records(await sandbox.state())) >= 1

    async def test_same_idempotency_key_writes_once(self, sandbox: SandboxHandle) -> None:
        item = await self.prepare(sandbox, dict(self.valid_input))
        key = uuid.uuid4().hex
        before = len(type(self).records(await sandbox.state()))
        first = await self.run(sandbox, item, key)
        second = await self.run(sandbox, item, key)
        after = len(type(self).records(await sandbox.state()))
        assert after - before == 1, f"the same idempotency key wrote {after - before} records"
        same = {k: v for k, v in first.items() if k != "created"}
        assert same == {k: v for k, v in second.items() if k != "created"}, (
            "a retry returned another record"
        )

    @pytest.mark.parametrize(
        ("status", "error"),
        [
            (400, PermanentError),
            (404, PermanentError),
            (409, PermanentError),
            (422, PermanentError),
            (429, RateLimitError),
            (500, TransientError),
            (503, TransientError),
        ],
    )
    async def test_status_maps_to_error_by_consequence(
        self, sandbox: SandboxHandle, status: int, error: type[Exception]
    ) -> None:
        item = await self.prepare(sandbox, dict(self.valid_input))
        method, path = self.write.split(" ", 1)
        await sandbox.faults(
            [
                {
                    "method": method,
                    "path": path,
                    "status": status,
                    "body": {"code": status, "message": f"injected {status}"},
                }
            ]
        )
        with pytest.raises(error) as info:
            await self.run(sandbox, item, uuid.uuid4().hex)
        if error is PermanentError:
            assert not isinstance(info.value, TransientError)

    async def test_rejected_credentials_are_an_auth_error(self, sandbox: SandboxHandle) -> None:
        item = await self.prepare(sandbox, dict(self.valid_input))
        method, path = self.write.split(" ", 1)
        fault = {
            "method": method,
            "path": path,
            "status": 401,
            "body": {"code": 401, "message": "invalid token"},
        }
        await sandbox.faults([fault] * (2 if self.auth_refreshes else 1))
        with pytest.raises(AuthError):
            await self.run(sandbox, item, uuid.uuid4().hex)

    async def test_never_retries_or_sleeps_on_its_own(
        self, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        item = await self.prepare(sandbox, dict(self.valid_input))
        method, path = self.write.split(" ", 1)
        before = await sandbox.writes(self.write)
        await sandbox.faults([{"method": method, "path": path, "status": 503}])
        with forbid_sleep(monkeypatch) as slept, pytest.raises(TransientError):
            await self.run(sandbox, item, uuid.uuid4().hex)
        assert slept == [], f"the action slept {slept}: retries belong to the runner"
        assert await sandbox.writes(self.write) - before == 1, "the action retried on its own"
