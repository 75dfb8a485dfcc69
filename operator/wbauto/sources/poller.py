"""Poll W&B and turn what changed into Events: one poller per (entity, project), every due project in
one batched cycle.

- **One poller per project.** Every Automation watching a project — by project, registry, collection
  or through its entity — shares the project's one poller and its one cursor, so a change is read,
  and identified, once. Entity scopes list the entity's projects every cycle (a project missing from two
  listings in a row is dropped) and add their needs to each project's.
- **Batched.** A cycle reads every due project together: entities, collection listings, versions,
  runs and history pages each go out in GraphQL documents of up to :data:`BATCH` aliases, so the
  requests per cycle do not grow with the Automations and grow with the projects only per batch.
- **Cursor after the executions.** A project's events are handed to the engine (which stores their
  executions) before its cursor is saved; a crash in between makes the next cycle read the same changes
  again, with the same event ids (see :mod:`wbauto.sources.artifacts`), so nothing is lost or doubled.
- **Baselines.** A project's first cycle records what is there and fires nothing; a project first
  polled more than :data:`CATCH_UP_WINDOW` after start (an Automation added on a new scope) starts from
  a fresh baseline, and so does a cursor older than :data:`MAX_CATCH_UP`: old history is not replayed.
- **Timing.** After a cycle that produced events a project is polled again sooner (a quarter of the
  interval) for a few cycles; after errors its delay doubles up to five minutes (or W&B's
  Retry-After). Errors are kept per project in :attr:`Pollers.health` and shown on the Automations.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from wbauto import telemetry
from wbauto.api.event import Event, EventType, Source
from wbauto.errors import SourceError
from wbauto.sources import artifacts, runs
from wbauto.sources.plan import Needs, ScopeKey
from wbauto.wbapi import queries
from wbauto.wbapi.client import Client, Unavailable, error_text

log = logging.getLogger("wbauto.poller")

Emit = Callable[[list[Event]], Awaitable[None]]
LoadCursor = Callable[[str], Awaitable[dict[str, Any] | None]]
SaveCursor = Callable[[str, dict[str, Any]], Awaitable[None]]
K = TypeVar("K")

BATCH = 10  # aliases per batched request
PAGE = 100
HISTORY_PAGE = 1000
MAX_BACKOFF = 300.0
FAST_CYCLES = 5
CATCH_UP_WINDOW = 60.0  # projects polled this soon after start catch up from their cursors; later ones do not
MAX_CATCH_UP = datetime.timedelta(hours=24)  # an older cursor is not replayed: the project starts afresh
CURSOR_VERSION = 2


class ProjectNotFound(SourceError):
    """Raised when W&B answers ``project: null``: the project does not exist or the API key cannot see it."""

    def __init__(self, entity: str, project: str) -> None:
        super().__init__(f"project {entity}/{project} not found, or not visible to the operator's W&B API key")


class Malformed(SourceError):
    """Raised when W&B answers a connection as null or without edges: not evidence that anything is gone."""


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
    rebaseline: bool
    cursor: dict[str, Any] | None = None
    schedule: _Schedule = field(default_factory=_Schedule)

    @property
    def cursor_key(self) -> str:
        return f"scope:{self.key}"


@dataclass
class _Entity:
    """An entity scope: its projects, listed every cycle."""

    key: ScopeKey
    needs: Needs
    projects: set[str] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)  # missing from one listing: dropped if missing again
    schedule: _Schedule = field(default_factory=_Schedule)


def _iso(t: datetime.datetime) -> str:
    return t.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Pollers:
    def __init__(self, client: Client, load: LoadCursor, save: SaveCursor, emit: Emit, *,
                 interval: float = 30.0, on_health: Callable[[ScopeKey], None] | None = None,
                 now: Callable[[], datetime.datetime] = _utcnow, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._load = load
        self._save = save
        self._emit = emit
        self.interval = interval
        self._on_health = on_health
        self._now = now
        self._clock = clock
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
                self._projects[key] = _Project(key, needs, rebaseline=late)
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
        found = await self._pages(queries.entity_projects, "e", [(e.key, {"n": e.key.entity}) for e in entities],
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
                work[project.key] = await self._cursor(project)
            except Exception as exc:
                errors[project.key] = exc
        live = [p for p in projects if p.key in work]
        events: dict[ScopeKey, list[Event]] = {p.key: [] for p in live}
        try:
            await self._read_artifacts([p for p in live if p.needs.artifacts], work, events, errors)
            await self._read_runs([p for p in live if p.needs.runs and p.key not in errors], work, events, errors)
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
                    await self._commit(project, work[project.key], bool(found))
                except Exception as exc:  # the executions (or the cursor) could not be stored: read again
                    error = SourceError(f"events read but not stored ({type(exc).__name__}: {exc}); reading "
                                        "them again") if not isinstance(exc, SourceError) else exc
            if error is None:
                self.cycles += 1
            self._done(project.key, project.schedule, error, events=len(found))

    async def _cursor(self, project: _Project) -> dict[str, Any]:
        """A working copy of the project's cursor (loaded once, from the store)."""
        if project.cursor is None:
            loaded = await self._load(project.cursor_key)
            loaded = _upgrade(loaded, project.key)
            stale = loaded is not None and self._now() - artifacts.parse_time(loaded.get("saved")) > MAX_CATCH_UP
            if stale:
                log.warning("cursor of %s is older than %s: starting from now, not replaying", project.key,
                            MAX_CATCH_UP)
            if loaded is None or project.rebaseline or stale:
                loaded = {"v": CURSOR_VERSION, "baseline": _iso(self._now()), "state": {}}
            project.cursor = loaded
        copy: dict[str, Any] = json.loads(json.dumps(project.cursor))
        return copy

    async def _commit(self, project: _Project, cursor: dict[str, Any], changed_events: bool) -> None:
        saved = artifacts.parse_time(cursor.get("saved"))
        if changed_events or cursor != project.cursor or self._now() - saved > MAX_CATCH_UP / 4:
            cursor["saved"] = _iso(self._now())  # refreshed now and then even when nothing changes
            await self._save(project.cursor_key, cursor)
        project.cursor = cursor

    def _maker(self, key: ScopeKey) -> artifacts.MakeEvent:
        def make(project: str, type_: EventType, ident: str, **fields: Any) -> Event:
            return Event(id=ident, type=type_, time=self._now(), source=Source.POLL, entity=key.entity,
                         project=project, **fields)

        return make

    async def _read_artifacts(self, projects: list[_Project], work: dict[ScopeKey, dict[str, Any]],
                              events: dict[ScopeKey, list[Event]], errors: dict[ScopeKey, Exception]) -> None:
        if not projects:
            return
        listings = await self._pages(queries.project_collections, "p",
                                     [(p.key, {"e": p.key.entity, "p": p.key.project}) for p in projects],
                                     lambda node: node.get("artifactCollections"), "project")
        reads: list[tuple[ScopeKey, str]] = []
        ok: list[_Project] = []
        for project in projects:
            listing = listings[project.key]
            if listing is None:
                listing = ProjectNotFound(project.key.entity, str(project.key.project))
            if isinstance(listing, Exception):
                errors[project.key] = listing
                continue
            state = work[project.key]["state"].setdefault("artifacts", {})
            wanted = project.needs.collections
            reads += [(project.key, cid) for cid in artifacts.tracked(state, listing, wanted)]
            ok.append(project)
        versions = await self._pages(queries.collection_versions, "c", [(r, {"c": r[1]}) for r in reads],
                                     lambda node: node.get("artifacts"), "project", after="after", edges=True)
        for project in ok:
            by_id: dict[str, list[Mapping[str, Any]] | None] = {}
            failed = next((v for (k, _), v in versions.items() if k == project.key and isinstance(v, Exception)), None)
            if failed is not None:
                errors[project.key] = failed
                continue
            for (key, cid), edges in versions.items():
                if key == project.key:
                    by_id[cid] = edges  # type: ignore[assignment]
            cursor = work[project.key]
            state = cursor["state"].setdefault("artifacts", {})
            listing = listings[project.key]
            assert isinstance(listing, list)
            events[project.key] += artifacts.diff(str(project.key.project), state, listing, by_id,
                                                  self._maker(project.key), quiet=not cursor["state"].get("seen_a"))
            cursor["state"]["seen_a"] = True

    async def _read_runs(self, projects: list[_Project], work: dict[ScopeKey, dict[str, Any]],
                         events: dict[ScopeKey, list[Event]], errors: dict[ScopeKey, Exception]) -> None:
        if not projects:
            return
        marks = {p.key: runs.watermark(work[p.key]["state"].get("runs") or {}) for p in projects}

        def older(key: ScopeKey, nodes: list[Mapping[str, Any]]) -> bool:
            mark = marks[key]
            return mark is not None and artifacts.parse_time(nodes[-1].get("heartbeatAt")) < mark

        listings = await self._pages(queries.project_runs, "p",
                                     [(p.key, {"e": p.key.entity, "p": p.key.project}) for p in projects],
                                     lambda node: node.get("runs"), "project", stop=older)
        reads: list[tuple[_Project, runs.HistoryRead]] = []
        for project in projects:
            listing = listings[project.key]
            if listing is None:
                listing = ProjectNotFound(project.key.entity, str(project.key.project))
            if isinstance(listing, Exception):
                errors[project.key] = listing
                continue
            mark = marks[project.key]
            nodes = [n for n in listing if mark is None or artifacts.parse_time(n.get("heartbeatAt")) >= mark]
            cursor = work[project.key]
            state = cursor["state"].setdefault("runs", {})
            found, todo = runs.observe(str(project.key.project), state, nodes, project.needs,
                                       self._maker(project.key), baseline=not cursor["state"].get("seen_r"),
                                       scope_baseline=artifacts.parse_time(cursor.get("baseline")), now=self._now())
            cursor["state"]["seen_r"] = True
            events[project.key] += found
            reads += [(project, read) for read in todo]
        rows = await self._history(reads)
        for project in projects:
            if project.key in errors:
                continue
            mine = [read for p, read in reads if p is project]
            failed = next((rows[(project.key, r.run)] for r in mine
                           if isinstance(rows.get((project.key, r.run)), Exception)), None)
            if isinstance(failed, Exception):
                errors[project.key] = failed
                continue
            by_run = {r.run: rows.get((project.key, r.run)) or [] for r in mine}
            state = work[project.key]["state"].setdefault("runs", {})
            events[project.key] += runs.apply_history(str(project.key.project), state, mine,
                                                      by_run, project.needs, self._maker(project.key))  # type: ignore[arg-type]

    async def _history(self, reads: list[tuple[_Project, runs.HistoryRead]],
                       ) -> dict[tuple[ScopeKey, str], list[dict[str, Any]] | Exception]:
        """Every history row asked for, batched across runs and projects, paging long ranges."""
        out: dict[tuple[ScopeKey, str], list[dict[str, Any]] | Exception] = {(p.key, r.run): [] for p, r in reads}
        pending = [(p.key, r.run, r.low, r.high) for p, r in reads]
        while pending:
            batch, pending = pending[:BATCH], pending[BATCH:]
            variables: dict[str, Any] = {"pageSize": HISTORY_PAGE}
            for i, (key, run, low, high) in enumerate(batch):
                variables.update({f"e{i}": key.entity, f"p{i}": key.project, f"r{i}": run, f"min{i}": low,
                                  f"max{i}": high})
            try:
                data, problems = await self._client.partial(queries.run_history(len(batch)), variables, scope="project")
            except SourceError as exc:
                for key, run, _, _ in batch:
                    out[(key, run)] = exc
                continue
            failed = _failed_aliases(problems)
            for i, (key, run, _low, high) in enumerate(batch):
                if f"h{i}" in failed:
                    out[(key, run)] = SourceError(f"W&B GraphQL error: {failed[f'h{i}']}")
                    continue
                node = data.get(f"h{i}")
                if node is None:
                    out[(key, run)] = ProjectNotFound(key.entity, str(key.project))
                    continue
                page = [artifacts.decode(r) for r in ((node.get("run") or {}).get("history") or [])]
                page = [r for r in page if isinstance(r, dict) and "_step" in r]
                got = out[(key, run)]
                if isinstance(got, list):
                    got += page
                steps = [s for s in (runs._step(r) for r in page) if s is not None]
                if len(page) >= HISTORY_PAGE and steps and max(steps) + 1 < high:
                    pending.append((key, run, max(steps) + 1, high))
        return out

    async def _pages(self, build: Callable[[int], str], prefix: str, requests: list[tuple[K, dict[str, Any]]],
                     connection: Callable[[Mapping[str, Any]], Any], scope: str, *, after: str = "a",
                     stop: Callable[[K, list[Mapping[str, Any]]], bool] | None = None, edges: bool = False,
                     ) -> dict[K, list[Mapping[str, Any]] | Exception | None]:
        """Every node (or, with ``edges``, every edge) of a connection for each request, batched
        :data:`BATCH` to a document, paging each. Per request: the nodes, None when its object answered
        null, or the error that stopped it."""
        out: dict[K, list[Mapping[str, Any]] | Exception | None] = {k: [] for k, _ in requests}
        todo: list[tuple[K, dict[str, Any], str | None]] = [(k, v, None) for k, v in requests]
        while todo:
            batch, todo = todo[:BATCH], todo[BATCH:]
            variables: dict[str, Any] = {"perPage": PAGE}
            for i, (_, values, cursor) in enumerate(batch):
                variables.update({f"{name}{i}": value for name, value in values.items()})
                variables[f"{after}{i}"] = cursor
            try:
                data, problems = await self._client.partial(build(len(batch)), variables, scope=scope)
            except SourceError as exc:
                for key, _, _ in batch:
                    out[key] = exc
                continue
            failed = _failed_aliases(problems)
            for i, (key, values, _) in enumerate(batch):
                got = out[key]
                if not isinstance(got, list):
                    continue
                if f"{prefix}{i}" in failed:
                    out[key] = SourceError(f"W&B GraphQL error: {failed[f'{prefix}{i}']}")
                    continue
                node = data.get(f"{prefix}{i}")
                if node is None:
                    out[key] = None
                    continue
                conn = connection(node) if isinstance(node, dict) else None
                if not isinstance(conn, dict):
                    conn = {}
                found = conn.get("edges")
                if not isinstance(found, list):
                    out[key] = Malformed(f"W&B answered a malformed page ({build.__name__}: no list of edges); "
                                         "nothing was changed, reading again")
                    continue
                whole: list[Mapping[str, Any]] = [e for e in found if isinstance(e, dict)
                                                  and isinstance(e.get("node"), dict)]
                nodes = whole if edges else [e["node"] for e in whole]
                got += nodes
                page = conn.get("pageInfo") or {}
                if page.get("hasNextPage") and nodes and not (stop is not None and stop(key, nodes)):
                    todo.append((key, values, page.get("endCursor")))
        return out


def _failed_aliases(problems: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """GraphQL errors by the top-level alias they are about (``path[0]``); unplaced ones under ``""``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for problem in problems:
        path = problem.get("path") or [""]
        out.setdefault(str(path[0]), []).append(dict(problem))
    return {alias: error_text(items) for alias, items in out.items()}


def _upgrade(loaded: dict[str, Any] | None, key: ScopeKey) -> dict[str, Any] | None:
    """A cursor in this version's shape (version-1 cursors held every project of a scope)."""
    if loaded is None or loaded.get("v") == CURSOR_VERSION:
        return loaded
    project_state = dict((loaded.get("projects") or {}).get(str(key.project)) or {})
    state: dict[str, Any] = {}
    if "collections" in project_state:
        state["artifacts"] = artifacts.migrate({"collections": project_state["collections"]})
        state["seen_a"] = True
    if "runs" in project_state:
        state["runs"] = {"runs": project_state["runs"], "seen": project_state.get("seen")}
        for entry in state["runs"]["runs"].values():
            entry.setdefault("sn", {entry.get("state", ""): 1})
        state["seen_r"] = True
    return {"v": CURSOR_VERSION, "baseline": loaded.get("baseline"), "saved": loaded.get("saved"), "state": state}
