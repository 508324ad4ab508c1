"""API budgets: a vendor's per-minute rate limit and daily call credits, tracked per connection.

Zoho allows an organization 100 Books calls a minute and a plan-sized number
a day; going over earns 429s and, worse, can lock the org out of its own API
for the rest of the day. The hub therefore keeps its own count and makes work
*wait* for the budget instead of spending retries against the vendor: the
dispatcher postpones a step whose connection has no budget left (no attempt
is used up), and a call that still finds none raises ``Throttled``, which the
runner reschedules without counting it as a failed attempt.

``ApiBudget`` is the sliding-window arithmetic, in one process. ``Budget`` is
what sessions hold: the same windows kept in the hub's ``SharedState``, in
this process for the inline engine or in Redis when several worker processes
spend one vendor's budget (``hub.shared``), hence its async methods. Usage is
written to the connection's state so ``hub connections list`` shows it, with
a warning once a day's use crosses ``alert_fraction``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.errors import RateLimitError

if TYPE_CHECKING:
    from hub.shared import SharedState

__all__ = ["ApiBudget", "Budget", "BudgetUsage", "Throttled"]

MINUTE = 60.0
DAY = 86_400.0


class Throttled(RateLimitError):
    """The hub's own budget for a vendor is spent: wait ``retry_after`` seconds.

    Not a failure: the runner reschedules the step without counting an attempt.
    """


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """How much of a budget is used now."""

    minute_used: int
    minute_limit: int | None
    day_used: int
    day_limit: int | None

    @property
    def day_fraction(self) -> float | None:
        return None if not self.day_limit else self.day_used / self.day_limit

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "minute_used": self.minute_used,
            "minute_limit": self.minute_limit,
            "day_used": self.day_used,
            "day_limit": self.day_limit,
            "day_fraction": round(self.day_fraction, 4) if self.day_fraction is not None else None,
        }


class ApiBudget:
    """Sliding-window limits on calls per minute and per rolling day.

    The day window keeps one counter per minute (at most 1,440), so memory is
    bounded however many calls are made.

    Args:
        per_minute: calls allowed in any 60 s window (None: unlimited).
        per_day: calls allowed in any rolling 24 h (None: unlimited).
        alert_fraction: share of ``per_day`` past which ``crossed_alert`` turns true.
    """

    def __init__(
        self,
        per_minute: int | None = None,
        per_day: int | None = None,
        alert_fraction: float = 0.8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.per_day = per_day
        self.alert_fraction = alert_fraction
        self.clock = clock
        self._minute: deque[float] = deque()
        self._day: deque[tuple[int, int]] = deque()  # (minute index, calls in it)
        self._day_total = 0

    def _expire(self, now: float) -> None:
        while self._minute and now - self._minute[0] >= MINUTE:
            self._minute.popleft()
        horizon = int((now - DAY) // MINUTE)
        while self._day and self._day[0][0] <= horizon:
            self._day_total -= self._day.popleft()[1]

    def wait_time(self, cost: int = 1) -> float:
        """Seconds until ``cost`` calls fit in both windows (0: now)."""
        now = self.clock()
        self._expire(now)
        wait = 0.0
        if self.per_minute is not None and len(self._minute) + cost > self.per_minute:
            excess = len(self._minute) + cost - self.per_minute
            oldest = self._minute[min(excess, len(self._minute)) - 1]
            wait = max(wait, oldest + MINUTE - now)
        if self.per_day is not None and self._day_total + cost > self.per_day:
            need = self._day_total + cost - self.per_day
            freed = 0
            for minute, calls in self._day:
                freed += calls
                if freed >= need:
                    wait = max(wait, (minute + 1) * MINUTE + DAY - now)
                    break
        return max(wait, 0.0)

    def take(self, cost: int = 1, what: str = "the vendor") -> None:
        """Spend ``cost`` calls now.

        Raises:
            Throttled: the budget cannot afford it; ``retry_after`` says when it can.
        """
        wait = self.wait_time(cost)
        if wait > 0:
            raise Throttled(
                f"the hub's budget for {what} is spent for now "
                f"({self.usage().minute_used}/{self.per_minute} this minute, "
                f"{self._day_total}/{self.per_day} today); waiting {wait:.0f}s",
                retry_after=wait,
            )
        now = self.clock()
        for _ in range(cost):
            self._minute.append(now)
        index = int(now // MINUTE)
        if self._day and self._day[-1][0] == index:
            self._day[-1] = (index, self._day[-1][1] + cost)
        else:
            self._day.append((index, cost))
        self._day_total += cost

    def usage(self) -> BudgetUsage:
        self._expire(self.clock())
        return BudgetUsage(len(self._minute), self.per_minute, self._day_total, self.per_day)

    @property
    def crossed_alert(self) -> bool:
        """True once the day's use is at or past ``alert_fraction`` of the daily budget."""
        fraction = self.usage().day_fraction
        return fraction is not None and fraction >= self.alert_fraction


