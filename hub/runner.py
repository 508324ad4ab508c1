"""The runner: one attempt of one step: render inputs, call the action, decide what next.

The outcome is decided from the error's type alone (``hub.errors``):
``TransientError`` → retry per the step's policy (``Retry-After`` honoured)
until attempts run out, then dead letter; ``PermanentError`` → dead letter at
once with a message that says what to fix; ``AuthError`` also flags the
connection for re-authorization. Every attempt is returned as an
``AttemptRecord`` with the redacted HTTP exchanges the action made, so ops see
exactly what was sent and answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from hub.connections import ConnectionSet
from hub.connector import ActionContext
from hub.errors import AuthError, ConfigError, PermanentError, TransientError
from hub.events import Event, utcnow
from hub.http import Exchange, record_exchanges, stop_recording
from hub.limits import Throttled
from hub.logs import log_context
from hub.recipes import Recipe, Step
from hub.retry import DEFAULT_POLICY
from hub.router import plan_step
from hub.store import AttemptRecord, StepOutcome, StepWork
from hub.templates import compile_condition, render_value

__all__ = ["RenderedStep", "Runner", "render_step", "step_context"]

log = logging.getLogger("hub.runner")


def step_context(event: Event, outputs: Mapping[str, Any], recipe: Recipe) -> dict[str, Any]:
    """What a step's templates can see: the event, earlier steps' outputs, the recipe's name."""
    return {"event": event.to_dict(), "steps": dict(outputs), "recipe": {"name": recipe.name}}


@dataclass(frozen=True, slots=True)
class RenderedStep:
    """A step's inputs after rendering (``skipped`` when its ``if`` was false)."""

    step: Step
    inputs: dict[str, Any]
    skipped: bool = False


def render_step(step: Step, context: dict[str, Any]) -> RenderedStep:
    """Evaluate ``if`` and render ``with``.

    Raises:
        ConfigError: a template failed (undefined field, bad filter), naming the step.
    """
    if step.if_ is not None and not compile_condition(step.if_)(context):
        return RenderedStep(step, {}, skipped=True)
    rendered = render_value(step.with_, context)
    if not isinstance(rendered, dict):
        raise ConfigError(f"step '{step.id}': `with` must render to a mapping")
    return RenderedStep(step, rendered)


def _input_problem(step: Step, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(input)"
        parts.append(f"with.{where}: {err['msg']}")
    return f"step '{step.id}' input does not fit {step.use}: " + "; ".join(parts)


def _exchanges_text(exchanges: list[Exchange], attr: str) -> str | None:
    lines = []
    for ex in exchanges:
        body = getattr(ex, attr)
        if attr == "request":
            head = f"{ex.method} {ex.url}"
        else:
            head = f"{ex.status if ex.status is not None else (ex.error or 'no answer')} ({ex.duration_ms:.0f} ms)"
        lines.append(head if body is None else f"{head}\n{body}")
    return "\n---\n".join(lines) if lines else None


def _log_outcome(work: StepWork, record: AttemptRecord, outcome: StepOutcome) -> None:
    """One line per attempt that did not simply succeed: ids and the error, never a body."""
    if outcome.kind == "dead":
        level = logging.WARNING
    elif outcome.kind == "retry" and record.outcome != "throttled":
        level = logging.INFO
    else:
        level = logging.DEBUG
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "step %s (%s) attempt %d: %s%s",
        work.step.step_id,
        work.step.action,
        work.step.attempts + 1,
        outcome.kind if record.outcome != "throttled" else "throttled",
        f": {outcome.error}" if outcome.error else "",
        extra={"action": work.step.action, "attempt": work.step.attempts + 1},
    )


