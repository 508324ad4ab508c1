"""Guards for contract tests: prove code does no network I/O and never sleeps."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

__all__ = ["forbid_network", "forbid_sleep"]


@contextmanager
def forbid_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any socket connection or DNS lookup inside the block fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network I/O in code that must not do any (verify/parse)")

    with monkeypatch.context() as m:
        m.setattr(socket.socket, "connect", refuse)
        m.setattr(socket.socket, "connect_ex", refuse)
        m.setattr(socket, "getaddrinfo", refuse)
        m.setattr(socket, "create_connection", refuse)
        yield


@contextmanager
def forbid_sleep(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Records every ``asyncio.sleep`` longer than a yield (0 s) made inside the block."""
    slept: list[float] = []
    real = asyncio.sleep

    async def watched(delay: float, *args: Any, **kwargs: Any) -> Any:
        if delay and delay > 0:
            slept.append(delay)
        return await real(0, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(asyncio, "sleep", watched)
        yield slept
