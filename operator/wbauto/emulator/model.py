"""The records the emulator holds, shaped like W&B's own objects.

Every record has a ``number`` (its database row) and an ``id``: W&B's opaque GraphQL ID, the base64 of
``"<Kind>:<number>"`` (``"Artifact:17"``). Records are plain mutable objects guarded by the state lock
(:mod:`wbauto.emulator.state`); they hold no logic beyond derived read-only views.
"""

from __future__ import annotations

import base64
import enum
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

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CRASHED = "crashed"
    KILLED = "killed"


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
    artifact_types: dict[str, ArtifactType] = field(default_factory=dict)
    collections: dict[str, Collection] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    run_queues: dict[str, RunQueue] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return gid("Project", self.number)

    @property
    def is_registry(self) -> bool:
        return self.name.startswith(REGISTRY_PREFIX)


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
    tags: list[Tag] = field(default_factory=list)
    memberships: list[Membership] = field(default_factory=list)
    pending_aliases: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return gid("Artifact", self.number)

    @property
    def aliases(self) -> list[Alias]:
        """Every alias this version holds, in every collection it belongs to."""
        return [a for m in self.memberships for a in m.aliases]


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
    summary: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    key_counts: Counter[str] = field(default_factory=Counter)

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
