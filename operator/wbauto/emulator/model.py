"""The records the emulator holds, shaped like W&B's own objects.

Every record has a ``number`` (its database row) and an ``id``: W&B's opaque GraphQL ID, the base64 of
``"<Kind>:<number>"`` (``"Artifact:17"``). Records are plain mutable objects guarded by the state lock
(:mod:`wbauto.emulator.state`); they hold no logic beyond derived read-only views.

Besides W&B's data (entities, projects, collections, versions, aliases, runs, queues) there are the
stored files (artifact files, manifests and run files uploaded to the emulator's storage) and the
automations W&B keeps per entity: triggers (scope, event filter, action) and the integrations their
actions target.
"""

from __future__ import annotations

import base64
import enum
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

REGISTRY_PREFIX = "wandb-registry-"


def gid(kind: str, number: int) -> str:
    """W&B's GraphQL ID of a ``kind`` record: ``base64("Artifact:17")``."""
    return base64.b64encode(f"{kind}:{number}".encode()).decode()


def parse_gid(value: str) -> tuple[str, int] | None:
    """The ``(kind, number)`` behind an ID made by :func:`gid`, or None when it is not one."""
    try:
        kind, _, number = base64.b64decode(value, validate=True).decode().partition(":")
        return kind, int(number)
    except (ValueError, UnicodeDecodeError):
        return None


class ArtifactState(enum.StrEnum):
    PENDING = "PENDING"
    COMMITTED = "COMMITTED"
    DELETED = "DELETED"


class RunState(enum.StrEnum):
    """Run states as W&B stores them (lowercase)."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CRASHED = "crashed"
    KILLED = "killed"
    PREEMPTED = "preempted"


class EntityKind(enum.StrEnum):
    USER = "user"
    TEAM = "team"
    ORGANIZATION = "organization"


@dataclass(eq=False)
class User:
    number: int
    username: str
    entity: Entity

    @property
    def id(self) -> str:
        return gid("User", self.number)


@dataclass(eq=False)
class Organization:
    number: int
    name: str
    org_entity: Entity

    @property
    def id(self) -> str:
        return gid("Organization", self.number)


@dataclass(eq=False)
class Entity:
    number: int
    name: str
    kind: EntityKind
    created_at: datetime
    organization: Organization | None = None
    projects: dict[str, Project] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return gid("Entity", self.number)


@dataclass(eq=False)
class Project:
    number: int
    name: str
    entity: Entity
    created_at: datetime
    description: str | None = None
    access: str = "PRIVATE"
    allowed_types: list[str] | None = None
    artifact_types: dict[str, ArtifactType] = field(default_factory=dict)
    collections: dict[str, Collection] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    run_queues: dict[str, RunQueue] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return gid("Project", self.number)

    @property
    def internal_id(self) -> str:
        """W&B's ``Project.internalId``: ``base64("ProjectInternalId:<number>")``."""
        return gid("ProjectInternalId", self.number)

    @property
    def is_registry(self) -> bool:
        return self.name.startswith(REGISTRY_PREFIX)

    @property
    def updated_at(self) -> datetime:
        """The latest change to the project or one of its collections."""
        return max([self.created_at, *(c.updated_at for c in self.collections.values())])


@dataclass(eq=False)
class ArtifactType:
    number: int
    name: str
    project: Project
    created_at: datetime

    @property
    def id(self) -> str:
        return gid("ArtifactType", self.number)


@dataclass(eq=False)
class Tag:
    number: int
    name: str

    @property
    def id(self) -> str:
        return gid("Tag", self.number)


class CollectionKind(enum.StrEnum):
    """A collection's GraphQL type: logged versions (sequence) or linked versions (portfolio)."""

    SEQUENCE = "ArtifactSequence"
    PORTFOLIO = "ArtifactPortfolio"


