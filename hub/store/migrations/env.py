"""Alembic environment: migrate the connection ``SqlStore`` hands over, or a URL.

``SqlStore.open`` passes its own connection in ``config.attributes["connection"]``
(already inside a transaction, with SQLite pragmas applied), so no ``alembic.ini``
is needed at runtime. Run by hand, ``alembic -x url=sqlite:///hub.db upgrade head``
works too (with ``script_location`` pointing at this folder).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from hub.store.tables import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use the caller's connection when given, else connect to ``-x url=`` / ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("pass -x url=... or set sqlalchemy.url")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run them online")
run_migrations_online()
