"""Who is calling: API tokens (stored hashed), dashboard passwords, roles, and the audit log.

Three roles, ordered ``viewer < ops < admin``: viewers read, ops also replay,
pause and resume, admins also change connections, recipes and tokens. Every
HTTP route and every ``Ops`` method checks ``Principal.allows``.

Tokens are ``hub_<prefix>_<secret>`` with 32 random bytes of secret. Only the
SHA-256 of the whole token is stored: the token is random, so a slow hash
adds nothing, and a plain digest lets a request find its row by index. The
prefix is stored in clear so people can tell tokens apart in listings.
Dashboard passwords are chosen by people, so they get scrypt with a random
salt instead (``hash_password``), in a self-describing string.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

import sqlalchemy as sa
from aiohttp import web

from hub.config import HubConfig
from hub.errors import ConfigError, Conflict
from hub.events import utcnow
from hub.store import Store
from hub.store.tables import api_tokens, audit_log

__all__ = [
    "ADMIN_PASSWORD_ENV",
    "CLI_PRINCIPAL",
    "TOKENS",
    "Principal",
    "Role",
    "TokenInfo",
    "TokenService",
    "audit",
    "check_password",
    "hash_password",
    "token_expiry",
    "verify_password",
]

log = logging.getLogger("hub.auth")

ADMIN_PASSWORD_ENV = "HUB_ADMIN_PASSWORD"
_TOKEN_PREFIX = "hub_"
_TOUCH_EVERY = timedelta(minutes=1)
# scrypt cost: 2**15 * 8 * 128 bytes = 32 MiB and ~50 ms per check (OWASP's minimum is 2**17 / r=8 / p=1
# for memory-hard KDFs at 64 MiB; we stay at 32 MiB so a small box can serve a login burst).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


class Role(StrEnum):
    """What a caller may do; each role includes everything below it."""

    VIEWER = "viewer"
    OPS = "ops"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Role.VIEWER: 0, Role.OPS: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a token, a dashboard user, or the local CLI."""

    name: str
    role: Role
    via: Literal["token", "password"]

    def allows(self, needed: Role) -> bool:
        """True when this principal's role is ``needed`` or above."""
        return self.role.rank >= needed.rank


