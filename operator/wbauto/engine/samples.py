"""Sample events for an Automation (pure): what ``wbauto render`` and ``wbauto test-webhook`` preview."""

from __future__ import annotations

import base64
import datetime

from wbauto.api.automation import REGISTRY_PREFIX, AutomationSpec, RunMetricChange, RunMetricThreshold
from wbauto.api.event import ArtifactInfo, Event, EventType, MetricSeries, RunInfo, Source
from wbauto.engine import matching, metrics


def _where(spec: AutomationSpec) -> tuple[str, str, str]:
    """The scope's entity, project and collection, made up where the scope covers many."""
    entity, project, collection = spec.scope.where
    return entity, project or "my-project", collection or "my-model"


def _example(pattern: str | None, fallback: str) -> str:
    """A plausible value for an alias/tag regex like ``^production$`` or ``^prod.*``."""
    if not pattern:
        return fallback
    literal = "".join(ch for ch in pattern.strip("^$") if ch.isalnum() or ch in "-_.")
    return literal.rstrip(".") or fallback


def sample_event(spec: AutomationSpec, now: datetime.datetime | None = None) -> tuple[Event, metrics.Evaluation | None]:
    """An event this Automation would fire on, with realistic values."""
    now = now or datetime.datetime.now(datetime.UTC)
    entity, project, collection = _where(spec)
    key = spec.event.key
    if key in matching.ARTIFACT_EVENTS:
        cfg = spec.event.config
        alias = _example(getattr(cfg, "alias_regex", None), "production") if key == "artifactAliasAdded" else ""
        tag = _example(getattr(cfg, "tag_regex", None), "candidate") if "Tag" in key else ""
        collection_type = "ArtifactPortfolio" if project.startswith(REGISTRY_PREFIX) else "ArtifactSequence"
        if key.startswith("collection"):  # collection events carry the collection only, as the poller's do
            artifact = ArtifactInfo(collection=collection, collection_type=collection_type, type="model")
        else:
            artifact = ArtifactInfo(
                id=base64.b64encode(b"Artifact:1234").decode(), collection=collection,
                collection_type=collection_type, type="model", version_index=3, version="v3",
                digest="d41d8cd98f00b204e9800998ecf8427e", aliases=[a for a in ("latest", alias) if a],
                metadata={"accuracy": 0.93, "framework": "pytorch"}, created_at=now)
        return Event(id="sample", type=matching.ARTIFACT_EVENTS[key], time=now, source=Source.TEST, author="alice",
                     entity=entity, project=project, alias=alias, tag=tag, artifact=artifact), None
    run = RunInfo(id="3kq9x2ab", display_name="train-resnet-42", user="alice",
                  state="FAILED" if key == "runStateChanged" else "RUNNING", previous_state="RUNNING")
    if key == "runStateChanged":
        assert spec.event.run_state_changed is not None
        run = run.model_copy(update={"state": spec.event.run_state_changed.states[0].value})
        return Event(id="sample", type=EventType.RUN_STATE, time=now, source=Source.TEST, author="alice",
                     entity=entity, project=project, run=run), None
    condition: metrics.Condition = spec.event.config  # type: ignore[assignment]
    values = _series_that_fires(condition)
    series = MetricSeries(name=condition.metric, steps=list(range(len(values))), values=values,
                          new_from=len(values) - 1)
    history = Event(id="sample", type=EventType.RUN_HISTORY, time=now, source=Source.TEST, author=run.user,
                    entity=entity, project=project, run=run, metrics=[series])
    accepted = matching.evaluate(spec.model_copy(update={"run_filter": None}), history)  # the sample run is made up
    if accepted is None:
        return history, None
    return accepted


def _series_that_fires(condition: metrics.Condition) -> list[float]:
    """Values ending in a point where ``condition`` holds."""
    n = metrics.needed_values(condition)
    if isinstance(condition, RunMetricThreshold):
        margin = max(abs(condition.threshold) * 0.2, 0.01)
        below = condition.cmp.value in ("$lt", "$lte")
        return [condition.threshold - margin if below else condition.threshold + margin] * n
    if isinstance(condition, RunMetricChange):  # a prior plateau, then a jump in the chosen direction
        current = condition.current_window
        prior = n - current
        direction = -1.0 if condition.direction.value == "DECREASE" else 1.0
        jump = condition.amount * 2  # ABSOLUTE: twice the amount; RELATIVE: twice the fraction of 1.0
        return [1.0] * prior + [1.0 + direction * jump] * current
    direction = -1.0 if condition.direction.value == "DECREASE" else 1.0
    base = [1.0 + (0.01 if i % 2 else -0.01) for i in range(n - 1)]
    return [*base, 1.0 + direction * (condition.threshold * 0.01 + 1.0)]
