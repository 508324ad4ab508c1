"""What an alert is (``Alert``: one occurrence with its context) and what is sent (``Notice``).

Both turn into plain JSON, because the storm gate keeps them in the store
between the moment an alert is counted and the end of its window, possibly
in another process. Context is ids, names, counts and the vendor's error
message: never a payload, never a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, cast

__all__ = ["RULES", "Alert", "Batch", "Notice", "Rule"]

Rule = Literal["dead_letter", "needs_reauth", "error_rate", "api_credits", "test"]
RULES: tuple[Rule, ...] = ("dead_letter", "needs_reauth", "error_rate", "api_credits", "test")

# What a rule's occurrences are called in a digest: "1,000 dead letters on books".
NOUNS: dict[str, tuple[str, str]] = {
    "dead_letter": ("dead letter", "dead letters"),
    "needs_reauth": ("re-authorization failure", "re-authorization failures"),
    "error_rate": ("error-rate alert", "error-rate alerts"),
    "api_credits": ("API credit alert", "API credit alerts"),
    "test": ("test alert", "test alerts"),
}


@dataclass(frozen=True, slots=True)
class Alert:
    """One occurrence of a rule, with everything ops need to act on it.

    Args:
        rule: which rule fired.
        key: what the storm gate groups by (the connection, usually).
        summary: one line that says what happened.
        at: when it happened (aware UTC).
        connection: the sink (or source) connection concerned.
        recipe: the recipe of the failed run.
        event_id: the event that started the run.
        event_type: its type (``payment.captured``).
        subject: the vendor object the event is about.
        step: the recipe step's id (``contact``).
        delivery_id: the step row id; the dashboard shows it at ``/deliveries/{id}``.
        attempts: attempts made at the step.
        error: the vendor's error or the hub's reason.
        status_code: the vendor's last HTTP status.
        link: where to look (filled in when sent).
        details: rule-specific numbers (a rate, credits used).
    """

    rule: Rule
    key: str
    summary: str
    at: datetime
    connection: str | None = None
    recipe: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    subject: str | None = None
    step: str | None = None
    delivery_id: str | None = None
    attempts: int | None = None
    error: str | None = None
    status_code: int | None = None
    link: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: ``None`` fields left out, ``at`` as ISO 8601."""
        doc: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "details" and not value):
                continue
            doc[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Alert:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in doc.items() if k in known}
        values["at"] = datetime.fromisoformat(values["at"])
        values["rule"] = cast(Rule, values["rule"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Batch:
    """Alerts of one (rule, key) to send as one message: one alert at once, or a digest.

    Args:
        count: how many alerts the message stands for.
        first: the earliest of them.
        samples: a few of the later ones.
        since: start of the period the message covers.
        until: its end.
        digest: True for an end-of-window digest, False for an alert sent at once.
        token: names this hand-over to a sender, so only that sender can settle it.
    """

    count: int
    first: dict[str, Any]
    samples: list[dict[str, Any]]
    since: datetime
    until: datetime
    digest: bool
    token: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "first": self.first,
            "samples": self.samples,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "digest": self.digest,
            "token": self.token,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Batch:
        return cls(
            count=int(doc["count"]),
            first=dict(doc["first"]),
            samples=list(doc.get("samples") or []),
            since=datetime.fromisoformat(doc["since"]),
            until=datetime.fromisoformat(doc["until"]),
            digest=bool(doc.get("digest", True)),
            token=str(doc.get("token", "")),
        )


@dataclass(frozen=True, slots=True)
class Notice:
    """One message for one channel: a batch of alerts of one (rule, key)."""

    channel: str
    rule: Rule
    key: str
    count: int
    first: Alert
    samples: list[Alert]
    since: datetime
    until: datetime
    digest: bool
    token: str = ""

    @classmethod
    def of(cls, channel: str, rule: str, key: str, batch: Batch) -> Notice:
        return cls(
            channel=channel,
            rule=cast(Rule, rule),
            key=key,
            count=batch.count,
            first=Alert.from_json(batch.first),
            samples=[Alert.from_json(s) for s in batch.samples],
            since=batch.since,
            until=batch.until,
            digest=batch.digest,
            token=batch.token,
        )
