"""Artifact and collection events (W&B's mutation events): a version created, linked or unlinked, an alias
added, a tag added to or removed from a version or a collection. Their settings hold at most a regex on
the alias or tag (``aliasRegex`` / ``tagRegex``); ``event.filter`` holds W&B's filter on both."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from wbauto.api.automation import REGISTRY_PREFIX, AutomationSpec
from wbauto.api.event import ArtifactInfo, Event, Source
from wbauto.engine import filters
from wbauto.engine.events.base import Accepted, EventKind, Feed, Place

VERSION_VARIABLES = ("artifact_collection_name", "artifact_version", "artifact_version_string",
                     "artifact_version_index", "artifact_metadata.<KEY>", "artifact_url")


def example(pattern: str | None, fallback: str) -> str:
    """A plausible value for an alias/tag regex like ``^production$`` or ``^prod.*``."""
    if not pattern:
        return fallback
    literal = "".join(ch for ch in pattern.strip("^$") if ch.isalnum() or ch in "-_.")
    return literal.rstrip(".") or fallback


@dataclass(frozen=True, kw_only=True)
class ArtifactEvent(EventKind):
    """An event on an artifact version or, with ``on_collection``, on a collection (no version)."""

    feed: Feed = Feed.ARTIFACTS
    on_collection: bool = False

    @property
    def variables(self) -> tuple[str, ...]:
        held = ("artifact_collection_name",) if self.on_collection else VERSION_VARIABLES
        return (*held, self.subject) if self.subject else held

    def pattern(self, config: Any) -> str | None:
        found: str | None = getattr(config, f"{self.subject}_regex", None) if self.subject else None
        return found

    def accepts(self, spec: AutomationSpec, event: Event) -> Accepted | None:
        if event.type is not self.wandb_type:
            return None
        if self.subject and not _search(self.pattern(spec.event.config),
                                        event.alias if self.subject == "alias" else event.tag):
            return None
        expression = spec.event.filter_expression
        if expression is not None and not filters.holds(expression, filters.artifact_lookup(event)):
            return None
        return event, None

    def sample(self, spec: AutomationSpec, place: Place) -> Accepted:
        pattern = self.pattern(spec.event.config)
        alias = example(pattern, "production") if self.subject == "alias" else ""
        tag = example(pattern, "candidate") if self.subject == "tag" else ""
        collection_type = "ArtifactPortfolio" if place.project.startswith(REGISTRY_PREFIX) else "ArtifactSequence"
        if self.on_collection:  # collection events carry the collection only, as the poller's do
            artifact = ArtifactInfo(collection=place.collection, collection_type=collection_type, type="model")
        else:
            artifact = ArtifactInfo(
                id=base64.b64encode(b"Artifact:1234").decode(), collection=place.collection,
                collection_type=collection_type, type="model", version_index=3, version="v3",
                digest="d41d8cd98f00b204e9800998ecf8427e", aliases=[a for a in ("latest", alias) if a],
                metadata={"accuracy": 0.93, "framework": "pytorch"}, created_at=place.now)
        return Event(id="sample", type=self.wandb_type, time=place.now, source=Source.TEST, author="alice",
                     entity=place.entity, project=place.project, alias=alias, tag=tag, artifact=artifact), None


def _search(pattern: str | None, text: str) -> bool:
    return pattern is None or filters.search(pattern, text)
