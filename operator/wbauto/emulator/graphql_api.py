"""W&B's GraphQL API over the emulator state: ``schema.graphql`` plus resolvers, run by graphql-core.

Fields without a resolver here read the attribute of the same name in snake_case (``versionIndex`` ->
``version_index``) or, on dicts, the key itself. Documents are parsed and validated once per query
text (the poller sends the same text every cycle). A whole request runs under the state lock, so
every response is one consistent snapshot. Unknown projects, runs and versions resolve to null.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    OperationDefinitionNode,
    build_schema,
    execute,
    parse,
    validate,
)

from wbauto.emulator import filters as filters_
from wbauto.emulator import model, paging, scalars
from wbauto.emulator.state import State

Resolver = Callable[..., Any]
Info = GraphQLResolveInfo[State]
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass(frozen=True)
class Prepared:
    """A query text parsed and validated: the document, or the errors that stop it."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]

    def operation_name(self, requested: str | None) -> str:
        """The name to count the request under: the requested operation, else the document's only one."""
        if requested:
            return requested
        if self.document is None:
            return "(invalid)"
        operations = [d for d in self.document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) == 1 and operations[0].name:
            return operations[0].name.value
        return "(anonymous)"


def run(
    state: State, query: str, variables: Mapping[str, Any] | None, operation_name: str | None
) -> dict[str, Any]:
    """Execute one GraphQL request; the answer is ``{"data": ..., "errors": [...]}`` as W&B sends it."""
    prepared = prepare(query)
    state.count_request(prepared.operation_name(operation_name))
    if prepared.document is None or prepared.errors:
        return {"data": None, "errors": [e.formatted for e in prepared.errors]}
    with state.lock:
        result = execute(
            SCHEMA,
            prepared.document,
            context_value=state,
            variable_values=dict(variables or {}),
            operation_name=operation_name or None,
            field_resolver=_attribute,
        )
    assert isinstance(result, ExecutionResult), "every resolver is synchronous"
    return dict(result.formatted)


@functools.lru_cache(maxsize=512)
def prepare(query: str) -> Prepared:
    try:
        document = parse(query)
    except GraphQLError as error:
        return Prepared(None, (error,))
    return Prepared(document, tuple(validate(SCHEMA, document)))


# Default resolution -------------------------------------------------------------------------------


@functools.cache
def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _attribute(source: Any, info: Info, **_: Any) -> Any:
    if isinstance(source, Mapping):
        return source.get(info.field_name)
    return getattr(source, _snake(info.field_name))


# Query and Mutation -------------------------------------------------------------------------------


def _viewer(_: None, info: Info) -> model.User:
    return info.context.viewer


def _server_info(_: None, info: Info) -> dict[str, Any]:
    return {"features": []}


def _entity(_: None, info: Info, name: str | None = None) -> model.Entity | None:
    return info.context.entity(name) if name else None


def _organization(_: None, info: Info, name: str | None = None) -> model.Organization | None:
    return info.context.organization(name) if name else None


def _project(
    _: None, info: Info, name: str | None = None, entityName: str | None = None
) -> model.Project | None:
    state = info.context
    return state.project(entityName or state.viewer.entity.name, name) if name else None


def _models(
    _: None, info: Info, entityName: str | None = None, **page: Any
) -> dict[str, Any] | None:
    state = info.context
    entity = state.entity(entityName or state.viewer.entity.name)
    return _entity_projects(entity, info, **page) if entity else None


def _artifact_by_id(_: None, info: Info, id: str) -> model.Artifact | None:
    parsed = model.parse_gid(id)
    return info.context.artifact(parsed[1]) if parsed and parsed[0] == "Artifact" else None


def _collection_by_id(_: None, info: Info, id: str) -> model.Collection | None:
    parsed = model.parse_gid(id)
    return info.context.collection(parsed[1]) if parsed and parsed[0] == "ArtifactCollection" else None


def _push_to_run_queue_by_name(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any] | None:
    item = info.context.push_to_run_queue(
        input["entityName"],
        input["projectName"],
        input["queueName"],
        input["runSpec"],
        priority=input.get("priority"),
        template_variable_values=input.get("templateVariableValues"),
    )
    if item is None:
        return None
    return {"runQueueItemId": item.id, "runSpec": item.run_spec, "clientMutationId": input.get("clientMutationId")}


# Users, entities, projects ------------------------------------------------------------------------


