"""W&B's GraphQL API over the emulator state: ``schema.graphql`` and ``automations.graphql`` plus
resolvers (the reads here, the writes in :mod:`~wbauto.emulator.graphql_writes` and
:mod:`~wbauto.emulator.graphql_automations`), run by graphql-core.

Fields without a resolver here read the attribute of the same name in snake_case (``versionIndex`` ->
``version_index``) or, on dicts, the key itself. Documents are parsed and validated once per query
text (the poller sends the same text every cycle). A whole request runs under the state lock, so
every response is one consistent snapshot. Unknown projects, runs and versions resolve to null; a
write W&B refuses with a status (a taken name: 409, a missing record: 404) answers that status.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationDefinitionNode,
    build_schema,
    execute,
    parse,
    validate,
)

from wbauto.emulator import filters as filters_
from wbauto.emulator import graphql_automations, graphql_writes, model, paging, scalars
from wbauto.emulator.errors import Conflict, NotFound
from wbauto.emulator.resolving import Info, Resolver, file_node
from wbauto.emulator.resolving import order as _order
from wbauto.emulator.state import State

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_SCHEMA_FILES = ("schema.graphql", "automations.graphql")
FEATURES = (
    "ARTIFACT_TAGS",
    "ARTIFACT_REGISTRY_SEARCH",
    "ARTIFACT_MEMBERSHIP_IN_LINK_ARTIFACT_RESPONSE",
    "PROJECT_ARTIFACT_COLLECTION_MEMBERSHIP",
    "ARTIFACT_COLLECTIONS_FILTERING_SORTING",
    "AUTOMATION_EVENT_RUN_METRIC",
    "AUTOMATION_EVENT_RUN_METRIC_CHANGE",
    "AUTOMATION_EVENT_RUN_METRIC_ZSCORE",
    "AUTOMATION_EVENT_RUN_STATE",
    "AUTOMATION_EVENT_ADD_ARTIFACT_TAG",
    "AUTOMATION_EVENT_REMOVE_ARTIFACT_TAG",
    "AUTOMATION_EVENT_ADD_COLLECTION_TAG",
    "AUTOMATION_EVENT_REMOVE_COLLECTION_TAG",
    "AUTOMATION_EVENT_UNLINK_ARTIFACT",
    "AUTOMATION_ACTION_NO_OP",
    "AUTOMATION_SCOPE_ENTITY",
    "QUERY_AUTOMATIONS_ON_ENTITY",
    "AUTOMATIONS_ON_ORGANIZATION",
    "INCLUDE_ARTIFACT_TYPES_IN_REGISTRY_CREATION",
)
"""The server features the emulator reports (``serverInfo.features``): those of a recent W&B Server whose
API it implements. The SDK picks its queries by them."""


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
) -> tuple[int, dict[str, Any]]:
    """Execute one GraphQL request: the HTTP status and ``{"data": ..., "errors": [...]}`` as W&B sends
    them (200, unless a write was refused with a status of its own)."""
    prepared = prepare(query)
    state.count_request(prepared.operation_name(operation_name))
    state.record(prepared.operation_name(operation_name), query, variables)
    if prepared.document is None or prepared.errors:
        return 200, {"data": None, "errors": [e.formatted for e in prepared.errors]}
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
    causes = [e.original_error for e in result.errors or []]
    status = 409 if any(isinstance(c, Conflict) for c in causes) else (
        404 if any(isinstance(c, NotFound) for c in causes) else 200)
    return status, dict(result.formatted)


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
    return {"features": [{"name": name, "isEnabled": True} for name in FEATURES]}


def _client_id_mapping(_: None, info: Info, clientID: str) -> dict[str, Any] | None:
    found = info.context.artifact_by_client_id(clientID)
    return {"serverID": found.id} if found else None


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


def _entity_members(entity: model.Entity, info: Info) -> list[dict[str, Any]]:
    """The viewer is a member (an admin) of every team and organization; a user entity has none."""
    viewer = info.context.viewer
    if entity.kind is model.EntityKind.USER:
        return []
    return [{"id": viewer.id, "admin": True, "pending": False, "email": None, "username": viewer.username,
             "name": viewer.username, "photoUrl": None, "accountType": "USER", "apiKey": None, "role": "admin"}]


def _user_projects(user: model.User, info: Info, after: str | None = None,
                   first: int | None = None) -> dict[str, Any]:
    return paging.connection(info.context.projects_of(user), key=lambda p: (p.number,), after=after, first=first)


def _entity_projects(entity: model.Entity, info: Info, after: str | None = None, first: int | None = None,
                     order: str | None = None, filters: Any = None) -> dict[str, Any]:
    descending, field = _order(order, {"createdAt", "created_at", "name", "updatedAt"}, "-createdAt")
    key = (lambda p: (p.name,)) if field == "name" else (lambda p: (p.number,))
    expression = filters_.check(filters)
    selected = [p for p in entity.projects.values() if filters_.matches(_project_fields(p), expression)]
    return paging.connection(selected, key=key, after=after, first=first, descending=descending)


def _project_fields(project: model.Project) -> dict[str, Any]:
    """What project (and registry) filters can name."""
    return {"id": project.number, "name": project.name, "description": project.description,
            "createdAt": scalars.format_time(project.created_at),
            "updatedAt": scalars.format_time(project.updated_at)}


def _registry_collections(entity: model.Entity, project_filters: Any, filters: Any,
                          kinds: set[model.CollectionKind]) -> list[model.Collection]:
    """The collections of ``kinds`` in the entity's registries, filtered on registry and collection."""
    registries = filters_.check(project_filters)
    expression = filters_.check(filters)
    return [c for p in entity.projects.values()
            if p.is_registry and filters_.matches(_project_fields(p), registries)
            for c in p.collections.values() if c.kind in kinds and filters_.matches(_collection_fields(c), expression)]


