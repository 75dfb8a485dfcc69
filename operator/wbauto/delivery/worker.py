"""Delivery workers: run each Pending execution's action, retry with backoff, record the outcome.

At least once: an execution is stored Pending before its first attempt; each attempt's result is
stored before the next is scheduled (``nextAttemptTime``), so a restarted operator resumes exactly
where the last one stopped. Attempts of one execution never overlap.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from wbauto import telemetry
from wbauto.actions.base import DEFAULT_POLICY, Action, Context, Result
from wbauto.api.execution import ExecutionRecord, Phase
from wbauto.delivery.outbox import Store
from wbauto.delivery.queue import DelayQueue
from wbauto.engine import retry
from wbauto.errors import ConfigError, DeliveryError, DependencyMissing, SecretError, cut
from wbauto.redact import scrub

log = logging.getLogger("wbauto.delivery")

Key = tuple[str, str]
OnUpdate = Callable[[ExecutionRecord], Awaitable[None]]


class Dispatcher:
    def __init__(self, store: Store, actions: Mapping[str, Action], context: Context, *, workers: int = 16,
                 on_update: OnUpdate | None = None,
                 now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)) -> None:
        self.store = store
        self.actions = actions
        self.context = context
        self.workers = workers
        self.on_update = on_update
        self._now = now
        self.queue: DelayQueue[Key] = DelayQueue()
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
        self.queue = DelayQueue()
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
                self.queue.add(key, 30.0)

    async def attempt(self, record: ExecutionRecord) -> ExecutionRecord:
        """One attempt; stores and returns the updated record, and schedules the next one if any."""
        action = self.actions.get(record.spec.action.type)
        number = record.status.attempts + 1
        started_at = self._now()
        started = time.monotonic()
        policy = action.policy(record) if action is not None else DEFAULT_POLICY
        result: Result | None = None
        error: str | None = None
        retryable = False
        code: int | None = None
        body: str | None = None
        retry_after: float | None = None
        request = record.status.request
        try:
            if action is None:
                raise ConfigError(f"unknown action type {record.spec.action.type!r}")
            result = await action.execute(record, number, self.context)
        except DeliveryError as exc:
            error, retryable, code, body, retry_after = str(exc), exc.retryable, exc.status_code, \
                exc.response_body, exc.retry_after
            request = exc.request or request
        except (DependencyMissing, SecretError) as exc:
            error, retryable = str(exc), getattr(exc, "retryable", True)
        except ConfigError as exc:
            error = str(exc)
        except Exception as exc:  # a bug or a value the action cannot handle: counted, never looped on
            log.exception("the %s action failed unexpectedly on %s/%s", record.spec.action.type, *key_of(record))
            error = f"internal error in the {record.spec.action.type} action: {type(exc).__name__}: {exc}"
        elapsed = time.monotonic() - started
        kind = record.spec.action.type
        telemetry.ATTEMPT_SECONDS.labels(kind).observe(elapsed)
        finished = self._now()
        changes: dict[str, object] = {"attempts": number, "last_attempt_time": started_at}
        if result is not None:
            telemetry.ATTEMPTS.labels(kind, "ok").inc()
            changes.update(phase=Phase.FINISHED, response_code=result.response_code, error=None,
                           result=result.result, response_body=result.response_body,
                           request=result.request or request, next_attempt_time=None, completion_time=finished,
                           duration_ms=_ms(finished - record.spec.event.time))
        else:
            text = cut(scrub(error or "failed"), 1024)
            changes.update(response_code=code, error=text, response_body=body, request=request)
            if retryable and number < policy.max_attempts:
                wait = retry.delay(policy, number, retry_after)
                telemetry.ATTEMPTS.labels(kind, "retry").inc()
                telemetry.RETRIES.labels(kind).inc()
                changes.update(phase=Phase.PENDING, next_attempt_time=finished + datetime.timedelta(seconds=wait))
            else:
                telemetry.ATTEMPTS.labels(kind, "fail").inc()
                if retryable:
                    changes["error"] = cut(f"gave up after {number} attempts: {text}", 1024)
                changes.update(phase=Phase.FAILED, next_attempt_time=None, completion_time=finished,
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
            self.queue.add(key, 5.0)
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
