"""API tokens (stored hashed, expiry, revocation, last use), roles, dashboard passwords."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.auth import (
    ADMIN_PASSWORD_ENV,
    Principal,
    Role,
    TokenService,
    audit,
    check_password,
    hash_password,
    token_expiry,
    verify_password,
)
from hub.config import HubConfig
from hub.errors import ConfigError, Conflict
from hub.events import utcnow
from hub.store.sql import SqlStore
from hub.store.tables import api_tokens, audit_log


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(store_url)
    await s.open()
    yield s
    await s.close()


def test_roles_are_ordered() -> None:
    viewer = Principal("v", Role.VIEWER, "token")
    ops = Principal("o", Role.OPS, "token")
    admin = Principal("a", Role.ADMIN, "password")
    assert viewer.allows(Role.VIEWER) and not viewer.allows(Role.OPS)
    assert ops.allows(Role.VIEWER) and ops.allows(Role.OPS) and not ops.allows(Role.ADMIN)
    assert all(admin.allows(r) for r in Role)


async def test_only_a_hash_of_the_token_is_stored(store: SqlStore) -> None:
    tokens = TokenService(store)
    info, text = await tokens.create("deploy", Role.OPS, "alice")
    assert text.startswith(f"hub_{info.prefix}_") and len(text) > 40
    rows = await store.run_read(
        lambda c: [dict(m) for m in c.execute(sa.select(api_tokens)).mappings()]
    )
    [row] = rows
    assert row["token_hash"] == hashlib.sha256(text.encode()).hexdigest()
    secret_part = text.rsplit("_", 1)[1]
    assert all(secret_part not in str(v) for v in row.values())
    assert not hasattr(info, "token_hash")
    who = await tokens.authenticate(text)
    assert who == Principal("deploy", Role.OPS, "token")


async def test_unknown_wrong_expired_and_revoked_tokens_fail(store: SqlStore) -> None:
    tokens = TokenService(store)
    _, text = await tokens.create("a", Role.VIEWER, "t")
    assert await tokens.authenticate(text + "x") is None
    assert await tokens.authenticate("not-a-hub-token") is None
    assert await tokens.authenticate("") is None
    info, short = await tokens.create(
        "b", Role.ADMIN, "t", expires_at=utcnow() + timedelta(seconds=60)
    )
    assert await tokens.authenticate(short) is not None
    past = utcnow() - timedelta(seconds=1)
    await store.run_write(
        lambda c: c.execute(
            sa.update(api_tokens).where(api_tokens.c.id == info.id).values(expires_at=past)
        )
    )
    assert await tokens.authenticate(short) is None
    assert (await tokens.get("b")).status() == "expired"  # type: ignore[union-attr]
    assert await tokens.revoke("a") is True
    assert await tokens.revoke("a") is False
    assert await tokens.authenticate(text) is None
    assert await tokens.revoke("nobody") is False


async def test_names_are_unique_and_expiry_must_be_future(store: SqlStore) -> None:
    tokens = TokenService(store)
    await tokens.create("ci", Role.VIEWER, "t")
    with pytest.raises(Conflict):
        await tokens.create("ci", Role.ADMIN, "t")
    with pytest.raises(ConfigError):
        await tokens.create("  ", Role.ADMIN, "t")
    with pytest.raises(ConfigError):
        await tokens.create("old", Role.ADMIN, "t", expires_at=utcnow() - timedelta(days=1))


async def test_last_used_is_written_at_most_once_a_minute(store: SqlStore) -> None:
    tokens = TokenService(store)
    info, text = await tokens.create("ci", Role.VIEWER, "t")
    assert info.last_used_at is None
    await tokens.authenticate(text)
    first = (await tokens.get("ci")).last_used_at  # type: ignore[union-attr]
    assert first is not None
    await tokens.authenticate(text)
    assert (await tokens.get("ci")).last_used_at == first  # type: ignore[union-attr]
    stale = first - timedelta(minutes=2)
    await store.run_write(lambda c: c.execute(sa.update(api_tokens).values(last_used_at=stale)))
    await tokens.authenticate(text)
    assert (await tokens.get("ci")).last_used_at > first  # type: ignore[operator,union-attr]


def test_password_hashes_are_salted_scrypt() -> None:
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two and one.startswith("scrypt$n=")
    assert "correct horse" not in one
    assert verify_password("correct horse", one)
    assert not verify_password("correct horsE", one)
    assert not verify_password("x", "scrypt$broken")
    assert not verify_password("x", "md5$whatever$a$b")
    with pytest.raises(ConfigError):
        hash_password("")


def test_dashboard_login_against_config_and_bootstrap_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = HubConfig.model_validate(
        {
            "dashboard": {
                "users": {"ravi": {"password_hash": hash_password("s3cret!"), "role": "ops"}}
            }
        }
    )
    assert check_password(config, "ravi", "s3cret!") == Principal("ravi", Role.OPS, "password")
    assert check_password(config, "ravi", "wrong") is None
    assert check_password(config, "nobody", "s3cret!") is None
    monkeypatch.delenv(ADMIN_PASSWORD_ENV, raising=False)
    assert check_password(config, "admin", "") is None
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, "boot-pass")
    assert check_password(config, "admin", "boot-pass") == Principal(
        "admin", Role.ADMIN, "password"
    )
    assert check_password(config, "admin", "boot-pas") is None


def test_unknown_users_cost_a_scrypt_like_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing must not tell which user names exist: an unknown name is checked against a decoy."""
    import hub.auth

    config = HubConfig.model_validate({})
    monkeypatch.delenv(ADMIN_PASSWORD_ENV, raising=False)
    checked: list[str] = []
    real = hub.auth.verify_password
    monkeypatch.setattr(hub.auth, "verify_password", lambda p, h: checked.append(h) or real(p, h))
    assert check_password(config, "nobody", "guess") is None
    assert len(checked) == 1 and checked[0].startswith("scrypt$")


def test_token_lifetimes() -> None:
    now = utcnow()
    assert token_expiry("30d", now) == now + timedelta(days=30)
    assert token_expiry(" 90m ", now) == now + timedelta(minutes=90)
    for bad in ("0d", "soon", "5y", "-1d", "1.5h", ""):
        with pytest.raises(ValueError, match="not a lifetime"):
            token_expiry(bad, now)
    with pytest.raises(ValueError, match="year 9999"):
        token_expiry("999999999w", now)


async def test_audit_rows_are_appended(store: SqlStore) -> None:
    who = Principal("alice", Role.ADMIN, "token")
    await audit(store, who, "connection.pause", "books", {"why": "maintenance"})
    rows = await store.run_read(
        lambda c: [dict(m) for m in c.execute(sa.select(audit_log)).mappings()]
    )
    [row] = rows
    assert (row["actor"], row["role"], row["action"], row["target"]) == (
        "alice",
        "admin",
        "connection.pause",
        "books",
    )
    assert row["detail"] == {"why": "maintenance"}
