"""The one Event structure every source produces (poller and inbound receiver alike).

It carries everything W&B's payload variables need. Run-metric events carry the metric history the
poller saw, so matching can evaluate W&B's windows without another W&B request.
"""

from __future__ import annotations

import datetime
import hashlib
from enum import StrEnum
from typing import Any

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from wbauto.api.schema import Model


class EventType(StrEnum):
    """W&B's ``EventTriggeringConditionType`` values (the backend spelling)."""

    CREATE_ARTIFACT = "CREATE_ARTIFACT"
    LINK_MODEL = "LINK_MODEL"
    UNLINK_ARTIFACT = "UNLINK_ARTIFACT"
    ADD_ARTIFACT_ALIAS = "ADD_ARTIFACT_ALIAS"
    ADD_ARTIFACT_TAG = "ADD_ARTIFACT_TAG"
    REMOVE_ARTIFACT_TAG = "REMOVE_ARTIFACT_TAG"
    ADD_COLLECTION_TAG = "ADD_COLLECTION_TAG"
    REMOVE_COLLECTION_TAG = "REMOVE_COLLECTION_TAG"
    RUN_METRIC = "RUN_METRIC"
    RUN_METRIC_CHANGE = "RUN_METRIC_CHANGE"
    RUN_METRIC_ZSCORE = "RUN_METRIC_ZSCORE"
    RUN_STATE = "RUN_STATE"
    RUN_HISTORY = "RUN_HISTORY"
    """Internal: new history rows of a run. Matching turns it into RUN_METRIC* executions."""


class Source(StrEnum):
    POLL = "poll"
    RECEIVER = "receiver"
    TEST = "test"


class ArtifactInfo(Model):
    """The artifact version (or collection, for collection tag events) the event is about."""

    id: str = Field("", description="W&B Artifact id (base64), as in wandb-artifact://_id/<id>.")
    collection: str = Field("", description="Collection name the event happened in.")
    collection_type: str = Field("", description="ArtifactSequence or ArtifactPortfolio.")
    type: str = Field("", description="Artifact type, e.g. model or dataset.")
    version_index: int | None = Field(None, description="Version index in this collection.")
    version: str = Field("", description="Version in this collection, e.g. v3.")
    digest: str = Field("", description="Content digest.")
    aliases: list[str] = Field(default_factory=list, description="Aliases at the time of the event.")
    tags: list[str] = Field(default_factory=list, description="Tags at the time of the event.")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Artifact metadata (top-level keys feed ${artifact_metadata.KEY}).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    created_at: datetime.datetime | None = Field(None, description="When the version was created.")


class RunInfo(Model):
    """The run a run event is about."""

    id: str = Field(description="Run id (W&B `name`).")
    display_name: str = Field("", description="Run display name.")
    state: str = Field("", description="Run state (RUNNING, FINISHED, FAILED, CRASHED, KILLED).")
    previous_state: str = Field("", description="State before this event (run state events).")
    user: str = Field("", description="Username of the run's owner.")
    tags: list[str] = Field(default_factory=list, description="The run's tags.")
    group: str = Field("", description="The run's group (empty: none).")
    job_type: str = Field("", description="The run's job type (empty: none).")
    created_at: datetime.datetime | None = Field(None, description="When the run was created.")
    heartbeat_at: datetime.datetime | None = Field(None, description="The run's last heartbeat, as read.")
    config: SkipJsonSchema[dict[str, Any]] = Field(
        default_factory=dict, exclude=True, description="The run's config as W&B keeps it (read for run "
        "filters only; never stored).")
    summary_metrics: SkipJsonSchema[dict[str, Any]] = Field(
        default_factory=dict, exclude=True, description="The run's summary (run filters only; never stored).")


class MetricSeries(Model):
    """History values of one metric: the tail the windows need plus the rows new since the last poll."""

    name: str = Field(description="Metric key.")
    steps: list[int] = Field(default_factory=list, description="History steps, ascending.")
    values: list[float] = Field(default_factory=list, description="Values at those steps.")
    new_from: int = Field(0, ge=0, description="Index of the first value not seen before.")


class Event(Model):
    """Something that happened in W&B."""

    id: str = Field(description="Deterministic id: the same happening always gets the same id.")
    type: EventType = Field(description="W&B event type.")
    time: datetime.datetime = Field(description="When it happened (or was observed).")
    source: Source = Field(Source.POLL, description="poll, receiver or test.")
    author: str = Field("", description="Username of whoever caused it (${event_author}).")
    entity: str = Field(description="Entity owning the changed object.")
    project: str = Field(description="Project owning it (wandb-registry-<name> for a registry).")
    alias: str = Field("", description="The alias (alias events).")
    tag: str = Field("", description="The tag (tag events).")
    artifact: ArtifactInfo | None = Field(None, description="Artifact events.")
    run: RunInfo | None = Field(None, description="Run events.")
    metrics: list[MetricSeries] = Field(default_factory=list, description="RUN_HISTORY: new rows per metric.")

    def summary(self) -> str:
        """One line for humans, e.g. ``ADD_ARTIFACT_ALIAS production on acme/proj/model:v3``."""
        if self.artifact is not None:
            what = f"{self.entity}/{self.project}/{self.artifact.collection}"
            if self.artifact.version:
                what += f":{self.artifact.version}"
            detail = self.alias or self.tag
            return f"{self.type.value} {detail + ' on ' if detail else ''}{what}"
        if self.run is not None:
            return f"{self.type.value} run {self.entity}/{self.project}/{self.run.id} ({self.run.state})"
        return f"{self.type.value} {self.entity}/{self.project}"


def event_id(*parts: object) -> str:
    """A short deterministic id from the parts that identify a happening."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return digest[:32]
