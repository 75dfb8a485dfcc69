"""Batched, paged GraphQL reads of W&B: many projects' (or collections', or runs') connections in one
document of up to :data:`BATCH` aliases, each paged to its end; an error or a null answer stays with its
own alias, so one missing project never fails the others."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from wbauto.errors import SourceError
from wbauto.sources import artifacts, runs
from wbauto.sources.plan import ScopeKey
from wbauto.wbapi import queries
from wbauto.wbapi.client import Client, error_text

K = TypeVar("K")

BATCH = 10  # aliases per batched request
PAGE = 100
HISTORY_PAGE = 1000


class ProjectNotFound(SourceError):
    """Raised when W&B answers ``project: null``: the project does not exist or the API key cannot see it."""

    def __init__(self, entity: str, project: str) -> None:
        super().__init__(f"project {entity}/{project} not found, or not visible to the operator's W&B API key")


class Malformed(SourceError):
    """Raised when W&B answers a connection as null or without edges: not evidence that anything is gone."""


@dataclass(frozen=True)
class HistoryRange:
    """History rows of one run of one project: steps ``low`` to ``high - 1``."""

    key: ScopeKey
    run: str
    low: int
    high: int


Found = dict[K, list[Mapping[str, Any]] | Exception | None]


class Reader:
    def __init__(self, client: Client) -> None:
        self._client = client

    async def pages(self, build: Callable[[int], str], prefix: str, requests: list[tuple[K, dict[str, Any]]],
                    connection: Callable[[Mapping[str, Any]], Any], scope: str, *, after: str = "a",
                    stop: Callable[[K, list[Mapping[str, Any]]], bool] | None = None, edges: bool = False,
                    ) -> Found[K]:
        """Every node (or, with ``edges``, every edge) of a connection for each request, batched
        :data:`BATCH` to a document, paging each. Per request: the nodes, None when its object answered
        null, or the error that stopped it."""
        out: Found[K] = {k: [] for k, _ in requests}
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
            failed = failed_aliases(problems)
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

    async def history(self, reads: list[HistoryRange]) -> dict[tuple[ScopeKey, str], list[dict[str, Any]] | Exception]:
        """Every history row asked for, batched across runs and projects, paging long ranges."""
        out: dict[tuple[ScopeKey, str], list[dict[str, Any]] | Exception] = {(r.key, r.run): [] for r in reads}
        pending = [(r.key, r.run, r.low, r.high) for r in reads]
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
            failed = failed_aliases(problems)
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


def failed_aliases(problems: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """GraphQL errors by the top-level alias they are about (``path[0]``); unplaced ones under ``""``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for problem in problems:
        path = problem.get("path") or [""]
        out.setdefault(str(path[0]), []).append(dict(problem))
    return {alias: error_text(items) for alias, items in out.items()}
