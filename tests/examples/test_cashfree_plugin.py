"""The example out-of-tree connector ``examples/hub-cashfree``, installed like a PyPI plugin.

The package is pip-installed (not editable) into the running venv for this
module and uninstalled afterwards. Then: the hub finds it through its entry
point, its own contract tests pass against the installed copy, and a signed
Cashfree webhook travels through a running hub and a recipe into the Zoho Books
sandbox exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.store import EventFilter
from tests.helpers import ROOT, Sandbox, fast_recipe, hub_config, start_hub

EXAMPLE = ROOT / "examples" / "hub-cashfree"
DIST = "hub-cashfree"
SECRET = "cfsk_ma_test_e2e_7c41"


def _installed() -> bool:
    importlib.invalidate_caches()
    try:
        importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _pip(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"},
    )
    assert done.returncode == 0, f"pip {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``hub-cashfree`` installed from a copy of ``examples/hub-cashfree``; uninstalled after."""
    if _installed():  # left behind by an interrupted run: start clean
        _pip("uninstall", "-y", "-q", DIST)
    work = tmp_path_factory.mktemp("hub-cashfree")
    # Build from a copy so that build/ and *.egg-info never land in the checkout.
    src = work / "src"
    shutil.copytree(
        EXAMPLE, src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    )
    try:
        # The dev extras bring setuptools and wheel, so this builds offline, as a user's pip would.
        _pip("install", "--no-deps", "--no-build-isolation", "--no-index", "-q", str(src))
        importlib.invalidate_caches()
        assert _installed(), f"{DIST} is not visible to importlib.metadata after pip install"
        yield work
    finally:
        if _installed():
            _pip("uninstall", "-y", "-q", DIST)
        for module in [
            m for m in sys.modules if m == "hub_cashfree" or m.startswith("hub_cashfree.")
        ]:
            del sys.modules[module]
        importlib.invalidate_caches()
        assert not _installed(), f"{DIST} is still installed: the venv was not left clean"


def test_hub_lists_the_plugin_from_its_entry_point(installed: Path) -> None:
    result = CliRunner().invoke(main, ["connectors", "list", "--json"])
    assert result.exit_code == 0, result.output
    docs = {c["name"]: c for c in json.loads(result.output)["connectors"]}
    cashfree = docs["cashfree"]
    assert cashfree["status"] == "ok", cashfree
    assert cashfree["title"] == "Cashfree Payments"
    assert cashfree["webhook"] == "cashfree.webhook"
    assert set(cashfree["emits"]) == {
        "payment.captured",
        "payment.failed",
        "refund.processed",
        "refund.failed",
    }
    # It is the installed copy, not the source tree, that the hub imported.
    module = importlib.import_module("hub_cashfree")
    assert EXAMPLE not in Path(module.__file__ or "").resolve().parents


def test_the_readme_recipe_validates_against_the_plugin(installed: Path) -> None:
    result = CliRunner().invoke(main, ["recipes", "validate", str(RECIPE)])
    assert result.exit_code == 0, result.output


def test_the_packages_own_contract_tests_pass(installed: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(EXAMPLE / "tests"), "-q", "-p", "no:cacheprovider"],
        cwd=installed,  # not the example folder: import the installed hub_cashfree
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary


RECIPE = EXAMPLE / "recipes" / "cashfree-payment-to-books.yaml"


def _cashfree_headers(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    """What Cashfree sends: base64 HMAC-SHA256 of timestamp (ms) + raw body."""
    stamp = str(int((time.time() if at is None else at) * 1000))
    digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    return {
        "x-webhook-timestamp": stamp,
        "x-webhook-signature": base64.b64encode(digest).decode(),
        "x-webhook-version": "2025-01-01",
    }


async def test_signed_payment_runs_through_a_recipe_into_books_once(
    installed: Path, tmp_path: Path, http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    recipe = fast_recipe(tmp_path, RECIPE)  # the README's recipe, with millisecond retries
    config = hub_config(tmp_path, sandbox.url, [recipe])
    config["connections"]["cashfree-main"] = {
        "connector": "cashfree",
        "config": {"secret_key": SECRET},
    }
    hub = await start_hub(tmp_path, http, config)
    try:
        body = (EXAMPLE / "tests" / "payloads" / "payment_success_upi.json").read_bytes()

        forged = await hub.post(body, "cashfree-main", _cashfree_headers(body, secret="nope"))
        assert forged.status == 401
        stale = await hub.post(
            body, "cashfree-main", _cashfree_headers(body, at=time.time() - 3600)
        )
        assert stale.status == 401

        resp = await hub.post(body, "cashfree-main", _cashfree_headers(body))
        assert resp.status == 202
        await hub.settled(1)
        [payment] = await sandbox.payments()
        [contact] = await sandbox.contacts()
        assert payment["customer_id"] == contact["contact_id"]
        assert contact["email"] == "ananya.rao@example.in"
        assert Decimal(str(payment["amount"])) == Decimal("1499.00")
        assert payment["reference_number"]

        # Cashfree retries re-sign with a new timestamp: still one event, one payment.
        again = await hub.post(body, "cashfree-main", _cashfree_headers(body, at=time.time() + 1))
        assert again.status == 202
        await hub.settled(1)
        await asyncio.sleep(0.3)  # give a wrongly created second run time to show itself
        events, _ = await hub.hub.store.list_events(EventFilter(limit=10))
        assert [e.idempotency_key for e in events] == ["payment.captured:1453002795"]
        counts = await hub.hub.store.counts()
        assert counts["runs_succeeded"] == 1
        assert len(await sandbox.payments()) == 1
    finally:
        await hub.stop()