def _user_teams(user: model.User, info: Info, after: str | None = None,
                first: int | None = None) -> dict[str, Any]:
    """The viewer belongs to every team (and organization); other users to none."""
    state = info.context
    teams = state.teams() if user is state.viewer else []
    return paging.connection(teams, key=lambda e: (e.number,), after=after, first=first)


def _entity_projects(entity: model.Entity, info: Info, after: str | None = None,
                     first: int | None = None, order: str | None = None) -> dict[str, Any]:
    descending, field = _order(order, {"createdAt", "created_at", "name"}, "-createdAt")
    key = (lambda p: (p.name,)) if field == "name" else (lambda p: (p.number,))
    return paging.connection(list(entity.projects.values()), key=key, after=after, first=first,
                             descending=descending)


def _project_run(project: model.Project, info: Info, name: str) -> model.Run | None:
    return project.runs.get(name)


def _project_runs(project: model.Project, info: Info, filters: Any = None, after: str | None = None,
                  first: int | None = None, order: str | None = None) -> dict[str, Any]:
    descending, field = _order(
        order, {"created_at", "createdAt", "heartbeat_at", "heartbeatAt"}, "-created_at"
    )
    heartbeat = field.startswith("heartbeat")

    def key(run: model.Run) -> paging.Key:
        return ((run.heartbeat_at if heartbeat else run.created_at).timestamp(), run.number)

    return paging.connection(_filtered_runs(project, filters), key=key, after=after, first=first,
                             descending=descending)


def _project_run_count(project: model.Project, info: Info, filters: Any = None) -> int:
    return len(_filtered_runs(project, filters))


def _filtered_runs(project: model.Project, filters: Any) -> list[model.Run]:
    expression = filters_.check(filters)
    return [run for run in project.runs.values() if filters_.matches(_run_fields(run), expression)]


def _run_fields(run: model.Run) -> dict[str, Any]:
    """What run filters can name (W&B's field names, in both spellings where W&B accepts both)."""
    return {
        "name": run.name,
        "displayName": run.display_name,
        "display_name": run.display_name,
        "state": run.state.value,
        "username": run.user.username,
        "createdAt": scalars.format_time(run.created_at),
        "heartbeatAt": scalars.format_time(run.heartbeat_at),
        "config": run.config,
        "summary_metrics": run.summary,
    }


def _project_artifact_types(project: model.Project, info: Info, after: str | None = None,
                            first: int | None = None) -> dict[str, Any]:
    return paging.connection(list(project.artifact_types.values()), key=lambda t: (t.number,), after=after,
                             first=first)


def _project_artifact_type(project: model.Project, info: Info, name: str) -> model.ArtifactType | None:
    return project.artifact_types.get(name)


def _project_collections(project: model.Project, info: Info, **page: Any) -> dict[str, Any]:
    return _collections(list(project.collections.values()), **page)


def _project_collection(project: model.Project, info: Info, name: str) -> model.Collection | None:
    return project.collections.get(name)


def _project_membership(project: model.Project, info: Info, name: str) -> model.Membership | None:
    collection_name, _, version = name.partition(":")
    collection = project.collections.get(collection_name)
    return collection.membership(version or "latest") if collection else None


def _project_run_queues(project: model.Project, info: Info) -> list[model.RunQueue]:
    return list(project.run_queues.values())


def _type_collections(artifact_type: model.ArtifactType, info: Info, **page: Any) -> dict[str, Any]:
    collections = [c for c in artifact_type.project.collections.values() if c.type is artifact_type]
    return _collections(collections, **page)


def _type_collection(artifact_type: model.ArtifactType, info: Info, name: str) -> model.Collection | None:
    found = artifact_type.project.collections.get(name)
    return found if found is not None and found.type is artifact_type else None


def _collections(collections: list[model.Collection], *, after: str | None = None, first: int | None = None,
                 filters: Any = None, order: str | None = None) -> dict[str, Any]:
    expression = filters_.check(filters)
    selected = [
        c for c in collections
        if filters_.matches({"name": c.name, "createdAt": scalars.format_time(c.created_at),
                             "tag": [t.name for t in c.tags]}, expression)
    ]
    descending, field = _order(order, {"createdAt", "name"}, "-createdAt")
    key = (lambda c: (c.name,)) if field == "name" else (lambda c: (c.number,))
    return paging.connection(selected, key=key, after=after, first=first, descending=descending)


# Collections, versions, aliases -------------------------------------------------------------------


