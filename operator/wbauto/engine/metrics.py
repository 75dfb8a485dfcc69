"""W&B's run-metric conditions, evaluated over a run's logged values (pure).

- threshold: ``agg(last window values) cmp threshold`` (no agg: the latest value); a window must be full.
- change: the current window (latest N values) against the prior window (the M values just before it),
  tumbling, no overlap; fires when the change in the chosen direction is at least ``amount`` (inclusive).
  RELATIVE divides by ``|prior|`` (a zero prior never fires).
- z-score: the latest value against the mean and population standard deviation of the ``window`` values
  before it; inclusive comparisons; a constant baseline (std 0) never fires.

Conditions are evaluated at every newly logged value, in step order, as W&B does while a run streams.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from wbauto.api.automation import (
    Agg,
    Cmp,
    Direction,
    RunMetricChange,
    RunMetricThreshold,
    RunMetricZScore,
)
from wbauto.api.event import MetricSeries

Condition = RunMetricThreshold | RunMetricChange | RunMetricZScore

_CMP_TEXT = {Cmp.GT: ">", Cmp.GTE: ">=", Cmp.LT: "<", Cmp.LTE: "<="}


@dataclass(frozen=True)
class Evaluation:
    """Why a condition fired, in the words the payload variables use."""

    step: int
    value: float  # the aggregate (threshold, change current window) or the latest value (z-score)
    window: tuple[float, ...]  # the values the decision used
    filter_text: str  # ${metric_filter}
    filter_short: str  # ${metric_filter_short}
    status_text: str  # ${metric_current_status}


def aggregate(values: Sequence[float], agg: Agg | None) -> float:
    if agg is None:
        return values[-1]
    if agg is Agg.MAX:
        return max(values)
    if agg is Agg.MIN:
        return min(values)
    return sum(values) / len(values)


def _compare(value: float, cmp: Cmp, threshold: float) -> bool:
    if cmp is Cmp.GT:
        return value > threshold
    if cmp is Cmp.GTE:
        return value >= threshold
    if cmp is Cmp.LT:
        return value < threshold
    return value <= threshold


def _moved(value: float, bound: float, direction: Direction) -> bool:
    """Whether a signed change reaches ``bound`` in ``direction`` (ANY: either way)."""
    signed = value if direction is Direction.INCREASE else -value if direction is Direction.DECREASE else abs(value)
    return _at_least(signed, bound)


def _at_least(value: float, bound: float) -> bool:
    """Inclusive ``value >= bound``, tolerant of float rounding (0.9 - 1.0 is -0.09999999999999998)."""
    return value >= bound or math.isclose(value, bound, rel_tol=1e-9, abs_tol=1e-12)


def _num(x: float) -> str:
    return f"{x:.6g}"


def _agg_text(metric: str, agg: Agg | None, window: int) -> str:
    return metric if agg is None else f"{agg.value}({metric}) over {window}"


def threshold(values: Sequence[float], cfg: RunMetricThreshold, step: int) -> Evaluation | None:
    window = cfg.window if cfg.agg is not None else 1
    if len(values) < window:
        return None
    used = tuple(values[-window:])
    value = aggregate(used, cfg.agg)
    if not _compare(value, cfg.cmp, cfg.threshold):
        return None
    op = _CMP_TEXT[cfg.cmp]
    text = f"{_agg_text(cfg.metric, cfg.agg, window)} {op} {_num(cfg.threshold)}"
    short = f"{(cfg.agg.value.lower() + '(' + cfg.metric + ')') if cfg.agg else cfg.metric} {op} {_num(cfg.threshold)}"
    status = f"{_agg_text(cfg.metric, cfg.agg, window)} = {_num(value)} ({op} {_num(cfg.threshold)})"
    return Evaluation(step, value, used, text, short, status)


def change(values: Sequence[float], cfg: RunMetricChange, step: int) -> Evaluation | None:
    current_n = cfg.current_window
    prior_n = cfg.prior_window or cfg.current_window
    if len(values) < current_n + prior_n:
        return None
    current = tuple(values[-current_n:])
    prior = tuple(values[-(current_n + prior_n):-current_n])
    now, before = aggregate(current, cfg.agg), aggregate(prior, cfg.agg)
    delta = now - before
    if cfg.change_type.value == "RELATIVE":
        if before == 0:
            return None
        delta = delta / abs(before)
    if not _moved(delta, cfg.amount, cfg.direction):
        return None
    verb = {Direction.INCREASE: "increases", Direction.DECREASE: "decreases",
            Direction.ANY: "increases or decreases"}[cfg.direction]
    amount = f"{cfg.amount:.6g}" if cfg.change_type.value == "ABSOLUTE" else f"{cfg.amount * 100:.6g}%"
    label = cfg.agg.value if cfg.agg else "latest"
    text = (f"{label}({cfg.metric}) over {current_n} {verb} by at least {amount} "
            f"vs the prior {prior_n}")
    short = f"{cfg.metric} {verb} by {amount}"
    shown = f"{delta * 100:+.6g}%" if cfg.change_type.value == "RELATIVE" else f"{delta:+.6g}"
    status = f"{label}({cfg.metric}) {_num(before)} -> {_num(now)} ({shown})"
    return Evaluation(step, now, prior + current, text, short, status)


def zscore(values: Sequence[float], cfg: RunMetricZScore, step: int) -> Evaluation | None:
    if len(values) < cfg.window + 1:
        return None
    baseline = values[-(cfg.window + 1):-1]
    latest = values[-1]
    mean = sum(baseline) / len(baseline)
    std = math.sqrt(sum((v - mean) ** 2 for v in baseline) / len(baseline))
    if std == 0:
        return None
    z = (latest - mean) / std
    if not _moved(z, cfg.threshold, cfg.direction):
        return None
    sign = {Direction.INCREASE: ">= +", Direction.DECREASE: "<= -", Direction.ANY: "|z| >= "}[cfg.direction]
    text = f"z-score of {cfg.metric} over {cfg.window} values {sign}{_num(cfg.threshold)}"
    short = f"z({cfg.metric}) {sign}{_num(cfg.threshold)}"
    status = f"{cfg.metric} = {_num(latest)}, z = {z:+.3f} (mean {_num(mean)}, std {_num(std)})"
    return Evaluation(step, latest, (*baseline, latest), text, short, status)


def evaluate(values: Sequence[float], cfg: Condition, step: int) -> Evaluation | None:
    if isinstance(cfg, RunMetricThreshold):
        return threshold(values, cfg, step)
    if isinstance(cfg, RunMetricChange):
        return change(values, cfg, step)
    return zscore(values, cfg, step)


def needed_values(cfg: Condition) -> int:
    """How many trailing values a condition needs (the poller keeps that many per run and metric)."""
    if isinstance(cfg, RunMetricThreshold):
        return cfg.window if cfg.agg is not None else 1
    if isinstance(cfg, RunMetricChange):
        return cfg.current_window + (cfg.prior_window or cfg.current_window)
    return cfg.window + 1


def first_firing(series: MetricSeries, cfg: Condition) -> Evaluation | None:
    """The first newly logged value at which ``cfg`` holds, evaluated in step order."""
    for i in range(series.new_from, len(series.values)):
        result = evaluate(series.values[: i + 1], cfg, series.steps[i])
        if result is not None:
            return result
    return None
