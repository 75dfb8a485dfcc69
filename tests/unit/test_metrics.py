"""W&B's run-metric windows: threshold, tumbling change windows, z-score (pure)."""

from __future__ import annotations

import pytest

from wbauto.api.automation import RunMetricChange, RunMetricThreshold, RunMetricZScore
from wbauto.api.event import MetricSeries
from wbauto.engine import metrics


def threshold(**kw: object) -> RunMetricThreshold:
    return RunMetricThreshold.model_validate({"metric": "loss", **kw})


def test_threshold_average_over_last_window() -> None:
    cfg = threshold(agg="AVERAGE", window=5, cmp="$lt", threshold=0.1)
    assert metrics.threshold([0.5, 0.09, 0.09, 0.09, 0.09], cfg, 4) is None  # avg 0.172
    result = metrics.threshold([0.5, 0.09, 0.09, 0.09, 0.09, 0.09], cfg, 5)  # last 5: avg 0.09
    assert result is not None and result.value == pytest.approx(0.09)
    assert result.filter_text == "AVERAGE(loss) over 5 < 0.1"
    assert metrics.threshold([0.01] * 4, cfg, 3) is None  # the window is not full yet


def test_threshold_inclusive_and_exclusive() -> None:
    assert metrics.threshold([0.1], threshold(cmp="$lt", threshold=0.1), 0) is None
    assert metrics.threshold([0.1], threshold(cmp="$lte", threshold=0.1), 0) is not None
    assert metrics.threshold([3.0], threshold(cmp=">=", threshold=3), 0) is not None
    assert metrics.threshold([3.0], threshold(cmp=">", threshold=3), 0) is None


def test_threshold_without_agg_uses_latest_value_and_ignores_window() -> None:
    cfg = threshold(window=5, cmp="$gt", threshold=1.0)
    assert metrics.threshold([5.0, 0.5], cfg, 1) is None
    assert metrics.threshold([0.5, 5.0], cfg, 1) is not None


@pytest.mark.parametrize(("agg", "values", "expected"), [
    ("MAX", [1.0, 3.0, 2.0], 3.0), ("MIN", [1.0, 3.0, 2.0], 1.0), ("AVG", [1.0, 3.0, 2.0], 2.0)])
def test_aggregations(agg: str, values: list[float], expected: float) -> None:
    cfg = threshold(agg=agg, window=3, cmp="$gte", threshold=-1e9)
    result = metrics.threshold(values, cfg, 2)
    assert result is not None and result.value == expected


def change(**kw: object) -> RunMetricChange:
    return RunMetricChange.model_validate({"metric": "acc", **kw})


def test_change_uses_tumbling_windows_without_overlap() -> None:
    cfg = change(agg="AVERAGE", currentWindow=2, priorWindow=3, changeType="ABSOLUTE", direction="INCREASE",
                 amount=1.0)
    # prior = [0, 0, 0] (mean 0), current = [1, 1] (mean 1): +1.0 >= 1.0 inclusive
    assert metrics.change([9.0, 0.0, 0.0, 0.0, 1.0, 1.0], cfg, 5) is not None
    # a window overlapping would see the 9.0; tumbling windows do not
    assert metrics.change([0.0, 0.0, 0.0, 1.0, 0.9], cfg, 4) is None
    assert metrics.change([0.0, 0.0, 1.0, 1.0], cfg, 3) is None  # not enough values for both windows


def test_relative_change_and_directions() -> None:
    up = change(changeType="RELATIVE", direction="INCREASE", amount=0.1)
    down = change(changeType="RELATIVE", direction="DECREASE", amount=0.1)
    either = change(changeType="RELATIVE", direction="ANY", amount=0.1)
    assert metrics.change([1.0, 1.1], up, 1) is not None  # +10 % (inclusive)
    assert metrics.change([1.0, 1.09], up, 1) is None
    assert metrics.change([1.0, 0.9], down, 1) is not None
    assert metrics.change([1.0, 1.2], down, 1) is None
    assert metrics.change([1.0, 0.8], either, 1) is not None
    assert metrics.change([0.0, 5.0], up, 1) is None  # relative to zero is undefined: never fires
    assert metrics.change([-2.0, -1.0], up, 1) is not None  # +50 % of |prior|


def test_prior_window_defaults_to_current() -> None:
    cfg = change(currentWindow=2, changeType="ABSOLUTE", direction="ANY", amount=5)
    assert metrics.needed_values(cfg) == 4


def zscore(**kw: object) -> RunMetricZScore:
    return RunMetricZScore.model_validate({"metric": "loss", **kw})


def test_zscore_against_the_values_before() -> None:
    cfg = zscore(window=4, threshold=2.0, direction="ANY")
    baseline = [1.0, 3.0, 1.0, 3.0]  # mean 2, std 1
    assert metrics.zscore([*baseline, 4.0], cfg, 4) is not None  # z = +2 (inclusive)
    assert metrics.zscore([*baseline, 3.9], cfg, 4) is None
    assert metrics.zscore([*baseline, 0.0], cfg, 4) is not None  # z = -2
    assert metrics.zscore([*baseline, 0.0], zscore(window=4, threshold=2.0, direction="INCREASE"), 4) is None
    assert metrics.zscore([*baseline, 0.0], zscore(window=4, threshold=2.0, direction="DECREASE"), 4) is not None
    assert metrics.zscore([2.0] * 4 + [9.0], cfg, 4) is None  # constant baseline: std 0, never fires


def test_first_firing_scans_new_values_in_step_order() -> None:
    cfg = threshold(cmp="$gt", threshold=5)
    series = MetricSeries(name="loss", steps=[10, 11, 12, 13], values=[9.0, 1.0, 6.0, 7.0], new_from=1)
    result = metrics.first_firing(series, cfg)
    assert result is not None and result.step == 12  # step 10 was seen before: not re-evaluated
