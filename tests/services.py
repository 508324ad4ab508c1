"""Where the real services for tests are, which store the suite runs on, and fresh stores per test.

A developer without PostgreSQL may skip the tests that need it; CI (``CI=true``)
may not: a skipped test proves nothing, so there a missing service is an error.

``HUB_TEST_STORE`` (``sqlite``, the default, or ``postgresql``) chooses the store
the whole suite runs against; ``make test`` runs the suite once on each. Every
test that opens a store asks ``store_url`` for one, so switching is this one
variable, read here and nowhere else:

- ``sqlite``: ``hub.db`` in the test's own folder, exactly what a user gets.
- ``postgresql``: a fresh schema on the machine's PostgreSQL, selected by the
  URL's ``search_path`` (the hub creates its tables there) and dropped when the
  test ends. Its connections carry the schema's name as ``application_name``,
  so a connection a test leaked is closed before the drop instead of blocking it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Literal, cast

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

__all__ = [
    "DEFAULT_POSTGRES",
    "StoreFactory",
    "drop_leftovers",
    "fresh_stores",
    "postgres_url",
    "store_kind",
    "store_url",
]

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHEMA_PREFIX = "hub_t_"
StoreKind = Literal["sqlite", "postgresql"]


@cache
def postgres_url() -> str | None:
    """The PostgreSQL URL to test against, or None when none answers (outside CI)."""
    url = os.environ.get("HUB_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        if os.environ.get("CI") or store_kind() == "postgresql":
            raise RuntimeError(
                f"PostgreSQL is needed here (CI=true or HUB_TEST_STORE=postgresql) and {url} "
                f"did not answer: {exc}"
            ) from exc
        return None
    return url


@cache
def store_kind() -> StoreKind:
    """The store the suite runs on: ``HUB_TEST_STORE``, ``sqlite`` unless set."""
    kind = (os.environ.get("HUB_TEST_STORE") or "sqlite").strip().lower()
    if kind not in ("sqlite", "postgresql"):
        raise RuntimeError(f"HUB_TEST_STORE must be sqlite or postgresql, not {kind!r}")
    return cast(StoreKind, kind)


class StoreFactory:
    """Empty stores for one test (or one module's shared fixture), removed afterwards.

    The same folder and name always give the same URL, so a test that restarts
    a hub on its folder finds the same store again, as it would find the same
    SQLite file.
    """

    def __init__(self, kind: StoreKind) -> None:
        self.kind = kind
        self._schemas: dict[tuple[Path, str], str] = {}

    def url(self, folder: Path, name: str = "hub") -> str:
        """The URL of the store called ``name`` for ``folder`` (created empty on first use)."""
        if self.kind == "sqlite":
            return f"sqlite:///{folder / f'{name}.db'}"
        key = (folder.resolve(), name)
        schema = self._schemas.get(key)
        if schema is None:
            schema = f"{SCHEMA_PREFIX}{uuid.uuid4().hex[:16]}"
            with _admin().connect() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            self._schemas[key] = schema
        base = sa.make_url(_required_postgres())
        query = {"options": f"-csearch_path={schema}", "application_name": schema}
        return base.update_query_dict(query).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        """Close what is still connected to our schemas, then drop them."""
        schemas, self._schemas = list(self._schemas.values()), {}
        if not schemas:
            return
        with _admin().connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = ANY(:names) AND pid <> pg_backend_pid()"
                ),
                {"names": schemas},
            )
            for schema in schemas:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


_current: StoreFactory | None = None
_fallback: StoreFactory | None = None


@contextmanager
def fresh_stores(kind: StoreKind | None = None) -> Iterator[StoreFactory]:
    """Make ``store_url`` hand out stores that are dropped when the block ends."""
    global _current
    factory = StoreFactory(kind or store_kind())
    previous, _current = _current, factory
    try:
        yield factory
    finally:
        _current = previous
        factory.drop_all()


def store_url(folder: Path, name: str = "hub") -> str:
    """A store for the running test: SQLite in ``folder`` or a fresh PostgreSQL schema.

    Outside a test (module- or session-scoped fixtures) the store lives until
    the session ends (``drop_leftovers``).
    """
    global _fallback
    factory = _current
    if factory is None:
        factory = _fallback = _fallback or StoreFactory(store_kind())
    return factory.url(folder, name)


def drop_leftovers() -> None:
    """Drop the stores handed out outside any test (called once, at the session's end)."""
    if _fallback is not None:
        _fallback.drop_all()


def _required_postgres() -> str:
    url = postgres_url()
    if url is None:
        raise RuntimeError(
            "HUB_TEST_STORE=postgresql needs PostgreSQL on 127.0.0.1:5432 "
            "(or set HUB_TEST_POSTGRES_URL)"
        )
    return url


@cache
def _admin() -> sa.Engine:
    """Autocommit connections for creating and dropping test schemas, closed after each use
    (a pooled one would outlive the session and warn when collected)."""
    return sa.create_engine(_required_postgres(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
