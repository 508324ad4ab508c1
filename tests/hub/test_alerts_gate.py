"""The storm gate's rules (``hub.alerts.gate``), pure: what goes out at once, what waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.alerts.gate import GatePolicy, GateRow, admit, is_due, settle, take

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
POLICY = GatePolicy(window=timedelta(minutes=10), lease=timedelta(minutes=2), samples=3)


def alert(n: int) -> dict[str, Any]:
    return {"rule": "dead_letter", "key": "books", "summary": f"dead letter {n}", "at": "x"}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_first_alert_goes_at_once_the_rest_of_the_window_is_counted() -> None:
    row, batch = admit(None, alert(0), T0, POLICY)
    assert batch is not None and batch.count == 1 and not batch.digest
    assert batch.first == alert(0)
    row = settle(row, batch.token, True, POLICY)
    for n in range(1, 1000):
        row, held = admit(row, alert(n), at(n * 0.06), POLICY)
        assert held is None
    assert row.pending == 999
    assert row.first == alert(1)
    assert row.samples == [alert(2), alert(3), alert(4)]  # capped at policy.samples
    assert not is_due(row, at(599))
    assert is_due(row, at(600))


def test_digest_at_window_end_counts_everything_and_opens_the_next_window() -> None:
    row, first = admit(None, alert(0), T0, POLICY)
    assert first is not None
    row = settle(row, first.token, True, POLICY)
    for n in range(1, 11):
        row, _ = admit(row, alert(n), at(n), POLICY)
    row, digest = take(row, at(600), POLICY)
    assert digest.digest and digest.count == 10
    assert digest.first == alert(1)
    assert digest.since == at(0) and digest.until == at(600)
    row = settle(row, digest.token, True, POLICY)
    # The storm goes on: the next alert is counted for the next digest, not sent at once.
    row, held = admit(row, alert(11), at(601), POLICY)
    assert held is None and row.pending == 1
    row, digest2 = take(row, at(1200), POLICY)
    assert digest2.count == 1
    row = settle(row, digest2.token, True, POLICY)
    # A window that ends with nothing counted lapses: the next alert goes out at once.
    assert not is_due(row, at(1800))
    _, again = admit(row, alert(12), at(1801), POLICY)
    assert again is not None and not again.digest


def test_failed_send_is_counted_back_and_sent_with_the_next_digest() -> None:
    row, first = admit(None, alert(0), T0, POLICY)
    assert first is not None
    row, _ = admit(row, alert(1), at(5), POLICY)
    row = settle(row, first.token, False, POLICY)  # SMTP was down
    assert row.pending == 2 and row.first == alert(0)
    assert not is_due(row, at(599))
    row, digest = take(row, at(600), POLICY)
    assert digest.count == 2
    assert digest.first == alert(0)
    assert digest.samples == [alert(1)]


def test_a_batch_whose_sender_died_is_taken_again_after_its_lease() -> None:
    row, first = admit(None, alert(0), T0, POLICY)
    assert first is not None
    row, _ = admit(row, alert(1), at(1), POLICY)
    # Inside the lease a digest must wait: the first batch may still be on its way.
    assert not is_due(row, at(100))
    assert is_due(row, at(121))
    row, retaken = take(row, at(121), POLICY)
    assert retaken.count == 2 and retaken.first == alert(0)
    # The dead sender's late report changes nothing: its token is gone.
    assert settle(row, first.token, True, POLICY) == row
    assert settle(row, retaken.token, True, POLICY).in_flight is None


def test_an_empty_row_is_quiet() -> None:
    _, batch = admit(GateRow(), alert(0), T0, POLICY)
    assert batch is not None
    assert not is_due(GateRow(), T0)
