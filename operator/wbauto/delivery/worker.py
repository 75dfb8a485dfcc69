"""Delivery workers: run each Pending execution's action, retry with backoff, record the outcome.

At least once: an execution is stored Pending before its first attempt; each attempt's result is
stored before the next is scheduled (``nextAttemptTime``), so a restarted operator resumes exactly
where the last one stopped. Attempts of one execution never overlap.

What an attempt leads to is decided without I/O: :func:`outcome_of` says what a failure means,
:func:`decide` turns an outcome into the execution's next phase (Finished, Pending with a delay, or
Failed) under the action's retry policy.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from wbauto import telemetry
from wbauto.actions.base import DEFAULT_POLICY, Action, Context, Result
from wbauto.api.execution import ExecutionRecord, Phase, RequestRecord
from wbauto.delivery.outbox import Store
from wbauto.delivery.queue import Clock, DelayQueue, Sleep
from wbauto.engine import retry
from wbauto.errors import ConfigError, DeliveryError, DependencyMissing, SecretError, cut
from wbauto.redact import scrub

log = logging.getLogger("wbauto.delivery")

Key = tuple[str, str]
OnUpdate = Callable[[ExecutionRecord], Awaitable[None]]
ERROR_LIMIT = 1024  # characters of an error kept in the execution's status
UNEXPECTED_RETRY = 30.0  # seconds before a worker retries an execution whose handling crashed
SAVE_RETRY = 5.0  # seconds between attempts to store an outcome the store refused


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: a result, or an error and whether another attempt may succeed."""

    result: Result | None = None
    error: str | None = None
    retryable: bool = False
    response_code: int | None = None
    response_body: str | None = None
    retry_after: float | None = None
    request: RequestRecord | None = None


