"""Dashboard tests use the ``dash`` fixture from ``tests.web.fixtures``."""

from tests.web.fixtures import dash

__all__ = ["dash"]
