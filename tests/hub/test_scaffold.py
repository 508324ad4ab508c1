"""``hub connector new``: the generated packages pass their own tests as generated, with no edits."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.errors import ConfigError
from hub.scaffold import KINDS, scaffold, validate_name

TEMPLATES = Path(__file__).parents[2] / "hub" / "scaffold" / "templates"
#: The SDK modules generated code may import: the public surface and the test kit.
SDK_MODULES = {"hub", "hub.testing"}


def run_generated_tests(pkg: Path) -> subprocess.CompletedProcess[str]:
    """The generated package's own test suite, importable through PYTHONPATH only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(pkg)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(pkg / "tests")],
        cwd=pkg,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_generated_package_passes_its_own_tests(tmp_path: Path, kind: str) -> None:
    pkg = tmp_path / "hub-acmepay"
    scaffold("acmepay", kind, pkg)
    result = run_generated_tests(pkg)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " passed" in output and "skipped" not in output, output


@pytest.mark.parametrize("kind", KINDS)
def test_generated_layout_and_metadata(tmp_path: Path, kind: str) -> None:
    pkg = tmp_path / "out"
    files = {p.relative_to(pkg).as_posix() for p in scaffold("acme_pay", kind, pkg)}
    common = {
        "LICENSE",
        "pyproject.toml",
        "README.md",
        "hub_acme_pay/__init__.py",
        "hub_acme_pay/config.py",
        "hub_acme_pay/py.typed",
        "tests/test_contract.py",
    }
    own = {
        "webhook": {
            "hub_acme_pay/sources.py",
            "hub_acme_pay/normalize.py",
            "tests/payloads/payment_captured.json",
            "tests/payloads/payment_failed.json",
        },
        "polling": {
            "hub_acme_pay/sources.py",
            "hub_acme_pay/normalize.py",
            "hub_acme_pay/sandbox.py",
        },
        "action": {"hub_acme_pay/actions.py", "hub_acme_pay/sandbox.py"},
    }
    assert files == common | own[kind]
    project = tomllib.loads((pkg / "pyproject.toml").read_text())
    assert project["project"]["name"] == "hub-acme-pay"
    assert project["project"]["license"] == "Apache-2.0"
    assert any(dep.startswith("hub") for dep in project["project"]["dependencies"])
    assert project["project"]["entry-points"]["hub.connectors"] == {"acme_pay": "hub_acme_pay"}
    assert project["tool"]["pytest"]["ini_options"]["asyncio_mode"] == "auto"
    readme = (pkg / "README.md").read_text()
    assert "## What to fill in" in readme and "## Publish" in readme
    assert "$" not in readme.replace("${env:ACME_PAY_", "")


@pytest.mark.parametrize("kind", KINDS)
def test_generated_code_imports_only_the_public_sdk(tmp_path: Path, kind: str) -> None:
    pkg = tmp_path / "hub-acmepay"
    for path in scaffold("acmepay", kind, pkg):
        if path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            for module in modules:
                if module == "hub" or module.startswith("hub."):
                    assert module in SDK_MODULES, f"{path.name} imports {module}"


@pytest.mark.parametrize("kind", KINDS)
def test_generated_code_is_ruff_clean(tmp_path: Path, kind: str) -> None:
    pkg = tmp_path / "hub-acmepay"
    scaffold("acme_pay", kind, pkg)
    for args in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=pkg, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_webhook_payloads_are_json(tmp_path: Path) -> None:
    pkg = tmp_path / "p"
    scaffold("acmepay", "webhook", pkg)
    types = {json.loads(p.read_text())["type"] for p in (pkg / "tests" / "payloads").iterdir()}
    assert types == {"payment.succeeded", "payment.failed"}


def test_every_template_ships_as_package_data() -> None:
    # pyproject.toml ships "scaffold/templates/**/*.tmpl"; anything else would be lost.
    files = [p for p in TEMPLATES.rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".tmpl" for p in files), files


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("AcmePay", "not a slug"),
        ("acme-pay", "not a slug"),
        ("9pay", "not a slug"),
        ("", "not a slug"),
        ("acme__pay", "underscore"),
        ("acmepay_", "underscore"),
        ("a" * 31, "longer than"),
    ],
)
def test_bad_names_are_refused(name: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        validate_name(name)


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="webhook, polling, action"):
        scaffold("acmepay", "stream", tmp_path / "x")
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- CLI


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_cli_creates_the_package_in_the_default_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = invoke("connector", "new", "acmepay", "--kind", "webhook")
    assert code == 0, output
    assert (tmp_path / "hub-acmepay" / "hub_acmepay" / "sources.py").is_file()
    assert "created 11 files in hub-acmepay" in output
    assert "pip install -e '.[dev]'" in output


def test_cli_refuses_an_existing_directory_unless_forced(tmp_path: Path) -> None:
    dest = tmp_path / "hub-acmepay"
    code, output = invoke("connector", "new", "acmepay", "--kind", "action", "--dir", str(dest))
    assert code == 0, output
    config = dest / "hub_acmepay" / "config.py"
    config.write_text("# edited\n")
    (dest / "NOTES.md").write_text("mine\n")

    code, output = invoke("connector", "new", "acmepay", "--kind", "action", "--dir", str(dest))
    assert code == 2 and "already exists" in output and "--force" in output
    assert config.read_text() == "# edited\n"

    args = ("connector", "new", "acmepay", "--kind", "action", "--dir", str(dest), "--force")
    code, output = invoke(*args)
    assert code == 0, output
    assert "class AcmepayConfig" in config.read_text()
    assert (dest / "NOTES.md").read_text() == "mine\n", "--force touches only generated files"


def test_cli_bad_name_is_exit_2_with_a_message(tmp_path: Path) -> None:
    code, output = invoke(
        "connector", "new", "Acme-Pay", "--kind", "webhook", "--dir", str(tmp_path / "x")
    )
    assert code == 2
    assert "'Acme-Pay' is not a slug" in output
    assert not (tmp_path / "x").exists()


def test_cli_kind_is_required_and_checked(tmp_path: Path) -> None:
    code, output = invoke("connector", "new", "acmepay", "--kind", "stream")
    assert code == 2 and "stream" in output
    code, output = invoke("connector", "new", "acmepay")
    assert code == 2 and "--kind" in output