def _collection_tags(collection: model.Collection, info: Info, after: str | None = None,
                     first: int | None = None) -> dict[str, Any]:
    return paging.connection(collection.tags, key=lambda t: (t.number,), after=after, first=first)


def _collection_aliases(collection: model.Collection, info: Info, after: str | None = None,
                        first: int | None = None) -> dict[str, Any]:
    return paging.connection(list(collection.aliases.values()), key=lambda a: (a.number,), after=after, first=first)


def _collection_artifacts(collection: model.Collection, info: Info, after: str | None = None,
                          first: int | None = None, order: str | None = None, filters: Any = None) -> dict[str, Any]:
    """The versions of this collection, newest first unless ``order`` says otherwise."""
    expression = filters_.check(filters)
    selected = [m for m in collection.live_memberships if filters_.matches(_version_fields(m), expression)]
    descending, _ = _order(order, {"versionIndex", "createdAt"}, "-versionIndex")
    return paging.connection(
        selected, key=lambda m: (m.version_index,), after=after, first=first,
        descending=descending, edge=lambda m: {"node": m.artifact, "version": m.version},
    )


def _version_fields(membership: model.Membership) -> dict[str, Any]:
    artifact = membership.artifact
    return {
        "state": artifact.state.value,
        "versionIndex": membership.version_index,
        "createdAt": scalars.format_time(membership.created_at),
        "alias": [a.alias for a in membership.aliases],
        "tag": [t.name for t in artifact.tags],
    }


def _memberships(memberships: Sequence[model.Membership], info: Info, after: str | None = None,
                 first: int | None = None) -> dict[str, Any]:
    return paging.connection(memberships, key=lambda m: (m.number,), after=after, first=first)


def _collection_memberships(collection: model.Collection, info: Info, **page: Any) -> dict[str, Any]:
    return _memberships(collection.live_memberships, info, **page)


def _artifact_memberships(artifact: model.Artifact, info: Info, **page: Any) -> dict[str, Any]:
    return _memberships(artifact.memberships, info, **page)


# Runs and history ---------------------------------------------------------------------------------


def _run_config(run: model.Run, info: Info) -> dict[str, Any]:
    """W&B stores each config value wrapped as ``{"value": v, "desc": null}``."""
    return {key: {"value": value, "desc": None} for key, value in run.config.items()}


def _run_history(run: model.Run, info: Info, samples: int | None = None, minStep: int | None = None,
                 maxStep: int | None = None) -> list[str]:
    rows = [
        row for row in run.rows
        if (minStep is None or row["_step"] >= minStep) and (maxStep is None or row["_step"] < maxStep)
    ]
    return [json.dumps(row) for row in _sample(rows, samples)]


def _run_sampled_history(run: model.Run, info: Info, specs: list[Any]) -> list[list[dict[str, Any]]]:
    answers = []
    for spec in specs:
        if not isinstance(spec, dict) or not isinstance(spec.get("keys"), list):
            raise GraphQLError('a sampledHistory spec is {"keys": [...], "samples": N}')
        keys = [str(k) for k in spec["keys"]]
        rows = [{k: row[k] for k in keys} for row in run.rows if all(k in row for k in keys)]
        answers.append(_sample(rows, spec.get("samples")))
    return answers


def _sample(rows: list[dict[str, Any]], samples: int | None) -> list[dict[str, Any]]:
    """At most ``samples`` rows, evenly spread and always keeping the first and the last."""
    if samples is None or len(rows) <= samples:
        return rows
    if samples <= 1:
        return rows[-1:] if samples == 1 else []
    stride = (len(rows) - 1) / (samples - 1)
    return [rows[round(i * stride)] for i in range(samples)]


# Helpers ------------------------------------------------------------------------------------------


def _order(order: str | None, fields: set[str], default: str) -> tuple[bool, str]:
    """``(descending, field)`` for W&B's ``order`` argument (``-field`` descending, ``+field`` ascending)."""
    text = order or default
    field = text.lstrip("+-")
    if field not in fields:
        raise GraphQLError(f"order {order!r} is not supported here; use one of {sorted(fields)}")
    return text.startswith("-"), field


# Schema -------------------------------------------------------------------------------------------

_COLLECTION_RESOLVERS: dict[str, Resolver] = {
    "defaultArtifactType": lambda c, info: c.type,
    "description": lambda c, info: None,
    "tags": _collection_tags,
    "aliases": _collection_aliases,
    "artifacts": _collection_artifacts,
    "artifactMemberships": _collection_memberships,
}

