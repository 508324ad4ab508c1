"""``Alerter``: the alerts of one hub process: collect, gate through the store, send, re-check.

Callers on hot paths (the dispatcher's ``on_finished``, the runner's re-auth
hook) only ``notify``: the alert is queued in memory and the call returns.
A pump task drains the queue in batches, one store transaction per batch
(``state.admit_alerts``), so a storm of 1,000 dead letters costs a few
transactions and sends one message per channel; the rest are counted.

A ticker task, every fraction of the storm window, takes the digests whose
window has ended (``state.take_due``) and sends them; and every
``check_interval`` it runs the periodic rules: API credits (this process's
connections), and, in one process of the fleet per interval
(``state.claim_tick``), the error rate (one indexed query) and the re-auth
flags that pollers or other processes set.

Sending never blocks the pump: each message is its own task, and its
outcome is written back to the gate (``state.settle_batch``), so a message
that failed (SMTP down) is counted back in and sent again at the end of the
next window.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from hub.alerts import checks, state
from hub.alerts.channels import Channel, ChannelError
from hub.alerts.gate import GatePolicy
from hub.alerts.model import Alert, Notice
from hub.alerts.settings import AlertsConfig
from hub.connections import ConnectionSet
from hub.events import utcnow
from hub.metrics import Metrics
from hub.store import StepWork, Store

__all__ = ["Alerter"]

log = logging.getLogger("hub.alerts")

MAX_QUEUED = 100_000  # beyond this (the store is down for long) the oldest are dropped, counted
CHECK_TICK = "alerts.checks"


class Alerter:
    """Raises, gates and sends the alerts of one hub process.

    Args:
        config: the ``alerts:`` section.
        store: the hub's store (the gate's state lives there).
        channels: where messages go.
        metrics: the process's metrics.
        public_url: the dashboard's address, for links in messages.
        connections: the live connections (for API credit checks).
        clock: now, as an aware UTC datetime.
    """

    def __init__(
        self,
        config: AlertsConfig,
        store: Store,
        channels: Sequence[Channel],
        metrics: Metrics,
        public_url: str,
        connections: ConnectionSet | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.channels = {c.name: c for c in channels}
        self.metrics = metrics
        self.public_url = public_url.rstrip("/")
        self.connections = connections
        self.clock = clock
        self.policy = GatePolicy(window=timedelta(seconds=config.window), samples=config.samples)
        self._queue: list[Alert] = []
        self._wake = asyncio.Event()
        self._sends: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._credit_alerted: set[str] = set()
        self._last_check = 0.0
        self._stopping = False

    # -- raising ---------------------------------------------------------------------

    def notify(self, alert: Alert) -> None:
        """Queue ``alert`` (never blocks, never raises)."""
        if not self.config.enabled:
            return
        self.metrics.alerts_raised.labels(alert.rule).inc()
        if len(self._queue) >= MAX_QUEUED:
            dropped = self._queue.pop(0)
            log.error("alert queue full; dropped a %s alert on %s", dropped.rule, dropped.key)
        self._queue.append(alert)
        self._wake.set()

    def dead_letter(self, work: StepWork) -> None:
        """A delivery was dead-lettered (the dispatcher's ``on_finished`` with ``dead``)."""
        if self.config.dead_letter:
            self.notify(checks.dead_letter_alert(work, self.clock()))

    def needs_reauth(self, connection: str, reason: str | None) -> None:
        """A connection's credentials were refused."""
        if self.config.needs_reauth:
            self.notify(checks.reauth_alert(connection, reason, self.clock()))

    # -- lifecycle -------------------------------------------------------------------

    @property
    def tick_seconds(self) -> float:
        """How often ended windows are looked for: a tenth of the window, 50 ms to 5 s."""
        return min(max(self.config.window / 10, 0.05), 5.0)

    async def start(self, periodic: bool = True) -> None:
        """Start the pump, and (``periodic``) the ticker that sends digests and runs the checks."""
        self._stopping = False
        self._tasks.append(asyncio.create_task(self._pump(), name="hub-alerts-pump"))
        if periodic:
            self._tasks.append(asyncio.create_task(self._ticker(), name="hub-alerts-ticker"))

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop the tasks, gate what is still queued, and give sends ``timeout`` to finish.

        A send cut short keeps its lease in the store and is taken again later.
        """
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.pump_once()
        if self._sends:
            _, pending = await asyncio.wait(set(self._sends), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until the queue is gated and every send has finished (tests, ``hub alerts test``)."""
        while self._queue or self._sends:
            if self._queue:
                await self.pump_once()
            if self._sends:
                await asyncio.gather(*set(self._sends), return_exceptions=True)

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.pump_once()
            except Exception as exc:  # noqa: BLE001 - the store may be down: keep the queue
                log.warning("could not record %d alert(s), retrying: %s", len(self._queue), exc)
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.tick_seconds, self.config.check_interval))
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - try again next tick
                log.warning("could not take due alert digests: %s", exc)
            if loop.time() - self._last_check >= self.config.check_interval:
                self._last_check = loop.time()
                try:
                    await self.check()
                except Exception as exc:  # noqa: BLE001 - try again next interval
                    log.warning("periodic alert checks failed: %s", exc)

    # -- gating and sending --------------------------------------------------------------

    async def pump_once(self) -> None:
        """Gate everything queued in one store transaction and start the sends it allows."""
        if not self._queue:
            return
        batch, self._queue = self._queue, []
        if not self.channels:
            return  # counted in hub_alerts_raised_total; nowhere to send
        items = [
            (state.GateKey(name, alert.rule, alert.key), alert.to_json())
            for alert in batch
            for name in self.channels
        ]
        now = self.clock()
        try:
            handed = await self.store.run_write(
                lambda c: state.admit_alerts(c, items, now, self.policy)
            )
        except BaseException:
            self._queue[:0] = batch
            raise
        held = Counter((gate.rule, gate.channel) for gate, _ in items)
        held.subtract((h.gate.rule, h.gate.channel) for h in handed)
        for (rule, channel), n in held.items():
            if n > 0:
                self.metrics.alerts_suppressed.labels(rule, channel).inc(n)
        self._start_sends(handed)

    async def flush(self) -> int:
        """Take the digests whose window has ended and send them; returns how many."""
        now = self.clock()
        handed = await self.store.run_write(lambda c: state.take_due(c, now, self.policy))
        self._start_sends(handed)
        return len(handed)

    def _start_sends(self, handed: Sequence[state.Handed]) -> None:
        for item in handed:
            task = asyncio.create_task(self._deliver(item), name=f"hub-alert-{item.gate.rule}")
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _deliver(self, handed: state.Handed) -> None:
        gate = handed.gate
        channel = self.channels.get(gate.channel)
        delivered = False
        kind = "digest" if handed.batch.digest else "immediate"
        if channel is None:
            # Configured in another process (or before a restart): leave it to one that has it.
            log.debug("no %s channel here for a %s alert", gate.channel, gate.rule)
            return
        try:
            notice = await self._enrich(Notice.of(gate.channel, gate.rule, gate.key, handed.batch))
            await channel.send(notice)
            delivered = True
            self.metrics.alerts_sent.labels(gate.rule, gate.channel, kind).inc()
            log.info(
                "sent %s %s alert on %s by %s (%d occurrence(s))",
                kind,
                gate.rule,
                gate.key,
                gate.channel,
                notice.count,
                extra={"rule": gate.rule, "channel": gate.channel},
            )
        except ChannelError as exc:
            self.metrics.alerts_failed.labels(gate.rule, gate.channel).inc()
            log.warning(
                "could not send %s alert on %s by %s (kept; retried at the end of the window): %s",
                gate.rule,
                gate.key,
                gate.channel,
                exc,
                extra={"rule": gate.rule, "channel": gate.channel},
            )
        except Exception:
            self.metrics.alerts_failed.labels(gate.rule, gate.channel).inc()
            log.exception("sending a %s alert by %s failed unexpectedly", gate.rule, gate.channel)
        finally:
            now = self.clock()
            try:
                await self.store.run_write(
                    lambda c: state.settle_batch(c, handed, delivered, now, self.policy)
                )
            except Exception as exc:  # noqa: BLE001 - the lease lapses and the batch is retaken
                log.warning("could not record the outcome of a %s alert: %s", gate.rule, exc)

    async def _enrich(self, notice: Notice) -> Notice:
        """Add links, and the vendor's error of dead letters, from the store (sent alerts only)."""
        first = await self._enriched(notice.first)
        samples = [await self._enriched(s) for s in notice.samples]
        return replace(notice, first=first, samples=samples)

    async def _enriched(self, alert: Alert) -> Alert:
        if alert.delivery_id is not None:
            link = f"{self.public_url}/deliveries/{alert.delivery_id}"
            found = await self.store.get_delivery(alert.delivery_id)
            if found is None:
                return replace(alert, link=link)
            step, _run, attempts = found
            last = attempts[-1] if attempts else None
            return replace(
                alert,
                link=link,
                attempts=step.attempts or alert.attempts,
                error=checks.clip(step.last_error or (last.error if last else None)) or alert.error,
                status_code=last.status_code if last is not None else alert.status_code,
            )
        if alert.connection is not None and alert.link is None:
            return replace(alert, link=f"{self.public_url}/connections/{alert.connection}")
        return alert

    # -- periodic rules ------------------------------------------------------------------

    async def check(self) -> None:
        """Run the periodic rules once: credits here, error rate and re-auth fleet-wide."""
        if not self.config.enabled:
            return
        await self.check_credits()
        now = self.clock()
        interval = self.config.check_interval
        mine = await self.store.run_write(
            lambda c: state.claim_tick(c, CHECK_TICK, now, interval * 0.9)
        )
        if not mine:
            return  # another process ran them this interval
        if self.config.error_rate.enabled:
            await self.check_error_rate(now)
        if self.config.needs_reauth:
            await self.check_reauth_flags()

    async def check_credits(self) -> None:
        """Alert once when a connection's daily API use crosses the fraction; re-arm below it."""
        if self.connections is None or not self.config.api_credits.enabled:
            return
        for conn in self.connections:
            budget = conn.session.budget if conn.session is not None else None
            if budget is None:
                continue
            usage = await budget.usage()
            self.metrics.set_budget(conn.name, usage)
            alert = checks.credit_alert(conn.name, usage, self.config.api_credits, self.clock())
            if alert is None:
                self._credit_alerted.discard(conn.name)
            elif conn.name not in self._credit_alerted:
                self._credit_alerted.add(conn.name)
                self.notify(alert)

    async def check_error_rate(self, now: datetime) -> None:
        """Alert for each connection whose failed share of recent attempts is over the threshold."""
        rule = self.config.error_rate
        since = now - timedelta(seconds=rule.window)
        outcomes = await self.store.run_read(lambda c: checks.attempt_outcomes(c, since))
        for alert in checks.error_rate_alerts(outcomes, rule, now):
            connection = alert.key
            failure = await self.store.run_read(
                functools.partial(checks.latest_failure, connection=connection, since=since)
            )
            if failure is not None:
                alert = replace(
                    alert,
                    delivery_id=failure.delivery_id,
                    error=failure.error,
                    status_code=failure.status_code,
                )
            self.notify(alert)

    async def check_reauth_flags(self) -> None:
        """Alert for connections flagged for re-authorization by anyone (a poller, another
        process) that no alert has announced yet; forget the mark once the flag is cleared."""
        for row in await self.store.list_connections():
            flagged = bool(row.state.get("needs_reauth"))
            announced = bool(row.state.get("reauth_alerted"))
            if flagged and not announced:
                self.needs_reauth(row.name, row.state.get("reauth_reason"))
                await self.store.update_connection_state(row.name, {"reauth_alerted": True})
            elif announced and not flagged:
                await self.store.update_connection_state(row.name, {"reauth_alerted": None})

    # -- hub alerts test -------------------------------------------------------------------

    async def send_test(self) -> dict[str, str | None]:
        """Send a test message through every channel, bypassing the gate: channel -> error."""
        now = self.clock()
        alert = Alert(
            rule="test",
            key="test",
            summary="test alert from the hub: this channel works",
            at=now,
            details={"sent_by": "hub alerts test"},
        )
        results: dict[str, str | None] = {}
        for name, channel in self.channels.items():
            notice = Notice(name, "test", "test", 1, alert, [], now, now, digest=False)
            try:
                await channel.send(notice)
                results[name] = None
            except ChannelError as exc:
                results[name] = str(exc)
        return results
