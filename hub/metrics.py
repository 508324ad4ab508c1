"""Prometheus metrics of one hub process (``/metrics``), in a registry of its own.

A registry per app (not the global default) keeps tests and embedded hubs
from sharing counters. Counters and histograms are updated where things
happen (ingress, runner, alerts); the gauges that describe shared state (the
backlog in the store, API credits) are read when ``/metrics`` is scraped
(``collect``), so their cost is one indexed query per scrape, not per step.

Families:

==========================================  =====================================================
hub_events_received_total                   events stored, by connection and type
hub_events_duplicate_total                  redeliveries dropped, by connection
hub_webhook_requests_total                  webhook answers, by connection and status
hub_webhook_signature_failures_total        bad signatures, by connection
hub_ingest_seconds                          webhook received -> durable commit
hub_step_attempts_total                     attempts by action and outcome
hub_deliveries_total                        attempts by sink connection and outcome
hub_step_retries_total                      attempts that will be retried, by connection, action
hub_attempt_seconds                         one attempt's duration, by connection
hub_first_attempt_delay_seconds             ingest -> first attempt of a run's first step
hub_backlog_steps                           pending steps due now, by connection
hub_steps_in_flight                         steps running in this process
hub_api_calls                               API calls used, by connection and window
hub_api_call_limit                          the vendor's limit, by connection and window
hub_api_credit_fraction                     share of the daily API budget used, by connection
hub_alerts_raised_total                     alert occurrences, by rule
hub_alerts_sent_total                       messages sent, by rule, channel, kind
hub_alerts_suppressed_total                 occurrences held for a digest, by rule, channel
hub_alerts_failed_total                     messages that could not be sent, by rule, channel
==========================================  =====================================================
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from hub.events import utcnow
from hub.limits import BudgetUsage
from hub.store import AttemptRecord, StepOutcome, StepWork, Store
from hub.store.tables import steps

if TYPE_CHECKING:
    from hub.connections import ConnectionSet

__all__ = ["Metrics", "backlog_query"]

log = logging.getLogger("hub.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class Metrics:
    """The hub's counters, histograms and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_in = Counter(
            "hub_events_received_total",
            "Events accepted and stored, by connection and type.",
            ["connection", "type"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "hub_events_duplicate_total",
            "Redelivered events acknowledged and dropped.",
            ["connection"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "hub_webhook_requests_total",
            "Webhook requests by connection and HTTP status answered.",
            ["connection", "status"],
            registry=self.registry,
        )
        self.signature_failures = Counter(
            "hub_webhook_signature_failures_total",
            "Webhooks refused because the signature did not match.",
            ["connection"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "hub_step_attempts_total",
            "Step attempts by action and outcome (ok, skipped, retry, dead).",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.ingest_latency = Histogram(
            "hub_ingest_seconds",
            "Time from webhook received to durable commit.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "hub_steps_in_flight", "Steps running now in this process.", registry=self.registry
        )
        self.by_connection = Counter(
            "hub_deliveries_total",
            "Step attempts by sink connection and outcome (ok, skipped, retry, throttled, dead).",
            ["connection", "outcome"],
            registry=self.registry,
        )
        self.retries = Counter(
            "hub_step_retries_total",
            "Attempts that failed and will be retried, by sink connection and action.",
            ["connection", "action"],
            registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            "hub_attempt_seconds",
            "How long one attempt of a step took (the sink's answer included), by connection.",
            ["connection"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.first_attempt_delay = Histogram(
            "hub_first_attempt_delay_seconds",
            "Time from an event's ingest to the first attempt of its run's first step.",
            ["connection"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.backlog = Gauge(
            "hub_backlog_steps",
            "Pending steps due now (waiting for a slot or a worker), by sink connection.",
            ["connection"],
            registry=self.registry,
        )
        self.api_calls = Gauge(
            "hub_api_calls",
            "API calls used in the vendor's current window (minute, day), by connection.",
            ["connection", "window"],
            registry=self.registry,
        )
        self.api_limit = Gauge(
            "hub_api_call_limit",
            "The vendor's API call limit per window (minute, day), by connection.",
            ["connection", "window"],
            registry=self.registry,
        )
        self.api_fraction = Gauge(
            "hub_api_credit_fraction",
            "Share of the daily API budget used (0-1), by connection.",
            ["connection"],
            registry=self.registry,
        )
        self.alerts_raised = Counter(
            "hub_alerts_raised_total",
            "Alert occurrences (dead letters, re-auth, error rate, credits), by rule.",
            ["rule"],
            registry=self.registry,
        )
        self.alerts_sent = Counter(
            "hub_alerts_sent_total",
            "Alert messages sent, by rule, channel and kind (immediate, digest).",
            ["rule", "channel", "kind"],
            registry=self.registry,
        )
        self.alerts_suppressed = Counter(
            "hub_alerts_suppressed_total",
            "Alert occurrences held back by the storm window for a digest, by rule and channel.",
            ["rule", "channel"],
            registry=self.registry,
        )
        self.alerts_failed = Counter(
            "hub_alerts_failed_total",
            "Alert messages that could not be sent (kept and retried), by rule and channel.",
            ["rule", "channel"],
            registry=self.registry,
        )

    def observe_attempt(self, work: StepWork, record: AttemptRecord, outcome: StepOutcome) -> None:
        """Count one finished attempt (the runner calls this; it does no I/O)."""
        conn = work.step.connection
        throttled = record.outcome == "throttled"
        self.by_connection.labels(conn, "throttled" if throttled else outcome.kind).inc()
        if throttled:
            return  # the hub waited for its own budget: no call was made
        self.attempt_seconds.labels(conn).observe(record.duration_ms / 1000)
        if outcome.kind == "retry":
            self.retries.labels(conn, work.step.action).inc()
        if work.step.step_index == 0 and work.step.attempts == 0:
            waited = (record.started_at - work.step.created_at).total_seconds()
            self.first_attempt_delay.labels(conn).observe(max(waited, 0.0))

    def set_backlog(self, due: dict[str, int], connections: Iterable[str]) -> None:
        """The backlog gauge: ``due`` per connection, 0 for every other known connection."""
        for name in {*connections, *due}:
            self.backlog.labels(name).set(due.get(name, 0))

    async def collect(self, store: Store, connections: ConnectionSet) -> None:
        """Refresh the gauges of shared state before a scrape: the backlog (one indexed
        query) and every connection's API budget. A failure leaves the last values."""
        now = utcnow()
        try:
            due = await store.run_read(
                lambda c: {str(k): int(n) for k, n in c.execute(backlog_query(now))}
            )
            self.set_backlog(due, (conn.name for conn in connections))
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even if the store does not
            log.warning("could not count the backlog for /metrics: %s", exc)
        for conn in connections:
            budget = conn.session.budget if conn.session is not None else None
            if budget is None:
                continue
            try:
                self.set_budget(conn.name, await budget.usage())
            except Exception as exc:  # noqa: BLE001 - e.g. Redis down: keep the last values
                log.warning("could not read the API budget of %s for /metrics: %s", conn.name, exc)

    def set_budget(self, connection: str, usage: BudgetUsage) -> None:
        """The API credit gauges of one connection."""
        for window, used, limit in (
            ("minute", usage.minute_used, usage.minute_limit),
            ("day", usage.day_used, usage.day_limit),
        ):
            self.api_calls.labels(connection, window).set(used)
            if limit is not None:
                self.api_limit.labels(connection, window).set(limit)
        if usage.day_fraction is not None:
            self.api_fraction.labels(connection).set(usage.day_fraction)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


def backlog_query(now: datetime) -> sa.Select[Any]:
    """Pending steps due by ``now``, counted by connection (a range scan of ``(status, due_at)``)."""
    return (
        sa.select(steps.c.connection, sa.func.count())
        .where(steps.c.status == "pending", steps.c.due_at <= now)
        .group_by(steps.c.connection)
    )
