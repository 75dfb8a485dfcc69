"""Which W&B scopes to poll and what to read in each, from the loaded Automations (pure).

Automations are grouped by the project they look at (a registry is the project
``wandb-registry-<name>`` of the organization's entity; an entity scope covers all the entity's
projects), so every Automation on a scope shares one poller and the request count does not grow with
the number of Automations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from wbauto.api.automation import AutomationSpec
from wbauto.api.manifests import Resource
from wbauto.engine.events import registry
from wbauto.engine.events.base import Feed


@dataclass(frozen=True)
class ScopeKey:
    entity: str
    project: str | None  # None: every project of the entity

    def __str__(self) -> str:
        return f"{self.entity}/{self.project or '*'}"

    def __lt__(self, other: ScopeKey) -> bool:
        """By entity, the entity scope (project None) before its projects: an entity scope and project scopes of
        the same entity sort together (run events on a team scope come with project scopes of that team)."""
        return ((self.entity, self.project is not None, self.project or "")
                < (other.entity, other.project is not None, other.project or ""))

    def watches(self, project: ScopeKey) -> bool:
        """Whether this scope reads ``project``: itself, or, for an entity scope, each of the entity's projects."""
        return self == project or (self.project is None and self.entity == project.entity)


@dataclass
class Needs:
    """What a scope's poller must read."""

    artifacts: bool = False
    collections: set[str] | None = field(default_factory=set)  # None: every collection
    runs: bool = False
    metrics: dict[str, int] = field(default_factory=dict)  # metric → trailing values to keep

    def merge(self, other: Needs) -> None:
        self.artifacts |= other.artifacts
        if self.collections is None or other.collections is None:
            self.collections = None
        else:
            self.collections |= other.collections
        self.runs |= other.runs
        for name, n in other.metrics.items():
            self.metrics[name] = max(n, self.metrics.get(name, 0))


def needs_of(spec: AutomationSpec) -> tuple[ScopeKey, Needs]:
    """The scope an Automation's poller reads and what it reads there (the event kind's feed and history)."""
    kind = registry.of(spec.event)
    needs = Needs()
    if kind.feed is Feed.RUNS:
        needs.runs = True
        needs.metrics.update(kind.history(spec.event.config))
    else:
        needs.artifacts = True
        needs.collections = None
    entity, project, collection = spec.scope.where
    if collection is not None:
        needs.collections = {collection}
    return ScopeKey(entity, project), needs


def plan(automations: Iterable[Resource]) -> dict[ScopeKey, Needs]:
    """Scope → merged needs. Disabled Automations count too: their scope stays polled (matching skips
    them), so re-enabling one does not replay what happened while it was off."""
    out: dict[ScopeKey, Needs] = {}
    for res in automations:
        spec: AutomationSpec = res.spec  # type: ignore[assignment]
        key, needs = needs_of(spec)
        out.setdefault(key, Needs(collections=set())).merge(needs)
    return out
