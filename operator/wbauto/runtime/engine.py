"""The engine both runtimes share: events → matching → executions (outbox) → delivery → reports.

Sources (pollers, receiver) call :meth:`Engine.handle`; it creates each matched execution durably
before the action runs and only then returns, so a poller saves its cursor after the executions exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import logging
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from wbauto import telemetry
from wbauto.actions import registry
from wbauto.actions.base import Context
from wbauto.actions.http import Outbound
from wbauto.actions.registry import ACTIONS
from wbauto.api.automation import AutomationSpec
from wbauto.api.event import Event
from wbauto.api.execution import (
    AutomationExecutionSpec,
    AutomationRef,
    ExecutionAction,
    ExecutionRecord,
    Phase,
    execution_name,
)
from wbauto.delivery.outbox import Store
from wbauto.delivery.worker import Dispatcher
from wbauto.engine import matching
from wbauto.errors import ConfigError, KubeError, cut
from wbauto.runtime.settings import Settings
from wbauto.runtime.world import World
from wbauto.secrets.resolver import Resolver
from wbauto.sources.plan import ScopeKey, needs_of, plan
from wbauto.sources.poller import Pollers
from wbauto.sources.receiver import Receiver, ReceiverConfig
from wbauto.wbapi.client import Client as WandbClient

log = logging.getLogger("wbauto.engine")

REPLAN_DELAY = 0.2
"""Seconds from a change of the Automations to the pollers' new plan (changes until then plan once)."""


class ExecutionReporter(Protocol):
    """Where execution outcomes are shown: the Automation's status and Events, or the log."""

    async def execution(self, record: ExecutionRecord) -> None: ...


def delivery_id(namespace: str, name: str) -> str:
    return str(uuid.UUID(hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:32]))


