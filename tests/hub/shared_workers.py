"""Code run in separate processes by the shared-state tests (kept light: spawn imports it)."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.secrets import SecretBox
from hub.shared_redis import RedisState


async def _spend(
    barrier: Any, url: str, key: bytes, prefix: str, budget: str,
    limits: tuple[int | None, int | None], n: int,
) -> int:  # fmt: skip
    state = RedisState(url, SecretBox(key), prefix=prefix)
    await state.open()
    await state.spend(budget, 0, *limits, commit=False)  # connected and the script loaded
    barrier.wait(timeout=60)  # every process is ready: now they race
    try:
        # Many calls in flight at once, so this process races itself as well as the others.
        results = await asyncio.gather(
            *(state.spend(budget, 1, *limits, commit=True) for _ in range(n))
        )
    finally:
        await state.close()
    return sum(1 for r in results if r.granted)


def spend_in_process(
    barrier: Any, results: Any, url: str, key: bytes, prefix: str, budget: str,
    limits: tuple[int | None, int | None], n: int,
) -> None:  # fmt: skip
    """Once every process is ready, try ``n`` spends at once; report how many were granted."""
    results.put(asyncio.run(_spend(barrier, url, key, prefix, budget, limits, n)))
