"""Secrets: the ``Secret`` type, ``${env:NAME}`` resolution, and encryption at rest.

A ``Secret`` never prints its value (``repr``/``str`` show ``'********'``), so it
cannot leak through logs, tracebacks or API responses by accident. Values that
the store keeps (webhook secrets, OAuth refresh tokens) are encrypted with
Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a master key
taken from ``HUB_SECRET_KEY`` or a key file created with mode 0600 on first use.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from hub.errors import ConfigError

__all__ = ["MASK", "Secret", "SecretBox", "load_master_key", "resolve_env"]

MASK = "********"
_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Secret:
    """A string that refuses to show itself; call ``reveal()`` at the point of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plain value: only for signing, HTTP auth headers and encryption."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (self._value,))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def coerce(value: Any) -> Secret:
            if isinstance(value, Secret):
                return value
            if isinstance(value, str):
                return Secret(value)
            raise ValueError("must be a string")

        return core_schema.no_info_plain_validator_function(
            coerce,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda s: MASK, when_used="always"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "password", "writeOnly": True}


def resolve_env(value: Any, env: dict[str, str] | None = None, path: str = "") -> Any:
    """Replace every ``${env:NAME}`` (or ``${env:NAME:-default}``) in strings nested in ``value``.

    A reference that resolves to nothing at all (``${env:OLD:-}`` unset) becomes
    ``None``, so optional secrets such as a previous signing key can stay in
    the file between rotations.

    Raises:
        ConfigError: naming the variable and where it was used, when it is unset
            and has no default.
    """
    environ = os.environ if env is None else env
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            where = f" (at {path})" if path else ""
            raise ConfigError(
                f"environment variable {name} is not set{where}; set it, or write "
                f"${{env:{name}:-}} to make it optional"
            )

        resolved = _ENV_REF.sub(sub, value)
        if resolved == "" and _ENV_REF.fullmatch(value):
            return None
        return resolved
    if isinstance(value, dict):
        return {k: resolve_env(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def load_master_key(key_file: Path) -> bytes:
    """The Fernet master key: ``HUB_SECRET_KEY`` if set, else ``key_file`` (made 0600 if absent)."""
    env_key = os.environ.get("HUB_SECRET_KEY")
    if env_key:
        key = env_key.encode()
    elif key_file.exists():
        key = key_file.read_bytes().strip()
    else:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key + b"\n")
    try:
        Fernet(key)
    except ValueError as exc:
        raise ConfigError(
            "the master key is not a valid Fernet key (32 url-safe base64 bytes); "
            "generate one with `hub keygen`"
        ) from exc
    return key


class SecretBox:
    """Encrypts and decrypts secret values for the store with the master key."""

    PREFIX = "enc:v1:"

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, plain: str) -> str:
        """Encrypt ``plain``; the result is ASCII and marked so it is never double-sealed."""
        return self.PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        """Decrypt a value made by ``seal``.

        Raises:
            ConfigError: when the value was sealed under another master key.
        """
        if not sealed.startswith(self.PREFIX):
            return sealed
        try:
            return self._fernet.decrypt(sealed[len(self.PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise ConfigError(
                "a stored secret cannot be decrypted: HUB_SECRET_KEY or the key file "
                "differs from the one it was written with"
            ) from exc
