from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hub.retry import RetryPolicy


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(initial=1, multiplier=2, max_delay=10, jitter=0)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_jitter_spreads_but_stays_within_bounds() -> None:
    policy = RetryPolicy(initial=1, jitter=1, max_delay=100)
    rng = random.Random(3)
    delays = {round(policy.delay(2, rng=rng), 6) for _ in range(50)}
    assert len(delays) > 40
    assert all(2 <= d <= 3 for d in delays)


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(initial=1, jitter=0)
    assert policy.delay(1, retry_after=30) == 30
    assert policy.delay(5, retry_after=0.5) == 16


def test_exhausted_counts_the_first_try() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert not policy.exhausted(2)
    assert policy.exhausted(3)


def test_next_due_is_now_plus_delay() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    policy = RetryPolicy(initial=4, jitter=0)
    assert policy.next_due(now, 1) == now + timedelta(seconds=4)
