"""Run events: a run entering a state (W&B ``RUN_STATE``) and run metric conditions (``RUN_METRIC``,
``RUN_METRIC_CHANGE``, ``RUN_METRIC_ZSCORE``). They take project and entity scopes and ``spec.runFilter``;
metric events match the new history rows the poller read (``RUN_HISTORY``) and record the concrete
metric event at the first value where the condition holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wbauto.api.automation import AutomationSpec, RunMetricChange, RunMetricThreshold, RunState
from wbauto.api.event import Event, EventType, MetricSeries, RunInfo, Source
from wbauto.engine import filters, metrics
from wbauto.engine.events.base import Accepted, EventKind, Feed, Place

RUN_SCOPES = frozenset({"project", "entity"})
RUN_VARIABLES = ("run_name", "run_id", "run_url")
METRIC_VARIABLES = ("metric_name", "metric_values", "metric_filter", "metric_filter_short", "metric_current_status",
                    "metric_value", "metric_step")

# W&B run states → the states an automation can name (crashed counts as FAILED; killed never fires)
RUN_STATES = {"running": RunState.RUNNING, "finished": RunState.FINISHED, "failed": RunState.FAILED,
              "crashed": RunState.FAILED}


def run_filter_holds(spec: AutomationSpec, event: Event) -> bool:
    """The run filter (with its short forms, name regex and user) accepts the event's run."""
    f = spec.run_filter
    if f is None or event.run is None:
        return True
    if f.name_regex is not None and not filters.search(f.name_regex, event.run.display_name or event.run.id):
        return False
    if f.user is not None and f.user != event.run.user:
        return False
    return filters.holds(f.expression, filters.run_lookup(event.run))


def _sample_run(state: str) -> RunInfo:
    return RunInfo(id="3kq9x2ab", display_name="train-resnet-42", user="alice", state=state, previous_state="RUNNING")


@dataclass(frozen=True, kw_only=True)
class RunStateEvent(EventKind):
    """A run enters one of the settings' states."""

    feed: Feed = Feed.RUNS
    scopes: frozenset[str] = RUN_SCOPES

    @property
    def variables(self) -> tuple[str, ...]:
        return (*RUN_VARIABLES, "run_status")

    def accepts(self, spec: AutomationSpec, event: Event) -> Accepted | None:
        if not run_filter_holds(spec, event):
            return None
        if event.type is not self.wandb_type or event.run is None:
            return None
        state = RUN_STATES.get(event.run.state.lower())
        return (event, None) if state in spec.event.config.states else None  # type: ignore[attr-defined]

    def sample(self, spec: AutomationSpec, place: Place) -> Accepted:
        run = _sample_run(spec.event.config.states[0].value)  # type: ignore[attr-defined]
        return Event(id="sample", type=self.wandb_type, time=place.now, source=Source.TEST, author="alice",
                     entity=place.entity, project=place.project, run=run), None


@dataclass(frozen=True, kw_only=True)
class RunMetricEvent(EventKind):
    """A metric condition (``wbauto.engine.metrics``) holds at a newly logged value."""

    feed: Feed = Feed.RUNS
    scopes: frozenset[str] = RUN_SCOPES
    receivable: bool = False  # windows are evaluated on run history, which only the poller reads

    @property
    def observed(self) -> EventType:
        return EventType.RUN_HISTORY

    @property
    def variables(self) -> tuple[str, ...]:
        return (*RUN_VARIABLES, *METRIC_VARIABLES)

    def history(self, config: Any) -> dict[str, int]:
        condition: metrics.Condition = config
        return {condition.metric: metrics.needed_values(condition)}

    def accepts(self, spec: AutomationSpec, event: Event) -> Accepted | None:
        if not run_filter_holds(spec, event):
            return None
        if event.type is not EventType.RUN_HISTORY:
            return None
        condition: metrics.Condition = spec.event.config  # type: ignore[assignment]
        series = next((m for m in event.metrics if m.name == condition.metric), None)
        if series is None:
            return None
        result = metrics.first_firing(series, condition)
        if result is None:
            return None
        trimmed = MetricSeries(name=series.name, steps=[result.step], values=[result.value], new_from=0)
        specific = event.model_copy(update={
            "type": self.wandb_type, "metrics": [trimmed],
            "id": f"{event.id}-{self.key}-{result.step}",
        })
        return specific, result

    def sample(self, spec: AutomationSpec, place: Place) -> Accepted:
        run = _sample_run("RUNNING")
        condition: metrics.Condition = spec.event.config  # type: ignore[assignment]
        values = _series_that_fires(condition)
        series = MetricSeries(name=condition.metric, steps=list(range(len(values))), values=values,
                              new_from=len(values) - 1)
        history = Event(id="sample", type=EventType.RUN_HISTORY, time=place.now, source=Source.TEST,
                        author=run.user, entity=place.entity, project=place.project, run=run, metrics=[series])
        accepted = self.accepts(spec.model_copy(update={"run_filter": None}), history)  # the sample run is made up
        return accepted if accepted is not None else (history, None)


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
