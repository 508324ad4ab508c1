from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import BaseModel

from hub.errors import ConfigError
from hub.secrets import MASK, Secret, SecretBox, load_master_key, resolve_env


class _Cfg(BaseModel):
    token: Secret


def test_secret_never_shows_itself() -> None:
    cfg = _Cfg(token="tok-live-123")  # type: ignore[arg-type]
    assert cfg.token.reveal() == "tok-live-123"
    for shown in (repr(cfg), str(cfg), cfg.model_dump_json(), str(cfg.model_dump())):
        assert "tok-live-123" not in shown
    assert cfg.model_dump_json() == f'{{"token":"{MASK}"}}'
    schema = _Cfg.model_json_schema()["properties"]["token"]
    assert schema["writeOnly"] is True and schema["format"] == "password"


def test_env_references_resolve_and_missing_ones_name_the_place() -> None:
    doc = {"a": {"b": ["${env:ONE}", "x-${env:TWO}-y"]}}
    assert resolve_env(doc, {"ONE": "1", "TWO": "2"}) == {"a": {"b": ["1", "x-2-y"]}}
    with pytest.raises(ConfigError, match=r"THREE is not set \(at a.b\[0\]\)"):
        resolve_env({"a": {"b": ["${env:THREE}"]}}, {})


def test_key_file_is_created_0600_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUB_SECRET_KEY", raising=False)
    path = tmp_path / "data" / "secret.key"
    key = load_master_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_master_key(path) == key


def test_sealed_values_round_trip_and_other_keys_fail_clearly() -> None:
    box = SecretBox(Fernet.generate_key())
    sealed = box.seal("refresh-token-value")
    assert "refresh-token-value" not in sealed and sealed.startswith("enc:v1:")
    assert box.open(sealed) == "refresh-token-value"
    with pytest.raises(ConfigError, match="differs"):
        SecretBox(Fernet.generate_key()).open(sealed)


def test_bad_master_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUB_SECRET_KEY", "not-a-key")
    with pytest.raises(ConfigError, match="hub keygen"):
        load_master_key(tmp_path / "k")


def test_env_defaults_make_optional_secrets_possible() -> None:
    doc = {"old": "${env:OLD_SECRET:-}", "mode": "${env:MODE:-live}", "key": "${env:KEY:-}x"}
    assert resolve_env(doc, {}) == {"old": None, "mode": "live", "key": "x"}
    assert resolve_env(doc, {"OLD_SECRET": "s1", "MODE": "test", "KEY": "k"}) == {
        "old": "s1",
        "mode": "test",
        "key": "kx",
    }
