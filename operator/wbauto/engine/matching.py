"""Matching (pure): an event and the loaded automations → the executions to create.

The scope (``Scope.covers``), ``enabled`` and the event kind (``wbauto.engine.events``: event type,
alias/tag regex, the artifact-event filter and the run filter — W&B's expressions, see
``wbauto.engine.filters`` — with the name regex and user short forms, metric windows) decide whether an
automation matches. Run events fire at most once per run per 24 hours per automation (W&B's rule);
those suppressed are not recorded. On top, an automation's ``rateLimit`` turns further matches into
``Skipped`` executions, so the history shows them. One event can fire many automations.

Regular expressions run on RE2 (``google-re2``): linear time whatever the pattern and the text, the
same engine and syntax as Kubernetes CEL's ``matches()`` and W&B's own run filters.

Firing state is noted when a match is decided and undone (:meth:`FiringState.undo`) when its execution
could not be stored, so a store failure never turns into a suppressed or rate-limited event on retry.
"""

from __future__ import annotations

import contextlib
import datetime
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from wbauto.api.automation import AutomationSpec
from wbauto.api.event import Event, EventType
from wbauto.api.manifests import Resource
from wbauto.api.schema import parse_duration
from wbauto.engine import templates
from wbauto.engine.events import registry
from wbauto.engine.events.base import Accepted

RUN_RULE = datetime.timedelta(hours=24)


@dataclass(frozen=True)
class Note:
    """What deciding one match wrote into the firing state, so it can be taken back."""

    automation: str
    at: datetime.datetime
    run: str | None = None
    previous_run_fire: datetime.datetime | None = None
    counted: bool = False


@dataclass(frozen=True)
class Match:
    automation: Resource
    event: Event
    variables: dict[str, str]
    skip_reason: str | None = None
    note: Note | None = None
    error: str | None = None  # the Automation could not evaluate the event: recorded as a Failed execution


@dataclass
class FiringState:
    """What matching remembers between events: last firing per (automation, run), recent firings per
    automation (rate limits). The runtime rebuilds it from recent executions after a restart."""

    last_run_fire: dict[tuple[str, str], datetime.datetime] = field(default_factory=dict)
    recent: dict[str, deque[datetime.datetime]] = field(default_factory=dict)

    def note_run_fire(self, automation: str, run: str, at: datetime.datetime) -> None:
        self.last_run_fire[(automation, run)] = at

    def note_fire(self, automation: str, at: datetime.datetime) -> None:
        self.recent.setdefault(automation, deque()).append(at)

    def undo(self, note: Note) -> None:
        """Take back what deciding a match noted (its execution was not stored)."""
        if note.run is not None:
            key = (note.automation, note.run)
            if self.last_run_fire.get(key) == note.at:
                if note.previous_run_fire is None:
                    del self.last_run_fire[key]
                else:
                    self.last_run_fire[key] = note.previous_run_fire
        if note.counted:
            queue = self.recent.get(note.automation)
            if queue is not None:
                with contextlib.suppress(ValueError):
                    queue.remove(note.at)
                if not queue:
                    del self.recent[note.automation]

    def prune(self, now: datetime.datetime, longest_period: datetime.timedelta) -> None:
        self.last_run_fire = {k: t for k, t in self.last_run_fire.items() if now - t < RUN_RULE}
        for key in list(self.recent):
            q = self.recent[key]
            while q and now - q[0] >= longest_period:
                q.popleft()
            if not q:
                del self.recent[key]


def automation_key(res: Resource) -> str:
    return f"{res.namespace}/{res.name}"


_LITERAL = re.compile(r"\^([A-Za-z0-9_\-]+)\$")  # an anchored plain word, e.g. ^production$
GroupKey = tuple[str, str | None, EventType]


def _literal(spec: AutomationSpec) -> str | None:
    """The exact alias/tag an Automation's regex accepts, when it is an anchored plain word."""
    pattern = registry.of(spec.event).pattern(spec.event.config)
    found = _LITERAL.fullmatch(pattern) if pattern else None
    return found.group(1) if found else None