def _entity_memberships(entity: model.Entity, info: Info, projectFilters: Any = None,
                        collectionFilters: Any = None, filters: Any = None, after: str | None = None,
                        first: int | None = None, order: str | None = None) -> dict[str, Any]:
    """The versions linked into the entity's registries, newest first unless ``order`` says otherwise."""
    collections = _registry_collections(entity, projectFilters, collectionFilters, {model.CollectionKind.PORTFOLIO})
    expression = filters_.check(filters)
    selected = [m for c in collections for m in c.live_memberships if filters_.matches(_version_fields(m), expression)]
    descending, _ = _order(order, {"createdAt", "updatedAt"}, "-createdAt")
    return paging.connection(selected, key=lambda m: (m.number,), after=after, first=first, descending=descending)


def _entity_collections(entity: model.Entity, info: Info, projectFilters: Any = None, filters: Any = None,
                        collectionTypes: list[str] | None = None, after: str | None = None,
                        first: int | None = None, order: str | None = None) -> dict[str, Any]:
    kinds = {model.CollectionKind.SEQUENCE if t == "SEQUENCE" else model.CollectionKind.PORTFOLIO
             for t in collectionTypes or ["PORTFOLIO"]}
    descending, field = _order(order, {"createdAt", "name", "updatedAt"}, "-createdAt")
    key = (lambda c: (c.name, c.number)) if field == "name" else (lambda c: (c.number,))
    return paging.connection(_registry_collections(entity, projectFilters, filters, kinds), key=key, after=after,
                             first=first, descending=descending)


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
                            first: int | None = None, includeAll: bool | None = None) -> dict[str, Any]:
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


def _project_artifact(project: model.Project, info: Info, name: str) -> model.Artifact | None:
    membership = _project_membership(project, info, name)
    return membership.artifact if membership else None


def _sequence_latest(collection: model.Collection, info: Info) -> model.Artifact | None:
    live = collection.live_memberships
    return live[-1].artifact if live else None


def _project_run_queues(project: model.Project, info: Info) -> list[model.RunQueue]:
    return list(project.run_queues.values())


def _type_collections(artifact_type: model.ArtifactType, info: Info, **page: Any) -> dict[str, Any]:
    collections = [c for c in artifact_type.project.collections.values() if c.type is artifact_type]
    return _collections(collections, **page)


def _type_collection(artifact_type: model.ArtifactType, info: Info, name: str) -> model.Collection | None:
    found = artifact_type.project.collections.get(name)
    return found if found is not None and found.type is artifact_type else None


def _collection_fields(collection: model.Collection) -> dict[str, Any]:
    """What collection filters can name."""
    return {"name": collection.name, "description": collection.description,
            "createdAt": scalars.format_time(collection.created_at),
            "updatedAt": scalars.format_time(collection.updated_at), "tag": [t.name for t in collection.tags]}


def _collections(collections: list[model.Collection], *, after: str | None = None, first: int | None = None,
                 filters: Any = None, order: str | None = None) -> dict[str, Any]:
    expression = filters_.check(filters)
    selected = [c for c in collections if filters_.matches(_collection_fields(c), expression)]
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
        "updatedAt": scalars.format_time(artifact.updated_at),
        "alias": [a.alias for a in membership.aliases],
        "tag": [t.name for t in artifact.tags],
        "metadata": artifact.metadata,
    }


def _memberships(memberships: Sequence[model.Membership], info: Info, after: str | None = None,
                 first: int | None = None) -> dict[str, Any]:
    return paging.connection(memberships, key=lambda m: (m.number,), after=after, first=first)


