"""Where the real services for integration tests are, and the rule for when they are missing.

A developer without PostgreSQL may skip those tests; CI (``CI=true``) may not:
a skipped test proves nothing, so there a missing service is an error.
"""

from __future__ import annotations

import os
from functools import cache

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@cache
def postgres_url() -> str | None:
    """The PostgreSQL URL to test against, or None when none answers (outside CI)."""
    url = os.environ.get("HUB_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        if os.environ.get("CI"):
            raise RuntimeError(
                f"CI needs PostgreSQL for the integration tests and {url} did not answer: {exc}"
            ) from exc
        return None
    return url