def outcome_of(exc: Exception, action_type: str) -> Outcome:
    """The outcome of an attempt that raised ``exc``: delivery errors say themselves whether they may
    pass; a missing dependency or an unresolvable secret is "not yet" (unless the secret says otherwise);
    a config error, and anything unexpected (a bug), fail the execution without looping on it."""
    if isinstance(exc, DeliveryError):
        return Outcome(error=str(exc), retryable=exc.retryable, response_code=exc.status_code,
                       response_body=exc.response_body, retry_after=exc.retry_after,
                       request=exc.request if isinstance(exc.request, RequestRecord) else None)
    if isinstance(exc, SecretError):
        return Outcome(error=str(exc), retryable=exc.retryable)
    if isinstance(exc, DependencyMissing):
        return Outcome(error=str(exc), retryable=True)
    if isinstance(exc, ConfigError):
        return Outcome(error=str(exc))
    return Outcome(error=f"internal error in the {action_type} action: {type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Decision:
    """What follows an attempt: the execution's phase, the wait before the next attempt (Pending only)
    and the error the history shows (None when it finished)."""

    phase: Phase
    delay: float | None = None
    error: str | None = None


def decide(outcome: Outcome, attempt: int, policy: retry.Policy,
           rand: Callable[[], float] = random.random) -> Decision:
    """``attempt`` (1 for the first) came to ``outcome``: finish, retry after a delay, or give up.
    ``policy.max_attempts`` counts every attempt, the first one included."""
    if outcome.result is not None:
        return Decision(Phase.FINISHED)
    text = cut(scrub(outcome.error or "failed"), ERROR_LIMIT)
    if not outcome.retryable:
        return Decision(Phase.FAILED, error=text)
    if attempt < policy.max_attempts:
        return Decision(Phase.PENDING, retry.delay(policy, attempt, outcome.retry_after, rand), text)
    return Decision(Phase.FAILED, error=cut(f"gave up after {attempt} attempts: {text}", ERROR_LIMIT))


class Dispatcher:
    """Runs the queued executions' attempts on ``workers`` tasks.

    ``default_policy`` is the retry policy of actions that bring none of their own (every action but a
    webhook). Time is passed in: ``now`` stamps the records, ``clock`` and ``sleep`` drive the retry
    timers (:class:`DelayQueue`), ``rand`` the jitter; a caller that keeps its own time passes all of
    them, advancing together.
    """

    def __init__(self, store: Store, actions: Mapping[str, Action], context: Context, *, workers: int = 16,
                 on_update: OnUpdate | None = None, default_policy: retry.Policy = DEFAULT_POLICY,
                 now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 rand: Callable[[], float] = random.random) -> None:
        self.store = store
        self.actions = actions
        self.context = context
        self.workers = workers
        self.on_update = on_update
        self.default_policy = default_policy
        self._now = now
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self.queue: DelayQueue[Key] = DelayQueue(clock, sleep)
        self.records: dict[Key, ExecutionRecord] = {}
        self.fence: Callable[[], bool] | None = None  # in a cluster: "do we still hold the Lease?"
        self._unsaved: dict[Key, datetime.datetime] = {}  # delivered, but the outcome is not stored yet

    def submit(self, record: ExecutionRecord, delay: float = 0.0) -> None:
        key = (record.namespace, record.name)
        self.records[key] = record
        self.queue.add(key, delay)
        telemetry.QUEUE_DEPTH.set(len(self.records))

    async def resume(self) -> int:
        """Schedule every Pending execution in the store (after a restart or on becoming leader)."""
        pending = await self.store.pending()
        now = self._now()
        for record in pending:
            due = record.status.next_attempt_time
            self.submit(record, max(0.0, (due - now).total_seconds()) if due else 0.0)
        return len(pending)

    def forget_all(self) -> None:
        """Drop queued work (leadership lost: the new leader resumes it from the store)."""
        self.records.clear()
        self._unsaved.clear()
        self.queue.close()
        self.queue = DelayQueue(self._clock, self._sleep)
        telemetry.QUEUE_DEPTH.set(0)

    async def run(self) -> None:
        await asyncio.gather(*(self._worker() for _ in range(self.workers)))

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            record = self.records.get(key)
            if record is None:
                continue
            if self.fence is not None and not self.fence():
                log.warning("not the leader any more: %s/%s left to the new leader", *key)
                continue
            try:
                if key in self._unsaved:
                    await self._record(record, self._unsaved[key])
                else:
                    await self.attempt(record)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery of %s/%s failed unexpectedly; retrying", *key)
                self.queue.add(key, UNEXPECTED_RETRY)

    async def attempt(self, record: ExecutionRecord) -> ExecutionRecord:
        """One attempt; stores and returns the updated record, and schedules the next one if any."""
        kind = record.spec.action.type
        action = self.actions.get(kind)
        number = record.status.attempts + 1
        started_at = self._now()
        started = self._clock()
        policy = (action.policy(record) if action is not None else None) or self.default_policy
        try:
            if action is None:
                raise ConfigError(f"unknown action type {kind!r}")
            outcome = Outcome(result=await action.execute(record, number, self.context))
        except (DeliveryError, DependencyMissing, SecretError, ConfigError) as exc:
            outcome = outcome_of(exc, kind)
        except Exception as exc:  # a bug or a value the action cannot handle: counted, never looped on
            log.exception("the %s action failed unexpectedly on %s/%s", kind, *key_of(record))
            outcome = outcome_of(exc, kind)
        telemetry.ATTEMPT_SECONDS.labels(kind).observe(self._clock() - started)
        finished = self._now()
        decision = decide(outcome, number, policy, self._rand)
        request = (outcome.result.request if outcome.result is not None else outcome.request) or \
            record.status.request
        changes: dict[str, object] = {"attempts": number, "last_attempt_time": started_at, "phase": decision.phase,
                                      "error": decision.error, "request": request}
        if outcome.result is not None:
            changes.update(response_code=outcome.result.response_code, result=outcome.result.result,
                           response_body=outcome.result.response_body)
        else:
            changes.update(response_code=outcome.response_code, response_body=outcome.response_body)
        if decision.phase is Phase.PENDING:
            assert decision.delay is not None
            telemetry.ATTEMPTS.labels(kind, "retry").inc()
            telemetry.RETRIES.labels(kind).inc()
            changes["next_attempt_time"] = finished + datetime.timedelta(seconds=decision.delay)
        else:
            telemetry.ATTEMPTS.labels(kind, "ok" if decision.phase is Phase.FINISHED else "fail").inc()
            changes.update(next_attempt_time=None, completion_time=finished,
                           duration_ms=_ms(finished - record.spec.event.time))
        return await self._record(record.with_status(**changes), finished)

    async def _record(self, updated: ExecutionRecord, finished: datetime.datetime) -> ExecutionRecord:
        """Store an attempt's outcome; if the store fails, retry the write — never the delivery."""
        key = (updated.namespace, updated.name)
        try:
            exists = await self.store.save_status(updated)
        except Exception as exc:
            log.warning("could not record the outcome of %s/%s (%s); retrying the write, not the delivery",
                        *key, exc)
            self.records[key] = updated
            self._unsaved[key] = finished
            self.queue.add(key, SAVE_RETRY)
            return updated
        self._unsaved.pop(key, None)
        if not exists:
            log.info("AutomationExecution %s/%s was deleted: cancelled", *key)
            self.records.pop(key, None)
            telemetry.QUEUE_DEPTH.set(len(self.records))
            return updated
        record, kind = updated, updated.spec.action.type
        if updated.terminal:
            self.records.pop(key, None)
            telemetry.EXECUTIONS.labels(f"{record.namespace}/{record.automation}", kind,
                                        updated.status.phase.value.lower()).inc()
            telemetry.EVENT_TO_DELIVERY.labels(kind).observe(max(0.0, (finished - record.spec.event.time)
                                                                 .total_seconds()))
        else:
            self.records[key] = updated
            assert updated.status.next_attempt_time is not None
            self.queue.add(key, (updated.status.next_attempt_time - finished).total_seconds())
        telemetry.QUEUE_DEPTH.set(len(self.records))
        if self.on_update is not None:
            await self.on_update(updated)
        return updated


def key_of(record: ExecutionRecord) -> Key:
    return record.namespace, record.name


def _ms(delta: datetime.timedelta) -> int:
    return max(0, int(delta.total_seconds() * 1000))