class Runner:
    """Executes steps against live connections; holds no per-run state."""

    def __init__(
        self,
        recipes: Mapping[str, Recipe],
        connections: ConnectionSet,
        step_timeout: float = 120.0,
        clock: Callable[[], datetime] = utcnow,
        on_auth_error: Callable[[str, str], Any] | None = None,
        on_attempt: Callable[[StepWork, AttemptRecord, StepOutcome], None] | None = None,
    ) -> None:
        self.recipes = recipes
        self.connections = connections
        self.step_timeout = step_timeout
        self.clock = clock
        self.on_auth_error = on_auth_error
        self.on_attempt = on_attempt  # metrics: sees every attempt, does no I/O

    async def execute(self, work: StepWork) -> tuple[AttemptRecord, StepOutcome]:
        """Run one attempt of ``work`` and say how the run moves on. Never raises.

        Log lines written meanwhile, anywhere, carry the step's ids (``hub.logs``).
        """
        with log_context(
            connection=work.step.connection,
            event_id=work.event.id,
            run_id=work.run.id,
            step_id=work.step.id,
        ):
            record, outcome = await self._execute(work)
            _log_outcome(work, record, outcome)
        if self.on_attempt is not None:
            try:
                self.on_attempt(work, record, outcome)
            except Exception:  # an observer's bug must not lose the attempt
                log.exception("on_attempt hook failed for step %s", work.step.id)
        return record, outcome

    async def _execute(self, work: StepWork) -> tuple[AttemptRecord, StepOutcome]:
        started_at = self.clock()
        t0 = time.perf_counter()
        exchanges, token = record_exchanges()
        attempt = work.step.attempts + 1
        recipe = self.recipes.get(work.run.recipe)
        step: Step | None = None
        try:
            if recipe is None:
                raise ConfigError(
                    f"recipe '{work.run.recipe}' is no longer loaded; restore it and replay"
                )
            step = self._find_step(recipe, work)
            output, skipped = await self._attempt(recipe, step, work, attempt)
            next_index = work.step.step_index + 1
            next_step = (
                plan_step(recipe, next_index, work.event, self.clock())
                if next_index < len(recipe.steps)
                else None
            )
        except Throttled as exc:
            # The hub's own budget for this vendor is spent: wait, using no attempt.
            record = self._record(started_at, t0, "throttled", exchanges, exc, None)
            due = self.clock() + timedelta(seconds=exc.retry_after or 1.0)
            return record, StepOutcome("retry", retry_at=due, error=str(exc))
        except TransientError as exc:
            policy = step.retry_policy() if step else DEFAULT_POLICY
            record = self._record(started_at, t0, "transient", exchanges, exc, exc.status)
            if policy.exhausted(attempt):
                msg = f"gave up after {attempt} attempts: {exc}"
                return record, StepOutcome("dead", error=msg)
            due = policy.next_due(self.clock(), attempt, exc.retry_after)
            return record, StepOutcome("retry", retry_at=due, error=str(exc))
        except (PermanentError, ConfigError) as exc:
            status = exc.status if isinstance(exc, PermanentError) else None
            if isinstance(exc, AuthError) and self.on_auth_error is not None:
                self.on_auth_error(work.step.connection, str(exc))
            record = self._record(started_at, t0, "permanent", exchanges, exc, status)
            return record, StepOutcome("dead", error=str(exc))
        except Exception as exc:
            log.exception("step %s of run %s raised unexpectedly", work.step.id, work.run.id)
            wrapped = TransientError(
                f"unexpected {type(exc).__name__} in {work.step.action}: {exc}"
            )
            record = self._record(started_at, t0, "transient", exchanges, wrapped, None)
            policy = step.retry_policy() if step else DEFAULT_POLICY
            if policy.exhausted(attempt):
                return record, StepOutcome(
                    "dead", error=f"gave up after {attempt} attempts: {wrapped}"
                )
            return record, StepOutcome(
                "retry", retry_at=policy.next_due(self.clock(), attempt), error=str(wrapped)
            )
        finally:
            stop_recording(token)
        kind: Literal["ok", "skipped"] = "skipped" if skipped else "ok"
        record = AttemptRecord(
            started_at=started_at,
            duration_ms=(time.perf_counter() - t0) * 1000,
            outcome=kind,
            status_code=exchanges[-1].status if exchanges else None,
            request=_exchanges_text(exchanges, "request"),
            response=_exchanges_text(exchanges, "response"),
        )
        return record, StepOutcome(kind, output=output, next_step=next_step)

    async def budget_wait(self, work: StepWork) -> float:
        """Seconds until the step's sink connection has API budget for a call (0: now).

        Async because the budget may be shared through Redis by every worker.
        """
        conn = self.connections.get(work.step.connection)
        budget = conn.session.budget if conn is not None and conn.session is not None else None
        if budget is None:
            return 0.0
        try:
            return await budget.wait_time()
        except Exception:  # a failed look must not stop the dispatcher
            log.exception("looking at the API budget of %s failed", work.step.connection)
            return 0.0  # the action's own budget check decides, and its error is recorded

    def _find_step(self, recipe: Recipe, work: StepWork) -> Step:
        idx = work.step.step_index
        if idx < len(recipe.steps) and recipe.steps[idx].id == work.step.step_id:
            return recipe.steps[idx]
        for step in recipe.steps:
            if step.id == work.step.step_id:
                return step
        raise ConfigError(
            f"recipe '{recipe.name}' no longer has step '{work.step.step_id}'; "
            "restore it or replay the run from the start"
        )

    async def _attempt(
        self, recipe: Recipe, step: Step, work: StepWork, attempt: int
    ) -> tuple[dict[str, Any], bool]:
        context = step_context(work.event, work.run.outputs, recipe)
        rendered = render_step(step, context)
        if rendered.skipped:
            return {}, True
        conn = self.connections.require(work.step.connection)
        if not conn.enabled:
            raise TransientError(
                f"connection '{conn.name}' is disabled; the step waits until it is enabled",
                retry_after=60,
            )
        action = conn.actions.get(step.use)
        if action is None:
            raise ConfigError(
                f"connection '{conn.name}' ({conn.connector.name}) has no action '{step.use}'"
            )
        try:
            item = type(action).input_model.model_validate(rendered.inputs)
        except ValidationError as exc:
            raise ConfigError(_input_problem(step, exc)) from exc
        ctx = ActionContext(
            idempotency_key=work.step.idempotency_key,
            connection=conn.name,
            http=conn.http,
            session=conn.session,
            run_id=work.run.id,
            step_id=step.id,
            attempt=attempt,
        )
        try:
            async with asyncio.timeout(self.step_timeout):
                output = await action.run(item, ctx)
        except TimeoutError as exc:
            raise TransientError(
                f"{step.use} did not finish within {self.step_timeout:g}s; it will be retried "
                "with the same idempotency key"
            ) from exc
        if not isinstance(output, dict):
            raise PermanentError(f"{step.use} returned {type(output).__name__}, not a mapping")
        # Outputs are stored as JSON and rendered into later steps: make them plain
        # JSON here (Decimal -> str, datetime -> ISO) so the store never refuses them.
        plain = to_jsonable_python(output)
        return plain, False

    def _record(
        self,
        started_at: datetime,
        t0: float,
        outcome: str,
        exchanges: list[Exchange],
        exc: Exception,
        status: int | None,
    ) -> AttemptRecord:
        return AttemptRecord(
            started_at=started_at,
            duration_ms=(time.perf_counter() - t0) * 1000,
            outcome=outcome,  # type: ignore[arg-type]
            status_code=status
            if status is not None
            else (exchanges[-1].status if exchanges else None),
            error=str(exc),
            request=_exchanges_text(exchanges, "request"),
            response=_exchanges_text(exchanges, "response"),
        )
