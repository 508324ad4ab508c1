"""``Event``, the common envelope every source emits (CloudEvents 1.0 field names).

Besides the CloudEvents attributes (``specversion``, ``id``, ``type``,
``source``, ``subject``, ``time``, ``dataschema``, ``data``) an event carries
the hub's own: ``connection`` and ``connector`` (filled in by the ingress or
poller), the ``idempotency_key`` that makes redeliveries harmless, and the
vendor's original payload in ``raw`` (``event.raw`` in recipes).

``Event.create`` checks ``data`` against ``hub/schemas/<type>.json`` at once,
so a connector that emits the wrong shape fails in its own tests, not in a
customer's recipe. ``hub/schemas/event.json`` is generated from this module.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from hub import schemas

__all__ = ["SPECVERSION", "Event", "event_id", "from_epoch", "parse_time", "utcnow"]

SPECVERSION = "1.0"
_NAMESPACE = uuid.UUID("6f1f5a2e-4d0b-4b8e-9a51-6d2f0c1e7a10")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def from_epoch(seconds: int | float | str) -> datetime:
    """A vendor's Unix timestamp (seconds) as an aware UTC datetime."""
    return datetime.fromtimestamp(float(seconds), UTC)


def parse_time(value: str) -> datetime:
    """An ISO 8601 timestamp as an aware datetime (naive values are taken as UTC)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def event_id(connection: str, idempotency_key: str) -> str:
    """A stable event id: the same delivery on the same connection gets the same id."""
    return str(uuid.uuid5(_NAMESPACE, f"{connection}\x00{idempotency_key}"))


@dataclass(frozen=True, slots=True)
class Event:
    """One normalized event.

    Attributes:
        type: the hub's own type, ``object.past_verb`` (``payment.captured``).
        subject: the vendor object the event is about (``pay_P4tYk8mZq2LwXa``).
        idempotency_key: the same on every redelivery of this event by the vendor.
        time: when it happened at the vendor (aware datetime).
        data: the normalized body, valid against ``dataschema``.
        raw: the vendor's payload as received (parsed JSON or form fields).
        connection, connector: set by the hub when the event is received.
        id, source: derived from connection and idempotency key.
    """

    type: str
    subject: str
    idempotency_key: str
    time: datetime
    data: dict[str, Any]
    raw: Any = None
    connection: str = ""
    connector: str = ""
    id: str = ""
    source: str = ""
    dataschema: str = ""
    specversion: str = SPECVERSION
    extensions: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        *,
        type: str,
        subject: str,
        idempotency_key: str,
        data: dict[str, Any],
        time: datetime | None = None,
        raw: Any = None,
    ) -> Event:
        """Build an event whose ``data`` is checked against its type's JSON Schema.

        Raises:
            hub.schemas.SchemaViolation: ``data`` does not fit ``hub/schemas/``.
        """
        schemas.validate_data(type, data)
        when = time or utcnow()
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return cls(
            type=type,
            subject=subject,
            idempotency_key=idempotency_key,
            time=when,
            data=data,
            raw=raw,
            dataschema=schemas.schema_uri(type),
        )

    def bind(self, connection: str, connector: str) -> Event:
        """This event as received on ``connection``: fills id, source and names."""
        return replace(
            self,
            connection=connection,
            connector=connector,
            id=event_id(connection, self.idempotency_key),
            source=f"/connections/{connection}",
        )

    def to_dict(self, include_raw: bool = True) -> dict[str, Any]:
        """The JSON form (CloudEvents structured mode, plus the hub's attributes)."""
        out: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time.isoformat(),
            "dataschema": self.dataschema,
            "datacontenttype": "application/json",
            "connection": self.connection,
            "connector": self.connector,
            "idempotencykey": self.idempotency_key,
            "data": self.data,
        }
        if include_raw:
            out["raw"] = self.raw
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Event:
        """Rebuild an event from ``to_dict`` output (no schema check: it was checked on entry)."""
        return cls(
            type=doc["type"],
            subject=doc.get("subject", ""),
            idempotency_key=doc.get("idempotencykey", doc.get("idempotency_key", "")),
            time=parse_time(doc["time"]),
            data=doc.get("data") or {},
            raw=doc.get("raw"),
            connection=doc.get("connection", ""),
            connector=doc.get("connector", ""),
            id=doc.get("id", ""),
            source=doc.get("source", ""),
            dataschema=doc.get("dataschema", ""),
            specversion=doc.get("specversion", SPECVERSION),
        )