#: The ``hub`` command on the server itself: whoever can run it can read the master key anyway.
CLI_PRINCIPAL = Principal(name="cli", role=Role.ADMIN, via="password")


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token's listing entry; never carries the secret or its hash."""

    id: str
    name: str
    role: Role
    prefix: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime | None = None) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or utcnow()):
            return "expired"
        return "active"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(m: Mapping[Any, Any]) -> TokenInfo:
    return TokenInfo(
        id=m["id"],
        name=m["name"],
        role=Role(m["role"]),
        prefix=m["prefix"],
        created_by=m["created_by"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


class TokenService:
    """Creates, lists, revokes and checks API tokens in the store's ``api_tokens`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(
        self, name: str, role: Role, created_by: str, expires_at: datetime | None = None
    ) -> tuple[TokenInfo, str]:
        """Returns the token text once ("hub_" + prefix + "_" + secret); only a hash is stored.

        Raises:
            ConfigError: the name is empty or the expiry is in the past.
            Conflict: a token with that name exists (revoked ones too: names stay unique).
        """
        name = name.strip()
        if not name or len(name) > 200:
            raise ConfigError("a token name must be 1 to 200 characters")
        now = utcnow()
        if expires_at is not None and expires_at <= now:
            raise ConfigError("the token's expiry must be in the future")
        prefix = secrets.token_hex(4)
        text = f"{_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        row = {
            "id": str(uuid.uuid4()),
            "name": name,
            "role": Role(role).value,
            "token_hash": _digest(text),
            "prefix": prefix,
            "created_by": created_by,
            "created_at": now,
            "expires_at": expires_at,
            "last_used_at": None,
            "revoked_at": None,
        }

        def work(conn: sa.Connection) -> None:
            taken = conn.execute(
                sa.select(api_tokens.c.id).where(api_tokens.c.name == name)
            ).first()
            if taken is not None:
                raise Conflict(
                    f"a token named {name!r} already exists; revoke it or pick another name"
                )
            conn.execute(sa.insert(api_tokens).values(**row))

        await self.store.run_write(work)
        return _info(row), text

    async def list(self) -> list[TokenInfo]:
        """Every token, newest first (revoked and expired ones too, marked by their dates)."""
        query = sa.select(api_tokens).order_by(api_tokens.c.created_at.desc(), api_tokens.c.id)
        fetched = await self.store.run_read(lambda c: list(c.execute(query).mappings()))
        return [_info(m) for m in fetched]

    async def get(self, name_or_id: str) -> TokenInfo | None:
        query = sa.select(api_tokens).where(
            sa.or_(api_tokens.c.id == name_or_id, api_tokens.c.name == name_or_id)
        )
        found = await self.store.run_read(lambda c: c.execute(query).mappings().first())
        return None if found is None else _info(found)

    async def revoke(self, name_or_id: str) -> bool:
        """Revoke a token by name or id; False when there is no such active token."""

        def work(conn: sa.Connection) -> bool:
            result = conn.execute(
                sa.update(api_tokens)
                .where(sa.or_(api_tokens.c.id == name_or_id, api_tokens.c.name == name_or_id))
                .where(api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            return bool(result.rowcount)

        return await self.store.run_write(work)

    async def authenticate(self, token: str) -> Principal | None:
        """Constant-time; expired/revoked/unknown -> None; updates last_used_at at most once a minute.

        The lookup is by the token's SHA-256, so timing reveals nothing about
        the secret; the stored digest is still compared with
        ``hmac.compare_digest`` in case the index compares early-out.
        """
        if not token.startswith(_TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = _digest(token)
        query = sa.select(api_tokens).where(api_tokens.c.token_hash == digest)
        found = await self.store.run_read(lambda c: c.execute(query).mappings().first())
        if found is None or not hmac.compare_digest(found["token_hash"], digest):
            return None
        info = _info(found)
        now = utcnow()
        if info.status(now) != "active":
            return None
        if info.last_used_at is None or now - info.last_used_at >= _TOUCH_EVERY:
            await self._touch(info.id, now)
        return Principal(name=info.name, role=info.role, via="token")

    async def _touch(self, token_id: str, now: datetime) -> None:
        def work(conn: sa.Connection) -> None:
            conn.execute(
                sa.update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
            )

        try:
            await self.store.run_write(work)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not refuse a valid token
            log.warning("could not record a token's last use: %s", exc)


TOKENS: web.AppKey[TokenService] = web.AppKey("tokens", TokenService)

_LIFETIME = re.compile(r"^(\d{1,9})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def token_expiry(lifetime: str, now: datetime | None = None) -> datetime:
    """When a token made ``now`` with ``lifetime`` (``30d``, ``12h``, ``90m``, ...) expires.

    The API and ``hub tokens create --expires`` both take lifetimes this way.

    Raises:
        ValueError: not a positive lifetime, or one that ends after the year 9999.
    """
    match = _LIFETIME.match(lifetime.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            f"{lifetime!r} is not a lifetime: use a positive number and s, m, h, d or w"
        )
    try:
        return (now or utcnow()) + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError as exc:
        raise ValueError(
            f"{lifetime!r} is too long: a token must expire before the year 9999"
        ) from exc


# -- passwords ---------------------------------------------------------------------


def hash_password(password: str) -> str:
    """``scrypt$n=..,r=..,p=..$<salt>$<hash>`` (base64): parameters travel with the hash."""
    if not password:
        raise ConfigError("the password must not be empty")
    salt = os.urandom(16)
    derived = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=2**26
    )
    b64 = base64.b64encode
    return f"scrypt$n={_SCRYPT_N},r={_SCRYPT_R},p={_SCRYPT_P}${b64(salt).decode()}${b64(derived).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches a ``hash_password`` string (constant-time compare).

    A malformed hash is a config mistake, not a wrong password: it is logged
    and counts as no match, so a typo in hub.yaml never lets anyone in.
    """
    try:
        scheme, params, salt_b64, hash_b64 = encoded.split("$")
        if scheme != "scrypt":
            raise ValueError(f"unknown scheme {scheme!r}")
        cost = dict(part.split("=", 1) for part in params.split(","))
        n, r, p = int(cost["n"]), int(cost["r"]), int(cost["p"])
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
    except (ValueError, KeyError) as exc:
        log.error(
            "a dashboard password_hash is malformed (%s); make one with `hub users hash-password`",
            exc,
        )
        return False
    derived = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=2**26, dklen=len(expected)
    )
    return hmac.compare_digest(derived, expected)


def check_password(config: HubConfig, username: str, password: str) -> Principal | None:
    """Dashboard password login against ``dashboard.users`` in hub.yaml (scrypt hashes made by
    ``hub users hash-password``) or the bootstrap admin ``HUB_ADMIN_PASSWORD``; None when wrong.

    An unknown user name costs one scrypt too, so timing does not tell which
    names exist; the bootstrap password is compared as digests (no length leak).
    """
    user = config.dashboard.users.get(username)
    if user is not None:
        if verify_password(password, user.password_hash):
            return Principal(name=username, role=Role(user.role), via="password")
        return None
    bootstrap = os.environ.get(ADMIN_PASSWORD_ENV)
    if username == "admin" and bootstrap:
        if hmac.compare_digest(_digest(password), _digest(bootstrap)):
            return Principal(name="admin", role=Role.ADMIN, via="password")
        return None
    verify_password(password, _decoy_hash())
    return None


@functools.cache
def _decoy_hash() -> str:
    """A hash of a random password, checked for unknown user names (same cost as a real one)."""
    return hash_password(secrets.token_urlsafe(16))


# -- the audit log -------------------------------------------------------------------


async def audit(
    store: Store, who: Principal, action: str, target: str, detail: dict[str, Any] | None = None
) -> None:
    """Append one audit_log row (never secrets: callers pass masked detail)."""
    row = {
        "at": utcnow(),
        "actor": who.name,
        "role": who.role.value,
        "action": action,
        "target": target,
        "detail": detail or {},
    }

    def work(conn: sa.Connection) -> None:
        conn.execute(sa.insert(audit_log).values(**row))

    await store.run_write(work)
