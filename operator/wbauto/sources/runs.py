"""Run events from successive reads of one project (pure): state transitions and new history rows.

The state kept between reads (in the project's cursor, JSON)::

    {"runs": {<run id>: {"state": "running", "hb": <heartbeat>, "step": <last history step read>,
                          "sn": {<state>: n}, "tails": {<metric>: [[step, value], ...]}}},
     "seen": <newest heartbeat read>}

Runs are read newest heartbeat first, down to the last read's newest heartbeat (minus a slack), so a
cycle costs what changed, not the project's size; finished runs are forgotten two days after their
last heartbeat. A run's metric windows keep the trailing values the Automations need.

**Identity.** A transition to a terminal state (finished, failed, crashed) is identified by the run and
the heartbeat it ended with (fixed from then on); a transition to running by the run and the number of
times it entered running (W&B exposes no time for it; the one poller of the project keeps that count).
History events by the run and the first new step. The same change read again has the same id.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wbauto import telemetry
from wbauto.api.event import Event, EventType, MetricSeries, RunInfo, event_id
from wbauto.sources.artifacts import MakeEvent, decode, parse_time
from wbauto.sources.plan import Needs

log = logging.getLogger("wbauto.poller")

RUN_SLACK = datetime.timedelta(minutes=2)  # heartbeat window overlap between cycles
RUN_FORGET = datetime.timedelta(days=2)  # drop finished runs from the cursor after this
RUN_STATES = {"running", "finished", "failed", "crashed"}  # killed runs never trigger


@dataclass(frozen=True)
class HistoryRead:
    """History rows to read for one run: steps ``low`` to ``high - 1``; ``seed`` fills windows only."""

    run: str
    low: int
    high: int
    seed: bool
    node: Mapping[str, Any]


def watermark(state: Mapping[str, Any]) -> datetime.datetime | None:
    """Runs whose heartbeat is older than this were read before (None: read them all)."""
    seen = state.get("seen")
    return parse_time(seen) - RUN_SLACK if seen else None


def run_info(node: Mapping[str, Any], previous: str) -> RunInfo:
    config, summary = decode(node.get("config")), decode(node.get("summaryMetrics"))
    return RunInfo(id=str(node["name"]), display_name=str(node.get("displayName") or ""),
                   state=str(node.get("state") or "").upper(), previous_state=previous.upper(),
                   user=str((node.get("user") or {}).get("username") or ""),
                   tags=[str(t) for t in node.get("tags") or []], group=str(node.get("group") or ""),
                   job_type=str(node.get("jobType") or ""),
                   created_at=parse_time(node["createdAt"]) if node.get("createdAt") else None,
                   heartbeat_at=parse_time(node["heartbeatAt"]) if node.get("heartbeatAt") else None,
                   config=config if isinstance(config, dict) else {},
                   summary_metrics=summary if isinstance(summary, dict) else {})


def _last_step(node: Mapping[str, Any]) -> int:
    keys = decode(node.get("historyKeys"))
    step = keys.get("lastStep", -1) if isinstance(keys, dict) else -1
    return step if isinstance(step, int) and not isinstance(step, bool) else -1


def observe(project: str, state: dict[str, Any], nodes: list[Mapping[str, Any]], needs: Needs, make: MakeEvent, *,
            baseline: bool, scope_baseline: datetime.datetime, now: datetime.datetime,
            ) -> tuple[list[Event], list[HistoryRead]]:
    """Compare the runs read (newest heartbeat first) with ``state`` (updated in place): run-state events
    now, and the history reads still to make (:func:`apply_history` turns them into events)."""
    runs: dict[str, Any] = state.setdefault("runs", {})
    events: list[Event] = []
    todo: list[HistoryRead] = []
    keep = max(needs.metrics.values(), default=0)
    newest = parse_time(state.get("seen")) if state.get("seen") else None
    for node in nodes:
        run_id = str(node.get("name") or "")
        try:
            heartbeat = parse_time(node.get("heartbeatAt"))
            newest = heartbeat if newest is None or heartbeat > newest else newest
            last_step = _last_step(node)
            entry = runs.get(run_id)
            run_state = str(node.get("state") or "").lower()
            if entry is None:
                quiet = baseline or not parse_time(node.get("createdAt")) > scope_baseline
                entry = runs[run_id] = {"state": run_state if quiet else "", "step": last_step if quiet else -1,
                                        "sn": {run_state: 1} if quiet else {}, "tails": {}}
                if quiet and keep and run_state == "running" and last_step >= 0:
                    # seed the windows with the run's recent values (no events for them)
                    todo.append(HistoryRead(run_id, max(0, last_step - keep + 1), last_step + 1, True, node))
            if run_state != entry["state"] and run_state in RUN_STATES:
                counts = entry.setdefault("sn", {})
                n = counts[run_state] = counts.get(run_state, 0) + 1
                marker = str(node.get("heartbeatAt") or "") if run_state != "running" else f"#{n}"
                info = run_info(node, entry["state"])
                events.append(make(project, EventType.RUN_STATE,
                                   event_id("state", project, run_id, run_state, marker), author=info.user, run=info))
            entry["state"] = run_state
            entry["hb"] = heartbeat.isoformat().replace("+00:00", "Z")
            if needs.metrics and last_step > entry["step"]:
                todo.append(HistoryRead(run_id, entry["step"] + 1, last_step + 1, False, node))
            elif last_step > entry["step"]:
                entry["step"] = last_step
        except Exception as exc:  # one run's odd data must not stop the project
            telemetry.POLL_ITEM_ERRORS.labels("run").inc()
            log.warning("run %s in project %s could not be compared (%s: %s); skipped", run_id, project,
                        type(exc).__name__, exc)
    if newest is not None:
        state["seen"] = newest.isoformat().replace("+00:00", "Z")
    horizon = now - RUN_FORGET
    for run_id in [r for r, e in runs.items() if e["state"] != "running" and parse_time(e.get("hb")) < horizon]:
        del runs[run_id]
    return events, todo


def apply_history(project: str, state: dict[str, Any], reads: list[HistoryRead],
                  rows: Mapping[str, list[Mapping[str, Any]]], needs: Needs, make: MakeEvent) -> list[Event]:
    """New history rows (``rows`` by run, every step read) → RUN_HISTORY events with each metric's
    window tail and new values; matching evaluates the Automations' windows on them."""
    runs: dict[str, Any] = state.setdefault("runs", {})
    events: list[Event] = []
    for read in reads:
        entry = runs.get(read.run)
        if entry is None:
            continue
        try:
            new_rows = sorted((r for r in rows.get(read.run, []) if _step(r) is not None), key=lambda r: _step(r) or 0)
            series: list[MetricSeries] = []
            for metric, keep in needs.metrics.items():
                tail: list[list[float]] = entry["tails"].get(metric, [])
                new = [(_step(r) or 0, float(r[metric])) for r in new_rows if _number(r.get(metric))]
                if not new:
                    continue
                combined = [(int(s), float(v)) for s, v in tail] + new
                series.append(MetricSeries(name=metric, steps=[s for s, _ in combined],
                                           values=[v for _, v in combined], new_from=len(tail)))
                entry["tails"][metric] = [[s, v] for s, v in combined[-keep:]]
            entry["step"] = read.high - 1
            if series and new_rows and not read.seed:
                first = _step(new_rows[0])
                info = run_info(read.node, entry["state"])
                events.append(make(project, EventType.RUN_HISTORY, event_id("history", project, read.run, first),
                                   author=info.user, run=info, metrics=series))
        except Exception as exc:
            telemetry.POLL_ITEM_ERRORS.labels("run").inc()
            log.warning("history of run %s in project %s could not be read (%s: %s); skipped", read.run, project,
                        type(exc).__name__, exc)
    return events


def _step(row: Mapping[str, Any]) -> int | None:
    step = row.get("_step")
    if isinstance(step, float) and step.is_integer():
        return int(step)
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN
