"""The two reads of a poll cycle, across its projects: artifacts (collection listings, then the versions of
the tracked collections) and runs (runs newest heartbeat first, then the history rows the metric
windows need). Each turns W&B's pages (:mod:`wbauto.sources.batch`) into events with the pure diffs of
:mod:`wbauto.sources.artifacts` and :mod:`wbauto.sources.runs`, updating each project's working cursor.

A project whose read fails gets its error in ``errors`` and no events; the others go on.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from wbauto.api.event import Event
from wbauto.sources import artifacts, runs
from wbauto.sources.batch import HistoryRange, ProjectNotFound, Reader
from wbauto.sources.plan import Needs, ScopeKey
from wbauto.wbapi import queries

Work = dict[ScopeKey, dict[str, Any]]  # each project's working cursor
Found = dict[ScopeKey, list[Event]]
Errors = dict[ScopeKey, Exception]


class Feeds:
    def __init__(self, reader: Reader, make: Callable[[ScopeKey], artifacts.MakeEvent],
                 now: Callable[[], datetime.datetime]) -> None:
        self._reader = reader
        self._make = make
        self._now = now

    async def artifacts(self, projects: dict[ScopeKey, Needs], work: Work, events: Found, errors: Errors) -> None:
        if not projects:
            return
        listings = await self._reader.pages(queries.project_collections, "p",
                                            [(k, {"e": k.entity, "p": k.project}) for k in projects],
                                            lambda node: node.get("artifactCollections"), "project")
        reads: list[tuple[ScopeKey, str]] = []
        ok: list[ScopeKey] = []
        for key, needs in projects.items():
            listing = _readable(key, listings[key], errors)
            if listing is None:
                continue
            state = work[key]["state"].setdefault("artifacts", {})
            reads += [(key, cid) for cid in artifacts.tracked(state, listing, needs.collections)]
            ok.append(key)
        versions = await self._reader.pages(queries.collection_versions, "c", [(r, {"c": r[1]}) for r in reads],
                                            lambda node: node.get("artifacts"), "project", after="after", edges=True)
        for key in ok:
            by_id: dict[str, list[Mapping[str, Any]] | None] = {}
            failed = next((v for (k, _), v in versions.items() if k == key and isinstance(v, Exception)), None)
            if failed is not None:
                errors[key] = failed
                continue
            for (k, cid), edges in versions.items():
                if k == key:
                    by_id[cid] = edges  # type: ignore[assignment]
            cursor = work[key]
            state = cursor["state"].setdefault("artifacts", {})
            listed = listings[key]
            assert isinstance(listed, list)
            events[key] += artifacts.diff(str(key.project), state, listed, by_id, self._make(key),
                                          quiet=not cursor["state"].get("seen_a"))
            cursor["state"]["seen_a"] = True

    async def runs(self, projects: dict[ScopeKey, Needs], work: Work, events: Found, errors: Errors) -> None:
        if not projects:
            return
        marks = {k: runs.watermark(work[k]["state"].get("runs") or {}) for k in projects}

        def older(key: ScopeKey, nodes: list[Mapping[str, Any]]) -> bool:
            mark = marks[key]
            return mark is not None and artifacts.parse_time(nodes[-1].get("heartbeatAt")) < mark

        listings = await self._reader.pages(queries.project_runs, "p",
                                            [(k, {"e": k.entity, "p": k.project}) for k in projects],
                                            lambda node: node.get("runs"), "project", stop=older)
        reads: list[tuple[ScopeKey, runs.HistoryRead]] = []
        for key, needs in projects.items():
            listing = _readable(key, listings[key], errors)
            if listing is None:
                continue
            mark = marks[key]
            nodes = [n for n in listing if mark is None or artifacts.parse_time(n.get("heartbeatAt")) >= mark]
            cursor = work[key]
            state = cursor["state"].setdefault("runs", {})
            found, todo = runs.observe(str(key.project), state, nodes, needs, self._make(key),
                                       baseline=not cursor["state"].get("seen_r"),
                                       scope_baseline=artifacts.parse_time(cursor.get("baseline")), now=self._now())
            cursor["state"]["seen_r"] = True
            events[key] += found
            reads += [(key, read) for read in todo]
        rows = await self._reader.history([HistoryRange(k, r.run, r.low, r.high) for k, r in reads])
        for key, needs in projects.items():
            if key in errors:
                continue
            mine = [read for k, read in reads if k == key]
            failed = next((rows[(key, r.run)] for r in mine if isinstance(rows.get((key, r.run)), Exception)), None)
            if isinstance(failed, Exception):
                errors[key] = failed
                continue
            by_run = {r.run: rows.get((key, r.run)) or [] for r in mine}
            state = work[key]["state"].setdefault("runs", {})
            events[key] += runs.apply_history(str(key.project), state, mine, by_run, needs,  # type: ignore[arg-type]
                                              self._make(key))


def _readable(key: ScopeKey, listing: list[Mapping[str, Any]] | Exception | None,
              errors: Errors) -> list[Mapping[str, Any]] | None:
    """A project's listing, or None once the reason it could not be read is in ``errors``."""
    if listing is None:
        listing = ProjectNotFound(key.entity, str(key.project))
    if isinstance(listing, Exception):
        errors[key] = listing
        return None
    return listing
