"""Event key → kind. Registering two kinds for one key, or two keys for one W&B type, is an error (ESO
style)."""

from __future__ import annotations

from collections.abc import Iterable

from wbauto.api import automation
from wbauto.api.event import EventType
from wbauto.engine.events.artifact import ArtifactEvent
from wbauto.engine.events.base import EventKind
from wbauto.engine.events.run import RunMetricEvent, RunStateEvent


def register(kinds: Iterable[EventKind]) -> dict[str, EventKind]:
    out: dict[str, EventKind] = {}
    types: dict[EventType, EventKind] = {}
    for kind in kinds:
        if kind.key in out:
            raise ValueError(f"two event kinds registered for key {kind.key!r}: {out[kind.key]!r} and {kind!r}")
        if kind.wandb_type in types:
            raise ValueError(f"two event kinds registered for W&B type {kind.wandb_type.value}: "
                             f"{types[kind.wandb_type].key!r} and {kind.key!r}")
        out[kind.key] = types[kind.wandb_type] = kind
    return out


def of(event: automation.Event) -> EventKind:
    """The kind of an Automation's ``spec.event`` (the keyed union)."""
    return KINDS[event.key]


def typed(type_: EventType) -> EventKind | None:
    """The kind whose executions record ``type_`` (None for the internal RUN_HISTORY)."""
    return BY_TYPE.get(type_)


def imported(wandb_name: str) -> EventKind | None:
    """The kind a W&B saved automation's ``eventType`` converts to, if any."""
    return BY_WANDB_NAME.get(wandb_name)


KINDS = register([
    ArtifactEvent(key="artifactVersionCreated", model=automation.ArtifactVersionCreated,
                  wandb_type=EventType.CREATE_ARTIFACT, scopes=frozenset({"collection"})),
    ArtifactEvent(key="artifactLinked", model=automation.ArtifactLinked, wandb_type=EventType.LINK_MODEL,
                  payload_type="LINK_ARTIFACT", imported_as=("LINK_ARTIFACT",)),
    ArtifactEvent(key="artifactUnlinked", model=automation.ArtifactUnlinked, wandb_type=EventType.UNLINK_ARTIFACT),
    ArtifactEvent(key="artifactAliasAdded", model=automation.ArtifactAliasAdded,
                  wandb_type=EventType.ADD_ARTIFACT_ALIAS, subject="alias", alias_names_version=True,
                  imported_as=("UPDATE_ARTIFACT_ALIAS",)),
    ArtifactEvent(key="artifactTagAdded", model=automation.ArtifactTagAdded, wandb_type=EventType.ADD_ARTIFACT_TAG,
                  subject="tag"),
    ArtifactEvent(key="artifactTagRemoved", model=automation.ArtifactTagRemoved,
                  wandb_type=EventType.REMOVE_ARTIFACT_TAG, subject="tag"),
    ArtifactEvent(key="collectionTagAdded", model=automation.CollectionTagAdded,
                  wandb_type=EventType.ADD_COLLECTION_TAG, subject="tag", on_collection=True),
    ArtifactEvent(key="collectionTagRemoved", model=automation.CollectionTagRemoved,
                  wandb_type=EventType.REMOVE_COLLECTION_TAG, subject="tag", on_collection=True),
    RunMetricEvent(key="runMetricThreshold", model=automation.RunMetricThreshold, wandb_type=EventType.RUN_METRIC),
    RunMetricEvent(key="runMetricChange", model=automation.RunMetricChange, wandb_type=EventType.RUN_METRIC_CHANGE),
    RunMetricEvent(key="runMetricZScore", model=automation.RunMetricZScore, wandb_type=EventType.RUN_METRIC_ZSCORE),
    RunStateEvent(key="runStateChanged", model=automation.RunStateChanged, wandb_type=EventType.RUN_STATE),
])
BY_TYPE = {kind.wandb_type: kind for kind in KINDS.values()}
BY_WANDB_NAME = {name: kind for kind in KINDS.values() for name in (kind.wandb_type.value, *kind.imported_as)}
