"""What the emulator's state methods return: small frozen records with W&B ids, versions and times,
and the functions that build them from the state's records.

They are the answers of the REST control API too (``pydantic`` dumps them as JSON), so tests, the demo
and the benchmarks can match what they changed with what the poller later reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wbauto.emulator import model


@dataclass(frozen=True)
class ProjectInfo:
    id: str
    entity: str
    project: str
    created_at: datetime


@dataclass(frozen=True)
class OrganizationInfo:
    id: str
    name: str
    entity: str


@dataclass(frozen=True)
class ArtifactVersion:
    """One version as seen in one collection (its source sequence, or a portfolio it is linked into)."""

    artifact_id: str
    membership_id: str
    entity: str
    project: str
    collection: str
    collection_id: str
    collection_type: str
    version: str
    version_index: int
    state: str
    digest: str
    aliases: tuple[str, ...]
    created_at: datetime

    @property
    def name(self) -> str:
        """``entity/project/collection:vN``, the form W&B uses in ``${artifact_version_string}``."""
        return f"{self.entity}/{self.project}/{self.collection}:{self.version}"


@dataclass(frozen=True)
class AliasChange:
    """``version`` holds ``alias`` after the change (None once removed); ``previous`` held it before."""

    entity: str
    project: str
    collection: str
    alias: str
    version: str | None
    previous: str | None
    changed: bool
    at: datetime


@dataclass(frozen=True)
class TagChange:
    """A tag on a version (``version`` set) or on the collection itself (``version`` None)."""

    entity: str
    project: str
    collection: str
    version: str | None
    tag: str
    changed: bool
    at: datetime


@dataclass(frozen=True)
class RunInfo:
    id: str
    run_id: str
    entity: str
    project: str
    display_name: str
    state: str
    user: str
    last_step: int
    created_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class QueueInfo:
    id: str
    entity: str
    project: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class QueuedItem:
    id: str
    queue: str
    run_spec: dict[str, Any]
    priority: int | None
    template_variable_values: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class RecordedRequest:
    """One GraphQL request as received: its operation name, document and variables."""

    seq: int
    operation: str
    query: str
    variables: dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One entry of the change journal: which state method changed what, when, and on whose behalf.

    ``target`` is ``entity/project/collection[:vN]`` for artifact changes and ``entity/project/run_id``
    for run changes; ``value`` is the alias, tag or run state involved, if any.
    """

    seq: int
    kind: str
    at: datetime
    author: str
    target: str
    value: str | None


@dataclass(frozen=True)
class IntegrationInfo:
    """A webhook (``name``, ``url_endpoint``) or Slack (``team_name``, ``channel_name``) integration."""

    id: str
    kind: str
    entity: str
    name: str | None = None
    url_endpoint: str | None = None
    team_name: str | None = None
    channel_name: str | None = None


# Built from the records ----------------------------------------------------------------------------


def username(creator: model.User | model.Run) -> str:
    return creator.username if isinstance(creator, model.User) else creator.user.username


def collection_path(collection: model.Collection) -> str:
    return f"{collection.project.entity.name}/{collection.project.name}/{collection.name}"


def version_path(membership: model.Membership) -> str:
    return f"{collection_path(membership.collection)}:{membership.version}"


def run_path(run: model.Run) -> str:
    return f"{run.project.entity.name}/{run.project.name}/{run.name}"


def version(membership: model.Membership) -> ArtifactVersion:
    collection, artifact = membership.collection, membership.artifact
    return ArtifactVersion(
        artifact_id=artifact.id,
        membership_id=membership.id,
        entity=collection.project.entity.name,
        project=collection.project.name,
        collection=collection.name,
        collection_id=collection.id,
        collection_type=collection.kind.value,
        version=membership.version,
        version_index=membership.version_index,
        state=artifact.state.value,
        digest=artifact.digest,
        aliases=tuple(a.alias for a in membership.aliases),
        created_at=membership.created_at,
    )


def run_info(run: model.Run) -> RunInfo:
    return RunInfo(
        run.id, run.name, run.project.entity.name, run.project.name, run.display_name, run.state.value,
        run.user.username, run.last_step, run.created_at, run.heartbeat_at,
    )


def queue_info(queue: model.RunQueue) -> QueueInfo:
    return QueueInfo(queue.id, queue.project.entity.name, queue.project.name, queue.name, queue.created_at)


def queued(item: model.QueueItem) -> QueuedItem:
    return QueuedItem(
        item.id, item.queue.name, item.run_spec, item.priority, item.template_variable_values, item.created_at
    )


def integration(found: model.Integration) -> IntegrationInfo:
    if isinstance(found, model.WebhookIntegration):
        return IntegrationInfo(found.id, "GenericWebhookIntegration", found.entity.name, name=found.name,
                               url_endpoint=found.url_endpoint)
    return IntegrationInfo(found.id, "SlackIntegration", found.entity.name, team_name=found.team_name,
                           channel_name=found.channel_name)