def _collection_memberships(collection: model.Collection, info: Info, **page: Any) -> dict[str, Any]:
    return _memberships(collection.live_memberships, info, **page)


def _artifact_memberships(artifact: model.Artifact, info: Info, **page: Any) -> dict[str, Any]:
    return _memberships(artifact.memberships, info, **page)


def _artifact_page(artifacts: list[model.Artifact], after: str | None = None,
                   first: int | None = None) -> dict[str, Any]:
    return paging.connection(artifacts, key=lambda a: (a.number,), after=after, first=first)


def _artifact_used_by(artifact: model.Artifact, info: Info, after: str | None = None,
                      first: int | None = None) -> dict[str, Any]:
    return paging.connection(artifact.used_by, key=lambda r: (r.number,), after=after, first=first)


def _artifact_files(artifact: model.Artifact, info: Info, names: list[str] | None = None, after: str | None = None,
                    first: int | None = None) -> dict[str, Any]:
    """The version's stored files named by ``names`` (all of them when None), in upload-slot order."""
    selected = [f for n, f in artifact.files.items() if names is None or n in names]
    nodes = [file_node(info.context, f, artifact) for f in sorted(selected, key=lambda f: f.number)]
    return paging.connection(nodes, key=lambda n: (n["id"],), after=after, first=first)


def _artifact_files_by_entries(artifact: model.Artifact, info: Info, entries: list[dict[str, Any]] | None = None,
                               after: str | None = None, first: int | None = None, **_: Any) -> dict[str, Any]:
    names = [e["name"] for e in entries] if entries is not None else None
    return _artifact_files(artifact, info, names, after, first)


def _manifest_file(manifest: model.Manifest, info: Info) -> dict[str, Any]:
    return file_node(info.context, manifest.file, manifest.artifact)


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


def _run_parquet_history(run: model.Run, info: Info, liveKeys: list[str]) -> dict[str, Any]:
    """Nothing is exported to Parquet files in the emulator: every row is still live."""
    return {"parquetUrls": [], "liveData": list(run.rows)}


def _run_tail(rows: list[dict[str, Any]]) -> str:
    return json.dumps([json.dumps(row) for row in rows[-10:]])


def _run_wandb_config(run: model.Run, info: Info, keys: list[str] | None = None) -> dict[str, Any]:
    internal = run.config.get("_wandb")
    values = internal if isinstance(internal, dict) else {}
    return {k: v for k, v in values.items() if keys is None or k in keys}


def _run_sampled_history(run: model.Run, info: Info, specs: list[Any]) -> list[list[dict[str, Any]]]:
    """Per spec (``{"keys": [...], "samples": N, "minStep": a, "maxStep": b}``), the rows with
    a <= _step <= b (both bounds inclusive here, unlike ``history``) that have every key, restricted to
    the keys and sampled down to N."""
    answers = []
    for spec in specs:
        if not isinstance(spec, dict) or not isinstance(spec.get("keys"), list):
            raise GraphQLError('a sampledHistory spec is {"keys": [...], "samples": N}')
        keys = [str(k) for k in spec["keys"]]
        low, high = spec.get("minStep"), spec.get("maxStep")
        rows = [{k: row[k] for k in keys} for row in run.rows
                if all(k in row for k in keys) and (low is None or row["_step"] >= low)
                and (high is None or row["_step"] <= high)]
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


# Schema -------------------------------------------------------------------------------------------