RESOLVERS: dict[str, dict[str, Resolver]] = {
    "Query": {
        "viewer": _viewer,
        "serverInfo": _server_info,
        "entity": _entity,
        "organization": _organization,
        "project": _project,
        "models": _models,
        "artifact": _artifact_by_id,
        "artifactCollection": _collection_by_id,
    },
    "Mutation": {"pushToRunQueueByName": _push_to_run_queue_by_name},
    "User": {
        "name": lambda u, info: u.username,
        "email": lambda u, info: None,
        "admin": lambda u, info: u is info.context.viewer,
        "flags": lambda u, info: {},
        "entity": lambda u, info: u.entity.name,
        "deletedAt": lambda u, info: None,
        "apiKeys": lambda u, info, **page: paging.connection([], key=lambda k: (), after=None, first=None),
        "teams": _user_teams,
        "organizations": lambda u, info: info.context.organizations() if u is info.context.viewer else [],
    },
    "Entity": {
        "entityType": lambda e, info: e.kind.value,
        "isTeam": lambda e, info: e.kind is not model.EntityKind.USER,
        "user": lambda e, info: info.context.user(e.name) if e.kind is model.EntityKind.USER else None,
        "projects": _entity_projects,
    },
    "Project": {
        "internalId": lambda p, info: str(p.number),
        "entityName": lambda p, info: p.entity.name,
        "isBenchmark": lambda p, info: False,
        "readOnly": lambda p, info: False,
        "user": lambda p, info: None,
        "run": _project_run,
        "runs": _project_runs,
        "runCount": _project_run_count,
        "artifactTypes": _project_artifact_types,
        "artifactType": _project_artifact_type,
        "artifactCollections": _project_collections,
        "artifactCollection": _project_collection,
        "artifactCollectionMembership": _project_membership,
        "runQueues": _project_run_queues,
    },
    "ArtifactType": {
        "description": lambda t, info: None,
        "artifactCollections": _type_collections,
        "artifactCollection": _type_collection,
    },
    "ArtifactSequence": _COLLECTION_RESOLVERS,
    "ArtifactPortfolio": _COLLECTION_RESOLVERS,
    "Artifact": {
        "artifactType": lambda a, info: a.sequence.type,
        "artifactSequence": lambda a, info: a.sequence,
        "description": lambda a, info: None,
        "ttlDurationSeconds": lambda a, info: -1,
        "ttlIsInherited": lambda a, info: True,
        "historyStep": lambda a, info: None,
        "state": lambda a, info: a.state.value,
        "size": lambda a, info: 0,
        "digestAlgorithm": lambda a, info: "MANIFEST_MD5",
        "commitHash": lambda a, info: None,
        "fileCount": lambda a, info: 0,
        "artifactMemberships": _artifact_memberships,
    },
    "ArtifactCollectionMembership": {"artifactCollection": lambda m, info: m.collection},
    "Run": {
        "state": lambda r, info: r.state.value,
        "projectId": lambda r, info: r.project.number,
        "tags": lambda r, info: [],
        "group": lambda r, info: None,
        "jobType": lambda r, info: None,
        "commit": lambda r, info: None,
        "readOnly": lambda r, info: False,
        "sweepName": lambda r, info: None,
        "description": lambda r, info: None,
        "notes": lambda r, info: None,
        "config": _run_config,
        "summaryMetrics": lambda r, info: r.summary,
        "systemMetrics": lambda r, info: {},
        "historyLineCount": lambda r, info: len(r.rows),
        "history": _run_history,
        "sampledHistory": _run_sampled_history,
    },
    "RunQueue": {
        "createdBy": lambda q, info: q.created_by.number,
        "access": lambda q, info: "PROJECT",
    },
}


def _build() -> GraphQLSchema:
    schema = build_schema(resources.files("wbauto.emulator").joinpath("schema.graphql").read_text())
    for type_name, fields in RESOLVERS.items():
        object_type = cast(GraphQLObjectType, schema.type_map[type_name])
        for field_name, resolver in fields.items():
            object_type.fields[field_name].resolve = resolver
    cast(GraphQLInterfaceType, schema.type_map["ArtifactCollection"]).resolve_type = (
        lambda obj, info, abstract: obj.kind.value
    )
    cast(GraphQLUnionType, schema.type_map["Creator"]).resolve_type = (
        lambda obj, info, abstract: "Run" if isinstance(obj, model.Run) else "User"
    )
    scalars.install(schema)
    return schema


SCHEMA = _build()
