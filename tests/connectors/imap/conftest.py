"""Fixtures: one private Dovecot per test session, a fresh mailbox (user) per test."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from .dovecot import INSTALL_HINT, Dovecot, find_dovecot, start_dovecot

_users = itertools.count(1)


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    """A running Dovecot on 127.0.0.1 (fails under CI when missing, skips locally)."""
    if find_dovecot() is None:
        message = f"dovecot is not installed: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run scripts/install-test-services.sh first")
        pytest.skip(message)
    server = start_dovecot()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mail_user(dovecot_server: Dovecot) -> str:
    """A user name nobody has used yet: an empty mailbox of its own."""
    return f"user{next(_users)}-{os.getpid()}"
