"""Where the real services for tests are, which store the suite runs on, and fresh stores per test.

A developer without PostgreSQL may skip the tests that need it; CI (``CI=true``)
may not: a skipped test proves nothing, so there a missing service is an error.

``HUB_TEST_STORE`` (``sqlite``, the default, or ``postgresql``) chooses the store
the whole suite runs against; ``make test`` runs the suite once on each. Every
test that opens a store asks ``store_url`` for one, so switching is this one
variable, read here and nowhere else:

- ``sqlite``: ``hub.db`` in the test's own folder, exactly what a user gets.
- ``postgresql``: an empty schema of its own on the machine's PostgreSQL,
  selected by the URL's ``search_path`` (the hub creates its tables there).
  Its connections carry the schema's name as ``application_name``, so a
  connection a test leaked is closed when the test ends instead of blocking
  the cleanup.

Migrating a new PostgreSQL schema costs about half a second (DDL, and Alembic
reading its scripts), and dropping one more; paid by every test that opens a
store, that made the PostgreSQL run several minutes slower than SQLite. So a
schema a test used is emptied (its rows deleted, its sequences reset: about
10 ms) and handed to a later test, which then finds the tables already at
the newest migration. A schema that is not exactly at the newest migration
with the hub's tables (a test that migrated by hand, say) is dropped
instead, and ``store_url(..., reuse=False)`` always gives a brand-new one
(the migration tests use it). Left-over schemas are dropped when the session
ends.
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

    def url(self, folder: Path, name: str = "hub", reuse: bool = True) -> str:
        """The URL of the store called ``name`` for ``folder``, empty on first use.

        ``reuse=False``: a schema no test used before, with no tables at all.
        """
        if self.kind == "sqlite":
            return f"sqlite:///{folder / f'{name}.db'}"
        key = (folder.resolve(), name)
        schema = self._schemas.get(key)
        if schema is None:
            schema = _emptied.pop() if reuse and _emptied else _create_schema()
            self._schemas[key] = schema
        base = sa.make_url(_required_postgres())
        query = {"options": f"-csearch_path={schema}", "application_name": schema}
        return base.update_query_dict(query).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        """Close what is still connected to our schemas, then empty them for reuse (or drop them)."""
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
                if _empty_for_reuse(conn, schema):
                    _emptied.append(schema)
                else:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


_current: StoreFactory | None = None
_fallback: StoreFactory | None = None
_emptied: list[str] = []  # PostgreSQL schemas at the newest migration, with no rows


def _create_schema() -> str:
    schema = f"{SCHEMA_PREFIX}{uuid.uuid4().hex[:16]}"
    with _admin().connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    return schema


def _empty_for_reuse(conn: sa.Connection, schema: str) -> bool:
    """Delete every row in ``schema`` if it holds exactly the hub's tables at the newest
    migration (True), else leave it alone (False, to be dropped)."""
    from hub.store.tables import metadata

    tables = set(
        conn.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
        ).scalars()
    )
    if tables != {*metadata.tables, "alembic_version"}:
        return False
    version = conn.exec_driver_sql(f'SELECT version_num FROM "{schema}".alembic_version').scalar()
    if version != _head_revision():
        return False
    for table in reversed(metadata.sorted_tables):  # children first (autocommit: no one else looks)
        conn.exec_driver_sql(f'DELETE FROM "{schema}"."{table.name}"')
    conn.execute(
        sa.text(
            "SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND n.nspname = :s"
        ),
        {"s": schema},
    )
    return True


@cache
def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from hub.store.writes import MIGRATIONS

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


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


def store_url(folder: Path, name: str = "hub", reuse: bool = True) -> str:
    """A store for the running test: SQLite in ``folder`` or an empty PostgreSQL schema.

    Outside a test (module- or session-scoped fixtures) the store lives until
    the session ends (``drop_leftovers``). ``reuse=False``: a PostgreSQL schema
    no test has used (no tables yet), for tests of the migrations themselves.
    """
    global _fallback
    factory = _current
    if factory is None:
        factory = _fallback = _fallback or StoreFactory(store_kind())
    return factory.url(folder, name, reuse)


def drop_leftovers() -> None:
    """Drop every test schema still around (called once, at the session's end)."""
    if _fallback is not None:
        _fallback.drop_all()
    if _emptied:
        with _admin().connect() as conn:
            while _emptied:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{_emptied.pop()}" CASCADE')


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
