"""The ``hub`` command as users and scripts run it (``--json`` output is a contract)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from hub.cli import main
from tests.helpers import ROOT

RECIPE = ROOT / "recipes" / "razorpay-payment-to-books.yaml"


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def as_json(*args: str, code: int = 0) -> Any:
    return json.loads(run(*args, "--json", code=code).stdout)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real ``hub demo`` run (sandbox + hub + signed traffic) whose store the tests read."""
    import os

    from cryptography.fernet import Fernet

    os.environ.setdefault("HUB_SECRET_KEY", Fernet.generate_key().decode())
    workdir = tmp_path_factory.mktemp("demo") / "run"
    summary = as_json("demo", "--events", "4", "--dir", str(workdir), "--recipe", str(RECIPE))
    assert summary["expected"] == summary["delivered"] == 4
    assert summary["webhooks_sent"] == 8 and summary["events_stored"] == 4
    assert summary["books_payments"] == 4 and summary["books_contacts"] == 4
    return workdir


def test_demo_delivery_log_is_listed_and_shown(demo_dir: Path) -> None:
    cfg = str(demo_dir / "hub.yaml")
    listing = as_json("-c", cfg, "deliveries", "list")
    rows = listing["deliveries"]
    assert len(rows) == 8 and {r["status"] for r in rows} == {"succeeded"}
    # The demo injects one 500 from Books: exactly one payment step needed two tries.
    assert sorted(r["attempts"] for r in rows if r["step_id"] == "payment") == [1, 1, 1, 2]
    retried = next(r for r in rows if r["attempts"] == 2)
    shown = as_json("-c", cfg, "deliveries", "show", retried["id"])
    assert [a["outcome"] for a in shown["attempts"]] == ["transient", "ok"]
    assert shown["attempts"][0]["status_code"] == 500
    assert "customerpayments" in shown["attempts"][0]["request"]
    assert "sandbox-secret" not in json.dumps(shown)
    text = run("-c", cfg, "deliveries", "show", retried["id"]).stdout
    assert "attempt 1: transient" in text and "attempt 2: ok" in text


def test_deliveries_filters_and_paging(demo_dir: Path) -> None:
    cfg = str(demo_dir / "hub.yaml")
    first = as_json("-c", cfg, "deliveries", "list", "--limit", "3")
    assert len(first["deliveries"]) == 3 and first["next"]
    second = as_json("-c", cfg, "deliveries", "list", "--limit", "3", "--before", first["next"])
    assert not {r["id"] for r in first["deliveries"]} & {r["id"] for r in second["deliveries"]}
    assert as_json("-c", cfg, "deliveries", "list", "--status", "dead")["deliveries"] == []
    assert (
        len(
            as_json("-c", cfg, "deliveries", "list", "--recipe", "razorpay-payment-to-books")[
                "deliveries"
            ]
        )
        == 8
    )
    assert as_json("-c", cfg, "deliveries", "list", "--since", "1h")["deliveries"]
    assert as_json("-c", cfg, "deliveries", "replay", "--status", "dead") == {
        "selected": 0,
        "replayed_runs": 0,
    }


def test_events_list_and_show(demo_dir: Path) -> None:
    cfg = str(demo_dir / "hub.yaml")
    events = as_json("-c", cfg, "events", "list", "--type", "payment.captured")["events"]
    assert len(events) == 4
    shown = as_json("-c", cfg, "events", "show", events[0]["id"])
    assert shown["raw"]["event"] == "payment.captured"
    assert shown["data"]["amount"].count(".") == 1
    assert as_json("-c", cfg, "events", "list", "--type", "refund.processed")["events"] == []
    run("-c", cfg, "events", "show", "no-such-id", code=1)


def test_recipes_test_is_a_dry_run(demo_dir: Path, tmp_path: Path) -> None:
    cfg = str(demo_dir / "hub.yaml")
    event = as_json("-c", cfg, "events", "list")["events"][0]
    doc = as_json("-c", cfg, "events", "show", event["id"])
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(doc))
    result = as_json("recipes", "test", str(RECIPE), "--event", str(event_file))
    assert result["matched"] is True
    contact, payment = result["steps"]
    assert contact["inputs"]["email"] == doc["data"]["customer"]["email"]
    assert payment["inputs"]["customer_id"] == "<contact.contact_id>"
    assert payment["inputs"]["amount"] == doc["data"]["amount"]
    assert len(payment["idempotency_key"]) >= 32


def test_recipes_validate_ok_and_all_errors_with_lines(tmp_path: Path) -> None:
    assert as_json("recipes", "validate", str(ROOT / "recipes"))["ok"] is True
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\n"
        "trigger:\n"
        "  event: paymnt.captured\n"
        "steps:\n"
        "  - id: pay\n"
        "    use: zoho_books.record_paymnt\n"
        "    connection: books\n"
        "    with: {amount: '{{ steps.later.x }}'}\n"
        "  - id: later\n"
        "    use: zoho_books.upsert_contact\n"
        "    connection: books\n"
        "    with: {contact_name: x, colour: blue}\n"
    )
    report = as_json("recipes", "validate", str(bad), code=1)
    problems = {(p["line"], p["message"]) for p in report["problems"]}
    lines = sorted(line for line, _ in problems)
    assert len(report["problems"]) >= 4, report
    assert 3 in lines and 6 in lines and 8 in lines and 12 in lines
    text = " ".join(m for _, m in problems)
    assert "payment.captured" in text and "zoho_books.record_payment" in text


def test_connectors_list_and_show() -> None:
    listing = as_json("connectors", "list")["connectors"]
    by_name = {c["name"]: c for c in listing}
    assert (
        by_name["razorpay"]["status"] == "ok" and "payment.captured" in by_name["razorpay"]["emits"]
    )
    assert "zoho_books.record_payment" in by_name["zoho_books"]["actions"]
    shown = as_json("connectors", "show", "zoho_books")
    props = shown["config_schema"]["properties"]
    assert props["client_secret"]["writeOnly"] is True
    result = CliRunner().invoke(main, ["connectors", "show", "zoho_bookz"])
    assert result.exit_code == 2 and "did you mean 'zoho_books'" in result.output


def test_bad_config_is_reported_with_line(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.yaml"
    cfg.write_text("engine: turbo\n")
    result = CliRunner().invoke(main, ["-c", str(cfg), "events", "list"])
    assert result.exit_code == 2
    assert f"{cfg}:1: engine" in result.output
