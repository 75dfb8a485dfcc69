"""The emulator's in-memory W&B: entities, projects, artifacts, runs, queues, and how they change.

The rules follow W&B: a registry is a project ``wandb-registry-<name>`` owned by an organization's
entity; an alias is unique within a collection, so adding it to another version moves it; a newly
committed (or linked) version takes ``latest``; a version linked into a portfolio gets its own index
there. Run states are lowercase and every log or state change bumps ``heartbeatAt``.

Every public method takes :attr:`State.lock`; the GraphQL layer holds it for a whole request, so each
response is one consistent snapshot. Times come from the injectable ``clock``. The state also keeps
the request counters, the failures to inject, and a journal of the artifact, alias, tag and run
changes (who changed what, when; history rows are not journaled).

Writes come two ways: the control API's methods (``log_artifact``, ``add_alias``, ...), which return the
small records of :mod:`wbauto.emulator.results`, and the writes W&B's own API makes (``upsert_run``,
``create_artifact``, ``add_aliases``, ``stream``, ...), which return the records the GraphQL layer
resolves. Both go through the same rules and the same journal. Uploaded files live in the state's
storage (:meth:`State.reserve_file`, :meth:`State.upload`); their URLs start with :attr:`State.public_url`.
The automations W&B keeps (triggers and integrations) are in :attr:`State.automations`.
"""

from __future__ import annotations

import base64
import collections
import enum
import hashlib
import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wbauto.emulator import model, results
from wbauto.emulator.automations import Automations
from wbauto.emulator.errors import Conflict, EmulatorError, InvalidRequest, NotFound
from wbauto.emulator.model import ArtifactState, CollectionKind, EntityKind, RunState
from wbauto.emulator.results import (
    AliasChange,
    ArtifactVersion,
    Change,
    OrganizationInfo,
    ProjectInfo,
    QueuedItem,
    QueueInfo,
    RecordedRequest,
    RunInfo,
    TagChange,
)

_VERSION = re.compile(r"v\d+")
_NAME = re.compile(r"[\w.-]+")
__all__ = ["Conflict", "EmulatorError", "Failure", "FailureKind", "InvalidRequest", "NotFound", "State"]

STORAGE_PREFIX = "/storage/"
MANIFEST_FILE = "wandb_manifest.json"
EMPTY_MANIFEST = {"version": 1, "storagePolicy": "wandb-storage-policy-v1",
                  "storagePolicyConfig": {"storageLayout": "V2"}, "contents": {}}
HISTORY_FILE, EVENTS_FILE, SUMMARY_FILE, OUTPUT_FILE = (
    "wandb-history.jsonl", "wandb-events.jsonl", "wandb-summary.json", "output.log")


class FailureKind(enum.StrEnum):
    """How an injected failure answers a GraphQL request."""

    HTTP_500 = "http500"
    HTTP_429 = "http429"
    GRAPHQL = "graphql"


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    retry_after: int


def utc_now() -> datetime:
    return datetime.now(UTC)