_COLLECTION_RESOLVERS: dict[str, Resolver] = {
    "defaultArtifactType": lambda c, info: c.type,
    "artifactMembership": lambda c, info, aliasName: c.membership(aliasName),
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
        "model": _project,
        "artifact": _artifact_by_id,
        "artifactCollection": _collection_by_id,
        "clientIDMapping": _client_id_mapping,
    },
    "Mutation": {"pushToRunQueueByName": _push_to_run_queue_by_name, **graphql_writes.MUTATIONS},
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
        "projects": _user_projects,
    },
    "Organization": {
        "featureFlags": lambda o, info, **_: [],
        "coreWeaveOrganizationId": lambda o, info: None,
    },
    "Entity": {
        "entityType": lambda e, info: e.kind.value,
        "isTeam": lambda e, info: e.kind is not model.EntityKind.USER,
        "user": lambda e, info: info.context.user(e.name) if e.kind is model.EntityKind.USER else None,
        "projects": _entity_projects,
        "project": lambda e, info, name=None: e.projects.get(name) if name else None,
        "xxhashDigestsEnabled": lambda e, info: False,
        "available": lambda e, info: False,
        "photoUrl": lambda e, info: None,
        "readOnly": lambda e, info: False,
        "readOnlyAdmin": lambda e, info: False,
        "privateOnly": lambda e, info: False,
        "storageBytes": lambda e, info: sum(len(f.data or b"") for f in info.context.files_of(e)),
        "codeSavingEnabled": lambda e, info: False,
        "defaultAccess": lambda e, info: "PRIVATE",
        "isPaid": lambda e, info: True,
        "members": _entity_members,
        "artifactMemberships": _entity_memberships,
        "artifactCollections": _entity_collections,
    },
    "Project": {
        "entityName": lambda p, info: p.entity.name,
        "allowAllArtifactTypesInRegistry": lambda p, info: p.allowed_types is None,
        "isBenchmark": lambda p, info: False,
        "readOnly": lambda p, info: False,
        "user": lambda p, info: None,
        "run": _project_run,
        "bucket": lambda p, info, name, missingOk=None: p.runs.get(name),
        "runs": _project_runs,
        "runCount": _project_run_count,
        "artifactTypes": _project_artifact_types,
        "artifactType": _project_artifact_type,
        "artifactCollections": _project_collections,
        "artifactCollection": _project_collection,
        "artifactCollectionMembership": _project_membership,
        "artifact": _project_artifact,
        "runQueues": _project_run_queues,
    },
    "ArtifactType": {
        "description": lambda t, info: None,
        "artifactCollections": _type_collections,
        "artifactCollection": _type_collection,
    },
    "ArtifactSequence": {**_COLLECTION_RESOLVERS, "latestArtifact": _sequence_latest,
                         "digestAlgorithm": lambda c, info: "MANIFEST_MD5"},
    "ArtifactPortfolio": _COLLECTION_RESOLVERS,
    "Artifact": {
        "artifactType": lambda a, info: a.sequence.type,
        "artifactSequence": lambda a, info: a.sequence,
        "ttlIsInherited": lambda a, info: a.ttl_duration_seconds == -1,
        "state": lambda a, info: a.state.value,
        "digestAlgorithm": lambda a, info: "MANIFEST_MD5",
        "commitHash": lambda a, info: a.digest[:12] if a.state is model.ArtifactState.COMMITTED else None,
        "artifactMemberships": _artifact_memberships,
        "currentManifest": lambda a, info: a.manifest,
        "usedBy": _artifact_used_by,
        "files": _artifact_files,
        "filesByManifestEntries": _artifact_files_by_entries,
    },
    "ArtifactManifest": {"file": _manifest_file},
    "ArtifactCollectionMembership": {
        "artifactCollection": lambda m, info: m.collection,
        "files": lambda m, info, **page: _artifact_files(m.artifact, info, **page),
    },
    "Run": {
        "state": lambda r, info: r.state.value,
        "projectId": lambda r, info: r.project.number,
        "readOnly": lambda r, info: False,
        "sweepName": lambda r, info: None,
        "config": _run_config,
        "summaryMetrics": lambda r, info: r.summary,
        "systemMetrics": lambda r, info: r.events[-1] if r.events else {},
        "historyLineCount": lambda r, info: len(r.rows),
        "logLineCount": lambda r, info: len(r.logs),
        "eventsLineCount": lambda r, info: len(r.events),
        "historyTail": lambda r, info: _run_tail(r.rows),
        "eventsTail": lambda r, info: _run_tail(r.events),
        "wandbConfig": _run_wandb_config,
        "history": _run_history,
        "sampledHistory": _run_sampled_history,
        "parquetHistory": _run_parquet_history,
        "outputArtifacts": lambda r, info, **page: _artifact_page(info.context.artifacts_of(r), **page),
        "inputArtifacts": lambda r, info, **page: _artifact_page(info.context.artifacts_used_by(r), **page),
    },
    "RunQueue": {
        "createdBy": lambda q, info: q.created_by.number,
        "access": lambda q, info: "PROJECT",
    },
}


TYPE_RESOLVERS: dict[str, Resolver] = {
    "ArtifactCollection": lambda obj, info, abstract: obj.kind.value,
    "Creator": lambda obj, info, abstract: "Run" if isinstance(obj, model.Run) else "User",
    **graphql_automations.TYPE_RESOLVERS,
}


def _build() -> GraphQLSchema:
    package = resources.files("wbauto.emulator")
    schema = build_schema("\n".join(package.joinpath(name).read_text() for name in _SCHEMA_FILES))
    for resolvers in (RESOLVERS, graphql_automations.RESOLVERS):
        for type_name, fields in resolvers.items():
            object_type = cast(GraphQLObjectType, schema.type_map[type_name])
            for field_name, resolver in fields.items():
                object_type.fields[field_name].resolve = resolver
    for type_name, resolve_type in TYPE_RESOLVERS.items():
        cast(GraphQLInterfaceType | GraphQLUnionType, schema.type_map[type_name]).resolve_type = resolve_type
    scalars.install(schema)
    return schema


SCHEMA = _build()