@dataclass(eq=False)
class Collection:
    number: int
    kind: CollectionKind
    name: str
    project: Project
    type: ArtifactType
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    next_index: int = 0
    tags: list[Tag] = field(default_factory=list)
    memberships: list[Membership] = field(default_factory=list)
    aliases: dict[str, Alias] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return gid("ArtifactCollection", self.number)

    @property
    def live_memberships(self) -> list[Membership]:
        """Memberships of versions that are not deleted, oldest first."""
        return [m for m in self.memberships if m.artifact.state is not ArtifactState.DELETED]

    def membership(self, version: str | int) -> Membership | None:
        """The membership for ``"v3"``/``3`` (index in this collection) or for an alias name."""
        if isinstance(version, int) or (version[:1] == "v" and version[1:].isdigit()):
            index = version if isinstance(version, int) else int(version[1:])
            return next((m for m in self.live_memberships if m.version_index == index), None)
        alias = self.aliases.get(version)
        return alias.membership if alias else None


@dataclass(eq=False)
class Membership:
    """A version's place in one collection: its own index there, and the aliases it holds there."""

    number: int
    collection: Collection
    artifact: Artifact
    version_index: int
    created_at: datetime

    @property
    def id(self) -> str:
        return gid("ArtifactCollectionMembership", self.number)

    @property
    def version(self) -> str:
        return f"v{self.version_index}"

    @property
    def aliases(self) -> list[Alias]:
        return [a for a in self.collection.aliases.values() if a.membership is self]


@dataclass(eq=False)
class Alias:
    number: int
    alias: str
    membership: Membership

    @property
    def id(self) -> str:
        return gid("ArtifactAlias", self.number)

    @property
    def artifact_collection(self) -> Collection:
        return self.membership.collection


@dataclass(eq=False)
class StoredFile:
    """One object of the emulator's storage. ``key`` is the last segment of its upload and download URL
    (random, like a presigned URL); ``md5`` is the base64 MD5 the client declared, checked on upload."""

    number: int
    key: str
    name: str
    md5: str | None
    created_at: datetime
    data: bytes | None = None

    @property
    def id(self) -> str:
        return gid("File", self.number)

    @property
    def uploaded(self) -> bool:
        return self.data is not None


@dataclass(eq=False)
class Manifest:
    """An artifact version's manifest: the JSON file listing its entries (path, digest, size)."""

    number: int
    artifact: Artifact
    type: str
    digest: str
    file: StoredFile

    @property
    def id(self) -> str:
        return gid("ArtifactManifest", self.number)


@dataclass(eq=False)
class Artifact:
    number: int
    sequence: Collection
    version_index: int
    state: ArtifactState
    digest: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    created_by: User | Run
    description: str | None = None
    history_step: int | None = None
    ttl_duration_seconds: int = -1
    client_id: str | None = None
    tags: list[Tag] = field(default_factory=list)
    memberships: list[Membership] = field(default_factory=list)
    pending_aliases: list[str] = field(default_factory=list)
    manifest: Manifest | None = None
    files: dict[str, StoredFile] = field(default_factory=dict)
    used_by: list[Run] = field(default_factory=list)

    @property
    def id(self) -> str:
        return gid("Artifact", self.number)

    @property
    def aliases(self) -> list[Alias]:
        """Every alias this version holds, in every collection it belongs to."""
        return [a for m in self.memberships for a in m.aliases]

    @property
    def entries(self) -> dict[str, Any]:
        """The manifest's entries (``path -> {digest, size, ...}``), once the manifest is uploaded."""
        if self.manifest is None or self.manifest.file.data is None:
            return {}
        try:
            contents = json.loads(self.manifest.file.data).get("contents")
        except (ValueError, AttributeError):
            return {}
        return contents if isinstance(contents, dict) else {}

    @property
    def size(self) -> int:
        return sum(int(e.get("size") or 0) for e in self.entries.values() if isinstance(e, dict))

    @property
    def file_count(self) -> int:
        return len(self.entries)


