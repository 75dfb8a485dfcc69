"""The event contract: one base class, one module per family of events, one registry.

An event kind (a key of ``Automation.spec.event``) knows everything about itself that the rest of the
operator needs:

- :attr:`EventKind.key`, :attr:`EventKind.model`: its spec key and the model of its settings;
- :attr:`EventKind.wandb_type`: W&B's ``EventTriggeringConditionType`` (``status.eventType``, payloads'
  ``${event_type}`` unless :attr:`EventKind.payload_type` says otherwise), and :attr:`EventKind.observed`,
  the type of the events the sources produce for it (a metric event matches new run history);
- :attr:`EventKind.scopes`: the scope kinds it accepts (the Automation CRD's CEL rules say the same;
  ``tests/unit/test_event_contract.py`` holds them together);
- :attr:`EventKind.feed`: which read of the poller produces it, and :attr:`EventKind.receivable`, whether
  W&B's own webhooks can deliver it to the receiver;
- :meth:`EventKind.history`: the run history matching needs (metric → trailing values the poller keeps);
- :meth:`EventKind.accepts`: whether an Automation's event and filters accept an event (matching);
- :meth:`EventKind.sample`: an event it would fire on (``wbauto render``, ``wbauto test-webhook``, the
  payload check of the reconciler);
- :attr:`EventKind.variables`: the payload variables its executions fill besides :data:`COMMON_VARIABLES`.

A new event type is four files: its model (a key of ``Automation.spec.event`` in
``wbauto.api.automation``), its W&B type in ``wbauto.api.event.EventType``, its line in
:mod:`wbauto.engine.events.registry` and the source that produces it (``wbauto.sources.artifacts`` or
``wbauto.sources.runs``). See docs/contributing.md.
"""

from __future__ import annotations

import datetime
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wbauto.api.automation import SCOPE_KINDS, AutomationSpec
from wbauto.api.event import Event, EventType
from wbauto.api.schema import Model
from wbauto.engine import metrics

COMMON_VARIABLES = ("event_type", "event_author", "entity_name", "project_name", "automation_name", "event_id")
"""The payload variables every execution fills, whatever its event."""

Accepted = tuple[Event, metrics.Evaluation | None]
"""The event to record (e.g. run history made the concrete RUN_METRIC event) and the metric evaluation."""


class Feed(StrEnum):
    """Which read of a project's poller produces an event kind."""

    ARTIFACTS = "artifacts"  # collections, versions, aliases and tags (wbauto.sources.artifacts)
    RUNS = "runs"  # runs: their states and history (wbauto.sources.runs)


@dataclass(frozen=True)
class Place:
    """Where a sample event happens: the scope's names, made up where the scope covers many."""

    entity: str
    project: str
    collection: str
    now: datetime.datetime


@dataclass(frozen=True, kw_only=True)
class EventKind(ABC):
    """Base of every event kind."""

    key: str  # the key in Automation.spec.event, e.g. "artifactAliasAdded"
    model: type[Model]  # the model of its settings, e.g. wbauto.api.automation.ArtifactAliasAdded
    wandb_type: EventType  # W&B's EventTriggeringConditionType
    feed: Feed
    scopes: frozenset[str] = frozenset(SCOPE_KINDS)
    subject: str = ""  # "alias" or "tag": what the event adds or removes (its regex, ${alias} / ${tag})
    alias_names_version: bool = False  # ${artifact_version_string} ends with the alias added, not the version
    receivable: bool = True  # W&B's webhooks can deliver it to the receiver
    payload_type: str = ""  # ${event_type} when the payloads spell it otherwise than wandb_type
    imported_as: tuple[str, ...] = field(default=())  # W&B eventType values `wbauto import` reads as this kind

    @property
    def observed(self) -> EventType:
        """The type of the events the sources produce for this kind (what matching indexes on)."""
        return self.wandb_type

    @property
    def display(self) -> str:
        """``${event_type}`` of its executions."""
        return self.payload_type or self.wandb_type.value

    @property
    @abstractmethod
    def variables(self) -> tuple[str, ...]:
        """The payload variables its executions fill besides COMMON_VARIABLES (``artifact_metadata.<KEY>``
        stands for every metadata key)."""

    def pattern(self, config: Any) -> str | None:
        """The regex its settings put on the subject (an alias or a tag), if any."""
        return None

    def history(self, config: Any) -> dict[str, int]:
        """Run history matching needs: metric → trailing values to keep."""
        return {}

    @abstractmethod
    def accepts(self, spec: AutomationSpec, event: Event) -> Accepted | None:
        """Whether ``spec``'s event and filters accept ``event`` (scope and ``enabled`` are checked by
        matching)."""

    @abstractmethod
    def sample(self, spec: AutomationSpec, place: Place) -> Accepted:
        """An event ``spec`` would fire on, with realistic values."""