class State:
    """A thread-safe in-memory W&B. ``viewer`` is the user the API key belongs to."""

    def __init__(self, *, viewer: str = "wbauto", clock: Callable[[], datetime] = utc_now) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self._numbers: collections.Counter[str] = collections.Counter()
        self._entities: dict[str, model.Entity] = {}
        self._users: dict[str, model.User] = {}
        self._organizations: dict[str, model.Organization] = {}
        self._tags: dict[str, model.Tag] = {}
        self._artifacts: dict[int, model.Artifact] = {}
        self._collections: dict[int, model.Collection] = {}
        self._runs: dict[int, model.Run] = {}
        self._manifests: dict[int, model.Manifest] = {}
        self._files: dict[str, model.StoredFile] = {}
        self._requests: collections.Counter[str] = collections.Counter()
        self._failures: collections.deque[Failure] = collections.deque()
        self._changes: list[Change] = []
        self._recording = False
        self._recorded: list[RecordedRequest] = []
        self.viewer = self._user(viewer)
        self.public_url = "http://127.0.0.1"
        """Where clients reach the emulator: the start of upload and download URLs (set by the server)."""
        self.automations = Automations(self)

    def now(self) -> datetime:
        return self._clock()

    def next_number(self, kind: str) -> int:
        """The next database row number of ``kind`` (ids are made from it)."""
        with self.lock:
            return self._next(kind)

    # Lookups (no side effects; the GraphQL resolvers use these) -----------------------------------

    def entity(self, name: str) -> model.Entity | None:
        with self.lock:
            return self._entities.get(name)

    def organization(self, name: str) -> model.Organization | None:
        with self.lock:
            return self._organizations.get(name)

    def project(self, entity: str, name: str) -> model.Project | None:
        with self.lock:
            owner = self._entities.get(entity)
            return owner.projects.get(name) if owner else None

    def user(self, username: str) -> model.User | None:
        with self.lock:
            return self._users.get(username)

    def organizations(self) -> list[model.Organization]:
        with self.lock:
            return list(self._organizations.values())

    def teams(self) -> list[model.Entity]:
        with self.lock:
            return [e for e in self._entities.values() if e.kind is EntityKind.TEAM]

    def artifact(self, number: int) -> model.Artifact | None:
        with self.lock:
            found = self._artifacts.get(number)
            return found if found and found.state is not ArtifactState.DELETED else None

    def collection(self, number: int) -> model.Collection | None:
        with self.lock:
            return self._collections.get(number)

    def run_by_number(self, number: int) -> model.Run | None:
        with self.lock:
            return self._runs.get(number)

    def manifest(self, number: int) -> model.Manifest | None:
        with self.lock:
            return self._manifests.get(number)

    def artifact_by_client_id(self, client_id: str) -> model.Artifact | None:
        with self.lock:
            return next((a for a in self._artifacts.values() if a.client_id == client_id), None)

    def artifacts_of(self, run: model.Run) -> list[model.Artifact]:
        """The versions the run logged, oldest first."""
        with self.lock:
            return [a for a in self._artifacts.values() if a.created_by is run and a.state is not ArtifactState.DELETED]

    def artifacts_used_by(self, run: model.Run) -> list[model.Artifact]:
        with self.lock:
            return [a for a in self._artifacts.values() if run in a.used_by and a.state is not ArtifactState.DELETED]

    def projects_of(self, user: model.User) -> list[model.Project]:
        """The projects a user can see: the viewer sees every entity's, other users their own."""
        with self.lock:
            if user is not self.viewer:
                return list(user.entity.projects.values())
            return [p for e in self._entities.values() for p in e.projects.values()
                    if e.kind is not EntityKind.USER or e is user.entity]

    def files_of(self, entity: model.Entity) -> list[model.StoredFile]:
        """The stored files of the entity's artifacts and runs."""
        with self.lock:
            artifacts = [f for a in self._artifacts.values() if a.sequence.project.entity is entity
                         for f in [*a.files.values(), *([a.manifest.file] if a.manifest else [])]]
            runs = [f for r in self._runs.values() if r.project.entity is entity for f in r.files.values()]
            return artifacts + runs

    def by_id(self, value: str) -> object | None:
        """The record behind a GraphQL ID (project, collection, entity, run, queue, user, ...), if any."""
        parsed = model.parse_gid(value)
        if parsed is None:
            return None
        kind, number = parsed
        with self.lock:
            if kind == "Project":
                return next((p for e in self._entities.values() for p in e.projects.values() if p.number == number),
                            None)
            if kind == "ArtifactCollection":
                return self._collections.get(number)
            if kind == "Entity":
                return next((e for e in self._entities.values() if e.number == number), None)
            if kind == "Artifact":
                return self.artifact(number)
            if kind == "Run":
                return self._runs.get(number)
            if kind == "User":
                return next((u for u in self._users.values() if u.number == number), None)
            if kind == "RunQueue":
                return next((q for e in self._entities.values() for p in e.projects.values()
                             for q in p.run_queues.values() if q.number == number), None)
            return None

    # Entities, organizations, projects -------------------------------------------------------------

    def create_organization(self, name: str, *, entity: str = "", teams: Sequence[str] = ()) -> OrganizationInfo:
        """An organization whose org entity (``entity``, default ``name``) owns its registries."""
        with self.lock:
            entity_name = entity or name
            if name in self._organizations:
                raise InvalidRequest(f"organization {name!r} already exists")
            if entity_name in self._entities:
                raise InvalidRequest(f"entity {entity_name!r} already exists")
            org_entity = self._new_entity(entity_name, EntityKind.ORGANIZATION)
            org = model.Organization(self._next("Organization"), name, org_entity)
            org_entity.organization = org
            for team in teams:
                self._team(team).organization = org
            self._organizations[name] = org
            return OrganizationInfo(org.id, org.name, org_entity.name)

    def create_project(self, entity: str, project: str) -> ProjectInfo:
        with self.lock:
            found = self._project(entity, project, create=True)
            return ProjectInfo(found.id, found.entity.name, found.name, found.created_at)

    def create_registry(self, organization: str, name: str) -> ProjectInfo:
        """The registry ``name``: project ``wandb-registry-<name>`` of the organization's entity."""
        with self.lock:
            org = self._organizations.get(organization)
            if org is None:
                raise NotFound(f"organization {organization!r} does not exist")
            registry = model.REGISTRY_PREFIX + name
            if registry in org.org_entity.projects:
                raise InvalidRequest(f"registry {name!r} already exists")
            found = self._new_project(org.org_entity, registry)
            return ProjectInfo(found.id, org.org_entity.name, found.name, found.created_at)

    def upsert_project(
        self,
        entity: str,
        name: str,
        *,
        description: str | None = None,
        access: str | None = None,
        allowed_types: Sequence[str] | None = None,
    ) -> tuple[model.Project, bool]:
        """``upsertModel``: create the project (True) or update it. A registry (``wandb-registry-<name>``)
        belongs to an organization's entity; ``allowed_types`` restricts the types it accepts (None: all)."""
        if access is not None and access not in ("PRIVATE", "RESTRICTED"):
            raise InvalidRequest(f"access is PRIVATE or RESTRICTED, not {access!r}")
        with self.lock:
            owner = self._entities.get(entity)
            if owner is None:
                raise NotFound(f"entity {entity!r} does not exist")
            found = owner.projects.get(name)
            inserted = found is None
            if found is None:
                if name.startswith(model.REGISTRY_PREFIX) and owner.kind is not EntityKind.ORGANIZATION:
                    raise InvalidRequest("a registry belongs to an organization's entity")
                found = self._new_project(owner, name)
            if description is not None:
                found.description = description
            if access is not None:
                found.access = access
            if allowed_types is not None:
                found.allowed_types = list(allowed_types) or None
                for type_name in allowed_types:
                    self._artifact_type(found, type_name)
            return found, inserted

    # Artifacts -------------------------------------------------------------------------------------

    def log_artifact(
        self,
        entity: str,
        project: str,
        collection: str,
        *,
        type: str = "model",
        metadata: Mapping[str, Any] | None = None,
        aliases: Sequence[str] = (),
        tags: Sequence[str] = (),
        author: str = "",
        state: str = "COMMITTED",
        run: str | None = None,
    ) -> ArtifactVersion:
        """A new version of the source collection (created on first use). ``run`` (a run id of the same
        project) makes the run its creator; otherwise ``author`` (default: the viewer) is.
        A PENDING version takes its aliases and ``latest`` when :meth:`commit_artifact` commits it."""
        initial = _artifact_state(state)
        if initial is ArtifactState.DELETED:
            raise InvalidRequest("a new version is PENDING or COMMITTED")
        for alias in aliases:
            _check_alias(alias)
        with self.lock:
            owner = self._project(entity, project, create=True)
            creator: model.User | model.Run = self._user(author) if author else self.viewer
            if run is not None:
                creator = self._run(owner, run)
            artifact = self._new_version(owner, collection, type, creator=creator, metadata=metadata or {},
                                         digest=None, aliases=aliases, tags=tags)
            if initial is ArtifactState.COMMITTED:
                self._apply_commit(artifact, results.username(creator))
            return results.version(artifact.memberships[0])

    def commit_artifact(self, artifact_id: str, *, author: str = "") -> ArtifactVersion:
        """Commit a PENDING version: it takes ``latest`` and the aliases it was logged with."""
        with self.lock:
            artifact = self._artifact(artifact_id)
            if artifact.state is not ArtifactState.PENDING:
                raise InvalidRequest(f"artifact {artifact_id} is {artifact.state}, not PENDING")
            who = author or results.username(artifact.created_by)
            self._journal("commit_artifact", who, results.version_path(artifact.memberships[0]), None)
            self._apply_commit(artifact, who)
            return results.version(artifact.memberships[0])

    def delete_artifact(self, artifact_id: str, *, author: str = "") -> ArtifactVersion:
        """Delete a version: it disappears from every collection and loses its aliases."""
        with self.lock:
            artifact = self._artifact(artifact_id)
            for membership in artifact.memberships:
                for alias in membership.aliases:
                    del membership.collection.aliases[alias.alias]
            artifact.state = ArtifactState.DELETED
            artifact.updated_at = self._clock()
            self._journal("delete_artifact", author or self.viewer.username,
                          results.version_path(artifact.memberships[0]), None)
            return results.version(artifact.memberships[0])

    def link_artifact(
        self,
        artifact_id: str,
        *,
        entity: str,
        project: str,
        collection: str,
        aliases: Sequence[str] = (),
        author: str = "",
    ) -> ArtifactVersion:
        """Link a committed version into a portfolio (created on first use, except registries, which
        must exist). The link gets the next index of that portfolio and takes ``latest`` there; linking
        the same version again only adds the aliases."""
        with self.lock:
            membership = self.link(self._artifact(artifact_id), entity=entity, project=project,
                                   collection=collection, aliases=aliases, author=author)
            return results.version(membership)

    def add_alias(
        self, entity: str, project: str, collection: str, version: str | int, alias: str, author: str = ""
    ) -> AliasChange:
        """Give ``alias`` to a version of the collection, moving it from the version that held it."""
        _check_alias(alias)
        with self.lock:
            membership = self._membership(entity, project, collection, version)
            return self._move_alias(membership, alias, author or self.viewer.username)

    def remove_alias(
        self, entity: str, project: str, collection: str, version: str | int, alias: str, author: str = ""
    ) -> AliasChange:
        with self.lock:
            membership = self._membership(entity, project, collection, version)
            held = membership.collection.aliases.get(alias)
            if held is None or held.membership is not membership:
                raise NotFound(f"{results.version_path(membership)} has no alias {alias!r}")
            del membership.collection.aliases[alias]
            self._journal("remove_alias", author or self.viewer.username, results.version_path(membership), alias)
            return AliasChange(entity, project, collection, alias, None, membership.version, True, self._clock())

    def add_tag(
        self, entity: str, project: str, collection: str, version: str | int, tag: str, author: str = ""
    ) -> TagChange:
        with self.lock:
            membership = self._membership(entity, project, collection, version)
            tags = membership.artifact.tags
            changed = all(t.name != tag for t in tags)
            if changed:
                tags.append(self._tag(tag))
                self._journal("add_tag", author or self.viewer.username, results.version_path(membership), tag)
            return TagChange(entity, project, collection, membership.version, tag, changed, self._clock())

    def remove_tag(
        self, entity: str, project: str, collection: str, version: str | int, tag: str, author: str = ""
    ) -> TagChange:
        with self.lock:
            membership = self._membership(entity, project, collection, version)
            tags = membership.artifact.tags
            kept = [t for t in tags if t.name != tag]
            if len(kept) == len(tags):
                raise NotFound(f"{results.version_path(membership)} has no tag {tag!r}")
            tags[:] = kept
            self._journal("remove_tag", author or self.viewer.username, results.version_path(membership), tag)
            return TagChange(entity, project, collection, membership.version, tag, True, self._clock())

    def add_collection_tag(self, entity: str, project: str, collection: str, tag: str, author: str = "") -> TagChange:
        with self.lock:
            found = self._existing_collection(entity, project, collection)
            changed = all(t.name != tag for t in found.tags)
            if changed:
                found.tags.append(self._tag(tag))
                found.updated_at = self._clock()
                self._journal("add_collection_tag", author or self.viewer.username, results.collection_path(found), tag)
            return TagChange(entity, project, collection, None, tag, changed, self._clock())

    def remove_collection_tag(
        self, entity: str, project: str, collection: str, tag: str, author: str = ""
    ) -> TagChange:
        with self.lock:
            found = self._existing_collection(entity, project, collection)
            kept = [t for t in found.tags if t.name != tag]
            if len(kept) == len(found.tags):
                raise NotFound(f"{results.collection_path(found)} has no tag {tag!r}")
            found.tags[:] = kept
            found.updated_at = self._clock()
            self._journal("remove_collection_tag", author or self.viewer.username, results.collection_path(found), tag)
            return TagChange(entity, project, collection, None, tag, True, self._clock())

    # Artifacts, as W&B's API writes them (the records the GraphQL layer resolves) ------------------

    def create_artifact(
        self,
        entity: str,
        project: str,
        collection: str,
        *,
        type: str,
        digest: str,
        run: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        aliases: Sequence[str] = (),
        tags: Sequence[str] = (),
        description: str | None = None,
        history_step: int | None = None,
        client_id: str | None = None,
        ttl_duration_seconds: int | None = None,
    ) -> model.Artifact:
        """``createArtifact``: a PENDING version of the source collection, created by ``run`` when given.
        A committed version with the same digest is answered instead (W&B deduplicates: the client then
        uploads nothing), and takes the aliases at once."""
        for alias in aliases:
            _check_alias(alias)
        with self.lock:
            owner = self._project(entity, project, create=True)
            creator: model.User | model.Run = self._run(owner, run) if run else self.viewer
            sequence = owner.collections.get(collection)
            existing = next((m.artifact for m in sequence.live_memberships
                             if m.artifact.digest == digest and m.artifact.state is ArtifactState.COMMITTED),
                            None) if sequence is not None else None
            if existing is not None and existing.sequence is sequence:
                for alias in aliases:
                    self._move_alias(existing.memberships[0], alias, results.username(creator))
                return existing
            artifact = self._new_version(owner, collection, type, creator=creator, metadata=metadata or {},
                                         digest=digest, aliases=aliases, tags=tags)
            artifact.description = description
            artifact.history_step = history_step
            artifact.client_id = client_id
            if ttl_duration_seconds is not None:
                artifact.ttl_duration_seconds = ttl_duration_seconds
            return artifact

    def create_manifest(self, artifact_id: str, *, name: str, digest: str, type: str = "FULL") -> model.Manifest:
        """``createArtifactManifest``: the manifest record and the storage slot its JSON is uploaded to."""
        with self.lock:
            artifact = self._artifact(artifact_id)
            if artifact.state is not ArtifactState.PENDING:
                raise InvalidRequest(f"artifact {artifact_id} is {artifact.state}; its manifest is final")
            manifest = model.Manifest(self._next("ArtifactManifest"), artifact, type, digest,
                                      self.reserve_file(name, None))
            self._manifests[manifest.number] = manifest
            artifact.manifest = manifest
            return manifest

    def update_manifest(self, manifest_id: str, *, digest: str | None) -> model.Manifest:
        """``updateArtifactManifest``: a new digest; the manifest is uploaded (again) to the same slot."""
        parsed = model.parse_gid(manifest_id)
        with self.lock:
            manifest = self._manifests.get(parsed[1]) if parsed and parsed[0] == "ArtifactManifest" else None
            if manifest is None:
                raise NotFound(f"artifact manifest {manifest_id} does not exist")
            if manifest.artifact.state is not ArtifactState.PENDING:
                raise InvalidRequest(f"artifact {manifest.artifact.id} is {manifest.artifact.state}; its manifest "
                                     "is final")
            if digest is not None:
                manifest.digest = digest
            return manifest

    def create_artifact_file(self, artifact_id: str, name: str, md5: str) -> model.StoredFile:
        """``createArtifactFiles``: the storage slot of one file of a PENDING version."""
        with self.lock:
            artifact = self._artifact(artifact_id)
            if artifact.state is not ArtifactState.PENDING:
                raise InvalidRequest(f"artifact {artifact_id} is {artifact.state}; files are added before commit")
            stored = artifact.files[name] = self.reserve_file(name, md5)
            return stored

    def commit(self, artifact_id: str, *, author: str = "") -> model.Artifact:
        """``commitArtifact``: a PENDING version with a manifest is committed only when the manifest and
        every file it lists (except references) are uploaded with the declared MD5."""
        with self.lock:
            artifact = self._artifact(artifact_id)
            if artifact.state is ArtifactState.COMMITTED:
                return artifact
            if artifact.manifest is not None:
                self._check_uploaded(artifact)
            who = author or results.username(artifact.created_by)
            self._journal("commit_artifact", who, results.version_path(artifact.memberships[0]), None)
            self._apply_commit(artifact, who)
            return artifact

    def use_artifact(self, entity: str, project: str, run_id: str, artifact_id: str) -> model.Artifact:
        """``useArtifact``: record the version as an input of the run."""
        with self.lock:
            run = self._run(self._existing_project(entity, project), run_id)
            artifact = self._artifact(artifact_id)
            if run not in artifact.used_by:
                artifact.used_by.append(run)
            return artifact

    def update_artifact(
        self,
        artifact_id: str,
        *,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        ttl_duration_seconds: int | None = None,
        tags_to_add: Sequence[str] = (),
        tags_to_delete: Sequence[str] = (),
        author: str = "",
    ) -> model.Artifact:
        """``updateArtifact``: description, metadata and TTL when given, then tags added and removed."""
        with self.lock:
            artifact = self._artifact(artifact_id)
            who = author or self.viewer.username
            if description is not None:
                artifact.description = description
            if metadata is not None:
                artifact.metadata = dict(metadata)
            if ttl_duration_seconds is not None:
                artifact.ttl_duration_seconds = ttl_duration_seconds
            path = results.version_path(artifact.memberships[0])
            for tag in tags_to_add:
                if all(t.name != tag for t in artifact.tags):
                    artifact.tags.append(self._tag(tag))
                    self._journal("add_tag", who, path, tag)
            for tag in tags_to_delete:
                if any(t.name == tag for t in artifact.tags):
                    artifact.tags[:] = [t for t in artifact.tags if t.name != tag]
                    self._journal("remove_tag", who, path, tag)
            artifact.updated_at = self._clock()
            return artifact

    def add_aliases(self, artifact_id: str, targets: Sequence[tuple[str, str, str, str]],
                    author: str = "") -> model.Artifact:
        """``addAliases``: each ``(entity, project, collection, alias)`` names a collection the version
        belongs to; the alias moves there from the version that held it."""
        with self.lock:
            artifact = self._artifact(artifact_id)
            memberships = [(self._membership_of(artifact, e, p, c), alias) for e, p, c, alias in targets]
            for _, alias in memberships:
                _check_alias(alias)
            for membership, alias in memberships:
                self._move_alias(membership, alias, author or self.viewer.username)
            return artifact

    def delete_aliases(self, artifact_id: str, targets: Sequence[tuple[str, str, str, str]],
                       author: str = "") -> model.Artifact:
        """``deleteAliases``: aliases the version does not hold are ignored."""
        with self.lock:
            artifact = self._artifact(artifact_id)
            for entity, project, collection, alias in targets:
                membership = self._membership_of(artifact, entity, project, collection)
                held = membership.collection.aliases.get(alias)
                if held is not None and held.membership is membership:
                    del membership.collection.aliases[alias]
                    self._journal("remove_alias", author or self.viewer.username, results.version_path(membership),
                                  alias)
            return artifact

    def link(self, artifact: model.Artifact, *, entity: str, project: str, collection: str,
             aliases: Sequence[str] = (), author: str = "") -> model.Membership:
        """``linkArtifact``: the version's membership of the portfolio (created on first use, except
        registries, which must exist). A new link gets the portfolio's next index and ``latest``."""
        for alias in aliases:
            _check_alias(alias)
        with self.lock:
            if artifact.state is not ArtifactState.COMMITTED:
                raise InvalidRequest(f"artifact {artifact.id} is {artifact.state}; only committed versions link")
            target = self._project(entity, project, create=True)
            type_name = artifact.sequence.type.name
            if target.allowed_types is not None and type_name not in target.allowed_types:
                raise InvalidRequest(f"{entity}/{project} accepts {target.allowed_types}, not {type_name!r} artifacts")
            portfolio = self._collection(target, collection, CollectionKind.PORTFOLIO, type_name)
            who = author or self.viewer.username
            membership = next((m for m in artifact.memberships if m.collection is portfolio), None)
            if membership is None:
                membership = self._add_membership(portfolio, artifact, self._clock())
                self._set_alias(membership, "latest")
                self._journal("link_artifact", who, results.version_path(membership), None)
            for alias in aliases:
                self._move_alias(membership, alias, who)
            return membership

    def unlink(self, artifact_id: str, portfolio_id: str, author: str = "") -> model.Artifact:
        """``unlinkArtifact``: the version leaves the portfolio with its aliases there; the portfolio's
        ``latest`` goes to its newest remaining version. Indexes are never reused."""
        with self.lock:
            artifact = self._artifact(artifact_id)
            portfolio = self.by_id(portfolio_id)
            membership = next((m for m in artifact.memberships if m.collection is portfolio), None)
            if membership is None or membership.collection.kind is not CollectionKind.PORTFOLIO:
                raise NotFound(f"artifact {artifact_id} is not linked into collection {portfolio_id}")
            collection = membership.collection
            self._journal("unlink_artifact", author or self.viewer.username, results.version_path(membership), None)
            for alias in membership.aliases:
                del collection.aliases[alias.alias]
            collection.memberships.remove(membership)
            artifact.memberships.remove(membership)
            collection.updated_at = self._clock()
            if collection.live_memberships and "latest" not in collection.aliases:
                self._set_alias(collection.live_memberships[-1], "latest")
            return artifact

    def update_collection(self, collection_id: str, *, name: str | None = None,
                          description: str | None = None) -> model.Collection:
        """``updateArtifactSequence`` / ``updateArtifactPortfolio``: rename, describe."""
        with self.lock:
            found = self.by_id(collection_id)
            if not isinstance(found, model.Collection):
                raise NotFound(f"artifact collection {collection_id} does not exist")
            if name is not None and name != found.name:
                if not _NAME.fullmatch(name) or name in found.project.collections:
                    raise InvalidRequest(f"collection name {name!r} is invalid or taken")
                del found.project.collections[found.name]
                found.name = name
                found.project.collections[name] = found
            if description is not None:
                found.description = description
            found.updated_at = self._clock()
            return found

    def collection_by_name(self, entity: str, project: str, name: str) -> model.Collection:
        with self.lock:
            return self._existing_collection(entity, project, name)

    # Storage ---------------------------------------------------------------------------------------

    def reserve_file(self, name: str, md5: str | None) -> model.StoredFile:
        """A storage slot for ``name``; its bytes arrive with :meth:`upload`."""
        with self.lock:
            stored = model.StoredFile(self._next("File"), secrets.token_urlsafe(18), name, md5, self._clock())
            self._files[stored.key] = stored
            return stored

    def file_url(self, stored: model.StoredFile) -> str:
        return f"{self.public_url}{STORAGE_PREFIX}{stored.key}"

    def upload(self, key: str, data: bytes, content_md5: str | None = None) -> model.StoredFile:
        """Store the bytes PUT to a slot. A ``Content-MD5`` header, or else the MD5 declared when the slot
        was made, must match the bytes (as object stores check it)."""
        actual = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        with self.lock:
            stored = self._files.get(key)
            if stored is None:
                raise NotFound("no such upload URL")
            expected = content_md5 or stored.md5
            if expected is not None and expected != actual:
                raise InvalidRequest(f"MD5 mismatch for {stored.name}: declared {expected}, received {actual}")
            stored.data = data
            return stored

    def download(self, key: str) -> bytes | None:
        with self.lock:
            stored = self._files.get(key)
            return stored.data if stored is not None else None

    # Runs ------------------------------------------------------------------------------------------

    def create_run(
        self,
        entity: str,
        project: str,
        *,
        run_id: str | None = None,
        display_name: str = "",
        user: str = "",
        state: str = "running",
        config: Mapping[str, Any] | None = None,
    ) -> RunInfo:
        """A run (id: 8 random characters unless given) owned by ``user`` (default: the viewer)."""
        initial = _run_state(state)
        name = run_id or uuid.uuid4().hex[:8]
        if not _NAME.fullmatch(name):
            raise InvalidRequest(f"invalid run id {name!r}")
        with self.lock:
            owner = self._project(entity, project, create=True)
            if name in owner.runs:
                raise InvalidRequest(f"run {entity}/{project}/{name} already exists")
            now = self._clock()
            run = model.Run(
                number=self._next("Run"),
                name=name,
                project=owner,
                display_name=display_name or name,
                state=initial,
                user=self._user(user) if user else self.viewer,
                config=dict(config or {}),
                created_at=now,
                heartbeat_at=now,
            )
            owner.runs[name] = run
            self._runs[run.number] = run
            self._journal("create_run", run.user.username, results.run_path(run), run.state.value)
            return results.run_info(run)

    def log_history(
        self, entity: str, project: str, run_id: str, rows: Sequence[Mapping[str, Any]]
    ) -> RunInfo:
        """Append history rows (see :meth:`_append_rows`)."""
        with self.lock:
            run = self._run(self._existing_project(entity, project), run_id)
            self._append_rows(run, rows)
            return results.run_info(run)

    def set_run_state(self, entity: str, project: str, run_id: str, state: str, author: str = "") -> RunInfo:
        new = _run_state(state)
        with self.lock:
            run = self._run(self._existing_project(entity, project), run_id)
            self._set_state(run, new, author or run.user.username)
            return results.run_info(run)

    # Runs, as W&B's API writes them ----------------------------------------------------------------

    def upsert_run(
        self,
        *,
        run_id: str | None = None,
        name: str | None = None,
        entity: str | None = None,
        project: str | None = None,
        display_name: str | None = None,
        description: str | None = None,
        notes: str | None = None,
        tags: Sequence[str] | None = None,
        config: Mapping[str, Any] | None = None,
        group: str | None = None,
        job_type: str | None = None,
        host: str | None = None,
        program: str | None = None,
        commit: str | None = None,
        state: str | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> tuple[model.Run, bool]:
        """``upsertBucket``: update the run ``run_id`` (its GraphQL id) or ``entity/project/name``, or create
        it (then ``True``), owned by the viewer, in the viewer's entity and project ``uncategorized``
        unless told. Fields left None keep their value; ``config`` holds W&B's ``{"value": v}`` wrappers."""
        new_state = _run_state(state) if state else None
        with self.lock:
            inserted = False
            if run_id is not None:
                parsed = model.parse_gid(run_id)
                found = self._runs.get(parsed[1]) if parsed and parsed[0] == "Run" else None
                if found is None:
                    raise NotFound(f"run {run_id} does not exist")
                run = found
            else:
                owner = self._project(entity or self.viewer.entity.name, project or "uncategorized", create=True)
                if owner.is_registry:
                    raise InvalidRequest("runs are logged to projects, not registries")
                existing = owner.runs.get(name) if name else None
                if existing is None:
                    info = self.create_run(owner.entity.name, owner.name, run_id=name, display_name=display_name or "")
                    existing, inserted = owner.runs[info.run_id], True
                run = existing
            if display_name is not None:
                run.display_name = display_name
            if config is not None:
                run.config = {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in config.items()}
            if summary is not None:
                run.summary.update(summary)
            if tags is not None:
                run.tags = list(tags)
            for attribute, value in (("description", description), ("notes", notes), ("group", group),
                                     ("job_type", job_type), ("host", host), ("program", program),
                                     ("commit", commit)):
                if value is not None:
                    setattr(run, attribute, value)
            run.heartbeat_at = self._clock()
            if new_state is not None and new_state is not run.state:
                self._set_state(run, new_state, self.viewer.username)
            return run, inserted

    def update_run_state(self, run_id: str, state: str) -> model.Run:
        """``updateRunState``: to ``pending`` from running, failed, crashed or preempted; to ``failed`` from
        pending or running. Anything else is refused, as W&B refuses it."""
        allowed = {RunState.PENDING: {RunState.RUNNING, RunState.FAILED, RunState.CRASHED, RunState.PREEMPTED},
                   RunState.FAILED: {RunState.PENDING, RunState.RUNNING}}
        new = _run_state(state)
        with self.lock:
            parsed = model.parse_gid(run_id)
            run = self._runs.get(parsed[1]) if parsed and parsed[0] == "Run" else None
            if run is None:
                raise NotFound(f"run {run_id} does not exist")
            if run.state not in allowed.get(new, set()):
                raise InvalidRequest(f"a run cannot go from {run.state.value} to {new.value}")
            self._set_state(run, new, self.viewer.username)
            return run

    def stream(
        self,
        entity: str,
        project: str,
        run_id: str,
        files: Mapping[str, Mapping[str, Any]],
        *,
        complete: bool = False,
        exitcode: int | None = None,
    ) -> model.Run:
        """One request of the run's file stream (``/files/<entity>/<project>/<run>/file_stream``): new
        lines of ``wandb-history.jsonl`` (history rows), ``wandb-events.jsonl`` (system metrics) and
        ``output.log`` from their ``offset`` (lines a retry sends again are kept once), the latest
        ``wandb-summary.json``; ``complete`` ends the run, finished for exit code 0, else failed. A run
        that is not running (a resumed one) is running again once it streams."""
        with self.lock:
            run = self._run(self._existing_project(entity, project), run_id)
            for name, chunk in files.items():
                offset = chunk.get("offset", 0)
                content = chunk.get("content", [])
                if not isinstance(offset, int) or not isinstance(content, list):
                    raise InvalidRequest(f"{name}: offset is an integer and content a list of lines")
                if name == HISTORY_FILE:
                    fresh = content[max(0, len(run.rows) - offset):]
                    self._append_rows(run, [_json_line(name, line) for line in fresh])
                elif name == EVENTS_FILE:
                    fresh = content[max(0, len(run.events) - offset):]
                    run.events.extend(_json_line(name, line) for line in fresh)
                elif name == SUMMARY_FILE and content:
                    run.summary = _json_line(name, content[-1])
                elif name == OUTPUT_FILE:
                    run.logs[offset:offset + len(content)] = [str(line) for line in content]
            run.heartbeat_at = self._clock()
            if complete:
                run.exitcode = exitcode
                self._set_state(run, RunState.FINISHED if exitcode == 0 else RunState.FAILED, run.user.username)
            elif run.state is not RunState.RUNNING:  # a resumed (or re-attached) run streams again: it runs
                self._set_state(run, RunState.RUNNING, run.user.username)
            return run

    def create_run_files(self, entity: str, project: str, run_id: str, names: Sequence[str]) -> list[model.StoredFile]:
        """``createRunFiles``: a storage slot for each file the run uploads (config, requirements, ...)."""
        with self.lock:
            run = self._run(self._existing_project(entity, project), run_id)
            for name in names:
                run.files[name] = self.reserve_file(name, None)
            return [run.files[name] for name in names]

    # Run queues ------------------------------------------------------------------------------------

    def create_run_queue(self, entity: str, project: str, name: str, author: str = "") -> QueueInfo:
        with self.lock:
            owner = self._project(entity, project, create=True)
            if name in owner.run_queues:
                raise InvalidRequest(f"run queue {name!r} already exists in {entity}/{project}")
            queue = model.RunQueue(
                self._next("RunQueue"), name, owner, self._user(author) if author else self.viewer, self._clock()
            )
            owner.run_queues[name] = queue
            return results.queue_info(queue)

    def push_to_run_queue(
        self,
        entity: str,
        project: str,
        queue: str,
        run_spec: dict[str, Any],
        *,
        priority: int | None = None,
        template_variable_values: dict[str, Any] | None = None,
    ) -> QueuedItem | None:
        """Queue a launch spec; None when the queue does not exist (W&B answers null)."""
        with self.lock:
            owner = self.project(entity, project)
            found = owner.run_queues.get(queue) if owner else None
            if found is None:
                return None
            item = model.QueueItem(
                self._next("RunQueueItem"), found, run_spec, priority, template_variable_values, self._clock()
            )
            found.items.append(item)
            return results.queued(item)

    def queue_items(self, entity: str, project: str, queue: str) -> list[QueuedItem]:
        with self.lock:
            found = self._existing_project(entity, project).run_queues.get(queue)
            if found is None:
                raise NotFound(f"run queue {entity}/{project}/{queue} does not exist")
            return [results.queued(item) for item in found.items]

    # Requests, failures, journal -------------------------------------------------------------------

    def count_request(self, operation: str) -> None:
        with self.lock:
            self._requests[operation] += 1

    def record_requests(self, on: bool = True) -> None:
        """Keep (or stop keeping) every GraphQL request's operation name, document and variables, e.g. to
        see exactly what a client such as the wandb SDK sends (:meth:`recorded`)."""
        with self.lock:
            self._recording = on

    def record(self, operation: str, query: str, variables: Mapping[str, Any] | None) -> None:
        with self.lock:
            if self._recording:
                self._recorded.append(RecordedRequest(len(self._recorded) + 1, operation, query, dict(variables or {})))

    def recorded(self, since: int = 0) -> list[RecordedRequest]:
        """The requests recorded since :meth:`record_requests` was switched on, oldest first."""
        with self.lock:
            return self._recorded[since:]

    def stats(self) -> dict[str, int]:
        """GraphQL requests received per operation name (failed and injected-failure ones included)."""
        with self.lock:
            return dict(self._requests)

    def reset_stats(self) -> None:
        with self.lock:
            self._requests.clear()

    def fail_next(self, n: int, kind: str, *, retry_after: int = 1) -> None:
        """Make the next ``n`` GraphQL requests fail: ``http500``, ``http429`` (with ``Retry-After:
        retry_after``) or ``graphql`` (HTTP 200 with an ``errors`` entry and no data)."""
        try:
            failure = Failure(FailureKind(kind), retry_after)
        except ValueError:
            raise InvalidRequest(f"kind must be one of {[k.value for k in FailureKind]}") from None
        if n < 0 or retry_after < 0:
            raise InvalidRequest("n and retry_after must not be negative")
        with self.lock:
            self._failures.extend([failure] * n)

    def take_failure(self) -> Failure | None:
        with self.lock:
            return self._failures.popleft() if self._failures else None

    def changes(self, since: int = 0) -> list[Change]:
        """The journal entries with ``seq`` > ``since``, oldest first."""
        with self.lock:
            return self._changes[since:]

    # Internals -------------------------------------------------------------------------------------

    def _next(self, kind: str) -> int:
        self._numbers[kind] += 1
        return self._numbers[kind]

    def _journal(self, kind: str, author: str, target: str, value: str | None) -> None:
        self._changes.append(Change(len(self._changes) + 1, kind, self._clock(), author, target, value))

    def _new_entity(self, name: str, kind: EntityKind) -> model.Entity:
        if not _NAME.fullmatch(name):
            raise InvalidRequest(f"invalid entity name {name!r}")
        entity = model.Entity(self._next("Entity"), name, kind, self._clock())
        self._entities[name] = entity
        return entity

    def _user(self, username: str) -> model.User:
        found = self._users.get(username)
        if found is None:
            if username in self._entities:
                raise InvalidRequest(f"{username!r} names a {self._entities[username].kind} entity, not a user")
            found = model.User(self._next("User"), username, self._new_entity(username, EntityKind.USER))
            self._users[username] = found
        return found

    def _team(self, name: str) -> model.Entity:
        return self._entities.get(name) or self._new_entity(name, EntityKind.TEAM)

    def _new_project(self, entity: model.Entity, name: str) -> model.Project:
        if not _NAME.fullmatch(name):
            raise InvalidRequest(f"invalid project name {name!r}")
        found = model.Project(self._next("Project"), name, entity, self._clock())
        entity.projects[name] = found
        return found

    def _project(self, entity: str, name: str, *, create: bool) -> model.Project:
        owner = self._entities.get(entity)
        found = owner.projects.get(name) if owner else None
        if found is not None:
            return found
        if not create:
            raise NotFound(f"project {entity}/{name} does not exist")
        if name.startswith(model.REGISTRY_PREFIX):
            raise NotFound(f"registry {entity}/{name} does not exist (see create_registry)")
        return self._new_project(owner or self._team(entity), name)

    def _existing_project(self, entity: str, name: str) -> model.Project:
        return self._project(entity, name, create=False)

    def _artifact_type(self, project: model.Project, name: str) -> model.ArtifactType:
        found = project.artifact_types.get(name)
        if found is None:
            if not _NAME.fullmatch(name):
                raise InvalidRequest(f"invalid artifact type {name!r}")
            found = model.ArtifactType(self._next("ArtifactType"), name, project, self._clock())
            project.artifact_types[name] = found
        return found

    def _collection(
        self, project: model.Project, name: str, kind: CollectionKind, type_name: str
    ) -> model.Collection:
        found = project.collections.get(name)
        if found is None:
            if not _NAME.fullmatch(name):
                raise InvalidRequest(f"invalid collection name {name!r}")
            now = self._clock()
            found = model.Collection(
                self._next("ArtifactCollection"), kind, name, project, self._artifact_type(project, type_name), now, now
            )
            project.collections[name] = found
            self._collections[found.number] = found
        path = results.collection_path(found)
        if found.kind is not kind:
            raise InvalidRequest(f"{path} is an {found.kind.value}, not an {kind.value}")
        if found.type.name != type_name:
            raise InvalidRequest(f"{path} holds {found.type.name!r} artifacts, not {type_name!r}")
        return found

    def _existing_collection(self, entity: str, project: str, name: str) -> model.Collection:
        found = self._existing_project(entity, project).collections.get(name)
        if found is None:
            raise NotFound(f"collection {entity}/{project}/{name} does not exist")
        return found

    def _membership(self, entity: str, project: str, collection: str, version: str | int) -> model.Membership:
        found = self._existing_collection(entity, project, collection).membership(version)
        if found is None:
            raise NotFound(f"{entity}/{project}/{collection} has no version {version!r}")
        return found

    def _artifact(self, artifact_id: str) -> model.Artifact:
        parsed = model.parse_gid(artifact_id)
        found = self.artifact(parsed[1]) if parsed and parsed[0] == "Artifact" else None
        if found is None:
            raise NotFound(f"artifact {artifact_id} does not exist")
        return found

    def _run(self, project: model.Project, run_id: str) -> model.Run:
        found = project.runs.get(run_id)
        if found is None:
            raise NotFound(f"run {project.entity.name}/{project.name}/{run_id} does not exist")
        return found

    def _tag(self, name: str) -> model.Tag:
        if not name.strip():
            raise InvalidRequest("a tag needs a name")
        found = self._tags.get(name)
        if found is None:
            found = self._tags[name] = model.Tag(self._next("Tag"), name)
        return found

    def _add_membership(self, collection: model.Collection, artifact: model.Artifact, at: datetime) -> model.Membership:
        membership = model.Membership(
            self._next("ArtifactCollectionMembership"), collection, artifact, collection.next_index, at
        )
        collection.next_index += 1
        collection.memberships.append(membership)
        collection.updated_at = at
        artifact.memberships.append(membership)
        return membership

    def _new_version(
        self,
        owner: model.Project,
        collection: str,
        type_name: str,
        *,
        creator: model.User | model.Run,
        metadata: Mapping[str, Any],
        digest: str | None,
        aliases: Sequence[str],
        tags: Sequence[str],
    ) -> model.Artifact:
        """A PENDING version of the source collection (created on first use); it takes ``aliases`` and
        ``latest`` when committed."""
        if owner.is_registry:
            raise InvalidRequest("versions are logged to a project and linked into a registry")
        sequence = self._collection(owner, collection, CollectionKind.SEQUENCE, type_name)
        now = self._clock()
        artifact = model.Artifact(
            number=self._next("Artifact"),
            sequence=sequence,
            version_index=sequence.next_index,
            state=ArtifactState.PENDING,
            digest="",
            metadata=dict(metadata),
            created_at=now,
            updated_at=now,
            created_by=creator,
            pending_aliases=list(aliases),
        )
        artifact.digest = digest if digest is not None else _digest(sequence.id, artifact.version_index, metadata)
        artifact.tags = [self._tag(tag) for tag in dict.fromkeys(tags)]
        self._artifacts[artifact.number] = artifact
        membership = self._add_membership(sequence, artifact, now)
        self._journal("log_artifact", results.username(creator), results.version_path(membership), None)
        return artifact

    def _check_uploaded(self, artifact: model.Artifact) -> None:
        assert artifact.manifest is not None
        if not artifact.manifest.file.uploaded:
            raise InvalidRequest(f"artifact {artifact.id}: the manifest was not uploaded")
        for path, entry in artifact.entries.items():
            if not isinstance(entry, dict) or entry.get("ref"):
                continue  # a reference: its bytes live elsewhere
            stored = artifact.files.get(path)
            if stored is None or not stored.uploaded:
                raise InvalidRequest(f"artifact {artifact.id}: {path} was not uploaded")
            if stored.md5 != entry.get("digest"):
                raise InvalidRequest(f"artifact {artifact.id}: {path} has MD5 {stored.md5}, the manifest says "
                                     f"{entry.get('digest')}")

    def _membership_of(self, artifact: model.Artifact, entity: str, project: str, collection: str) -> model.Membership:
        found = self._existing_collection(entity, project, collection)
        membership = next((m for m in artifact.memberships if m.collection is found), None)
        if membership is None:
            raise NotFound(f"artifact {artifact.id} is not in {entity}/{project}/{collection}")
        return membership

    def _append_rows(self, run: model.Run, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append history rows. A row without ``_step`` gets the next one; given steps must increase.
        Rows also get ``_runtime`` and ``_timestamp`` when missing, as the SDK adds them; the summary
        takes each row's values."""
        now = self._clock()
        step = run.last_step
        prepared = []
        for row in rows:
            given = row.get("_step")
            if given is not None and (not isinstance(given, int) or isinstance(given, bool) or given <= step):
                raise InvalidRequest(f"_step {given!r} does not follow step {step} of {results.run_path(run)}")
            step = step + 1 if given is None else given
            prepared.append({
                **row,
                "_step": step,
                "_runtime": row.get("_runtime", (now - run.created_at).total_seconds()),
                "_timestamp": row.get("_timestamp", now.timestamp()),
            })
        for row in prepared:
            run.rows.append(row)
            run.summary.update(row)
            run.key_counts.update(row.keys())
        run.heartbeat_at = now

    def _set_state(self, run: model.Run, new: RunState, author: str) -> None:
        run.state = new
        run.heartbeat_at = self._clock()
        self._journal("set_run_state", author, results.run_path(run), new.value)

    def _apply_commit(self, artifact: model.Artifact, author: str) -> None:
        if artifact.manifest is None:  # a version made through the control API: no files, as W&B stores it
            stored = self.reserve_file(MANIFEST_FILE, None)
            stored.data = json.dumps(EMPTY_MANIFEST).encode()
            artifact.manifest = model.Manifest(self._next("ArtifactManifest"), artifact, "FULL", "", stored)
            self._manifests[artifact.manifest.number] = artifact.manifest
        artifact.state = ArtifactState.COMMITTED
        artifact.updated_at = self._clock()
        source = artifact.memberships[0]
        self._set_alias(source, "latest")
        for alias in artifact.pending_aliases:
            self._move_alias(source, alias, author)
        artifact.pending_aliases.clear()

    def _set_alias(self, membership: model.Membership, alias: str) -> str | None:
        """Point ``alias`` at ``membership``; returns the version that held it before, if another."""
        aliases = membership.collection.aliases
        held = aliases.get(alias)
        if held is not None and held.membership is membership:
            return membership.version
        aliases[alias] = model.Alias(self._next("ArtifactAlias"), alias, membership)
        return held.membership.version if held else None

    def _move_alias(self, membership: model.Membership, alias: str, author: str) -> AliasChange:
        previous = self._set_alias(membership, alias)
        changed = previous != membership.version
        if changed:
            self._journal("add_alias", author, results.version_path(membership), alias)
        collection = membership.collection
        return AliasChange(
            collection.project.entity.name, collection.project.name, collection.name, alias,
            membership.version, previous, changed, self._clock(),
        )


def _artifact_state(value: str) -> ArtifactState:
    try:
        return ArtifactState(value)
    except ValueError:
        raise InvalidRequest(f"artifact state must be one of {[s.value for s in ArtifactState]}") from None


def _run_state(value: str) -> RunState:
    try:
        return RunState(value)
    except ValueError:
        raise InvalidRequest(f"run state must be one of {[s.value for s in RunState]}") from None


def _check_alias(alias: str) -> None:
    if not alias or _VERSION.fullmatch(alias) or any(c in alias for c in "/:"):
        raise InvalidRequest(f"invalid alias {alias!r}: aliases are not empty, not vN, without '/' or ':'")


def _digest(collection_id: str, index: int, metadata: Mapping[str, Any]) -> str:
    text = json.dumps([collection_id, index, metadata], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _json_line(file: str, line: object) -> Any:
    if not isinstance(line, str):
        raise InvalidRequest(f"{file}: lines are strings of JSON")
    try:
        return json.loads(line)
    except ValueError:
        raise InvalidRequest(f"{file}: a line is not JSON: {line[:80]!r}") from None
