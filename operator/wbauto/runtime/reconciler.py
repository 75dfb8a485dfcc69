"""The status loop shared by both runtimes: a keyed work queue with delays, and the apply/report step.

Keys are enqueued when their object changes, when something they depend on changes readiness, and
again later: transient failures back off (2 s doubling to 60 s), Ready SecretReferences are re-read
every ``refreshInterval`` (rotation, deletion), Stalled objects wait for a change.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from typing import Any, Protocol

from wbauto import telemetry
from wbauto.actions import egress
from wbauto.api import kinds
from wbauto.api.automation import AutomationSpec
from wbauto.api.conditions import Reason
from wbauto.api.schema import parse_duration
from wbauto.api.secretreference import SecretReferenceSpec
from wbauto.delivery.queue import DelayQueue
from wbauto.runtime import readiness
from wbauto.runtime.world import Key, World
from wbauto.secrets.resolver import Resolver

log = logging.getLogger("wbauto.reconciler")

MIN_RETRY = 2.0
MAX_RETRY = 60.0


class Reporter(Protocol):
    """Where statuses and events go: the Kubernetes API, or the standalone store and the log."""

    async def status(self, key: Key, body: dict[str, Any], status: dict[str, Any]) -> None: ...

    async def event(self, key: Key, body: dict[str, Any], warning: bool, reason: str, message: str) -> None: ...


class Reconciler:
    def __init__(
        self,
        world: World,
        resolver: Resolver,
        policy: egress.Policy,
        reporter: Reporter,
        *,
        workers: int = 4,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.world = world
        self.resolver = resolver
        self.policy = policy
        self.reporter = reporter
        self.queue: DelayQueue[Key] = DelayQueue()
        self._workers = workers
        self._now = now
        self._retry: dict[Key, float] = {}
        self._busy: set[Key] = set()
        self.on_change: list[Callable[[Key], None]] = []  # hooks: e.g. the engine re-plans pollers
        self.source_problem: Callable[[AutomationSpec], str | None] = lambda spec: None

    # --- inputs ------------------------------------------------------------------------------------

    def observe(self, body: dict[str, Any]) -> Key:
        """An object was added or changed (spec or status)."""
        key = self.world.upsert(body)
        self.queue.add(key)
        for hook in self.on_change:
            hook(key)
        return key

    def forget(self, key: Key) -> None:
        """An object was deleted."""
        dependents = self.world.dependents(key)
        self.world.remove(key)
        telemetry.resource_deleted(*key)
        self.queue.discard(key)
        self._retry.pop(key, None)
        if key[0] == kinds.SECRET_REFERENCE.kind:
            self.resolver.forget(key[1], key[2])
        for dep in dependents:
            self.queue.add(dep)
        for hook in self.on_change:
            hook(key)

    # --- loop --------------------------------------------------------------------------------------

    async def run(self) -> None:
        await asyncio.gather(*(self._worker() for _ in range(self._workers)))

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if key in self._busy:
                self.queue.add(key, 0.2)
                continue
            self._busy.add(key)
            try:
                await self.reconcile(key)
            except Exception:  # never let one object stop the loop
                log.exception("reconcile of %s/%s/%s failed; retrying", *key)
                if key not in self.world.ready and key in self.world.bodies:  # decided after all: not Ready
                    self.world.ready[key] = False
                    for dep in self.world.dependents(key):
                        self.queue.add(dep)
                self.queue.add(key, self._backoff(key))
            finally:
                self._busy.discard(key)

    def _backoff(self, key: Key) -> float:
        delay = min(MAX_RETRY, self._retry.get(key, MIN_RETRY / 2) * 2)
        self._retry[key] = delay
        return delay

    async def decide(self, key: Key) -> readiness.Outcome | None:
        kind, namespace, name = key
        if key in self.world.invalid:
            return readiness.invalid(self.world.invalid[key])
        res = self.world.get(kind, namespace, name)
        if res is None:
            return None
        if kind == kinds.SECRET_REFERENCE.kind:
            return await readiness.secret_reference(res, self.resolver)
        if self.world.undecided(key):
            return None
        if kind == kinds.WEBHOOK.kind:
            return readiness.webhook(res, self.world, self.policy)
        if kind == kinds.AUTOMATION.kind:
            outcome = readiness.automation(res, self.world)
            firing = outcome.ready and outcome.reason != Reason.DISABLED
            problem = self.source_problem(res.spec) if firing else None  # type: ignore[arg-type]
            if problem is not None:
                return readiness.Outcome(False, Reason.SOURCE_UNAVAILABLE, f"W&B cannot be read: {problem}",
                                         fields=outcome.fields)
            return outcome
        return None

    async def reconcile(self, key: Key) -> readiness.Outcome | None:
        with telemetry.RECONCILE_SECONDS.labels(key[0]).time():
            try:
                outcome = await self._reconcile(key)
            except Exception:
                telemetry.RECONCILES.labels(key[0], "error").inc()
                raise
        if outcome is not None:
            telemetry.resource_decided(*key, outcome.ready, outcome.stalled)
            result = "ready" if outcome.ready else "stalled" if outcome.stalled else "progressing"
            telemetry.RECONCILES.labels(key[0], result).inc()
        return outcome

    async def _reconcile(self, key: Key) -> readiness.Outcome | None:
        outcome = await self.decide(key)
        body = self.world.bodies.get(key)
        if outcome is None or body is None:
            return None
        was_ready = self.world.ready.get(key)
        self.world.ready[key] = outcome.ready
        if outcome.stalled:
            self.world.stalled.add(key)
        else:
            self.world.stalled.discard(key)
        generation = (body.get("metadata") or {}).get("generation")
        current = body.get("status") or {}
        new_status = readiness.status_for(current, outcome, generation, self._now())
        if new_status is not None:
            await self.reporter.status(key, body, new_status)
            body["status"] = new_status
            if _changed(current, outcome):
                await self.reporter.event(key, body, not outcome.ready, outcome.reason, outcome.message)
        if was_ready != outcome.ready:
            for dep in self.world.dependents(key):
                self.queue.add(dep)
        self._schedule(key, outcome)
        return outcome

    def _schedule(self, key: Key, outcome: readiness.Outcome) -> None:
        if outcome.ready:
            self._retry.pop(key, None)
            if key[0] == kinds.SECRET_REFERENCE.kind:
                res = self.world.get(*key)
                if res is not None:
                    spec: SecretReferenceSpec = res.spec  # type: ignore[assignment]
                    self.queue.add(key, parse_duration(spec.refresh_interval).total_seconds())
        elif outcome.transient:
            self.queue.add(key, self._backoff(key))


def _changed(current: dict[str, Any], outcome: readiness.Outcome) -> bool:
    for c in current.get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("reason") != outcome.reason or (c.get("status") == "True") != outcome.ready)
    return True