class Budget:
    """One budget (a Zoho organization's calls, a portal's credits) kept in the hub's shared state.

    Every process holding a ``Budget`` with the same ``key`` and the same
    ``state`` backend spends from one pot: with ``RedisState`` that is every
    worker of the deployment. ``per_minute`` and ``per_day`` may be changed at
    any time; each check uses the current values.

    Args:
        key: what is limited, e.g. ``zoho_books:60012345678`` (the vendor's unit, not
            the connection's name, when two connections share a vendor account).
        state: where the windows are counted (``LocalState`` until the hub shares one).
        per_minute: calls allowed in any 60 s window (None: unlimited).
        per_day: calls allowed in any rolling 24 h (None: unlimited).
        alert_fraction: share of ``per_day`` at which ``alerting`` turns true.
    """

    def __init__(
        self,
        key: str,
        state: SharedState,
        *,
        per_minute: int | None = None,
        per_day: int | None = None,
        alert_fraction: float = 0.8,
    ) -> None:
        self.key = key
        self.state = state
        self.per_minute = per_minute
        self.per_day = per_day
        self.alert_fraction = alert_fraction

    def _check_cost(self, cost: int) -> None:
        for limit in (self.per_minute, self.per_day):
            if limit is not None and cost > limit:
                raise ValueError(f"{cost} calls can never fit a limit of {limit} ({self.key})")

    async def take(self, cost: int = 1, what: str = "the vendor") -> None:
        """Spend ``cost`` calls now, atomically across every process sharing the state.

        Raises:
            Throttled: the budget cannot afford it; ``retry_after`` says when it can.
        """
        self._check_cost(cost)
        spent = await self.state.spend(self.key, cost, self.per_minute, self.per_day, commit=True)
        if not spent.granted:
            raise Throttled(
                f"the hub's budget for {what} is spent for now "
                f"({spent.minute_used}/{self.per_minute} this minute, "
                f"{spent.day_used}/{self.per_day} today); waiting {spent.wait:.0f}s",
                retry_after=spent.wait,
            )

    async def wait_time(self, cost: int = 1) -> float:
        """Seconds until ``cost`` calls fit in both windows (0: now); spends nothing."""
        self._check_cost(cost)
        look = await self.state.spend(self.key, cost, self.per_minute, self.per_day, commit=False)
        return look.wait

    async def usage(self) -> BudgetUsage:
        """Calls in the current windows, as every process sharing the state spent them."""
        look = await self.state.spend(self.key, 0, self.per_minute, self.per_day, commit=False)
        return look.usage(self.per_minute, self.per_day)

    def alerting(self, usage: BudgetUsage) -> bool:
        """True when ``usage`` is at or past ``alert_fraction`` of the daily budget."""
        fraction = usage.day_fraction
        return fraction is not None and fraction >= self.alert_fraction
