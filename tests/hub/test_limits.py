from __future__ import annotations

import pytest

from hub.limits import ApiBudget, Throttled


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_per_minute_limit_says_how_long_to_wait() -> None:
    clock = Clock()
    budget = ApiBudget(per_minute=3, clock=clock)
    for _ in range(3):
        budget.take()
        clock.now += 1
    assert budget.wait_time() == pytest.approx(57)
    with pytest.raises(Throttled) as info:
        budget.take(what="Zoho Books")
    assert info.value.retry_after == pytest.approx(57)
    assert "Zoho Books" in str(info.value)
    clock.now += 57
    budget.take()


def test_daily_budget_rolls_over_24_hours_and_alerts_at_80_percent() -> None:
    clock = Clock()
    budget = ApiBudget(per_day=10, clock=clock)
    for n in range(8):
        assert not budget.crossed_alert or n >= 8
        budget.take()
        clock.now += 600
    assert budget.crossed_alert
    assert budget.usage().day_fraction == 0.8
    budget.take(2)
    assert budget.wait_time() > 0
    clock.now += 86_400
    assert budget.wait_time() == 0
    assert budget.usage().day_used < 10


def test_memory_is_bounded_by_minutes_not_calls() -> None:
    clock = Clock()
    budget = ApiBudget(per_day=1_000_000, clock=clock)
    for _ in range(5000):
        budget.take()
        clock.now += 0.01
    assert len(budget._day) <= 2


def test_unlimited_budget_never_waits() -> None:
    budget = ApiBudget()
    for _ in range(1000):
        budget.take()
    assert budget.wait_time() == 0 and not budget.crossed_alert
