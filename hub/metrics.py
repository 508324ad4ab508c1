"""Prometheus metrics of one hub process (``/metrics``), in a registry of its own.

A registry per app (not the global default) keeps tests and embedded hubs
from sharing counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


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

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
