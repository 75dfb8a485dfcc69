"""Poll one W&B scope and turn what changed into Events (one poller per scope, shared by its Automations).

Each cycle reads the scope's collections and versions (committed versions, registry links, aliases —
including an alias moving from one version to another — and tags on versions and collections) and its
recently active runs (state transitions, new history rows), compares them with the cursor, emits the
Events, and only then saves the cursor. A crash before the save makes the next cycle detect the same
changes again, with the same event ids, so the executions already created are not created twice.

The first cycle of a scope records a baseline and emits nothing: only what happens afterwards fires.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from wbauto.api.event import ArtifactInfo, Event, EventType, MetricSeries, RunInfo, Source, event_id
from wbauto.errors import SourceError
from wbauto.sources import queries
from wbauto.sources.plan import Needs, ScopeKey
from wbauto.sources.wandb import Client

log = logging.getLogger("wbauto.poller")

Emit = Callable[[list[Event]], Awaitable[None]]
LoadCursor = Callable[[str], Awaitable[dict[str, Any] | None]]
SaveCursor = Callable[[str, dict[str, Any]], Awaitable[None]]

BATCH = 10  # collections or runs per batched request
PAGE = 100
HISTORY_PAGE = 1000
RUN_SLACK = datetime.timedelta(minutes=2)  # heartbeat window overlap between cycles
RUN_FORGET = datetime.timedelta(days=2)  # drop finished runs from the cursor after this
RUN_STATES = {"running", "finished", "failed", "crashed"}  # killed runs never trigger
MAX_CATCH_UP = datetime.timedelta(hours=24)  # an older cursor is not replayed: the scope starts afresh


def _parse_time(text: str | None) -> datetime.datetime:
    if not text:
        return datetime.datetime.fromtimestamp(0, datetime.UTC)
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _iso(t: datetime.datetime) -> str:
    return t.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _author(created_by: dict[str, Any] | None) -> str:
    if not created_by:
        return ""
    if created_by.get("__typename") == "Run":
        return str((created_by.get("user") or {}).get("username") or "")
    return str(created_by.get("username") or "")


class ProjectNotFound(SourceError):
    """Raised when W&B answers ``project: null``: the project does not exist or the API key cannot see it."""

    def __init__(self, entity: str, project: str) -> None:
        super().__init__(f"project {entity}/{project} not found, or not visible to the operator's W&B API key")


@dataclass
class CycleResult:
    events: int = 0
    requests: int = 0


class ScopePoller:
    def __init__(self, key: ScopeKey, client: Client, load: LoadCursor, save: SaveCursor, emit: Emit,
                 now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
                 *, rebaseline: bool = False) -> None:
        self.key = key
        # a scope first watched while the operator runs starts from now: an older cursor (a scope watched
        # before, then dropped) must not replay what happened while nobody needed it
        self._rebaseline = rebaseline
        self.needs = Needs()
        self._client = client
        self._load = load
        self._save = save
        self._emit = emit
        self._now = now
        self._cursor: dict[str, Any] | None = None

    @property
    def cursor_key(self) -> str:
        return f"scope:{self.key}"

    async def _query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        return await self._client.execute(query, variables, scope="project" if self.key.project else "entity")

    # --- one cycle ------------------------------------------------------------------------------------

    async def cycle(self) -> CycleResult:
        before = self._client.requests
        if self._cursor is None:
            loaded = await self._load(self.cursor_key)
            stale = loaded is not None and self._now() - _parse_time(loaded.get("saved")) > MAX_CATCH_UP
            if stale:
                log.warning("cursor of %s is older than %s: starting from now, not replaying", self.key,
                            MAX_CATCH_UP)
            if loaded is None or self._rebaseline or stale:
                loaded = {"v": 1, "rev": int((loaded or {}).get("rev", 0)), "baseline": _iso(self._now()),
                          "projects": {}}
            self._cursor = loaded
        cursor = json.loads(json.dumps(self._cursor))  # work on a copy; commit only after emitting
        rev = int(cursor["rev"]) + 1
        events: list[Event] = []
        projects = [self.key.project] if self.key.project else await self._entity_projects()
        for project in projects:
            state = cursor["projects"].setdefault(project, {})
            fresh = not state
            if self.needs.artifacts:
                events += await self._artifacts(project, state, rev, fresh or "collections" not in state)
            if self.needs.runs:
                events += await self._runs(project, state, rev, fresh or "runs" not in state,
                                           _parse_time(cursor["baseline"]))
        if events:
            await self._emit(events)
            cursor["rev"] = rev
        saved = _parse_time(cursor.get("saved"))
        if events or cursor != self._cursor or self._now() - saved > MAX_CATCH_UP / 4:
            cursor["saved"] = _iso(self._now())  # refreshed now and then even when nothing changes
            await self._save(self.cursor_key, cursor)
            self._cursor = cursor
        return CycleResult(len(events), self._client.requests - before)

    async def _entity_projects(self) -> list[str]:
        names: list[str] = []
        after: str | None = None
        while True:
            data = await self._query(queries.ENTITY_PROJECTS, {"entity": self.key.entity, "cursor": after})
            if data.get("entity") is None:
                raise SourceError(f"entity {self.key.entity} not found, or not visible to the operator's W&B API key")
            conn = (data.get("entity") or {}).get("projects") or {}
            names += [e["node"]["name"] for e in conn.get("edges") or []]
            page = conn.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return names
            after = page.get("endCursor")

    # --- artifacts --------------------------------------------------------------------------------------

    async def _artifacts(self, project: str, state: dict[str, Any], rev: int, baseline: bool) -> list[Event]:
        known: dict[str, Any] = state.setdefault("collections", {})
        collections = await self._collections(project)
        events: list[Event] = []
        tracked: list[dict[str, Any]] = []
        for coll in collections:
            entry = known.get(coll["id"])
            tags = sorted(e["node"]["name"] for e in ((coll.get("tags") or {}).get("edges") or []))
            is_new = entry is None and not baseline
            if entry is None:
                entry = known[coll["id"]] = {"name": coll["name"], "type": coll["__typename"],
                                             "tags": tags, "versions": None}
            elif not baseline:
                events += self._collection_tag_events(project, coll, entry["tags"], tags, rev)
            entry["tags"] = tags
            entry["name"] = coll["name"]
            wanted = self.needs.collections is None or coll["name"] in self.needs.collections
            if wanted:
                if entry["versions"] is None and not is_new:
                    entry["baseline"] = True  # tracked from now on: record, do not fire
                tracked.append(coll)
        present = {c["id"] for c in collections}
        for gone in [k for k in known if k not in present]:
            del known[gone]
        for coll, versions in await self._versions(tracked):
            entry = known[coll["id"]]
            newly_tracked = bool(entry.pop("baseline", False))
            quiet = baseline or newly_tracked
            events += self._version_events(project, coll, entry, versions, rev, quiet)
        return events

    async def _collections(self, project: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            data = await self._query(queries.PROJECT_COLLECTIONS, {
                "entity": self.key.entity, "project": project, "cursor": after, "perPage": PAGE})
            if data.get("project") is None:
                raise ProjectNotFound(self.key.entity, project)
            conn = (data.get("project") or {}).get("artifactCollections") or {}
            out += [e["node"] for e in conn.get("edges") or []]
            page = conn.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return out
            after = page.get("endCursor")

    async def _versions(self, collections: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Every version edge of each collection, batched BATCH collections per request, paging each."""
        found: dict[str, list[dict[str, Any]]] = {c["id"]: [] for c in collections}
        todo: list[tuple[str, str | None]] = [(c["id"], None) for c in collections]
        while todo:
            batch, todo = todo[:BATCH], todo[BATCH:]
            variables: dict[str, Any] = {"perPage": PAGE}
            for i, (cid, after) in enumerate(batch):
                variables[f"c{i}"] = cid
                variables[f"after{i}"] = after
            data = await self._query(queries.collection_versions(len(batch)), variables)
            for i, (cid, _) in enumerate(batch):
                conn = (data.get(f"c{i}") or {}).get("artifacts") or {}
                found[cid] += conn.get("edges") or []
                page = conn.get("pageInfo") or {}
                if page.get("hasNextPage"):
                    todo.append((cid, page.get("endCursor")))
        return [(c, found[c["id"]]) for c in collections]

    def _artifact(self, project: str, coll: dict[str, Any], edge: dict[str, Any], aliases: list[str]) -> ArtifactInfo:
        node = edge["node"]
        version = str(edge.get("version") or f"v{node.get('versionIndex', 0)}")
        metadata = _json(node.get("metadata"))
        return ArtifactInfo(
            id=str(node["id"]), collection=coll["name"], collection_type=coll["__typename"],
            type=str((node.get("artifactType") or {}).get("name") or ""),
            version_index=int(version[1:]) if version[1:].isdigit() else node.get("versionIndex"),
            version=version, digest=str(node.get("digest") or ""), aliases=aliases,
            tags=sorted(t["name"] for t in node.get("tags") or []),
            metadata=metadata if isinstance(metadata, dict) else {},
            created_at=_parse_time(node.get("createdAt")),
        )

    def _event(self, project: str, type_: EventType, ident: str, *, author: str = "", alias: str = "",
               tag: str = "", artifact: ArtifactInfo | None = None, run: RunInfo | None = None,
               metrics: list[MetricSeries] | None = None) -> Event:
        return Event(id=ident, type=type_, time=self._now(), source=Source.POLL, author=author,
                     entity=self.key.entity, project=project, alias=alias, tag=tag, artifact=artifact, run=run,
                     metrics=metrics or [])

    def _version_events(self, project: str, coll: dict[str, Any], entry: dict[str, Any],
                        edges: list[dict[str, Any]], rev: int, quiet: bool) -> list[Event]:
        seen: dict[str, Any] = entry["versions"] or {}
        now_versions: dict[str, Any] = {}
        events: list[Event] = []
        portfolio = coll["__typename"] == "ArtifactPortfolio"
        edges = sorted(edges, key=lambda e: (str(e["node"].get("createdAt") or ""), e["node"]["id"]))
        for edge in edges:
            node = edge["node"]
            if node.get("state") != "COMMITTED":
                continue  # pending uploads fire when they are committed
            aliases = sorted(a["alias"] for a in node.get("aliases") or [] if self._same_collection(a, coll, project))
            tags = sorted(t["name"] for t in node.get("tags") or [])
            art_id = str(node["id"])
            version = str(edge.get("version") or f"v{node.get('versionIndex', 0)}")
            now_versions[art_id] = {"a": aliases, "t": tags, "v": version}
            if quiet:
                continue
            author = _author(node.get("createdBy"))
            info = self._artifact(project, coll, edge, aliases)
            before = seen.get(art_id)
            if before is None:
                kind = EventType.LINK_MODEL if portfolio else EventType.CREATE_ARTIFACT
                events.append(self._event(project, kind, event_id(kind, coll["id"], art_id), author=author,
                                          artifact=info))
                old_aliases: list[str] = []
                old_tags: list[str] = []
            else:
                old_aliases, old_tags = before["a"], before["t"]
            for alias in aliases:
                if alias not in old_aliases:
                    events.append(self._event(project, EventType.ADD_ARTIFACT_ALIAS,
                                              event_id("alias", coll["id"], art_id, alias, rev),
                                              author=author, alias=alias, artifact=info))
            for tag in tags:
                if tag not in old_tags:
                    events.append(self._event(project, EventType.ADD_ARTIFACT_TAG,
                                              event_id("tag+", coll["id"], art_id, tag, rev),
                                              author=author, tag=tag, artifact=info))
            for tag in old_tags:
                if tag not in tags:
                    events.append(self._event(project, EventType.REMOVE_ARTIFACT_TAG,
                                              event_id("tag-", coll["id"], art_id, tag, rev),
                                              author=author, tag=tag, artifact=info))
        if portfolio and not quiet:
            for art_id in seen:
                if art_id not in now_versions:
                    version = str(seen[art_id].get("v") or "")
                    info = ArtifactInfo(id=art_id, collection=coll["name"], collection_type=coll["__typename"],
                                        version=version,
                                        version_index=int(version[1:]) if version[1:].isdigit() else None)
                    events.append(self._event(project, EventType.UNLINK_ARTIFACT,
                                              event_id("unlink", coll["id"], art_id, rev), artifact=info))
        entry["versions"] = now_versions
        return events

    def _same_collection(self, alias: dict[str, Any], coll: dict[str, Any], project: str) -> bool:
        owner = alias.get("artifactCollection")
        if not owner:
            return True
        owner_project = (owner.get("project") or {})
        return bool(owner.get("name") == coll["name"] and owner_project.get("name", project) == project)

    def _collection_tag_events(self, project: str, coll: dict[str, Any], old: list[str], new: list[str],
                               rev: int) -> list[Event]:
        info = ArtifactInfo(collection=coll["name"], collection_type=coll["__typename"],
                            type=str((coll.get("defaultArtifactType") or {}).get("name") or ""))
        events = [self._event(project, EventType.ADD_COLLECTION_TAG, event_id("ctag+", coll["id"], t, rev), tag=t,
                              artifact=info) for t in new if t not in old]
        events += [self._event(project, EventType.REMOVE_COLLECTION_TAG, event_id("ctag-", coll["id"], t, rev),
                               tag=t, artifact=info) for t in old if t not in new]
        return events

    # --- runs -------------------------------------------------------------------------------------------

    async def _runs(self, project: str, state: dict[str, Any], rev: int, baseline: bool,
                    scope_baseline: datetime.datetime) -> list[Event]:
        runs: dict[str, Any] = state.setdefault("runs", {})
        watermark = _parse_time(state.get("seen")) - RUN_SLACK if state.get("seen") else None
        nodes = await self._recent_runs(project, watermark)
        events: list[Event] = []
        history_todo: list[tuple[dict[str, Any], int, int, bool]] = []
        keep = max(self.needs.metrics.values(), default=0)
        newest = _parse_time(state.get("seen")) if state.get("seen") else None
        for node in nodes:
            heartbeat = _parse_time(node.get("heartbeatAt"))
            newest = heartbeat if newest is None or heartbeat > newest else newest
            run_id = str(node["name"])
            keys = _json(node.get("historyKeys")) or {}
            last_step = int(keys.get("lastStep", -1)) if isinstance(keys, dict) else -1
            entry = runs.get(run_id)
            run_state = str(node.get("state") or "").lower()
            created_after_baseline = _parse_time(node.get("createdAt")) > scope_baseline
            if entry is None:
                quiet = baseline or not created_after_baseline
                entry = runs[run_id] = {"state": "" if not quiet else run_state,
                                        "step": last_step if quiet else -1, "tails": {}}
                if quiet and keep and run_state == "running" and last_step >= 0:
                    # seed the windows with the run's recent values (no events for them)
                    history_todo.append((node, max(0, last_step - keep + 1), last_step + 1, True))
            if run_state != entry["state"] and run_state in RUN_STATES:
                info = self._run_info(node, entry["state"])
                events.append(self._event(project, EventType.RUN_STATE,
                                          event_id("state", project, run_id, run_state, rev),
                                          author=info.user, run=info))
            entry["state"] = run_state
            entry["hb"] = _iso(heartbeat)
            if self.needs.metrics and last_step > entry["step"]:
                history_todo.append((node, entry["step"] + 1, last_step + 1, False))
            elif last_step > entry["step"]:
                entry["step"] = last_step
        events += await self._history(project, runs, history_todo)
        if newest is not None:
            state["seen"] = _iso(newest)
        horizon = self._now() - RUN_FORGET
        for run_id in [r for r, e in runs.items() if e["state"] != "running" and _parse_time(e.get("hb")) < horizon]:
            del runs[run_id]
        return events

    def _run_info(self, node: dict[str, Any], previous: str) -> RunInfo:
        return RunInfo(id=str(node["name"]), display_name=str(node.get("displayName") or ""),
                       state=str(node.get("state") or "").upper(), previous_state=previous.upper(),
                       user=str((node.get("user") or {}).get("username") or ""))

    async def _recent_runs(self, project: str, watermark: datetime.datetime | None) -> list[dict[str, Any]]:
        """Runs by most recent heartbeat, down to the watermark (all of them the first time)."""
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            data = await self._query(queries.PROJECT_RUNS, {
                "entity": self.key.entity, "project": project, "cursor": after, "perPage": PAGE})
            if data.get("project") is None:
                raise ProjectNotFound(self.key.entity, project)
            conn = (data.get("project") or {}).get("runs") or {}
            nodes = [e["node"] for e in conn.get("edges") or []]
            for node in nodes:
                if watermark is not None and _parse_time(node.get("heartbeatAt")) < watermark:
                    return out
                out.append(node)
            page = conn.get("pageInfo") or {}
            if not page.get("hasNextPage") or not nodes:
                return out
            after = page.get("endCursor")

    async def _history(self, project: str, runs: dict[str, Any],
                       todo: list[tuple[dict[str, Any], int, int, bool]]) -> list[Event]:
        """Fetch new history rows; ``seed`` entries only fill the windows (a baseline) and fire nothing."""
        rows: dict[str, list[dict[str, Any]]] = {str(n["name"]): [] for n, _, _, _ in todo}
        pending = [(str(n["name"]), lo, hi) for n, lo, hi, _ in todo]
        while pending:
            batch, pending = pending[:BATCH], pending[BATCH:]
            variables: dict[str, Any] = {"entity": self.key.entity, "project": project, "pageSize": HISTORY_PAGE}
            for i, (run_id, lo, hi) in enumerate(batch):
                variables.update({f"r{i}": run_id, f"min{i}": lo, f"max{i}": hi})
            data = await self._query(queries.run_history(len(batch)), variables)
            for i, (run_id, _lo, hi) in enumerate(batch):
                page = [_json(r) for r in ((data.get("project") or {}).get(f"r{i}") or {}).get("history") or []]
                page = [r for r in page if isinstance(r, dict) and "_step" in r]
                rows[run_id] += page
                if len(page) >= HISTORY_PAGE:
                    last = max(int(r["_step"]) for r in page)
                    if last + 1 < hi:
                        pending.append((run_id, last + 1, hi))
        events: list[Event] = []
        for node, _lo, hi, seed in todo:
            run_id = str(node["name"])
            entry = runs[run_id]
            new_rows = sorted(rows[run_id], key=lambda r: int(r["_step"]))
            series: list[MetricSeries] = []
            for metric, keep in self.needs.metrics.items():
                tail: list[list[float]] = entry["tails"].get(metric, [])
                new = [(int(r["_step"]), float(r[metric])) for r in new_rows
                       if isinstance(r.get(metric), (int, float)) and not isinstance(r.get(metric), bool)]
                if not new:
                    continue
                combined = [(int(s), float(v)) for s, v in tail] + new
                series.append(MetricSeries(name=metric, steps=[s for s, _ in combined],
                                           values=[v for _, v in combined], new_from=len(tail)))
                entry["tails"][metric] = [[s, v] for s, v in combined[-keep:]]
            entry["step"] = hi - 1
            if series and new_rows and not seed:
                first = int(new_rows[0]["_step"])
                info = self._run_info(node, entry["state"])
                events.append(self._event(project, EventType.RUN_HISTORY,
                                          event_id("history", project, run_id, first),
                                          author=info.user, run=info, metrics=series))
        return events
