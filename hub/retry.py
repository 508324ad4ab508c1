"""``RetryPolicy``: when to try a failed step again (pure; tenacity does the backoff maths).

Exponential backoff with full jitter, capped, and never sooner than the
vendor's ``Retry-After``. The dispatcher stores the next due time in the
store, so a retry survives a restart; nothing sleeps in memory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tenacity import RetryCallState, wait_exponential

__all__ = ["DEFAULT_POLICY", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a step retries transient errors.

    Attributes:
        max_attempts: total tries, the first included; then the run is dead-lettered.
        initial: seconds before the first retry (before jitter).
        max_delay: the cap on one wait, in seconds.
        multiplier: growth of the wait per attempt.
        jitter: up to this many seconds of random extra wait (spreads a thundering herd).
    """

    max_attempts: int = 5
    initial: float = 1.0
    max_delay: float = 300.0
    multiplier: float = 2.0
    jitter: float = 1.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        wait = wait_exponential(
            multiplier=self.initial, max=self.max_delay, exp_base=self.multiplier
        )
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempt
        base = float(wait(state))
        extra = (rng or random).uniform(0, self.jitter) if self.jitter else 0.0
        delay = min(base + extra, self.max_delay)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def exhausted(self, attempt: int) -> bool:
        """True when try number ``attempt`` was the last one allowed."""
        return attempt >= self.max_attempts

    def next_due(self, now: datetime, attempt: int, retry_after: float | None = None) -> datetime:
        """When the next try falls due."""
        return now + timedelta(seconds=self.delay(attempt, retry_after))


DEFAULT_POLICY = RetryPolicy()
