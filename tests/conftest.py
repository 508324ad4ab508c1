"""Fixtures: a real Zoho Books sandbox and a real hub, both HTTP servers on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet

from tests import services
from tests.helpers import RunningHub, Sandbox, fast_recipe, hub_config, start_hub, start_sandbox


@pytest.fixture(autouse=True)
def _fresh_stores() -> Iterator[None]:
    """Stores a test opens (``store_url``, ``hub_config``) are its own and dropped after it.

    Which store: ``HUB_TEST_STORE`` (see tests/services.py); creating one is lazy,
    so a test that opens no store costs nothing.
    """
    with services.fresh_stores():
        yield


@pytest.fixture(scope="session", autouse=True)
def _drop_leftover_stores() -> Iterator[None]:
    yield
    services.drop_leftovers()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh, empty store for this test on the suite's store (HUB_TEST_STORE)."""
    return services.store_url(tmp_path)


@pytest.fixture(autouse=True)
def _master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh master key per test, so no test writes a key file in the checkout."""
    monkeypatch.setenv(
        "HUB_SECRET_KEY", os.environ.get("HUB_TEST_SECRET_KEY") or Fernet.generate_key().decode()
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def sandbox(http: aiohttp.ClientSession) -> AsyncIterator[Sandbox]:
    box = await start_sandbox(http)
    # Zoho's real 100 requests/minute would make throughput tests wait a minute;
    # the limit itself is tested in tests/connectors/zoho_books.
    await box.settings(requests_per_minute=100_000)
    yield box
    await box.runner.cleanup()


@pytest.fixture
async def running_hub(
    tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox
) -> AsyncIterator[Any]:
    """A factory: ``await running_hub(**config_overrides)`` starts a hub wired to the sandbox."""
    started: list[RunningHub] = []

    async def start(recipes: list[Path] | None = None, **extra: Any) -> RunningHub:
        recipe_files = recipes if recipes is not None else [fast_recipe(tmp_path)]
        hub = await start_hub(
            tmp_path, http, hub_config(tmp_path, sandbox.url, recipe_files, **extra)
        )
        started.append(hub)
        return hub

    yield start
    for hub in started:
        await hub.stop()
