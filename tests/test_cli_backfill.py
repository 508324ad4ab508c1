"""``hub connections backfill`` through the real CLI against the Razorpay sandbox (its own process)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hub.cli import main
from tests import services
from tests.helpers import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def razorpay_sandbox() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectors.razorpay.sandbox", "--port", str(port), "--seed", "250"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def test_backfill_fetches_history_once_with_progress(razorpay_sandbox: str, tmp_path: Path) -> None:
    config = {
        "store": services.store_url(tmp_path),
        "data_dir": str(tmp_path),
        "recipes": [],
        "connections": {
            "razorpay-main": {
                "connector": "razorpay",
                "config": {
                    "webhook_secret": "whsec_backfill",
                    "key_id": "rzp_test_sandbox",
                    "key_secret": "sandbox_key_secret",
                    "api_base_url": razorpay_sandbox,
                },
            }
        },
    }
    cfg = tmp_path / "hub.yaml"
    cfg.write_text(yaml.safe_dump(config))
    runner = CliRunner()
    first = runner.invoke(
        main,
        ["-c", str(cfg), "connections", "backfill", "razorpay-main", "--since", "7d", "--json"],
    )
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["source"] == "razorpay.payments" and doc["pages"] >= 3
    stored = doc["stored"]
    assert stored == 250, doc  # captured, failed, authorized and refunded payments are all events
    again = runner.invoke(
        main,
        ["-c", str(cfg), "connections", "backfill", "razorpay-main", "--since", "7d", "--json"],
    )
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    # Nothing new; everything known (the poller's 5-minute overlap may see a few twice).
    assert second["stored"] == 0 and second["duplicates"] >= stored
    listed = runner.invoke(main, ["-c", str(cfg), "events", "list", "--limit", "500", "--json"])
    assert len(json.loads(listed.stdout)["events"]) == stored
    text = runner.invoke(
        main, ["-c", str(cfg), "connections", "backfill", "razorpay-main", "--since", "7d"]
    )
    assert (
        text.exit_code == 0
        and "0 new event(s)" in text.stdout
        and "already received" in text.stdout
    )


def test_backfill_explains_a_connection_that_cannot(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "store": services.store_url(tmp_path),
                "data_dir": str(tmp_path),
                "recipes": [],
                "connections": {
                    "payu-main": {"connector": "payu", "config": {"key": "k", "salt": "s"}}
                },
            }
        )
    )
    result = CliRunner().invoke(
        main, ["-c", str(cfg), "connections", "backfill", "payu-main", "--since", "1d"]
    )
    assert result.exit_code == 2
    assert "no polling source that can backfill" in result.output
