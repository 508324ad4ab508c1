from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import HubConfig, config_json_schema, load_config
from hub.errors import ConfigError


def test_defaults_need_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg == HubConfig()
    assert cfg.store_url() == f"sqlite:///{(tmp_path / 'hub.db').resolve()}"
    assert cfg.host_port() == ("127.0.0.1", 8080)
    assert cfg.engine == "inline"


def test_env_secrets_and_relative_paths(tmp_path: Path) -> None:
    f = tmp_path / "conf" / "hub.yaml"
    f.parent.mkdir()
    f.write_text(
        "store: sqlite:///data/hub.db\n"
        "connections:\n"
        "  rp:\n"
        "    connector: razorpay\n"
        "    config:\n"
        "      webhook_secret: ${env:RP_SECRET}\n"
    )
    cfg = load_config(f, env={"RP_SECRET": "whsec"})
    assert cfg.connections["rp"].config == {"webhook_secret": "whsec"}
    assert cfg.store_url().endswith("/conf/data/hub.db")


def test_errors_carry_file_line_and_path(tmp_path: Path) -> None:
    f = tmp_path / "hub.yaml"
    f.write_text(
        "listen: 127.0.0.1:8080\nengine: turbo\nconcurrency:\n  global_limit: 0\nbogus: 1\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(f)
    text = str(info.value)
    assert f"{f}:2: engine" in text
    assert f"{f}:4: concurrency.global_limit" in text
    assert f"{f}:5: bogus" in text


def test_missing_env_names_the_variable(tmp_path: Path) -> None:
    f = tmp_path / "hub.yaml"
    f.write_text(
        "connections:\n  rp:\n    connector: razorpay\n    config: {webhook_secret: '${env:NOPE_NOT_SET}'}\n"
    )
    with pytest.raises(ConfigError, match="NOPE_NOT_SET is not set"):
        load_config(f, env={})


def test_json_schema_describes_the_file() -> None:
    schema = config_json_schema()
    assert schema["$id"].endswith("config.json")
    assert {"listen", "store", "engine", "connections", "recipes"} <= set(schema["properties"])
    assert "base_dir" not in schema["properties"]
