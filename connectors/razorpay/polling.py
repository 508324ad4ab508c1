"""Razorpay's REST API polled for payments (``GET /v1/payments``) through the official SDK.

A safety net under the webhook: a payment whose deliveries were all lost
(URL disabled after 24 h of failures, an outage longer than Razorpay's
retries) still becomes an event. Events carry the webhook's idempotency keys
and ``data`` (same ``normalize`` functions), so a payment seen both ways is
stored once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, TypeAlias

import razorpay
import razorpay.errors
import requests

from hub.connector import Page, PollContext, PollingSource
from hub.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    ParseError,
    PermanentError,
    RateLimitError,
    TransientError,
)
from hub.events import Event
from hub.http import retry_after_seconds
from hub.schemas import SchemaViolation

from .config import RazorpayConfig
from .normalize import epoch, to_payment
from .sources import idempotency_key

__all__ = ["POLL_TYPES", "Cursor", "RazorpayPayments"]

Cursor: TypeAlias = dict[str, Any]

#: Payment status in the REST API -> hub type. A refunded payment was captured
#: first; ``created`` (checkout opened, nothing paid yet) is not an event.
POLL_TYPES: Final[dict[str, str]] = {
    "authorized": "payment.authorized",
    "captured": "payment.captured",
    "refunded": "payment.captured",
    "failed": "payment.failed",
}

# The documented range of `from` (2000-01-01 .. 2121-01-01): outside it the API answers 400.
FROM_MIN: Final = 946_684_800
FROM_MAX: Final = 4_765_046_400


class RazorpayPayments(PollingSource[RazorpayConfig, Cursor]):
    """Payments listed by ``GET /v1/payments``, one time window at a time.

    **Cursor** (JSON, all Unix seconds)::

        {"from": 1731650000, "skip": 200, "window_end": 1731653600, "since": 1730000000}

    - ``from``/``window_end``: the window ``[from, window_end]`` on the payments'
      ``created_at``. ``window_end`` is ``None`` between windows; the next poll
      fixes it at ``min(from + max_window, now)`` and keeps it while it pages.
    - ``skip``: payments of the window already fetched. Pages are ``count=100``
      with ``skip``; the window is done when a page has fewer than 100. The
      API's ordering is not relied on (newest-first is UNCONFIRMED).
    - After a window, ``from`` moves to ``window_end - overlap`` (5 minutes),
      so a payment that appears late near the boundary is still seen; the
      re-fetched ones carry the same idempotency keys and are dropped as
      duplicates by the store.
    - An empty window at the live edge keeps the cursor unchanged (the next
      poll's window simply ends later); an empty window in the past moves on,
      and so does a backfill cursor's last one (so ``progress`` ends at 100%).
    - ``more`` is true while pages remain in the window or the window ended
      more than ``overlap`` before ``now`` (catching up), false once it is
      within ``overlap`` of ``now``.
    - ``since``: only in backfill cursors, for ``progress``; carried along.
    - ``None`` (first poll): start ``first_lookback`` (1 hour) before now; older
      history is what ``hub connections backfill`` is for.

    **Backfill hooks** (for ``hub connections backfill CONNECTION --since DATE``):

    - ``RazorpayPayments.cursor_since(since, now=None) -> Cursor``: the cursor
      that starts at ``since`` (clamped to the API's 2000-01-01 floor).
      Call ``poll`` with it until ``Page.more`` is false.
    - ``poller.progress(cursor) -> (done, total) | None``: seconds of
      ``[since, now at cursor_since]`` covered so far; ``None`` for a cursor
      not made by ``cursor_since``.

    Each payment is reported in the state it has when its window is polled:
    a capture later than ``overlap`` after creation arrives by webhook only.
    """

    name = "razorpay.payments"
    emits = ("payment.authorized", "payment.captured", "payment.failed")
    interval = timedelta(minutes=5)

    page_size: ClassVar[int] = 100
    overlap: ClassVar[timedelta] = timedelta(minutes=5)
    max_window: ClassVar[timedelta] = timedelta(days=1)
    first_lookback: ClassVar[timedelta] = timedelta(hours=1)
    timeout: ClassVar[float] = 30.0

    # ----------------------------------------------------------------- backfill hooks

    @classmethod
    def cursor_since(cls, since: datetime, now: datetime | None = None) -> Cursor:
        """The cursor of a backfill from ``since`` (``now``: the end progress measures to)."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        start = max(int(since.timestamp()), FROM_MIN)
        until = int((now or datetime.now(UTC)).timestamp())
        return {"from": start, "skip": 0, "window_end": None, "since": start, "until": until}

    def progress(self, cursor: Cursor | None) -> tuple[float, float] | None:
        """``(done, total)`` seconds of a backfill cursor's ``[since, until]``; else ``None``."""
        if not isinstance(cursor, dict):
            return None
        since, until, start = cursor.get("since"), cursor.get("until"), cursor.get("from")
        if not (isinstance(since, int) and isinstance(until, int) and isinstance(start, int)):
            return None
        total = float(max(until - since, 0))
        done = float(min(max(start - since, 0), total))
        if start + int(self.overlap.total_seconds()) >= until:
            done = total  # the last window starts an overlap before the end
        return done, total

    # ----------------------------------------------------------------------------- poll

    def configured(self) -> bool:
        """Polling needs API keys; a webhook-only connection runs no poller."""
        return bool(self.config.key_id) and self.config.key_secret is not None

    async def poll(self, cursor: Cursor | None, ctx: PollContext) -> Page[Cursor]:
        """One page of one window; see the class docstring for the cursor contract.

        Raises:
            ConfigError: no API key, or a cursor this source did not write.
            AuthError: the key is rejected (401/403).
            RateLimitError: 429.
            TransientError: 5xx, timeouts, connection failures.
            PermanentError: any other 4xx, or an answer that is not a collection.
        """
        now = int(ctx.now.timestamp())
        start, skip, fixed_end, extra = self._read(cursor, now)
        end = fixed_end if fixed_end is not None else min(start + self._max_window, now)
        end = min(max(end, start), FROM_MAX)
        items = await asyncio.to_thread(self._fetch, start, end, skip)
        events = [e for e in (self._event(item, ctx.log) for item in items) if e is not None]
        if len(items) >= self.page_size:
            nxt = {"from": start, "skip": skip + len(items), "window_end": end, **extra}
            return Page(events=events, cursor=nxt, more=True)
        live_edge = skip == 0 and fixed_end is None and end >= now
        if not items and live_edge and cursor is not None and "until" not in extra:
            return Page(events=[], cursor=cursor, more=False)
        following = max(end - int(self.overlap.total_seconds()), start)
        nxt = {"from": following, "skip": 0, "window_end": None, **extra}
        # Catching up (a backfill, or after downtime): poll again at once. Within
        # an overlap of now, the next scheduled poll covers the rest anyway.
        return Page(events=events, cursor=nxt, more=end + int(self.overlap.total_seconds()) < now)

    @property
    def _max_window(self) -> int:
        return int(self.max_window.total_seconds())

    def _read(self, cursor: Cursor | None, now: int) -> tuple[int, int, int | None, Cursor]:
        if cursor is None:
            return max(now - int(self.first_lookback.total_seconds()), FROM_MIN), 0, None, {}
        start, skip, end = cursor.get("from"), cursor.get("skip", 0), cursor.get("window_end")
        if (
            not isinstance(start, int)
            or not isinstance(skip, int)
            or skip < 0
            or not (end is None or isinstance(end, int))
        ):
            raise ConfigError(
                f"{self.name} cursor {cursor!r:.120} is not one this source wrote: "
                "reset the connection's cursor"
            )
        extra: Cursor = {k: cursor[k] for k in ("since", "until") if k in cursor}
        return max(start, FROM_MIN), skip, end, extra

    def _event(self, item: Any, log_: logging.Logger) -> Event | None:
        if not isinstance(item, dict):
            log_.warning("%s: skipped a list item that is not an object", self.name)
            return None
        status = item.get("status")
        hub_type = POLL_TYPES.get(status) if isinstance(status, str) else None
        payment_id = item.get("id")
        if hub_type is None or not isinstance(payment_id, str) or not payment_id:
            return None
        try:
            return Event.create(
                type=hub_type,
                subject=payment_id,
                idempotency_key=idempotency_key(hub_type, payment_id),
                time=epoch(item.get("created_at"), "created_at"),
                data=to_payment(item, hub_type.rsplit(".", 1)[1], "payment"),
                raw=item,
            )
        except (ParseError, SchemaViolation) as exc:
            # One malformed entity must not stall the poller for good; the
            # webhook path answers 400 for the same payment.
            log_.warning("%s: skipped payment %s: %s", self.name, payment_id[:40], exc)
            return None

    # ------------------------------------------------------------------- the SDK call

    def _fetch(self, start: int, end: int, skip: int) -> list[Any]:
        """``client.payment.all`` in a worker thread (the SDK is synchronous ``requests``)."""
        key_id, key_secret = self.config.key_id, self.config.key_secret
        if not key_id or key_secret is None:
            raise ConfigError(
                f"{self.name} needs key_id and key_secret (Dashboard → Account & Settings "
                "→ API Keys) in the connection's config"
            )
        seen: dict[str, Any] = {}

        def remember(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
            # The SDK raises by the body's error code only; the status and
            # Retry-After decide the consequence, so keep them from the response.
            seen["status"] = resp.status_code
            seen["retry_after"] = retry_after_seconds(resp.headers)

        session = requests.Session()
        session.hooks["response"].append(remember)
        client = razorpay.Client(
            session=session,
            auth=(key_id, key_secret.reveal()),
            base_url=self.config.api_base_url,
        )
        params = {"from": start, "to": end, "count": self.page_size, "skip": skip}
        try:
            body = client.payment.all(params, timeout=self.timeout)
        except (
            razorpay.errors.BadRequestError,
            razorpay.errors.GatewayError,
            razorpay.errors.ServerError,
        ) as exc:
            raise _api_error(seen, str(exc), type(exc).__name__) from exc
        except requests.exceptions.RequestException as exc:
            raise _api_error(seen, f"{type(exc).__name__}: {exc}", "") from exc
        finally:
            session.close()
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise PermanentError(
                "GET /v1/payments did not answer a collection: check api_base_url",
                seen.get("status"),
                repr(body)[:200],
            )
        return items


def _api_error(seen: dict[str, Any], message: str, sdk_error: str) -> ConnectorError:
    """The hub error for a failed ``GET /v1/payments``, by HTTP status (the SDK's class as fallback)."""
    status: int | None = seen.get("status")
    where = "Razorpay GET /v1/payments"
    said = message[:200] or "(no description)"
    if status == 429:
        return RateLimitError(
            f"{where} is rate limited: {said}", status, retry_after=seen.get("retry_after")
        )
    if status in (401, 403):
        return AuthError(
            f"{where} refused the API key ({status}): {said}; check key_id and key_secret",
            status,
        )
    if status is None or status >= 500 or status in (408, 425) or status < 400:
        # No answer (connection refused, timeout) or an unreadable one.
        if status is None and sdk_error == "BadRequestError":
            return PermanentError(f"{where} rejected the request: {said}")
        return TransientError(
            f"{where} failed{f' with {status}' if status else ''}: {said}",
            status,
            retry_after=seen.get("retry_after"),
        )
    return PermanentError(f"{where} rejected the request ({status}): {said}", status)