class Engine:
    def __init__(
        self,
        settings: Settings,
        world: World,
        store: Store,
        resolver: Resolver,
        reporter: ExecutionReporter,
        *,
        kube: Any = None,
        wandb: WandbClient | None = None,
        uid_of: Callable[[str, str], str] | None = None,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.settings = settings
        self.world = world
        self.store = store
        self.reporter = reporter
        self.wandb = wandb
        self._now = now
        self.firing = matching.FiringState()
        self.http = Outbound(settings.egress_policy)
        self.context = Context(resolver=resolver, http=self.http, kube=kube, wandb=wandb,
                               app_url=settings.wandb_app_url)
        self.dispatcher = Dispatcher(store, ACTIONS, self.context, workers=settings.workers,
                                     on_update=reporter.execution, default_policy=settings.retry_policy, now=now)
        self.health_listeners: list[Callable[[list[tuple[str, str, str]]], None]] = []
        self.pollers = (Pollers(wandb, store.load_cursor, store.save_cursor, self.handle_all,
                                interval=settings.poll_interval, on_health=self._health_changed)
                        if wandb is not None else None)
        self._planned = -1
        self._replan_at: asyncio.TimerHandle | None = None
        self._index = matching.Index({})
        self._index_revision = -1
        self._tasks: list[asyncio.Task[Any]] = []
        self._lock = asyncio.Lock()

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume: rebuild rate-limit state, re-queue Pending executions, start delivery and pollers."""
        since = self._now() - matching.RUN_RULE
        for record in await self.store.since(since):
            key = f"{record.namespace}/{record.automation}"
            if record.status.phase is not Phase.SKIPPED:
                self.firing.note_fire(key, record.created)
            if record.spec.event.run is not None:
                self.firing.note_run_fire(key, record.spec.event.run.id, record.created)
        if self.pollers is not None:
            self.pollers.begin()
        resumed = await self.dispatcher.resume()
        if resumed:
            log.info("resumed %d pending executions", resumed)
        self._tasks = [asyncio.create_task(self.dispatcher.run(), name="wbauto-delivery"),
                       asyncio.create_task(self._maintenance(), name="wbauto-maintenance")]
        self.replan()

    async def stop(self) -> None:
        if self._replan_at is not None:
            self._replan_at.cancel()
            self._replan_at = None
        if self.pollers is not None:
            await self.pollers.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._planned = -1
        self.dispatcher.forget_all()
        await self.http.aclose()

    def replan_soon(self) -> None:
        """:meth:`replan` shortly, once for every change until then (a manifest scan or a watch's initial
        list of thousands of Automations plans once, not once per Automation over all of them)."""
        if self.world.revision == self._planned or self._replan_at is not None:
            return
        self._replan_at = asyncio.get_running_loop().call_later(REPLAN_DELAY, self._replan_due)

    def _replan_due(self) -> None:
        self._replan_at = None
        self.replan()

    def replan(self) -> None:
        """Start/stop pollers when the set of Automations changed."""
        if self.world.revision == self._planned:
            return
        self._planned = self.world.revision
        automations = list(self.world.automations())
        telemetry.AUTOMATIONS.set(len(automations))
        if self.pollers is not None:
            self.pollers.update(plan(automations))

    def receiver(self, default_namespace: str) -> Receiver | None:
        """The inbound W&B receiver, when the settings enable it; events go to :meth:`handle`."""
        if not self.settings.receiver_address:
            return None
        if not self.settings.receiver_secret_ref:
            raise ConfigError("--receiver-address needs --receiver-secret-ref NS/NAME: unsigned deliveries are "
                              "never accepted")

        def ref(text: str) -> tuple[str, str]:
            namespace, _, name = text.rpartition("/")
            return namespace or default_namespace, name

        async def resolve(namespace: str, name: str) -> str:
            return (await self.context.resolver.resolve(namespace, name)).value

        token = self.settings.receiver_token_ref
        return Receiver(ReceiverConfig(ref(self.settings.receiver_secret_ref), ref(token) if token else None),
                        resolve, self.handle)

    def index(self) -> matching.Index:
        """The matching index of the loaded Automations, rebuilt when they change."""
        if self._index_revision != self.world.revision:
            self._index = matching.Index.build(self.world.automations())
            self._index_revision = self.world.revision
        return self._index

    def source_problem(self, spec: AutomationSpec) -> str | None:
        """Why ``spec`` cannot fire right now (its scope cannot be read, W&B is not configured), or None."""
        if self.wandb is None:
            if spec.action.launch is not None:
                return "the launch action needs a W&B API key: set WANDB_API_KEY for the operator"
            if not self.settings.receiver_address:
                return ("polling is off: the operator has no W&B API key (set WANDB_API_KEY) and no inbound "
                        "receiver, so no event can reach this Automation")
            return None
        if self.pollers is None:
            return None
        key: ScopeKey = needs_of(spec)[0]
        return self.pollers.problem(key)

    def _health_changed(self, key: ScopeKey) -> None:
        affected = [("Automation", r.namespace, r.name) for r in self.world.automations()
                    if needs_of(r.spec)[0].watches(key)]  # type: ignore[arg-type]
        for listener in self.health_listeners:
            listener(affected)

    async def _maintenance(self) -> None:
        while True:
            self.replan()
            now = self._now()
            self.firing.prune(now, datetime.timedelta(days=1))
            try:
                removed = await self.store.prune(self.settings.retention_count,
                                                 now - datetime.timedelta(seconds=self.settings.retention_age))
                if removed:
                    log.info("retention removed %d executions", removed)
            except Exception:
                log.exception("retention failed; will try again")
            await asyncio.sleep(60 if self._tasks else 1)

    # --- events ----------------------------------------------------------------------------------------

    async def handle_all(self, events: list[Event]) -> None:
        for event in events:
            await self.handle(event)

    async def handle(self, event: Event) -> list[ExecutionRecord]:
        """Match one event and store its executions; returns those newly created.

        Raises only when the store cannot be written (the caller retries: a poller keeps its cursor, the
        receiver answers 5xx); the firing state noted for the executions not stored is taken back, so
        the retry is decided afresh. An Automation that cannot evaluate the event, or is blocked by a
        Stalled dependency, gets a Failed execution instead of stopping the others."""
        telemetry.EVENTS.labels(event.source.value, event.type.value).inc()
        async with self._lock:  # matching state (24 h rule, rate limits) changes per event
            candidates = [r for r in self.index().candidates(event)
                          if (r.kind.kind, r.namespace, r.name) not in self.world.stalled]  # a stalled one is broken
            matches = matching.match(event, candidates, self.firing, self._now(),
                                     app_url=self.settings.wandb_app_url)
        created: list[ExecutionRecord] = []
        for index, m in enumerate(matches):
            record = self._record_or_failure(m)
            try:
                fresh = await self._store(record, m)
            except Exception:
                for later in matches[index:]:
                    if later.note is not None:
                        self.firing.undo(later.note)
                raise
            if not fresh:
                if m.note is not None:
                    self.firing.undo(m.note)  # handled before (restart, second source): counted then
                continue
            created.append(record)
            if record.terminal:
                await self.reporter.execution(record)
            else:
                self.dispatcher.submit(record)
        return created

    async def _store(self, record: ExecutionRecord, m: matching.Match) -> bool:
        """Create ``record``; a record the store refuses as data (not as an outage) is replaced by a
        minimal Failed one, so one bad value never blocks a scope."""
        try:
            return await self.store.create(record)
        except Exception as exc:
            if transient_store_error(exc):
                raise
            log.error("execution %s/%s could not be stored as is (%s: %s); storing a Failed record instead",
                      record.namespace, record.name, type(exc).__name__, exc)
            problem = f"the execution could not be stored: {type(exc).__name__}: {str(exc)[:300]}"
        fallback = self._failure(m, problem, minimal=True)
        try:
            return await self.store.create(fallback)
        except Exception as exc2:
            if transient_store_error(exc2):
                raise
            log.exception("execution %s/%s could not be stored at all; event %s dropped for %s",
                          record.namespace, record.name, m.event.id, m.automation.ref)
            return False

    def _record_or_failure(self, m: matching.Match) -> ExecutionRecord:
        if m.error is not None:
            return self._failure(m, m.error, minimal=True)
        blocked = self.world.blocked((m.automation.kind.kind, m.automation.namespace, m.automation.name))
        if blocked is not None:
            return self._failure(m, f"not run: {blocked}; fix it, and later events run again")
        try:
            return self.record(m)
        except Exception as exc:
            log.exception("execution of %s for event %s could not be built", m.automation.ref, m.event.id)
            return self._failure(m, f"the execution could not be built: {type(exc).__name__}: {str(exc)[:300]}",
                                 minimal=True)

    def _failure(self, m: matching.Match, error: str, *, minimal: bool = False) -> ExecutionRecord:
        """An execution created Failed, without an attempt. ``minimal`` drops everything but the event's
        identity, for values that could not be evaluated or stored."""
        event = m.event
        if minimal:
            event = Event(id=event.id, type=event.type, time=event.time, source=event.source,
                          entity=_printable(event.entity), project=_printable(event.project))
        record = self.record(matching.Match(m.automation, event, {} if minimal else m.variables),
                             snapshot=not minimal)
        now = self._now()
        spec = record.spec.model_copy(update={"failure": cut(error, 1024)})
        return ExecutionRecord(record.namespace, record.name, spec, record.status, record.created).with_status(
            phase=Phase.FAILED, error=cut(error, 1024), completion_time=now)

    def record(self, m: matching.Match, *, snapshot: bool = True) -> ExecutionRecord:
        """The execution a match creates; without ``snapshot`` only the action's type is recorded."""
        res = m.automation
        spec: AutomationSpec = res.spec  # type: ignore[assignment]
        action, settings = registry.of(spec.action)
        config = action.snapshot(settings, res.namespace, self.world) if snapshot else {}
        uid = res.uid or f"{res.namespace}/{res.name}"
        name = execution_name(res.name, uid, m.event.id)
        now = self._now()
        exec_spec = AutomationExecutionSpec(
            automation=AutomationRef(name=res.name, uid=res.uid, generation=res.generation,
                                     display_name=spec.display_name or res.name),
            event=m.event,
            variables=m.variables,
            action=ExecutionAction(type=action.type, target=action.target(config) if config else "", config=config),
            delivery_id=delivery_id(res.namespace, name),
            skip_reason=m.skip_reason,
        )
        record = ExecutionRecord(res.namespace, name, exec_spec, created=now)
        if m.skip_reason:
            record = record.with_status(phase=Phase.SKIPPED, error=m.skip_reason, completion_time=now)
        return record


def _printable(text: str) -> str:
    """``text`` without lone surrogates (they cannot be encoded, stored or sent)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def transient_store_error(exc: BaseException) -> bool:
    """Whether a store write failed because the store is unavailable (retry it), rather than because
    of the record itself (a value it cannot hold: never retried)."""
    if isinstance(exc, KubeError):
        return exc.status not in (400, 413, 422)
    return isinstance(exc, (sqlite3.Error, OSError, TimeoutError))