@dataclass(frozen=True)
class Index:
    """Automations by (entity, project or None for entity scopes, triggering event type) — and, for
    alias/tag regexes like ``^production$``, by that word: an event only meets the Automations that
    could match it, however many are loaded."""

    groups: dict[GroupKey, list[Resource]]
    exact: dict[tuple[GroupKey, str], list[Resource]] = field(default_factory=dict)

    @classmethod
    def build(cls, automations: Iterable[Resource]) -> Index:
        groups: dict[GroupKey, list[Resource]] = {}
        exact: dict[tuple[GroupKey, str], list[Resource]] = {}
        for res in automations:
            spec: AutomationSpec = res.spec  # type: ignore[assignment]
            entity, project, _ = spec.scope.where
            key = (entity, project, registry.of(spec.event).observed)
            word = _literal(spec)
            if word is None:
                groups.setdefault(key, []).append(res)
            else:
                exact.setdefault((key, word), []).append(res)
        return cls(groups, exact)

    def candidates(self, event: Event) -> list[Resource]:
        word = event.alias or event.tag
        out: list[Resource] = []
        for key in ((event.entity, event.project, event.type), (event.entity, None, event.type)):
            out += self.groups.get(key, ())
            if word:
                out += self.exact.get((key, word), ())
        return out


def evaluate(spec: AutomationSpec, event: Event) -> Accepted | None:
    """Whether ``spec``'s event and filters accept ``event``; returns the event to record (a run-history
    observation becomes the concrete RUN_METRIC* event) and the metric evaluation, if any."""
    return registry.of(spec.event).accepts(spec, event)


def match(
    event: Event,
    automations: Iterable[Resource] | Index,
    state: FiringState,
    now: datetime.datetime,
    *,
    app_url: str = "https://wandb.ai",
) -> list[Match]:
    """The executions ``event`` makes. One Automation whose evaluation fails (a bug, a value nothing
    expected) gives a Match with ``error`` set, and every other Automation is matched as usual."""
    out: list[Match] = []
    for res in automations.candidates(event) if isinstance(automations, Index) else automations:
        try:
            found = _match_one(res, event, state, now, app_url)
        except Exception as exc:  # isolate: one Automation must not stop the others
            out.append(Match(res, event, {}, error=f"the event could not be evaluated: {type(exc).__name__}: "
                                                  f"{str(exc)[:300]}"))
            continue
        if found is not None:
            out.append(found)
    return out


def _match_one(res: Resource, event: Event, state: FiringState, now: datetime.datetime,
               app_url: str) -> Match | None:
    spec: AutomationSpec = res.spec  # type: ignore[assignment]
    if not spec.enabled or not spec.scope.covers(event):
        return None
    accepted = evaluate(spec, event)
    if accepted is None:
        return None
    specific, evaluation = accepted
    values = templates.variables(specific, automation_name=spec.display_name or res.name,
                                 evaluation=evaluation, app_url=app_url)
    key = automation_key(res)
    run, previous = None, None
    if specific.run is not None:
        last = state.last_run_fire.get((key, specific.run.id))
        if last is not None and now - last < RUN_RULE:
            return None  # W&B: at most once per run per 24 h per automation
        run, previous = specific.run.id, last
        state.note_run_fire(key, specific.run.id, now)
    skip = None
    if spec.rate_limit is not None:
        period = parse_duration(spec.rate_limit.period)
        recent = [t for t in state.recent.get(key, ()) if now - t < period]
        if len(recent) >= spec.rate_limit.max_executions:
            skip = (f"rate limit: {spec.rate_limit.max_executions} executions per "
                    f"{spec.rate_limit.period} reached (spec.rateLimit)")
    if skip is None:
        state.note_fire(key, now)
    return Match(res, specific, values, skip, Note(key, now, run, previous, counted=skip is None))
