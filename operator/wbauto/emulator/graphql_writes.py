"""The mutations of runs and artifacts: what ``wandb.init``/``run.log``/``run.log_artifact`` (through the
SDK's core process) and the public API's ``run.update``, ``artifact.save``, ``link``, ``unlink`` and
collection ``save`` send. Inputs arrive as W&B names them (camelCase); each resolver maps one input onto
one state write and answers the payload the SDK reads back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphql import GraphQLError

from wbauto.emulator import model, paging
from wbauto.emulator.errors import NotFound
from wbauto.emulator.resolving import Info, Resolver, file_node


def _upsert_bucket(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    run, inserted = info.context.upsert_run(
        run_id=input.get("id"), name=input.get("name"), entity=input.get("entityName"),
        project=input.get("modelName"), display_name=input.get("displayName"), description=input.get("description"),
        notes=input.get("notes"), tags=input.get("tags"), config=_mapping(input.get("config"), "config"),
        group=input.get("groupName"), job_type=input.get("jobType"), host=input.get("host"),
        program=input.get("jobProgram"), commit=input.get("commit"), state=input.get("state"),
        summary=_mapping(input.get("summaryMetrics"), "summaryMetrics"),
    )
    return {"bucket": run, "inserted": inserted, "clientMutationId": input.get("clientMutationId")}


def _update_run_state(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    info.context.update_run_state(input["id"], input["state"])
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


def _create_run_files(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    state = info.context
    stored = state.create_run_files(input["entityName"], input["projectName"], input["runName"], input["files"])
    project = state.project(input["entityName"], input["projectName"])
    run = project.runs[input["runName"]] if project else None
    return {"runID": run.id if run else "", "uploadHeaders": [], "files": [file_node(state, f) for f in stored],
            "clientMutationId": input.get("clientMutationId")}


def _create_artifact(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    names = input.get("artifactCollectionNames") or [input.get("artifactCollectionName")]
    collection = names[0]
    if not collection:
        raise GraphQLError("createArtifact needs artifactCollectionNames")
    artifact = info.context.create_artifact(
        input["entityName"], input["projectName"], collection, type=input["artifactTypeName"],
        digest=input["digest"], run=input.get("runName"), metadata=_mapping(input.get("metadata"), "metadata"),
        aliases=[a["alias"] for a in input.get("aliases") or [] if a["artifactCollectionName"] == collection],
        tags=[t["tagName"] for t in input.get("tags") or []], description=input.get("description"),
        history_step=input.get("historyStep"), client_id=input.get("clientID"),
        ttl_duration_seconds=input.get("ttlDurationSeconds"),
    )
    return {"artifact": artifact, "clientMutationId": input.get("clientMutationId")}


def _create_artifact_manifest(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    manifest = info.context.create_manifest(input["artifactID"], name=input["name"], digest=input["digest"],
                                            type=input.get("type") or "FULL")
    return {"artifactManifest": manifest, "clientMutationId": input.get("clientMutationId")}


def _update_artifact_manifest(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    manifest = info.context.update_manifest(input["artifactManifestID"], digest=input.get("digest"))
    return {"artifactManifest": manifest, "clientMutationId": input.get("clientMutationId")}


def _create_artifact_files(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    state = info.context
    nodes = []
    for spec in input["artifactFiles"]:
        if spec.get("uploadPartsInput"):
            raise GraphQLError("multipart uploads are not supported by the emulator; upload each file whole")
        stored = state.create_artifact_file(spec["artifactID"], spec["name"], spec["md5"])
        artifact = state.by_id(spec["artifactID"])
        nodes.append(file_node(state, stored, artifact if isinstance(artifact, model.Artifact) else None))
    return {"files": paging.connection(nodes, key=lambda n: (n["id"],), after=None, first=None),
            "clientMutationId": input.get("clientMutationId")}


def _commit_artifact(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    return {"artifact": info.context.commit(input["artifactID"]), "clientMutationId": input.get("clientMutationId")}


def _use_artifact(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    artifact = info.context.use_artifact(input["entityName"], input["projectName"], input["runName"],
                                         input["artifactID"])
    return {"artifact": artifact, "clientMutationId": input.get("clientMutationId")}


def _update_artifact(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    artifact = info.context.update_artifact(
        input["artifactID"], description=input.get("description"),
        metadata=_mapping(input.get("metadata"), "metadata"), ttl_duration_seconds=input.get("ttlDurationSeconds"),
        tags_to_add=[t["tagName"] for t in input.get("tagsToAdd") or []],
        tags_to_delete=[t["tagName"] for t in input.get("tagsToDelete") or []],
    )
    return {"artifact": artifact, "clientMutationId": input.get("clientMutationId")}


def _delete_artifact(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    state = info.context
    found = state.by_id(input["artifactID"])
    if not isinstance(found, model.Artifact):
        raise NotFound(f"artifact {input['artifactID']} does not exist")
    if not input.get("deleteAliases") and any(a.alias != "latest" for a in found.aliases):
        raise GraphQLError("the artifact has aliases: remove them first, or set deleteAliases")
    state.delete_artifact(found.id)
    return {"artifact": found, "clientMutationId": input.get("clientMutationId")}


def _alias_targets(aliases: Sequence[Mapping[str, str]]) -> list[tuple[str, str, str, str]]:
    return [(a["entityName"], a["projectName"], a["artifactCollectionName"], a["alias"]) for a in aliases]


def _add_aliases(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    info.context.add_aliases(input["artifactID"], _alias_targets(input["aliases"]))
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


def _delete_aliases(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    info.context.delete_aliases(input["artifactID"], _alias_targets(input["aliases"]))
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


def _link_artifact(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    state = info.context
    artifact = (state.by_id(input["artifactID"]) if input.get("artifactID")
                else state.artifact_by_client_id(input.get("clientID") or ""))
    if not isinstance(artifact, model.Artifact):
        raise NotFound(f"artifact {input.get('artifactID') or input.get('clientID')} does not exist")
    if input.get("artifactPortfolioID"):
        portfolio = state.by_id(input["artifactPortfolioID"])
        if not isinstance(portfolio, model.Collection):
            raise NotFound(f"collection {input['artifactPortfolioID']} does not exist")
        entity, project, name = portfolio.project.entity.name, portfolio.project.name, portfolio.name
    elif input.get("entityName") and input.get("projectName") and input.get("artifactPortfolioName"):
        entity, project, name = input["entityName"], input["projectName"], input["artifactPortfolioName"]
    else:
        raise GraphQLError("linkArtifact needs artifactPortfolioID, or entityName, projectName and "
                           "artifactPortfolioName")
    membership = state.link(artifact, entity=entity, project=project, collection=name,
                            aliases=[a["alias"] for a in input.get("aliases") or []
                                     if a["artifactCollectionName"] == name])
    return {"versionIndex": membership.version_index, "artifactMembership": membership,
            "clientMutationId": input.get("clientMutationId")}


def _unlink_artifact(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    artifact = info.context.unlink(input["artifactID"], input["artifactPortfolioID"])
    return {"artifactID": artifact.id, "success": True, "clientMutationId": input.get("clientMutationId")}


def _update_sequence(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    collection = info.context.update_collection(input["artifactSequenceID"], name=input.get("name"),
                                                description=input.get("description"))
    return {"artifactCollection": collection, "clientMutationId": input.get("clientMutationId")}


def _update_portfolio(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    collection = info.context.update_collection(input["artifactPortfolioID"], name=input.get("name"),
                                                description=input.get("description"))
    return {"artifactCollection": collection, "clientMutationId": input.get("clientMutationId")}


def _add_collection_tags(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    state = info.context
    entity, project, name = input["entityName"], input["projectName"], input["artifactCollectionName"]
    names = [t["tagName"] for t in input["tags"]]
    for tag in names:
        state.add_collection_tag(entity, project, name, tag)
    collection = state.collection_by_name(entity, project, name)
    return {"tags": [t for t in collection.tags if t.name in names],
            "clientMutationID": input.get("clientMutationID")}


def _delete_collection_tags(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    state = info.context
    entity, project, name = input["entityName"], input["projectName"], input["artifactCollectionName"]
    collection = state.collection_by_name(entity, project, name)
    for tag in [t["tagName"] for t in input["tags"]]:
        if any(t.name == tag for t in collection.tags):
            state.remove_collection_tag(entity, project, name, tag)
    return {"success": True, "clientMutationID": input.get("clientMutationID")}


def _upsert_model(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    state = info.context
    if input.get("id"):
        found = state.by_id(input["id"])
        if not isinstance(found, model.Project):
            raise NotFound(f"project {input['id']} does not exist")
        entity, name = found.entity.name, found.name
    elif input.get("name"):
        entity, name = input.get("entityName") or state.viewer.entity.name, input["name"]
    else:
        raise GraphQLError("upsertModel needs an id or a name")
    types = input.get("artifactTypes")
    project, inserted = state.upsert_project(
        entity, name, description=input.get("description"), access=input.get("access"),
        allowed_types=None if input.get("allowAllArtifactTypesInRegistry") or types is None
        else [t["name"] for t in types])
    return {"inserted": inserted, "project": project, "clientMutationId": input.get("clientMutationId")}


def _mapping(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise GraphQLError(f"{name} is JSON text of an object")
    return value


MUTATIONS: dict[str, Resolver] = {
    "upsertBucket": _upsert_bucket,
    "updateRunState": _update_run_state,
    "createRunFiles": _create_run_files,
    "createArtifact": _create_artifact,
    "createArtifactManifest": _create_artifact_manifest,
    "updateArtifactManifest": _update_artifact_manifest,
    "createArtifactFiles": _create_artifact_files,
    "commitArtifact": _commit_artifact,
    "useArtifact": _use_artifact,
    "updateArtifact": _update_artifact,
    "deleteArtifact": _delete_artifact,
    "addAliases": _add_aliases,
    "deleteAliases": _delete_aliases,
    "linkArtifact": _link_artifact,
    "unlinkArtifact": _unlink_artifact,
    "updateArtifactSequence": _update_sequence,
    "updateArtifactPortfolio": _update_portfolio,
    "upsertModel": _upsert_model,
    "createArtifactCollectionTagAssignments": _add_collection_tags,
    "deleteArtifactCollectionTagAssignments": _delete_collection_tags,
}
"""Mutation field -> resolver."""
