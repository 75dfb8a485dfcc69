"""Poll W&B and turn what changed into Events: one poller per (entity, project), every due project in
one batched cycle. This module decides what to poll and when (the plan, the schedule, the loop, health);
:mod:`wbauto.sources.feeds` reads each cycle's artifacts and runs through the batched requests of
:mod:`wbauto.sources.batch` into the pure diffs of :mod:`wbauto.sources.artifacts` and
:mod:`wbauto.sources.runs`; :mod:`wbauto.sources.cursors` keeps each project's position.

- **One poller per project.** Every Automation watching a project — by project, registry, collection
  or through its entity — shares the project's one poller and its one cursor, so a change is read,
  and identified, once. Entity scopes list the entity's projects every cycle (a project missing from two
  listings in a row is dropped) and add their needs to each project's.
- **Batched.** A cycle reads every due project together: entities, collection listings, versions,
  runs and history pages each go out in GraphQL documents of up to ``batch.BATCH`` aliases, so the
  requests per cycle do not grow with the Automations and grow with the projects only per batch.
- **Cursor after the executions.** A project's events are handed to the engine (which stores their
  executions) before its cursor is saved; a crash in between makes the next cycle read the same changes
  again, with the same event ids (see :mod:`wbauto.sources.artifacts`), so nothing is lost or doubled.
- **Baselines.** A project's first cycle records what is there and fires nothing; a project first
  polled more than :data:`CATCH_UP_WINDOW` after start (an Automation added on a new scope) starts from
  a fresh baseline, and so does a cursor older than ``cursors.MAX_CATCH_UP``: old history is not replayed.
- **Timing.** After a cycle that produced events a project is polled again sooner (a quarter of the
  interval) for a few cycles; after errors its delay doubles up to five minutes (or W&B's
  Retry-After). Errors are kept per project in :attr:`Pollers.health` and shown on the Automations.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from wbauto import telemetry
from wbauto.api.event import Event, EventType, Source
from wbauto.errors import SourceError
from wbauto.sources import artifacts
from wbauto.sources.batch import Reader
from wbauto.sources.cursors import Cursor, LoadCursor, SaveCursor
from wbauto.sources.feeds import Feeds
from wbauto.sources.plan import Needs, ScopeKey
from wbauto.wbapi import queries
from wbauto.wbapi.client import Client, Unavailable

log = logging.getLogger("wbauto.poller")

Emit = Callable[[list[Event]], Awaitable[None]]

MAX_BACKOFF = 300.0
FAST_CYCLES = 5
CATCH_UP_WINDOW = 60.0  # projects polled this soon after start catch up from their cursors; later ones do not


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str
    since: datetime.datetime
    next_retry: float = 0.0


@dataclass
class _Schedule:
    due: float = 0.0
    fast: int = 0
    backoff: float = 0.0
    polled: bool = False


@dataclass
class _Project:
    key: ScopeKey
    needs: Needs
    cursor: Cursor
    schedule: _Schedule = field(default_factory=_Schedule)


@dataclass
class _Entity:
    """An entity scope: its projects, listed every cycle."""

    key: ScopeKey
    needs: Needs
    projects: set[str] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)  # missing from one listing: dropped if missing again
    schedule: _Schedule = field(default_factory=_Schedule)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Pollers:
    def __init__(self, client: Client, load: LoadCursor, save: SaveCursor, emit: Emit, *,
                 interval: float = 30.0, on_health: Callable[[ScopeKey], None] | None = None,
                 now: Callable[[], datetime.datetime] = _utcnow, clock: Callable[[], float] = time.monotonic) -> None:
        self._reader = Reader(client)
        self._load = load
        self._save = save
        self._emit = emit
        self.interval = interval
        self._on_health = on_health
        self._now = now
        self._clock = clock
        self._feeds = Feeds(self._reader, self._maker, now)
        self._plan: dict[ScopeKey, Needs] = {}
        self._entities: dict[ScopeKey, _Entity] = {}
        self._projects: dict[ScopeKey, _Project] = {}
        self.health: dict[ScopeKey, Health] = {}
        self.cycles = 0  # projects polled successfully, in all
        self._begun = clock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- what to poll ---------------------------------------------------------------------------------

    def begin(self) -> None:
        """The engine (re)starts polling: projects first polled within CATCH_UP_WINDOW resume from their
        cursors (events that happened while the operator was down fire); later ones start from a fresh
        baseline."""
        self._begun = self._clock()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wbauto-poll")

    async def poll_once(self) -> None:
        """One batched cycle of every planned scope now, whatever their schedule (benchmarks, tools)."""
        await self.cycle(list(self._entities.values()), [])
        await self.cycle([], list(self._projects.values()))

    @property
    def scopes(self) -> list[ScopeKey]:
        """The planned scopes (an entity scope is ``entity/*``)."""
        return sorted(self._plan)

    @property
    def projects(self) -> list[ScopeKey]:
        """The projects polled now."""
        return sorted(self._projects)

    def settled(self) -> bool:
        """Every planned scope has been read once: entities listed, each project polled."""
        return bool(self._plan) and all(e.schedule.polled for e in self._entities.values()) and all(
            p.schedule.polled for p in self._projects.values())

    def update(self, plan: dict[ScopeKey, Needs]) -> None:
        """Poll what ``plan`` asks for: start and stop projects, refresh what each reads."""
        self._plan = dict(plan)
        for key in [k for k in self._entities if k not in plan]:
            del self._entities[key]
            self.health.pop(key, None)
        for key, needs in plan.items():
            if key.project is None:
                entity = self._entities.setdefault(key, _Entity(key, needs))
                entity.needs = needs
        self._reconcile()

    def _reconcile(self) -> None:
        wanted: dict[ScopeKey, Needs] = {}
        for key, needs in self._plan.items():
            if key.project is not None:
                wanted.setdefault(key, Needs(collections=set())).merge(needs)
        for entity in self._entities.values():
            for name in entity.projects:
                wanted.setdefault(ScopeKey(entity.key.entity, name), Needs(collections=set())).merge(entity.needs)
        for key in [k for k in self._projects if k not in wanted]:
            del self._projects[key]
            self.health.pop(key, None)
        late = self._clock() - self._begun > CATCH_UP_WINDOW
        for key, needs in wanted.items():
            project = self._projects.get(key)
            if project is None:
                self._projects[key] = _Project(key, needs, Cursor(key, rebaseline=late))
            elif project.needs != needs:
                project.needs = needs
                project.schedule.due = 0.0
        self._wake.set()

    def trigger(self) -> None:
        """Poll every scope now (e.g. a W&B webhook hinted at activity)."""
        for item in self._items():
            item.schedule.due = 0.0
        self._wake.set()

    def _items(self) -> list[_Entity | _Project]:
        return [*self._entities.values(), *self._projects.values()]

    def problem(self, key: ScopeKey) -> str | None:
        """Why the scope ``key`` cannot be read now (for an entity: its listing, or one of its projects)."""
        health = self.health.get(key)
        if health is not None and not health.ok:
            return health.message
        if key.project is None:
            for project_key, project_health in sorted(self.health.items()):
                if project_key.project is not None and key.watches(project_key) and not project_health.ok:
                    return f"project {project_key.project}: {project_health.message}"
        return None

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._projects.clear()
        self._entities.clear()
        self._plan.clear()

    # --- the loop -------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            now = self._clock()
            entities = [e for e in self._entities.values() if e.schedule.due <= now]
            projects = [p for p in self._projects.values() if p.schedule.due <= now]
            if entities or projects:
                try:
                    await self.cycle(entities, projects)
                except Exception as exc:  # never let the loop die: every scope of the cycle reports it
                    log.exception("poll cycle failed")
                    failed: list[_Entity | _Project] = [*entities, *projects]
                    for item in failed:
                        self._done(item.key, item.schedule, exc)
                continue
            dues = [i.schedule.due for i in self._items()]
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, min(dues) - now) if dues else None)

    async def cycle(self, entities: list[_Entity], projects: list[_Project]) -> None:
        """One batched read of ``entities`` (their project lists) and ``projects``."""
        started = time.monotonic()
        if entities:
            await self._discover(entities)
        if projects:
            await self._poll(projects)
        telemetry.POLL_SECONDS.labels("project").observe(time.monotonic() - started)

    def _done(self, key: ScopeKey, schedule: _Schedule, error: Exception | None, *, events: int = 0) -> None:
        """Record a scope's outcome: health, and when to read it next."""
        previous = self.health.get(key)
        if error is None:
            schedule.backoff = 0.0
            schedule.polled = True
            schedule.fast = FAST_CYCLES if events else max(0, schedule.fast - 1)
            schedule.due = self._clock() + (self.interval / 4 if schedule.fast else self.interval)
            if previous is None or not previous.ok:
                self.health[key] = Health(True, "polling", _utcnow())
                if previous is not None and self._on_health is not None:
                    self._on_health(key)
            return
        telemetry.POLL_ERRORS.labels("entity" if key.project is None else "project").inc()
        schedule.backoff = min(MAX_BACKOFF, max(self.interval, schedule.backoff * 2))
        hint = error.retry_after if isinstance(error, Unavailable) and error.retry_after else 0.0
        delay = max(schedule.backoff, hint)
        schedule.due = self._clock() + delay
        message = str(error) if isinstance(error, SourceError) else f"internal error: {type(error).__name__}"
        since = previous.since if previous is not None and not previous.ok else _utcnow()
        self.health[key] = Health(False, f"{message}; retrying in {delay:.1f}s", since, delay)
        if (previous is None or previous.ok) and self._on_health is not None:
            self._on_health(key)
        if isinstance(error, SourceError):
            log.warning("poll of %s failed: %s", key, error)
        else:
            log.error("poll of %s failed", key, exc_info=error)

    # --- entities -------------------------------------------------------------------------------------

    async def _discover(self, entities: list[_Entity]) -> None:
        found = await self._reader.pages(queries.entity_projects, "e",
                                         [(e.key, {"n": e.key.entity}) for e in entities],
                                         lambda node: node.get("projects"), "entity")
        for entity in entities:
            listing = found[entity.key]
            if listing is None:
                listing = SourceError(f"entity {entity.key.entity} not found, or not visible to the operator's "
                                      "W&B API key")
            if isinstance(listing, Exception):
                self._done(entity.key, entity.schedule, listing)
                continue
            names = {str(n["name"]) for n in listing}
            missing = entity.projects - names
            entity.projects = names | (missing - entity.absent)  # missing twice in a row: dropped
            entity.absent = missing - entity.absent
            self._done(entity.key, entity.schedule, None)
        self._reconcile()

    # --- projects -------------------------------------------------------------------------------------

    async def _poll(self, projects: list[_Project]) -> None:
        errors: dict[ScopeKey, Exception] = {}
        work: dict[ScopeKey, dict[str, Any]] = {}
        for project in projects:
            try:
                work[project.key] = await project.cursor.open(self._load, self._now)
            except Exception as exc:
                errors[project.key] = exc
        live = [p for p in projects if p.key in work]
        events: dict[ScopeKey, list[Event]] = {p.key: [] for p in live}
        try:
            await self._feeds.artifacts({p.key: p.needs for p in live if p.needs.artifacts}, work, events, errors)
            await self._feeds.runs({p.key: p.needs for p in live if p.needs.runs and p.key not in errors}, work,
                                   events, errors)
        except Exception as exc:  # a bug in reading: every project of this cycle reports it, none moves on
            log.exception("poll cycle failed")
            for project in live:
                errors.setdefault(project.key, exc)
        for project in projects:
            error = errors.get(project.key)
            found = events.get(project.key, [])
            if error is None:
                try:
                    if found:
                        await self._emit(found)
                    await project.cursor.commit(work[project.key], bool(found), self._save, self._now)
                except Exception as exc:  # the executions (or the cursor) could not be stored: read again
                    error = SourceError(f"events read but not stored ({type(exc).__name__}: {exc}); reading "
                                        "them again") if not isinstance(exc, SourceError) else exc
            if error is None:
                self.cycles += 1
            self._done(project.key, project.schedule, error, events=len(found))

    def _maker(self, key: ScopeKey) -> artifacts.MakeEvent:
        def make(project: str, type_: EventType, ident: str, **fields: Any) -> Event:
            return Event(id=ident, type=type_, time=self._now(), source=Source.POLL, entity=key.entity,
                         project=project, **fields)

        return make