@dataclass(eq=False)
class Run:
    number: int
    name: str
    project: Project
    display_name: str
    state: RunState
    user: User
    config: dict[str, Any]
    created_at: datetime
    heartbeat_at: datetime
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    job_type: str | None = None
    notes: str | None = None
    description: str | None = None
    host: str | None = None
    program: str | None = None
    commit: str | None = None
    exitcode: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    key_counts: Counter[str] = field(default_factory=Counter)
    events: list[dict[str, Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    files: dict[str, StoredFile] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return gid("Run", self.number)

    @property
    def last_step(self) -> int:
        return int(self.rows[-1]["_step"]) if self.rows else -1

    @property
    def history_keys(self) -> dict[str, Any]:
        """W&B's ``historyKeys`` value: the last step and, per key, its count and latest value."""
        keys = {
            key: {
                "typeCounts": [{"type": _value_type(self.summary.get(key)), "count": count}],
                "previousValue": self.summary.get(key),
            }
            for key, count in self.key_counts.items()
        }
        return {"lastStep": self.last_step, "keys": keys}


def _value_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "map" if isinstance(value, dict) else "unknown"


@dataclass(eq=False)
class RunQueue:
    number: int
    name: str
    project: Project
    created_by: User
    created_at: datetime
    items: list[QueueItem] = field(default_factory=list)

    @property
    def id(self) -> str:
        return gid("RunQueue", self.number)


@dataclass(eq=False)
class QueueItem:
    number: int
    queue: RunQueue
    run_spec: dict[str, Any]
    priority: int | None
    template_variable_values: dict[str, Any] | None
    created_at: datetime

    @property
    def id(self) -> str:
        return gid("RunQueueItem", self.number)


# Automations ---------------------------------------------------------------------------------------


@dataclass(eq=False)
class WebhookIntegration:
    """A team webhook (W&B's ``GenericWebhookIntegration``): an endpoint and the names of the team
    secrets it signs with (``secret_ref``) and sends as a bearer token (``access_token_ref``)."""

    number: int
    entity: Entity
    name: str
    url_endpoint: str
    secret_ref: str | None
    access_token_ref: str | None
    created_at: datetime

    @property
    def id(self) -> str:
        return gid("Integration", self.number)


@dataclass(eq=False)
class SlackIntegration:
    """A Slack workspace and channel connected to a team (made in W&B's UI through OAuth)."""

    number: int
    entity: Entity
    team_name: str
    channel_name: str
    created_at: datetime

    @property
    def id(self) -> str:
        return gid("Integration", self.number)


Integration = WebhookIntegration | SlackIntegration


@dataclass(eq=False)
class WebhookAction:
    integration: Integration
    request_payload: str | None


@dataclass(eq=False)
class NotificationAction:
    integration: Integration
    title: str | None
    message: str | None
    severity: str | None


@dataclass(eq=False)
class QueueJobAction:
    queue: RunQueue | None
    template: str


@dataclass(eq=False)
class NoOpAction:
    no_op: bool = True


@dataclass(eq=False)
class PushNotificationAction:
    user: User | None
    title: str | None
    body: str | None


@dataclass(eq=False)
class AriaAction:
    prompt: str


Action = WebhookAction | NotificationAction | QueueJobAction | NoOpAction | PushNotificationAction | AriaAction
Scope = Project | Collection | Entity


@dataclass(eq=False)
class Trigger:
    """An automation as W&B stores it: ``event_filter`` is the parsed ``eventFilter`` JSON the client sent
    (for artifact events, the ``{"$or": [{"$and": [...]}]}`` expression; for run events, the object with
    ``run_filter`` and ``run_metric_filter`` or ``run_state_filter``)."""

    number: int
    name: str
    description: str | None
    enabled: bool
    scope: Scope
    event_type: str
    event_filter: Any
    action_type: str
    action: Action
    created_by: User
    created_at: datetime
    updated_at: datetime | None = None

    @property
    def id(self) -> str:
        return gid("Trigger", self.number)

    @property
    def entity(self) -> Entity:
        """The entity that owns the trigger's scope."""
        scope = self.scope
        if isinstance(scope, Entity):
            return scope
        return scope.entity if isinstance(scope, Project) else scope.project.entity

    @property
    def project(self) -> Project | None:
        """The project of the scope (None for an entity scope)."""
        scope = self.scope
        if isinstance(scope, Entity):
            return None
        return scope if isinstance(scope, Project) else scope.project
